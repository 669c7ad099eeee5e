"""CycleGAN networks, losses, image pool, GAN training loop (resume), translation and approach 1."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from comicdepth_tf import gan_training as gt  # noqa: E402
from comicdepth_tf import runs, training, translate  # noqa: E402
from comicdepth_tf.data.formats.ordering import OrderingPoints  # noqa: E402
from comicdepth_tf.errors import DataFormatError, ParameterError  # noqa: E402
from comicdepth_tf.models import cyclegan as cg  # noqa: E402
from comicdepth_tf.stages import cyclegan as ce  # noqa: E402

TINY = dict(image_size=32, filters=4, residual_blocks=1, disc_filters=4, disc_layers=2, pool_size=4)


def _rand(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


# --------------------------------------------------------------------------- layers and networks


def test_reflection_padding_mirrors_the_border_and_round_trips_its_config():
    x = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
    layer = cg.ReflectionPadding2D((1, 2))
    out = np.asarray(layer(x))
    np.testing.assert_array_equal(out[0, ..., 0], np.pad(x[0, ..., 0], ((1, 1), (2, 2)), mode="reflect"))
    assert layer.compute_output_shape((None, 3, 4, 1)) == (None, 5, 8, 1)
    assert cg.ReflectionPadding2D.from_config(layer.get_config()).padding == (1, 2)


def test_patchgan_receptive_field_is_70_with_three_layers_and_scores_one_per_patch():
    assert cg.patchgan_receptive_field(3) == 70
    assert cg.patchgan_receptive_field(2) == 34
    disc = cg.build_patchgan_discriminator(4, filters=4, layers=3)
    assert disc(np.zeros((2, 64, 64, 4), "float32")).shape == (2, 8, 8, 1)


def test_generator_keeps_size_and_range_and_reloads_without_custom_objects(tmp_path):
    from model_checks import check_model

    gen = cg.build_resnet_generator(filters=4, residual_blocks=1)
    assert sum(isinstance(layer, keras.layers.GroupNormalization) and layer.groups == 4 for layer in gen.layers) >= 1
    (out,) = check_model(gen, _rand((2, 32, 32, 3)), tmp_path)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert cg.default_residual_blocks(256) == 9 and cg.default_residual_blocks(64) == 3


def test_generators_need_a_size_their_stages_divide():
    with pytest.raises(ParameterError, match="multiple of 4"):
        cg.build_cyclegan("simple", **{**TINY, "image_size": 30})
    with pytest.raises(ParameterError, match="depth_model"):
        cg.build_cyclegan("depth_aware", **TINY)
    with pytest.raises(ParameterError, match="build_add_text_gan"):
        cg.build_cyclegan("add_text", **TINY)


# --------------------------------------------------------------------------- losses and schedule


def test_losses_match_hand_computed_values():
    # D: 0.5 * (mean((1-1)², (0.5-1)²) + mean(0², 0.5²)) = 0.5 * (0.125 + 0.125)
    assert float(cg.lsgan_discriminator_loss(np.array([1.0, 0.5]), np.array([0.0, 0.5]))) == pytest.approx(0.125)
    assert float(cg.lsgan_generator_loss(np.array([0.5, 1.0]))) == pytest.approx(0.125)
    assert float(cg.l1(np.array([0.0, 1.0]), np.array([0.5, 0.5]))) == pytest.approx(0.5)
    a = np.zeros((1, 2, 2, 3), "float32")
    b = np.full((1, 2, 2, 3), 0.5, "float32")
    b[0, 0, 0] = 1.0
    mask = np.zeros((1, 2, 2, 1), "float32")
    mask[0, 0, 0] = 1.0
    assert float(cg.masked_l1(a, b, mask)) == pytest.approx(1.0)
    assert float(cg.masked_l1(a, b, 1.0 - mask)) == pytest.approx(0.5)
    assert float(cg.masked_l1(a, b, np.zeros_like(mask))) == 0.0
    assert float(cg.cyclegan_generator_loss(1.0, 0.1, 0.2)) == pytest.approx(1.0 + 10 * 0.1 + 5 * 0.2)
    assert float(cg.add_text_generator_loss(1.0, 0.1, 0.2, 0.3)) == pytest.approx(1.0 + 0.3 + 0.6 + 1.5)


def test_train_step_losses_follow_the_cyclegan_objective():
    gan = cg.build_cyclegan("simple", **TINY, seed=0)
    gan.compile(run_eagerly=True)
    natural, comics = _rand((2, 32, 32, 3), 1), _rand((2, 32, 32, 3), 2)
    # Validation cycle L1 by hand, from the networks themselves.
    g, f = gan.natural2comics, gan.comics2natural
    cycle_n = np.abs(natural - np.asarray(f(g(natural)))).mean()
    cycle_c = np.abs(comics - np.asarray(g(f(comics)))).mean()
    logs = gan.test_step((natural, comics))
    assert float(logs["cycle_natural_l1"]) == pytest.approx(cycle_n, rel=1e-5)
    assert float(logs["cycle_l1"]) == pytest.approx((cycle_n + cycle_c) / 2, rel=1e-5)
    gan.reset_metrics()
    logs = {k: float(v) for k, v in gan.train_step((natural, comics)).items()}
    # Sums over both directions: 10 · (2 · mean cycle) + 5 · (2 · mean identity).
    assert logs["g_loss"] == pytest.approx(
        logs["adv_loss"] + 20 * logs["cycle_l1"] + 10 * logs["identity_l1"], rel=1e-5
    )
    assert all(math.isfinite(v) for v in logs.values())


def test_identity_weight_zero_drops_the_identity_passes_and_term():
    gan = cg.build_cyclegan("simple", **TINY, identity_weight=0.0, seed=0)
    gan.compile(run_eagerly=True)
    natural, comics = _rand((2, 32, 32, 3), 1), _rand((2, 32, 32, 3), 2)
    calls = []
    for net in (gan.natural2comics, gan.comics2natural):
        net.call = (lambda call: lambda *a, **k: (calls.append(1), call(*a, **k))[1])(net.call)
    logs = {k: float(v) for k, v in gan.train_step((natural, comics)).items()}
    assert len(calls) == 4  # two translations and two cycles; no identity passes
    assert "identity_l1" not in logs
    assert logs["g_loss"] == pytest.approx(logs["adv_loss"] + 20 * logs["cycle_l1"], rel=1e-5)
    assert "val_identity_l1" not in logs and "identity_l1" in gan.test_step((natural, comics))  # still validated


@pytest.mark.slow
def test_depth_aware_runs_an_irv2_depth_run_at_its_predict_size_not_the_gan_size(tmp_path):
    """IRv2's reduction blocks need >= 75 px: a 32-px GAN must run the depth model at the run's 128."""
    from comicdepth_tf.models.depth_unet import build_depth_unet
    from comicdepth_tf.models.registry import save_model

    irv2 = build_depth_unet("irv2", weights=None, decoder_filters=(8, 8, 8, 8))
    save_model(irv2, tmp_path / "irv2", {"input_size": [96, 128], "predict_size": 128, "IMAGE_HEIGHT": 96})
    depth = ce.resolve_depth_model(str(tmp_path / "irv2"), size=32)
    assert depth.size == 128
    assert translate.run_image_size(tmp_path / "irv2", 32) == 128
    with pytest.raises(ParameterError, match="depth_size 32x32"):
        cg.build_cyclegan("depth_aware", **TINY, depth_model=depth.model)
    gan = cg.build_cyclegan("depth_aware", **TINY, depth_model=depth.model, depth_size=depth.size, seed=0)
    gan.compile(run_eagerly=True)
    natural, comics = _rand((2, 32, 32, 3), 1), _rand((2, 32, 32, 3), 2)
    seen = np.asarray(gan.natural_discriminator_input(natural))
    assert seen.shape == (2, 32, 32, 4) and 0.0 <= seen[..., 3].min() and seen[..., 3].max() <= 1.0
    logs = {k: float(v) for k, v in gan.train_step((natural, comics)).items()}
    assert all(math.isfinite(v) for v in logs.values())


def test_constant_then_linear_decay_schedule():
    schedule = cg.make_gan_schedule(2e-4, epochs=4, steps_per_epoch=10, decay_epochs=2)
    lr = [float(schedule(s)) for s in (0, 20, 30, 40, 50)]
    assert lr == pytest.approx([2e-4, 2e-4, 1e-4, 0.0, 0.0])
    assert float(cg.ConstantThenLinearDecay.from_config(schedule.get_config())(30)) == pytest.approx(1e-4)
    with pytest.raises(ParameterError):
        cg.make_gan_schedule(2e-4, epochs=2, steps_per_epoch=10, decay_epochs=3)


# --------------------------------------------------------------------------- image pool


def _images(values):
    return np.asarray(values, "float32").reshape(-1, 1, 1, 1) * np.ones((1, 2, 2, 1), "float32")


def test_image_pool_fills_then_swaps_with_probability_one_half():
    pool = cg.ImagePool(pool_size=5, image_shape=(2, 2, 1), seed=3)
    # Filling: every image is stored and returned as it is.
    first = np.asarray(pool(_images([1, 2, 3])))
    np.testing.assert_array_equal(first, _images([1, 2, 3]))
    np.testing.assert_array_equal(np.asarray(pool(_images([4, 5]))), _images([4, 5]))
    assert int(pool.count) == 5
    assert sorted(np.asarray(pool.images)[:, 0, 0, 0].tolist()) == [1, 2, 3, 4, 5]
    # Full: each new image (values 100+) comes back itself or is swapped for a stored, older one.
    past = 0
    queries = 240
    for k in range(queries // 4):
        new = 100 + 4 * k + np.arange(4)
        out = np.asarray(pool(_images(new)))[:, 0, 0, 0]
        assert np.all((out == new) | (out < new)), "the pool returned an image from the future"
        past += int((out != new).sum())
    share = past / queries
    assert 0.38 < share < 0.62, share  # binomial(240, 0.5): sd 0.032
    assert int(pool.count) == 5


def test_image_pool_in_a_graph_and_disabled():
    pool = cg.ImagePool(pool_size=2, image_shape=(2, 2, 1), seed=0)
    step = tf.function(lambda x: pool(x))
    np.testing.assert_array_equal(np.asarray(step(tf.constant(_images([7, 8])))), _images([7, 8]))
    assert int(pool.count) == 2
    off = cg.ImagePool(pool_size=0, image_shape=(2, 2, 1))
    np.testing.assert_array_equal(np.asarray(off(_images([1, 2]))), _images([1, 2]))


# --------------------------------------------------------------------------- metrics


def test_mean_ordering_accuracy_hand_computed():
    # Object 1 (nearest) has two parts, object 2 one point.
    points = OrderingPoints(
        l1=np.array([1, 1, 2]), l2=np.array([1, 2, 1]), x=np.array([0, 1, 2]), y=np.array([0, 0, 0])
    )
    panel = type("Panel", (), {"points": points})
    depth = np.array([[1.0, 2.0, 1.5]])  # metres: point 2 (l1=1, l2=2) is farther than point 3 (l1=2)
    # inter pairs: (p1, p3) right (1.0 < 1.5), (p2, p3) wrong; intra pair (p1, p2) right.
    acc = ce.mean_ordering_accuracy([depth], [panel], larger_is_nearer=False)
    assert acc == {"inter": 0.5, "inter_images": 1, "intra": 1.0, "intra_images": 1}
    assert ce.mean_ordering_accuracy([1.0 / depth], [panel], larger_is_nearer=True)["inter"] == 0.5
    # A constant map ties every pair (wrong): per-image means 0.5 and 0 average to 0.25.
    mean = ce.mean_ordering_accuracy([depth, np.ones((1, 3))], [panel, panel], False)
    assert mean["inter"] == pytest.approx(0.25) and mean["intra"] == pytest.approx(0.5) and mean["inter_images"] == 2
    single = type("Panel", (), {"points": OrderingPoints(l1=np.array([1]), l2=np.array([1]), x=np.array([0]),
                                                          y=np.array([0]))})
    alone = ce.mean_ordering_accuracy([depth], [single])
    assert math.isnan(alone["inter"]) and alone["inter_images"] == 0


def test_spearman_and_geometry_check_with_an_identity_generator(tmp_path):
    assert ce.spearman(np.arange(10), np.arange(10) ** 2) == pytest.approx(1.0)
    assert ce.spearman(np.arange(10), -np.arange(10)) == pytest.approx(-1.0)
    assert math.isnan(ce.spearman(np.ones(4), np.arange(4)))
    from comicdepth_tf import fileio

    samples = []
    for i in range(3):
        image = (np.random.default_rng(i).random((24, 40, 3)) * 255).astype(np.uint8)
        samples.append({"name": f"n{i}", "image": str(fileio.write_image(tmp_path / f"n{i}.png", image))})
    # A "depth model" (a Keras model, as inference.predict_depth needs) with no constant output:
    # mean colour plus row index.
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Lambda(lambda x: tf.reduce_mean(x, -1, keepdims=True) + tf.cast(
        tf.range(tf.shape(x)[1])[None, :, None, None], tf.float32))(inputs)
    depth_model = keras.Model(inputs, outputs)
    check = ce.geometry_check(lambda x, training=False: x, ce.DepthSource(depth_model, tmp_path, 16, "metric"),
                              samples, size=16)
    assert check["n_images"] == 3 and check["spearman_min"] == pytest.approx(1.0)


def test_text_free_crops_avoid_the_mask(tmp_path):
    from comicdepth_tf import fileio

    image = (np.random.default_rng(0).random((40, 70, 3)) * 255).astype(np.uint8)
    mask = np.zeros((40, 70), np.uint8)
    mask[:, :35] = 255
    sample = {"name": "p", "image": str(fileio.write_image(tmp_path / "p.png", image)),
              "text_mask": str(fileio.write_image(tmp_path / "m.png", mask))}
    (crop,) = ce.text_free_crops_from_masks([sample], tmp_path / "out", min_size=16)
    cut = fileio.read_image(crop["image"])
    assert cut.shape[0] == cut.shape[1] >= 16
    # The crop is a piece of the right (text-free) half: find it there.
    right = image[:, 35:]
    side = cut.shape[0]
    found = any(np.array_equal(right[y : y + side, x : x + side], cut)
                for y in range(40 - side + 1) for x in range(35 - side + 1))
    assert found
    with pytest.raises(ParameterError, match="text_mask"):
        ce.text_free_crops_from_masks([{"name": "q", "image": sample["image"]}], tmp_path / "out")


# --------------------------------------------------------------------------- training loop and resume


def test_sample_grid_image_lays_out_rows_and_columns():
    images = _rand((3, 8, 8, 3))
    mask = np.ones((3, 8, 8, 1), "float32")
    grid = gt.sample_grid_image([("a", images), ("mask", mask)], n=2)
    # scale 16 (to 128 px), 2 px padding, a 120 px title strip
    assert grid.shape == (2 * (128 + 4), 120 + 2 * (128 + 2) + 2, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[2:18:16, 122:138:16], (images[0, :1, :1] * 255).round().astype(np.uint8))
    assert (grid[132 + 2 : 132 + 130, 122:250] == 255).all()  # the mask row is white


@pytest.mark.parametrize("as_tensors", [False, True])
def test_add_text_sample_rows_take_numpy_or_tensor_batches(tmp_path, as_tensors):
    # Regression: the add-text generator got [array, array, tensor] from a NumPy sample batch
    # ("cannot mix tensors and non-tensors") when the per-epoch sample grid was drawn.
    base = cg.build_resnet_generator(filters=4, residual_blocks=1, name="base")
    gan = cg.build_add_text_gan(base, **TINY)
    mask = (_rand((2, 32, 32, 1), 3) > 0.5).astype("float32")
    batch = (_rand((2, 32, 32, 3), 1), _rand((2, 32, 32, 3), 2), mask)
    if as_tensors:
        batch = tuple(tf.convert_to_tensor(b) for b in batch)
    rows = gan.sample_rows(batch)
    assert [name for name, _ in rows][-1] == "text added"
    assert all(np.asarray(images).shape == (2, 32, 32, 3) for _, images in rows)
    np.testing.assert_array_equal(np.asarray(rows[3][1])[..., :1], mask)
    cyclegan_rows = cg.build_cyclegan("simple", **TINY).sample_rows(batch[:2])
    assert len(cyclegan_rows) == 6 and all(np.isfinite(np.asarray(v)).all() for _, v in cyclegan_rows)
    # The epoch-end callback draws the same batch into samples/epoch_001.png.
    callback = gt.make_sample_grids(tmp_path, batch, n=2)
    callback.set_model(gan)
    callback.on_epoch_end(0)
    assert [p.name for p in gt.sample_grids(tmp_path)] == ["epoch_001.png"]
    # Every 4th epoch of a 10-epoch run, the first and the last: 1, 4, 8, 10.
    sparse = gt.make_sample_grids(tmp_path / "sparse", batch, n=2, every=4)
    sparse.set_model(gan)
    sparse.set_params({"epochs": 10})
    for epoch in range(10):
        sparse.on_epoch_end(epoch)
    assert [p.name for p in gt.sample_grids(tmp_path / "sparse")] == [
        "epoch_001.png", "epoch_004.png", "epoch_008.png", "epoch_010.png"]
    # Notebook 30 titles the last grid with its epoch, read back from the name.
    assert [gt.grid_epoch(p) for p in gt.sample_grids(tmp_path / "sparse")] == [1, 4, 8, 10]


def _memory_data(n=2, size=32):
    natural, comics = _rand((n, size, size, 3), 1), _rand((n, size, size, 3), 2)
    train = tf.data.Dataset.from_tensor_slices((natural, comics)).repeat().batch(2, drop_remainder=True)
    val = tf.data.Dataset.from_tensor_slices((natural, comics)).batch(2)
    return train, val, (natural[:2], comics[:2])


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_continues_the_epoch_count(tmp_path):
    train, val, batch = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    common = dict(run_dir=tmp_path / "run", steps_per_epoch=1, run_eagerly=True)

    class StopAtSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()

    with pytest.raises(_Interrupt):
        gt.fit_cyclegan(build, train, val, epochs=3, config={"image_size": 32}, sample_batch=batch, **common,
                        extra_callbacks=[StopAtSecondEpoch()])
    saved = translate.load_generator(tmp_path / "run", "natural2comics").get_weights()
    # Nothing left to do at epochs=1: the checkpoint is loaded as it was saved.
    done = gt.fit_cyclegan(build, train, val, epochs=1, **common)
    assert done.initial_epoch == 1 and done.epochs_completed == 1
    for a, b in zip(done.model.natural2comics.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    resumed = gt.fit_cyclegan(build, train, val, epochs=2, **common)
    assert resumed.initial_epoch == 1 and resumed.epochs_completed == 2
    assert resumed.history["epoch"] == [0.0, 1.0]
    assert int(resumed.model.generator_optimizer.iterations) == 2
    assert int(resumed.model.pool_natural.count) == 4  # the pool came back (2 + 2 images)
    assert resumed.state["epochs"] == 3  # the schedule planned at the start
    assert len(gt.sample_grids(tmp_path / "run")) == 1
    assert gt.load_run_config(tmp_path / "run")["plan"]["decay_epochs"] == 1


def test_build_compile_fit_trains_the_same_gan_as_a_builder_and_a_resume_keeps_the_first_plan(tmp_path):
    """Notebook 30's build → compile → fit is fit_cyclegan(builder), bitwise; resuming with another plan keeps
    the schedule planned at the start (the GAN is compiled again with it)."""
    train, val, _ = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    common = dict(steps_per_epoch=1, run_eagerly=True, seed=0)
    one_call = gt.fit_cyclegan(build, train, val, epochs=2, run_dir=tmp_path / "one", **common)
    gan = gt.build_gan(build, seed=0, settings={"variant": "simple"})
    gt.compile_gan(gan, epochs=2, steps_per_epoch=1, run_eagerly=True)
    assert training.recipe(gan)["compile"] == {"epochs": 2, "steps_per_epoch": 1, "learning_rate": 2e-4,
                                               "beta_1": 0.5, "decay_epochs": 1, "run_eagerly": True}
    steps = gt.fit_cyclegan(gan, train, val, epochs=2, run_dir=tmp_path / "three", seed=0)
    assert steps.history == one_call.history
    for a, b in zip(one_call.model.get_weights(), steps.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert gt.load_run_config(tmp_path / "three")["variant"] == "simple"  # the build settings are the config

    again = gt.compile_gan(gt.build_gan(build, seed=0), epochs=3, steps_per_epoch=1, learning_rate=1e-3,
                           run_eagerly=True)
    resumed = gt.fit_cyclegan(again, train, val, epochs=2, run_dir=tmp_path / "three", seed=0)
    assert resumed.initial_epoch == 2 and resumed.state["epochs"] == 2 and resumed.state["learning_rate"] == 2e-4
    assert training.recipe(again)["compile"]["learning_rate"] == 2e-4


def test_the_untrained_networks_are_scored_once_and_kept_through_a_resume(tmp_path):
    train, val, _ = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    keras.utils.set_random_seed(0)  # what fit_cyclegan does with seed=0 before building
    fresh = build()
    fresh.compile(run_eagerly=True)
    expected = fresh.evaluate(val, verbose=0, return_dict=True)
    first = gt.fit_cyclegan(build, train, val, epochs=1, steps_per_epoch=1, run_dir=tmp_path / "run", seed=0,
                            run_eagerly=True)
    assert set(first.untrained) == {"val_cycle_l1", "val_identity_l1", "val_cycle_natural_l1", "val_cycle_comics_l1"}
    assert first.untrained["val_cycle_l1"] == pytest.approx(float(expected["cycle_l1"]), rel=1e-6)
    assert first.untrained["val_cycle_l1"] != pytest.approx(first.history["val_cycle_l1"][0], rel=1e-3)
    resumed = gt.fit_cyclegan(build, train, val, epochs=2, steps_per_epoch=1, run_dir=tmp_path / "run",
                              run_eagerly=True)
    assert resumed.initial_epoch == 1 and resumed.untrained == first.untrained
    summary = ce.cycle_summary(resumed.history, resumed.untrained)
    assert summary["val_cycle_l1_untrained_ratio"] == pytest.approx(
        resumed.history["val_cycle_l1"][-1] / first.untrained["val_cycle_l1"])


def test_validation_epochs_first_every_kth_and_last():
    assert gt.validation_epochs(120, 10) == [1, *range(10, 121, 10)]
    assert gt.validation_epochs(4, 3) == [1, 3, 4]
    assert gt.validation_epochs(3, 1) == [1, 2, 3]
    with pytest.raises(ParameterError, match="validate_every"):
        gt.validation_epochs(3, 0)


@pytest.mark.slow
def test_sparse_validation_trains_the_same_and_resumes_into_an_unvalidated_epoch(tmp_path):
    train, val, _ = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    common = dict(steps_per_epoch=1, seed=0, run_eagerly=True)
    dense = gt.fit_cyclegan(build, train, val, epochs=4, run_dir=tmp_path / "dense", **common)
    sparse_dir = tmp_path / "sparse"

    class StopAtSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt()

    with pytest.raises(_Interrupt):
        gt.fit_cyclegan(build, train, val, epochs=4, run_dir=sparse_dir, validate_every=3,
                        extra_callbacks=[StopAtSecondEpoch()], **common)
    sparse = gt.fit_cyclegan(build, train, val, epochs=4, run_dir=sparse_dir, validate_every=3, **common)
    assert sparse.initial_epoch == 1
    for a, b in zip(sparse.model.natural2comics.get_weights(), dense.model.natural2comics.get_weights()):
        np.testing.assert_array_equal(a, b)
    with open(sparse_dir / gt.HISTORY_FILE, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert all(len(r) == len(header) for r in rows) and len(rows) == 4
    values, expected = sparse.history["val_cycle_l1"], dense.history["val_cycle_l1"]
    assert [v == e for v, e in zip(values, expected)] == [True, False, True, True]  # epoch 2 not validated
    assert np.isnan(values[1])
    assert sparse.history["cycle_l1"] == dense.history["cycle_l1"]
    assert ce.cycle_summary(sparse.history) == ce.cycle_summary(dense.history)


def test_cycle_summary_hand_computed():
    history = {"val_cycle_l1": [0.2, 0.15, 0.08], "val_identity_l1": [0.3, 0.1, 0.05]}
    summary = ce.cycle_summary(history, {"val_cycle_l1": 0.32, "val_identity_l1": 0.4})
    assert summary == pytest.approx(
        {
            "val_cycle_l1_first": 0.2,
            "val_cycle_l1_last": 0.08,
            "val_cycle_l1_untrained": 0.32,
            "val_identity_l1_first": 0.3,
            "val_identity_l1_last": 0.05,
            "val_identity_l1_untrained": 0.4,
            "val_cycle_l1_ratio": 0.4,
            "val_cycle_l1_untrained_ratio": 0.25,
        }
    )
    assert "val_cycle_l1_untrained_ratio" not in ce.cycle_summary(history)


def test_a_diverged_epoch_stops_training_and_keeps_the_last_finite_one(tmp_path):
    from comicdepth_tf.errors import TrainingDivergedError

    natural, comics = _rand((2, 32, 32, 3), 1), _rand((2, 32, 32, 3), 2)
    poisoned = natural.copy()
    poisoned[0, 0, 0, 0] = np.nan  # the third step's batch: epoch 3 of 4 at one step per epoch
    train = tf.data.Dataset.from_tensor_slices((np.concatenate([natural, natural, poisoned, natural]),
                                                np.concatenate([comics] * 4))).batch(2, drop_remainder=True)
    val = tf.data.Dataset.from_tensor_slices((natural, comics)).batch(2)
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    with pytest.raises(TrainingDivergedError, match=r"epoch 3 .*cycle_l1.*epoch 2") as err:
        gt.fit_cyclegan(build, train, val, epochs=4, steps_per_epoch=1, run_dir=tmp_path / "run", run_eagerly=True)
    assert err.value.epoch == 3 and err.value.kept == 2
    run = tmp_path / "run"
    assert gt.read_json(run / gt.STATE_FILE)["epoch"] == 2
    assert gt.read_history(run)["epoch"] == [0.0, 1.0]  # the NaN row is gone
    weights = translate.load_generator(run, "natural2comics").get_weights()
    assert all(np.all(np.isfinite(w)) for w in weights)
    resumed = gt.fit_cyclegan(build, train.take(1).repeat(), val, epochs=3, steps_per_epoch=1, run_dir=run,
                              run_eagerly=True)
    assert resumed.initial_epoch == 2 and resumed.epochs_completed == 3


# --------------------------------------------------------------------------- variants end to end


@pytest.fixture(scope="module")
def depth_run(tmp_path_factory):
    from comicdepth_tf.models.depth_unet import build_depth_unet
    from comicdepth_tf.models.registry import save_model

    run = tmp_path_factory.mktemp("depth") / "tiny"
    save_model(build_depth_unet("tiny", decoder_filters=(8, 8, 8, 8)), run, {"image_size": 32})
    return run


@pytest.fixture(scope="module")
def trained(smoke_data, depth_run, tmp_path_factory):
    """Each variant trained one short epoch on the embedded smoke data."""
    root = tmp_path_factory.mktemp("cyclegan")
    domains = ce.load_domains("smoke", data_root=smoke_data, need_text_free=True, work_dir=root / "text_free",
                              crop_min_size=16)
    depth = ce.resolve_depth_model(str(depth_run))
    runs, results = {}, {}
    for variant in ce.VARIANTS:
        base = translate.load_generator(runs["without_text"], "natural2comics") if variant == "add_text" else None
        runs[variant] = root / variant
        results[variant] = ce.train_variant(
            variant, domains, run_dir=runs[variant], **{k: v for k, v in TINY.items()}, batch_size=2, epochs=1,
            steps_per_epoch=1, depth=depth, base_generator=base, val_limit=2, run_eagerly=True, n_samples=2)
    return {"domains": domains, "depth": depth, "runs": runs, "results": results}


@pytest.mark.slow
def test_domains_of_the_embedded_data(trained):
    counts = trained["domains"].counts()
    assert all(n > 0 for n in counts.values()), counts
    assert all("text_mask" in s for s in trained["domains"].comics_train)
    assert trained["depth"].size == 32 and trained["depth"].output == "metric"


@pytest.mark.slow
@pytest.mark.parametrize("variant", ce.VARIANTS)
def test_each_variant_trains_saves_and_reloads(trained, variant):
    result = trained["results"][variant]
    run = trained["runs"][variant]
    assert result.epochs_completed == 1
    key = "val_outside_l1" if variant == "add_text" else "val_cycle_l1"
    assert math.isfinite(result.history[key][0])
    assert (run / gt.CHECKPOINT_FILE).is_file() and len(gt.sample_grids(run)) == 1
    config = gt.load_run_config(run)
    assert config["variant"] == variant and config["image_size"] == 32
    images = _rand((2, 32, 32, 3), 5)
    if variant == "add_text":
        gen = translate.load_generator(run, "add_text")
        out = np.asarray(gen([images, np.zeros((2, 32, 32, 1), "float32"), images]))
        assert out.shape == (2, 32, 32, 3) and np.isfinite(out).all()
        return
    if variant == "depth_aware":
        disc = keras.saving.load_model(run / cg.CYCLEGAN_FILES["discriminator_natural"])
        assert disc.input_shape[-1] == 4
    for direction in translate.DIRECTIONS:
        out = np.asarray(translate.load_generator(run, direction)(images))
        assert out.shape == images.shape and np.isfinite(out).all()


@pytest.mark.slow
def test_translate_any_size_and_approach1(trained):
    gen = translate.load_generator(trained["runs"]["simple"], "comics2natural")
    images = [(_rand((30, 50, 3)) * 255).astype(np.uint8), _rand((20, 20, 3))]
    out = translate.translate_images(gen, images, size=32)
    assert [o.shape for o in out] == [(30, 50, 3), (20, 20, 3)]
    assert all(o.min() >= 0 and o.max() <= 1 for o in out)
    depth = translate.comics_to_depth(images, gen, trained["depth"].model, size=32)
    assert [d.shape for d in depth] == [(30, 50), (20, 20)] and all(np.isfinite(d).all() for d in depth)
    panels = trained["domains"].eval_panels[:2]
    scores, preds = ce.evaluate_approach1(panels, trained["depth"], {"simple": (gen, 32)})
    assert set(scores) == {"raw_comics", "approach1_simple"}
    for s in scores.values():
        assert math.isfinite(s["abs_rel"]) and s["dense_images"] == 2 and 0.0 <= s["inter"] <= 1.0
    sizes = [im.shape[:2] for im in preds["images"]]  # translations and maps at each panel's size
    assert [t.shape[:2] for t in preds["translations"]["approach1_simple"]] == sizes
    assert all([d.shape for d in maps] == sizes for maps in preds["depth"].values())
    assert set(ce.winners(scores)) == {"abs_rel", "delta1", "inter", "intra"}


@pytest.mark.slow
def test_approach1_depth_keeps_the_aspect_ratio(trained):
    from comicdepth_tf import inference

    depth_model = trained["depth"].model
    gen = translate.load_generator(trained["runs"]["simple"], "comics2natural")
    images = [_rand((40, 100, 3), 1), (_rand((90, 30, 3), 2) * 255).astype(np.uint8)]
    seen = []
    forward = inference.make_predict_fn(depth_model)

    def recording(batch):
        seen.append(tuple(np.shape(batch)[1:3]))
        return forward(batch)

    maps = translate.predict_depth_maps(depth_model, images, 32, predict_fn=recording)
    assert [m.shape for m in maps] == [(40, 100), (90, 30)]
    # The network saw each image with its proportions (upper-bound resize), not a 32 x 32 square.
    min_side = inference.encoder_min_input(depth_model)
    expected = [inference.network_size(h, w, 32, min_side) for h, w in ((40, 100), (90, 30))]
    assert sorted(seen) == sorted(expected) and all(h != w for h, w in seen)
    reference = inference.predict_depth(depth_model, images, size=32)
    for a, b in zip(maps, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    depth, fake = translate.comics_to_depth(images, gen, depth_model, size=32, return_translations=True)
    assert [d.shape for d in depth] == [(40, 100), (90, 30)] and [f.shape for f in fake] == [(40, 100, 3), (90, 30, 3)]
    direct = inference.predict_depth(depth_model, [fake[0]], size=32)[0]
    np.testing.assert_allclose(depth[0], direct, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_approach1_maps_are_registered_for_the_evaluation(trained, smoke_data, tmp_path, monkeypatch):
    """Stage 30's approach-1 maps are what notebook 50_evaluate discovers, at the panels' sizes."""
    from comicdepth_tf import evaluation, fileio
    from comicdepth_tf.data.formats.coco_images import image_size

    models = tmp_path / "saved_models"
    monkeypatch.setenv("COMICDEPTH_MODELS", str(models))
    domains, results = trained["domains"], trained["results"]
    assert domains.eval_set == "panels_val"
    scores, preds = ce.evaluate_approach1(domains.eval_panels, trained["depth"], ce.comics2natural_generators(results))
    registered = ce.register_approach1(results, preds, domains.eval_panels, trained["depth"], profile="smoke",
                                       set_name=domains.eval_set)
    assert registered == {"approach1_simple": trained["runs"]["simple"],
                          "approach1_depth_aware": trained["runs"]["depth_aware"]}
    assert set(fileio.read_json(models / "configurations" / "smoke.json")) == set(registered)

    refs = runs.find_runs("smoke")
    sets = evaluation.load_eval_sets(smoke_data)
    panels = sets["panels_val"]
    for name, run_dir in registered.items():
        ref = refs[name]
        assert ref.run_dir.resolve() == run_dir.resolve() and ref.missing is None and ref.problem is None
        assert ref.record["configuration"] == name and ref.record["convention"] == trained["depth"].output
        source = evaluation.map_source(ref, "panels_val", predict_missing=False)
        assert source.kind == "files"
        maps = list(evaluation.iter_depth_maps(ref, panels, source))  # checks every size against its image
        assert len(maps) == len(panels) == len(domains.eval_panels)
        for item, depth in maps:
            w, h = image_size(item.image)
            assert depth.shape == (h, w) and np.isfinite(depth).all()
        saved = {item.stem: depth for item, depth in maps}
        for panel, expected in zip(domains.eval_panels, preds["depth"][name]):
            np.testing.assert_array_equal(saved[panel.name], expected)
        scored = evaluation.score_depth_set(ref, panels, source)
        assert len(scored.per_image) == len(panels) and scored.dense["n_images"] > 0
    assert refs["approach2_simple"].run_dir is None  # nothing else was registered


@pytest.mark.slow
def test_translate_cli(trained, tmp_path, capsys):
    from comicdepth_tf import fileio, inference
    from comicdepth_tf.cli import main

    for i in range(2):
        fileio.write_image(tmp_path / "in" / f"c{i}.png", (_rand((24, 36, 3), i) * 255).astype(np.uint8))
    code = main(["translate", str(tmp_path / "in"), "--run", str(trained["runs"]["simple"]), "--out",
                 str(tmp_path / "out"), "--depth-run", str(trained["depth"].run_dir)])
    assert code == 0
    assert fileio.read_image(tmp_path / "out" / "c0_translated.png").shape == (24, 36, 3)
    assert inference.read_depth_prediction(tmp_path / "out" / "c1_depth.png").shape == (24, 36)
    assert fileio.read_image(tmp_path / "out" / "c1_depth_color.png").shape == (24, 36, 3)
    assert main(["translate", str(tmp_path / "in"), "--run", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "notebooks/30_cyclegan.ipynb" in err


@pytest.fixture(scope="module")
def tiny_gan_run(tmp_path_factory):
    """A run folder with a 1x1-convolution comics2natural generator (no training needed)."""
    from comicdepth_tf import fileio
    from comicdepth_tf.models.registry import atomic_save_keras

    run = tmp_path_factory.mktemp("gan") / "run"
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="sigmoid")(inputs))
    atomic_save_keras(model, run / cg.CYCLEGAN_FILES["comics2natural"], include_optimizer=False)
    fileio.atomic_write_json(run / "config.json", {"image_size": 16})
    return run


def _translate_cli(run, *args):
    from comicdepth_tf.cli import main

    return main(["translate", *map(str, args), "--run", str(run)])


def _pages(folder, *names):
    from comicdepth_tf import fileio

    for i, name in enumerate(names):
        fileio.write_image(folder / name, (_rand((20, 30, 3), i) * 255).astype(np.uint8))
    return {name: (folder / name).read_bytes() for name in names}


def test_translate_cli_never_overwrites_inputs_or_files_it_did_not_write(tiny_gan_run, tmp_path, capsys):
    from comicdepth_tf import fileio

    pages = tmp_path / "pages"
    before = _pages(pages, "a.png", "a_translated.png")
    # --out is the pages' folder: a's translation would replace the input a_translated.png.
    assert _translate_cli(tiny_gan_run, pages, "--out", pages) == 1
    captured = capsys.readouterr()
    assert {name: (pages / name).read_bytes() for name in before} == before
    assert (f"{pages / 'a.png'}: failed: {pages / 'a_translated.png'}: output of {pages / 'a.png'} not written"
            in captured.err)
    assert "wrote 1 of 2 input(s)" in captured.out and "1 failed" in captured.out

    out = tmp_path / "out"
    out.mkdir()
    (out / "a_translated.png").write_bytes(b"someone else's file")
    assert _translate_cli(tiny_gan_run, pages / "a.png", pages / "a_translated.png", "--out", out) == 1
    captured = capsys.readouterr()
    assert (out / "a_translated.png").read_bytes() == b"someone else's file" and "--overwrite" in captured.err
    assert f"{pages / 'a_translated.png'} -> {out / 'a_translated_translated.png'}" in captured.err
    assert fileio.read_image(out / "a_translated_translated.png").shape == (20, 30, 3)
    assert _translate_cli(tiny_gan_run, pages / "a.png", "--out", out, "--overwrite") == 0
    assert fileio.read_image(out / "a_translated.png").shape == (20, 30, 3)


def test_translate_cli_same_stem_in_two_folders_writes_and_reports_each(tiny_gan_run, depth_run, tmp_path, capsys):
    inputs = [tmp_path / "x" / "page.png", tmp_path / "y" / "page.png", tmp_path / "x" / "page_depth.png"]
    for path in inputs:
        _pages(path.parent, path.name)
    out = tmp_path / "out"
    assert _translate_cli(tiny_gan_run, *inputs, "--out", out, "--depth-run", depth_run) == 0
    captured = capsys.readouterr()
    names = ["page", "page-2", "page_depth"]
    assert all(f"{src} -> {out / name}_translated.png" in captured.err for src, name in zip(inputs, names))
    assert "wrote 3 of 3 input(s)" in captured.out
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([f"{n}{suffix}" for n in names for suffix in ("_translated.png", "_depth.png",
                                                                           "_depth_color.png")]
                             + ["translate_manifest.json"])


def test_missing_text_masks_are_named(tmp_path):
    from comicdepth_tf import fileio

    fileio.write_image(tmp_path / "comics" / "a.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataFormatError, match="a.png"):
        ce._with_masks(ce._folder_samples(tmp_path / "comics"), tmp_path / "masks")


def test_text_masks_written_by_the_text_mask_command_are_found(tmp_path):
    from comicdepth_tf import fileio

    for stem in ("a", "b"):
        fileio.write_image(tmp_path / "comics" / f"{stem}.png", np.zeros((8, 8, 3), np.uint8))
    fileio.write_image(tmp_path / "masks" / "a_text_mask.png", np.zeros((8, 8), np.uint8))  # comicdepth text-mask
    fileio.write_image(tmp_path / "masks" / "b.png", np.zeros((8, 8), np.uint8))  # notebook 20's pred_text_masks
    found = ce._with_masks(ce._folder_samples(tmp_path / "comics"), tmp_path / "masks")
    assert [Path(s["text_mask"]).name for s in found] == ["a_text_mask.png", "b.png"]


def test_the_gan_refuses_a_strategy_or_float16_before_training(tmp_path):
    train, val, _ = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    for kwargs, match in (({"mixed_precision": "mixed_float16"}, "no loss scaling"),
                          ({"mixed_precision": True}, "no loss scaling"),
                          ({"strategy": "mirrored"}, "without a distribution strategy")):
        with pytest.raises(ParameterError, match=match):
            gt.fit_cyclegan(build, train, val, epochs=1, steps_per_epoch=1, run_dir=tmp_path / "run", **kwargs)
    assert not (tmp_path / "run" / "checkpoint.weights.h5").exists()


def test_the_gan_trains_in_bfloat16_with_float32_pools_and_weights(tmp_path):
    train, val, _ = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    fp32 = gt.fit_cyclegan(build, train, val, epochs=1, steps_per_epoch=2, run_dir=tmp_path / "fp32", seed=0)
    bf16 = gt.fit_cyclegan(build, train, val, epochs=1, steps_per_epoch=2, run_dir=tmp_path / "bf16", seed=0,
                           mixed_precision="mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    assert bf16.model.pool_natural.images.dtype == "float32" and int(bf16.model.pool_natural.count) == 4
    assert {w.dtype for w in bf16.model.natural2comics.get_weights()} == {np.dtype("float32")}
    first, low = fp32.history["val_cycle_l1"][0], bf16.history["val_cycle_l1"][0]
    # Same seed, same data: bfloat16 rounding moves the cycle L1 a little, not a lot.
    assert math.isfinite(low) and low != first and abs(low - first) < 0.1 * first
    reloaded = translate.load_generator(tmp_path / "bf16", "natural2comics")
    out = reloaded(np.zeros((1, 32, 32, 3), np.float32))
    assert out.dtype == "float32"  # bfloat16 inside, float32 for the stages that translate with it


def test_sparse_checkpoints_resume_to_the_uninterrupted_result(tmp_path):
    train, val, _ = _memory_data()
    build = lambda: cg.build_cyclegan("simple", **TINY, seed=0)  # noqa: E731
    common = dict(steps_per_epoch=1, seed=0, run_eagerly=True, epochs=4)
    dense = gt.fit_cyclegan(build, train, val, run_dir=tmp_path / "dense", **common)

    class StopAtFourthEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3:
                raise _Interrupt()

    sparse_dir = tmp_path / "sparse"
    with pytest.raises(_Interrupt):
        gt.fit_cyclegan(build, train, val, run_dir=sparse_dir, checkpoint_every=2,
                        extra_callbacks=[StopAtFourthEpoch()], **common)
    assert gt.read_json(sparse_dir / gt.STATE_FILE)["epoch"] == 2  # epoch 3 was trained, not saved
    sparse = gt.fit_cyclegan(build, train, val, run_dir=sparse_dir, checkpoint_every=2, **common)
    assert sparse.initial_epoch == 2 and sparse.epochs_completed == 4 and sparse.history["epoch"] == [0, 1, 2, 3]
    for a, b in zip(sparse.model.natural2comics.get_weights(), dense.model.natural2comics.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sparse.history["cycle_l1"] == dense.history["cycle_l1"]
    with pytest.raises(ParameterError, match="checkpoint_every"):
        gt.make_gan_checkpoint(sparse_dir, {"epochs": 4}, 0)
