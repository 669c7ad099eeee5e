"""Identical reruns and exact resume: training pipelines, the depth loop and the GAN loop.

Every comparison here is bitwise (``assert_array_equal``): a number that changes between two
identical runs is a bug, not noise.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from comicdepth_tf import training  # noqa: E402
from comicdepth_tf.data import clock, pipelines  # noqa: E402
from comicdepth_tf.data.augment import AugmentConfig  # noqa: E402
from comicdepth_tf.models.registry import load_model  # noqa: E402

SIZE = 16
KEYS = {"image": "image", "depth": "depth"}


def write_samples(folder, n: int = 12, seed: int = 0) -> list[dict]:
    """``n`` RGB-D samples in the real file formats: 8-bit PNG colour, 16-bit PNG millimetres."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        ramp = np.linspace(0, 1, SIZE)[None, :] * rng.uniform(0.2, 1.0) + rng.uniform(0, 0.3)
        image = np.clip(np.repeat(ramp, SIZE, 0)[..., None] * rng.uniform(0.5, 1, 3) * 255, 0, 255).astype(np.uint8)
        depth = ((1 + 4 * image.mean(-1) / 255) * 1000).astype(np.uint16)
        cv2.imwrite(str(folder / f"{i}_rgb.png"), image)
        cv2.imwrite(str(folder / f"{i}_depth.png"), depth)
        samples.append({"image": str(folder / f"{i}_rgb.png"), "depth": str(folder / f"{i}_depth.png")})
    return samples


def train_dataset(samples, cache: bool = False):
    ds = pipelines.make_dataset(samples, keys=KEYS, size=(SIZE, SIZE), batch_size=4, shuffle=True, seed=3,
                                augment=AugmentConfig(), cache=cache)
    return ds.map(lambda e: (e["image"], e["depth"]))


def val_dataset(samples):
    return pipelines.make_dataset(samples, keys=KEYS, size=(SIZE, SIZE), batch_size=4).map(
        lambda e: (e["image"], e["depth"]))


def epoch_images(ds) -> np.ndarray:
    return np.concatenate([np.asarray(image) for image, _ in ds])


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rgbd")
    return write_samples(folder / "train"), write_samples(folder / "val", n=4, seed=1)


def test_an_epoch_is_a_function_of_seed_and_epoch_only(samples):
    train, _ = samples
    first = epoch_images(train_dataset(train))
    # Global state that earlier code may have touched does not reach the pipeline.
    tf.random.set_seed(1234)
    tf.random.uniform([3])
    keras.utils.set_random_seed(99)
    np.testing.assert_array_equal(epoch_images(train_dataset(train)), first)
    np.testing.assert_array_equal(epoch_images(train_dataset(train, cache=True)), first)
    clock.set_position(1, 0)
    try:
        second = epoch_images(train_dataset(train))
    finally:
        clock.reset()
    assert second.shape == first.shape and not np.array_equal(second, first)  # a new order and new draws
    # Iterating again does not advance anything: the epoch comes from the clock, not a counter.
    np.testing.assert_array_equal(epoch_images(train_dataset(train)), first)


def test_each_epoch_shows_every_sample_once(samples):
    train, _ = samples
    orders = []
    for epoch in range(3):
        clock.set_position(epoch, 0)
        ds = pipelines.index_stream(len(train), batch_size=4, shuffle=True, seed=5)
        orders.append([int(i) for _, i in ds])
    clock.reset()
    assert all(sorted(o) == list(range(len(train))) for o in orders)
    assert len({tuple(o) for o in orders}) == 3


def test_a_repeated_stream_starts_at_the_step_of_the_position():
    clock.set_position(2, 6)
    try:
        ds = pipelines.index_stream(5, batch_size=2, shuffle=True, seed=1, repeat=True)
        resumed = [int(p) for p, _ in ds.take(4)]
    finally:
        clock.reset()
    assert resumed == [12, 13, 14, 15]


def micro_builder():
    from comicdepth_tf.models.encoders import conv_bn_relu
    from comicdepth_tf.models.layers import DepthHead, ResizeLike

    inputs = keras.Input((None, None, 3))
    x = conv_bn_relu(inputs, 8, strides=2, name="down")
    x = keras.layers.Dropout(0.2, name="drop")(x)  # in-step randomness must resume exactly too
    x = ResizeLike()([x, inputs])
    x = keras.layers.Conv2D(1, 3, padding="same")(x)
    return keras.Model(inputs, DepthHead()(x))


RUN = dict(epochs=4, learning_rate=1e-2, lr_schedule="cosine", seed=11, tensorboard=False, metrics=())


def fit(samples, run_dir, **kwargs):
    train, val = samples
    return training.fit(micro_builder, train_dataset(train), val_dataset(val), run_dir=run_dir, **{**RUN, **kwargs})


def weights_of(run_dir, name: str = "last.keras") -> list[np.ndarray]:
    return load_model(run_dir / name, compile=False).get_weights()


def assert_same_run(run, whole):
    for a, b in zip(weights_of(whole), weights_of(run)):
        np.testing.assert_array_equal(b, a)
    for a, b in zip(weights_of(whole, "best.keras"), weights_of(run, "best.keras")):
        np.testing.assert_array_equal(b, a)
    assert training.read_history(run) == training.read_history(whole)
    assert (run / "state.json").read_text() == (whole / "state.json").read_text()


@pytest.fixture(scope="module")
def whole(samples, tmp_path_factory):
    return fit(samples, tmp_path_factory.mktemp("whole")).run_dir


def test_the_same_run_twice_in_one_process_is_bitwise_identical(samples, whole, tmp_path):
    tf.random.uniform([5])  # whatever ran before must not matter
    keras.utils.set_random_seed(5)
    assert_same_run(fit(samples, tmp_path / "again").run_dir, whole)


class Kill(Exception):
    """A simulated kill."""


def mid_epoch_kill(epoch: int, batch: int):
    class KillMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e

        def on_train_batch_end(self, b, logs=None):
            if self.epoch == epoch and b == batch:
                raise Kill()

    return KillMidEpoch()


def kill_on_write(monkeypatch, module, name: str, target: str, epoch_file_count: int, partial: bool = False):
    """Make ``module.name`` (a writer) raise ``Kill`` on its ``epoch_file_count``-th write of ``target``."""
    real = getattr(module, name)
    calls = {"n": 0}

    def writer(*args, **kwargs):
        path = args[1] if name == "atomic_save_keras" else args[0]
        if str(path).endswith(target):
            calls["n"] += 1
            if calls["n"] == epoch_file_count:
                if partial:  # the kill lands inside the write: a temporary file stays behind
                    (path.parent / f".{path.stem}.dead.tmp.keras").write_bytes(b"PK\x03\x04 partial")
                raise Kill()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, writer)


@pytest.mark.parametrize("kill", ["mid_epoch", "mid_last_keras", "between_last_keras_and_state", "before_last_keras"])
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_result(samples, whole, tmp_path, monkeypatch, kill):
    from comicdepth_tf.models import registry

    run = tmp_path / "run"
    with pytest.raises(Kill), monkeypatch.context() as patch:
        if kill == "mid_epoch":
            fit(samples, run, extra_callbacks=[mid_epoch_kill(2, 1)])
        elif kill == "mid_last_keras":
            kill_on_write(patch, registry, "atomic_save_keras", "last.keras", 2, partial=True)
            fit(samples, run)
        elif kill == "between_last_keras_and_state":
            kill_on_write(patch, training, "atomic_write_json", "state.json", 2)
            fit(samples, run)
        else:  # best.keras of the epoch written, last.keras not yet
            kill_on_write(patch, registry, "atomic_save_keras", "last.keras", 3)
            fit(samples, run)
    resumed = fit(samples, run)
    assert resumed.initial_epoch in (1, 2)
    assert not list(run.glob(".*.tmp*")), "temporary files of the killed write are cleaned up"
    assert_same_run(run, whole)


def tiny_gan_fit(run_dir, samples, epochs: int = 2, **kwargs):
    from comicdepth_tf.gan_training import domain_dataset, fit_cyclegan, unpaired_dataset
    from comicdepth_tf.models.cyclegan import build_cyclegan

    train, val = samples
    domain = dict(size=SIZE, batch_size=2, seed=4)
    train_ds = unpaired_dataset(domain_dataset(train, train=True, **domain), domain_dataset(train[::-1], train=True,
                                                                                              **domain))
    val_ds = unpaired_dataset(domain_dataset(val, train=False, **domain), domain_dataset(val, train=False, **domain))
    build = lambda: build_cyclegan("simple", image_size=SIZE, filters=4, residual_blocks=1, disc_filters=4,  # noqa: E731
                                   disc_layers=2, pool_size=3, seed=4)
    return fit_cyclegan(build, train_ds, val_ds, run_dir=run_dir, epochs=epochs, steps_per_epoch=3, seed=4,
                        run_eagerly=True, **kwargs)


def gan_weights(result) -> list[np.ndarray]:
    return [np.asarray(v) for v in result.model.weights]


@pytest.mark.slow
def test_a_gan_run_is_identical_after_other_work_and_after_a_kill(samples, tmp_path, monkeypatch):
    from comicdepth_tf import gan_training

    whole = tiny_gan_fit(tmp_path / "whole", samples)
    tf.random.uniform([7])
    keras.utils.set_random_seed(1)
    again = tiny_gan_fit(tmp_path / "again", samples)
    for a, b in zip(gan_weights(whole), gan_weights(again)):
        np.testing.assert_array_equal(b, a)
    # Killed after the first epoch's checkpoint, before its networks and state.json.
    run = tmp_path / "killed"
    with pytest.raises(Kill), monkeypatch.context() as patch:
        kill_on_write(patch, gan_training, "save_networks", "", 1)
        tiny_gan_fit(run, samples)
    resumed = tiny_gan_fit(run, samples)
    assert resumed.initial_epoch == 1
    for a, b in zip(gan_weights(whole), gan_weights(resumed)):
        np.testing.assert_array_equal(b, a)
    assert training.read_history(run) == training.read_history(whole.run_dir)


def test_an_epoch_must_be_a_whole_pass_of_a_finite_dataset(samples, tmp_path):
    from comicdepth_tf.errors import ParameterError

    # Keras would keep one iterator across such epochs, which a resumed run cannot re-enter.
    with pytest.raises(ParameterError, match="steps_per_epoch=2 with a finite training dataset of 3 batches"):
        fit(samples, tmp_path / "run", steps_per_epoch=2)
