"""What the exploration notebook (``00_explore_data``) shows, as short library calls.

:func:`find_sources` says which datasets a folder holds (the embedded dataset holds all of
them; a real download holds one), and each ``*_figure`` function draws one kind of view
from the loaders' records, so the notebook is only narrative, parameters and calls.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import fileio, viz
from comicdepth_tf.errors import DataFormatError, ParameterError

# isort: split
# Re-exported: the notebook imports its stage module only, and calls them as ``explore.<name>``.
from comicdepth_tf.data.formats.ai4va import level_statistics, load_ai4va_splits  # noqa: F401
from comicdepth_tf.data.formats.coco_images import load_image_folder  # noqa: F401
from comicdepth_tf.data.formats.dcm import load_dcm  # noqa: F401
from comicdepth_tf.data.formats.ebdtheque import load_ebdtheque  # noqa: F401
from comicdepth_tf.data.formats.ebdtheque import text_mask as ebdtheque_text_mask  # noqa: F401
from comicdepth_tf.data.formats.modest import load_modest  # noqa: F401
from comicdepth_tf.data.formats.nyu import load_nyu  # noqa: F401
from comicdepth_tf.data.formats.ordering import load_ordering_set  # noqa: F401
from comicdepth_tf.data.formats.rgbd import real_rgbd_records  # noqa: F401
from comicdepth_tf.paths import real_data_dir  # noqa: F401

#: Dataset kinds the notebook can show, with the folder name each has inside the embedded dataset.
KINDS = {
    "ai4va": "ai4va",
    "panels": "panels",
    "ebdtheque": "ebdtheque",
    "dcm772": "dcm772",
    "nyu": "nyu",
    "natural": "natural/images",
    "modest": "modest",
}


def find_sources(dataset: str, data_dir: str = "", profile: str = "cpu", seed: int = 0) -> dict[str, Path]:
    """The dataset folders to explore.

    Args:
        dataset: ``"embedded"`` (every kind, generated when missing) or one of :data:`KINDS`.
        data_dir: the dataset folder; empty means the embedded dataset of ``profile``.
        profile: embedded dataset profile (``smoke``, ``cpu``, ``full``).
        seed: embedded dataset seed.

    Returns:
        kind -> folder, only for kinds that are present.

    Raises:
        ParameterError: unknown ``dataset``.
        DataFormatError: ``data_dir`` does not exist.
    """
    if dataset != "embedded" and dataset not in KINDS:
        raise ParameterError(f"DATASET must be 'embedded' or one of {sorted(KINDS)}, got {dataset!r}")
    if dataset == "embedded" and not data_dir:
        from comicdepth_tf.data import synthetic

        root = synthetic.ensure_dataset(profile, seed=seed)
    else:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DataFormatError(root, "DATA_DIR", f"an existing {dataset} dataset folder")
    if dataset != "embedded":
        return {dataset: root}
    return {kind: root / sub for kind, sub in KINDS.items() if (root / sub).exists()}


# --------------------------------------------------------------------------- AI4VA pages


def page_views(dataset: Any, image_id: int) -> dict[str, Any]:
    """Arrays for one AI4VA page: image, segment masks, levels, boxes, panels, depth, text mask."""
    from comicdepth_tf.data.formats import ai4va

    page = dataset.page(image_id)
    segments = ai4va.page_segments(dataset, image_id)
    return {
        "name": page.name,
        "image": fileio.read_image(page.path),
        "masks": [ai4va.segment_mask(dataset, s) for s in segments],
        "boxes": [s.bbox for s in segments],
        "categories": [s.category for s in segments],
        "interdepth": [s.interdepth for s in segments],
        "intradepth": [s.intradepth for s in segments],
        # Panel boxes are an embedded-data extra of the COCO image record; real AI4VA has none.
        "panels": [tuple(b) for b in dataset.coco.imgs[image_id].get("panels", [])],
        "depth": fileio.read_depth_png16(page.depth_path) if page.depth_path else None,
        "text_mask": fileio.read_mask(page.text_mask_path) if page.text_mask_path else None,
    }


def page_figure(dataset: Any, image_id: int, size: float = 3.2):
    """One row of views of an AI4VA page: masks and boxes, Interdepth, Intradepth, depth, text.

    Views whose data the dataset lacks (dense depth and text masks exist only in the
    embedded data; test pages have no levels) are left out.
    """
    plt = viz.pyplot()
    v = page_views(dataset, image_id)
    has_levels = any(x is not None for x in v["interdepth"])
    n = 2 + 2 * has_levels + (v["depth"] is not None) + (v["text_mask"] is not None) - 1
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.4), squeeze=False)
    axes = list(axes[0])
    boxed = viz.draw_boxes(v["image"], v["boxes"], color=(255, 255, 0), thickness=1)
    boxed = viz.draw_boxes(boxed, v["panels"], color=(255, 0, 0), thickness=2) if v["panels"] else boxed
    viz.overlay_segments(boxed, v["masks"], ax=axes.pop(0), title=f"{v['name']}: {len(v['masks'])} segments")
    if has_levels:
        viz.overlay_segments(v["image"], v["masks"], values=v["interdepth"], ax=axes.pop(0), title="Interdepth",
                             colorbar_label="level (0 = nearest)")
        viz.overlay_segments(v["image"], v["masks"], values=v["intradepth"], ax=axes.pop(0), title="Intradepth",
                             colorbar_label="level (0 = nearest)")
    if v["depth"] is not None:
        ax = axes.pop(0)
        ax.imshow(viz.colorize_depth(v["depth"]))
        ax.set_title("dense depth (near = bright)")
    if v["text_mask"] is not None:
        ax = axes.pop(0)
        ax.imshow(viz.overlay_mask(v["image"], v["text_mask"], color=(0, 160, 255)))
        ax.set_title(f"text mask ({v['text_mask'].mean():.1%} of page)")
    for ax in fig.axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def segment_depth_agreement(dataset: Any) -> dict[str, float]:
    """How often Interdepth order agrees with dense depth (median inside each segment), per panel.

    Only for datasets with dense depth (the embedded one). Pairs of segments of the same
    page with different Interdepth are compared when they lie in the same panel (the
    page's ``panels`` boxes) — or on the same page when panel boxes are absent.

    Returns:
        ``{"pairs": n, "agreement": share of pairs whose smaller level has the smaller median}``.
    """
    from comicdepth_tf.data.formats import ai4va

    pairs = agree = 0
    for page in dataset.pages:
        if page.depth_path is None:
            continue
        depth = fileio.read_depth_png16(page.depth_path)
        panels = dataset.coco.imgs[page.image_id].get("panels") or [[0, 0, page.width, page.height]]
        rows = []
        for s in ai4va.page_segments(dataset, page.image_id):
            mask = ai4va.segment_mask(dataset, s) & (depth > 0)
            if s.interdepth is None or not mask.any():
                continue
            x, y, w, h = s.bbox
            cx, cy = x + w / 2, y + h / 2
            panel = next(
                (k for k, (px, py, pw, ph) in enumerate(panels) if px <= cx <= px + pw and py <= cy <= py + ph), -1
            )
            rows.append((panel, s.interdepth, float(np.median(depth[mask]))))
        for i, (pa, la, da) in enumerate(rows):
            for pb, lb, db in rows[i + 1:]:
                if pa == pb and la != lb:
                    pairs += 1
                    agree += (da < db) == (la < lb)
    return {"pairs": pairs, "agreement": agree / pairs if pairs else float("nan")}


# --------------------------------------------------------------------------- other views


def ordering_figure(panels: list, n: int = 4, size: float = 3.0):
    """Panel crops with their ComicsDepth ordering points coloured by object level (l1)."""
    plt = viz.pyplot()
    panels = panels[:n]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(size * max(len(panels), 1), size), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        ax.imshow(fileio.read_image(panel.image))
        pts = panel.points
        sc = ax.scatter(pts.x, pts.y, c=pts.l1, cmap="viridis_r", s=18, edgecolors="white", linewidths=0.5)
        ax.set_title(f"{panel.name}: {len(pts)} points", fontsize=8)
        ax.axis("off")
    if panels:
        fig.colorbar(sc, ax=list(axes[0]), shrink=0.7, label="l1 (1 = nearest object)")
    return fig


def rgbd_figure(records: list, n: int = 4):
    """RGB images above their colour-mapped depth (any RGB-D loader's records)."""
    from comicdepth_tf.data.formats import rgbd

    rows = []
    for record in records[:n]:
        rgb, depth = rgbd.load_rgbd_pair(record)
        rows.append({"input": rgb, "depth": depth})
    return viz.depth_grid(rows)


def rgbd_statistics(records: list) -> dict[str, dict[str, float]]:
    """Per-record depth statistics (min, max, median, valid share) of RGB-D records."""
    from comicdepth_tf.data.formats import rgbd

    return {r.name: rgbd.depth_statistics(rgbd.load_rgbd_pair(r)[1]) for r in records}


def modest_figure(records: list, n: int = 3):
    """MODEST composites: background, background + foreground, mask, depth (brighter = farther in the files)."""
    from comicdepth_tf.data.formats import rgbd

    images, titles = [], []
    for r in records[:n]:
        images += [fileio.read_image(r.bg), fileio.read_image(r.bg_fg), fileio.read_mask(r.mask),
                   viz.colorize_depth(rgbd.decode_depth(r.depth, "modest_png8"))]
        titles += ["bg", "bg + fg", "fg mask", "depth (near = bright)"]
    return viz.show_images(images, titles=titles, ncols=4)


def folder_figure(folder: str | os.PathLike, n: int = 8):
    """A grid of the first ``n`` images of a folder (comics pages, natural images, crops)."""
    files = fileio.list_images(folder)[:n]
    return viz.show_images([fileio.read_image(f) for f in files], titles=[f.name for f in files], ncols=4)


def ebdtheque_figure(pages: list, n: int = 3):
    """eBDtheque pages with their text mask (Balloon ∪ Line, blue) and panel boxes (red)."""
    from comicdepth_tf.data.formats import ebdtheque

    images = []
    for page in pages[:n]:
        image = viz.overlay_mask(page.read_image(), ebdtheque.text_mask(page), color=(0, 160, 255))
        images.append(viz.draw_boxes(image, ebdtheque.panel_boxes(page), color=(255, 0, 0)))
    return viz.show_images(images, titles=[p.name for p in pages[:n]], ncols=max(min(n, len(images)), 1))


def dcm_figure(pages: list, n: int = 3):
    """DCM772 pages with panel boxes (class 8, red) and the other boxes labelled by class."""
    from comicdepth_tf.data.formats import dcm

    images = []
    for page in pages[:n]:
        others = [b for b in page.boxes if b.class_id != dcm.PANEL_CLASS]
        image = viz.draw_boxes(page.read_image(), [b.xywh for b in page.panels], color=(255, 0, 0))
        images.append(viz.draw_boxes(image, [b.xywh for b in others], color=(0, 200, 0), thickness=1,
                                     labels=[dcm.CLASS_NAMES.get(b.class_id, str(b.class_id)) for b in others]))
    return viz.show_images(images, titles=[p.name for p in pages[:n]], ncols=max(min(n, len(images)), 1))
