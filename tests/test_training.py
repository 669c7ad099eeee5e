"""Training loop: learning on a toy task, resume after an interruption, MirroredStrategy parity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from comicdepth_tf import env, training  # noqa: E402
from comicdepth_tf.errors import ParameterError  # noqa: E402
from comicdepth_tf.metrics import depth_metrics  # noqa: E402
from comicdepth_tf.models.depth_unet import build_depth_unet  # noqa: E402
from comicdepth_tf.models.registry import load_model  # noqa: E402

SIZE = 32


def toy_arrays(n: int, seed: int, size: int = SIZE):
    """Images whose brightness is a random planar ramp; depth = 1 + 4 × brightness (metres)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    a, b = rng.uniform(-0.5, 0.5, size=(2, n, 1, 1))
    c = rng.uniform(0.2, 0.8, size=(n, 1, 1))
    brightness = np.clip(c + a * (yy - 0.5) + b * (xx - 0.5), 0, 1)
    tint = rng.uniform(0.8, 1.0, size=(n, 1, 1, 3))
    images = (brightness[..., None] * tint).astype(np.float32)
    depth = (1.0 + 4.0 * brightness)[..., None].astype(np.float32)
    depth[:, :2, :2] = 0.0  # a few invalid pixels, as with sensor holes
    return images, depth


def toy_dataset(n: int, seed: int, batch: int = 8):
    images, depth = toy_arrays(n, seed)
    return tf.data.Dataset.from_tensor_slices((images, depth)).batch(batch)


def tiny_builder():
    # No attention gates: they are covered by the model tests and add graph-tracing time.
    return build_depth_unet("tiny", decoder_filters=(8, 8, 8, 8), attention=False, bn_momentum=0.9)


def micro_builder():
    """A depth model from the same parts as the real one (conv-BN blocks, ResizeLike, DepthHead).

    Small, because MirroredStrategy traces every replica's step and merges every variable
    update: the tiny U-Net takes ~17 s of CPU to trace on two replicas, this one a few.
    """
    from comicdepth_tf.models.encoders import conv_bn_relu
    from comicdepth_tf.models.layers import DepthHead, ResizeLike

    inputs = keras.Input((None, None, 3))
    x = conv_bn_relu(inputs, 8, strides=2, name="down")
    x = conv_bn_relu(x, 8, name="mid")
    x = ResizeLike()([x, inputs])
    x = keras.layers.Conv2D(1, 3, padding="same", dtype="float32")(x)
    return keras.Model(inputs, DepthHead(dtype="float32")(x))


#: Training configuration of the tests (the resume test runs it whole and interrupted).
RUN = dict(epochs=6, learning_rate=1e-2, lr_schedule="cosine", seed=7, tensorboard=False, early_stopping_patience=10)


@pytest.fixture(scope="module")
def data():
    # Small batches: more steps per traced graph, which is where the time goes on CPU.
    return toy_dataset(64, seed=1, batch=4), toy_dataset(8, seed=2)


@pytest.fixture(scope="module")
def whole_run(data, tmp_path_factory):
    """The tiny depth U-Net trained for RUN['epochs'] epochs."""
    return training.fit(tiny_builder, *data, run_dir=tmp_path_factory.mktemp("whole"), **RUN)


@pytest.mark.slow
def test_loss_decreases_and_beats_the_mean_depth_predictor(whole_run):
    loss = whole_run.history["loss"]
    assert len(loss) == RUN["epochs"] and loss[-1] < 0.5 * loss[0]
    assert whole_run.best_epoch is not None and (whole_run.run_dir / "best.keras").exists()

    _, train_depth = toy_arrays(64, seed=1)
    images, depth = toy_arrays(8, seed=2)
    mean_depth = train_depth[train_depth > 0].mean()
    baseline = depth_metrics(np.full_like(depth, mean_depth), depth)
    trained = depth_metrics(np.asarray(whole_run.model(images, training=False)), depth)
    assert trained["abs_rel"] < 0.5 * baseline["abs_rel"]
    assert trained["delta1"] > baseline["delta1"]
    # The in-training validation metrics are the masked Keras metrics; the schedule is logged.
    assert {"val_delta1", "val_abs_rel", "learning_rate"} <= set(whole_run.history)
    lr = whole_run.history["learning_rate"]
    assert lr[0] > lr[-1] and lr == sorted(lr, reverse=True)


def saved_groups(path) -> set[str]:
    """Top-level groups of a ``.keras`` file's weights (``layers``, ``optimizer``, ...)."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
        return set(weights)


def test_files_read_for_weights_are_saved_without_the_optimizer(data, tmp_path):
    from comicdepth_tf.models.registry import atomic_save_keras, save_model

    model = micro_builder()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    model.fit(data[0].take(2), epochs=1, shuffle=False, verbose=0)
    steps = int(model.optimizer.iterations.numpy())
    full = atomic_save_keras(model, tmp_path / "full.keras")
    lean = atomic_save_keras(model, tmp_path / "lean.keras", include_optimizer=False)
    assert saved_groups(full) >= {"layers", "optimizer"} and "optimizer" not in saved_groups(lean)
    images, _ = toy_arrays(4, seed=5)
    reloaded = load_model(lean)
    assert getattr(reloaded, "optimizer", None) is None
    np.testing.assert_allclose(np.asarray(reloaded(images)), np.asarray(model(images)), rtol=1e-6, atol=1e-6)
    # The model saved is untouched: still compiled, optimizer state as it was.
    assert model.optimizer is not None and int(model.optimizer.iterations.numpy()) == steps
    save_model(model, tmp_path / "run", {"model": "micro"})
    assert "optimizer" not in saved_groups(tmp_path / "run" / "model.keras")


def test_a_weights_only_writer_saves_the_weights_of_the_moment_each_time(data, tmp_path):
    from comicdepth_tf.models.registry import WeightsOnlyWriter

    model = micro_builder()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae")
    images, _ = toy_arrays(4, seed=5)
    writer = WeightsOnlyWriter()
    outputs = []
    for k in range(2):
        model.fit(data[0].take(2), epochs=1, shuffle=False, verbose=0)
        path = writer.save(model, tmp_path / f"best{k}.keras")
        assert "optimizer" not in saved_groups(path)
        outputs.append(np.asarray(model(images)))
    assert not np.allclose(outputs[0], outputs[1])  # the weights moved between the writes
    for k in range(2):  # each file holds the weights of its own write, not the copy's later ones
        np.testing.assert_allclose(np.asarray(load_model(tmp_path / f"best{k}.keras")(images)), outputs[k],
                                   rtol=1e-6, atol=1e-6)


class Interrupt(Exception):
    """Simulates a crash after an epoch's checkpoint was written."""


def crash_after(epochs_done: int):
    class CrashAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs_done:
                raise Interrupt()

    return CrashAfter()


def test_build_compile_fit_in_three_steps_trains_the_same_weights_as_fit_with_a_builder(data, tmp_path):
    """The notebooks' build → compile → fit is the one-call path, bitwise; the recipe remembers both steps."""
    one_call = training.fit(micro_builder, *data, run_dir=tmp_path / "one", **RUN)
    model = training.build(micro_builder, seed=RUN["seed"])
    spe = int(data[0].cardinality())
    training.compile_model(model, loss="depth", metrics=("delta1", "abs_rel"), learning_rate=RUN["learning_rate"],
                           lr_schedule=RUN["lr_schedule"], steps_per_epoch=spe, epochs=RUN["epochs"])
    assert training.recipe(model) == {"build": {}, "compile": {
        "loss": "depth", "optimizer": "adam", "learning_rate": 1e-2, "lr_schedule": "cosine",
        "steps_per_epoch": spe, "epochs": RUN["epochs"]}}
    steps = training.fit(model, *data, run_dir=tmp_path / "three", **RUN)
    assert steps.model is model and steps.history == one_call.history
    for a, b in zip(one_call.model.get_weights(), steps.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert training.recipe(keras.Sequential()) == {}


def test_a_cosine_warm_up_rises_linearly_from_one_percent_then_decays():
    schedule = training.make_lr_schedule("cosine", 1e-2, total_steps=110, warmup_steps=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 60, 110)]
    np.testing.assert_allclose(rates[:3], [1e-4, 1e-4 + 0.5 * (1e-2 - 1e-4), 1e-2], rtol=1e-5)
    np.testing.assert_allclose(rates[3], 1e-2 * (0.01 + 0.99 * 0.5), rtol=1e-5)  # half-way down the cosine
    np.testing.assert_allclose(rates[4], 1e-4, rtol=1e-5)


def test_resume_after_interruption_matches_an_uninterrupted_run(data, tmp_path):
    # The micro model keeps the four fits below cheap; the mechanism is model-independent.
    whole = training.fit(micro_builder, *data, run_dir=tmp_path / "whole", **RUN)
    run = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        training.fit(
            micro_builder, *data, run_dir=run, extra_callbacks=[crash_after(3)], **{**RUN, "tensorboard": None}
        )
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 3 and state["epochs"] == RUN["epochs"] and "wait" in state["early_stopping"]
    assert (run / "best.keras").exists() and (run / "last.keras").exists()
    # Only last.keras is resumed from, so only it carries the optimizer's state.
    assert "optimizer" in saved_groups(run / "last.keras") and "optimizer" not in saved_groups(run / "best.keras")
    assert (run / "tensorboard").is_dir() == training.tensorboard_available()

    # TensorBoard on again: its event files must not change what the resumed run computes.
    resumed = training.fit(micro_builder, *data, run_dir=run, **{**RUN, "tensorboard": None})
    if training.tensorboard_available():
        assert len(list((run / "tensorboard").rglob("events.out.tfevents.*"))) >= 2  # one per fit call
    assert resumed.initial_epoch == 3 and resumed.epochs_completed == RUN["epochs"]
    assert resumed.history["epoch"] == list(range(RUN["epochs"]))
    # Same seeds, no shuffling, optimizer state and schedule restored: the resumed run ends
    # where the uninterrupted one does.
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["val_loss"], whole.history["val_loss"], rtol=1e-5)
    a, b = load_model(whole.run_dir, "last.keras"), load_model(run, "last.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)
    assert resumed.best_epoch == whole.best_epoch
    assert whole.history["loss"][-1] < whole.history["loss"][0]

    # A finished run is not trained again.
    again = training.fit(micro_builder, *data, run_dir=run, **RUN)
    assert again.initial_epoch == RUN["epochs"] and len(again.history["loss"]) == RUN["epochs"]


def test_a_checkpoint_made_from_other_inputs_or_code_is_trained_again_not_resumed(data, tmp_path, capsys,
                                                                                   monkeypatch):
    run = dict(RUN, epochs=2)
    first = training.fit(micro_builder, *data, run_dir=tmp_path, identity={"upstream": "a"}, **run)
    source = env.source_digest()
    assert json.loads((tmp_path / "identity.json").read_text()) == {"upstream": "a", "source": source}
    same = training.fit(micro_builder, *data, run_dir=tmp_path, identity={"upstream": "a"}, **run)
    assert same.initial_epoch == 2 and "other inputs" not in capsys.readouterr().out
    # The upstream network changed under the same run folder: a finished run would otherwise be
    # returned as is, trained from the old one.
    other = training.fit(micro_builder, *data, run_dir=tmp_path, identity={"upstream": "b"}, **run)
    assert other.initial_epoch == 0 and other.epochs_completed == 2 and other.history["epoch"] == [0, 1]
    assert "made from other inputs" in capsys.readouterr().out
    assert json.loads((tmp_path / "identity.json").read_text()) == {"upstream": "b", "source": source}
    # Same seed and data: the retrained run is the first one again, bitwise.
    assert other.history["loss"] == first.history["loss"]
    # The package changed (a stage reruns after any change to it): the finished run is trained
    # again, not reported as made by this code.
    monkeypatch.setattr(env, "source_digest", lambda: "other code")
    changed = training.fit(micro_builder, *data, run_dir=tmp_path, identity={"upstream": "b"}, **run)
    assert changed.initial_epoch == 0 and changed.history["loss"] == first.history["loss"]
    assert "made from other inputs" in capsys.readouterr().out
    # A run written without an identity (before this check) is not trusted either.
    (tmp_path / "identity.json").unlink()
    assert training.fit(micro_builder, *data, run_dir=tmp_path, identity={"upstream": "b"}, **run).initial_epoch == 0
    # No identity asked for: resumes as before.
    assert training.fit(micro_builder, *data, run_dir=tmp_path, **run).initial_epoch == 2


def test_a_diverged_epoch_stops_training_and_keeps_the_last_finite_checkpoint(tmp_path):
    from comicdepth_tf.errors import TrainingDivergedError

    images, depth = toy_arrays(4, seed=3)
    poisoned = images.copy()
    poisoned[0, 0, 0, 0] = np.nan  # the third step's batch: epoch 3 of 4 at one step per epoch
    train = tf.data.Dataset.from_tensor_slices((np.concatenate([images, images, poisoned, images]),
                                                np.concatenate([depth] * 4))).batch(4).repeat()
    val = tf.data.Dataset.from_tensor_slices((images, depth)).batch(4)
    run = tmp_path / "run"
    common = dict(run_dir=run, steps_per_epoch=1, learning_rate=1e-3, lr_schedule="constant", seed=0,
                  tensorboard=False)
    with pytest.raises(TrainingDivergedError, match=r"epoch 3 .*loss.*epoch 2") as err:
        training.fit(micro_builder, train, val, epochs=4, **common)
    assert err.value.epoch == 3 and err.value.kept == 2 and "loss" in err.value.keys
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    assert training.read_history(run)["epoch"] == [0.0, 1.0]  # the NaN row is gone
    for name in ("last.keras", "best.keras"):
        assert all(np.all(np.isfinite(w)) for w in load_model(run, name).get_weights())
    resumed = training.fit(micro_builder, train.take(1).repeat(), val, epochs=3, **common)
    assert resumed.initial_epoch == 2 and resumed.epochs_completed == 3
    assert np.isfinite(resumed.history["loss"]).all() and len(resumed.history["loss"]) == 3


@pytest.mark.parametrize("build", [True, False])
def test_fit_traces_the_train_step_once_with_metrics_and_two_losses(tmp_path, monkeypatch, build):
    # Without a strategy Keras creates a multi-output loss's per-output trackers inside the first
    # trace, and TensorFlow then traces the step a second time (build=False: the optimizer only).
    if not build:
        monkeypatch.setattr(training, "build_before_tracing",
                            lambda model, ds: model.optimizer.build(model.trainable_variables))
    images, depth = toy_arrays(8, seed=5)

    def two_heads():
        inputs = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", name="trunk")(inputs)
        return keras.Model(inputs, {"a": keras.layers.Conv2D(1, 1, name="a")(x),
                                    "b": keras.layers.Conv2D(1, 1, name="b")(x)})

    model = training.build(two_heads, seed=0)
    training.compile_model(model, loss={"a": "mse", "b": "mae"}, metrics={"a": ["mae"]}, learning_rate=1e-3,
                           lr_schedule="constant", steps_per_epoch=2, epochs=1)
    traces = []
    step = model.train_step
    model.train_step = lambda batch: traces.append(1) or step(batch)
    ds = tf.data.Dataset.from_tensor_slices((images, {"a": depth, "b": depth})).batch(4)
    result = training.fit(model, ds, run_dir=tmp_path / "run", epochs=1, seed=0, tensorboard=False)
    assert len(traces) == (1 if build else 2)
    assert {"a_loss", "b_loss", "a_mae"} <= set(result.history)


def test_mixed_precision_switch_trains_and_restores_the_policy(data, tmp_path):
    result = training.fit(
        micro_builder, data[0].take(2), None, run_dir=tmp_path / "mp", epochs=1, mixed_precision=True,
        seed=0, tensorboard=False,
    )
    assert keras.mixed_precision.global_policy().name == "float32"
    assert result.model.get_layer("mid_conv").compute_dtype == "float16"
    assert result.model.output.dtype == "float32"
    assert np.isfinite(result.history["loss"]).all()
    assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_bfloat16_policy_by_name_trains_without_loss_scaling_and_bad_names_are_refused(data, tmp_path):
    result = training.fit(
        micro_builder, data[0].take(2), None, run_dir=tmp_path / "bf16", epochs=1, mixed_precision="mixed_bfloat16",
        seed=0, tensorboard=False,
    )
    assert keras.mixed_precision.global_policy().name == "float32"
    assert result.model.get_layer("mid_conv").compute_dtype == "bfloat16"
    assert np.isfinite(result.history["loss"]).all()
    assert not isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    with pytest.raises(ParameterError, match="mixed_bfloat16"):
        with training.precision_policy("bfloat16"):
            pass


def test_auto_precision_follows_the_cpu_flags(monkeypatch):
    assert training.resolve_precision("") == "" and training.resolve_precision("mixed_float16") == "mixed_float16"
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: True)
    assert training.resolve_precision("auto") == "mixed_bfloat16"  # no GPU in the test environment
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: False)
    assert training.resolve_precision("auto") == ""


def test_early_stopping_stops_and_carries_its_counters_over_a_resume():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False  # fit() sets it; these callbacks are driven by hand here
    es = training.make_early_stopping("val_loss", patience=2, state=None)
    es.set_model(model)
    es.on_train_begin()
    for epoch, value in enumerate([1.0, 0.5, 0.6]):
        es.on_epoch_end(epoch, {"val_loss": value})
    assert (es.best, es.wait, model.stop_training) == (0.5, 1, False)
    # A resumed run restores best and wait, so one more bad epoch exhausts the patience.
    state = {"early_stopping": {"wait": es.wait, "best": es.best, "best_epoch": es.best_epoch}}
    resumed = training.make_early_stopping("val_loss", patience=2, state=state)
    resumed.set_model(model)
    resumed.on_train_begin()
    resumed.on_epoch_end(3, {"val_loss": 0.7})
    assert model.stop_training
    # δ metrics are maximised.
    assert training.make_early_stopping("val_delta1", 1, None).mode == "max"


def test_parameter_errors_and_step_schedule(tmp_path):
    train = toy_dataset(4, seed=5)
    with pytest.raises(ParameterError, match="builder"):
        training.fit(tiny_builder(), train, run_dir=tmp_path / "x", epochs=1, mixed_precision="mixed_bfloat16")
    with pytest.raises(ParameterError, match="STRATEGY must be one of"):
        training.use_devices("horovod")
    with pytest.raises(ParameterError, match="MIXED_PRECISION must be one of"):
        training.use_devices("none", "float16")
    if not tf.config.list_logical_devices("TPU"):
        with pytest.raises(ParameterError, match="STRATEGY=tpu: no TPU could be reached"):
            training.use_devices("tpu")
    with pytest.raises(ParameterError):
        training.fit("not a model", train, run_dir=tmp_path / "x", epochs=1)
    with pytest.raises(ParameterError):
        training.make_lr_schedule("linear", 1e-3, 10)
    with pytest.raises(ParameterError):
        training.make_lr_schedule("cosine", 1e-3, None)
    step = training.make_lr_schedule("step", 1.0, None, steps_per_epoch=2, step_epochs=3, gamma=0.5)
    assert [float(step(s)) for s in (0, 5, 6, 12)] == [1.0, 1.0, 0.5, 0.25]
    cosine = training.make_lr_schedule("cosine", 1.0, 10, final_fraction=0.1)
    assert [round(float(cosine(s)), 6) for s in (0, 5, 10)] == [1.0, 0.55, 0.1]


def test_inverse_targets_keep_invalid_pixels():
    images, depth = toy_arrays(2, seed=0)
    ds = training.targets_for_output(tf.data.Dataset.from_tensor_slices((images, depth)).batch(2), "inverse")
    _, inv = next(iter(ds))
    inv = inv.numpy()
    np.testing.assert_allclose(inv[depth > 0], 1.0 / depth[depth > 0], rtol=1e-6)
    assert np.all(inv[depth == 0] == 0)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from comicdepth_tf import training
    devices = training.configure_logical_cpus(2)
    import keras
    from test_training import micro_builder, toy_dataset

    out = {{"devices": devices}}
    train, val = toy_dataset(16, seed=3), toy_dataset(8, seed=4)
    for name, strategy in (("single", None), ("mirrored", "mirrored")):
        r = training.fit(micro_builder, train, val, run_dir={tmp!r} + "/" + name, epochs=3,
                         learning_rate=1e-2, seed=11, strategy=strategy, tensorboard=False)
        out[name] = r.history["loss"]
        out[name + "_replicas"] = training.get_strategy(strategy).num_replicas_in_sync if strategy else 1
        np.save({tmp!r} + "/" + name + ".npy", np.concatenate([w.ravel() for w in r.model.get_weights()]))
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_matches_single_device(tmp_path):
    script = MIRRORED_SCRIPT.format(tests=os.path.dirname(__file__), tmp=str(tmp_path))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert len(out["devices"]) == 2 and out["mirrored_replicas"] == 2
    # Same global batch, synchronized batch norm: per-epoch losses agree to float32 round-off.
    np.testing.assert_allclose(out["mirrored"], out["single"], rtol=1e-4)
    single, mirrored = np.load(tmp_path / "single.npy"), np.load(tmp_path / "mirrored.npy")
    np.testing.assert_allclose(mirrored, single, rtol=1e-3, atol=1e-4)
    print(
        "mirrored vs single: loss rel diff",
        np.max(np.abs(np.subtract(out["mirrored"], out["single"])) / np.abs(out["single"])),
        "max weight diff",
        float(np.max(np.abs(mirrored - single))),
    )


WORKER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from comicdepth_tf import training
    strategy = sys.argv[1]
    devices = training.use_devices(strategy)  # first: MultiWorkerMirroredStrategy starts the cluster
    from test_training import micro_builder, toy_dataset

    train, val = toy_dataset(16, seed=3), toy_dataset(8, seed=4)
    name = strategy + os.environ.get("WORKER", "")
    r = training.fit(micro_builder, train, val, run_dir={tmp!r} + "/" + name, epochs=3,
                     learning_rate=1e-2, seed=11, tensorboard=False)
    np.save({tmp!r} + "/" + name + ".npy", np.concatenate([w.ravel() for w in r.model.get_weights()]))
    print("RESULT " + json.dumps({{"loss": r.history["loss"], **devices}}))
    """
)


def _free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _result(proc) -> dict:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.slow
def test_two_worker_processes_train_like_one(tmp_path):
    """MultiWorkerMirroredStrategy over two processes on 127.0.0.1 (``TF_CONFIG``), against one process."""
    script = WORKER_SCRIPT.format(tests=os.path.dirname(__file__), tmp=str(tmp_path))
    base = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    base.pop("TF_CONFIG", None)
    single = _result(subprocess.run([sys.executable, "-c", script, "none"], capture_output=True, text=True,
                                    env=base, timeout=300))
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = [subprocess.Popen([sys.executable, "-c", script, "multi_worker"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=dict(base, WORKER=str(i), TF_CONFIG=json.dumps(
                                  {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})))
             for i in range(2)]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        outs.append(_result(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)))
    assert [o["replicas"] for o in outs] == [2, 2] and single["replicas"] == 1
    # The global batch is split between the workers and the gradients summed: the same steps as
    # one process, up to float32 round-off in the all-reduce.
    for out in outs:
        np.testing.assert_allclose(out["loss"], single["loss"], rtol=1e-4)
    weights = [np.load(tmp_path / f"multi_worker{i}.npy") for i in range(2)]
    np.testing.assert_array_equal(weights[0], weights[1])
    reference = np.load(tmp_path / "none.npy")
    np.testing.assert_allclose(weights[0], reference, rtol=1e-3, atol=1e-4)
    print("two workers vs one: loss rel diff",
          max(abs(a - b) / abs(b) for a, b in zip(outs[0]["loss"], single["loss"])),
          "max weight diff", float(np.max(np.abs(weights[0] - reference))))
