"""Versions and devices of the running environment (``comicdepth env``).

TensorFlow is imported only inside :func:`report`, so importing this module stays fast.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: reported name -> distribution names tried, in order, for its version.
PACKAGES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "numpy": ("numpy",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
    "pandas": ("pandas",),
    "matplotlib": ("matplotlib",),
    "pycocotools": ("pycocotools",),
    "papermill": ("papermill",),
    "nbconvert": ("nbconvert",),
    "ipykernel": ("ipykernel",),
}
_IMPORT_NAMES = {"opencv": "cv2"}


def package_version(name: str) -> str | None:
    """Installed version of a package (None when not installed).

    Reads the distribution metadata first, so nothing heavy is imported; falls back to the
    module's ``__version__``.
    """
    for dist in PACKAGES.get(name, (name,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        return getattr(importlib.import_module(_IMPORT_NAMES.get(name, name)), "__version__", "unknown")
    except ImportError:
        return None


#: Libraries whose version is part of :func:`source_digest` (a new TensorFlow can change the numbers).
LIBRARIES = ("tensorflow", "keras", "numpy", "opencv-python-headless", "scipy", "pandas")


def source_digest(package_dir: str | os.PathLike | None = None) -> str:
    """SHA-256 over the package's files (code and shipped data such as the real-page check, by
    relative path and content) and the versions of :data:`LIBRARIES`: what a stage's fingerprint
    and a training run's identity record of the code that made them (about 30 ms).
    """
    from comicdepth_tf import paths

    root = Path(package_dir) if package_dir else paths.PACKAGE_DIR
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    for name in LIBRARIES:
        try:
            digest.update(f"{name}=={metadata.version(name)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent\n".encode())
    return digest.hexdigest()


def report(with_tensorflow: bool = True) -> dict[str, Any]:
    """Versions, devices and precision policy of this environment.

    Args:
        with_tensorflow: import TensorFlow to list devices and the mixed-precision policy
            (a few seconds); False reports versions only.

    Returns:
        ``python``, ``executable``, ``prefix``, ``platform``, ``packages`` (name -> version or
        None), ``devices`` (list of ``{"name", "type"}``), ``gpu`` (bool), ``mixed_precision``
        (policy name) and ``tensorflow_error`` when TensorFlow failed to import.
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "devices": [],
        "gpu": False,
        "mixed_precision": None,
    }
    if not with_tensorflow:
        return info
    try:
        import keras
        import tensorflow as tf

        info["packages"]["tensorflow"] = tf.__version__
        info["packages"]["keras"] = keras.__version__
        info["devices"] = [{"name": d.name, "type": d.device_type}
                           for d in tf.config.list_physical_devices()]
        info["gpu"] = any(d["type"] == "GPU" for d in info["devices"])
        info["mixed_precision"] = keras.mixed_precision.global_policy().name
    except Exception as exc:  # report the problem instead of failing the report
        info["tensorflow_error"] = f"{type(exc).__name__}: {exc}"
    return info


def format_report(info: dict[str, Any]) -> str:
    """The report as aligned text lines."""
    lines = [f"python           {info['python']} ({info['executable']})",
             f"prefix           {info['prefix']}",
             f"platform         {info['platform']}"]
    for name, version in info["packages"].items():
        lines.append(f"{name:<16} {version or 'not installed'}")
    devices = ", ".join(f"{d['type']}:{d['name']}" for d in info["devices"]) or "(not checked)"
    lines.append(f"devices          {devices}")
    lines.append(f"mixed precision  {info['mixed_precision']}")
    if info.get("tensorflow_error"):
        lines.append(f"tensorflow error {info['tensorflow_error']}")
    return "\n".join(lines)


def print_report(with_tensorflow: bool = True) -> dict[str, Any]:
    """Print :func:`report` as text and return it."""
    info = report(with_tensorflow)
    print(format_report(info))
    return info


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth env``."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-tensorflow", dest="with_tensorflow", action="store_false",
                        help="versions only: do not import TensorFlow to list devices")


def cli_main(args: argparse.Namespace) -> int:
    """Print the environment report."""
    if args.json:
        print(json.dumps(report(args.with_tensorflow), indent=2))
    else:
        print_report(args.with_tensorflow)
    return 0
