"""Depth inference and training input throughput: what the pipelines cost next to the model.

Two ratios, each measured in one run with the same model, batch and size:

1. ``predict`` end to end (image files in → 16-bit PNG + colour PNG out, through
   :func:`comicdepth_tf.inference.predict_files`) over the model-only forward pass on in-memory
   tensors. Decoding and writing overlap with the forward pass (tf.data parallel decoding,
   writer threads), so the ratio should be ≥ 0.85.
2. Training steps per second with the disk pipeline (decode + augment every epoch, no cache)
   over steps with cached in-memory tensors. Target ≥ 0.9.

Both throughputs of a pair are measured alternately, ``--repeats`` times each, and the best of
each is kept, so that a burst of load from other processes does not decide the ratio. The script
prints; it asserts nothing.

    python bench/bench_depth.py                       # IRv2 (random weights), embedded cpu NYU images
    python bench/bench_depth.py --encoder tiny --images 32 --steps 10   # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="irv2", help="irv2 (default) or tiny")
    p.add_argument("--profile", default="cpu", help="embedded dataset whose NYU images are used (default cpu: 160x120)")
    p.add_argument("--size", type=int, nargs=2, default=(120, 160), metavar=("H", "W"),
                   help="network / training size (default 120 160, the cpu images' own size)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--images", type=int, default=64, help="files predicted per measurement")
    p.add_argument("--steps", type=int, default=12, help="training steps per measurement")
    p.add_argument("--repeats", type=int, default=2, help="alternating measurements of each throughput")
    p.add_argument("--writers", type=int, default=2, help="writer threads of predict")
    return p.parse_args(argv)


def _alternate(reference, candidate, count: int, repeats: int) -> dict[str, float]:
    """Run two measurements alternately; the best rate of each, by wall clock and by CPU time.

    Each function returns ``(wall seconds, process CPU seconds)`` for ``count`` items. The CPU
    rate (items per CPU-second of this process) is insensitive to other processes' load, a
    useful companion to the wall-clock ratio on a shared machine.
    """
    ref, cand = [], []
    for _ in range(repeats):
        ref.append(reference())
        cand.append(candidate())
    return {"ref": max(count / w for w, _ in ref), "cand": max(count / w for w, _ in cand),
            "ref_cpu": max(count / c for _, c in ref), "cand_cpu": max(count / c for _, c in cand)}


def bench_predict(model, files, args) -> dict[str, float]:
    """Model-only (``ref``) and end-to-end (``cand``) images/s, best of ``repeats`` alternating runs."""
    import numpy as np

    from comicdepth_tf import inference

    h, w = args.size
    size = max(h, w)
    # The same network size as the files get (their own size when it is the default).
    net = inference.network_size(h, w, size, inference.encoder_min_input(model))
    forward = inference.make_predict_fn(model)
    rng = np.random.default_rng(0)
    batches = [rng.random((args.batch_size, *net, 3), dtype=np.float32) for _ in range(len(files) // args.batch_size)]
    forward(batches[0])  # trace once; every later call reuses the graph

    def model_only() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        for batch in batches:
            forward(batch)
        return time.perf_counter() - t0, time.process_time() - c0

    def end_to_end() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as out:
            t0, c0 = time.perf_counter(), time.process_time()
            summary = inference.predict_files(model, files[: len(batches) * args.batch_size], out, size=size,
                                              batch_size=args.batch_size, writers=args.writers, predict_fn=forward)
            seconds = time.perf_counter() - t0, time.process_time() - c0
        if summary.failed:
            raise RuntimeError(summary.text())
        return seconds

    n = len(batches) * args.batch_size
    return _alternate(model_only, end_to_end, n, args.repeats)


def bench_training(records, args) -> dict[str, float]:
    """Cached-tensor (``ref``) and disk-pipeline (``cand``) steps/s, best of ``repeats`` alternating runs."""
    import keras
    import tensorflow as tf

    from comicdepth_tf.data import pipelines
    from comicdepth_tf.models.depth_unet import build_depth_unet
    from comicdepth_tf.stages import depth as de
    from comicdepth_tf.training import resolve_loss

    size, batch, steps = tuple(args.size), args.batch_size, args.steps
    keras.utils.set_random_seed(0)
    model = build_depth_unet(args.encoder, bn_momentum=0.9)
    model.compile(keras.optimizers.Adam(1e-4), loss=resolve_loss("depth"))
    model.optimizer.build(model.trainable_variables)

    n = min(len(records), max(batch * steps, batch))
    images, depth = de.load_arrays(records[:n], size)
    cached = tf.data.Dataset.from_tensor_slices((images, depth[..., None])).shuffle(n, seed=0).repeat()
    cached = cached.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    disk = de.make_dataset(records, size=size, batch_size=batch, training=True, augment=True, cache=False).repeat()

    def run(ds) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        with pipelines.data_errors():
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return time.perf_counter() - t0, time.process_time() - c0

    run(cached.take(2 * batch).repeat())  # trace the train step
    run(disk)
    return _alternate(lambda: run(cached), lambda: run(disk), steps, args.repeats)


def main(argv=None) -> int:
    args = _args(argv)
    import keras

    from comicdepth_tf.data import synthetic
    from comicdepth_tf.data.formats import nyu
    from comicdepth_tf.models.depth_unet import build_depth_unet

    root = synthetic.ensure_dataset(args.profile)
    splits = nyu.load_nyu(root / "nyu")
    files = [r.rgb_path for r in (splits["test"] + splits["train"])[: args.images]]
    print(f"encoder {args.encoder}, size {args.size[0]}x{args.size[1]}, batch {args.batch_size}, "
          f"{len(files)} files from {root / 'nyu'}, cpu cores {os.cpu_count()}", flush=True)

    keras.utils.set_random_seed(0)
    model = build_depth_unet(args.encoder, bn_momentum=0.9)
    c0 = time.process_time()
    p = bench_predict(model, files, args)
    print(f"predict: model-only {p['ref']:.2f} img/s, end-to-end files->PNGs {p['cand']:.2f} img/s "
          f"(per CPU-second: {p['ref_cpu']:.2f} vs {p['cand_cpu']:.2f})", flush=True)
    print(f"predict ratio (end-to-end / model-only): {p['cand'] / p['ref']:.3f}   (target >= 0.85; "
          f"by CPU time {p['cand_cpu'] / p['ref_cpu']:.3f})", flush=True)

    t = bench_training(splits["train"], args)
    print(f"training: cached tensors {t['ref']:.3f} steps/s, disk pipeline {t['cand']:.3f} steps/s "
          f"(per CPU-second: {t['ref_cpu']:.3f} vs {t['cand_cpu']:.3f})", flush=True)
    print(f"training ratio (disk / cached): {t['cand'] / t['ref']:.3f}   (target >= 0.9; "
          f"by CPU time {t['cand_cpu'] / t['ref_cpu']:.3f})", flush=True)
    print(f"process CPU time {time.process_time() - c0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
