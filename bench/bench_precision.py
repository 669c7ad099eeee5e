"""XLA and bfloat16 on this machine: train and predict images per second of every model family,
each against float32 without XLA measured side by side in the same run.

Families (the ``cpu`` profile's shapes and batches): ``depth_mnv2`` (MobileNetV2 depth U-net,
96×128, batch 8: stages 10 and 40), ``depth_irv2`` (the seeds' IRv2 U-net, same shapes: the
``full`` profile), ``text`` (tiny-encoder text U-net, 160 px, batch 16: stage 20), ``gan`` (the
``simple`` CycleGAN generators and discriminators, 64 px, batch 4: stage 30), ``fg`` (the
foreground mask + depth network, 160 px, batch 2: stage 60).

``--profile full`` uses the ``full`` profile's shapes instead (IRv2 at 240×320 batch 16, the
IRv2 text U-net at 256 px, the paper's CycleGAN at 256 px batch 1, the fg network at 224 px
batch 32): ``bench/gpu_check.py`` runs that on a GPU.

Paths: ``fp32`` (the package default), ``xla`` (``jit_compile=True``), ``bf16`` (Keras policy
``mixed_bfloat16``; this CPU has AVX512-BF16/AMX), ``xla_bf16``, ``fp16`` and ``xla_fp16``
(``mixed_float16``, for GPUs). Peak memory is the GPU's peak when there is one, else the
process's peak resident memory. Each measurement runs in its own
process (the precision policy is process-wide); the paths of a family are measured in turn,
``--repeats`` times, and the best of each is kept, so a burst of load elsewhere does not decide a
ratio. Random inputs: the speed of a step does not depend on the pixels. Prints; asserts nothing.

    python bench/bench_precision.py                         # every family and path
    python bench/bench_precision.py --families gan,fg --steps 6 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from workers import run_worker  # bench/ is the scripts' own folder, first on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FAMILIES = ("depth_mnv2", "depth_irv2", "text", "gan", "fg")
PATHS = {"fp32": (False, "float32"), "xla": (True, "float32"), "bf16": (False, "mixed_bfloat16"),
         "xla_bf16": (True, "mixed_bfloat16"), "fp16": (False, "mixed_float16"), "xla_fp16": (True, "mixed_float16")}
#: Per profile and family: batch, input (height, width), and the width settings of the models.
SHAPES = {
    "cpu": {"depth": (8, (96, 128)), "text": (16, (160, 160), "tiny"), "fg": (2, 160, 16),
            "gan": dict(batch=4, image_size=64, filters=32, residual_blocks=6, downsamplings=1, disc_filters=16)},
    "full": {"depth": (16, (240, 320)), "text": (16, (256, 256), "irv2"), "fg": (32, 224, 32),
             "gan": dict(batch=1, image_size=256, filters=64, residual_blocks=9, downsamplings=2, disc_filters=64)},
}


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=",".join(FAMILIES), help=f"comma list of: {', '.join(FAMILIES)}")
    p.add_argument("--paths", default="fp32,xla,bf16,xla_bf16", help=f"comma list of: {', '.join(PATHS)}")
    p.add_argument("--profile", default="cpu", choices=sorted(SHAPES), help="whose shapes and batches (default cpu)")
    p.add_argument("--steps", type=int, default=8, help="timed train (and predict) steps per measurement")
    p.add_argument("--repeats", type=int, default=2, help="measurements of each path (best kept)")
    p.add_argument("--worker", nargs=2, metavar=("FAMILY", "PATH"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _build(family: str, jit: bool, profile: str = "cpu"):
    """(compiled model, train batch, predict inputs, images per batch) of a family."""
    import keras
    import numpy as np

    shapes = SHAPES[profile]
    rng = np.random.default_rng(0)

    def images(*shape):
        return rng.uniform(size=shape).astype("float32")

    if family.startswith("depth_"):
        from comicdepth_tf.models.depth_unet import build_depth_unet
        from comicdepth_tf.training import resolve_loss

        n, (h, w) = shapes["depth"]
        model = build_depth_unet("mobilenetv2" if family == "depth_mnv2" else "irv2", bn_momentum=0.9)
        model.compile(keras.optimizers.Adam(1e-3), loss=resolve_loss("log_depth"), jit_compile=jit)
        x = images(n, h, w, 3)
        return model, (x, rng.uniform(0.5, 10, size=(n, h, w, 1)).astype("float32")), x, n
    if family == "text":
        from comicdepth_tf.models.text_unet import build_text_unet
        from comicdepth_tf.text_detection import bce_dice_loss

        n, (h, w), encoder = shapes["text"]
        model = build_text_unet(encoder=encoder)
        model.compile(keras.optimizers.Adam(1e-3), loss=bce_dice_loss(), jit_compile=jit)
        x = images(n, h, w, 3)
        return model, (x, (images(n, h, w, 1) > 0.5).astype("float32")), x, n
    if family == "gan":
        from comicdepth_tf.models.cyclegan import build_cyclegan

        gan = dict(shapes["gan"])
        n, side = gan.pop("batch"), gan["image_size"]
        model = build_cyclegan("simple", seed=0, **gan)
        model.compile(jit_compile=jit)
        batch = (images(n, side, side, 3), images(n, side, side, 3))
        return model, batch, batch[0], n
    if family == "fg":
        from comicdepth_tf.models.fg_mask_depth import build_fg_mask_depth, make_losses

        n, side, base = shapes["fg"]
        model = build_fg_mask_depth(side, base_filters=base)
        model.compile(keras.optimizers.Adam(1e-3), loss=make_losses("bce+dice+rmse"), jit_compile=jit)
        x = {"bg": images(n, side, side, 3), "bg_fg": images(n, side, side, 3)}
        y = {"mask": (images(n, side, side, 1) > 0.5).astype("float32"),
             "depth": rng.uniform(0.5, 10, size=(n, side, side, 1)).astype("float32")}
        return model, (x, y), x, n
    raise SystemExit(f"unknown family {family!r}; expected one of {FAMILIES}")


def _peak_memory_gb() -> float:
    """The GPU's peak allocation when there is a GPU, else this process's peak resident memory."""
    import resource

    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def worker(family: str, path: str, steps: int, profile: str = "cpu") -> None:
    """Train and predict images per second of one family on one path, in this process."""
    import keras

    import comicdepth_tf.models  # noqa: F401 (the package's graph settings, as in training)

    jit, policy = PATHS[path]
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model, batch, inputs, n = _build(family, jit, profile)
    if family == "gan":  # its own train_step on (natural, comics), compiled as fit compiles it
        import tensorflow as tf

        step = tf.function(model.train_step, jit_compile=jit)
        data = tuple(tf.constant(b) for b in batch)
        train = lambda: step(data)  # noqa: E731
    else:
        train = lambda: model.train_on_batch(*batch)  # noqa: E731
    train(), train()  # trace and warm up
    start = time.perf_counter()
    for _ in range(steps):
        train()
    train_rate = steps * n / (time.perf_counter() - start)
    net = model.natural2comics if family == "gan" else model
    predict = keras.ops.convert_to_numpy
    fn = net.predict_on_batch if family != "gan" else (lambda a: predict(net(a, training=False)))
    fn(inputs), fn(inputs)
    start = time.perf_counter()
    for _ in range(steps):
        fn(inputs)
    print(json.dumps({"train": train_rate, "predict": steps * n / (time.perf_counter() - start),
                      "peak_gb": _peak_memory_gb()}))


def measure(family: str, path: str, steps: int, profile: str = "cpu") -> dict | None:
    return run_worker(__file__, "--steps", str(steps), "--profile", profile, "--worker", family, path)


def main(argv=None) -> int:
    args = _args(argv)
    if args.worker:
        worker(*args.worker, args.steps, args.profile)
        return 0
    paths = args.paths.split(",")
    print(f"{'family':11} {'path':9} {'train img/s':>11} {'predict img/s':>13} {'peak GB':>8} "
          f"{'train ratio':>11} {'predict ratio':>13}")
    for family in args.families.split(","):
        best: dict[str, dict] = {}
        for _ in range(max(1, args.repeats)):
            for path in paths:
                r = measure(family, path, args.steps, args.profile)
                if r is None:
                    continue
                b = best.setdefault(path, {"train": 0.0, "predict": 0.0, "peak_gb": r["peak_gb"]})
                b["train"], b["predict"] = max(b["train"], r["train"]), max(b["predict"], r["predict"])
        base = best.get("fp32")
        for path, b in best.items():
            ratios = (f"{b['train'] / base['train']:11.3f} {b['predict'] / base['predict']:13.3f}" if base else "")
            print(
                f"{family:11} {path:9} {b['train']:11.2f} {b['predict']:13.2f} {b['peak_gb']:8.2f} {ratios}", flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
