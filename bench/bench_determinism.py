"""What reproducibility costs: training steps per second with TensorFlow's Grappler rewrites on
(the non-deterministic path) over the deterministic path (rewrites off, the package default;
see :func:`comicdepth_tf.training.configure_determinism`).

Each measurement runs in its own process (Grappler's switch is process-wide and read when a
graph is built), alternating the two paths ``--repeats`` times; the best rate of each is kept.
It also reports whether every trace (two per process) of a path gave the same weights. Prints; asserts nothing.

    python bench/bench_determinism.py                    # cpu CycleGAN step and IRv2 depth step
    python bench/bench_determinism.py --models gan --steps 6
    python bench/bench_determinism.py --models gan --paths deterministic,grappler,grappler-no-remapping

A path ``grappler-no-A+B`` keeps Grappler on with its optimizers ``A`` and ``B`` off (names as in
``tf.config.optimizer.set_experimental_options``): the way to find which rewrite breaks identity.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from workers import run_worker  # bench/ is the scripts' own folder, first on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("gan", "depth", "mobilenetv2", "text_unet", "fg")


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="gan,depth",
                   help="comma list of: gan (cpu CycleGAN), depth (IRv2 U-net), mobilenetv2 (the cpu depth U-net), "
                        "text_unet (the cpu text U-net), fg (the cpu foreground mask + depth network)")
    p.add_argument("--paths", default="deterministic,grappler",
                   help="comma list of: deterministic, grappler, grappler-no-<optimizer>[+<optimizer>...]")
    p.add_argument("--steps", type=int, default=8, help="timed training steps per measurement")
    p.add_argument("--repeats", type=int, default=2, help="alternating measurements of each path")
    p.add_argument("--worker", nargs=2, metavar=("MODEL", "PATH"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _model_and_batch(name: str):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    if name == "gan":
        from comicdepth_tf.models.cyclegan import build_cyclegan

        model = build_cyclegan("simple", image_size=64, filters=32, residual_blocks=6, downsamplings=1,
                               disc_filters=16, pool_size=50, seed=0)
        model.compile()
        return model, [tuple(tf.constant(rng.uniform(size=(4, 64, 64, 3)).astype("float32")) for _ in range(2))
                       for _ in range(4)]
    if name == "text_unet":  # the cpu profile's stage 20: tiny encoder, 160 px, batch 16
        from comicdepth_tf.models.text_unet import build_text_unet
        from comicdepth_tf.stages import text

        model = build_text_unet("tiny", bn_momentum=0.9)
        text.compile_model(model, steps_per_epoch=50, epochs=16, learning_rate=3e-3)
        return model, [(tf.constant(rng.uniform(size=(16, 160, 160, 3)).astype("float32")),
                        tf.constant((rng.uniform(size=(16, 160, 160, 1)) > 0.8).astype("float32"))) for _ in range(4)]
    if name == "fg":  # the cpu profile's stage 60: depthnet, 160 px, batch 4, bce+dice+rmse
        from comicdepth_tf.models.fg_mask_depth import build_fg_mask_depth
        from comicdepth_tf.stages import fg

        stats = {"mean": [0.5] * 3, "std": [0.25] * 3}
        model = build_fg_mask_depth(160, variant="depthnet", bg_stats=stats, bg_fg_stats=stats)
        fg.compile_model(model, steps_per_epoch=60, epochs=12, losses="bce+dice+rmse", learning_rate=2e-3)
        return model, [({"bg": tf.constant(rng.uniform(size=(4, 160, 160, 3)).astype("float32")),
                         "bg_fg": tf.constant(rng.uniform(size=(4, 160, 160, 3)).astype("float32"))},
                        {"mask": tf.constant((rng.uniform(size=(4, 160, 160, 1)) > 0.7).astype("float32")),
                         "depth": tf.constant(rng.uniform(1, 10, size=(4, 160, 160, 1)).astype("float32"))})
                       for _ in range(4)]
    import keras

    from comicdepth_tf.models.depth_unet import build_depth_unet
    from comicdepth_tf.training import resolve_loss

    model = build_depth_unet("irv2" if name == "depth" else name, bn_momentum=0.9)
    model.compile(keras.optimizers.Adam(1e-4), loss=resolve_loss("depth"))
    return model, [(tf.constant(rng.uniform(size=(8, 96, 128, 3)).astype("float32")),
                    tf.constant(rng.uniform(1, 10, size=(8, 96, 128, 1)).astype("float32"))) for _ in range(4)]


def worker(name: str, path: str, steps: int) -> None:
    """One measurement in this process: steps per second and hashes of the trained weights.

    Four distinct batches in turn: with one repeated batch the rewritten graphs happened to agree.
    """
    import hashlib
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    import comicdepth_tf.models  # noqa: F401 (importing it sets the deterministic default first)
    from comicdepth_tf.training import configure_determinism

    rates, digests = [], []
    for _ in range(2):  # two traces per process: the rewrites can differ between traces
        keras.utils.set_random_seed(0)
        model, batches = _model_and_batch(name)
        # After building: the stages' compile helpers set the package's deterministic default.
        configure_determinism(path == "deterministic")
        if path.startswith("grappler-no-"):
            tf.config.optimizer.set_experimental_options({opt: False for opt in path[len("grappler-no-"):].split("+")})
        step = tf.function(model.train_step, jit_compile=bool(model.jit_compile))  # as fit compiles it
        step(batches[0])  # trace
        start = time.perf_counter()
        for i in range(steps):
            step(batches[i % len(batches)])
        rates.append(steps / (time.perf_counter() - start))
        digests.append(hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.weights)).hexdigest()[:16])
    print(json.dumps({"rate": max(rates), "weights": digests}))


def measure(name: str, path: str, steps: int) -> dict:
    return run_worker(__file__, "--steps", str(steps), "--worker", name, path, check=True)


def main(argv=None) -> int:
    args = _args(argv)
    if args.worker:
        worker(*args.worker, args.steps)
        return 0
    print(f"{'model':11} {'path':40} {'steps/s':>8} {'same weights, 2 traces x 2 processes':>38}")
    for name in args.models.split(","):
        results = {path: [] for path in args.paths.split(",")}
        for _ in range(max(2, args.repeats)):
            for path in results:
                results[path].append(measure(name, path, args.steps))
        for path, runs in results.items():
            same = len({d for r in runs for d in r["weights"]}) == 1
            print(f"{name:11} {path:40} {max(r['rate'] for r in runs):8.3f} {str(same):>38}")
        base = next(iter(results))
        for path, runs in results.items():
            if path != base:
                ratio = max(r["rate"] for r in runs) / max(r["rate"] for r in results[base])
                equal = {d for r in runs for d in r["weights"]} == {d for r in results[base] for d in r["weights"]}
                print(f"{name:11} ratio {path} / {base} steps per second: {ratio:.3f}; "
                      f"weights equal to {base}'s: {equal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
