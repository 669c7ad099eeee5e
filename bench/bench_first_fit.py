"""Start-up of a fit: seconds of a short ``model.fit`` (traces included) and how often the train
step is traced, with the compiled model's variables created before tracing
(``built``: :func:`comicdepth_tf.training.build_before_tracing`, what ``training.fit`` does) against
building the optimizer's slots only (``optimizer``: what it did before) and against Keras' default
(``keras``), which creates the slots, and a multi-output loss's per-output trackers, inside the first
trace and so makes TensorFlow trace the step twice. Ratios are against ``optimizer``.

Families and shapes are ``bench/bench_precision.py``'s (the ``cpu`` profile's), compiled with the
metrics their stages compile (depth: δ1 and AbsRel; text: IoU; fg: two losses). Each measurement
runs in its own process; both paths of a family are measured in turn, ``--repeats`` times, and the
best kept. Random inputs. Prints; asserts nothing.

    python bench/bench_first_fit.py
    python bench/bench_first_fit.py --families fg --steps 4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from workers import run_worker  # bench/ is the scripts' own folder, first on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PATHS = ("keras", "optimizer", "built")
METRICS = {"depth_mnv2": ["delta1", "abs_rel"], "depth_irv2": ["delta1", "abs_rel"], "text": ["iou"]}


def worker(family: str, path: str, steps: int) -> None:
    """Print the seconds of a ``steps``-step, one-epoch fit and the train-step traces, in this process."""
    import keras
    import tensorflow as tf
    from bench_precision import _build

    import comicdepth_tf.models  # noqa: F401 (the package's graph settings, as in training)
    from comicdepth_tf.training import build_before_tracing

    keras.utils.set_random_seed(0)
    model, batch, _, _ = _build(family, jit=False)
    if family in METRICS:
        from comicdepth_tf.text_detection import iou_metric
        from comicdepth_tf.training import resolve_metrics

        names = METRICS[family]
        metrics = [iou_metric()] if names == ["iou"] else resolve_metrics(names)
        model.compile(model.optimizer, loss=model.loss, metrics=metrics)
    ds = tf.data.Dataset.from_tensors(batch).repeat(steps)
    traces = []
    train_step = model.train_step
    model.train_step = lambda data: traces.append(1) or train_step(data)
    start = time.perf_counter()
    if path == "built":
        build_before_tracing(model, ds)
    elif path == "optimizer":
        model.optimizer.build(model.trainable_variables)
    model.fit(ds, epochs=1, verbose=0)
    print(json.dumps({"seconds": time.perf_counter() - start, "traces": len(traces)}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="depth_irv2,text,fg", help="comma list of bench_precision's families")
    parser.add_argument("--steps", type=int, default=4, help="train steps of the fit")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each path (best kept)")
    parser.add_argument("--worker", nargs=2, metavar=("FAMILY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker, args.steps)
        return 0
    print(f"{'family':11} {'path':9} {'fit s':>7} {'traces':>6} {'ratio':>6}")
    for family in args.families.split(","):
        best: dict[str, dict] = {}
        for _ in range(max(1, args.repeats)):
            for path in PATHS:
                r = run_worker(__file__, "--steps", str(args.steps), "--worker", family, path)
                if r is not None and r["seconds"] < best.get(path, {"seconds": float("inf")})["seconds"]:
                    best[path] = r
        for path, r in best.items():
            ratio = best["optimizer"]["seconds"] / r["seconds"] if "optimizer" in best else float("nan")
            print(f"{family:11} {path:9} {r['seconds']:7.2f} {r['traces']:6d} {ratio:6.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
