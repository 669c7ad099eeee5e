"""The three per-input commands (predict, text-mask, translate) behave alike.

One tiny run of each kind is saved once for the module under a temporary ``saved_models/``:
a depth run with a ``latest-smoke.json`` pointer (as notebook 10 writes), a text detector whose
``config.json`` records ``PROFILE: smoke`` (as notebook 20 saves it) and a CycleGAN run that only
``comicdepth run``'s ledger ties to the profile (notebook 30 records no profile). Every command is
then run on the same inputs: run resolution by folder, id and ``latest-<profile>``, output names,
manifest schema, progress lines, exit statuses, ``--version``, and predict's side-by-side and
float outputs (PFM round trip).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from comicdepth_tf import (  # noqa: E402
    __version__,
    cli,
    fileio,
    inference,
    outputs,
    runs,  # noqa: E402
)
from comicdepth_tf.errors import DataFormatError  # noqa: E402
from comicdepth_tf.models import registry  # noqa: E402
from comicdepth_tf.models.cyclegan import CYCLEGAN_FILES  # noqa: E402
from comicdepth_tf.models.depth_unet import build_depth_unet  # noqa: E402

TOOLS = ("predict", "text-mask", "translate")
#: The saved_models/ folder and run id of each tool's run.
RUNS = {"predict": ("depth_irv2", "d1"), "text-mask": ("text_unet", "t1"), "translate": ("cyclegan_simple", "g1")}
#: The files each tool writes per input by default, and its manifest.
FILES = {"predict": ("_depth.png", "_depth_color.png"), "text-mask": ("_text_mask.png",),
         "translate": ("_translated.png",)}
MANIFESTS = {"predict": "depth_manifest.json", "text-mask": "text_mask_manifest.json",
             "translate": "translate_manifest.json"}
#: The notebook each missing run's message points to.
NOTEBOOKS = {"predict": "10_depth_irv2", "text-mask": "20_text_unet", "translate": "30_cyclegan"}
SHAPES = {"a.png": (40, 60), "b.jpg": (50, 30)}


def _one_by_one(channels: int, activation: str | None = None):
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(channels, 1, activation=activation)(inputs))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``saved_models/`` with one run of each kind (see the module doc)."""
    root = tmp_path_factory.mktemp("saved_models")
    keras.utils.set_random_seed(0)
    depth = registry.save_model(build_depth_unet("tiny", decoder_filters=(8, 8, 8, 8)), root / "depth_irv2" / "d1",
                                {"input_size": [64, 64], "predict_size": 64})
    runs.write_latest_pointer(depth, "smoke", root=root)
    registry.save_model(_one_by_one(1, "sigmoid"), root / "text_unet" / "t1",
                        {"threshold": 0.5, "image_size": 16, "page_scale": 1.0, "PROFILE": "smoke"})
    registry.atomic_save_keras(
        _one_by_one(3, "sigmoid"),
        root / "cyclegan_simple" / "g1" / CYCLEGAN_FILES["comics2natural"],
        include_optimizer=False,
    )
    fileio.atomic_write_json(root / "cyclegan_simple" / "g1" / "config.json", {"image_size": 16})
    ledger = {"30": {"fingerprint": "x", "runs": ["cyclegan_simple/g1"]}}
    fileio.atomic_write_json(root / "stages" / "smoke.json", ledger)
    return root


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Two readable images of different sizes and formats."""
    folder = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(0)
    for name, shape in SHAPES.items():
        fileio.write_image(folder / name, rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return folder


@pytest.fixture(autouse=True)
def _models_root(models, monkeypatch):
    monkeypatch.setenv("COMICDEPTH_MODELS", str(models))


def _main(tool, run, *args):
    return cli.main([tool, *map(str, args), "--run", str(run)])


@pytest.mark.parametrize("form", ["folder", "id", "latest"])
@pytest.mark.parametrize("tool", TOOLS)
def test_every_run_form_names_manifest_and_progress_alike(tool, form, models, pages, tmp_path, capsys):
    model_name, run_id = RUNS[tool]
    run = {"folder": models / model_name / run_id, "id": run_id, "latest": "latest-smoke"}[form]
    out = tmp_path / "out"
    assert _main(tool, run, pages, "--out", out) == 0
    captured = capsys.readouterr()
    expected = sorted(f"{name.split('.')[0]}{suffix}" for name in SHAPES for suffix in FILES[tool])
    assert sorted(p.name for p in out.iterdir()) == sorted(expected + [MANIFESTS[tool]])
    for name, shape in SHAPES.items():
        stem = name.split(".")[0]
        assert fileio.read_raw(out / f"{stem}{FILES[tool][0]}").shape[:2] == shape
        assert f"] {pages / name} -> {out / stem}{FILES[tool][0]}" in captured.err  # one line per input
    assert captured.err.count("\n") == 2 and f"{tool}: wrote 2 of 2 input(s) into {out}" in captured.out

    manifest = json.loads((out / MANIFESTS[tool]).read_text())
    assert {"format", "tool", "version", "run", "inputs", "outputs", "skipped"} <= set(manifest)
    assert (manifest["format"], manifest["tool"], manifest["version"]) == (outputs.MANIFEST_FORMAT, tool, __version__)
    assert manifest["run"] == {"argument": str(run), "path": str((models / model_name / run_id).resolve())}
    assert manifest["inputs"] == [str(pages)] and manifest["skipped"] == []
    assert {k: v["source"] for k, v in manifest["outputs"].items()} == {"a": str(pages / "a.png"),
                                                                        "b": str(pages / "b.jpg")}
    assert manifest["outputs"]["a"]["files"][next(iter(manifest["outputs"]["a"]["files"]))] == f"a{FILES[tool][0]}"


@pytest.mark.parametrize("tool", TOOLS)
def test_one_bad_input_fails_alone_and_is_named(tool, models, pages, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    out = tmp_path / "out"
    assert _main(tool, "latest-smoke", pages / "a.png", bad, tmp_path / "none-*.png", "--out", out, "--quiet") == 1
    captured = capsys.readouterr()
    assert f"  failed: {bad}: field 'pixels'" in captured.out  # quiet: the failures come with the summary
    assert f"  failed: {tmp_path / 'none-*.png'}: no file matches the pattern" in captured.out
    assert f"{tool}: wrote 1 of 3 input(s)" in captured.out and "2 failed" in captured.out and captured.err == ""
    assert (out / f"a{FILES[tool][0]}").is_file()
    skipped = json.loads((out / MANIFESTS[tool]).read_text())["skipped"]
    assert sorted(s["input"] for s in skipped) == sorted([str(bad), str(tmp_path / "none-*.png")])
    assert all(s["reason"] for s in skipped)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_missing_run_is_a_usage_error_naming_where_and_which_notebook(tool, pages, tmp_path, capsys):
    missing = tmp_path / ("a-long-folder-name-" * 6) / "no-such-run"
    for run, first in ((missing, missing), ("latest-nothing", Path.cwd() / "latest-nothing")):
        assert _main(tool, run, pages, "--out", tmp_path / "out") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{tool}: {run}: expected a saved {RUNS[tool][0]} run") and "Traceback" not in err
        assert f"notebooks/{NOTEBOOKS[tool]}.ipynb" in err and f"--only {NOTEBOOKS[tool][:2]}" in err
        assert f"looked at {first}" in err  # the whole path, never cut
    assert "--profile nothing" in err and "the runs of profile nothing" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_run_message_is_whole(tmp_path):
    missing = tmp_path / ("a-long-folder-name-" * 8) / "no-such-run"
    with pytest.raises(DataFormatError) as err:
        runs.resolve_run(missing, root=tmp_path)
    assert f"looked at {missing}; depth_irv2 runs are saved by notebooks/10_depth_irv2.ipynb" in str(err.value)
    with pytest.raises(DataFormatError) as err:
        runs.resolve_run("latest-cpu", root=tmp_path)
    folder = tmp_path / "depth_irv2"
    assert (f"looked at {Path.cwd() / 'latest-cpu'}, {tmp_path / 'latest-cpu'}, {folder / 'latest-cpu'}, "
            f"{folder / 'latest-cpu.json'}, the runs of profile cpu under {folder}; ") in str(err.value)
    assert str(err.value).endswith("(`comicdepth run --profile cpu --only 10`)")


def test_translate_accepts_latest_for_its_depth_run(pages, tmp_path):
    out = tmp_path / "out"
    assert _main("translate", "latest-smoke", pages / "a.png", "--out", out, "--depth-run", "latest-smoke") == 0
    manifest = json.loads((out / MANIFESTS["translate"]).read_text())
    assert manifest["depth_run"]["argument"] == "latest-smoke" and manifest["convention"] == "metric"
    assert manifest["outputs"]["a"]["files"] == {"translated": "a_translated.png", "depth": "a_depth.png",
                                                 "color": "a_depth_color.png"}
    assert inference.read_depth_prediction(out / "a_depth.png").shape == SHAPES["a.png"]


@pytest.mark.parametrize("tool", TOOLS)
def test_the_run_argument_is_required_everywhere(tool, pages, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([tool, str(pages), "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and "--run" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"comicdepth {__version__}"


def test_predict_side_by_side_and_float_outputs(pages, tmp_path):
    out = tmp_path / "out"
    assert _main("predict", "d1", pages, "--out", out, "--side-by-side", "--float", "npy", "--float", "pfm", "-q") == 0
    manifest = json.loads((out / MANIFESTS["predict"]).read_text())
    for name, (h, w) in SHAPES.items():
        stem = name.split(".")[0]
        exact = np.load(out / f"{stem}_depth.npy")
        pfm = fileio.read_pfm(out / f"{stem}_depth.pfm")
        assert exact.shape == (h, w) and pfm.dtype == np.float32
        np.testing.assert_array_equal(pfm, exact)  # the PFM holds the float32 map exactly
        picture = fileio.read_image(out / f"{stem}_side_by_side.png")
        assert picture.shape[0] >= h and picture.shape[1] > 2 * w  # input, colour depth, colour bar
        assert set(manifest["outputs"][stem]["files"]) == {"depth", "color", "npy", "pfm", "side_by_side"}


def test_pfm_layout_and_round_trip(tmp_path):
    depth = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    fileio.write_pfm(tmp_path / "d.pfm", depth)
    raw = (tmp_path / "d.pfm").read_bytes()
    header = b"Pf\n3 2\n-1.0\n"
    assert raw.startswith(header)
    # Little-endian float32, bottom row first.
    np.testing.assert_array_equal(np.frombuffer(raw[len(header):], "<f4").reshape(2, 3), depth[::-1])
    np.testing.assert_array_equal(fileio.read_pfm(tmp_path / "d.pfm"), depth)
    colour = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    fileio.write_pfm(tmp_path / "c.pfm", colour)
    np.testing.assert_array_equal(fileio.read_pfm(tmp_path / "c.pfm"), colour)
    big_endian = b"Pf\n3 2\n1.0\n" + depth[::-1].astype(">f4").tobytes()
    (tmp_path / "be.pfm").write_bytes(big_endian)
    np.testing.assert_array_equal(fileio.read_pfm(tmp_path / "be.pfm"), depth)


@pytest.mark.parametrize(
    "content, field",
    [
        (b"P6\n3 2\n255\n", "header line 1"),
        (b"Pf\nthree 2\n-1.0\n", "header lines 2-3"),
        (b"Pf\n3 2\n-1.0\n" + b"\0" * 20, "data"),
    ],
)
def test_a_bad_pfm_names_the_file_and_field(tmp_path, content, field):
    (tmp_path / "bad.pfm").write_bytes(content)
    with pytest.raises(DataFormatError, match=f"bad.pfm: field '{field}'"):
        fileio.read_pfm(tmp_path / "bad.pfm")
