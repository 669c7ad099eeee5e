"""One line per epoch for every training, and the console lines the runner passes through.

Every trainer runs ``Model.fit`` with ``verbose=0`` (Keras' bars would fill the reports with
carriage returns), so :func:`make_progress` is the one sign of life: a header line when a
training starts and then, per epoch, ::

    training depth_irv2/20260101-120000: epochs 1-3, best epoch by val_loss (lower is better)
    epoch 1/3  loss 0.5123  val_loss 0.4981 *  12.3 s  ETA 0:25

with the key that picks the best epoch after ``loss`` (``val_iou50 0.1066 *  val_loss 1.58``
when it is not ``val_loss``); ``*`` marks an epoch better than every earlier one on that key.
Everything else an epoch logs is in ``history.csv`` and TensorBoard. The lines go to stdout,
so an executed notebook keeps them (its report is compact: one line per epoch), and the runner
(:mod:`comicdepth_tf.chain.runner`) passes exactly the lines :data:`CONSOLE_LINE` matches on to the
console while a stage runs.
"""

from __future__ import annotations

import math
import re
import sys
import time
from typing import Any, Mapping, Sequence

#: The lines of a notebook's stdout the runner shows on the console (see the module docstring).
CONSOLE_LINE = re.compile(r"^(training \S+: epochs |epoch \d+/\d+  )")

#: What an epoch line shows after ``loss`` and the monitored key, unless told otherwise.
DEFAULT_KEYS = ("val_loss",)


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` from an hour on, ``m:ss`` below (``0:07``, ``12:34``, ``1:02:03``)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    total = int(round(max(seconds, 0.0)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_number(value: Any) -> str:
    """4 significant digits for floats, ``nan`` as such, everything else as ``str``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4g}"


def epoch_line(epoch: int, epochs: int, logs: Mapping[str, Any], seconds: float, eta: float | None,
               monitor: str | None = None, improved: bool = False, keys: Sequence[str] = ()) -> str:
    """The text of one epoch.

    Args:
        epoch: the 1-based epoch that just finished.
        epochs: the run's planned number of epochs.
        logs: the epoch's Keras logs.
        seconds: wall time of the epoch.
        eta: estimated seconds to the end of the run (None: not shown, e.g. after the last epoch).
        monitor: the key that picks the best epoch; shown right after ``loss``.
        improved: the monitored value is the best so far (marked ``*``).
        keys: the other log keys to show, in order; default ``val_loss`` (every other value is in
            ``history.csv`` and TensorBoard: the line stays short).
    """
    shown = [k for k in ("loss", monitor, *(keys or DEFAULT_KEYS)) if k and k in logs]
    shown = list(dict.fromkeys(shown))  # once each, first place kept
    parts = [f"epoch {epoch}/{epochs}"]
    for key in shown:
        mark = " *" if improved and key == monitor else ""
        parts.append(f"{key} {format_number(logs[key])}{mark}")
    parts.append(f"{seconds:.1f} s")
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    return "  ".join(parts)


def remaining_seconds(epoch_seconds: Sequence[float], epochs_left: int) -> float | None:
    """Seconds the ``epochs_left`` epochs will take at the mean pace of the epochs timed so far.

    The first epoch of a call carries the graph tracing, so it is left out once later ones exist.
    """
    if not epoch_seconds:
        return None
    timed = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    return sum(timed) / len(timed) * max(epochs_left, 0)


def make_progress(name: str, monitor: str | None = None, best: float | None = None,
                  keys: Sequence[str] = (), stream=None):
    """A Keras callback printing a header when training starts and one line per epoch.

    Args:
        name: what is trained (a run folder's ``model/run`` is what the console needs).
        monitor: the log key that picks the best epoch (``val_loss``; its direction is
            :func:`comicdepth_tf.training.monitor_mode`'s), or None.
        best: the best monitored value of the epochs before a resume (so ``*`` means best of the run).
        keys: log keys to show after ``loss`` and ``monitor``; default :data:`DEFAULT_KEYS`.
        stream: where the lines go; default ``sys.stdout`` at print time (a notebook's cell).
    """
    import keras

    from comicdepth_tf.training import is_better, monitor_mode

    mode = monitor_mode(monitor) if monitor else "min"

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs = int(self.params.get("epochs") or 0)
            self.epoch_seconds: list[float] = []
            self.best = best
            self.header_printed = False

        def on_epoch_begin(self, epoch, logs=None):
            if not self.header_printed:
                # The first epoch tells where a resumed run starts (on_train_begin does not).
                direction = "higher" if mode == "max" else "lower"
                what = f", best epoch by {monitor} ({direction} is better)" if monitor else ""
                self._print(f"training {name}: epochs {epoch + 1}-{self.epochs}{what}")
                self.header_printed = True
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self.started
            self.epoch_seconds.append(seconds)
            value = logs.get(monitor) if monitor else None
            improved = value is not None and is_better(float(value), self.best, mode)
            if improved:
                self.best = float(value)
            left = self.epochs - (epoch + 1)
            eta = remaining_seconds(self.epoch_seconds, left) if left > 0 else None
            self._print(epoch_line(epoch + 1, self.epochs, logs, seconds, eta, monitor, improved, keys))

        def _print(self, line: str) -> None:
            print(line, file=stream or sys.stdout, flush=True)

    return EpochProgress()
