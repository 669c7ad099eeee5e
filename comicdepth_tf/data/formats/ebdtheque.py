"""eBDtheque (v3) pages and SVG ground truth: text masks and per-panel crops.

Layout (the published ``eBDtheque_database_v3`` and the embedded ``ebdtheque/`` folder)::

    Pages/<name>.jpg
    GT/<name>.svg

Each SVG holds, inside its root ``<svg>``, child ``<svg class="...">`` elements: ``Page``
(with the ``<image>`` whose ``width``/``height`` give the page size), ``Panel``, ``Balloon``,
``Line`` (text lines), ``Character``, each holding ``<polygon points="x,y x,y ...">``.
Elements of other classes (``linkSBSC``, metadata) are kept when they hold polygons and
otherwise ignored. Real files use the SVG namespace and xlink attributes; files without a
namespace are read too.

Conventions:

- The text mask is the union of the ``Balloon`` and ``Line`` polygons filled with
  ``cv2.fillPoly`` at the page size: polygon borders are inclusive, so the rectangle
  ``0,0 9,0 9,19 0,19`` covers 10 x 20 pixels. Parts of polygons beyond the page are clipped.
- A panel's crop is its polygon's bounding box ``[x_min, x_max) x [y_min, y_max)`` clipped
  to the page (the seed project's slicing ``img[y1:y2, x1:x2]``); boxes are ``(x, y, w, h)``.
  A panel whose box is empty after clipping is an error.
- Panel crops are named ``<page>_<k>`` with ``k`` counting the page's panels from 1 in
  document order.

Typical use: ``pages = load_ebdtheque(root)`` to explore (``text_mask``, ``panel_crops``);
``export_text_mask_crops(root, out)`` once, then ``to_samples(out, "train")`` for
:func:`comicdepth_tf.data.pipelines.make_dataset` with
``keys={"image": "image", "text_mask": "mask"}``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError, ParameterError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
#: Classes whose polygons make the text mask.
TEXT_CLASSES = ("Balloon", "Line")
PAGE_CLASS = "Page"
PANEL_CLASS = "Panel"

#: Largest coordinate magnitude: float32 holds every integer up to 2**24, far beyond any page.
MAX_COORDINATE = 2**24
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class EbdPolygon:
    """One annotated polygon.

    Attributes:
        id: the polygon's ``id`` attribute ("" when absent).
        points: float32 array (N, 2) of (x, y) page coordinates, N >= 3 distinct points.
    """

    id: str
    points: np.ndarray

    def bbox(self) -> tuple[float, float, float, float]:
        """Bounding box ``(x_min, y_min, x_max, y_max)`` of the points."""
        x_min, y_min = self.points.min(axis=0)
        x_max, y_max = self.points.max(axis=0)
        return float(x_min), float(y_min), float(x_max), float(y_max)


@dataclass
class EbdPage:
    """One eBDtheque page: its files, declared size and polygons per class."""

    name: str
    image_path: Path
    svg_path: Path
    width: int
    height: int
    polygons: dict[str, list[EbdPolygon]] = field(default_factory=dict)

    def of_class(self, cls: str) -> list[EbdPolygon]:
        """Polygons of class ``cls`` (empty list when the page has none)."""
        return self.polygons.get(cls, [])

    @property
    def panels(self) -> list[EbdPolygon]:
        return self.of_class(PANEL_CLASS)

    @property
    def balloons(self) -> list[EbdPolygon]:
        return self.of_class("Balloon")

    @property
    def lines(self) -> list[EbdPolygon]:
        return self.of_class("Line")

    @property
    def characters(self) -> list[EbdPolygon]:
        return self.of_class("Character")

    def read_image(self) -> np.ndarray:
        """The page as RGB uint8, checked against the SVG's declared size."""
        image = fileio.read_image(self.image_path)
        _check_size(self, image.shape[1], image.shape[0])
        return image


# --------------------------------------------------------------------------- parsing


def _local(tag: str) -> str:
    """Tag or attribute name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _attr(elem: ET.Element, name: str) -> str | None:
    """Attribute by local name, whatever namespace prefix it carries."""
    if name in elem.attrib:
        return elem.attrib[name]
    for key, value in elem.attrib.items():
        if _local(key) == name:
            return value
    return None


def parse_points(text: str | None, path: str | os.PathLike, field_name: str) -> np.ndarray:
    """Parse an SVG ``points`` attribute into a float32 (N, 2) array.

    Commas and any whitespace separate numbers (``"1,2 3,4"``, ``"1, 2\\n3 ,4"``). A closing
    point equal to the first is kept (fillPoly does not mind) but not counted as distinct.

    Raises:
        DataFormatError: missing attribute, non-numeric values, coordinates beyond
            :data:`MAX_COORDINATE`, an odd count of numbers or fewer than 3 distinct points.
    """
    if text is None or not text.strip():
        raise DataFormatError(path, field_name, "a 'points' attribute with at least 3 'x,y' points", text)
    tokens = [t for t in _SEPARATORS.split(text.strip()) if t]
    bad = [t for t in tokens if not _NUMBER.match(t)]
    if bad:
        raise DataFormatError(path, field_name, "numeric 'x,y' pairs", bad[0])
    if len(tokens) % 2:
        raise DataFormatError(path, field_name, "an even count of numbers (x,y pairs)", text.strip())
    values = [float(t) for t in tokens]
    if not all(abs(v) <= MAX_COORDINATE for v in values):  # also refuses 1e309 (inf): masks cast to int32
        raise DataFormatError(path, field_name, f"coordinates of at most {MAX_COORDINATE} pixels in absolute value",
                              next(t for t, v in zip(tokens, values) if not abs(v) <= MAX_COORDINATE))
    points = np.asarray(values, dtype=np.float32).reshape(-1, 2)
    distinct = {tuple(p) for p in points.tolist()}
    if len(distinct) < 3:
        raise DataFormatError(path, field_name, "a polygon with at least 3 distinct points", text.strip())
    return points


def _parse_size(image: ET.Element, path: Path, which: str) -> int:
    raw = _attr(image, which)
    field_name = f"svg[class=Page]/image@{which}"
    if raw is None:
        raise DataFormatError(path, field_name, "the page image's size in pixels")
    text = raw.strip().removesuffix("px")
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, field_name, "a positive integer number of pixels", raw) from None
    if not math.isfinite(value) or value <= 0 or value != int(value):  # int() of inf or nan raises
        raise DataFormatError(path, field_name, "a positive integer number of pixels", raw)
    return int(value)


def _check_page_pixels(path: Path, width: int, height: int) -> None:
    # Masks are allocated at the declared size, so the image pixel limit applies before any of them.
    limit = fileio.max_pixels()
    if width * height > limit:
        raise DataFormatError(path, "svg[class=Page]/image", f"a page of at most {limit} pixels "
                                                             f"(width x height; {fileio.MAX_PIXELS_ENV} raises it)",
                              f"{width}x{height}")


def parse_svg(svg_path: str | os.PathLike) -> tuple[int, int, dict[str, list[EbdPolygon]]]:
    """Read one eBDtheque SVG.

    Args:
        svg_path: the ``GT/<name>.svg`` file.

    Returns:
        ``(width, height, polygons)`` with polygons grouped by element class in document order.

    Raises:
        DataFormatError: malformed XML, no ``Page`` element, no ``<image>`` size, a page of more
            pixels than :func:`comicdepth_tf.fileio.max_pixels`, bad polygons.
    """
    path = Path(svg_path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, col = exc.position
        raise DataFormatError(path, f"line {line} column {col + 1}", f"well-formed XML ({exc})") from None
    except OSError as exc:
        raise DataFormatError(path, "", f"a readable SVG file ({exc})") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise DataFormatError(path, "line 1", "an XML declaration with a known encoding (UTF-8)", str(exc)) from None
    if _local(root.tag) != "svg":
        raise DataFormatError(path, "root element", "<svg>", _local(root.tag))

    size: tuple[int, int] | None = None
    polygons: dict[str, list[EbdPolygon]] = {}
    for group in root:
        if _local(group.tag) != "svg":
            continue
        cls = (_attr(group, "class") or "").strip()
        if cls == PAGE_CLASS:
            image = next((e for e in group.iter() if _local(e.tag) == "image"), None)
            if image is None:
                raise DataFormatError(path, "svg[class=Page]/image", "an <image> element with width and height")
            size = (_parse_size(image, path, "width"), _parse_size(image, path, "height"))
            _check_page_pixels(path, *size)
            continue
        for k, poly in enumerate(e for e in group.iter() if _local(e.tag) == "polygon"):
            pid = _attr(poly, "id") or ""
            where = f"svg[class={cls}]/polygon[{k}]" + (f" id={pid}" if pid else "") + "@points"
            points = parse_points(_attr(poly, "points"), path, where)
            polygons.setdefault(cls, []).append(EbdPolygon(pid, points))
    if size is None:
        raise DataFormatError(path, "svg[class=Page]", "a <svg class=\"Page\"> element holding the page <image>")
    return size[0], size[1], polygons


def _check_size(page: EbdPage, width: int, height: int) -> None:
    if (width, height) != (page.width, page.height):
        raise DataFormatError(
            page.image_path,
            "image size",
            f"{page.width}x{page.height} pixels as declared in {page.svg_path} (svg[class=Page]/image)",
            f"{width}x{height}",
        )


def _index(folder: Path, extensions: Iterable[str], what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataFormatError(folder, "", f"an existing folder of {what}")
    exts = {e.lower() for e in extensions}
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in exts:
            if p.stem in found:
                raise DataFormatError(p, "file name", f"one {what[:-1]} per name", f"{found[p.stem].name} and {p.name}")
            found[p.stem] = p
    return found


def load_ebdtheque(root: str | os.PathLike, check_sizes: bool = True) -> list[EbdPage]:
    """Load every page of an eBDtheque folder.

    Args:
        root: the folder holding ``Pages/`` and ``GT/``.
        check_sizes: compare each page image's size (read from its header) with the size
            its SVG declares.

    Returns:
        Pages sorted by name.

    Raises:
        DataFormatError: a missing folder, an SVG without its page image or an image
            without its SVG, a size mismatch, or any SVG error of :func:`parse_svg`.
    """
    root = Path(root)
    images = _index(root / "Pages", fileio.IMAGE_EXTENSIONS, "page images")
    svgs = _index(root / "GT", (".svg",), "SVG files")
    for name, svg in svgs.items():
        if name not in images:
            raise DataFormatError(svg, "page image", f"a page image Pages/{name}.jpg beside this SVG")
    for name, image in images.items():
        if name not in svgs:
            raise DataFormatError(image, "ground truth", f"an SVG file GT/{name}.svg for this page")
    pages = []
    for name in sorted(svgs):
        width, height, polygons = parse_svg(svgs[name])
        page = EbdPage(name, images[name], svgs[name], width, height, polygons)
        if check_sizes:
            _check_size(page, *fileio.image_size(page.image_path))
        pages.append(page)
    return pages


# --------------------------------------------------------------------------- masks and crops


def _fill(mask: np.ndarray, polygons: Sequence[EbdPolygon]) -> None:
    if polygons:
        cv2.fillPoly(mask, [np.round(p.points).astype(np.int32) for p in polygons], 1)


def text_mask(page: EbdPage, classes: Sequence[str] = TEXT_CLASSES) -> np.ndarray:
    """Union of the page's text polygons (Balloon and Line) as a bool (H, W) mask.

    Args:
        page: a loaded page.
        classes: the polygon classes that count as text.
    """
    mask = np.zeros((page.height, page.width), dtype=np.uint8)
    for cls in classes:
        _fill(mask, page.of_class(cls))
    return mask.astype(bool)


def panel_boxes(page: EbdPage) -> list[tuple[int, int, int, int]]:
    """Panel bounding boxes ``(x, y, w, h)`` clipped to the page, in document order.

    Raises:
        DataFormatError: a panel lying outside the page (empty box after clipping).
    """
    boxes = []
    for k, panel in enumerate(page.panels):
        x_min, y_min, x_max, y_max = panel.bbox()
        x1, y1 = max(0, int(np.floor(x_min))), max(0, int(np.floor(y_min)))
        x2, y2 = min(page.width, int(np.ceil(x_max))), min(page.height, int(np.ceil(y_max)))
        if x2 <= x1 or y2 <= y1:
            where = f"svg[class=Panel]/polygon[{k}]" + (f" id={panel.id}" if panel.id else "") + "@points"
            raise DataFormatError(
                page.svg_path, where, f"a panel overlapping the {page.width}x{page.height} page", panel.bbox()
            )
        boxes.append((x1, y1, x2 - x1, y2 - y1))
    return boxes


def panel_crops(
    page: EbdPage, image: np.ndarray | None = None
) -> list[tuple[str, np.ndarray, np.ndarray, tuple[int, int, int, int]]]:
    """Cut every panel out of the page with its text mask.

    Args:
        page: a loaded page.
        image: the page's RGB pixels when already read (read from disk otherwise).

    Returns:
        ``(name, rgb_crop, text_mask_crop, (x, y, w, h))`` per panel, named ``<page>_<k>``
        (k from 1, document order).
    """
    if image is None:
        image = page.read_image()
    else:
        _check_size(page, image.shape[1], image.shape[0])
    mask = text_mask(page)
    crops = []
    for k, (x, y, w, h) in enumerate(panel_boxes(page), start=1):
        crops.append(
            (f"{page.name}_{k}", image[y : y + h, x : x + w].copy(), mask[y : y + h, x : x + w].copy(), (x, y, w, h))
        )
    return crops


# --------------------------------------------------------------------------- export


SPLITS = ("train", "val", "test")


def split_names(names: Sequence[str], split: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> dict[str, list[str]]:
    """Assign names to train/val/test with a seeded shuffle and exact proportions.

    Counts are ``round(n * val)`` and ``round(n * test)``; train takes the rest.
    """
    if len(split) != 3 or any(s < 0 for s in split) or not np.isclose(sum(split), 1.0):
        raise ParameterError(
            f"split must be three non-negative fractions (train, val, test) summing to 1, got {split!r}"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = int(round(len(names) * split[1]))
    n_test = int(round(len(names) * split[2]))
    n_val = min(n_val, len(names))
    n_test = min(n_test, len(names) - n_val)
    shuffled = [names[i] for i in order]
    parts = {"val": shuffled[:n_val], "test": shuffled[n_val : n_val + n_test], "train": shuffled[n_val + n_test :]}
    return {s: sorted(parts[s]) for s in SPLITS}


def export_text_mask_crops(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> dict[str, list[str]]:
    """Write per-panel crops and text masks, split into train/val/test (the seed's ``--generate_text_masks``).

    Files: ``out_dir/<split>/images/<page>_<k>.png`` (RGB) and
    ``out_dir/<split>/text_masks/<page>_<k>.png`` (uint8 0/255), plus ``out_dir/manifest.csv``
    (name, page, split, x, y, w, h). Every write is atomic.

    Args:
        root: an eBDtheque folder (``Pages/``, ``GT/``).
        out_dir: destination folder.
        split: fractions for train, val, test.
        seed: seed of the random assignment (per crop).

    Returns:
        The crop names per split.
    """
    out_dir = Path(out_dir)
    pages = load_ebdtheque(root)
    rows = []
    for page in pages:
        for name, crop, mask, box in panel_crops(page):
            rows.append((name, page.name, crop, mask, box))
    assignment = split_names([r[0] for r in rows], split, seed)
    split_of = {name: s for s, names in assignment.items() for name in names}
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["name", "page", "split", "x", "y", "w", "h"])
    for name, page_name, crop, mask, (x, y, w, h) in rows:
        s = split_of[name]
        fileio.write_image(out_dir / s / "images" / f"{name}.png", crop)
        fileio.write_image(out_dir / s / "text_masks" / f"{name}.png", mask.astype(np.uint8) * 255)
        writer.writerow([name, page_name, s, x, y, w, h])
    fileio.atomic_write_text(out_dir / "manifest.csv", table.getvalue())
    return assignment


def to_samples(crops_dir: str | os.PathLike, split: str | None = "train") -> list[dict]:
    """Sample dicts for :func:`comicdepth_tf.data.pipelines.make_dataset` from exported crops.

    Reads the folder written by :func:`export_text_mask_crops`.

    Args:
        crops_dir: the export's ``out_dir``.
        split: ``"train"``, ``"val"``, ``"test"``, or None for all three in that order.

    Returns:
        ``{"name", "image", "text_mask"}`` per crop (file paths), sorted by name within a split.

    Raises:
        DataFormatError: a missing split folder, or a crop without its text mask (or the reverse).
    """
    crops_dir = Path(crops_dir)
    samples = []
    for s in SPLITS if split is None else (split,):
        if s not in SPLITS:
            raise ParameterError(f"split must be one of {SPLITS} or None, got {split!r}")
        images = {p.stem: p for p in fileio.list_images(crops_dir / s / "images")}
        masks = {p.stem: p for p in fileio.list_images(crops_dir / s / "text_masks")}
        for name in sorted(set(images) | set(masks)):
            if name not in masks:
                raise DataFormatError(images[name], "text mask", f"a text mask {s}/text_masks/{name}.png")
            if name not in images:
                raise DataFormatError(masks[name], "image", f"a crop image {s}/images/{name}.png")
            samples.append({"name": name, "image": str(images[name]), "text_mask": str(masks[name])})
    return samples
