"""The one line per epoch every training prints (comicdepth_tf.progress) and the TensorBoard logs of a fit."""

from __future__ import annotations

import re

import numpy as np
import pytest

from comicdepth_tf import progress


def test_durations_read_as_clock_times():
    assert progress.format_duration(7.4) == "0:07"
    assert progress.format_duration(754) == "12:34"
    assert progress.format_duration(3723) == "1:02:03"
    assert progress.format_duration(float("nan")) == "?"


def test_an_epoch_line_puts_loss_and_the_monitor_first_and_marks_an_improvement():
    logs = {"delta1": np.float32(0.61234567), "loss": 0.51234, "val_loss": 0.498, "learning_rate": 1e-3}
    line = progress.epoch_line(3, 10, logs, 12.34, 83.0, monitor="val_loss", improved=True)
    assert line == "epoch 3/10  loss 0.5123  val_loss 0.498 *  12.3 s  ETA 1:23"
    other = progress.epoch_line(3, 10, {**logs, "val_iou50": 0.1}, 12.34, 83.0, monitor="val_iou50")
    assert other == "epoch 3/10  loss 0.5123  val_iou50 0.1  val_loss 0.498  12.3 s  ETA 1:23"
    assert progress.CONSOLE_LINE.match(line)
    last = progress.epoch_line(10, 10, {"g_loss": 1.0, "d_loss": 2.0, "x": 3}, 1.0, None, keys=("d_loss", "g_loss"))
    assert last == "epoch 10/10  d_loss 2  g_loss 1  1.0 s"


def test_the_eta_follows_the_pace_after_the_first_epoch_which_carries_the_tracing():
    assert progress.remaining_seconds([], 3) is None
    assert progress.remaining_seconds([20.0], 3) == 60.0
    assert progress.remaining_seconds([20.0, 2.0, 4.0], 5) == 15.0
    assert progress.remaining_seconds([20.0, 2.0], 0) == 0.0


def test_a_two_epoch_fit_prints_a_header_and_one_line_per_epoch_and_writes_tensorboard_events(tmp_path, capsys):
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from comicdepth_tf import training

    rng = np.random.default_rng(0)
    x, y = rng.random((8, 4), dtype=np.float32), rng.random((8, 1), dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    build = lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])  # noqa: E731
    run = tmp_path / "model" / "run1"
    training.fit(build, ds, ds, run_dir=run, epochs=2, loss="mse", metrics=(), seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "training model/run1: epochs 1-2, best epoch by val_loss (lower is better)"
    assert [re.sub(r"  [\d.]+ s.*", "", ln).split("  ")[0] for ln in lines[1:]] == ["epoch 1/2", "epoch 2/2"]
    assert "ETA" in lines[1] and "ETA" not in lines[2] and " *  " in lines[1]  # the first epoch is the best so far
    assert all(progress.CONSOLE_LINE.match(ln) for ln in lines)
    if training.tensorboard_available():
        assert list((run / training.LOG_DIR).rglob("events.out.tfevents.*")), "no TensorBoard event file"
