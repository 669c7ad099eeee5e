"""Labels of rendered panels and the text of every on-disk format of the embedded dataset.

- :func:`panel_segments`: visible segments of a panel as COCO polygons with Interdepth /
  Intradepth, ready for the AI4VA JSON; ordering points for ComicsDepth files.
- :class:`CocoBuilder`: AI4VA / CVAT-style COCO JSON (train, val, and the test segments
  without depth attributes).
- :func:`ebdtheque_svg`, :func:`dcm_groundtruth`, :func:`ordering_text`: eBDtheque SVG,
  DCM772 box files and ComicsDepth ordering files.

COCO polygons cannot hold holes, so a segment with holes (a wall around a window, a body
behind a balloon) is cut by one-pixel columns from each hole to its outside first; the
polygons are then rasterised back with pycocotools and the segment keeps only if that
mask is faithful (at most :data:`MAX_SPILL` of it outside the true mask) and large enough.
The kept segments are exactly what a loader sees through ``COCO.annToMask``.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from comicdepth_tf.data import scene as sc
from comicdepth_tf.data.render import PanelRender

#: Largest share of a rasterised polygon mask allowed outside the true segment.
MAX_SPILL = 0.1
#: DCM772 box classes written for the embedded pages (the published ids: 1 body, 7 face, 8 frame).
DCM_CLASSES = {"character": 1, "face": 7, "panel": 8}


def _cut_holes(mask: np.ndarray, max_rounds: int = 32) -> np.ndarray:
    """Cut every hole of ``mask`` open with a one-pixel column up to the mask's outside."""
    m = mask.astype(np.uint8)
    for _ in range(max_rounds):
        contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            break
        holes = [c for c, h in zip(contours, hierarchy[0]) if h[3] >= 0]
        if not holes:
            break
        for c in holes:
            x, y, w, h = cv2.boundingRect(c)
            m[: y + h // 2 + 1, x + w // 2] = 0
    return m


def mask_to_polygons(mask: np.ndarray) -> list[list[int]]:
    """COCO polygons (flat ``[x1, y1, x2, y2, …]`` lists) of a boolean mask, holes cut open."""
    contours, _ = cv2.findContours(_cut_holes(mask), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(int).tolist() for c in contours if len(c) >= 3 and cv2.contourArea(c) > 0]


def polygons_to_mask(polygons: list[list[int]], height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons the way ``pycocotools`` (and so every loader) does."""
    if not polygons:
        return np.zeros((height, width), bool)
    rles = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


@dataclass
class Segment:
    """A visible part of an object in one panel (panel coordinates).

    Attributes:
        part_id: id in the panel's part map.
        object_index: the object in the panel's scene.
        category_id: COCO category.
        polygons: COCO polygons.
        mask: the polygons rasterised (what loaders read).
        core: pixels of ``mask`` that truly show the part (ordering points are drawn there).
        interdepth: rank of the object among the panel's objects (0 = nearest).
        intradepth: rank of the part's level inside its object (0 = nearest).
    """

    part_id: int
    object_index: int
    category_id: int
    polygons: list[list[int]]
    mask: np.ndarray
    core: np.ndarray
    interdepth: int = -1
    intradepth: int = -1

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def bbox(self) -> list[float]:
        """[x, y, w, h] of the rasterised mask (panel coordinates)."""
        ys, xs = np.nonzero(self.mask)
        return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def panel_segments(panel: PanelRender, min_area: int) -> list[Segment]:
    """Visible segments of a panel with their ordinal depth labels.

    A segment is the visible part of one object part, minus text and frame pixels. Tiny
    or badly polygonised segments are dropped *before* ranking, so ranks are dense over
    what is annotated.

    Args:
        panel: a rendered panel.
        min_area: smallest segment kept, in pixels.

    Returns:
        Segments in part order, with ``interdepth`` / ``intradepth`` set.
    """
    buf = panel.buffers
    h, w = buf.part_id.shape
    labels = np.where(panel.exclude, -9, buf.part_id)
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=len(buf.parts))
    segments: list[Segment] = []
    for pid in np.flatnonzero(counts >= min_area):
        ys, xs = np.nonzero(labels == pid)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        # Work inside the bounding box (plus a border so contours close) for speed.
        y0, x0 = max(0, y0 - 1), max(0, x0 - 1)
        y1, x1 = min(h, y1 + 1), min(w, x1 + 1)
        true = labels[y0:y1, x0:x1] == pid
        polys = mask_to_polygons(true)
        if not polys:
            continue
        local = polygons_to_mask(polys, y1 - y0, x1 - x0)
        inside = int((local & true).sum())
        if inside < min_area or (local & ~true).sum() > MAX_SPILL * local.sum():
            continue
        full = np.zeros((h, w), bool)
        full[y0:y1, x0:x1] = local
        core = np.zeros((h, w), bool)
        core[y0:y1, x0:x1] = local & true
        shifted = [(np.array(p).reshape(-1, 2) + (x0, y0)).reshape(-1).tolist() for p in polys]
        ref = buf.parts[pid]
        segments.append(Segment(int(pid), ref.object_index, panel.scene.objects[ref.object_index].category_id,
                                shifted, full, core))
    ranks = sc.depth_ranks(panel.scene.objects, buf.parts, [s.part_id for s in segments])
    for s in segments:
        s.interdepth, s.intradepth = ranks[s.part_id]
    return segments


def ordering_points(segments: list[Segment], rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """ComicsDepth ordering points ``(l1, l2, x, y)``: 1-based levels, column, row.

    One to three points per segment, drawn away from its border when possible.
    """
    points = []
    kernel = np.ones((3, 3), np.uint8)
    for s in segments:
        inner = cv2.erode(s.core.astype(np.uint8), kernel, borderValue=0) > 0
        ys, xs = np.nonzero(inner if inner.any() else s.core)
        n = 1 + int(s.area > 150) + int(s.area > 600)
        for k in rng.choice(len(xs), size=min(n, len(xs)), replace=False):
            points.append((s.interdepth + 1, s.intradepth + 1, int(xs[k]), int(ys[k])))
    return points


def ordering_text(points: list[tuple[int, int, int, int]]) -> str:
    """Text of a ComicsDepth ordering file: one ``l1 l2 x y`` line per point."""
    return "".join(f"{l1} {l2} {x} {y}\n" for l1, l2, x, y in points)


def figure_regions(
    panel: PanelRender, min_area: int
) -> list[tuple[np.ndarray, tuple[int, int, int, int], tuple | None]]:
    """Visible figures of a panel: (outline polygon, box x1 y1 x2 y2, head box or None), panel coordinates."""
    buf = panel.buffers
    labels = np.where(panel.exclude, -9, buf.part_id)
    out = []
    for oi, obj in enumerate(panel.scene.objects):
        if obj.category_id != sc.CHARACTER:
            continue
        pids = [i for i, p in enumerate(buf.parts) if p.object_index == oi]
        if not pids:
            continue
        mask = np.isin(labels, pids)
        if mask.sum() < min_area:
            continue
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        c = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 1.0, True).reshape(-1, 2)
        if len(c) < 3:
            continue
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        head = None
        heads = [i for i in pids if buf.parts[i].part.name == "head"]
        if heads:
            hy, hx = np.nonzero(np.isin(labels, heads))
            if len(hx) >= min_area:
                head = (int(hx.min()), int(hy.min()), int(hx.max()) + 1, int(hy.max()) + 1)
        out.append((c, box, head))
    return out


class CocoBuilder:
    """AI4VA / CVAT-style COCO document built page by page.

    Images carry an extra ``panels`` list of ``[x, y, w, h]`` boxes (embedded data only;
    COCO readers ignore unknown keys). Attributes hold CVAT's ``occluded`` flag and, when
    ``with_depth``, ``Interdepth`` and ``Intradepth``.
    """

    def __init__(self, with_depth: bool = True):
        self.with_depth = with_depth
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add_page(self, file_name: str, width: int, height: int, panels: list[tuple[tuple[int, int, int, int],
                                                                                    list[Segment]]]) -> int:
        """Add a page and the segments of each of its panels; returns the image id."""
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "width": int(width), "height": int(height),
                            "panels": [[int(v) for v in box] for box, _ in panels]})
        for (x, y, _, _), segments in panels:
            for s in segments:
                bx, by, bw, bh = s.bbox()
                attributes: dict = {"occluded": False}
                if self.with_depth:
                    attributes.update(Interdepth=int(s.interdepth), Intradepth=int(s.intradepth))
                self.annotations.append({
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(s.category_id),
                    "segmentation": [(np.array(p).reshape(-1, 2) + (x, y)).reshape(-1).tolist() for p in s.polygons],
                    "area": float(s.area),
                    "bbox": [bx + x, by + y, bw, bh],
                    "iscrowd": 0,
                    "attributes": attributes,
                })
        return image_id

    def to_dict(self) -> dict:
        """The COCO document."""
        return {
            "info": {"description": "comicdepth_tf embedded synthetic comics (AI4VA depth layout)"},
            "licenses": [],
            "categories": [dict(c, supercategory="") for c in sc.CATEGORIES],
            "images": self.images,
            "annotations": self.annotations,
        }


def _points_attr(poly: np.ndarray, offset: tuple[int, int]) -> str:
    return quoteattr(
        " ".join(f"{int(px) + offset[0]},{int(py) + offset[1]}" for px, py in np.asarray(poly).reshape(-1, 2))
    )


def ebdtheque_svg(image_name: str, width: int, height: int, classes: dict[str, list[np.ndarray]]) -> str:
    """eBDtheque ground-truth SVG: a ``Page`` child holding the image, one child per class.

    Args:
        image_name: page file name (referenced from the ``Page`` image).
        width: page width.
        height: page height.
        classes: ``Panel`` / ``Balloon`` / ``Line`` / ``Character`` -> polygons (N, 2) in page pixels.
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">',
           '  <svg class="Page">', "    <title>Page</title>",
           f'    <image xlink:href={quoteattr("../Pages/" + image_name)} width="{width}" height="{height}"/>',
           "  </svg>"]
    for name in ("Panel", "Balloon", "Line", "Character"):
        out.append(f'  <svg class="{name}">')
        out.append(f"    <title>{name}</title>")
        for poly in classes.get(name, []):
            out.append(f"    <polygon points={_points_attr(poly, (0, 0))}/>")
        out.append("  </svg>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def dcm_groundtruth(boxes: list[tuple[int, int, int, int, int]]) -> str:
    """DCM772 box file: one ``class x1 y1 x2 y2`` line per box (x2, y2 exclusive)."""
    return "".join(f"{c} {x1} {y1} {x2} {y2}\n" for c, x1, y1, x2, y2 in boxes)
