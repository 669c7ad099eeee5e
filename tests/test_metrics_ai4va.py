"""AI4VA per-segment MSE: hand-computed cases, the organisers' overwrite, missing/extra errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from comicdepth_tf import fileio
from comicdepth_tf.data.formats import ai4va
from comicdepth_tf.errors import ParameterError
from comicdepth_tf.metrics import ai4va_mse, official_ground_truth


def _write_file(tmp_path, annotations):
    """A one-page AI4VA annotation file in the real layout (COCO JSON + the page PNG)."""
    images = tmp_path / "images" / "val"
    images.mkdir(parents=True)
    fileio.write_image(images / "Page-01.png", np.zeros((40, 60, 3), np.uint8))
    anns = []
    for aid, cat, inter, intra in annotations:
        attrs = {"occluded": False}
        if inter is not None:
            attrs["Interdepth"] = inter
        if intra is not None:
            attrs["Intradepth"] = intra
        anns.append({"id": aid, "image_id": 7, "category_id": cat, "bbox": [1, 1, 10, 10],
                     "segmentation": [[1, 1, 11, 1, 11, 11, 1, 11]], "area": 100, "iscrowd": 0,
                     "attributes": attrs})
    doc = {"images": [{"id": 7, "file_name": "Page-01.png", "width": 60, "height": 40}],
           "annotations": anns, "categories": [{"id": 1, "name": "character"}, {"id": 2, "name": "object"}]}
    path = tmp_path / "annotations" / "val-annotations.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return ai4va.load_ai4va(path, images)


@pytest.fixture
def three_segments(tmp_path):
    # Two characters (category 1) and one object (category 2) on page 7.
    return _write_file(tmp_path, [(10, 1, 1, 0), (11, 1, 5, 2), (12, 2, 3, 1)])


def _rows(preds):
    """Rows (annotation_id, category_id, inter, intra) on page 7 as the submission's columns."""
    return pd.DataFrame([{"img_id": 7, "category_id": c, "pred_Interdepth": a, "pred_Intradepth": b,
                          "annotation_id": i} for i, c, a, b in preds])


def test_segment_mode_hand_computed(three_segments):
    preds = _rows([(10, 1, 2.0, 0.0), (11, 1, 5.0, 4.0), (12, 2, 0.0, 1.5)])
    out = ai4va_mse(preds, three_segments)
    # inter errors 1, 0, 3 -> (1 + 0 + 9) / 3; intra errors 0, 2, 0.5 -> (0 + 4 + 0.25) / 3
    assert out["mse_interdepth"] == pytest.approx(10 / 3)
    assert out["mse_intradepth"] == pytest.approx(4.25 / 3)
    assert out["mse_overall"] == pytest.approx((10 / 3 + 4.25 / 3) / 2)
    assert out["n_interdepth"] == 3 and out["n_intradepth"] == 3


def test_row_order_and_image_id_alias_do_not_matter(three_segments):
    preds = _rows([(12, 2, 0.0, 1.5), (10, 1, 2.0, 0.0), (11, 1, 5.0, 4.0)]).rename(columns={"img_id": "image_id"})
    assert ai4va_mse(preds.to_dict("records"), three_segments)["mse_interdepth"] == pytest.approx(10 / 3)


def test_official_mode_later_segment_of_a_category_overwrites(three_segments):
    # Perfect per segment, so the segment mode gives 0 …
    perfect = _rows([(10, 1, 1.0, 0.0), (11, 1, 5.0, 2.0), (12, 2, 3.0, 1.0)])
    assert ai4va_mse(perfect, three_segments)["mse_overall"] == 0.0
    # … but the organisers' lookup keeps only segment 11 for (page 7, character): segment 10's
    # prediction (1, 0) is compared with (5, 2).
    assert official_ground_truth(three_segments) == {(7, 1): (5, 2), (7, 2): (3, 1)}
    out = ai4va_mse(perfect, three_segments, mode="official")
    assert out["mse_interdepth"] == pytest.approx(16 / 3)
    assert out["mse_intradepth"] == pytest.approx(4 / 3)
    assert out["mse_overall"] == pytest.approx(10 / 3)


def test_official_mode_needs_no_annotation_id(three_segments):
    preds = _rows([(10, 1, 5.0, 2.0), (11, 1, 5.0, 2.0), (12, 2, 3.0, 1.0)]).drop(columns="annotation_id")
    assert ai4va_mse(preds, three_segments, mode="official")["mse_overall"] == 0.0
    with pytest.raises(ParameterError, match="annotation_id"):
        ai4va_mse(preds, three_segments)


def test_missing_and_extra_predictions_are_listed(three_segments):
    preds = _rows([(10, 1, 1.0, 0.0), (99, 1, 5.0, 2.0)])
    with pytest.raises(ParameterError) as err:
        ai4va_mse(preds, three_segments)
    assert "missing annotation ids [11, 12]" in str(err.value)
    assert "extra annotation ids [99]" in str(err.value)
    only_chars = _rows([(10, 1, 1.0, 0.0), (11, 1, 5.0, 2.0)])
    with pytest.raises(ParameterError, match=r"missing \[\(7, 2\)\]"):
        ai4va_mse(only_chars, three_segments, mode="official")
    other_page = _rows([(10, 1, 1.0, 0.0), (11, 1, 5.0, 2.0), (12, 2, 3.0, 1.0)])
    other_page.loc[2, "img_id"] = 8
    with pytest.raises(ParameterError, match=r"extra \[\(8, 2\)\]"):
        ai4va_mse(other_page, three_segments, mode="official")


def test_duplicates_and_non_finite_predictions_are_errors(three_segments):
    dup = _rows([(10, 1, 1.0, 0.0), (10, 1, 1.0, 0.0), (11, 1, 5.0, 2.0), (12, 2, 3.0, 1.0)])
    with pytest.raises(ParameterError, match=r"duplicate annotation ids 10"):
        ai4va_mse(dup, three_segments)
    nan = _rows([(10, 1, np.nan, 0.0), (11, 1, 5.0, 2.0), (12, 2, 3.0, 1.0)])
    with pytest.raises(ParameterError, match=r"pred_Interdepth is not a finite number for 10"):
        ai4va_mse(nan, three_segments)
    with pytest.raises(ParameterError, match="mode"):
        ai4va_mse(_rows([]), three_segments, mode="page")


def test_missing_levels(tmp_path):
    # Segment 21 has no Interdepth: left out of the inter MSE in segment mode, 0 in official mode.
    with pytest.warns(UserWarning):
        ds = _write_file(tmp_path, [(20, 1, 2, 1), (21, 2, None, 3)])
    preds = _rows([(20, 1, 4.0, 1.0), (21, 2, 1.0, 3.0)])
    seg = ai4va_mse(preds, ds)
    assert seg["mse_interdepth"] == pytest.approx(4.0) and seg["n_interdepth"] == 1
    assert seg["mse_intradepth"] == 0.0 and seg["n_intradepth"] == 2
    off = ai4va_mse(preds, ds, mode="official")
    assert off["mse_interdepth"] == pytest.approx((4.0 + 1.0) / 2)


def test_scores_on_the_embedded_validation_split(smoke_data):
    val = ai4va.load_ai4va_splits(smoke_data)["val"]
    truth = pd.DataFrame([{"img_id": s.image_id, "category_id": s.category_id, "pred_Interdepth": s.interdepth,
                           "pred_Intradepth": s.intradepth, "annotation_id": s.annotation_id} for s in val.segments])
    assert ai4va_mse(truth, val)["mse_overall"] == 0.0
    shifted = truth.assign(pred_Interdepth=truth["pred_Interdepth"] + 1.0)
    assert ai4va_mse(shifted, val)["mse_interdepth"] == pytest.approx(1.0)
    # Pages hold several segments per category, so the official score of exact labels is not 0.
    assert ai4va_mse(truth, val, mode="official")["mse_overall"] > 0.0
