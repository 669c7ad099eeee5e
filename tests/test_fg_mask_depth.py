"""Dual-input foreground mask + depth network: model, losses, metrics, data, baseline, training."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from comicdepth_tf import fileio  # noqa: E402
from comicdepth_tf.data.formats import modest  # noqa: E402
from comicdepth_tf.errors import ParameterError  # noqa: E402
from comicdepth_tf.models import fg_mask_depth as fmd  # noqa: E402
from comicdepth_tf.models import registry  # noqa: E402
from comicdepth_tf.stages import fg as fx  # noqa: E402

# base_filters below 16 trips a oneDNN memory corruption in TF 2.21 on CPU (see the report).
FILTERS = 16


def _inputs(n, h, w, seed=0):
    rng = np.random.default_rng(seed)
    return {"bg": rng.random((n, h, w, 3), dtype=np.float32), "bg_fg": rng.random((n, h, w, 3), dtype=np.float32)}


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("variant", ["depthnet", "masknet"])
@pytest.mark.parametrize("size", [(64, 64), (40, 72)])
def test_model_outputs_have_the_input_size(variant, size):
    model = fmd.build_fg_mask_depth(size, variant=variant, base_filters=FILTERS)
    out = model(_inputs(2, *size))
    expected = {"mask", "depth"} if variant == "depthnet" else {"mask"}
    assert set(out) == expected
    for value in out.values():
        assert tuple(value.shape) == (2, *size, 1)
    if variant == "depthnet":
        depth = np.asarray(out["depth"])
        assert depth.min() > 0 and depth.max() < 10.0  # DepthHead: bounded metric output


def test_dynamic_size_model_follows_odd_input_sizes():
    model = fmd.build_fg_mask_depth(None, base_filters=FILTERS)
    out = model(_inputs(1, 37, 53))
    assert tuple(out["mask"].shape) == (1, 37, 53, 1) and tuple(out["depth"].shape) == (1, 37, 53, 1)


def test_masknet_is_lighter_and_builders_are_registered():
    depthnet = registry.build_model("fg_depthnet", image_size=32, base_filters=FILTERS)
    masknet = registry.build_model("fg_masknet", image_size=32, base_filters=FILTERS)
    assert masknet.count_params() < depthnet.count_params() / 2
    # the mask decoder feeds the depth decoder
    concat = depthnet.get_layer("depth_dec0_concat")
    sources = {t._keras_history.operation.name for t in concat.input}
    assert "mask_dec0_out" in sources


def test_batch_norm_statistics_follow_short_runs():
    # Keras' default momentum 0.99 leaves the inference statistics near their initial values after
    # the few dozen steps of a smoke run, so predictions differ from what training saw.
    model = fmd.build_fg_mask_depth(32, base_filters=FILTERS)
    momenta = {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {fmd.BN_MOMENTUM} and fmd.BN_MOMENTUM <= 0.9
    with pytest.raises(ParameterError, match="bn_momentum"):
        fmd.build_fg_mask_depth(32, base_filters=FILTERS, bn_momentum=1.0)


def test_bad_variant_is_a_parameter_error():
    with pytest.raises(ParameterError, match="variant"):
        fmd.build_fg_mask_depth(32, variant="unet")


def test_save_load_gives_identical_outputs_without_custom_objects(tmp_path):
    stats = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}
    model = fmd.build_fg_mask_depth((32, 48), base_filters=FILTERS, bg_stats=stats, bg_fg_stats=stats)
    x = _inputs(2, 32, 48, seed=1)
    before = model.predict(x, verbose=0)
    registry.save_model(model, tmp_path / "run", {"variant": "depthnet"}, {"mask_iou": 0.5})
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")  # no custom_objects
    after = loaded.predict(x, verbose=0)
    for key in ("mask", "depth"):
        np.testing.assert_allclose(after[key], before[key], atol=1e-6)
    norm = loaded.get_layer("bg_normalize")
    np.testing.assert_allclose(np.ravel(norm.mean), stats["mean"], atol=1e-6)


# --------------------------------------------------------------------------- losses


def _loss(target, terms, y_true, y_pred, max_depth=10.0):
    fn = fmd.MaskDepthLoss(target, terms, max_depth=max_depth)
    return float(fn(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)))


def test_bce_with_logits_matches_hand_computation():
    y = np.array([1, 0], np.float32).reshape(1, 1, 2, 1)
    logits = np.array([2.0, -1.0], np.float32).reshape(1, 1, 2, 1)
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2  # 0.220095
    assert _loss("mask", [("bce", 1.0)], y, logits) == pytest.approx(expected, rel=1e-5)
    assert _loss("mask", [("bce", 1.0)], y, np.zeros_like(logits)) == pytest.approx(math.log(2), rel=1e-5)


def test_dice_matches_hand_computation():
    y = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    logits = np.array([30, -30, 30, -30], np.float32).reshape(1, 2, 2, 1)  # probabilities 1, 0, 1, 0
    # |A∩B| = 1, |A| + |B| = 4, smooth 1: 1 - (2 + 1) / (4 + 1) = 0.4
    assert _loss("mask", [("dice", 1.0)], y, logits) == pytest.approx(0.4, abs=1e-5)


def test_rmse_is_computed_on_depth_divided_by_max_depth():
    y = np.full((1, 2, 2, 1), 2.0, np.float32)
    pred = np.array([2, 2, 2, 6], np.float32).reshape(1, 2, 2, 1)
    # normalised errors 0, 0, 0, 0.4 -> sqrt(0.16 / 4) = 0.2
    assert _loss("depth", [("rmse", 1.0)], y, pred) == pytest.approx(0.2, abs=1e-5)


def test_ssim_of_constant_maps_is_the_luminance_term():
    y = np.full((1, 16, 16, 1), 2.0, np.float32)
    pred = np.full((1, 16, 16, 1), 6.0, np.float32)
    c1 = 0.01**2
    ssim = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)  # 0.600100; contrast term is 1
    assert _loss("depth", [("ssim", 1.0)], y, pred) == pytest.approx(1 - ssim, abs=1e-4)
    assert _loss("depth", [("ssim", 1.0)], y, y) == pytest.approx(0.0, abs=1e-5)


def test_weighted_sum_of_terms():
    rng = np.random.default_rng(0)
    y = (rng.random((2, 8, 8, 1)) > 0.7).astype(np.float32)
    logits = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    bce = _loss("mask", [("bce", 1.0)], y, logits)
    dice = _loss("mask", [("dice", 1.0)], y, logits)
    assert _loss("mask", [("bce", 1.0), ("dice", 2.0)], y, logits) == pytest.approx(bce + 2 * dice, rel=1e-5)


def test_loss_spec_parsing():
    assert fmd.parse_loss_spec("bce+rmse") == {"mask": [("bce", 1.0)], "depth": [("rmse", 1.0)]}
    assert fmd.parse_loss_spec("ssim+dice") == {"mask": [("dice", 1.0)], "depth": [("ssim", 1.0)]}
    assert fmd.parse_loss_spec("bce + dice + 0.5*ssim + rmse") == {
        "mask": [("bce", 1.0), ("dice", 1.0)], "depth": [("ssim", 0.5), ("rmse", 1.0)]}
    assert fmd.parse_loss_spec({"mask": ["bce"], "depth": "rmse+ssim"}) == {
        "mask": [("bce", 1.0)], "depth": [("rmse", 1.0), ("ssim", 1.0)]}
    assert fmd.parse_loss_spec("mask:bce+rmse,depth:ssim") == {
        "mask": [("bce", 1.0), ("rmse", 1.0)], "depth": [("ssim", 1.0)]}
    assert fmd.parse_loss_spec("dice", outputs=("mask",)) == {"mask": [("dice", 1.0)]}


@pytest.mark.parametrize("spec, message", [
    ("bce+focal", "unknown loss 'focal'; known: bce, dice, ssim, rmse"),
    ("bce", "no loss term for output"),
    ("bce+2x*rmse", "cannot read term"),
    ("edges:bce,depth:rmse", "unknown output 'edges'"),
])
def test_bad_loss_specs_are_clear_errors(spec, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        fmd.parse_loss_spec(spec)


def test_masknet_rejects_depth_losses():
    with pytest.raises(ParameterError, match="no depth output"):
        fmd.make_losses("bce+rmse", variant="masknet")
    assert set(fmd.make_losses("bce+dice", variant="masknet")) == {"mask"}


def test_loss_round_trips_through_keras_serialisation():
    loss = fmd.MaskDepthLoss("depth", [("ssim", 0.5), ("rmse", 1.0)], max_depth=8.0)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert again.terms == [("ssim", 0.5), ("rmse", 1.0)] and again.max_depth == 8.0 and again.target == "depth"


# --------------------------------------------------------------------------- metrics


def test_mask_metrics_hand_computed():
    pred = np.array([[0.9, 0.6, 0.2, 0.4]])
    gt = np.array([[1, 0, 1, 0]], bool)
    assert fmd.mask_iou(pred, gt) == pytest.approx(1 / 3)  # inter 1, union 3
    assert fmd.mask_dice(pred, gt) == pytest.approx(0.5)  # 2 * 1 / (2 + 2)
    assert fmd.mask_iou(np.array([[0.5]]), np.array([[1]])) == 1.0  # 0.5 counts as foreground
    assert fmd.mask_iou(np.zeros((2, 2)), np.zeros((2, 2), bool)) == 1.0
    assert fmd.mask_dice(np.zeros((2, 2)), np.ones((2, 2), bool)) == 0.0
    assert fmd.sigmoid(np.array([0.0, 40.0, -40.0])) == pytest.approx([0.5, 1.0, 0.0])


def test_depth_metrics_hand_computed():
    pred = np.array([1.0, 2.0, 3.0, 7.0])
    gt = np.array([1.0, 2.0, 5.0, 0.0])  # the last pixel is invalid
    assert fmd.depth_rmse(pred, gt) == pytest.approx(math.sqrt(4 / 3))
    assert fmd.depth_rmse(pred, gt, valid=np.array([1, 1, 0, 1], bool)) == 0.0
    assert fmd.depth_delta1(np.array([1.0, 1.3, 2.0, 1.1]), np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(0.5)
    assert fmd.depth_delta1(np.array([0.0]), np.array([1.0])) == 0.0
    assert math.isnan(fmd.depth_rmse(np.ones(2), np.zeros(2)))


# --------------------------------------------------------------------------- data and baseline


def _write_modest(root, bg_depth, fg_boxes, seed=0):
    """A MODEST folder: one background, one composite per box (foreground at 1 m, red)."""
    rng = np.random.default_rng(seed)
    h, w = bg_depth.shape
    bg = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    fileio.write_image(root / "bg" / "bg_1.png", bg)
    rows = []
    for k, (y0, y1, x0, x1) in enumerate(fg_boxes):
        mask = np.zeros((h, w), np.uint8)
        mask[y0:y1, x0:x1] = 255
        comp = bg.copy()
        comp[mask > 0] = (255, 0, 0)
        depth = np.where(mask > 0, 1.0, bg_depth)
        fileio.write_image(root / "bg_fg" / f"fg_bg_{k}.png", comp)
        fileio.write_image(root / "bg_fg_mask" / f"fg_bg_mask_{k}.png", mask)
        fileio.write_image(root / "bg_fg_depth_map" / f"depth_{k}.png", np.round(depth / 10 * 255).astype(np.uint8))
        rows.append(f"bg_1\tfg_bg_{k}\tfg_bg_mask_{k}\tdepth_{k}")
    fileio.atomic_write_text(root / "file_map.txt", "\n".join(rows) + "\n")
    return modest.load_modest(root)


def test_background_depth_is_rebuilt_from_uncovered_pixels(tmp_path):
    h, w = 8, 12
    bg_depth = np.round(np.linspace(2, 9, h * w).reshape(h, w) / 10 * 255) / 255 * 10
    records = _write_modest(tmp_path, bg_depth, [(0, 4, 0, 6), (4, 8, 6, 12), (2, 6, 3, 9)])
    maps = fx.background_depth_maps(records, (h, w))
    np.testing.assert_allclose(maps[str(records[0].bg)], bg_depth, atol=1e-5)
    base = fx.baseline_depth(records, maps)
    assert base.shape == (3, h, w)


def test_background_depth_inpaints_pixels_never_uncovered(tmp_path):
    h, w = 8, 8
    bg_depth = np.full((h, w), 40 / 255 * 10)
    bg_depth[:, 4:] = 80 / 255 * 10  # left half near, right half far: each hidden pixel copies its side
    records = _write_modest(tmp_path, bg_depth, [(2, 4, 2, 4)])
    got = fx.background_depth_maps(records, (h, w))[str(records[0].bg)]
    np.testing.assert_allclose(got, bg_depth, atol=1e-5)  # the hidden square comes from its surroundings


def test_photometric_augmentation_changes_inputs_alike_and_never_targets(tmp_path):
    bg_depth = np.full((16, 16), 5.0)
    boxes = [(0, 16, 0, 16), (1, 5, 1, 5), (2, 7, 2, 7), (3, 9, 3, 9), (4, 11, 4, 11), (5, 13, 5, 13)]
    records = _write_modest(tmp_path, bg_depth, boxes)
    # composite 0 covers everything: make bg and bg_fg identical files for it
    import shutil

    shutil.copy(records[0].bg, records[0].bg_fg)
    data = fx.FgData(tmp_path, records, records[:1], {}, (16, 16), batch_size=6, seed=3,
                     augment=fx.augment_config(True, flip=False))
    (x_aug, y_aug), = data.dataset("train", training=True, cache=False).take(1).as_numpy_iterator()
    plain = data.arrays("train")
    order = [int(np.argmin([np.abs(p - a).sum() for p in plain["mask"]])) for a in y_aug["mask"]]
    assert sorted(order) == list(range(6))
    for i, j in enumerate(order):
        np.testing.assert_array_equal(y_aug["mask"][i], plain["mask"][j])
        np.testing.assert_array_equal(y_aug["depth"][i], plain["depth"][j])
    assert not np.allclose(x_aug["bg"], plain["bg"][order])  # colours did change
    k = order.index(0)
    np.testing.assert_allclose(x_aug["bg"][k], x_aug["bg_fg"][k], atol=1e-6)  # same change on both inputs


def test_split_by_background_keeps_backgrounds_apart():
    recs = [modest.ModestRecord(bg=f"b{i % 5}", bg_fg=f"c{i}", mask="m", depth="d", name=str(i), line=i)
            for i in range(40)]
    train, val = fx.split_records(recs, 0.2, "background", seed=1)
    assert {r.bg for r in train}.isdisjoint({r.bg for r in val}) and len(train) + len(val) == 40
    train, val = fx.split_records(recs, 0.25, "random", seed=1)
    assert (len(train), len(val)) == (30, 10)
    with pytest.raises(ParameterError, match="split"):
        fx.split_records(recs, 0.2, "by_figure")


def test_missing_modest_folder_is_a_data_format_error(tmp_path):
    from comicdepth_tf.errors import DataFormatError

    with pytest.raises(DataFormatError, match="file_map.txt"):
        fx.modest_root(tmp_path)


# --------------------------------------------------------------------------- smoke training


@pytest.mark.slow
def test_smoke_training_beats_trivial_masks_then_saves_reloads_and_predicts(smoke_data, tmp_path):
    data = fx.load_data(smoke_data, image_size=48, batch_size=2, val_fraction=0.25, augment=True, seed=0)
    data.val = data.train  # judge learning on the images seen: the smoke set has 8 composites
    result = fx.train(data, run_dir=tmp_path / "run", losses="bce+dice+rmse", learning_rate=5e-3,
                      lr_schedule="constant", epochs=8, base_filters=FILTERS, seed=0)
    assert (tmp_path / "run" / "history.csv").is_file() and len(result.history["loss"]) == 8
    metrics = fx.evaluate(result.model, data)
    gt = data.arrays("val")["mask"] > 0.5
    all_fg_iou = fmd.mask_iou(np.ones_like(gt), gt)
    assert metrics["mask_iou"] > max(metrics["trivial_mask_iou"], all_fg_iou) + 0.1
    assert np.isfinite(metrics["depth_rmse"]) and metrics["baseline_depth_rmse"] > 0

    run_dir = fx.save_run(result.model, tmp_path / "saved", {"losses": "bce+dice+rmse"}, metrics)
    loaded = registry.load_model(run_dir)
    arrays = data.arrays("val", n=2)
    assert fx.same_outputs(result.model, loaded, arrays)
    pred = fx.predict(loaded, arrays)
    assert pred["mask_prob"].shape == (2, 48, 48) and pred["depth"].shape == (2, 48, 48)
