"""Plots: colour conventions checked on pixel values, figures built and saved as decodable PNGs."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from comicdepth_tf import fileio, viz
from comicdepth_tf.errors import ParameterError


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def decodes(path) -> np.ndarray:
    assert path.exists()
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 10 and image.shape[1] > 10
    return image


# ----------------------------------------------------------------------------- arrays


def test_colorize_depth_near_is_bright_and_invalid_is_flat():
    depth = np.array([[1.0, 2.0, 3.0, 4.0, 0.0, np.nan]], dtype=np.float32)
    rgb = viz.colorize_depth(depth, vmin=1.0, vmax=4.0, invalid_color=(0, 255, 0))
    assert rgb.shape == (1, 6, 3) and rgb.dtype == np.uint8
    lum = luminance(rgb[0, :4])
    assert np.all(np.diff(lum) < 0), lum  # nearer = brighter, strictly
    np.testing.assert_array_equal(rgb[0, 4:], [[0, 255, 0], [0, 255, 0]])
    # inverse-depth predictions: the plain colormap keeps larger = brighter
    inv = viz.colorize_depth(depth, vmin=1.0, vmax=4.0, cmap="magma")
    assert np.all(np.diff(luminance(inv[0, :4])) > 0)


def test_colorize_depth_percentile_limits_ignore_outliers_and_invalid():
    depth = np.linspace(1.0, 5.0, 1000, dtype=np.float32).reshape(10, 100)
    depth[0, 0] = 1000.0  # one far outlier
    depth[0, 1] = 0.0  # invalid
    rgb = viz.colorize_depth(depth)
    lo, hi = viz.depth_limits(depth)
    assert 1.0 <= lo < 1.2 and 4.8 < hi <= 5.0  # 2nd/98th percentiles of the valid values
    # the outlier saturates at the far colour instead of stretching the scale
    far = viz.colorize_depth(np.array([[hi]]), vmin=lo, vmax=hi)
    np.testing.assert_array_equal(rgb[0, 0], far[0, 0])
    np.testing.assert_array_equal(rgb[0, 1], [0, 0, 0])
    assert len({tuple(p) for p in rgb.reshape(-1, 3)}) > 50  # the scale is used, not collapsed


def test_colorize_depth_reversed_limits_and_no_invalid_pixels_for_signed_predictions():
    import matplotlib

    relative = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]])
    rgb = viz.colorize_depth(relative, vmin=2.0, vmax=-2.0, invalid_color=None)  # large = near = bright
    assert np.all(np.diff(luminance(rgb[0])) > 0)
    # the ends are the colormap's own ends; ≤ 0 is a value here, not an invalid pixel
    ends = (matplotlib.colormaps["magma_r"]([0.0, 1.0])[:, :3] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(rgb[0, [4, 0]], ends)
    np.testing.assert_array_equal(viz.colorize_depth(relative, invalid_color=None)[0, 2],
                                  viz.colorize_depth(np.array([[0.0]]), vmin=-2.0, vmax=2.0, invalid_color=None)[0, 0])
    with pytest.raises(ParameterError, match="unknown colormap 'nope'"):
        viz.colorize_depth(relative, cmap="nope")


def test_overlay_mask_changes_only_masked_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 7:12] = True
    before = image.copy()
    out = viz.overlay_mask(image, mask, color=(255, 0, 0), alpha=0.5)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    expected = np.round(0.5 * image[5, 7].astype(float) + 0.5 * np.array([255, 0, 0])).astype(np.uint8)
    np.testing.assert_array_equal(out[5, 7], expected)
    assert (out[mask] != image[mask]).any(axis=1).mean() > 0.9
    np.testing.assert_array_equal(image, before)  # the input is not modified
    with pytest.raises(ValueError, match="does not match"):
        viz.overlay_mask(image, mask[:10])


def test_draw_boxes_on_array_draws_the_border_only():
    image = np.zeros((40, 40, 3), np.uint8)
    out = viz.draw_boxes(image, [(5, 5, 20, 10)], color=(0, 0, 255), thickness=1)
    assert image.sum() == 0  # the input is not modified
    np.testing.assert_array_equal(out[5, 10], [0, 0, 255])  # top edge
    np.testing.assert_array_equal(out[14, 10], [0, 0, 255])  # bottom edge at y + h - 1
    np.testing.assert_array_equal(out[10, 24], [0, 0, 255])  # right edge at x + w - 1
    assert out[10, 10].sum() == 0 and out[15, 10].sum() == 0 and out[10, 25].sum() == 0


# ----------------------------------------------------------------------------- figures


def test_figures_build_and_save(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    depth = np.tile(np.linspace(1, 8, 64, dtype=np.float32), (48, 1))
    depth[:4] = 0.0
    masks = np.zeros((3, 48, 64), bool)
    masks[0, 10:30, 5:20] = True
    masks[1, 20:40, 25:45] = True
    masks[2, 5:15, 50:60] = True

    fig = viz.show_images([image, depth, masks[0]], titles=["rgb", "depth", "mask"], ncols=2)
    decodes(viz.save_figure(fig, tmp_path / "grid.png", close=True))

    ax = viz.overlay_segments(image, masks, values=[0, 2, None], labels=["I0", "I2", "?"],
                              colorbar_label="Interdepth", title="segments")
    assert len(ax.figure.axes) == 2  # the image and its colorbar
    decodes(viz.save_figure(ax.figure, tmp_path / "segments.png", close=True))

    ax = viz.overlay_segments(image, list(masks))  # no values: one colour per segment, no colorbar
    assert len(ax.figure.axes) == 1
    viz.draw_boxes(ax, [(5, 10, 15, 20)], labels=["panel"], color=(0, 255, 0))
    decodes(viz.save_figure(ax, tmp_path / "boxes.png", close=True))

    pred = depth * 1.1
    fig = viz.depth_grid([
        {"input": image, "ground truth": depth, "prediction": pred, "error": np.abs(pred - depth)},
        {"input": image, "prediction": pred},
    ])
    assert len(fig.axes) == 8 + 4  # 8 cells and a colorbar per 2-D map (3 + 1)
    decodes(viz.save_figure(fig, tmp_path / "depth.png", close=True))

    fig = viz.level_histograms({
        "categories": {"character": 12, "object": 3},
        "interdepth": {2: 4, 0: 7, 1: 5, "missing": 1},
        "intradepth": {},
    })
    heights = [p.get_height() for p in fig.axes[1].patches]
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert labels == ["0", "1", "2", "missing"] and heights == [7, 5, 4, 1]
    decodes(viz.save_figure(fig, tmp_path / "hist.png", close=True))
    assert not list(tmp_path.glob("*.tmp"))


def test_import_does_not_choose_a_backend():
    code = "import comicdepth_tf.viz, sys; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_real_page_with_weak_text_mask(real_dir, tmp_path):
    page = fileio.read_image(real_dir / "comics" / "006013.jpg")
    mask = fileio.read_mask(real_dir / "comics" / "mask-006013.png")
    assert page.shape[:2] == mask.shape == (1280, 845)
    out = viz.overlay_mask(page, mask, color=(255, 0, 0), alpha=0.5)
    np.testing.assert_array_equal(out[~mask], page[~mask])
    assert 0.01 < mask.mean() < 0.2
    fig = viz.show_images([page, out], titles=["006013", "weak text mask"], ncols=2, size=4)
    decodes(viz.save_figure(fig, tmp_path / "real.png", close=True))


def test_plot_history_one_panel_per_key_skips_unvalidated_epochs_and_marks_the_kept_one():
    history = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, float("nan"), 1.5], "mask_loss": [1.0, 0.5, 0.2],
               "val_mask_loss": [1.1, 0.6, 0.3], "delta1": [0.2, 0.4, 0.6], "learning_rate": [1e-3] * 3}
    fig = viz.plot_history(history, best_epoch=3)  # default: the training loss columns
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mask_loss"]
    train, val, kept = fig.axes[0].get_lines()
    assert list(val.get_xdata()) == [1, 3] and list(val.get_ydata()) == [3.5, 1.5]  # epoch 2 was not validated
    assert list(train.get_xdata()) == [1, 2, 3] and list(kept.get_xdata()) == [3, 3]
    fig = viz.plot_history(history, ["loss", "delta1", "missing"])
    assert [ax.get_title() for ax in fig.axes] == ["loss", "delta1"]
