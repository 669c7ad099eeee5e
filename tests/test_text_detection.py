"""Text-area detection: loss, IoU, epoch and threshold selection, tiling, text-free crops, CLI."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from comicdepth_tf import fileio
from comicdepth_tf import text_detection as td
from comicdepth_tf.errors import DataFormatError, ParameterError

# --------------------------------------------------------------------------- IoU and loss


def test_iou_matches_hand_count():
    prob = np.array([[0.9, 0.6, 0.4], [0.2, 0.5, 0.1]])
    truth = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.uint8)
    # pred >= 0.5: (0,0) (0,1) (1,1); truth: (0,0) (0,2) (1,1) -> inter 2, union 4
    assert td.iou_counts(prob, truth, 0.5) == (2, 4)
    assert td.iou(prob, truth, 0.5) == pytest.approx(0.5)
    # threshold 0.35 adds (0,2): inter 3, union 4
    assert td.iou(prob, truth, 0.35) == pytest.approx(0.75)
    # pooled over a stack, not averaged per image: image A 1/1, image B 0/3 -> 1/4 (mean would be 0.5)
    probs = np.stack([np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])])
    truths = np.stack([np.array([[1, 0]]), np.array([[0, 0]])])
    probs[1, 0, 0] = 0.0
    truths[1, 0, 0] = 1
    assert td.iou_counts(probs, truths, 0.5) == (1, 3)
    assert td.iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0


def test_trivial_ious():
    truth = np.zeros((4, 5), bool)
    truth[:2, :2] = True
    assert td.trivial_ious(truth) == {"all_text": pytest.approx(4 / 20), "no_text": 0.0}
    assert td.trivial_ious(np.zeros((3, 3), bool)) == {"all_text": 0.0, "no_text": 1.0}


def test_bce_dice_loss_against_hand_computed_value():
    import tensorflow as tf

    p = np.array([0.9, 0.2, 0.6, 0.1], np.float32).reshape(1, 2, 2, 1)
    t = np.array([1, 0, 1, 0], np.float32).reshape(1, 2, 2, 1)
    bce = -(math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(0.9)) / 4
    dice = (2 * (0.9 + 0.6) + 1) / ((0.9 + 0.2 + 0.6 + 0.1) + 2 + 1)
    loss = td.bce_dice_loss()
    assert float(loss(tf.constant(t), tf.constant(p))) == pytest.approx(bce + 1 - dice, rel=1e-5)
    # weights and a batch of two: the mean of the per-image values
    p2 = np.concatenate([p, np.full_like(p, 0.5)])
    t2 = np.concatenate([t, np.zeros_like(t)])
    bce2 = -math.log(0.5)
    dice2 = 1 / (2.0 + 0 + 1)
    weighted = td.bce_dice_loss(w_bce=2.0, w_dice=0.5)
    expected = ((2 * bce + 0.5 * (1 - dice)) + (2 * bce2 + 0.5 * (1 - dice2))) / 2
    assert float(weighted(tf.constant(t2), tf.constant(p2))) == pytest.approx(expected, rel=1e-5)


def test_bce_dice_loss_serialises():
    import keras

    loss = td.bce_dice_loss(w_bce=0.5, w_dice=2.0)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again).__name__ == "BceDiceLoss"
    assert (again.w_bce, again.w_dice) == (0.5, 2.0)


# --------------------------------------------------------------------------- epoch selection


def test_select_best_epoch_keeps_the_best_not_the_last():
    history = {"val_iou50": [0.2, 0.7, 0.65, float("nan"), 0.5], "val_loss": [1.0, 0.5, 0.4, 0.3, 0.2]}
    assert td.select_best_epoch(history) == (2, 0.7)
    assert td.select_best_epoch(history, "val_loss", mode="min") == (5, 0.2)
    with pytest.raises(ParameterError):
        td.select_best_epoch(history, "val_iou")


def _tiny_model():
    import keras

    inputs = keras.Input((4, 4, 3))
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))


def test_best_epoch_checkpoint_keeps_best_weights_and_survives_resume(tmp_path):
    model = _tiny_model()
    weights = []
    callback = td.make_best_epoch_checkpoint(tmp_path)
    callback.set_model(model)
    for epoch, value in enumerate([0.3, 0.8, 0.6]):  # the last epoch is worse than the second
        w = [np.full_like(v, epoch + 1.0) for v in model.get_weights()]
        model.set_weights(w)
        weights.append(w)
        callback.on_epoch_end(epoch, {td.MONITOR: value})
    state = td.restore_best_epoch(model, tmp_path)
    assert (state["best_epoch"], state["best"]) == (2, 0.8)
    for got, want in zip(model.get_weights(), weights[1]):
        np.testing.assert_array_equal(got, want)
    # A resumed run remembers the best value: a 0.7 epoch does not replace the 0.8 one.
    again = td.make_best_epoch_checkpoint(tmp_path)
    again.set_model(model)
    again.on_epoch_end(3, {td.MONITOR: 0.7})
    assert td.best_epoch_state(tmp_path)["best_epoch"] == 2


# --------------------------------------------------------------------------- threshold sweep


def test_threshold_sweep_finds_known_best_threshold():
    # Text pixels 0.35-0.9; background 0.1-0.3 plus two at 0.45. Thresholds in (0.3, 0.35] keep
    # all text and only the two 0.45 pixels (IoU 4/6); 0.5 drops those but also half the text (2/4).
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    prob = np.array([0.35, 0.4, 0.7, 0.9, 0.1, 0.2, 0.3, 0.25, 0.45, 0.45])
    sweep = td.sweep_thresholds(prob, truth, thresholds=[0.2, 0.3, 0.33, 0.5, 0.8])
    np.testing.assert_allclose(sweep["iou"], [4 / 9, 4 / 7, 4 / 6, 2 / 4, 1 / 4])
    assert td.best_threshold(sweep) == (0.33, pytest.approx(2 / 3))
    # The default grid agrees with iou() at every threshold; 0.31-0.35 tie, 0.35 is nearest 0.5.
    full = td.sweep_thresholds(prob, truth)
    for t, score in zip(full["threshold"], full["iou"]):
        assert score == pytest.approx(td.iou(prob, truth, t))
    assert td.best_threshold(full) == (0.35, pytest.approx(2 / 3))


def test_best_threshold_breaks_ties_towards_half():
    assert td.best_threshold({"threshold": [0.3, 0.4, 0.6, 0.7], "iou": [0.9, 0.9, 0.9, 0.2]}) == (0.4, 0.9)


# --------------------------------------------------------------------------- tiling


def test_tile_starts_cover_the_length():
    assert td.tile_starts(100, 100) == [0]
    starts = td.tile_starts(250, 64, overlap=0.5)
    assert starts[0] == 0 and starts[-1] == 250 - 64
    assert max(np.diff(starts)) <= 32
    assert np.all(td.blend_window(16) > 0)


def _page(h=203, w=317, seed=0):
    rng = np.random.default_rng(seed)
    page = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 3)
    return (page - page.min()) / (page.max() - page.min())


def test_tiled_prediction_of_a_pointwise_function_is_exact():
    page = _page()

    def pointwise(batch):
        return 1 / (1 + np.exp(-10 * (batch.mean(-1, keepdims=True) - 0.5)))

    tiled = td.predict_tiled(pointwise, page, tile=64, overlap=0.25)
    assert tiled.shape == page.shape[:2]
    np.testing.assert_allclose(tiled, pointwise(page[None])[0, ..., 0], atol=1e-6)


def test_tiled_prediction_of_a_local_filter_has_no_seams():
    """A translation-equivariant local filter (5×5 mean) gives the same map tiled and untiled.

    Tiles only disagree near their own borders (where the filter sees the padding), and the
    blend window gives those pixels little weight, so the tiled map stays within tolerance,
    unlike a hard stitch of non-overlapping tiles.
    """
    page = _page()

    def local(batch):
        return np.stack([cv2.blur(img.mean(-1), (5, 5), borderType=cv2.BORDER_CONSTANT) for img in batch])

    whole = local(page[None])[0]
    tiled = td.predict_tiled(local, page, tile=64, overlap=0.5)
    assert tiled.shape == whole.shape
    inner = (slice(3, -3), slice(3, -3))  # the page's own border differs in both ways
    err = np.abs(tiled - whole)[inner]
    assert err.max() < 0.03 and err.mean() < 2e-3  # measured: 0.019 and 0.0011 with zero padding
    stitched = td.predict_tiled(local, page[:192, :256], tile=64, overlap=0.0)
    assert np.abs(stitched - whole[:192, :256])[3:-3, 3:-3].max() > 10 * err.max()  # seams without blending (0.38)


def test_predict_page_pads_small_images_and_rescales():
    small = _page(40, 50)

    def pointwise(batch):
        return batch[..., :1]

    np.testing.assert_allclose(td.predict_tiled(pointwise, small, tile=64), small[..., 0], atol=1e-6)
    prob = td.predict_page(pointwise, small, tile=32, scale=0.5)
    assert prob.shape == (40, 50)
    assert np.abs(prob - small[..., 0]).mean() < 0.05


# --------------------------------------------------------------------------- text-free crops


def test_text_free_crop_shrinks_every_20_failures_and_is_seeded():
    prob = np.full((120, 120), 0.9, np.float32)
    prob[70:110, 20:60] = 0.01  # the only text-free place: a 40 px square
    crop = td.find_text_free_crop(prob, size=100, tries_per_size=20, min_size=10, seed=3)
    assert crop is not None
    assert crop.size == 100 - (crop.attempts - 1) // 20  # one pixel less every 20 failed tries
    assert crop.size <= 40 and crop.max_prob < 0.03
    assert prob[crop.y : crop.y + crop.size, crop.x : crop.x + crop.size].max() < 0.03
    assert 70 <= crop.y and crop.y + crop.size <= 110 and 20 <= crop.x and crop.x + crop.size <= 60
    assert td.find_text_free_crop(prob, size=100, min_size=10, seed=3) == crop
    assert td.find_text_free_crop(prob, size=100, min_size=10, seed=4) != crop


def test_text_free_crop_gives_up_after_every_size_down_to_min_size():
    prob = np.full((50, 60), 0.5, np.float32)
    rng = np.random.default_rng(0)
    assert td.find_text_free_crop(prob, size=30, tries_per_size=20, min_size=21, seed=rng) is None
    # 10 sides (30..21) × 20 tries, two draws each
    assert rng.bit_generator.state == _after_draws(0, 10 * 20 * 2, 50, 60)


def _after_draws(seed, n, h, w):
    rng = np.random.default_rng(seed)
    for side in range(30, 20, -1):
        for _ in range(20):
            rng.integers(0, h - side + 1)
            rng.integers(0, w - side + 1)
    return rng.bit_generator.state


def test_text_free_crop_starts_at_the_largest_square_that_fits():
    crop = td.find_text_free_crop(np.zeros((50, 80)), size=384, seed=0)
    assert (crop.size, crop.y, crop.attempts) == (50, 0, 1)


def test_text_free_crops_writes_crops_and_manifest(tmp_path):
    folder = tmp_path / "panels"
    page = np.full((90, 120, 3), 255, np.uint8)
    page[:, :40] = 0  # dark band = "text" for the fake detector below
    fileio.write_image(folder / "a.png", page)
    fileio.write_image(folder / "b.png", np.zeros((60, 60, 3), np.uint8))  # all text: no crop
    (folder / "broken.png").write_bytes(b"not a png")

    def darkness(batch):
        return 1.0 - batch.mean(-1)

    out = td.text_free_crops(darkness, folder, tmp_path / "crops", size=64, min_size=16, tile=32, seed=1)
    assert [r["file"] for r in out["rows"]] == ["a_1.png"]
    row = out["rows"][0]
    assert row["x"] >= 40 and row["size"] <= 64 and row["max_prob"] < 0.03
    crop = fileio.read_image(tmp_path / "crops" / "a_1.png")
    assert crop.shape == (row["size"], row["size"], 3) and crop.min() == 255
    lines = (tmp_path / "crops" / "manifest.csv").read_text().splitlines()
    assert lines[0] == "file,source,x,y,size,max_prob,attempts" and len(lines) == 2
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in out["skipped"]) == ["b.png", "broken.png"]
    again = td.text_free_crops(darkness, folder, tmp_path / "crops2", size=64, min_size=16, tile=32, seed=1)
    assert again["rows"] == out["rows"]


# --------------------------------------------------------------------------- masks and CLI


def _save_fake_run(root, threshold=0.4):
    """A saved text_unet run whose model is a fixed function of the input (dark → text)."""
    import keras

    from comicdepth_tf.models.registry import save_model

    inputs = keras.Input((None, None, 3))
    gray = keras.layers.Conv2D(1, 1, kernel_initializer=keras.initializers.Constant(-1 / 3),
                               bias_initializer=keras.initializers.Constant(1.0), name="darkness")(inputs)
    model = keras.Model(inputs, gray)
    run = root / "text_unet" / "fake"
    save_model(model, run, {"threshold": threshold, "image_size": 32, "page_scale": 1.0})
    return run


def test_predict_text_masks_beside_images(tmp_path):
    images = tmp_path / "set" / "images"
    img = np.full((40, 70, 3), 255, np.uint8)
    img[10:20, 5:30] = 0
    fileio.write_image(images / "p1.png", img)
    detector = td.load_text_detector(_save_fake_run(tmp_path / "models"))
    assert (detector.threshold, detector.tile) == (0.4, 32)
    report = td.predict_text_masks(detector, images)
    assert list(report.written.values()) == [tmp_path / "set" / "pred_text_masks" / "p1.png"] and not report.skipped
    mask = fileio.read_mask(report.written["p1"])
    assert mask.shape == (40, 70) and mask[10:20, 5:30].all() and mask.sum() == 250


def _text_mask_cli(tmp_path, monkeypatch, *args):
    from comicdepth_tf import cli

    models = tmp_path / "models"
    if not (models / "text_unet" / "fake").is_dir():
        _save_fake_run(models)
    monkeypatch.setenv("COMICDEPTH_MODELS", str(models))
    return cli.main(["text-mask", *map(str, args), "--run", "fake"])


def test_cli_text_mask_skips_unreadable_files(tmp_path, monkeypatch, capsys):
    pages = tmp_path / "pages"
    img = np.full((50, 45, 3), 255, np.uint8)
    img[:10] = 0
    fileio.write_image(pages / "a.jpg", img)
    fileio.write_image(pages / "c.png", img)
    (pages / "b.png").write_bytes(b"\x89PNG truncated")
    out = tmp_path / "masks"
    code = _text_mask_cli(tmp_path, monkeypatch, pages, tmp_path / "missing*.png", "--out", out, "--threshold", "0.5")
    captured = capsys.readouterr()
    assert code == 1  # the others are written, but two inputs failed
    assert sorted(p.name for p in out.glob("*.png")) == ["a_text_mask.png", "c_text_mask.png"]
    assert "b.png: failed:" in captured.err and "missing*.png: failed: no file matches" in captured.err
    assert "wrote 2 of 4 input(s)" in captured.out and "2 failed" in captured.out
    assert json.loads((out / "text_mask_manifest.json").read_text())["threshold"] == 0.5
    mask = fileio.read_mask(out / "c_text_mask.png")
    assert mask[:10].all() and not mask[12:].any()
    assert _text_mask_cli(tmp_path, monkeypatch, pages / "b.png", "--out", out) == 1


def _write_page(path, value=0):
    img = np.full((20, 30, 3), 255, np.uint8)
    img[:5] = value
    fileio.write_image(path, img)
    return path.read_bytes()


def test_cli_text_mask_never_overwrites_inputs_or_files_it_did_not_write(tmp_path, monkeypatch, capsys):
    pages = tmp_path / "pages"
    before = {name: _write_page(pages / name) for name in ("a.png", "a_text_mask.png")}
    # --out is the pages' folder: a's mask would replace the input a_text_mask.png.
    assert _text_mask_cli(tmp_path, monkeypatch, pages, "--out", pages) == 1
    err = capsys.readouterr().err
    assert {name: (pages / name).read_bytes() for name in before} == before
    assert f"{pages / 'a_text_mask.png'}: output of {pages / 'a.png'} not written" in err and "input" in err
    assert (pages / "a_text_mask_text_mask.png").is_file()

    out = tmp_path / "masks"
    out.mkdir()
    (out / "a_text_mask.png").write_bytes(b"someone else's file")
    assert _text_mask_cli(tmp_path, monkeypatch, pages / "a.png", pages / "a_text_mask.png", "--out", out) == 1
    err = capsys.readouterr().err
    assert (out / "a_text_mask.png").read_bytes() == b"someone else's file"
    assert f"{pages / 'a.png'}: failed: {out / 'a_text_mask.png'}: output of" in err and "--overwrite" in err
    assert f"{pages / 'a_text_mask.png'} -> {out / 'a_text_mask_text_mask.png'}" in err

    assert _text_mask_cli(tmp_path, monkeypatch, pages / "a.png", "--out", out, "--overwrite") == 0
    assert fileio.read_mask(out / "a_text_mask.png")[:5].all()


def test_cli_text_mask_same_stem_in_two_folders_writes_and_reports_both(tmp_path, monkeypatch, capsys):
    first, second = tmp_path / "x" / "page.png", tmp_path / "y" / "page.png"
    _write_page(first, 0)
    _write_page(second, 255)  # no text: an empty mask
    out = tmp_path / "masks"
    assert _text_mask_cli(tmp_path, monkeypatch, first, second, "--out", out, "--probabilities") == 0
    captured = capsys.readouterr()
    assert f"{first} -> {out / 'page_text_mask.png'}" in captured.err
    assert f"{second} -> {out / 'page-2_text_mask.png'}" in captured.err
    assert "wrote 2 of 2 input(s)" in captured.out and "0 failed" in captured.out
    assert fileio.read_mask(out / "page_text_mask.png")[:5].all()
    assert not fileio.read_mask(out / "page-2_text_mask.png").any()
    assert (out / "page-2_text_prob.png").is_file()


def test_a_missing_text_run_names_where_it_looked_and_the_notebook(tmp_path):
    from comicdepth_tf.runs import resolve_run

    with pytest.raises(DataFormatError) as err:
        resolve_run("nope", td.MODEL_NAME, root=tmp_path)
    assert str(tmp_path / "text_unet" / "nope") in str(err.value) and "notebooks/20_text_unet.ipynb" in str(err.value)


# --------------------------------------------------------------------------- model and smoke training


def test_text_unet_builds_saves_and_reloads(tmp_path):
    from model_checks import check_model

    from comicdepth_tf.models.registry import build_model
    from comicdepth_tf.models.text_unet import build_text_unet

    model = build_text_unet("tiny", input_shape=(None, None, 3), decoder_filters=(8, 8, 8, 8))
    out = check_model(model, np.random.default_rng(0).random((2, 37, 45, 3), np.float32), tmp_path)[0]
    assert out.shape == (2, 37, 45, 1) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    names = [layer.name for layer in model.layers]
    assert {"dec_bottleneck_conv", "dec_attention_P1", "dec_P1_b_relu", "dec_up_full", "text_probability"} <= set(names)
    plain = build_model("text_unet", attention=False, decoder_filters=(4, 4, 4, 4))
    assert not any("attention" in layer.name for layer in plain.layers)


def test_unet_decoder_rejects_bad_filters():
    from comicdepth_tf.models.decoder import check_decoder_filters

    assert check_decoder_filters([32, 16, 8, 4]) == (32, 16, 8, 4)
    for bad in ([8, 8, 8], [8, 8, 8, 0], "abcd"):
        with pytest.raises(ParameterError):
            check_decoder_filters(bad)


@pytest.mark.slow
def test_smoke_training_beats_both_trivial_masks(smoke_data, tmp_path):
    """A few epochs on the smoke panels: IoU on validation above all-text and no-text masks."""
    from comicdepth_tf.stages import text as te

    data = te.load_text_data(smoke_data, source="panels", image_size=64)
    result = te.train(data, run_dir=tmp_path / "run", epochs=6, batch_size=6, learning_rate=3e-3,
                      decoder_filters=(16, 16, 8, 8), augment=False)
    assert 1 <= result.best_epoch <= 6
    assert result.best_val_iou50 == pytest.approx(max(result.history["val_iou50"]), abs=1e-6)
    metrics, _ = te.evaluate(result.model, data)
    best = max(metrics["val_iou_all_text"], metrics["val_iou_no_text"])
    assert metrics["val_iou_opt"] > best and metrics["val_iou_opt"] >= metrics["val_iou50"]
    print({k: round(v, 3) for k, v in metrics.items()})


def test_load_text_data_from_panels_and_ebdtheque(smoke_data, tmp_path):
    from comicdepth_tf.stages import text as te

    panels = te.load_text_data(smoke_data, source="panels", image_size=64)
    assert panels.counts() == {"train": 18, "val": 9, "test": 9}
    assert set(panels.samples["val"][0]) == {"name", "image", "text_mask"}
    assert 0.2 < panels.page_scale < 1.0  # smoke panels are larger than 64 px
    ebd = te.load_text_data(smoke_data, source="ebdtheque", image_size=64, export_dir=tmp_path / "ebd")
    assert (tmp_path / "ebd" / "manifest.csv").is_file()
    assert sum(ebd.counts().values()) == len((tmp_path / "ebd" / "manifest.csv").read_text().splitlines()) - 1
    with pytest.raises(ParameterError):
        te.load_text_data(smoke_data, source="pages")
