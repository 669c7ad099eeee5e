"""Evaluation stage logic: run discovery, missing rows, scores from saved maps and models, outputs."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from comicdepth_tf import evaluation as E
from comicdepth_tf import metrics, submission
from comicdepth_tf import runs as R
from comicdepth_tf.data.formats import ai4va
from comicdepth_tf.data.formats.rgbd import decode_depth
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import read_json
from comicdepth_tf.stages import evaluate


@pytest.fixture(scope="module")
def data(smoke_data):
    sets = E.load_eval_sets(smoke_data, "val")
    return {"root": smoke_data, "sets": sets, "ai4va": ai4va.load_ai4va_splits(smoke_data),
            "gt": {i.stem: decode_depth(i.depth_gt, i.depth_codec) for i in sets["panels_val"].items}}


def test_eval_sets_of_the_embedded_dataset(data):
    panels, natural = data["sets"]["panels_val"], data["sets"][R.NATURAL_SET]
    assert len(panels) > 0 and all(i.points is not None and i.depth_gt is not None for i in panels.items)
    assert len(natural) > 0 and all(i.points is None and i.depth_gt is not None for i in natural.items)


def test_every_configuration_is_missing_without_runs(tmp_path, data):
    refs = R.find_runs("smoke", models_root=tmp_path)
    required = [c.name for c in R.CONFIGURATIONS if not c.optional]
    assert list(refs) == required and "approach2_exact_comics" not in refs  # a reference: only when trained
    assert all(r.run_dir is None for name, r in refs.items())
    msg = refs["approach2_simple"].missing
    assert msg.startswith("missing:") and "40_comics_depth" in msg
    assert str(tmp_path / "configurations" / "smoke.json") in msg
    assert "latest-smoke.json" in refs["natural_irv2"].missing
    ev = E.evaluate_all(refs, data["sets"], data["ai4va"])
    table = ev.table.set_index("configuration")
    assert list(table.index) == required  # nothing dropped
    assert all(s.startswith("missing:") for s in table["status"].drop("ai4va_constant"))
    assert table.loc["ai4va_constant", "status"] == "ok"  # training means, computed here
    path, used = evaluate.write_submission(ev, data["ai4va"]["test"], tmp_path / "submission.csv")
    assert used == "ai4va_constant"
    assert len(submission.read_predictions(path, data["ai4va"]["test"])) == len(data["ai4va"]["test"].segments)


def test_discovery_order_runs_pointer_scan_and_fallback(tmp_path):
    a = tmp_path / "comics_depth" / "a"
    b = tmp_path / "comics_depth" / "b"
    natural = tmp_path / "depth_irv2" / "n1"
    for d in (a, b, natural):
        d.mkdir(parents=True)
    (natural / "config.json").write_text("{}")  # a run folder: what the pointer names must be one
    R.register_configuration(a, "approach2_simple", "smoke", "metric", models_root=tmp_path)
    assert (tmp_path / "configurations" / "smoke.json").is_file()
    # b says it is batchnorm_trick but is not in the pointer: found by the scan.
    (b / R.EVALUATION_FILE).write_text('{"configuration": "batchnorm_trick", "profile": "smoke"}')
    (tmp_path / "depth_irv2" / "latest-smoke.json").write_text('{"run_id": "n1"}')
    refs = R.find_runs("smoke", models_root=tmp_path)
    assert refs["approach2_simple"].run_dir == a and "pointer" in refs["approach2_simple"].source
    assert refs["batchnorm_trick"].run_dir == b and "scan" in refs["batchnorm_trick"].source
    assert refs["natural_irv2"].run_dir == natural
    assert refs["no_batchnorm_trick"].run_dir == natural and "natural_irv2" in refs["no_batchnorm_trick"].source
    assert R.find_runs("cpu", models_root=tmp_path)["approach2_simple"].run_dir is None  # other profile
    refs = R.find_runs("smoke", runs={"approach2_simple": "comics_depth/b"}, models_root=tmp_path)
    assert refs["approach2_simple"].run_dir == b and refs["approach2_simple"].source == "RUNS parameter"
    with pytest.raises(ParameterError, match="no such run folder"):
        R.find_runs("smoke", runs={"approach2_simple": "nowhere"}, models_root=tmp_path)
    with pytest.raises(ParameterError, match="unknown configuration"):
        R.register_configuration(a, "approach3", "smoke", models_root=tmp_path)


def test_seed_runs_are_found_per_seed_and_never_from_another_seed(tmp_path):
    runs = {
        name: tmp_path / "comics_depth" / name
        for name in ("cpu-0-simple", "cpu-0-seed1-simple", "cpu-0-seed2-simple", "cpu-0-seed3-simple")
    }
    for d in runs.values():
        d.mkdir(parents=True)
    natural = tmp_path / "depth_irv2" / "n1"
    natural.mkdir(parents=True)
    (natural / "config.json").write_text("{}")
    (tmp_path / "depth_irv2" / "latest-cpu.json").write_text('{"run_id": "n1"}')
    # Seed 0 is the single-seed run (primary); seeds 1 and 2 only go to the per-seed pointer.
    R.register_configuration(runs["cpu-0-simple"], "approach2_simple", "cpu", "metric", models_root=tmp_path, seed=0)
    for s in (1, 2):
        R.register_configuration(runs[f"cpu-0-seed{s}-simple"], "approach2_simple", "cpu", "metric",
                                 models_root=tmp_path, seed=s, primary=False)
    # Seed 3: registered in no pointer, found by the scan of records with that seed.
    (runs["cpu-0-seed3-simple"] / R.EVALUATION_FILE).write_text(
        '{"configuration": "approach2_simple", "profile": "cpu", "seed": 3}')
    pointer = R.seeds_pointer("cpu", tmp_path)
    assert sorted(read_json(pointer)) == ["0", "1", "2"]
    assert read_json(tmp_path / "configurations" / "cpu.json")["approach2_simple"] == "comics_depth/cpu-0-simple"
    # The single-seed path is unchanged: the plain pointer.
    assert R.find_runs("cpu", models_root=tmp_path)["approach2_simple"].run_dir == runs["cpu-0-simple"]
    for s, name in ((0, "cpu-0-simple"), (1, "cpu-0-seed1-simple"), (2, "cpu-0-seed2-simple")):
        ref = R.find_runs("cpu", models_root=tmp_path, seed=s)["approach2_simple"]
        assert ref.run_dir == runs[name] and "seeds.json" in ref.source and ref.record["seed"] == s
    assert R.find_runs("cpu", models_root=tmp_path, seed=3)["approach2_simple"].run_dir == runs["cpu-0-seed3-simple"]
    refs = R.find_runs("cpu", models_root=tmp_path, seed=4)
    assert refs["approach2_simple"].run_dir is None and "seed 4" in refs["approach2_simple"].missing
    # Stages 10 and 30 are not re-seeded: the same natural run for every seed.
    assert refs["natural_irv2"].run_dir == natural and refs["no_batchnorm_trick"].run_dir == natural
    with pytest.raises(ParameterError, match="needs its seed"):
        R.register_configuration(runs["cpu-0-simple"], "approach2_simple", "cpu", models_root=tmp_path, primary=False)


def test_scores_from_saved_maps(tmp_path, data):
    gt = data["gt"]
    bn, nobn, seg = tmp_path / "m" / "bn", tmp_path / "m" / "nobn", tmp_path / "p" / "seg"
    rng = np.random.default_rng(0)
    noisy = {k: v + rng.normal(0, 0.5, v.shape) for k, v in gt.items()}
    R.save_depth_maps(bn, "panels_val", noisy)
    R.register_configuration(bn, "batchnorm_trick", "smoke", "metric", models_root=tmp_path)
    R.save_depth_maps(nobn, "panels_val", {k: 1.0 / np.maximum(v, 0.1) for k, v in gt.items()})
    R.register_configuration(nobn, "no_batchnorm_trick", "smoke", "inverse", models_root=tmp_path)
    val = data["ai4va"]["val"]
    table = submission.prediction_rows(val, [s.interdepth + 1.0 for s in val.segments],
                                       [s.intradepth for s in val.segments])
    R.save_ai4va_predictions(seg, "val", table, val)
    R.register_configuration(seg, "ai4va_segment", "smoke", models_root=tmp_path)

    ev = E.evaluate_all(R.find_runs("smoke", models_root=tmp_path), data["sets"], data["ai4va"], n_show=2)
    t = ev.table.set_index("configuration")
    items = data["sets"]["panels_val"].items
    want = metrics.ordering_scores(metrics.ordering_accuracy(noisy[i.stem], i.points, "depth") for i in items)
    assert t.loc["batchnorm_trick", "status"] == "ok"
    assert t.loc["batchnorm_trick", "inter_acc"] == pytest.approx(want["inter_mean"])
    assert t.loc["batchnorm_trick", "inter_db"] == 0.0  # the baseline against itself
    # Inverse of the exact depth: dense metrics are perfect after alignment in inverse space.
    assert t.loc["no_batchnorm_trick", "comics_delta1"] == 1.0
    assert t.loc["no_batchnorm_trick", "comics_abs_rel"] == pytest.approx(0.0, abs=1e-6)
    base = [metrics.ordering_accuracy(noisy[i.stem], i.points, "depth")["inter"] for i in items]
    mine = [metrics.ordering_accuracy(1.0 / np.maximum(gt[i.stem], 0.1), i.points)["inter"] for i in items]
    assert t.loc["no_batchnorm_trick", "inter_db"] == pytest.approx(np.mean(metrics.relative_db(mine, base)))
    # Per-panel results: their mean is the table's accuracy, their pair-weighted mean the pooled one.
    panels = E.ordering_per_panel(ev)
    bn_rows = panels[panels["configuration"] == "batchnorm_trick"]
    assert len(bn_rows) == len(items) and bn_rows["inter"].mean() == pytest.approx(want["inter_mean"])
    pooled = sum(metrics.ordering_accuracy(noisy[i.stem], i.points, "depth")["inter"]
                 * metrics.ordering_accuracy(noisy[i.stem], i.points, "depth")["inter_pairs"] for i in items)
    assert (bn_rows["inter"] * bn_rows["inter_pairs"]).sum() == pytest.approx(pooled)
    assert t.loc["ai4va_segment", "ai4va_mse_inter"] == 1.0 and t.loc["ai4va_segment", "ai4va_mse_intra"] == 0.0
    assert t.loc["ai4va_segment", "ai4va_mse_overall"] == 0.5
    assert t.loc["approach2_simple", "status"].startswith("missing:")
    assert set(ev.shown["batchnorm_trick"]) == {items[0].stem, items[1].stem}

    text = evaluate.results_text(ev.table, when=dt.datetime(2024, 9, 16, 17, 31))
    block = text.split("\n\n")[0].splitlines()
    assert block[0] == "Evaluation written on: 2024-09-16 17:31"
    assert block[1].startswith("Model: ai4va_segment (")
    assert block[2:] == ["MSE of Inter-depth: 1.0", "MSE of Intra-depth: 0.0", "Overall MSE: 0.5"]
    assert text.count("Evaluation written on:") == 2  # ai4va_segment and the constant
    path = evaluate.write_results(tmp_path / "stage", ev.table)
    assert re.fullmatch(r"evaluation_\d{8}-\d{6}\.txt", path.name) and path.parent.name == "results"
    with pytest.raises(DataFormatError, match="test predictions"):
        evaluate.write_submission(ev, data["ai4va"]["test"], tmp_path / "s.csv", prefer="ai4va_segment",
                           fallback="ai4va_page_baseline")
    fig = E.bar_chart(ev.table)
    assert len(fig.axes) == len(E.BAR_METRICS)
    n = len(ev.table)
    fig = E.bar_chart(ev.table, errors={"inter_acc": [(0.4, 0.6)] * n}, title="means")
    assert len(fig.axes) == len(E.BAR_METRICS) and fig._suptitle.get_text() == "means"
    maps, convention = E.read_maps(R.find_runs("smoke", models_root=tmp_path)["no_batchnorm_trick"],
                                   data["sets"]["panels_val"], [items[1].stem])
    assert list(maps) == [items[1].stem] and convention == "inverse"
    fig = evaluate.qualitative_grid(ev, data["sets"]["panels_val"], n=2)
    assert len(fig.axes) >= 2 * 4  # input, ground truth, two configurations per row


def test_bad_saved_maps_make_an_error_row_not_a_crash(tmp_path, data):
    gt = data["gt"]
    stems = sorted(gt)
    partial, wrong = tmp_path / "partial", tmp_path / "wrong"
    R.save_depth_maps(partial, "panels_val", {k: gt[k] for k in stems[1:]})
    R.save_depth_maps(wrong, "panels_val", {k: gt[k][:-1] for k in stems})
    refs = R.find_runs("smoke", runs={"approach2_simple": str(partial), "approach2_add_text": str(wrong)},
                       models_root=tmp_path)
    t = E.evaluate_all(refs, data["sets"], data["ai4va"]).table.set_index("configuration")
    assert t.loc["approach2_simple", "status"].startswith("error:")
    assert stems[0] in t.loc["approach2_simple", "status"] and str(partial) in t.loc["approach2_simple", "status"]
    assert "original size" in t.loc["approach2_add_text", "status"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / R.EVALUATION_FILE).write_text("{not json")
    refs = R.find_runs("smoke", runs={"batchnorm_trick": str(broken)}, models_root=tmp_path)
    t = E.evaluate_all(refs, data["sets"], data["ai4va"]).table.set_index("configuration")
    assert t.loc["batchnorm_trick", "status"].startswith("error:")
    assert str(broken / R.EVALUATION_FILE) in t.loc["batchnorm_trick", "status"]


def test_maps_are_predicted_from_a_saved_model(tmp_path, data):
    from comicdepth_tf.models import registry
    from comicdepth_tf.models.depth_unet import build_depth_unet

    run = R.new_run_dir("comics_depth", "tiny", root=tmp_path)
    registry.save_model(build_depth_unet("tiny", output="inverse"), run, {"input_size": [64, 64]})
    R.register_configuration(run, "approach2_simple", "smoke", models_root=tmp_path)
    refs = R.find_runs("smoke", models_root=tmp_path)
    assert E.run_convention(run, refs["approach2_simple"].record) == "inverse"  # from the model's config
    ev = E.evaluate_all(refs, data["sets"], data["ai4va"], n_show=1)
    row = ev.table.set_index("configuration").loc["approach2_simple"]
    assert row["status"] == "ok" and "predicted here from model.keras" in row["note"]
    assert 0.0 <= row["inter_acc"] <= 1.0 and row["ordering_images"] == len(data["sets"]["panels_val"])
    item = data["sets"]["panels_val"].items[0]
    assert ev.shown["approach2_simple"][item.stem].shape == data["gt"][item.stem].shape


def test_maps_written_by_comicdepth_predict_are_read(tmp_path, data):
    from comicdepth_tf import inference
    from comicdepth_tf.models.depth_unet import build_depth_unet

    model = build_depth_unet("tiny", output="inverse")
    panels = data["sets"]["panels_val"]
    run = tmp_path / "predicted"
    inference.predict_files(model, [str(i.image) for i in panels.items], run / R.DEPTH_MAPS_DIR / "panels_val",
                            size=64, npy=False, color=False)
    refs = R.find_runs("smoke", runs={"approach2_add_text": str(run)}, models_root=tmp_path)
    ev = E.evaluate_all(refs, data["sets"], data["ai4va"], n_show=len(panels))
    row = ev.table.set_index("configuration").loc["approach2_add_text"]
    assert row["status"] == "ok" and ev.conventions["approach2_add_text"] == "inverse"  # from depth_manifest.json
    direct = inference.predict_depth(model, [str(i.image) for i in panels.items], size=64)
    want = metrics.ordering_scores(metrics.ordering_accuracy(d, i.points) for d, i in zip(direct, panels.items))
    # 16-bit PNG quantisation may turn a few near-ties into ties.
    assert row["inter_acc"] == pytest.approx(want["inter_mean"], abs=0.02)
    np.testing.assert_allclose(ev.shown["approach2_add_text"][panels.items[0].stem], direct[0],
                               atol=1.0 / inference.png_scale("inverse", values=direct[0]))


def test_the_stage_module_gives_notebook_50_what_the_library_calls_give(tmp_path, data, monkeypatch):
    import pandas as pd

    from comicdepth_tf import comparisons, real_pages

    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path))
    for seed in (0, 1):
        run = tmp_path / "comics_depth" / f"simple-{seed}"
        rng = np.random.default_rng(seed)
        R.save_depth_maps(run, "panels_val", {k: v + rng.normal(0, 0.5, v.shape) for k, v in data["gt"].items()})
        R.register_configuration(run, "approach2_simple", "smoke", "metric", seed=seed, primary=seed == 0)
    sets, ai4va_sets = evaluate.load_data(data["root"], "smoke", split="val")
    assert {k: len(s) for k, s in sets.items()} == {k: len(s) for k, s in data["sets"].items()}
    assert ({k: len(d.segments) for k, d in ai4va_sets.items()}
            == {k: len(d.segments) for k, d in data["ai4va"].items()})
    refs_by_seed = evaluate.find_runs_by_seed("smoke", {}, [0, 1], per_seed=True)
    assert [refs_by_seed[s]["approach2_simple"].run_dir.name for s in (0, 1)] == ["simple-0", "simple-1"]
    single = evaluate.find_runs_by_seed("smoke", {}, [0, 1], per_seed=False)  # no SEEDS: the single-seed run
    assert [single[s]["approach2_simple"].run_dir.name for s in (0, 1)] == ["simple-0", "simple-0"]

    evs = evaluate.evaluate_seeds(refs_by_seed, sets, ai4va_sets, n_show=1)
    assert list(evs) == [0, 1]
    for seed in (0, 1):
        want = E.evaluate_all(R.find_runs("smoke", seed=seed), data["sets"], data["ai4va"], n_show=1)
        pd.testing.assert_frame_equal(evs[seed].table, want.table)
    items = evaluate.item_tables(evs, sets, ai4va_sets["val"], "val", "median")
    intervals = evaluate.comparison_intervals(items, seed=0)
    table = evaluate.mean_table(evs)
    stage = evaluate.stage_metrics(evs[0], table, intervals, 2)
    assert stage["seeds"] == 2 and stage["configurations"] == len([c for c in R.CONFIGURATIONS if not c.optional])
    assert stage == {**evaluate.summary_metrics(evs[0], table), **comparisons.summary_metrics(intervals, 2)}
    fig = evaluate.best_model_worst_panels(items["ordering_per_panel"], refs_by_seed[0], sets["panels_val"], 0, n=2)
    assert fig._suptitle.get_text() == "approach2_simple (seed 0): its 2 worst panels"

    check = evaluate.load_real_pages()
    scored = evaluate.score_real_pages(refs_by_seed, check, seed=0)
    assert list(scored) == [0, 1]
    pd.testing.assert_frame_equal(scored[1].rows, real_pages.score_configurations(refs_by_seed[1], check, seed=0).rows)
