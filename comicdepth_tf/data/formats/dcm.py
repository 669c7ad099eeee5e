"""DCM772 comics pages with box ground truth, and their panel (frame) crops.

Layout (the published ``dcm_dataset.git`` and the embedded ``dcm772/`` folder)::

    images/<name>.jpg
    groundtruth/<name>.txt        one box per line: "class x1 y1 x2 y2" (integers, pixels)
    train.txt, val.txt, test.txt  optional split lists, one page name per line

Classes seen in the published data and its users' code: 1 body, 5 animal body,
6 background character, 7 face, 8 frame (panel). Only 8 matters to the depth pipeline.

Box policy (documented choice):

- A box is ``[x1, x2) x [y1, y2)``, the seed project's slicing ``img[y1:y2, x1:x2]``.
- ``x2 <= x1`` or ``y2 <= y1`` is an error.
- Coordinates up to ``tolerance`` pixels outside the image (annotators often click one pixel
  past the border) are clipped to the image, and the clipping is reported in
  :attr:`DcmPage.clipped` and in the export manifest; farther out is an error.
- Blank lines are skipped; anything else that is not five integers is an error naming the
  file and the line.

Typical use: ``pages = load_dcm(root)`` to explore (``page.panels``, ``panel_crops``);
``export_panel_crops(root, out)`` once, then ``to_samples(out)`` for
:func:`comicdepth_tf.data.pipelines.make_dataset`.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError

from .text_fields import parse_int

#: Class id of a panel (frame) box.
PANEL_CLASS = 8
#: Class names known from the published data (other ids are kept as plain numbers).
CLASS_NAMES = {1: "body", 5: "animal body", 6: "background character", 7: "face", 8: "frame"}
#: Largest class id (boxes are int32 rows in :func:`page_samples`).
MAX_CLASS = 2**31 - 1
#: Default pixels a coordinate may lie outside the image before it is an error.
DEFAULT_TOLERANCE = 5


@dataclass(frozen=True)
class DcmBox:
    """One ground-truth box, already clipped to the image.

    Attributes:
        class_id: the DCM class (8 = panel).
        x1, y1, x2, y2: pixel box ``[x1, x2) x [y1, y2)``.
        line: 1-based line number in the ground-truth file.
        clipped: the file's box reached outside the image (within tolerance) and was clipped.
    """

    class_id: int
    x1: int
    y1: int
    x2: int
    y2: int
    line: int
    clipped: bool = False

    @property
    def xywh(self) -> tuple[int, int, int, int]:
        return self.x1, self.y1, self.x2 - self.x1, self.y2 - self.y1


@dataclass
class DcmPage:
    """One DCM772 page: files, image size, boxes and the clipping applied to them."""

    name: str
    image_path: Path
    annotation_path: Path
    width: int
    height: int
    boxes: list[DcmBox] = field(default_factory=list)
    #: One message per clipped box ("line 3: (0, 0, 901, 50) -> (0, 0, 900, 50)").
    clipped: list[str] = field(default_factory=list)

    @property
    def panels(self) -> list[DcmBox]:
        """Panel boxes (class 8) in file order."""
        return [b for b in self.boxes if b.class_id == PANEL_CLASS]

    def read_image(self) -> np.ndarray:
        """The page as RGB uint8, checked against the size the boxes were validated with."""
        image = fileio.read_image(self.image_path)
        if image.shape[:2] != (self.height, self.width):
            raise DataFormatError(
                self.image_path,
                "image size",
                f"{self.width}x{self.height} pixels",
                f"{image.shape[1]}x{image.shape[0]}",
            )
        return image


def parse_groundtruth(
    path: str | os.PathLike, width: int, height: int, tolerance: int = DEFAULT_TOLERANCE
) -> tuple[list[DcmBox], list[str]]:
    """Read one ``groundtruth/<name>.txt`` file.

    Args:
        path: the file.
        width, height: the page image's size, to check and clip the boxes.
        tolerance: pixels a coordinate may lie outside the image before it is an error.

    Returns:
        ``(boxes, clipped)``: the boxes and one message per clipped box.

    Raises:
        DataFormatError: naming the file and the line for a wrong field count,
            non-integers, an empty box or a box outside the image.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing ground-truth file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, "", f"a readable UTF-8 text file ({exc})") from None
    boxes: list[DcmBox] = []
    clipped: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"line {number}"
        fields = raw.split()
        if len(fields) != 5:
            raise DataFormatError(path, where, "5 fields 'class x1 y1 x2 y2'", raw.strip())
        cls, x1, y1, x2, y2 = (parse_int(f, path, where, "integer fields 'class x1 y1 x2 y2'") for f in fields)
        if not 0 <= cls <= MAX_CLASS:  # boxes are stored as int32 rows (page_samples)
            raise DataFormatError(path, where, f"a class id in [0, {MAX_CLASS}]", raw.strip())
        if x2 <= x1 or y2 <= y1:
            raise DataFormatError(path, where, "a non-empty box with x2 > x1 and y2 > y1", raw.strip())
        if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
            raise DataFormatError(
                path, where, f"a box inside the {width}x{height} image (±{tolerance} px)", raw.strip()
            )
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if cx2 <= cx1 or cy2 <= cy1:
            raise DataFormatError(path, where, f"a box overlapping the {width}x{height} image", raw.strip())
        was_clipped = (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2)
        if was_clipped:
            clipped.append(f"{where}: ({x1}, {y1}, {x2}, {y2}) -> ({cx1}, {cy1}, {cx2}, {cy2})")
        boxes.append(DcmBox(cls, cx1, cy1, cx2, cy2, number, was_clipped))
    return boxes, clipped


def _read_split(root: Path, split: str) -> list[str]:
    path = root / f"{split}.txt"
    if not path.is_file():
        raise DataFormatError(path, "", f"a split file listing the '{split}' page names")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if name:
            names.append(Path(name).stem if Path(name).suffix.lower() in (".jpg", ".txt", ".png") else name)
    return names


def load_dcm(
    root: str | os.PathLike, split: str | None = None, tolerance: int = DEFAULT_TOLERANCE
) -> list[DcmPage]:
    """Load DCM772 pages and their boxes.

    Args:
        root: the folder holding ``images/`` and ``groundtruth/``.
        split: ``"train"``, ``"val"`` or ``"test"`` to read only the pages listed in
            ``<root>/<split>.txt``; None for every page.
        tolerance: see the module's box policy.

    Returns:
        Pages sorted by name (or in split-file order).

    Raises:
        DataFormatError: a missing folder, an image without ground truth or the reverse,
            or any error of :func:`parse_groundtruth`.
    """
    root = Path(root)
    for sub in ("images", "groundtruth"):
        if not (root / sub).is_dir():
            raise DataFormatError(root / sub, "", "an existing DCM772 folder (images/ and groundtruth/)")
    images = {p.stem: p for p in fileio.list_images(root / "images")}
    annotations = {p.stem: p for p in sorted((root / "groundtruth").glob("*.txt"))}
    if split is None:
        for name, ann in annotations.items():
            if name not in images:
                raise DataFormatError(ann, "page image", f"a page image images/{name}.jpg for this ground truth")
        for name, img in images.items():
            if name not in annotations:
                raise DataFormatError(img, "ground truth", f"a ground-truth file groundtruth/{name}.txt")
        names = sorted(images)
    else:
        names = _read_split(root, split)
        for name in names:
            if name not in images:
                raise DataFormatError(root / f"{split}.txt", name, f"a page image images/{name}.jpg")
            if name not in annotations:
                raise DataFormatError(root / f"{split}.txt", name, f"a ground-truth file groundtruth/{name}.txt")
    pages = []
    for name in names:
        width, height = fileio.image_size(images[name])
        boxes, clipped = parse_groundtruth(annotations[name], width, height, tolerance)
        pages.append(DcmPage(name, images[name], annotations[name], width, height, boxes, clipped))
    return pages


def panel_crops(
    page: DcmPage, min_size: int = 16, image: np.ndarray | None = None
) -> list[tuple[str, np.ndarray, tuple[int, int, int, int]]]:
    """Cut the page's panels (class 8) out of its image.

    Args:
        page: a loaded page.
        min_size: panels narrower or shorter than this many pixels are left out (slivers
            from mis-clicks); their numbers ``k`` are still consumed so names stay stable.
        image: the page's RGB pixels when already read.

    Returns:
        ``(name, rgb_crop, (x, y, w, h))`` per panel, named ``<page>_<k>`` with ``k``
        counting the page's panel boxes from 1 in file order.
    """
    if image is None:
        image = page.read_image()
    crops = []
    for k, box in enumerate(page.panels, start=1):
        x, y, w, h = box.xywh
        if w < min_size or h < min_size:
            continue
        crops.append((f"{page.name}_{k}", image[y : y + h, x : x + w].copy(), (x, y, w, h)))
    return crops


def export_panel_crops(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    split: str | None = None,
    min_size: int = 16,
    tolerance: int = DEFAULT_TOLERANCE,
) -> list[str]:
    """Write one image per panel (the seed's ``--crop_frames``).

    Files: ``out_dir/images/<page>_<k>.png`` and ``out_dir/manifest.csv`` with columns
    ``name, page, x1, y1, x2, y2, line, clipped`` (``clipped`` is 1 when the box was clipped
    to the image). Every write is atomic.

    Args:
        root: a DCM772 folder.
        out_dir: destination folder.
        split: optional split file to follow (see :func:`load_dcm`).
        min_size: see :func:`panel_crops`.
        tolerance: see the module's box policy.

    Returns:
        The crop names in writing order.
    """
    out_dir = Path(out_dir)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["name", "page", "x1", "y1", "x2", "y2", "line", "clipped"])
    names = []
    for page in load_dcm(root, split=split, tolerance=tolerance):
        by_name = {f"{page.name}_{k}": box for k, box in enumerate(page.panels, start=1)}
        for name, crop, _ in panel_crops(page, min_size):
            box = by_name[name]
            fileio.write_image(out_dir / "images" / f"{name}.png", crop)
            writer.writerow([name, page.name, box.x1, box.y1, box.x2, box.y2, box.line, int(box.clipped)])
            names.append(name)
    fileio.atomic_write_text(out_dir / "manifest.csv", table.getvalue())
    return names


def to_samples(crops_dir: str | os.PathLike) -> list[dict]:
    """Sample dicts for :func:`comicdepth_tf.data.pipelines.make_dataset` from exported crops.

    Reads the folder written by :func:`export_panel_crops`.

    Args:
        crops_dir: the export's ``out_dir``.

    Returns:
        ``{"name", "image"}`` per panel crop (file paths), sorted by name.
    """
    return [{"name": p.stem, "image": str(p)} for p in fileio.list_images(Path(crops_dir) / "images")]


def page_samples(pages: Iterable[DcmPage]) -> list[dict]:
    """Whole-page sample dicts: ``{"name", "image"}`` (paths) plus ``"boxes"``, int32 (N, 5)
    rows ``class x1 y1 x2 y2`` after clipping (an extra key, ignored by the pipelines)."""
    return [
        {
            "name": page.name,
            "image": str(page.image_path),
            "boxes": np.asarray([[b.class_id, b.x1, b.y1, b.x2, b.y2] for b in page.boxes], dtype=np.int32).reshape(
                -1, 5
            ),
        }
        for page in pages
    ]
