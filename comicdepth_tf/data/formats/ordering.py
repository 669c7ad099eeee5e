"""ComicsDepth depth-ordering files and the ``panels/<split>/`` layout that pairs them with crops.

An ordering file holds one point per line, ``l1 l2 x y`` separated by spaces: the object level,
the intra-object level (both 1-based, smaller = nearer), the column and the row (0-based pixel
indices, as the ComicsDepth evaluation indexes ``prediction[y][x]``). Blank lines are ignored.

Panel layout (ComicsDepth "cropped" folders, and the embedded dataset)::

    <split>/images/<stem>.<ext>      the panel crop
    <split>/depth/<stem>.txt         its ordering points
    <split>/depth_gt/<stem>.png      dense depth, uint16 millimetres (optional folder)
    <split>/text_masks/<stem>.png    text mask, 0/255 (optional folder)

When an optional folder exists, every panel must have a file in it. A file that is a symlink
leading outside ``<split>/`` is refused.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import atomic_write_text, check_inside, list_images

from .coco_images import image_size
from .text_fields import parse_int

FIELDS = ("l1", "l2", "x", "y")


@dataclass(frozen=True, eq=False)
class OrderingPoints:
    """Ordering points of one image as parallel ``int64`` arrays.

    Attributes:
        l1: object level per point (1-based, smaller = nearer).
        l2: intra-object level per point (1-based, smaller = nearer).
        x: column per point (0-based).
        y: row per point (0-based).
    """

    l1: np.ndarray
    l2: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, f)) for f in FIELDS]
        if any(a.ndim != 1 for a in arrays) or len({a.shape[0] for a in arrays}) != 1:
            raise ParameterError(
                f"OrderingPoints: l1, l2, x, y must be 1-D arrays of one length, got shapes {[a.shape for a in arrays]}"
            )
        for name, a in zip(FIELDS, arrays):
            if a.size and not np.issubdtype(a.dtype, np.integer):
                if not np.all(np.asarray(a, dtype=np.float64) == np.round(np.asarray(a, dtype=np.float64))):
                    raise ParameterError(f"OrderingPoints: {name} must hold integers, got {a.dtype}")
            object.__setattr__(self, name, a.astype(np.int64))

    def __len__(self) -> int:
        return int(self.l1.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderingPoints):
            return NotImplemented
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in FIELDS)


@dataclass(frozen=True)
class OrderedPanel:
    """One panel crop with its ordering points and optional dense extras.

    Attributes:
        name: the shared file stem.
        image: the panel image file.
        ordering: the ``depth/<stem>.txt`` file.
        points: the parsed ordering points.
        depth_gt: dense depth PNG (uint16 mm) or None.
        text_mask: text mask PNG or None.
    """

    name: str
    image: Path
    ordering: Path
    points: OrderingPoints
    depth_gt: Path | None = None
    text_mask: Path | None = None


def read_ordering(path: str | os.PathLike, *, width: int | None = None, height: int | None = None) -> OrderingPoints:
    """Read a ComicsDepth ordering file.

    Args:
        path: the ``.txt`` file.
        width: image width; when given, ``x`` must be in ``[0, width)``.
        height: image height; when given, ``y`` must be in ``[0, height)``.

    Returns:
        The points, in file order.

    Raises:
        DataFormatError: naming the file and line for a wrong field count, a non-integer, a
            level below 1, a negative coordinate or a point outside the image.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing ordering file") from None
    except UnicodeDecodeError:
        raise DataFormatError(path, "", "a UTF-8 text file of 'l1 l2 x y' lines") from None
    limits = {"x": width, "y": height}
    rows: list[list[int]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise DataFormatError(path, f"line {lineno}", "4 space-separated integers 'l1 l2 x y'", line)
        row = []
        for name, raw in zip(FIELDS, parts):
            value = parse_int(raw, path, f"line {lineno} field {name}")
            _check_value(path, lineno, name, value, limits.get(name))
            row.append(value)
        rows.append(row)
    table = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return OrderingPoints(*(table[:, i] for i in range(4)))


def _check_value(path: Path, lineno: int, name: str, value: int, limit: int | None) -> None:
    field = f"line {lineno} field {name}"
    if name in ("l1", "l2"):
        if value < 1:
            raise DataFormatError(path, field, "a level >= 1 (levels are 1-based, smaller = nearer)", value)
        return
    if value < 0:
        raise DataFormatError(path, field, "a non-negative pixel coordinate", value)
    if limit is not None and value >= limit:
        side = "width" if name == "x" else "height"
        raise DataFormatError(path, field, f"a coordinate in [0, {limit - 1}] (image {side} {limit})", value)


def write_ordering(path: str | os.PathLike, points: OrderingPoints) -> Path:
    """Write ordering points atomically in the ComicsDepth format (``l1 l2 x y`` per line).

    Raises:
        ParameterError: when a level is below 1 or a coordinate is negative (the file would
            not read back).
    """
    if len(points) and (points.l1.min() < 1 or points.l2.min() < 1):
        raise ParameterError("write_ordering: levels l1 and l2 must be >= 1 (1-based)")
    if len(points) and (points.x.min() < 0 or points.y.min() < 0):
        raise ParameterError("write_ordering: coordinates x and y must be >= 0")
    lines = [f"{a} {b} {c} {d}\n" for a, b, c, d in zip(points.l1, points.l2, points.x, points.y)]
    return atomic_write_text(path, "".join(lines))


def _by_stem(paths: Iterable[Path], folder: Path) -> dict[str, Path]:
    paths = list(paths)
    dupes = sorted(s for s, n in Counter(p.stem for p in paths).items() if n > 1)
    if dupes:
        raise DataFormatError(folder, "", "one file per stem", f"several files for {dupes}")
    return {p.stem: p for p in paths}


def _optional_folder(folder: Path, sub: str, stems: list[str], pattern: str | None) -> dict[str, Path]:
    sub_dir = folder / sub
    if not sub_dir.is_dir():
        return {}
    files = _by_stem(sorted(sub_dir.glob(pattern)) if pattern else list_images(sub_dir), sub_dir)
    missing = [s for s in stems if s not in files]
    if missing:
        raise DataFormatError(sub_dir, "", f"a file for every panel of {folder / 'images'}", f"missing for {missing}")
    return files


def load_ordering_set(folder: str | os.PathLike, *, validate_images: bool = True) -> list[OrderedPanel]:
    """Load a ``panels/<split>/`` folder: crops paired with ordering files.

    Args:
        folder: the split folder holding ``images/`` and ``depth/``.
        validate_images: read each image header (cheap) and check that every ordering point
            lies inside the image and that the dense depth has the image's size.

    Returns:
        One :class:`OrderedPanel` per image, sorted by name.

    Raises:
        DataFormatError: when a folder is missing, a crop has no ordering file or an ordering
            file has no crop (all names listed), an optional folder lacks a panel, a file is
            malformed, or a file is a symlink leading outside ``folder``.
    """
    folder = Path(folder)
    for sub in ("images", "depth"):
        if not (folder / sub).is_dir():
            raise DataFormatError(
                folder, sub, f"a sub-folder '{sub}/' (ComicsDepth panel layout: images/ + depth/*.txt)"
            )
    images = _by_stem(list_images(folder / "images"), folder / "images")
    orderings = _by_stem(sorted((folder / "depth").glob("*.txt")), folder / "depth")
    if not images:
        raise DataFormatError(folder / "images", "", "at least one panel image")
    no_txt = sorted(set(images) - set(orderings))
    no_img = sorted(set(orderings) - set(images))
    if no_txt or no_img:
        raise DataFormatError(
            folder,
            "images/ and depth/",
            "one depth/<stem>.txt for every images/<stem>.* and no other",
            f"images without ordering file: {no_txt}; ordering files without image: {no_img}",
        )
    stems = sorted(images)
    depth_gt = _optional_folder(folder, "depth_gt", stems, "*.png")
    text_masks = _optional_folder(folder, "text_masks", stems, None)
    panels = []
    for stem in stems:
        for path in (images[stem], orderings[stem], depth_gt.get(stem), text_masks.get(stem)):
            if path is not None:
                check_inside(path, folder)  # a symlink out of the set would read any file of the machine
        width = height = None
        if validate_images:
            width, height = image_size(images[stem])
            if stem in depth_gt and image_size(depth_gt[stem]) != (width, height):
                raise DataFormatError(
                    depth_gt[stem],
                    "size",
                    f"the size of {images[stem].name} ({width}x{height})",
                    "%dx%d" % image_size(depth_gt[stem]),
                )
        panels.append(
            OrderedPanel(
                name=stem,
                image=images[stem],
                ordering=orderings[stem],
                points=read_ordering(orderings[stem], width=width, height=height),
                depth_gt=depth_gt.get(stem),
                text_mask=text_masks.get(stem),
            )
        )
    return panels


def to_samples(panels: Iterable[OrderedPanel]) -> list[dict]:
    """Sample dicts for :func:`comicdepth_tf.data.pipelines.make_dataset`.

    Keys: ``name``, ``image``, ``ordering`` (the ``.txt`` path), and when present ``depth``
    with ``depth_codec="png16_mm"`` and ``text_mask``.
    """
    samples = []
    for p in panels:
        sample = {"name": p.name, "image": str(p.image), "ordering": str(p.ordering)}
        if p.depth_gt is not None:
            sample.update(depth=str(p.depth_gt), depth_codec="png16_mm")
        if p.text_mask is not None:
            sample["text_mask"] = str(p.text_mask)
        samples.append(sample)
    return samples
