"""Plots for every notebook: images, masks, segments coloured by depth level, boxes, depth maps.

Everything takes plain NumPy arrays and dicts, never a loader's record type, so any
notebook can use any function. Figures are made with pyplot, so Jupyter's inline backend
shows them; assign the returned figure (``fig = show_images(...)``) to avoid a second copy
when it is a cell's last expression. Outside a display (CI, papermill with no kernel
backend, scripts) the non-interactive Agg backend is selected the first time a figure is
made, unless a backend was chosen already.

Depth colouring convention: near is bright (``magma_r`` on metric depth); pass
``cmap="magma"`` for inverse-depth predictions where larger means nearer.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from comicdepth_tf import fileio

_INVALID_GREY = (0.5, 0.5, 0.5)


def _ensure_backend() -> None:
    """Pick Agg only when nothing chose a backend and no display can show a window."""
    import matplotlib

    if "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND"):
        return
    if "ipykernel" in sys.modules:
        return  # the kernel sets its inline backend itself
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        matplotlib.use("Agg")


def pyplot():
    """``matplotlib.pyplot``, with the Agg backend chosen first where no display can show a window."""
    _ensure_backend()
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None,
                 best_epoch: int | None = None):
    """Training (solid) and validation (dashed) curves per epoch, one panel per key.

    Args:
        history: ``{column: values per epoch}`` (``history.csv`` as read by
            :func:`comicdepth_tf.training.read_history`); NaN (an epoch not validated) is skipped.
        keys: the metrics drawn (train name; ``val_<key>`` beside it); default: every training
            loss column (``*loss``).
        best_epoch: the kept epoch (1-based), marked on every panel.
    """
    if keys is None:
        keys = [k for k in history if k.endswith("loss") and not k.startswith("val_")]
    keys = [k for k in keys if k in history or f"val_{k}" in history]
    plt = pyplot()
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.2 * max(len(keys), 1), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for prefix, style, label in (("", "-o", "train"), ("val_", "--o", "validation")):
            values = np.asarray(history.get(prefix + key, []), dtype=float)
            epochs = np.flatnonzero(np.isfinite(values)) + 1
            if len(epochs):
                ax.plot(epochs, values[epochs - 1], style, ms=3, label=label)
        if best_epoch:
            ax.axvline(best_epoch, color="k", lw=0.8, ls=":", label=f"kept epoch {best_epoch}")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any image (gray, RGB, RGBA, float in [0, 1], bool) as RGB uint8."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.nan_to_num(arr.astype(np.float32))
        if arr.max(initial=0.0) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[..., :3].copy()
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr.copy()
    raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}")


def _check_mask(mask: np.ndarray, image: np.ndarray, what: str = "mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != image.shape[:2]:
        raise ValueError(f"{what} of shape {m.shape} does not match the image's {image.shape[:2]}")
    return m.astype(bool)


# --------------------------------------------------------------------------- arrays


def overlay_mask(
    image: np.ndarray, mask: np.ndarray, color: Sequence[int] = (255, 0, 0), alpha: float = 0.5
) -> np.ndarray:
    """Blend ``color`` over the masked pixels; other pixels keep their values.

    Args:
        image: (H, W) or (H, W, 3) image.
        mask: (H, W) bool (or 0/non-zero) mask.
        color: RGB 0-255.
        alpha: opacity of the colour in [0, 1].

    Returns:
        RGB uint8 (H, W, 3).
    """
    out = _as_rgb_uint8(image)
    m = _check_mask(mask, out)
    blended = (1.0 - alpha) * out[m].astype(np.float32) + alpha * np.asarray(color, dtype=np.float32)
    out[m] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out


def _invalid(depth: np.ndarray) -> np.ndarray:
    return ~np.isfinite(depth) | (depth <= 0)


def depth_limits(depth: np.ndarray, percentiles: tuple[float, float] = (2.0, 98.0),
                 signed: bool = False) -> tuple[float, float]:
    """Robust colour limits: the given percentiles of the valid values (finite and > 0; with
    ``signed``, every finite value: relative and inverse predictions may be ≤ 0)."""
    d = np.asarray(depth, dtype=np.float64)
    valid = d[np.isfinite(d)] if signed else d[~_invalid(d)]
    if valid.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(valid, percentiles)
    if hi <= lo:
        hi = lo + 1e-6
    return float(lo), float(hi)


_LUTS: dict[str, np.ndarray] = {}


def colormap_lut(name: str) -> np.ndarray:
    """A 256 × 3 uint8 table of a Matplotlib colormap (a lookup is ~20× faster per image than
    calling the colormap). Unknown names raise :class:`~comicdepth_tf.errors.ParameterError`."""
    if name not in _LUTS:
        import matplotlib

        from comicdepth_tf.errors import ParameterError

        try:
            cmap = matplotlib.colormaps[name]
        except KeyError:
            raise ParameterError(f"unknown colormap {name!r}; use a Matplotlib colormap name such as magma_r") from None
        _LUTS[name] = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)
    return _LUTS[name]


def colorize_depth(
    depth: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "magma_r",
    invalid_color: Sequence[int] | None = (0, 0, 0),
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> np.ndarray:
    """Colour a depth map: the one colouring of the notebooks, reports and command-line tools.

    Near is bright by default (``magma_r``: small depth = bright); ``vmin`` may be larger than
    ``vmax`` to reverse the scale (inverse depth: large = near = bright).

    Args:
        depth: (H, W) depth.
        vmin, vmax: the values at the two ends of ``cmap``; each missing one comes from
            ``percentiles`` of the valid values.
        cmap: a Matplotlib colormap name.
        invalid_color: RGB 0-255 for invalid pixels (0, negative, NaN, inf); None: every finite
            value is valid (relative and inverse predictions may be ≤ 0).
        percentiles: lower and upper percentiles used for missing limits.

    Returns:
        RGB uint8 (H, W, 3).
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise ValueError(f"expected a depth map of shape (H, W), got {d.shape}")
    invalid = _invalid(d) if invalid_color is not None else ~np.isfinite(d)
    if vmin is None or vmax is None:
        lo, hi = depth_limits(d, percentiles, signed=invalid_color is None)
        vmin, vmax = lo if vmin is None else vmin, hi if vmax is None else vmax
    span = float(vmax) - float(vmin) or 1e-6
    t = np.clip((np.where(invalid, vmin, d) - float(vmin)) * (255.0 / span), 0.0, 255.0).astype(np.uint8)
    rgb = colormap_lut(cmap)[t]
    if invalid_color is not None:
        rgb[invalid] = np.asarray(invalid_color, dtype=np.uint8)
    return rgb


def draw_boxes(
    target: Any,
    boxes_xywh: Sequence[Sequence[float]],
    labels: Sequence[str] | None = None,
    color: Sequence[int] | str = (255, 0, 0),
    thickness: int = 2,
):
    """Draw ``(x, y, w, h)`` boxes on an image array or on Matplotlib axes.

    Args:
        target: an image array (a copy with the boxes drawn is returned) or an ``Axes``
            (rectangles are added to it and it is returned).
        boxes_xywh: boxes in pixels, ``(x, y)`` the top-left corner.
        labels: optional text per box.
        color: RGB 0-255 (or a Matplotlib colour name when drawing on axes).
        thickness: line width in pixels (points on axes).
    """
    boxes = [tuple(float(v) for v in b) for b in boxes_xywh]
    if labels is not None and len(labels) != len(boxes):
        raise ValueError(f"got {len(labels)} labels for {len(boxes)} boxes")
    if isinstance(target, np.ndarray):
        out = _as_rgb_uint8(target)
        rgb = tuple(int(c) for c in color) if not isinstance(color, str) else (255, 0, 0)
        for i, (x, y, w, h) in enumerate(boxes):
            p1 = (int(round(x)), int(round(y)))
            p2 = (int(round(x + w)) - 1, int(round(y + h)) - 1)
            cv2.rectangle(out, p1, p2, rgb, thickness)
            if labels is not None:
                cv2.putText(
                    out, str(labels[i]), (p1[0] + 2, p1[1] + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, rgb, 1, cv2.LINE_AA
                )
        return out
    from matplotlib.patches import Rectangle

    ax = target
    mpl_color = color if isinstance(color, str) else tuple(c / 255.0 for c in color)
    for i, (x, y, w, h) in enumerate(boxes):
        # pixel centres sit on integers in imshow, so a box's outer edge is at x - 0.5
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor=mpl_color, linewidth=thickness))
        if labels is not None:
            ax.text(x, y, str(labels[i]), color="white", fontsize=8, va="top",
                    bbox=dict(facecolor=mpl_color, edgecolor="none", pad=1.0, alpha=0.8))
    return ax


# --------------------------------------------------------------------------- figures


def show_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    cmap: str | None = None,
    size: float = 3.0,
):
    """Show images in a grid.

    Args:
        images: arrays (H, W) or (H, W, 3); 2-D arrays use ``cmap`` (gray by default).
        titles: optional title per image.
        ncols: columns of the grid.
        cmap: colormap for 2-D arrays.
        size: inches per cell.

    Returns:
        The Matplotlib figure.
    """
    plt = pyplot()
    images = list(images)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    n = max(len(images), 1)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(images):
            continue
        arr = np.asarray(images[i])
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
            ax.imshow(arr.reshape(arr.shape[:2]), cmap=cmap or "gray", interpolation="nearest")
        else:
            ax.imshow(_as_rgb_uint8(arr), interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def _stack_masks(masks: Any, shape: tuple[int, int]) -> list[np.ndarray]:
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        masks = [masks]
    out = []
    for i, m in enumerate(masks):
        m = np.asarray(m)
        if m.shape != shape:
            raise ValueError(f"mask {i} has shape {m.shape}, expected the image's {shape}")
        out.append(m.astype(bool))
    return out


def overlay_segments(
    image: np.ndarray,
    masks: Any,
    values: Sequence[float | None] | None = None,
    cmap: str = "viridis",
    labels: Sequence[str] | None = None,
    ax=None,
    alpha: float = 0.55,
    title: str | None = None,
    colorbar_label: str | None = None,
):
    """Colour each segment by a value (Interdepth, Intradepth, ...) with outlines and a colorbar.

    Args:
        image: (H, W) or (H, W, 3) page or panel.
        masks: (N, H, W) array or list of (H, W) bool masks; later segments paint over earlier ones.
        values: one value per segment; None/NaN values are grey (missing labels). When
            ``values`` is None each segment gets its own colour and there is no colorbar.
        cmap: colormap for the values.
        labels: optional text drawn at each segment's centre.
        ax: axes to draw on (a new figure otherwise).
        alpha: opacity of the fills.
        title: axes title.
        colorbar_label: the colorbar's label.

    Returns:
        The axes (its figure is ``ax.figure``).
    """
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    plt = pyplot()
    base = _as_rgb_uint8(image)
    masks = _stack_masks(masks, base.shape[:2])
    if values is not None and len(values) != len(masks):
        raise ValueError(f"got {len(values)} values for {len(masks)} segments")
    if labels is not None and len(labels) != len(masks):
        raise ValueError(f"got {len(labels)} labels for {len(masks)} segments")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7 * base.shape[0] / max(base.shape[1], 1)))

    colormap = matplotlib.colormaps[cmap]
    norm = None
    if values is not None:
        vals = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
        colors = [(_INVALID_GREY if not np.isfinite(v) else colormap(norm(v))[:3]) for v in vals]
    else:
        cycle = matplotlib.colormaps["tab20"]
        colors = [cycle(i % 20)[:3] for i in range(len(masks))]

    out = base.astype(np.float32)
    for m, c in zip(masks, colors):
        out[m] = (1.0 - alpha) * out[m] + alpha * 255.0 * np.asarray(c, dtype=np.float32)
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    for m, c in zip(masks, colors):
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        edge = tuple(int(round(255 * v * 0.6)) for v in c)  # darker than the fill so outlines read
        cv2.drawContours(out, contours, -1, edge, 1)
    ax.imshow(out, interpolation="nearest")
    ax.axis("off")
    if labels is not None:
        for m, text in zip(masks, labels):
            ys, xs = np.nonzero(m)
            if xs.size:
                ax.text(float(xs.mean()), float(ys.mean()), str(text), fontsize=7, ha="center", va="center",
                        color="white", bbox=dict(facecolor="black", alpha=0.5, pad=0.5, edgecolor="none"))
    if norm is not None:
        mappable = ScalarMappable(norm=norm, cmap=colormap)
        cbar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02)
        if colorbar_label:
            cbar.set_label(colorbar_label)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _is_error_key(key: str) -> bool:
    return "error" in key.lower() or "diff" in key.lower()


def depth_grid(
    rows: Sequence[Mapping[str, np.ndarray]],
    cmap: str = "magma_r",
    error_cmap: str = "inferno",
    size: float = 3.0,
    colorbar: bool = True,
):
    """Grid of input / ground truth / prediction / error, one row per sample.

    Each row maps a column title to an array. (H, W, 3) arrays are shown as images. 2-D
    arrays are depth maps sharing one colour scale per row (percentile limits over the
    row's depth maps, near bright, invalid pixels black), except keys containing "error"
    or "diff", which get their own scale and ``error_cmap``. Every 2-D panel has a colorbar
    unless ``colorbar`` is False (maps already scaled for display carry no unit to read).

    Cells take the shape of the arrays (``size`` is the side of a square cell of the same
    area), so tall comics panels get tall cells instead of thin strips in square ones.

    Returns:
        The Matplotlib figure.
    """
    plt = pyplot()
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    nrows, ncols = max(len(rows), 1), max(len(columns), 1)
    cell_w, cell_h = _cell_size(rows, size)
    bar_w = 0.6 if colorbar else 0.1
    fig, axes = plt.subplots(nrows, ncols, figsize=((cell_w + bar_w) * ncols, (cell_h + 0.3) * nrows), squeeze=False)
    for r, row in enumerate(rows):
        depth_maps = [np.asarray(v, dtype=np.float64) for k, v in row.items()
                      if np.asarray(v).ndim == 2 and not _is_error_key(k)]
        if depth_maps:
            lo, hi = depth_limits(np.concatenate([d.ravel() for d in depth_maps]))
        for c, key in enumerate(columns):
            ax = axes[r, c]
            ax.axis("off")
            if r == 0:
                ax.set_title(_wrap_title(key, cell_w), fontsize=10 if cell_w >= 2 else 8)
            if key not in row:
                continue
            arr = np.asarray(row[key])
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[..., 0]
            if arr.ndim == 3:
                ax.imshow(_as_rgb_uint8(arr), interpolation="nearest")
                continue
            d = arr.astype(np.float64)
            if _is_error_key(key):
                cm, (vmin, vmax) = error_cmap, (0.0, max(depth_limits(np.abs(d) + 1e-12)[1], 1e-6))
                shown = np.ma.masked_invalid(d)
            else:
                cm, (vmin, vmax) = cmap, (lo, hi)
                shown = np.ma.masked_where(_invalid(d), d)
            colormap = plt.get_cmap(cm).with_extremes(bad="black")
            im = ax.imshow(shown, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if colorbar:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    fig.tight_layout()
    return fig


def _cell_size(rows: Sequence[Mapping[str, np.ndarray]], size: float) -> tuple[float, float]:
    """(width, height) in inches of a grid cell: the median shape of the arrays, ``size**2`` in area."""
    aspects = [np.asarray(v).shape[0] / np.asarray(v).shape[1] for row in rows for v in row.values()
               if np.ndim(v) >= 2 and np.shape(v)[1] > 0]
    aspect = float(np.clip(np.median(aspects), 0.33, 3.0)) if aspects else 1.0
    return size / math.sqrt(aspect), size * math.sqrt(aspect)


def _wrap_title(title: str, width_inches: float) -> str:
    """Break a long column title at underscores or spaces to fit its cell (about 14 characters an inch at 8 pt)."""
    import textwrap

    limit = max(int(width_inches * 14), 8)
    if len(title) <= limit:
        return title
    lines = textwrap.wrap(title.replace("_", "_ "), limit, break_on_hyphens=False)  # a space after "_": a break point
    return "\n".join(line.replace("_ ", "_") for line in lines)


def _sorted_items(counts: Mapping[Any, float]) -> list[tuple[str, float]]:
    def key(item):
        k = item[0]
        try:
            return (0, float(k), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(k))

    return [(str(k), float(v)) for k, v in sorted(counts.items(), key=key)]


def level_histograms(stats: Mapping[str, Mapping[Any, float]], size: float = 4.0):
    """Bar charts of label statistics, one panel per entry of ``stats``.

    Args:
        stats: plain dicts, e.g. ``{"categories": {name: count}, "interdepth": {level: count},
            "intradepth": {level: count}}``. Numeric keys are sorted numerically; other keys
            (``"missing"``) come after them. Categories keep their given order.
        size: inches per panel.

    Returns:
        The Matplotlib figure.
    """
    plt = pyplot()
    keys = list(stats) or ["(no statistics)"]
    fig, axes = plt.subplots(1, len(keys), figsize=(size * len(keys), size * 0.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        counts = stats.get(key, {}) if stats else {}
        items = ([(str(k), float(v)) for k, v in counts.items()] if key == "categories" else _sorted_items(counts))
        ax.set_title(key, fontsize=10)
        if not items:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        names, heights = zip(*items)
        bars = ax.bar(range(len(names)), heights, color="#4c72b0")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45 if key == "categories" or len(names) > 12 else 0,
                           ha="right" if key == "categories" else "center", fontsize=8)
        ax.bar_label(bars, labels=[f"{int(h)}" if float(h).is_integer() else f"{h:.2g}" for h in heights], fontsize=7)
        ax.set_ylabel("count")
        ax.set_xlabel("level" if key != "categories" else "")
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 100, close: bool = False) -> Path:
    """Save a figure as PNG atomically.

    Args:
        fig: a Matplotlib figure (or axes, whose figure is saved).
        path: destination; ``.png`` is used whatever the suffix.
        dpi: resolution.
        close: also close the figure (for loops that make many figures).

    Returns:
        The written path.
    """
    fig = getattr(fig, "figure", fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    written = fileio.atomic_write_bytes(Path(path).with_suffix(".png"), buf.getvalue())
    if close:
        pyplot().close(fig)
    return written


_RENDER_LOCK = threading.Lock()
#: Panels of :func:`side_by_side` are at least this tall (small images are enlarged, pixels kept square).
SIDE_BY_SIDE_MIN_HEIGHT = 160


def side_by_side(image: np.ndarray, depth_rgb: np.ndarray, limits: tuple[float, float], cmap: str = "magma_r",
                 label: str = "depth") -> np.ndarray:
    """An image beside its colour depth map, with a colour bar of the map's values.

    Args:
        image: the input image (any layout :func:`_as_rgb_uint8` takes).
        depth_rgb: its colour depth map, same height and width (e.g.
            :func:`colorize_depth`).
        limits: the values at the two ends of ``cmap`` in ``depth_rgb`` (the first may be the
            larger: near is bright for inverse depth).
        cmap: the colormap of ``depth_rgb``.
        label: the colour bar's label (convention and unit).

    Returns:
        RGB uint8; the panels are the image's size times ``max(1, 160 / height)``.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    picture, colour = _as_rgb_uint8(image), _as_rgb_uint8(depth_rgb)
    if picture.shape != colour.shape:
        raise ValueError(f"image {picture.shape} and depth map {colour.shape} must have the same size")
    lo, hi = limits
    colormap = matplotlib.colormaps[cmap] if lo <= hi else matplotlib.colormaps[cmap].reversed()
    grow = max(1.0, SIDE_BY_SIDE_MIN_HEIGHT / picture.shape[0])
    w, h = picture.shape[1] * grow, picture.shape[0] * grow
    gap, bar, labels, pad = 8.0, 14.0, 90.0, 8.0
    width, height = 2 * w + 2 * gap + bar + labels, h + 2 * pad
    with _RENDER_LOCK:
        fig = Figure(figsize=(width / 100, height / 100), dpi=100, facecolor="white")
        canvas = FigureCanvasAgg(fig)
        for left, panel in ((0.0, picture), (w + gap, colour)):
            ax = fig.add_axes((left / width, pad / height, w / width, h / height))
            ax.imshow(panel, interpolation="nearest")
            ax.set_axis_off()
        cax = fig.add_axes(((2 * w + 2 * gap) / width, pad / height, bar / width, h / height))
        colorbar = fig.colorbar(ScalarMappable(Normalize(min(lo, hi), max(lo, hi) + 1e-12), colormap), cax=cax)
        colorbar.ax.tick_params(labelsize=7)
        colorbar.set_label(label, fontsize=7)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
