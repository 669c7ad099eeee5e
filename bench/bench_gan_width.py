"""CycleGAN generator width and depth on this machine: train images per second of the ``simple``
CycleGAN (64 px, batch 4, the ``cpu`` profile's shapes) at other ``FILTERS`` and ``RES_BLOCKS``,
each against the profile's 32 filters and 6 residual blocks measured side by side in the same run.

Each measurement runs in its own process; every width is measured ``--repeats`` times in turn and
the best kept. Random inputs. Prints; asserts nothing. Whether a narrower network still meets stage
30's bars is a training run (``comicdepth run --only 30 -p 30.FILTERS=24``); see
``params/30_cyclegan/cpu.yaml``.

    python bench/bench_gan_width.py                      # 32x6 (reference), 24x6, 16x6, 32x4, 24x4
    python bench/bench_gan_width.py --widths 32x6,20x6 --steps 6
"""

from __future__ import annotations

import argparse
import json
import os
import time

from workers import run_worker  # bench/ is the scripts' own folder, first on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REFERENCE = "32x6"


def worker(width: str, steps: int) -> None:
    """Print the train images per second of one ``<filters>x<residual blocks>`` width, in this process."""
    import keras
    import numpy as np
    import tensorflow as tf

    import comicdepth_tf.models  # noqa: F401 (the package's graph settings, as in training)
    from comicdepth_tf.models.cyclegan import build_cyclegan

    filters, blocks = (int(v) for v in width.split("x"))
    keras.utils.set_random_seed(0)
    model = build_cyclegan("simple", seed=0, image_size=64, filters=filters, residual_blocks=blocks,
                           downsamplings=1, disc_filters=16)
    model.compile()
    rng = np.random.default_rng(0)
    data = tuple(tf.constant(rng.uniform(size=(4, 64, 64, 3)).astype("float32")) for _ in range(2))
    step = tf.function(model.train_step)
    step(data), step(data)  # trace and warm up
    start = time.perf_counter()
    for _ in range(steps):
        step(data)
    print(json.dumps({"width": width, "img_s": 4 * steps / (time.perf_counter() - start)}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="32x6,24x6,16x6,32x4,24x4", help="comma list of <filters>x<blocks>")
    parser.add_argument("--steps", type=int, default=8, help="timed train steps per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each width (best kept)")
    parser.add_argument("--worker", metavar="WIDTH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps)
        return
    widths = [REFERENCE] + [w for w in args.widths.split(",") if w != REFERENCE]
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for width in widths:
            result = run_worker(__file__, "--worker", width, "--steps", str(args.steps), check=True)
            best[width] = max(best.get(width, 0.0), result["img_s"])
    print(f"{'width':8s} {'train img/s':>11s} {'ratio':>7s}")
    for width in widths:
        print(f"{width:8s} {best[width]:11.2f} {best[width] / best[REFERENCE]:7.3f}")


if __name__ == "__main__":
    main()
