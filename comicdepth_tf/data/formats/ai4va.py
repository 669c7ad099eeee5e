"""AI4VA depth challenge annotations (COCO-style CVAT export) as plain records.

Layout (the published dataset and the embedded one)::

    <root>/images/<split>/<page>.png                 (images directly in images/ also work)
    <root>/annotations/train-annotations.json
    <root>/annotations/val-annotations.json
    <root>/annotations/depth_TEST_segments.json      same structure, no depth values
    <root>/depth/<split>/<page>.png                  dense depth, uint16 mm (embedded only)
    <root>/text_masks/<split>/<page>.png             text mask 0/255 (embedded only)

The file is validated by our own pass before pycocotools indexes it, so every bad input gets a
:class:`~comicdepth_tf.errors.DataFormatError` naming the file and the field
(``images[3].file_name``, ``annotations[17].bbox``, ...). Choices documented here:

* **Depth levels** ``attributes.Interdepth`` / ``attributes.Intradepth`` must be integers in
  ``[0, MAX_DEPTH_LEVEL]`` (100). Integral floats (``3.0``) and digit strings (``"3"``, CVAT text
  attributes) are read as integers; negative values, fractions, booleans, other strings and
  levels above the bound (``1e30``, ``10**40``: typing or export errors) are errors. The bound
  is five times the largest level seen in the published data (about 0–9 Interdepth, 0–19
  Intradepth): ordinal levels rank the objects of one panel, so a real level never comes near it.
* **Missing or null depth attributes** (``require_depth=True``) follow ``on_missing_depth``:
  An empty string (an unset CVAT text attribute) counts as missing.
  ``"report"`` (default) keeps the segment with ``None`` and lists it in ``dataset.issues``;
  ``"error"`` raises naming the annotation id and the field; ``"drop"`` removes the segment and
  lists it in ``dataset.issues``. A one-line warning summarises the issues of a file.
  With ``require_depth=False`` (test segments) absent levels are simply ``None``.
* **Empty segmentation** (``[]``, seen in real exports) is kept; its mask is its bbox and it is
  noted in ``dataset.issues``. An empty polygon inside the list, a polygon of fewer than three
  points, or coordinates more than 1 pixel outside the image are errors. RLE (dict with
  ``counts`` and ``size``; compressed string or uncompressed list) is supported; ``size`` must
  be the page's ``[height, width]`` and the run lengths must cover the page exactly.
* **Image sizes** are checked against the file headers (Pillow reads only the header, cheap
  even on full pages) when ``validate_images=True`` (default); the dense depth and text mask
  beside a page must have its size too. Missing image files are always errors, and so is a page
  declaring more pixels than :func:`comicdepth_tf.fileio.max_pixels` (masks are allocated at its size).
* ``area`` and ``iscrowd`` are optional (computed from the mask / 0); an ``area`` larger than its
  page (with the 1-pixel tolerance) is an error.
* Two ``images[]`` records naming one file are an error; a dense depth or text mask that is a
  symlink leading outside the dataset root is refused (naming the file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import MAX_PIXELS_ENV, check_inside, max_pixels, read_json, safe_join

from .coco_images import image_size

MISSING_DEPTH_POLICIES = ("report", "error", "drop")
DEPTH_ATTRIBUTES = ("Interdepth", "Intradepth")
#: Largest accepted depth level (see the module doc): a level above it is a corrupt value, not a rank.
MAX_DEPTH_LEVEL = 100
TEST_SEGMENTS_FILE = "depth_TEST_segments.json"
ANNOTATIONS_SUFFIX = "-annotations.json"
#: Polygon coordinates and boxes may exceed the image by this many pixels (CVAT rounding).
BOUNDS_TOLERANCE = 1.0


@dataclass(frozen=True)
class Page:
    """One page image of the annotation file.

    Attributes:
        image_id: COCO image id.
        file_name: the ``file_name`` as written in the JSON.
        path: the resolved image file.
        width: width from the JSON (checked against the file when validating).
        height: height from the JSON.
        depth_path: dense depth PNG (uint16 mm) beside the dataset, or None.
        text_mask_path: text mask PNG beside the dataset, or None.
    """

    image_id: int
    file_name: str
    path: Path
    width: int
    height: int
    depth_path: Path | None = None
    text_mask_path: Path | None = None

    @property
    def name(self) -> str:
        return Path(self.file_name).stem


@dataclass(frozen=True)
class Segment:
    """One annotated segment.

    Attributes:
        annotation_id: COCO annotation id.
        image_id: the page it belongs to.
        category_id: COCO category id.
        category: category name.
        bbox: ``(x, y, w, h)`` in pixels.
        area: area in pixels (from the JSON, or computed from the mask when absent).
        iscrowd: 0 or 1.
        segmentation: polygons (list of coordinate lists, possibly empty) or an RLE dict.
        interdepth: ordinal level of the object among the objects of its panel, or None.
        intradepth: ordinal level of the part within its object, or None.
    """

    annotation_id: int
    image_id: int
    category_id: int
    category: str
    bbox: tuple[float, float, float, float]
    area: float
    iscrowd: int
    segmentation: Any
    interdepth: int | None
    intradepth: int | None


@dataclass
class AI4VADataset:
    """An AI4VA annotation file with its pages, segments and pycocotools index.

    Attributes:
        source: the annotation JSON.
        images_dir: the folder ``file_name`` is resolved against.
        pages: pages in file order.
        segments: kept segments in file order.
        categories: category id -> name.
        issues: readable notes on tolerated problems (missing depth, empty segmentation, ...).
        coco: the ``pycocotools.coco.COCO`` index over pages and kept segments.
    """

    source: Path
    images_dir: Path
    pages: list[Page]
    segments: list[Segment]
    categories: dict[int, str]
    issues: list[str]
    coco: Any = field(repr=False)

    def __post_init__(self) -> None:
        self._pages = {p.image_id: p for p in self.pages}
        self._by_page: dict[int, list[Segment]] = {p.image_id: [] for p in self.pages}
        for s in self.segments:
            self._by_page[s.image_id].append(s)

    def page(self, image_id: int) -> Page:
        """The page with COCO id ``image_id``."""
        try:
            return self._pages[image_id]
        except KeyError:
            raise KeyError(f"no page with image_id {image_id} in {self.source}") from None


# --------------------------------------------------------------------------- validation helpers


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require(record: Any, keys: Iterable[str], source: Path, where: str) -> None:
    if not isinstance(record, dict):
        raise DataFormatError(source, where, "a JSON object", record)
    for key in keys:
        if key not in record:
            raise DataFormatError(source, f"{where}.{key}", f"the key '{key}' to be present")


def _int(value: Any, source: Path, field_name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataFormatError(source, field_name, "an integer", value)
    if minimum is not None and value < minimum:
        raise DataFormatError(source, field_name, f"an integer >= {minimum}", value)
    return value


def _depth_level(value: Any, source: Path, field_name: str, ann_id: int) -> int:
    expected = f"an integer depth level in [0, {MAX_DEPTH_LEVEL}] for annotation id {ann_id}"
    level = None
    if isinstance(value, bool):
        pass
    # ASCII and short: int() of 5000 digits raises.
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,9}\s*", value):
        level = int(value)
    elif isinstance(value, int):
        level = value
    elif isinstance(value, float) and math.isfinite(value) and value == int(value):
        level = int(value)
    # One range check for every spelling, so "1e30"-sized levels cannot slip in as floats or digit strings.
    if level is None or not 0 <= level <= MAX_DEPTH_LEVEL:
        raise DataFormatError(source, field_name, expected, value)
    return level


def _check_top_level(data: Any, source: Path) -> None:
    if not isinstance(data, dict):
        raise DataFormatError(source, "", "a JSON object with images, annotations and categories", type(data).__name__)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DataFormatError(source, key, f"the top-level key '{key}' (COCO layout)")
        if not isinstance(data[key], list):
            raise DataFormatError(source, key, "a list", type(data[key]).__name__)


def _parse_categories(records: list, source: Path) -> dict[int, str]:
    categories: dict[int, str] = {}
    for i, rec in enumerate(records):
        where = f"categories[{i}]"
        _require(rec, ("id", "name"), source, where)
        cid = _int(rec["id"], source, f"{where}.id")
        if cid in categories:
            raise DataFormatError(source, f"{where}.id", "a unique category id", cid)
        if not isinstance(rec["name"], str):
            raise DataFormatError(source, f"{where}.name", "a string", rec["name"])
        categories[cid] = rec["name"]
    return categories


def _extras_dirs(images_dir: Path) -> tuple[Path, Path, Path] | None:
    """``depth/<split>`` and ``text_masks/<split>`` beside ``images/<split>`` (or ``images/``), and the dataset root."""
    images_dir = images_dir.resolve()
    if images_dir.name == "images":
        root = images_dir.parent
        return root / "depth", root / "text_masks", root
    if images_dir.parent.name == "images":
        root, split = images_dir.parent.parent, images_dir.name
        return root / "depth" / split, root / "text_masks" / split, root
    return None


def _extra(folder: Path, relative: Path, root: Path) -> Path | None:
    """The dense extra of a page when it exists; a symlink out of the dataset is refused."""
    path = folder / relative
    return check_inside(path, root) if path.is_file() else None


def _parse_pages(records: list, source: Path, images_dir: Path, validate_images: bool) -> list[Page]:
    extras = _extras_dirs(images_dir)
    pages: list[Page] = []
    seen: set[int] = set()
    files: dict[Path, int] = {}
    for i, rec in enumerate(records):
        where = f"images[{i}]"
        _require(rec, ("id", "file_name", "width", "height"), source, where)
        image_id = _int(rec["id"], source, f"{where}.id")
        if image_id in seen:
            raise DataFormatError(source, f"{where}.id", "a unique image id", image_id)
        seen.add(image_id)
        width = _int(rec["width"], source, f"{where}.width", minimum=1)
        height = _int(rec["height"], source, f"{where}.height", minimum=1)
        if width * height > max_pixels():  # masks are allocated at this size, whatever the image file says
            raise DataFormatError(source, f"{where}.width", f"a page of at most {max_pixels()} pixels (width x height; "
                                                            f"{MAX_PIXELS_ENV} raises it)", f"{width}x{height}")
        path = safe_join(images_dir, rec["file_name"], source, f"{where}.file_name")
        if not path.is_file():
            raise DataFormatError(
                source, f"{where}.file_name", f"an existing image file under {images_dir}", rec["file_name"]
            )
        if path in files:  # two records of one page would split its segments and count it twice
            raise DataFormatError(
                source,
                f"{where}.file_name",
                f"a page not already listed (images[{files[path]}] is that file)",
                rec["file_name"],
            )
        files[path] = i
        depth_path = text_mask_path = None
        if extras is not None:
            relative = Path(rec["file_name"]).with_suffix(".png")
            depth_path = _extra(extras[0], relative, extras[2])
            text_mask_path = _extra(extras[1], relative, extras[2])
        page = Page(image_id, rec["file_name"], path, width, height, depth_path, text_mask_path)
        if validate_images:
            _check_page_sizes(page, source, where)
        pages.append(page)
    return pages


def _check_page_sizes(page: Page, source: Path, where: str) -> None:
    actual = image_size(page.path)
    if actual != (page.width, page.height):
        key = "width" if actual[0] != page.width else "height"
        raise DataFormatError(
            source,
            f"{where}.{key}",
            f"the size of {page.path.name}: width {actual[0]}, height {actual[1]}",
            {"width": page.width, "height": page.height},
        )
    for extra in (page.depth_path, page.text_mask_path):
        if extra is not None and image_size(extra) != actual:
            raise DataFormatError(
                extra,
                "size",
                f"the size of the page {page.path.name} ({actual[0]}x{actual[1]})",
                "%dx%d" % image_size(extra),
            )


def _check_bbox(value: Any, source: Path, where: str, page: Page) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4 or not all(_is_number(v) for v in value):
        raise DataFormatError(source, where, "[x, y, width, height] of 4 finite numbers", value)
    x, y, w, h = (float(v) for v in value)
    tol = BOUNDS_TOLERANCE
    if w < 0 or h < 0 or x < -tol or y < -tol or x + w > page.width + tol or y + h > page.height + tol:
        raise DataFormatError(
            source, where, f"a box inside the {page.width}x{page.height} page (1-pixel tolerance)", value
        )
    return x, y, w, h


def _check_polygons(polygons: list, source: Path, where: str, page: Page) -> None:
    tol = BOUNDS_TOLERANCE
    for k, poly in enumerate(polygons):
        f = f"{where}[{k}]"
        if not isinstance(poly, list) or not poly:
            raise DataFormatError(source, f, "a non-empty polygon [x1, y1, x2, y2, ...]", poly)
        if not all(_is_number(v) for v in poly):
            raise DataFormatError(source, f, "finite numbers as polygon coordinates", poly)
        if len(poly) % 2 or len(poly) < 6:
            raise DataFormatError(source, f, "an even number of coordinates, at least 3 points", f"{len(poly)} numbers")
        xs, ys = poly[0::2], poly[1::2]
        if min(xs) < -tol or min(ys) < -tol or max(xs) > page.width + tol or max(ys) > page.height + tol:
            raise DataFormatError(
                source,
                f,
                f"coordinates inside the {page.width}x{page.height} page (1-pixel tolerance)",
                f"x in [{min(xs)}, {max(xs)}], y in [{min(ys)}, {max(ys)}]",
            )


def _rle_string_counts(counts: str) -> list[int] | None:
    """Run lengths of a compressed COCO RLE string, or None when it is malformed.

    Decoded here (the format is 6-bit groups with a continuation bit, runs after the second
    stored as differences) because pycocotools writes past its buffer on corrupt strings.
    """
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(counts):
                return None
            c = ord(counts[pos]) - 48
            if not 0 <= c < 64:
                return None
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and c & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _check_rle(segm: dict, source: Path, where: str, page: Page) -> None:
    for key in ("counts", "size"):
        if key not in segm:
            raise DataFormatError(source, f"{where}.{key}", f"the RLE key '{key}' to be present")
    size = segm["size"]
    if size != [page.height, page.width]:
        raise DataFormatError(
            source, f"{where}.size", f"[height, width] of the page = [{page.height}, {page.width}]", size
        )
    counts = segm["counts"]
    if isinstance(counts, str):
        runs = _rle_string_counts(counts)
    elif isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        runs = counts
    else:
        raise DataFormatError(source, f"{where}.counts", "a compressed RLE string or a list of run lengths", counts)
    total = page.height * page.width
    if runs is None or any(r < 0 for r in runs) or sum(runs) != total:
        raise DataFormatError(
            source, f"{where}.counts", f"non-negative run lengths covering the page ({total} pixels)", counts
        )


def _check_segmentation(segm: Any, source: Path, where: str, page: Page) -> bool:
    """Validate a segmentation; returns True when it is an empty polygon list."""
    if isinstance(segm, list):
        _check_polygons(segm, source, where, page)
        return not segm
    if isinstance(segm, dict):
        _check_rle(segm, source, where, page)
        return False
    raise DataFormatError(
        source, where, "polygons (a list of coordinate lists) or RLE (an object with counts and size)", segm
    )


# --------------------------------------------------------------------------- annotations


def _parse_segment(
    rec: Any,
    j: int,
    source: Path,
    pages: dict[int, Page],
    categories: dict[int, str],
    require_depth: bool,
) -> tuple[Segment, list[str], bool]:
    """One annotation -> (segment, names of missing depth attributes, segmentation is empty)."""
    where = f"annotations[{j}]"
    _require(rec, ("id", "image_id", "category_id", "bbox", "segmentation"), source, where)
    ann_id = _int(rec["id"], source, f"{where}.id")
    image_id = rec["image_id"]
    if not isinstance(image_id, int) or isinstance(image_id, bool) or image_id not in pages:
        raise DataFormatError(source, f"{where}.image_id", "the id of an entry of images[]", image_id)
    category_id = rec["category_id"]
    if not isinstance(category_id, int) or isinstance(category_id, bool) or category_id not in categories:
        raise DataFormatError(
            source, f"{where}.category_id", f"the id of an entry of categories[] {sorted(categories)}", category_id
        )
    page = pages[image_id]
    bbox = _check_bbox(rec["bbox"], source, f"{where}.bbox", page)
    empty = _check_segmentation(rec["segmentation"], source, f"{where}.segmentation", page)
    iscrowd = rec.get("iscrowd", 0)
    if iscrowd not in (0, 1) or isinstance(iscrowd, bool):
        raise DataFormatError(source, f"{where}.iscrowd", "0 or 1", iscrowd)
    area = rec.get("area")
    # The mask lies on the page (coordinates within the bounds tolerance), so its area cannot exceed it.
    largest = (page.width + 2 * BOUNDS_TOLERANCE) * (page.height + 2 * BOUNDS_TOLERANCE)
    if area is not None and (not _is_number(area) or not 0 <= area <= largest):
        raise DataFormatError(source, f"{where}.area", f"a number in [0, {largest:g}] (pixels of the "
                                                       f"{page.width}x{page.height} page, 1-pixel tolerance)", area)
    attributes = rec.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise DataFormatError(source, f"{where}.attributes", "an object of attribute values", attributes)
    levels: dict[str, int | None] = {}
    missing: list[str] = []
    for name in DEPTH_ATTRIBUTES:
        value = attributes.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):  # CVAT leaves unset text attributes ""
            levels[name] = None
            if require_depth:
                missing.append(name)
        else:
            levels[name] = _depth_level(value, source, f"{where}.attributes.{name}", ann_id)
    segment = Segment(
        annotation_id=ann_id,
        image_id=image_id,
        category_id=category_id,
        category=categories[category_id],
        bbox=bbox,
        area=float(area) if area is not None else math.nan,
        iscrowd=int(iscrowd),
        segmentation=rec["segmentation"],
        interdepth=levels["Interdepth"],
        intradepth=levels["Intradepth"],
    )
    return segment, missing, empty


def _build_coco(data: dict, annotations: list[dict]) -> Any:
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {**data, "annotations": annotations}
    with contextlib.redirect_stdout(StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def load_ai4va(
    annotations_json: str | os.PathLike,
    images_dir: str | os.PathLike,
    *,
    on_missing_depth: str = "report",
    require_depth: bool = True,
    validate_images: bool = True,
) -> AI4VADataset:
    """Load and validate an AI4VA annotation file, then index it with pycocotools.

    Args:
        annotations_json: ``train-annotations.json``, ``val-annotations.json`` or
            ``depth_TEST_segments.json``.
        images_dir: the folder holding the pages (``images/<split>/``).
        on_missing_depth: ``"report"``, ``"error"`` or ``"drop"`` (see the module docstring).
        require_depth: False for the test-segments file, whose depth levels are absent.
        validate_images: check the JSON width/height (and the extras' sizes) against the
            image headers.

    Returns:
        The dataset records.

    Raises:
        DataFormatError: naming the file and the field of the first bad input.
        ParameterError: for an unknown ``on_missing_depth``.
    """
    if on_missing_depth not in MISSING_DEPTH_POLICIES:
        raise ParameterError(f"on_missing_depth must be one of {MISSING_DEPTH_POLICIES}, got {on_missing_depth!r}")
    source, images_dir = Path(annotations_json), Path(images_dir)
    if not images_dir.is_dir():
        raise DataFormatError(images_dir, "", "an existing folder of page images")
    data = read_json(source)
    _check_top_level(data, source)
    categories = _parse_categories(data["categories"], source)
    pages = _parse_pages(data["images"], source, images_dir, validate_images)
    pages_by_id = {p.image_id: p for p in pages}

    segments: list[Segment] = []
    kept: list[dict] = []
    issues: list[str] = []
    seen: set[int] = set()
    for j, rec in enumerate(data["annotations"]):
        segment, missing, empty = _parse_segment(rec, j, source, pages_by_id, categories, require_depth)
        where = f"annotations[{j}] (id {segment.annotation_id}, image {segment.image_id})"
        if segment.annotation_id in seen:
            raise DataFormatError(source, f"annotations[{j}].id", "a unique annotation id", segment.annotation_id)
        seen.add(segment.annotation_id)
        if missing:
            fields = " and ".join(f"attributes.{m}" for m in missing)
            if on_missing_depth == "error":
                raise DataFormatError(
                    source,
                    f"annotations[{j}].attributes.{missing[0]}",
                    f"an integer depth level in [0, {MAX_DEPTH_LEVEL}] for annotation id "
                    f"{segment.annotation_id} (on_missing_depth='error')",
                    "missing or null",
                )
            if on_missing_depth == "drop":
                issues.append(f"{source.name}: {where}: {fields} missing or null -> segment dropped")
                continue
            issues.append(f"{source.name}: {where}: {fields} missing or null -> kept with None")
        if empty:
            issues.append(f"{source.name}: {where}: empty segmentation -> mask falls back to the bbox")
        segments.append(segment)
        kept.append(rec)

    coco = _build_coco(data, kept)
    segments = [_with_area(s, coco) for s in segments]
    if issues:
        warnings.warn(
            f"{source}: {len(issues)} annotation issue(s) (missing depth, empty segmentation); see dataset.issues",
            stacklevel=2,
        )
    return AI4VADataset(source, images_dir, pages, segments, categories, issues, coco)


def _with_area(segment: Segment, coco: Any) -> Segment:
    """Fill a missing ``area`` from the mask (pycocotools) or the bbox for empty segmentations."""
    if not math.isnan(segment.area):
        return segment
    if segment.segmentation in ([], None):
        area = segment.bbox[2] * segment.bbox[3]
    else:
        area = float(coco.annToMask(coco.anns[segment.annotation_id]).sum())
    return dataclasses.replace(segment, area=float(area))


# --------------------------------------------------------------------------- queries


def page_segments(dataset: AI4VADataset, image_id: int) -> list[Segment]:
    """The kept segments of one page, in file order."""
    dataset.page(image_id)  # raises a clear KeyError for an unknown page
    return list(dataset._by_page[image_id])


def segment_mask(dataset: AI4VADataset, segment: Segment) -> np.ndarray:
    """Boolean (H, W) mask of a segment on its page.

    Polygons and RLE are rasterised by pycocotools (``annToMask``); an empty segmentation falls
    back to the filled bbox.
    """
    page = dataset.page(segment.image_id)
    if isinstance(segment.segmentation, list) and not segment.segmentation:
        mask = np.zeros((page.height, page.width), dtype=bool)
        x, y, w, h = segment.bbox
        x0, y0 = max(int(math.floor(x)), 0), max(int(math.floor(y)), 0)
        x1, y1 = min(int(math.ceil(x + w)), page.width), min(int(math.ceil(y + h)), page.height)
        mask[y0:y1, x0:x1] = True
        return mask
    return dataset.coco.annToMask(dataset.coco.anns[segment.annotation_id]).astype(bool)


def level_statistics(dataset: AI4VADataset) -> dict[str, Any]:
    """Label statistics for exploration.

    Returns:
        A dict with ``pages``, ``segments``, ``per_category`` (name -> count, in category id
        order), ``interdepth`` and ``intradepth`` (level -> count, sorted by level), and
        ``missing_interdepth`` / ``missing_intradepth`` (segments whose level is None).
    """
    per_category = {name: 0 for _, name in sorted(dataset.categories.items())}
    inter: dict[int, int] = {}
    intra: dict[int, int] = {}
    for s in dataset.segments:
        per_category[s.category] += 1
        if s.interdepth is not None:
            inter[s.interdepth] = inter.get(s.interdepth, 0) + 1
        if s.intradepth is not None:
            intra[s.intradepth] = intra.get(s.intradepth, 0) + 1
    return {
        "pages": len(dataset.pages),
        "segments": len(dataset.segments),
        "per_category": per_category,
        "interdepth": dict(sorted(inter.items())),
        "intradepth": dict(sorted(intra.items())),
        "missing_interdepth": sum(s.interdepth is None for s in dataset.segments),
        "missing_intradepth": sum(s.intradepth is None for s in dataset.segments),
    }


# --------------------------------------------------------------------------- layout


def find_ai4va(root: str | os.PathLike) -> dict[str, tuple[Path, Path]]:
    """Find the annotation files and page folders of an AI4VA root.

    ``annotations/<split>-annotations.json`` pairs with ``images/<split>/`` and
    ``annotations/depth_TEST_segments.json`` with ``images/test/``; when the split folder is
    absent, ``images/`` itself is used. ``root`` may also be the embedded dataset root (the
    folder holding ``ai4va/``).

    Returns:
        split -> (annotation JSON, images folder).

    Raises:
        DataFormatError: when no annotation file or no page folder is found.
    """
    root = Path(root)
    if not (root / "annotations").is_dir() and (root / "ai4va" / "annotations").is_dir():
        root = root / "ai4va"
    ann_dir = root / "annotations"
    if not ann_dir.is_dir():
        raise DataFormatError(
            root, "annotations", "a folder annotations/ with <split>-annotations.json files (AI4VA layout)"
        )
    files = {f.name[: -len(ANNOTATIONS_SUFFIX)]: f for f in sorted(ann_dir.glob(f"*{ANNOTATIONS_SUFFIX}"))}
    if (ann_dir / TEST_SEGMENTS_FILE).is_file():
        files["test"] = ann_dir / TEST_SEGMENTS_FILE
    if not files:
        raise DataFormatError(ann_dir, "", f"<split>{ANNOTATIONS_SUFFIX} or {TEST_SEGMENTS_FILE}")
    found = {}
    for split, json_path in files.items():
        for images_dir in (root / "images" / split, root / "images"):
            if images_dir.is_dir():
                found[split] = (json_path, images_dir)
                break
        else:
            raise DataFormatError(root, "images", f"a folder images/{split}/ or images/ for {json_path.name}")
    return found


def load_ai4va_splits(root: str | os.PathLike, **kwargs: Any) -> dict[str, AI4VADataset]:
    """Load every split :func:`find_ai4va` finds; the test-segments file gets ``require_depth=False``.

    Args:
        root: the AI4VA root (or the embedded dataset root).
        **kwargs: passed to :func:`load_ai4va`.
    """
    out = {}
    for split, (json_path, images_dir) in find_ai4va(root).items():
        require = json_path.name != TEST_SEGMENTS_FILE
        out[split] = load_ai4va(json_path, images_dir, **{"require_depth": require, **kwargs})
    return out


def to_samples(records: AI4VADataset | Iterable[Page]) -> list[dict]:
    """Sample dicts for :func:`comicdepth_tf.data.pipelines.make_dataset`, one per page.

    Keys: ``name``, ``image``, ``image_id``, and when present ``depth`` with
    ``depth_codec="png16_mm"`` and ``text_mask``.
    """
    pages = records.pages if isinstance(records, AI4VADataset) else records
    samples = []
    for p in pages:
        sample: dict[str, Any] = {"name": p.name, "image": str(p.path), "image_id": p.image_id}
        if p.depth_path is not None:
            sample.update(depth=str(p.depth_path), depth_codec="png16_mm")
        if p.text_mask_path is not None:
            sample["text_mask"] = str(p.text_mask_path)
        samples.append(sample)
    return samples
