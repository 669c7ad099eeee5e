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
* ``comicdepth translate INPUT… --run RUN_DIR --direction comics2natural|natural2comics --out DIR
  [--depth-run RUN_DIR] [--overwrite]`` — the command line (:func:`cli_main`); its output files
  follow the rule of :mod:`comicdepth_tf.outputs` (unique names, inputs never overwritten,
  existing files kept unless ``--overwrite``).

A CycleGAN run folder (``saved_models/cyclegan_<variant>/<run_id>/``) holds
``generator_natural2comics.keras`` and ``generator_comics2natural.keras`` and, in
``config.json``, the training side ``image_size``. TensorFlow is imported only inside the
functions that run models.
"""

from __future__ import annotations

import argparse
import io as _stdio
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from comicdepth_tf import io
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.outputs import add_overwrite_argument, out_dir_refused, plan_outputs

DIRECTIONS = ("comics2natural", "natural2comics")
DEPTH_FILES = ("model.keras", "best.keras", "last.keras")
#: Files the command writes per input (``str.format`` patterns of its output name).
TRANSLATION_FILE = "{}.png"
DEPTH_MAP_FILES = {"metric": "{}_depth.png", "inverse": "{}_depth.npy", "relative": "{}_depth.npy"}
DEPTH_VIS_FILE = "{}_depth_vis.png"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def resolve_run(run: str | os.PathLike) -> Path:
    """A run folder from a path, or from a path relative to ``saved_models/`` (``cyclegan_simple/<id>``).

    Raises:
        DataFormatError: when neither exists.
    """
    from comicdepth_tf.paths import models_dir

    path = Path(run).expanduser()
    if path.is_dir():
        return path
    under = models_dir() / path
    if under.is_dir():
        return under
    raise DataFormatError(path, "", f"a run folder (a path, or a path under {models_dir()})")


def load_generator(run: str | os.PathLike, direction: str = "comics2natural"):
    """Load one generator of a CycleGAN run (or the ``add_text`` generator of an add-text run).

    Args:
        run: the run folder (see :func:`resolve_run`).
        direction: ``comics2natural``, ``natural2comics`` or ``add_text``.
    """
    from comicdepth_tf.models import cyclegan  # registers ReflectionPadding2D before loading
    from comicdepth_tf.models.registry import load_model

    files = {**cyclegan.CYCLEGAN_FILES, **cyclegan.ADD_TEXT_FILES}
    if direction not in (*DIRECTIONS, "add_text"):
        raise ParameterError(f"direction must be one of {DIRECTIONS + ('add_text',)}, got {direction!r}")
    return load_model(resolve_run(run), file=files[direction])


def load_depth_model(run: str | os.PathLike):
    """Load a natural depth model from its run folder (``model.keras``, else ``best.keras``, ``last.keras``)."""
    from comicdepth_tf.models.registry import load_model

    folder = resolve_run(run)
    for name in DEPTH_FILES:
        if (folder / name).is_file():
            return load_model(folder, file=name)
    raise DataFormatError(folder, "", f"a saved depth model ({', '.join(DEPTH_FILES)})")


def run_image_size(run: str | os.PathLike, default: int | None = None) -> int | None:
    """The side a run's network is run at, from its ``config.json``.

    Depth runs record ``predict_size`` (the longer training side) and ``input_size`` ``[h, w]``;
    GAN and tiny depth runs record ``image_size``. A depth model must never fall back to a GAN's
    side: IRv2's reduction blocks fail below 75 px.
    """
    from comicdepth_tf.inference import recorded_size

    path = resolve_run(run) / "config.json"
    config = io.read_json(path) if path.is_file() else {}
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
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("--run", required=True, help="CycleGAN run folder (or a path under saved_models/)")
    parser.add_argument("--direction", choices=DIRECTIONS, default="comics2natural", help="translation direction")
    parser.add_argument("--out", required=True, help="output folder (<stem>.png, plus depth with --depth-run)")
    parser.add_argument("--depth-run", default=None,
                        help="natural depth model run folder: also write the depth of each translation "
                             "(approach 1 for comics2natural): <stem>_depth.png (uint16 mm) for metric models, "
                             "else <stem>_depth.npy, and <stem>_depth_vis.png")
    parser.add_argument("--size", type=int, default=None, help="generator side in px (default: the run's image_size)")
    parser.add_argument("--depth-size", type=int, default=None, help="depth model side in px (default: its run's, else --size)")
    parser.add_argument("--batch-size", type=int, default=8)
    add_overwrite_argument(parser)


def _output_patterns(output: str | None) -> list[str]:
    """The files of one input: the translation, then with a depth model its map and its picture."""
    return [TRANSLATION_FILE] + ([DEPTH_MAP_FILES[output], DEPTH_VIS_FILE] if output else [])


def _write_depth(map_path: Path, vis_path: Path, depth: np.ndarray, output: str) -> None:
    from comicdepth_tf.viz import colorize_depth

    if output == "metric":
        io.write_depth_png16(map_path, np.maximum(depth, 0.0))
    else:
        buffer = _stdio.BytesIO()
        np.save(buffer, depth.astype(np.float32))
        io.atomic_write_bytes(map_path, buffer.getvalue())
    # Near is bright either way: depth-like maps with the reversed colormap, inverse depth with the plain one.
    vis = colorize_depth(depth, cmap="magma" if output == "inverse" else "magma_r")
    io.write_image(vis_path, vis)


def _load_models(args: argparse.Namespace) -> tuple[Any, int, Any, int | None]:
    """``(generator, size, depth model or None, depth size or None)`` of the command's arguments."""
    generator = load_generator(args.run, args.direction)
    size = args.size or run_image_size(args.run)
    if size is None:
        raise ParameterError("the run's config.json has no image_size: give --size")
    depth_model = depth_size = None
    if args.depth_run:
        depth_model = load_depth_model(args.depth_run)
        depth_size = args.depth_size or run_image_size(args.depth_run, size)
    return generator, size, depth_model, depth_size


def cli_main(args: argparse.Namespace) -> int:
    """Run ``comicdepth translate``; 0 when every input was translated, 2 for an ``--out`` that is a file, else 1.

    Every input is reported: ``INPUT -> OUTPUT`` on stdout, or ``skipped INPUT: reason`` on stderr.
    """
    from comicdepth_tf.text_detection import expand_inputs

    if out_dir_refused("translate", args.out):
        return 2
    try:
        generator, size, depth_model, depth_size = _load_models(args)
    except (DataFormatError, ParameterError) as exc:
        print(f"translate: {exc}", file=sys.stderr)
        return 1
    files, problems = expand_inputs(args.inputs)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = depth_output(depth_model) if depth_model is not None else None
    plan = plan_outputs(files, [p.stem for p in files], out_dir, _output_patterns(output), overwrite=args.overwrite)
    problems += [(str(files[i]), str(err)) for i, err in plan.errors.items()]
    done = []
    for index, path in enumerate(files):
        if index in plan.errors:
            continue
        try:
            image = io.read_image(path)
        except DataFormatError as exc:
            problems.append((str(path), str(exc)))
            continue
        translated = translate_images(generator, [image], size, args.batch_size)[0]
        targets = plan.files[index]
        io.write_image(targets[0], (translated * 255.0).round().astype(np.uint8))
        if depth_model is not None:
            _write_depth(*targets[1:], predict_depth_maps(depth_model, [translated], depth_size)[0], output)
        done.append((path, targets[0]))
    for path, target in done:
        print(f"{path} -> {target}")
    for item, reason in problems:
        print(f"skipped {item}: {reason}", file=sys.stderr)
    print(f"translated {len(done)} image(s) {args.direction} into {out_dir}" + (f" with depth ({output})" if output else "")
          + f"; skipped {len(problems)}")
    return 0 if done and not problems else 1
