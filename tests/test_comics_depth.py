"""Approach 2 end to end on the smoke data with tiny networks: every variant trains, saves, reloads
and writes depth maps of the original image sizes; missing runs name the notebook that makes them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from comicdepth_tf import approach2 as cd
from comicdepth_tf import runs as R
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.stages import comics_depth as cx

S = 32


@pytest.fixture(scope="module")
def tiny(smoke_data):
    from comicdepth_tf import evaluation
    from comicdepth_tf.data.formats import nyu
    from comicdepth_tf.models.cyclegan import build_add_text_generator, build_resnet_generator
    from comicdepth_tf.models.depth_unet import build_depth_unet

    natural = build_depth_unet("tiny", decoder_filters=[4, 4, 4, 4])
    gen = build_resnet_generator(filters=4, residual_blocks=1)
    add_text = build_add_text_generator(filters=4, residual_blocks=1)
    records = nyu.load_nyu(smoke_data / "nyu")["train"]
    images, depth = cd.load_natural(records, S, limit=6)
    comics, masks = cd.load_comics_with_text(smoke_data / "panels" / "train", S, limit=4)
    eval_set = evaluation.load_eval_sets(smoke_data, "val")["panels_val"]
    eval_set.items[:] = eval_set.items[:2]
    return {"natural": natural, "gen": gen, "add_text": add_text, "images": images, "depth": depth,
            "comics": comics, "masks": masks, "eval_set": eval_set, "root": smoke_data}


def test_pairs_targets_and_text(tiny):
    simple = cd.make_pairs(tiny["images"], tiny["depth"], tiny["gen"], "simple")
    assert simple.image.shape == (6, S, S, 3) and not simple.pseudo_gt
    np.testing.assert_array_equal(simple.depth, tiny["depth"])  # ground truth when the set has it
    pseudo = cd.make_pairs(tiny["images"], None, tiny["gen"], "simple", natural_model=tiny["natural"])
    assert pseudo.pseudo_gt and np.all(pseudo.depth > 0)
    np.testing.assert_allclose(pseudo.depth, tiny["natural"].predict(tiny["images"], verbose=0), rtol=1e-5)
    kw = dict(add_text_generator=tiny["add_text"], comics=tiny["comics"], comics_text_masks=tiny["masks"], seed=0)
    keep = cd.make_pairs(tiny["images"], tiny["depth"], tiny["gen"], "add_text", **kw)
    ignore = cd.make_pairs(tiny["images"], tiny["depth"], tiny["gen"], "add_text_ignoretext", **kw)
    inside = ignore.text_mask[..., 0] > 0
    assert inside.any()
    assert np.all(ignore.depth[..., 0][inside] == 0)  # ignored by the loss
    np.testing.assert_array_equal(ignore.depth[..., 0][~inside], keep.depth[..., 0][~inside])
    with pytest.raises(ParameterError, match="add_text_generator"):
        cd.make_pairs(tiny["images"], tiny["depth"], tiny["gen"], "add_text")
    with pytest.raises(ParameterError, match="pseudo"):
        cd.make_pairs(tiny["images"], None, tiny["gen"], "simple")


def test_the_add_text_variants_translate_once_and_match_their_own_pairs_bitwise(tiny, tmp_path):
    up = cx.Upstream(tiny["natural"], tmp_path / "natural", S, "metric",
                     {"without_text": tiny["gen"], "add_text": tiny["add_text"]})
    data = cx.Data(tiny["root"], tiny["images"][:4], tiny["depth"][:4], tiny["images"][4:], tiny["depth"][4:],
                   tiny["comics"], tiny["masks"], tiny["eval_set"])
    shared: dict = {}
    ignore = cx.make_variant_pairs(up, data, "add_text_ignoretext", batch_size=2, shared=shared)
    assert len(shared) == 1  # left for the other add_text variant
    keep = cx.make_variant_pairs(up, data, "add_text", batch_size=2, shared=shared)
    assert shared == {} and keep[0].image is ignore[0].image  # translated once
    kw = dict(add_text_generator=tiny["add_text"], comics=tiny["comics"], comics_text_masks=tiny["masks"],
              batch_size=2)
    for variant, pairs in (("add_text", keep), ("add_text_ignoretext", ignore)):
        for got, images, depth, seed in zip(pairs, (data.natural_train, data.natural_val),
                                            (data.depth_train, data.depth_val), (0, 1)):
            own = cd.make_pairs(images, depth, tiny["gen"], variant, seed=seed, **kw)
            for field in ("image", "depth", "text_mask"):
                np.testing.assert_array_equal(getattr(got, field), getattr(own, field))
    with pytest.raises(ParameterError, match="text masks"):
        cd.ignore_text(cd.Pairs(keep[0].image, keep[0].depth))


def test_augmented_pairs_flip_image_and_target_together_and_repeat_with_the_seed():
    rng = np.random.default_rng(0)
    image = rng.random((16, 4, 6, 3)).astype(np.float32)
    depth = rng.random((16, 4, 6, 1)).astype(np.float32) + 0.5
    depth[:, :, :2] = 0.0  # invalid pixels stay invalid, on the flipped side when flipped
    pairs = cd.Pairs(image, depth)
    by_image = {image[i].tobytes(): i for i in range(16)}

    def epoch(seed):
        out = [
            (x.numpy(), y.numpy())
            for xb, yb in pairs.dataset(4, True, seed, cd.augment_config())
            for x, y in zip(xb, yb)
        ]
        flips = []
        for x, y in out:
            i = by_image.get(x.tobytes())
            if i is None:
                i = by_image[x[:, ::-1].tobytes()]  # every image is an original or its mirror
                np.testing.assert_array_equal(y, depth[i][:, ::-1])
                flips.append(True)
            else:
                np.testing.assert_array_equal(y, depth[i])
                flips.append(False)
        return out, flips

    first, flips = epoch(3)
    assert 3 <= sum(flips) <= 13  # about half of 16
    again, _ = epoch(3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))
    assert cd.augment_config(False) is None
    plain = [x.numpy() for xb, _ in pairs.dataset(4) for x in xb]
    np.testing.assert_array_equal(np.stack(plain), image)  # validation batches are untouched


@pytest.mark.slow
def test_lr_search_picks_the_lowest_validation_loss_and_skips_a_diverging_rate(tiny, tmp_path):
    from comicdepth_tf.training import read_history

    train = cd.Pairs(tiny["images"][:4], tiny["depth"][:4])
    val = cd.Pairs(tiny["images"][4:], tiny["depth"][4:])
    grid = [1e-3, 1e30, 1e-6]  # 1e30: the first Adam step sends every weight to about ±1e30
    search = cd.lr_search(tiny["natural"], train, val, grid, epochs=2, batch_size=2, run_root=tmp_path, init="scratch",
                          loss="l1", augment=False)
    rows = {r["learning_rate"]: r for r in search.rows}
    assert rows[1e30]["best_val_loss"] is None and rows[1e30]["diverged_epoch"] == 1
    finite = {lr: r["best_val_loss"] for lr, r in rows.items() if lr != 1e30}
    assert search.best == min(finite, key=finite.get)
    for lr, loss in finite.items():
        assert loss == pytest.approx(min(read_history(tmp_path / f"lr_{lr:g}")["val_loss"]))
    assert cx.lr_frame([{"variant": "simple", **r} for r in search.rows])["diverged_epoch"].notna().sum() == 1


@pytest.mark.slow
def test_a_finished_lr_search_drops_its_resume_files_and_is_not_run_again(tiny, tmp_path, monkeypatch):
    from comicdepth_tf import training
    from comicdepth_tf.fileio import read_json

    train = cd.Pairs(tiny["images"][:4], tiny["depth"][:4])
    val = cd.Pairs(tiny["images"][4:], tiny["depth"][4:])
    common = dict(epochs=1, batch_size=2, run_root=tmp_path, init="scratch", loss="l1", augment=False)
    search = cd.lr_search(tiny["natural"], train, val, [1e-3, 1e-4], **common)
    assert read_json(tmp_path / cd.SEARCH_FILE)["best"] == search.best
    for lr in (1e-3, 1e-4):
        run = tmp_path / f"lr_{lr:g}"
        assert not (run / "last.keras").exists() and (run / "best.keras").exists() and (run / "history.csv").exists()

    calls = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *a, **k: calls.append(k["run_dir"]) or real_fit(*a, **k))
    again = cd.lr_search(tiny["natural"], train, val, [1e-3, 1e-4], **common)
    assert (again.best, again.rows) == (search.best, search.rows) and calls == []
    cd.lr_search(tiny["natural"], train, val, [1e-3, 3e-4], **common)  # another grid: a new search
    assert calls == [tmp_path / "lr_0.001", tmp_path / "lr_0.0003"]
    # Pairs from another GAN (its weight digest), same grid: searched again, not reused.
    monkeypatch.setattr(training, "fit", lambda *a, **k: calls.append(k["identity"]) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cd.lr_search(tiny["natural"], train, val, [1e-3, 3e-4], upstream={"simple": "another"}, **common)
    assert calls[-1]["upstream"] == {"simple": "another"} and calls[-1]["learning_rate"] == 1e-3


@pytest.mark.slow
def test_pairs_subset_is_seeded_and_an_lr_search_limit_trains_on_it(tiny, tmp_path, monkeypatch):
    from comicdepth_tf import training
    from comicdepth_tf.fileio import read_json

    mask = np.zeros_like(tiny["depth"][:4])
    pairs = cd.Pairs(tiny["images"][:4], tiny["depth"][:4], mask)
    a, b = pairs.subset(2, seed=0), pairs.subset(2, seed=0)
    other = next(pairs.subset(2, seed=s) for s in range(1, 50)
                 if not np.array_equal(pairs.subset(2, seed=s).image, a.image))  # some seed draws others
    assert len(a) == 2 and a.text_mask.shape[0] == 2 and len(other) == 2
    np.testing.assert_array_equal(a.image, b.image)
    assert all(any(np.array_equal(x, y) for y in pairs.image) for x in a.image)  # drawn from the pairs
    assert pairs.subset(0) is pairs and pairs.subset(4) is pairs

    seen = []
    real_fit = training.fit
    monkeypatch.setattr(
        training, "fit", lambda model, ds, *a, **k: seen.append(int(ds.cardinality())) or real_fit(model, ds, *a, **k)
    )
    val = cd.Pairs(tiny["images"][4:], tiny["depth"][4:])
    cd.lr_search(tiny["natural"], pairs, val, [1e-3], epochs=1, batch_size=1, run_root=tmp_path, init="scratch",
                 loss="l1", augment=False, limit=2)
    assert seen == [2]  # one epoch of the 2 drawn pairs, batch 1
    assert read_json(tmp_path / cd.SEARCH_FILE)["settings"]["train_pairs"] == 2


@pytest.mark.slow
def test_every_variant_trains_saves_reloads_and_writes_maps(tiny, tmp_path, monkeypatch):
    from comicdepth_tf.fileio import image_size, read_json

    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path / "models"))
    up = cx.Upstream(tiny["natural"], tmp_path / "natural", S, "metric",
                     {"simple": tiny["gen"], "without_text": tiny["gen"], "add_text": tiny["add_text"]})
    data = cx.Data(tiny["root"], tiny["images"][:4], tiny["depth"][:4], tiny["images"][4:], tiny["depth"][4:],
                   tiny["comics"], tiny["masks"], tiny["eval_set"])
    sizes = {item.stem: image_size(item.image)[::-1] for item in data.eval_set.items}
    learning_rate = None
    for variant in cd.VARIANTS:  # the rate of the first search is reused, as the notebook does by default
        res = cx.run_variant(up, data, variant, run_id="t", profile="smoke", grid=[1e-3, 1e-4], search_epochs=1,
                             epochs=1, batch_size=2, init="scratch", loss="l1", learning_rate=learning_rate)
        if learning_rate is None:
            assert res.row["learning_rate"] in (1e-3, 1e-4) and len(res.lr_rows) == 2
        learning_rate = res.row["learning_rate"]
        assert res.run_dir == tmp_path / "models" / cd.MODEL_NAME / f"t-{variant}"
        assert (res.run_dir / "model.keras").is_file()
        maps = cd.read_depth_maps(res.run_dir, data.eval_set)
        assert {k: v.shape for k, v in maps.items()} == sizes  # original sizes
        assert read_json(res.run_dir / R.EVALUATION_FILE)["configuration"] == f"approach2_{variant}"
        assert 0.0 <= res.row["inter_acc"] <= 1.0 and res.row["images"] == 2
    pointer = read_json(tmp_path / "models" / R.POINTER_DIR / "smoke.json")
    assert set(pointer) == {f"approach2_{v}" for v in cd.VARIANTS}


def test_a_retrained_gan_under_the_same_run_names_trains_the_variant_again(tiny, tmp_path, monkeypatch):
    from comicdepth_tf import training
    from comicdepth_tf.models.cyclegan import build_resnet_generator

    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path / "models"))
    data = cx.Data(tiny["root"], tiny["images"][:4], tiny["depth"][:4], tiny["images"][4:], tiny["depth"][4:],
                   tiny["comics"], tiny["masks"], tiny["eval_set"])
    gan_run = tmp_path / "cyclegan_simple" / "run"  # the same folder name before and after the retraining
    # A given rate (no search: the search's own check is in the lr-search test) keeps this cheap.
    common = dict(run_id="t", profile="smoke", grid=[1e-3], search_epochs=1, epochs=1, batch_size=2,
                  init="scratch", loss="l1", learning_rate=1e-3)
    up = cx.Upstream(tiny["natural"], tmp_path / "natural", S, "metric", {"simple": tiny["gen"]}, {"simple": gan_run})
    first = cx.run_variant(up, data, "simple", **common)
    starts = []
    real_fit = training.fit

    def counting_fit(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        starts.append(result.initial_epoch)
        return result

    monkeypatch.setattr(training, "fit", counting_fit)
    same = cx.run_variant(up, data, "simple", **common)
    assert starts == [1] and same.row["inter_acc"] == first.row["inter_acc"]  # the finished run, as is

    retrained = build_resnet_generator(filters=4, residual_blocks=1)  # other weights, same run folder
    up2 = cx.Upstream(tiny["natural"], tmp_path / "natural", S, "metric", {"simple": retrained}, {"simple": gan_run})
    starts.clear()
    cx.run_variant(up2, data, "simple", **common)
    assert starts == [0]  # trained again from the new GAN's pairs
    config = json.loads((first.run_dir / "config.json").read_text())
    assert config["upstream_digests"] == cx.upstream_identity(up2, "simple") != cx.upstream_identity(up, "simple")


def test_batchnorm_trick_copy_leaves_the_natural_model(tiny):
    before = [w.copy() for w in tiny["natural"].get_weights()]
    adapted = cd.batchnorm_trick_model(tiny["natural"], tiny["comics"], batch_size=2)
    after = tiny["natural"].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert any(not np.array_equal(a, b) for a, b in zip(before, adapted.get_weights()))


def test_generator_runs_are_found_by_variant(tiny, tmp_path, monkeypatch):
    import os

    from comicdepth_tf.models.registry import atomic_save_keras

    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path))
    runs = {}
    for name, profile, when in (("a", "cpu", 1e9), ("b", "cpu", 2e9), ("c", "smoke", 3e9)):
        runs[name] = tmp_path / "cyclegan_simple" / name
        os.utime(atomic_save_keras(tiny["gen"], runs[name] / cd.GENERATOR_FILE), (when, when))
        (runs[name] / "config.json").write_text(json.dumps({"variant": "simple", "profile": profile}))
    # The newest run of the profile asked for, not a newer run of another profile.
    assert cd.find_gan_run("simple", profile="cpu") == runs["b"]
    assert cd.find_gan_run("simple", profile="smoke") == runs["c"]
    assert cd.find_gan_run("simple", "latest-cpu") == runs["b"]
    gen, run = cd.load_generator("a", "simple")
    assert run == runs["a"] and gen.output_shape == tiny["gen"].output_shape
    with pytest.raises(DataFormatError, match="without_text.*30_cyclegan"):
        cd.find_gan_run("without_text", profile="cpu")
    with pytest.raises(DataFormatError, match="cyclegan_simple.*30_cyclegan"):
        cd.find_gan_run("simple", profile="full")
    with pytest.raises(ParameterError, match="profile"):
        cd.find_gan_run("simple")
    assert cx.gan_variants_needed(["add_text_ignoretext"]) == ["without_text", "add_text"]
    assert cx.gan_variants_needed(["simple", "add_text"]) == ["simple", "without_text", "add_text"]


def test_missing_runs_name_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path))
    with pytest.raises(DataFormatError, match="30_cyclegan"):
        cd.load_generator("nope")
    with pytest.raises(DataFormatError, match="10_depth_irv2"):
        cd.load_natural_model("latest-smoke")
    with pytest.raises(DataFormatError, match="10_depth_irv2"):
        cx.load_upstream("", "smoke", ["simple"])


def test_parameters_are_checked():
    assert cx.parse_variants(" simple, add_text ") == ["simple", "add_text"]
    with pytest.raises(ParameterError, match="unknown variants"):
        cx.parse_variants("simple,fancy")
    assert cx.parse_grid("3e-4,1e-3") == [3e-4, 1e-3]
    for bad in ("", "1e-3,x", "0"):
        with pytest.raises(ParameterError):
            cx.parse_grid(bad)


def test_pairs_keep_the_natural_models_aspect(tiny, smoke_data):
    from comicdepth_tf.data.formats import nyu

    records = nyu.load_nyu(smoke_data / "nyu")["train"]
    images, depth = cd.load_natural(records, (24, 32), limit=3)
    assert images.shape == (3, 24, 32, 3) and depth.shape == (3, 24, 32, 1)
    square = cd.load_natural(records, 32, limit=3)[1]
    # 4:3 scenes resized to 24x32 keep their aspect: the depth profile down the middle column
    # matches the square (stretched) version resampled to the same height.
    import cv2

    squashed = cv2.resize(square[0, ..., 0], (32, 24), interpolation=cv2.INTER_AREA)
    assert np.abs(squashed - depth[0, ..., 0]).mean() < 0.25 * depth[0, ..., 0].mean()
    pairs = cd.make_pairs(images, depth, tiny["gen"], "simple")
    assert pairs.image.shape == (3, 24, 32, 3)


def test_upstream_inherits_the_natural_models_size_and_loss(tiny, tmp_path, monkeypatch):
    from comicdepth_tf.models.registry import save_model
    from comicdepth_tf.runs import write_latest_pointer

    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path))
    run = save_model(tiny["natural"], tmp_path / cd.NATURAL_MODEL_NAME / "n",
                     {"model": cd.NATURAL_MODEL_NAME, "input_size": [24, 32], "predict_size": 32, "LOSS": "log_depth"})
    write_latest_pointer(run, "smoke")
    up = cx.load_upstream("", "smoke", [])
    assert up.input_size == (24, 32) and up.loss == "log_depth" and up.predict_size == 32


@pytest.mark.slow
def test_an_extra_seed_trains_under_its_own_run_id_and_is_reused(tiny, tmp_path, monkeypatch):
    from comicdepth_tf.fileio import read_json

    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path / "models"))
    up = cx.Upstream(tiny["natural"], tmp_path / "natural", S, "metric", {"simple": tiny["gen"]})
    data = cx.Data(tiny["root"], tiny["images"][:4], tiny["depth"][:4], tiny["images"][4:], tiny["depth"][4:],
                   tiny["comics"], tiny["masks"], tiny["eval_set"])
    settings = cx.Settings(("simple",), (1e-3,), 1, 0, False, 1, 2, "scratch", "l1", False, 0.002, 1, 1.0, False)
    assert cx.seed_run_id("smoke-0", 0, 0) == "smoke-0"  # the primary seed is the single-seed run
    run_id = cx.seed_run_id("smoke-0", 1, 0)
    assert run_id == "smoke-0-seed1"
    first = cx.run_seed(up, data, settings, run_id=run_id, profile="smoke", seed=1, log=lambda *_: None)
    assert not first["reused"] and first["best"] == "simple"
    assert first["run_dirs"]["simple"] == str(tmp_path / "models" / cd.MODEL_NAME / "smoke-0-seed1-simple")
    per_seed = read_json(R.seeds_pointer("smoke"))
    assert set(per_seed["1"]) == {"no_batchnorm_trick", "batchnorm_trick", "approach2_simple", "ai4va_segment",
                                  "ai4va_page_baseline"}
    assert not (tmp_path / "models" / R.POINTER_DIR / "smoke.json").exists()  # not the primary seed

    def boom(*args, **kwargs):
        raise AssertionError("a finished seed must not train again")

    monkeypatch.setattr(cx, "run_baselines", boom)
    again = cx.run_seed(up, data, settings, run_id=run_id, profile="smoke", seed=1, log=lambda *_: None)
    assert again["reused"] and [r["inter_acc"] for r in again["rows"]] == [r["inter_acc"] for r in first["rows"]]
    changed = cx.Settings(*(2 if f == "epochs" else getattr(settings, f) for f in settings.__dataclass_fields__))
    with pytest.raises(AssertionError, match="must not train again"):
        cx.run_seed(up, data, changed, run_id=run_id, profile="smoke", seed=1, log=lambda *_: None)
    table = cx.seeds_frame({1: again})
    assert set(table["seed"]) == {1} and {"simple", "ai4va_segment"} <= set(table["model"])


def test_exact_comics_pairs_are_the_panels_and_their_exact_depth_with_pages_held_out(smoke_data, tmp_path):
    import shutil

    from comicdepth_tf import fileio
    from comicdepth_tf.data.formats.ordering import load_ordering_set

    panels = smoke_data / "panels" / "train"
    train, val = cd.load_exact_comics(panels, (24, 32))
    names = [p.name for p in load_ordering_set(panels)]
    assert len(train) + len(val) == len(names) and len(val) == round(len(names) / 7)
    assert train.image.shape[1:] == (24, 32, 3) and train.text_mask is None and not train.pseudo_gt
    # The first held-out target is the exact depth of the first held-out panel, resized.
    exact = fileio.read_depth_png16(panels / "depth_gt" / f"{names[len(train)]}.png")
    assert np.all(val.depth[0] > 0) and abs(float(np.median(val.depth[0])) - float(np.median(exact))) < 0.5
    # A comics set without exact depth (any real one) cannot make these pairs.
    real_like = tmp_path / "train"
    shutil.copytree(panels, real_like, ignore=shutil.ignore_patterns("depth_gt"))
    with pytest.raises(DataFormatError, match="depth_gt"):
        cd.load_exact_comics(real_like, 32)
    assert cx.gan_variants_needed(["exact_comics"]) == []
    assert cx.gan_variants_needed(["exact_comics", "add_text"]) == ["without_text", "add_text"]
    rows = [{"model": "exact_comics", "inter_acc": 0.9, "intra_acc": 0.9},
            {"model": "simple", "inter_acc": 0.6, "intra_acc": 0.5}]
    assert cx.best_variant(rows)["model"] == "simple"  # a reference is not the pick…
    assert cx.best_variant(rows[:1])["model"] == "exact_comics"  # …unless it was trained alone
