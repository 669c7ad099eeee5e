"""Notebook 10's logic on the smoke data: training learns, beats the mean-depth baseline, saves a findable run."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from comicdepth_tf import inference, runs  # noqa: E402
from comicdepth_tf.chain import config  # noqa: E402
from comicdepth_tf.errors import DataFormatError, ParameterError  # noqa: E402
from comicdepth_tf.models import registry  # noqa: E402
from comicdepth_tf.stages import depth as de  # noqa: E402

SIZE = (64, 96)


@pytest.fixture(scope="module")
def data(smoke_data):
    return de.load_depth_data(smoke_data / "nyu")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("models") / inference.MODEL_NAME / "smoke-0"
    result = de.train(data, run_dir=run_dir, encoder="tiny", decoder_filters=(16, 16, 8, 8), size=SIZE, epochs=6,
                      batch_size=4, learning_rate=3e-3, seed=0)
    metrics, arrays = de.evaluate(result.model, data, size=SIZE)
    return result, metrics, arrays


def test_load_depth_data_splits_and_subsets(data, smoke_data):
    assert data.source == "nyu" and data.counts() == {"train": 24, "val": 8}  # nyu2_test.csv is the validation split
    sub = de.load_depth_data(smoke_data / "nyu", max_train=5, max_val=3, seed=1)
    assert sub.counts() == {"train": 5, "val": 3}
    assert {r.name for r in sub.train} <= {r.name for r in data.train}
    with pytest.raises(DataFormatError, match="nyu2_train.csv"):
        de.load_depth_data(smoke_data / "ai4va")


@pytest.mark.slow
def test_training_lowers_the_loss_and_beats_the_mean_depth_baseline(trained):
    result, metrics, arrays = trained
    loss = result.history["loss"]
    assert len(loss) == 6 and loss[-1] < 0.8 * loss[0]
    assert result.best_epoch is not None and result.cpu_seconds > 0
    assert metrics["val_abs_rel"] < metrics["baseline_mean_abs_rel"]
    assert metrics["abs_rel_vs_baseline"] == pytest.approx(metrics["val_abs_rel"] / metrics["baseline_mean_abs_rel"])
    assert arrays["pred"].shape == arrays["gt"].shape == (8, *SIZE)
    for key in ("val_delta1", "val_median_delta1", "seed_delta1", "baseline_mean_delta1", "val_rmse", "val_log10"):
        assert 0.0 <= metrics[key] < np.inf, key


def test_baseline_is_the_training_mean_everywhere(trained, data):
    _, metrics, arrays = trained
    mean = de.train_mean_depth(data.train, SIZE)
    assert metrics["train_mean_depth"] == pytest.approx(mean)
    gt = arrays["gt"].astype(np.float64)
    per_image = [np.mean(np.abs(mean - g[g > 0]) / g[g > 0]) for g in gt]
    assert metrics["baseline_mean_abs_rel"] == pytest.approx(np.mean(per_image), rel=1e-6)


def test_score_against_hand_computed_values():
    gt = np.full((2, 4, 4), 2.0)
    gt[1] = 4.0
    pred = gt * 1.1  # 10 % too far everywhere
    scores = de.score(pred, gt, "metric", max_depth=10.0)
    assert scores["val_delta1"] == 1.0
    assert scores["val_abs_rel"] == pytest.approx(0.1)
    assert scores["val_rmse"] == pytest.approx(np.mean([0.2, 0.4]))
    assert scores["val_median_abs_rel"] == pytest.approx(0.0, abs=1e-12)  # the scale error aligns away
    assert "seed_delta1" in scores and "val_n_images" not in scores


def test_save_run_writes_the_run_and_the_latest_pointer(trained, data, tmp_path, monkeypatch):
    result, metrics, _ = trained
    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path))
    run_dir = runs.new_run_dir(inference.MODEL_NAME, de.default_run_id("smoke", 0))
    cfg = config.freeze(PROFILE="smoke", SEED=0)
    de.save_run(result.model, run_dir, cfg, {"val_abs_rel": metrics["val_abs_rel"]}, data=data, result=result,
                profile="smoke")
    assert (run_dir / registry.MODEL_FILE).is_file()
    saved = registry.read_run(run_dir)
    assert saved["config"]["input_size"] == list(SIZE) and saved["config"]["predict_size"] == 96
    assert saved["metrics"]["val_abs_rel"] == pytest.approx(metrics["val_abs_rel"])
    assert runs.resolve_run("latest-smoke") == run_dir
    model, run_config = inference.load_depth_model("latest-smoke")
    rgb = np.random.default_rng(0).integers(0, 256, (70, 100, 3), dtype=np.uint8)
    (a,), (b,) = inference.predict_depth(model, [rgb], size=96), inference.predict_depth(result.model, [rgb], size=96)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert inference.default_size(run_config) == 96


def test_real_pairs_are_scored_after_median_alignment(trained, real_dir):
    result, _, _ = trained
    metrics, rows = de.evaluate_real(result.model, 96, real_dir=real_dir)
    assert len(rows) == 3
    assert rows[0]["ground truth"].shape == rows[0]["prediction (median aligned)"].shape == (480, 640)
    for name in ("nyu", "sun", "tum", "mean", "const"):
        assert 0.0 <= metrics[f"real_{name}_delta1"] <= 1.0
    # The constant prediction, median-aligned, is the ground truth's median: AbsRel is then computable by hand.
    from comicdepth_tf.data.formats import rgbd

    gts = [rgbd.load_rgbd_pair(r)[1] for r in rgbd.real_rgbd_records(real_dir)]
    expected = []
    for g in gts:
        v = g[(g > 0) & (g <= 10.0)].astype(np.float64)
        expected.append(np.mean(np.abs(np.median(v) - v) / v))
    assert metrics["real_const_abs_rel"] == pytest.approx(np.mean(expected), rel=1e-5)


def test_log_depth_loss_is_l1_on_log1p_over_valid_pixels():
    gt = np.array([[2.0, 4.0], [0.0, 9.0]], np.float32).reshape(1, 2, 2, 1)  # one invalid pixel
    pred = np.array([[3.0, 4.0], [7.0, 4.0]], np.float32).reshape(1, 2, 2, 1)
    loss = de.make_loss("log_depth", w_ssim=0.0, w_edge=0.0, w_l1=1.0)
    expected = (abs(np.log(4.0) - np.log(3.0)) + 0.0 + abs(np.log(5.0) - np.log(10.0))) / 3
    assert float(loss(gt, pred)) == pytest.approx(expected, rel=1e-5)
    # A 20 % error costs about the same near and far on log(1 + d); in metres the far one costs 4x more.
    near, far = np.full((1, 16, 16, 1), 2.0, np.float32), np.full((1, 16, 16, 1), 8.0, np.float32)
    metres = de.make_loss("l1")
    assert float(loss(near, near * 1.2)) == pytest.approx(np.log(3.4 / 3.0), rel=1e-5)
    assert float(loss(far, far * 1.2)) == pytest.approx(np.log(10.6 / 9.0), rel=1e-5)  # 1.3x the near one
    assert float(metres(far, far * 1.2)) / float(metres(near, near * 1.2)) == pytest.approx(4.0, rel=1e-5)


def test_fit_refuses_a_model_compiled_for_another_run_length(data, tmp_path):
    # The cosine schedule is planned at compile time: 24 images in batches of 4 are 6 steps, not 99.
    model = de.build_model(encoder="tiny", decoder_filters=(8, 8, 8, 8), seed=0)
    de.compile_model(model, steps_per_epoch=99, epochs=1)
    with pytest.raises(ParameterError, match="compiled for 99 steps per epoch; 24 images in batches of 4 make 6"):
        de.fit(model, data, run_dir=tmp_path / "run", batch_size=4, epochs=1)
    assert not (tmp_path / "run").exists()
