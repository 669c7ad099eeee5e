"""Translate images between the natural and comics domains; approach 1 (comics → natural → depth).

Approach 1 of seed 001 (B.III, C.IV.a–b): a trained CycleGAN's comics→natural generator turns a
comics image into a fake natural image, and the natural depth model — unchanged — predicts its
depth, which is taken as the depth of the comics image. The same code serves the ``simple`` and
the ``depth_aware`` CycleGAN (only the generator differs).

* :func:`translate_images` — run a generator on images of any size (each is resized to the
  generator's square training size and, by default, the result back to the image's size).
* :func:`predict_depth_maps` — a depth model on images of any size, through
  :func:`comicdepth_tf.inference.predict_depth` (aspect kept, one ``(H, W)`` map per image at
  its own size).
* :func:`comics_to_depth` — approach 1 for a list of comics images.
* ``comicdepth translate INPUT… --run RUN --direction comics2natural|natural2comics --out DIR
  [--depth-run RUN] [--overwrite]`` — the command line (:func:`cli_main`): ``<name>_translated.png``
  and, with a depth run, ``<name>_depth.png`` and ``<name>_depth_color.png`` written as
  ``predict`` writes them, plus ``translate_manifest.json``; runs, names, progress, manifest and
  exit status follow :mod:`comicdepth_tf.outputs`.

A CycleGAN run folder (``saved_models/cyclegan_<variant>/<run_id>/``) holds
``generator_natural2comics.keras`` and ``generator_comics2natural.keras`` and, in
``config.json``, the training side ``image_size``. TensorFlow is imported only inside the
functions that run models.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import ParameterError
from comicdepth_tf.outputs import (
    SUFFIXES,
    Report,
    add_command_arguments,
    each_image,
    expand_inputs,
    manifest_path,
    previous_manifest,
    run_command,
    run_record,
    write_manifest,
)
from comicdepth_tf.runs import DEPTH_FILES, resolve_run

DIRECTIONS = ("comics2natural", "natural2comics")
#: CycleGAN variants (``saved_models/cyclegan_<variant>``) whose runs hold both generators.
GAN_VARIANTS = ("simple", "depth_aware", "without_text")
#: A folder holding one of these is a run folder of some kind (GAN or depth).
RUN_FILES = ("config.json", *DEPTH_FILES)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_generator(run: str | os.PathLike, direction: str = "comics2natural", model_name: str = "cyclegan_simple"):
    """Load one generator of a CycleGAN run (or the ``add_text`` generator of an add-text run).

    Args:
        run: a run folder, a run id under ``saved_models/<model_name>`` or ``latest-<profile>``
            (see :func:`comicdepth_tf.runs.resolve_run`).
        direction: ``comics2natural``, ``natural2comics`` or ``add_text``.
        model_name: where run ids are looked up (``cyclegan_<variant>``).
    """
    from comicdepth_tf.models import cyclegan  # registers ReflectionPadding2D before loading
    from comicdepth_tf.models.registry import load_model

    files = {**cyclegan.CYCLEGAN_FILES, **cyclegan.ADD_TEXT_FILES}
    if direction not in (*DIRECTIONS, "add_text"):
        raise ParameterError(f"direction must be one of {DIRECTIONS + ('add_text',)}, got {direction!r}")
    return load_model(resolve_run(run, model_name, files=(files[direction],)), file=files[direction])


def run_image_size(run: str | os.PathLike, default: int | None = None) -> int | None:
    """The side a run's network is run at, from its ``config.json``.

    Depth runs record ``predict_size`` (the longer training side) and ``input_size`` ``[h, w]``;
    GAN and tiny depth runs record ``image_size``. A depth model must never fall back to a GAN's
    side: IRv2's reduction blocks fail below 75 px.
    """
    from comicdepth_tf.inference import recorded_size

    path = resolve_run(run, "cyclegan_simple", files=RUN_FILES) / "config.json"
    config = fileio.read_json(path) if path.is_file() else {}
    if not isinstance(config, dict):
        return default
    recorded = recorded_size(config)
    if recorded:
        return int(max(recorded)) if isinstance(recorded, tuple) else recorded
    for key in ("image_size", "IMAGE_SIZE"):
        if isinstance(config.get(key), int):
            return int(config[key])
    return default


def depth_output(depth_model) -> str:
    """The output convention of a depth model (``metric``, ``inverse``, ``relative``); ``metric`` if unknown."""
    from comicdepth_tf.models.layers import DepthHead, walk_layers

    for layer in walk_layers(depth_model):
        if isinstance(layer, DepthHead):
            return layer.output_convention
    return "metric"


def nearness(depth, output: str):
    """A map where larger means nearer: ``-depth`` for metric/relative depth, inverse depth as is."""
    return np.asarray(depth) if output == "inverse" else -np.asarray(depth)


# --------------------------------------------------------------------------------------------
# Running models on images of any size
# --------------------------------------------------------------------------------------------


def as_float_images(images) -> list[np.ndarray]:
    """Images (uint8 0–255 or float 0–1; a list or an ``(N, H, W, 3)`` array) as float32 ``[0, 1]``."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    out = []
    for i, image in enumerate(images):
        a = np.asarray(image)
        if a.ndim != 3 or a.shape[2] != 3:
            raise ParameterError(f"image {i}: expected (H, W, 3), got shape {a.shape}")
        out.append(a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32))
    return out


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] >= height and image.shape[1] >= width
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    # OpenCV drops a single channel: put it back when the input had one.
    return out[..., None] if out.ndim == 2 and image.ndim == 3 else out


def _run(model, images: list[np.ndarray], size: int, batch_size: int, keep_size: bool) -> list[np.ndarray]:
    if size is None or int(size) < 1:
        raise ParameterError(f"size must be a positive number of pixels, got {size!r}")
    size = int(size)
    outputs: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = np.stack([_resize(im, size, size) for im in chunk])
        result = np.asarray(model(batch, training=False), dtype=np.float32)
        for image, out in zip(chunk, result):
            outputs.append(_resize(out, *image.shape[:2]) if keep_size else out)
    return outputs


def translate_images(generator, images, size: int, batch_size: int = 8, keep_size: bool = True) -> list[np.ndarray]:
    """Translate images with a CycleGAN generator.

    Args:
        generator: a generator model (``[0, 1]`` in and out).
        images: uint8 or float images, a list or an ``(N, H, W, 3)`` array.
        size: the generator's square side (its training size, a multiple of ``2 ** downsamplings``).
        batch_size: images per model call.
        keep_size: resize each translation back to its image's size (else ``size × size``).

    Returns:
        One float32 ``(H, W, 3)`` image in ``[0, 1]`` per input.
    """
    return [np.clip(t, 0.0, 1.0) for t in _run(generator, as_float_images(images), size, batch_size, keep_size)]


def predict_depth_maps(depth_model, images, size: int, batch_size: int = 8, *, predict_fn=None) -> list[np.ndarray]:
    """Depth maps, in the model's own convention, one ``(H, W)`` float32 array per image, at its size.

    A thin wrapper of :func:`comicdepth_tf.inference.predict_depth`: each image is resized for
    the network keeping its aspect ratio ("upper-bound" resize: the longer side becomes ``size``,
    the shorter one at least the encoder's minimum, sides multiples of 8), predicted, and the
    prediction resized back to the image's size (bilinear). Nothing is squashed to a square.

    Args:
        depth_model: the natural depth model.
        images: uint8 or float images, a list or an ``(N, H, W, 3)`` array.
        size: the network bound, normally the depth model's training side.
        batch_size: images per forward pass (images of one network size share a batch).
        predict_fn: a traced forward pass from :func:`comicdepth_tf.inference.make_predict_fn`
            to reuse across calls (tracing costs seconds).
    """
    from comicdepth_tf.inference import predict_depth

    if size is None or int(size) < 1:
        raise ParameterError(f"size must be a positive number of pixels, got {size!r}")
    return predict_depth(depth_model, as_float_images(images), size=int(size), batch_size=batch_size,
                         predict_fn=predict_fn)


def comics_to_depth(images, generator, depth_model, *, size: int, depth_size: int | None = None, batch_size: int = 8,
                    return_translations: bool = False, predict_fn=None):
    """Approach 1: comics → natural with ``generator``, then depth with the natural ``depth_model``.

    The generator runs at its square training side and its translation is resized back to the
    comics image's size, so the depth model sees the panel's true proportions; the depth model
    then runs with :func:`predict_depth_maps` (aspect kept, map at the image's size).

    Args:
        images: comics images (uint8 or float), a list or an array.
        generator: the comics→natural generator of a ``simple`` or ``depth_aware`` CycleGAN.
        depth_model: the natural depth model.
        size: the generator's side.
        depth_size: the depth model's network bound (default ``size``).
        batch_size: images per model call.
        return_translations: also return the fake natural images (at each image's size).
        predict_fn: a traced depth forward pass to reuse (see :func:`predict_depth_maps`).

    Returns:
        A list of ``(H, W)`` depth maps (each comics image's size) in the depth model's
        convention, or ``(depths, translations)``.
    """
    fake_natural = translate_images(generator, images, size, batch_size, keep_size=True)
    depth = predict_depth_maps(depth_model, fake_natural, depth_size or size, batch_size, predict_fn=predict_fn)
    return (depth, fake_natural) if return_translations else depth


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth translate``."""
    add_command_arguments(parser, "CycleGAN run (saved_models/cyclegan_<variant>)")
    parser.add_argument("--variant", choices=GAN_VARIANTS, default="simple",
                        help="CycleGAN variant: run ids and latest-<profile> are looked up in "
                             "saved_models/cyclegan_<variant> (default simple)")
    parser.add_argument("--direction", choices=DIRECTIONS, default="comics2natural", help="translation direction")
    parser.add_argument("--depth-run", default=None,
                        help="also predict the depth of each translation (approach 1 for comics2natural) with this "
                             "saved depth run (saved_models/depth_irv2): a run folder, a run id or latest-<profile>; "
                             "writes <name>_depth.png and <name>_depth_color.png as predict does")
    parser.add_argument("--size", type=int, default=None, help="generator side in px (default: the run's image_size)")
    parser.add_argument(
        "--depth-size", type=int, default=None, help="depth model side in px (default: its run's, else --size)"
    )
    parser.add_argument("--batch-size", type=int, default=8)


@dataclass
class _Models:
    """The models of one ``translate`` command and where they came from."""

    generator: Any
    run_dir: Path
    size: int
    depth: Any = None
    depth_dir: Path | None = None
    depth_size: int | None = None


def _load_models(args: argparse.Namespace) -> _Models:
    """Resolve both runs (before loading either, so a wrong one fails at once), then load them."""
    from comicdepth_tf.inference import MODEL_NAME, load_depth_model
    from comicdepth_tf.models.cyclegan import CYCLEGAN_FILES

    run_dir = resolve_run(args.run, f"cyclegan_{args.variant}", files=(CYCLEGAN_FILES[args.direction],))
    depth_dir = resolve_run(args.depth_run, MODEL_NAME, files=DEPTH_FILES) if args.depth_run else None
    size = args.size or run_image_size(run_dir)
    if size is None:
        raise ParameterError(f"{run_dir / 'config.json'} records no image_size: give --size")
    models = _Models(load_generator(run_dir, args.direction), run_dir, size)
    if depth_dir is not None:
        models.depth, models.depth_dir = load_depth_model(depth_dir)[0], depth_dir
        models.depth_size = args.depth_size or run_image_size(depth_dir, size)
    return models


def _manifest_values(args: argparse.Namespace, models: _Models, writer) -> dict:
    values = {"direction": args.direction, "size": models.size, "depth_run": None}
    if writer is not None:
        values.update(depth_run=run_record(args.depth_run, models.depth_dir), depth_size=models.depth_size,
                      **writer.manifest_values(models.depth.name))
    return values


def _translate_command(args: argparse.Namespace) -> Report:
    from comicdepth_tf.inference import DEPTH_SAME, DepthWriter, head_info, make_predict_fn

    manifest = manifest_path(args.out, "translate")
    previous = previous_manifest(manifest, args.overwrite)
    models = _load_models(args)
    writer = DepthWriter(head_info(models.depth)) if models.depth is not None else None
    forward = make_predict_fn(models.depth) if writer is not None else None
    roles = ["translated"] + (["depth", "color"] if writer is not None else [])
    report = Report("translate", Path(args.out), quiet=args.quiet)
    found, problems = expand_inputs(args.inputs, args.recursive)
    plan = report.plan(found, problems, Path(args.out), ["{}" + SUFFIXES[role] for role in roles], args.overwrite)

    def write(image: np.ndarray, files: dict[str, Path]) -> dict:
        translated = translate_images(models.generator, [image], models.size, args.batch_size)[0]
        fileio.write_image(files["translated"], (translated * 255.0).round().astype(np.uint8))
        if writer is None:
            return {}
        depth = predict_depth_maps(models.depth, [translated], models.depth_size, predict_fn=forward)[0]
        return writer.write(depth, {role: files[role] for role in ("depth", "color")})

    t0 = time.perf_counter()
    each_image(report, found, plan, roles, write)
    report.seconds = time.perf_counter() - t0
    record = report.manifest_record(args.inputs, run_record(args.run, models.run_dir),
                                    **_manifest_values(args, models, writer))
    report.manifest = write_manifest(manifest, record, previous, DEPTH_SAME + ("direction", "depth_run"))
    return report


def cli_main(args: argparse.Namespace) -> int:
    """Run ``comicdepth translate``: 0 when every input was translated, 1 when any failed, 2 on bad arguments."""
    return run_command("translate", args.out, lambda: _translate_command(args))
