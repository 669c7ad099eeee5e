"""GPU check: every model family at its ``full``-profile size, with and without mixed precision and XLA.

For each family (IRv2 depth U-net 240×320 batch 16, IRv2 text U-net 256 px batch 16, the paper's
CycleGAN 256 px batch 1, the fg network 224 px batch 32) a few training and prediction steps on
each path — ``fp32``, ``xla``, ``fp16`` (``mixed_float16``), ``xla_fp16`` — printing images per
second, the GPU's peak memory and the ratios to ``fp32`` measured in the same run (the
measurement itself is :mod:`bench_precision`'s, one process per measurement).

On a machine without a GPU it says so and measures nothing (exit status 0); ``--cpu`` measures
the same table on the CPU anyway (slow at these sizes).

    python bench/gpu_check.py
    python bench/gpu_check.py --families depth_irv2,gan --steps 5
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_precision  # noqa: E402

FAMILIES = "depth_irv2,text,gan,fg"
PATHS = "fp32,xla,fp16,xla_fp16"


def gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees."""
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=FAMILIES)
    p.add_argument("--paths", default=PATHS)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--cpu", action="store_true", help="measure even without a GPU")
    args = p.parse_args(argv)
    found = gpus()
    if not found and not args.cpu:
        import tensorflow as tf

        print(f"no GPU: TensorFlow {tf.__version__} (built with CUDA: {tf.test.is_built_with_cuda()}) lists no GPU "
              "device, so nothing was measured. Run this on a machine with an NVIDIA GPU and a CUDA build of "
              "TensorFlow (pip install 'tensorflow[and-cuda]'), or pass --cpu.")
        return 0
    print(f"devices: {', '.join(found) or 'CPU only'}")
    return bench_precision.main(["--profile", "full", "--families", args.families, "--paths", args.paths,
                                 "--steps", str(args.steps), "--repeats", str(args.repeats)])


if __name__ == "__main__":
    sys.exit(main())
