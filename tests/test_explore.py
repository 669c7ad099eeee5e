"""The exploration helpers behind notebook 00, on the embedded smoke dataset."""

from __future__ import annotations

import dataclasses

import pytest

from comicdepth_tf.data.formats import ai4va
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.stages import explore


def test_find_sources_rejects_unknown_kind_and_missing_folder(tmp_path):
    with pytest.raises(ParameterError, match="DATASET"):
        explore.find_sources("kitti", str(tmp_path))
    with pytest.raises(DataFormatError, match="DATA_DIR"):
        explore.find_sources("ai4va", str(tmp_path / "absent"))
    assert explore.find_sources("ai4va", str(tmp_path)) == {"ai4va": tmp_path}


def test_page_views_match_the_annotations(smoke_data):
    train = ai4va.load_ai4va_splits(smoke_data)["train"]
    page = train.pages[0]
    views = explore.page_views(train, page.image_id)
    n = len(ai4va.page_segments(train, page.image_id))
    assert len(views["masks"]) == len(views["interdepth"]) == n > 0
    assert views["image"].shape == (page.height, page.width, 3)
    assert views["depth"].shape == (page.height, page.width) and views["depth"].max() <= 10.0
    assert views["panels"], "embedded pages list their panel boxes"


def test_interdepth_agrees_with_dense_depth_and_detects_swaps(smoke_data):
    val = ai4va.load_ai4va_splits(smoke_data)["val"]
    result = explore.segment_depth_agreement(val)
    assert result["pairs"] > 100 and result["agreement"] == 1.0
    # Reversing the levels must be caught: every compared pair then disagrees.
    flipped = [dataclasses.replace(s, interdepth=20 - s.interdepth) for s in val.segments]
    reversed_ds = dataclasses.replace(val, segments=flipped)
    assert explore.segment_depth_agreement(reversed_ds)["agreement"] == 0.0


def test_figures_build(smoke_data):
    import matplotlib

    matplotlib.use("Agg")
    train = ai4va.load_ai4va_splits(smoke_data)["train"]
    fig = explore.page_figure(train, train.pages[0].image_id)
    assert len(fig.axes) >= 5  # masks, Interdepth, Intradepth (+ colorbars), depth, text
    test = ai4va.load_ai4va_splits(smoke_data)["test"]
    fig = explore.page_figure(test, test.pages[0].image_id)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Interdepth" not in titles  # the test file has no levels
