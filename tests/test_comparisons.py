"""Comparisons over seeds: per-item tables, paired intervals with known answers, seed aggregates, figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from comicdepth_tf import comparisons as C
from comicdepth_tf import evaluation as E
from comicdepth_tf import metrics, submission
from comicdepth_tf import runs as R
from comicdepth_tf.chain import reporting
from comicdepth_tf.data.formats import ai4va
from comicdepth_tf.data.formats.rgbd import decode_depth
from comicdepth_tf.errors import ParameterError
from comicdepth_tf.stages import evaluate as stage_evaluate

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def scored(smoke_data, tmp_path_factory):
    """Two seeds of hand-made runs on the smoke dataset, each evaluated as notebook 50 does.

    ``no_batchnorm_trick`` and ``batchnorm_trick`` have identical maps (the inverse of the exact
    depth); ``approach2_simple`` is the exact depth plus seed-dependent noise. AI4VA:
    ``ai4va_segment`` is Interdepth + 1 and the exact Intradepth, ``ai4va_page_baseline`` both + 1.
    """
    root = tmp_path_factory.mktemp("models")
    sets = E.load_eval_sets(smoke_data, "val")
    splits = ai4va.load_ai4va_splits(smoke_data)
    gt = {i.stem: decode_depth(i.depth_gt, i.depth_codec) for i in sets["panels_val"].items}
    val = splits["val"]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        runs = {name: root / "m" / f"{name}-{seed}" for name in ("nobn", "bn", "simple", "seg", "page")}
        for name, conf in (("nobn", "no_batchnorm_trick"), ("bn", "batchnorm_trick")):
            R.save_depth_maps(runs[name], "panels_val", {k: 1.0 / np.maximum(v, 0.1) for k, v in gt.items()})
            R.register_configuration(runs[name], conf, "smoke", "inverse", models_root=root, seed=seed)
        R.save_depth_maps(runs["simple"], "panels_val", {k: v + rng.normal(0, 0.5, v.shape) for k, v in gt.items()})
        R.register_configuration(runs["simple"], "approach2_simple", "smoke", "metric", models_root=root, seed=seed)
        for name, conf, d_intra in (("seg", "ai4va_segment", 0.0), ("page", "ai4va_page_baseline", 1.0)):
            table = submission.prediction_rows(val, [s.interdepth + 1.0 for s in val.segments],
                                               [s.intradepth + d_intra for s in val.segments])
            R.save_ai4va_predictions(runs[name], "val", table, val)
            R.register_configuration(runs[name], conf, "smoke", models_root=root, seed=seed)
    evs = {s: E.evaluate_all(R.find_runs("smoke", models_root=root, seed=s), sets, splits) for s in SEEDS}
    tables = C.item_tables(evs, sets, splits["val"], "val", "median")
    return {"evs": evs, "sets": sets, "splits": splits, "gt": gt, "tables": tables, "root": root,
            "intervals": C.comparison_intervals(tables, seed=0)}


def _row(table, configuration, metric, baseline):
    hit = table[(table["configuration"] == configuration) & (table["metric"] == metric)
                & (table["baseline"] == baseline)]
    assert len(hit) == 1, (configuration, metric, baseline)
    return hit.iloc[0]


def test_parse_seeds():
    assert C.parse_seeds("", 3) == [3] and C.parse_seeds(" 0, 1 ,2", 5) == [0, 1, 2]
    with pytest.raises(ParameterError, match="integers"):
        C.parse_seeds("0,a", 0)
    with pytest.raises(ParameterError, match="twice"):
        C.parse_seeds("1,1", 0)


def test_identical_predictions_give_zero_ordering_and_db_differences(scored):
    iv = scored["intervals"]
    assert list(iv.columns) == list(C.INTERVAL_COLUMNS)
    for metric, baseline in (("inter_acc", "no_batchnorm_trick"), ("intra_acc", "no_batchnorm_trick"),
                             ("inter_db", "batchnorm_trick")):
        name = "batchnorm_trick" if baseline == "no_batchnorm_trick" else "no_batchnorm_trick"
        r = _row(iv, name, metric, baseline)
        assert (r["difference"], r["low"], r["high"]) == (0.0, 0.0, 0.0)
        assert r["verdict"] == "no measurable difference" and "no measurable difference" in r["in_words"]
        assert r["n_seeds"] == 2
    panels = scored["sets"]["panels_val"].items
    r = _row(iv, "approach2_simple", "inter_acc", "no_batchnorm_trick")
    assert r["n_items"] == sum(1 for i in panels if np.isfinite(metrics.ordering_accuracy(scored["gt"][i.stem],
                                                                                          i.points, "depth")["inter"]))


def test_db_interval_is_the_mean_relative_score_over_panels_and_seeds(scored):
    evs, panels = scored["evs"], scored["sets"]["panels_val"].items
    per_seed = []
    for s in SEEDS:
        mine = evs[s].per_image["approach2_simple"]
        base = evs[s].per_image["batchnorm_trick"]
        per_seed.append(metrics.relative_db([mine[i.stem]["inter"] for i in panels],
                                            [base[i.stem]["inter"] for i in panels]))
    db = np.array(per_seed)
    db = db[:, np.isfinite(db).all(axis=0)]
    r = _row(scored["intervals"], "approach2_simple", "inter_db", "batchnorm_trick")
    assert r["difference"] == pytest.approx(db.mean()) and r["low"] <= r["difference"] <= r["high"]
    # Each seed's table reports the same score (the mean over panels).
    assert np.mean([evs[s].table.set_index("configuration").loc["approach2_simple", "inter_db"] for s in SEEDS]) == \
        pytest.approx(np.mean([np.nanmean(d) for d in per_seed]))


def test_ai4va_constant_shift_gives_that_shift(scored):
    iv = scored["intervals"]
    same = _row(iv, "ai4va_segment", "ai4va_mse_inter", "ai4va_page_baseline")
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    better = _row(iv, "ai4va_segment", "ai4va_mse_intra", "ai4va_page_baseline")  # errors 0 vs 1 on every segment
    assert (better["difference"], better["low"], better["high"]) == (-1.0, -1.0, -1.0)
    assert better["verdict"] == "significant (better)" and "beats ai4va_page_baseline" in better["in_words"]
    assert {"ai4va_page_baseline", "ai4va_constant"} <= set(iv[iv["metric"] == "ai4va_mse_overall"]["baseline"])


def test_per_item_tables_give_the_table_numbers(scored, tmp_path, monkeypatch):
    monkeypatch.setenv(reporting.STAGE_DIR_ENV, str(tmp_path / stage_evaluate.STAGE))
    paths = {name: reporting.record_table(stage_evaluate.STAGE, name, frame)["csv"]
             for name, frame in scored["tables"].items()}
    assert {p.name for p in paths.values()} == {"ordering_per_panel.csv", "relative_db_per_panel.csv",
                                                "ai4va_per_segment.csv", "dense_per_image.csv"}
    panels = scored["sets"]["panels_val"].items
    for s in SEEDS:
        t = scored["evs"][s].table.set_index("configuration")
        ordering = pd.read_csv(paths["ordering_per_panel"])
        mine = ordering[(ordering["configuration"] == "approach2_simple") & (ordering["seed"] == s)]
        assert mine["inter"].mean() == pytest.approx(t.loc["approach2_simple", "inter_acc"])
        # Pair-weighted, the CSV gives the pooled accuracy of the saved maps.
        maps = E.read_maps(R.find_runs("smoke", models_root=scored["root"], seed=s)["approach2_simple"],
                           scored["sets"]["panels_val"], [i.stem for i in panels])[0]
        results = [metrics.ordering_accuracy(maps[i.stem], i.points, "depth") for i in panels]
        pooled = sum(r["inter"] * r["inter_pairs"] for r in results if r["inter_pairs"]) / sum(
            r["inter_pairs"] for r in results)
        assert (mine["inter"] * mine["inter_pairs"]).sum() / mine["inter_pairs"].sum() == pytest.approx(pooled)
        seg = pd.read_csv(paths["ai4va_per_segment"])
        seg = seg[(seg["configuration"] == "ai4va_segment") & (seg["seed"] == s)]
        assert len(seg) == len(scored["splits"]["val"].segments)
        assert seg["se_inter"].mean() == pytest.approx(t.loc["ai4va_segment", "ai4va_mse_inter"])
        dense = pd.read_csv(paths["dense_per_image"])
        d = dense[
            (dense["configuration"] == "approach2_simple") & (dense["seed"] == s) & (dense["set"] == "panels_val")
        ]
        assert d["delta1"].mean() == pytest.approx(t.loc["approach2_simple", "comics_delta1"])
    dense = scored["tables"]["dense_per_image"]
    assert set(dense[dense["configuration"] == C.MEAN_DEPTH]["seed"]) == set(SEEDS)


def test_dense_metrics_against_the_mean_depth_baseline(scored):
    dense = scored["tables"]["dense_per_image"]
    base = dense[(dense["configuration"] == C.MEAN_DEPTH) & (dense["seed"] == 0)].set_index("image")["abs_rel"]
    # The inverse of the exact depth is exact after alignment: abs_rel 0, so the difference is minus the baseline's.
    r = _row(scored["intervals"], "no_batchnorm_trick", "comics_abs_rel", C.MEAN_DEPTH)
    assert r["difference"] == pytest.approx(-base.mean(), abs=1e-6)
    assert r["verdict"] == "significant (better)" and r["high"] < 0
    assert C.mean_depth_scores(scored["sets"]["panels_val"])  # the constant map scores every image


def test_same_seed_same_intervals(scored):
    again = C.comparison_intervals(scored["tables"], seed=0)
    pd.testing.assert_frame_equal(again, scored["intervals"])


def _fake(table_rows):
    table = pd.DataFrame(table_rows)
    return E.Evaluation(table, {}, {}, {}, {}, {})


def test_seed_aggregates_and_mean_table_on_hand_made_tables():
    evs = {
        0: _fake(
            [
                {"configuration": "approach2_simple", "status": "ok", "inter_acc": 0.7, "ai4va_mse_overall": np.nan},
                {"configuration": "no_batchnorm_trick", "status": "ok", "inter_acc": 0.6, "ai4va_mse_overall": np.nan},
            ]
        ),
        1: _fake(
            [
                {"configuration": "approach2_simple", "status": "ok", "inter_acc": 0.8, "ai4va_mse_overall": np.nan},
                {
                    "configuration": "no_batchnorm_trick",
                    "status": "missing: x",
                    "inter_acc": np.nan,
                    "ai4va_mse_overall": np.nan,
                },
            ]
        ),
    }
    agg = C.seed_aggregates(evs, columns=("inter_acc", "ai4va_mse_overall")).set_index("configuration")
    assert agg.loc["approach2_simple", "mean"] == pytest.approx(0.75)
    assert agg.loc["approach2_simple", "std"] == pytest.approx(math.sqrt(0.005))
    assert agg.loc["approach2_simple", "n_seeds"] == 2
    assert agg.loc["no_batchnorm_trick", "n_seeds"] == 1 and math.isnan(agg.loc["no_batchnorm_trick", "std"])
    assert set(agg["metric"]) == {"inter_acc"}  # no seed scored the MSE
    mean = C.mean_table(evs).set_index("configuration")
    assert (
        mean.loc["approach2_simple", "inter_acc"] == pytest.approx(0.75) and mean.loc["approach2_simple", "seeds"] == 2
    )
    assert (
        mean.loc["no_batchnorm_trick", "inter_acc"] == pytest.approx(0.6)
        and mean.loc["no_batchnorm_trick", "seeds"] == 1
    )


def test_words_and_index_metrics(scored):
    text = C.verdict_summary(scored["intervals"])
    n_sig = int(scored["intervals"]["significant"].sum())
    assert text.startswith(f"{n_sig} of {len(scored['intervals'])} differences are significant")
    assert "no measurable difference" in text
    m = C.summary_metrics(scored["intervals"], n_seeds=2)
    assert m["seeds"] == 2 and m["significant_differences"] == n_sig
    assert m["ai4va_segment_vs_page_mse"].startswith("-0.500 [-0.500, -0.500] significant (better)")
    assert len(m["approach2_simple_vs_no_bn_inter"]) <= 60  # shown on the index as text


def test_bar_chart_with_error_bars_and_worst_panels(scored):
    means = C.mean_intervals(scored["tables"], dense_set="panels_val")
    simple = means[(means["configuration"] == "approach2_simple") & (means["metric"] == "inter_acc")].iloc[0]
    assert simple["low"] <= simple["mean"] <= simple["high"] and simple["n_seeds"] == 2
    fig = C.interval_bar_chart(scored["tables"], C.mean_table(scored["evs"]))
    assert len(fig.axes) == len(C.BAR_PANELS) and "2 seeds" in fig._suptitle.get_text()
    ordering = scored["tables"]["ordering_per_panel"]
    assert C.best_configuration(ordering) in {"no_batchnorm_trick", "batchnorm_trick"}  # exact depth
    worst = C.worst_panels(ordering, "approach2_simple", 0, n=2)
    mine = ordering[(ordering["configuration"] == "approach2_simple") & (ordering["seed"] == 0)].set_index("panel")
    assert len(worst) == 2 and mine.loc[worst[0], "inter"] == mine["inter"].min()
    ref = R.find_runs("smoke", models_root=scored["root"], seed=0)["approach2_simple"]
    maps, convention = E.read_maps(ref, scored["sets"]["panels_val"], worst)
    fig = C.worst_panels_figure(scored["sets"]["panels_val"], maps, convention, worst, title="worst")
    assert len(fig.axes) == 4 and [fig.axes[0].get_title(), fig.axes[1].get_title()] == worst
    assert fig.axes[2].get_title().endswith("pairs wrong")


def _real_rows(name: str, right: dict[str, int], pairs: dict[str, int], mode: str = "panel") -> pd.DataFrame:
    return pd.DataFrame([{"configuration": name, "mode": mode, "page": "p", "panel": panel,
                          "inter_right": right[panel], "inter_pairs": pairs[panel],
                          "counter_y_right": 0, "counter_y_pairs": 0} for panel in pairs])


def test_real_page_intervals_compare_pooled_accuracy_with_the_rule():
    pairs = {"a": 4, "b": 2, "c": 0}  # panel c has no pairs: no item
    rows = {seed: pd.concat([_real_rows(C.REAL_BASELINE, {"a": 2, "b": 1, "c": 0}, pairs),
                             _real_rows("model", {"a": 4, "b": 1, "c": 0}, pairs),
                             _real_rows("same", {"a": 2, "b": 1, "c": 0}, pairs),
                             _real_rows("model", {"a": 0, "b": 0, "c": 0}, pairs, mode="page")], ignore_index=True)
            for seed in (0, 1)}
    items = C.real_page_items(rows)
    assert set(items["mode"]) == {"panel"} and sorted(set(items["seed"])) == [0, 1]
    table = C.real_page_intervals(items).set_index("configuration")
    # Pooled: the model gets 5 of 6 pairs, the rule 3 of 6 (not the mean of per-panel accuracies, 0.75 − 0.5).
    assert table.loc["model", "difference"] == pytest.approx(5 / 6 - 3 / 6)
    assert table.loc["model", "n_items"] == 2 and table.loc["model", "n_seeds"] == 2
    assert (table.loc["same", "low"], table.loc["same", "high"]) == (0.0, 0.0)
    assert table.loc["same", "verdict"] == "no measurable difference"
    assert list(table["metric"]) == ["real_inter", "real_inter"]  # no counter-y pairs: no counter-y rows


def test_real_page_intervals_by_batch_score_each_batch_apart():
    pairs = {"a": 4, "b": 2}
    rows = {0: pd.concat([_real_rows(C.REAL_BASELINE, {"a": 2, "b": 1}, pairs),
                          _real_rows("model", {"a": 4, "b": 0}, pairs)], ignore_index=True)}
    items = C.real_page_items(rows)
    old = C.real_page_intervals_by_batch(items)  # rows written before batches: all batch 1
    assert list(old["batch"]) == [1] and old.loc[0, "difference"] == pytest.approx(4 / 6 - 3 / 6)
    items["batch"] = items["panel"].map({"a": 1, "b": 2})
    table = C.real_page_intervals_by_batch(items).set_index("batch")
    # Batch 1 (panel a): 4/4 against 2/4; batch 2 (panel b): 0/2 against 1/2.
    assert table.loc[1, "difference"] == pytest.approx(0.5) and table.loc[2, "difference"] == pytest.approx(-0.5)
    assert (table["n_items"] == 1).all()
