"""Depth inference: network sizes, predictions at the original size, 16-bit PNG scale, bad files, CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hostile_files import write_png_bomb

keras = pytest.importorskip("keras")

from comicdepth_tf import (  # noqa: E402
    cli,
    fileio,
    inference,
    runs,  # noqa: E402
)
from comicdepth_tf.errors import DataFormatError  # noqa: E402
from comicdepth_tf.models import registry  # noqa: E402
from comicdepth_tf.models.depth_unet import build_depth_unet  # noqa: E402

SIZE = 96
#: (file name, height, width, channels): RGB, non-square portrait, gray.
IMAGES = [("wide.png", 100, 150, 3), ("tall.jpg", 77, 41, 3), ("gray.png", 64, 64, 1)]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    model = build_depth_unet("tiny", decoder_filters=(8, 8, 8, 8), bn_momentum=0.9)
    run_dir = runs.new_run_dir(inference.MODEL_NAME, "tiny-0", root=root)
    registry.save_model(model, run_dir, {"input_size": [64, 96], "predict_size": SIZE})
    return model, run_dir, root


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name, h, w, c in IMAGES:
        shape = (h, w, c) if c == 3 else (h, w)
        fileio.write_image(folder / name, rng.integers(0, 256, shape, dtype=np.uint8))
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image at all")
    return folder


def test_network_size_upper_bound_resize():
    # The longer side is bounded, aspect kept, sides rounded to multiples of 8.
    assert inference.network_size(480, 640, 160) == (120, 160)
    assert inference.network_size(1280, 845, 160) == (160, 104)  # 845 * 0.125 = 105.6 -> 104
    # A box: the image fits inside (240, 320).
    assert inference.network_size(600, 400, (240, 320)) == (240, 160)
    # Too thin for IRv2: scaled up until the short side reaches 75 px, then rounded up to 80.
    assert inference.network_size(100, 1000, 160, min_side=75) == (80, 752)
    assert inference.network_size(50, 50, 32, min_side=8, multiple=8) == (32, 32)


def test_predict_folder_writes_original_sizes_and_skips_the_corrupt_file(saved_run, image_folder, tmp_path):
    model, _, _ = saved_run
    out = tmp_path / "out"
    summary = inference.predict_files(model, [image_folder], out, size=SIZE, batch_size=2, npy=True)

    assert sorted(summary.written) == sorted(name.rsplit(".", 1)[0] for name, *_ in IMAGES)
    assert summary.n_failed == 1 and summary.failed[0][0].endswith("corrupt.png")
    manifest = json.loads((out / inference.MANIFEST_FILE).read_text())
    assert manifest["convention"] == "metric" and manifest["png"]["scale"] == 1000.0
    assert manifest["skipped"][0]["input"].endswith("corrupt.png")
    for name, h, w, _ in IMAGES:
        stem = name.rsplit(".", 1)[0]
        raw = fileio.read_raw(out / f"{stem}_depth.png")
        assert raw.dtype == np.uint16 and raw.shape == (h, w)
        assert fileio.read_image(out / f"{stem}_depth_color.png").shape == (h, w, 3)
        exact = np.load(out / f"{stem}_depth.npy")
        assert exact.dtype == np.float32 and exact.shape == (h, w)
        decoded = inference.read_depth_prediction(out / f"{stem}_depth.png")
        scale = manifest["outputs"][stem]["scale"]
        assert np.abs(decoded - exact).max() <= 0.5 / scale + 1e-6
        assert 1e-3 < exact.min() and exact.max() < 10.0  # the metric head's range


def test_prediction_is_the_network_output_resized_back(saved_run, image_folder):
    model, _, _ = saved_run
    rgb = fileio.read_image(image_folder / "wide.png")  # 100 x 150 -> network 64 x 96
    (pred,) = inference.predict_depth(model, [rgb], size=SIZE)
    small = cv2.resize(rgb.astype(np.float32) / 255.0, (96, 64), interpolation=cv2.INTER_AREA)
    net = np.asarray(model(small[None], training=False))[0, ..., 0]
    expected = cv2.resize(net, (150, 100), interpolation=cv2.INTER_LINEAR)
    assert pred.shape == (100, 150)
    np.testing.assert_allclose(pred, expected, atol=1e-5)
    # A path gives the same map as the decoded array; a gray file comes back at its size.
    from_path, gray = inference.predict_depth(model, [image_folder / "wide.png", image_folder / "gray.png"], size=SIZE)
    np.testing.assert_allclose(from_path, pred, atol=1e-6)
    assert gray.shape == (64, 64)


def test_predict_depth_raises_or_skips_unreadable_files(saved_run, image_folder):
    model, _, _ = saved_run
    with pytest.raises(DataFormatError, match="corrupt.png"):
        inference.predict_depth(model, [image_folder / "corrupt.png"], size=SIZE)
    good, bad = inference.predict_depth(model, [image_folder / "tall.jpg", image_folder / "corrupt.png"], size=SIZE,
                                        errors="skip")
    assert good.shape == (77, 41) and bad is None


def test_truncated_file_is_reported_while_decoding(saved_run, image_folder, tmp_path):
    model, _, _ = saved_run
    data = (image_folder / "wide.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 3])  # a valid header, missing pixels
    summary = inference.predict_files(model, [tmp_path / "truncated.png", image_folder / "tall.jpg"], tmp_path / "out",
                                      size=SIZE)
    assert list(summary.written) == ["tall"]
    assert [s for s, _ in summary.failed] == [str(tmp_path / "truncated.png")]


@pytest.mark.parametrize("side", [20000, 8000], ids=["beyond Pillow's own limit", "between ours and Pillow's"])
def test_a_decompression_bomb_is_reported_and_the_good_page_written(saved_run, image_folder, tmp_path, capsys,
                                                                     monkeypatch, side):
    _, run_dir, _ = saved_run
    monkeypatch.delenv(fileio.MAX_PIXELS_ENV, raising=False)
    bomb = write_png_bomb(tmp_path / "bomb.png", side, side)
    out = tmp_path / "out"
    code = cli.main(["predict", str(bomb), str(image_folder / "tall.jpg"), "--run", str(run_dir), "--out", str(out),
                     "--no-progress"])
    text = capsys.readouterr().out
    assert code == 1
    assert fileio.read_raw(out / "tall_depth.png").shape == (77, 41) and not (out / "bomb_depth.png").exists()
    assert f"failed: {bomb}: field 'pixels'" in text and f"{side * side} pixels" in text
    errors = json.loads((out / inference.MANIFEST_FILE).read_text())["skipped"]
    assert [e["input"] for e in errors] == [str(bomb)] and "pixels" in errors[0]["reason"]


def test_inverse_outputs_get_a_per_file_scale(tmp_path):
    keras.utils.set_random_seed(1)
    model = build_depth_unet("tiny", decoder_filters=(8, 8, 8, 8), output="inverse")
    fileio.write_image(tmp_path / "x.png", np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8))
    inference.predict_files(model, [tmp_path / "x.png"], tmp_path / "out", size=64, npy=True, color=False)
    manifest = json.loads((tmp_path / "out" / inference.MANIFEST_FILE).read_text())
    entry = manifest["outputs"]["x"]
    assert manifest["png"]["scale_per_file"] and manifest["convention"] == "inverse"
    exact = np.load(tmp_path / "out" / "x_depth.npy")
    assert entry["scale"] == pytest.approx(65535 / exact.max())
    assert fileio.read_raw(tmp_path / "out" / "x_depth.png").max() == 65535
    decoded = inference.read_depth_prediction(tmp_path / "out" / "x_depth.png")
    assert np.abs(decoded - exact).max() <= 0.5 / entry["scale"] + 1e-6


def test_cli_globs_summary_and_exit_codes(saved_run, image_folder, tmp_path, capsys):
    _, run_dir, _ = saved_run
    out = tmp_path / "cli"
    code = cli.main(["predict", str(image_folder / "*.png"), "--run", str(run_dir), "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 1  # the corrupt file failed
    assert "wrote 2 of 3 input(s)" in text and "1 failed" in text and "corrupt.png" in text
    assert sorted(p.name for p in out.glob("*_depth.png")) == ["gray_depth.png", "wide_depth.png"]

    code = cli.main(["predict", str(image_folder / "*.jpg"), "--run", str(run_dir), "--out", str(out), "--no-progress",
                     "--batch-size", "1", "--size", "80", "--colormap", "viridis"])
    assert code == 0 and "0 failed" in capsys.readouterr().out
    manifest = json.loads((out / inference.MANIFEST_FILE).read_text())
    assert sorted(manifest["outputs"]) == ["gray", "tall", "wide"]  # merged

    assert cli.main(["predict", str(tmp_path / "none-*.png"), "--run", str(run_dir), "--out", str(out),
                     "--no-progress"]) == 1
    assert "no file matches" in capsys.readouterr().out
    assert cli.main(["predict", str(image_folder), "--run", str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "missing") in err and "notebooks/10_depth_irv2.ipynb" in err and "Traceback" not in err


def test_resolve_run_by_id_and_latest_pointer(saved_run):
    _, run_dir, root = saved_run
    assert runs.resolve_run("tiny-0", root=root) == run_dir
    runs.write_latest_pointer(run_dir, "smoke", root=root)
    assert runs.resolve_run("latest-smoke", root=root) == run_dir
    assert inference.default_size(registry.read_run(run_dir)["config"]) == SIZE
    with pytest.raises(DataFormatError, match="latest-cpu"):
        runs.resolve_run("latest-cpu", root=root)


def test_output_names_keep_folders(tmp_path):
    for sub in ("a", "b"):
        fileio.write_image(tmp_path / "in" / sub / "0.png", np.zeros((8, 8, 3), np.uint8))
    files, problems = inference.expand_inputs([tmp_path / "in"], recursive=True)
    assert [name for _, name in files] == ["a/0", "b/0"] and problems == []
    files, _ = inference.expand_inputs([str(tmp_path / "in" / "*" / "0.png")])
    assert [name for _, name in files] == ["0", "0"]  # made unique by outputs.plan_outputs


def _predict_cli(run_dir, *args):
    return cli.main(["predict", *map(str, args), "--run", str(run_dir), "--no-progress"])


def test_cli_same_stem_in_two_folders_writes_and_records_both(saved_run, tmp_path, capsys):
    _, run_dir, _ = saved_run
    for i, sub in enumerate(("a", "b")):
        fileio.write_image(tmp_path / "in" / sub / "0.png", np.full((8 + i, 8, 3), 100, np.uint8))
    out = tmp_path / "out"
    assert _predict_cli(run_dir, str(tmp_path / "in" / "*" / "0.png"), "--out", out) == 0
    assert "wrote 2 of 2 input(s)" in capsys.readouterr().out
    files = json.loads((out / inference.MANIFEST_FILE).read_text())["outputs"]
    assert {k: v["source"] for k, v in files.items()} == {"0": str(tmp_path / "in" / "a" / "0.png"),
                                                          "0-2": str(tmp_path / "in" / "b" / "0.png")}
    assert fileio.read_raw(out / "0-2_depth.png").shape == (9, 8)


def test_cli_never_overwrites_inputs_or_files_it_did_not_write(saved_run, tmp_path, capsys):
    _, run_dir, _ = saved_run
    pages = tmp_path / "pages"
    rng = np.random.default_rng(3)
    for name in ("p.png", "p_depth.png"):  # p's depth map would be written over the input p_depth.png
        fileio.write_image(pages / name, rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    before = (pages / "p_depth.png").read_bytes()
    assert _predict_cli(run_dir, pages, "--out", pages) == 1
    text = capsys.readouterr().out
    assert (pages / "p_depth.png").read_bytes() == before and not (pages / "p_depth_color.png").exists()
    assert f"failed: {pages / 'p.png'}: {pages / 'p_depth.png'}: output of {pages / 'p.png'} not written" in text
    assert (pages / "p_depth_depth.png").is_file() and "wrote 1 of 2 input(s)" in text
    errors = json.loads((pages / inference.MANIFEST_FILE).read_text())["skipped"]
    assert [e["input"] for e in errors] == [str(pages / "p.png")] and "input" in errors[0]["reason"]

    out = tmp_path / "out"
    out.mkdir()
    (out / "p_depth_color.png").write_bytes(b"someone else's file")
    assert _predict_cli(run_dir, pages / "p.png", "--out", out) == 1
    assert "--overwrite" in capsys.readouterr().out and not (out / "p_depth.png").exists()
    assert (out / "p_depth_color.png").read_bytes() == b"someone else's file"
    assert _predict_cli(run_dir, pages / "p.png", "--out", out, "--overwrite") == 0
    assert fileio.read_image(out / "p_depth_color.png").shape == (20, 30, 3)

    (out / inference.MANIFEST_FILE).write_text('{"mine": true}')  # not a depth manifest: never merged into
    assert _predict_cli(run_dir, pages / "p_depth.png", "--out", out) == 2
    assert str(out / inference.MANIFEST_FILE) in capsys.readouterr().err
    assert (out / inference.MANIFEST_FILE).read_text() == '{"mine": true}' and not (out / "p_depth_depth.png").exists()


@pytest.mark.parametrize("content", [b"PK\x03\x04" + b"\x00" * 40, b"not a zip at all", b""],
                         ids=["broken zip", "not a zip", "empty"])
def test_a_corrupt_keras_file_is_named_not_reported_missing(image_folder, tmp_path, capsys, content):
    bad = tmp_path / "model.keras"
    bad.write_bytes(content)
    with pytest.raises(DataFormatError) as err:
        registry.load_model(bad)
    assert err.value.path == str(bad) and "File not found" not in str(err.value)
    assert _predict_cli(bad, image_folder / "tall.jpg", "--out", tmp_path / "out") == 2
    assert f"predict: {bad}: expected a .keras model archive" in capsys.readouterr().err
