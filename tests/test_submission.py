"""AI4VA submission CSV: one row per test segment, validated before an atomic write."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from comicdepth_tf import submission
from comicdepth_tf.data.formats import ai4va
from comicdepth_tf.errors import DataFormatError, ParameterError


@pytest.fixture(scope="module")
def test_segments(smoke_data):
    segments = ai4va.load_ai4va_splits(smoke_data)["test"]
    assert segments.source.name == ai4va.TEST_SEGMENTS_FILE
    return segments


def _table(segments):
    n = len(segments.segments)
    return submission.prediction_rows(segments, np.linspace(0, 3, n), np.linspace(1, 2, n))


def test_written_csv_has_one_row_per_test_segment(tmp_path, test_segments):
    table = _table(test_segments).sample(frac=1.0, random_state=0)  # any row order is accepted
    path = submission.write_submission(tmp_path / "sub.csv", table, test_segments)
    header = path.read_text().splitlines()[0]
    assert header == "img_id,category_id,pred_Intradepth,pred_Interdepth,annotation_id"
    back = pd.read_csv(path)
    segs = test_segments.segments
    assert len(back) == len(segs)
    assert back["annotation_id"].tolist() == [s.annotation_id for s in segs]  # in the file's segment order
    assert back["img_id"].tolist() == [s.image_id for s in segs]
    assert back["category_id"].tolist() == [s.category_id for s in segs]
    np.testing.assert_allclose(back["pred_Interdepth"], np.linspace(0, 3, len(segs)), atol=1e-6)
    again = submission.read_predictions(path, test_segments)
    np.testing.assert_allclose(again["pred_Intradepth"], np.linspace(1, 2, len(segs)), atol=1e-6)


def test_missing_extra_and_duplicate_ids_are_named_and_nothing_is_written(tmp_path, test_segments):
    table = _table(test_segments)
    first, second = table["annotation_id"].iloc[0], table["annotation_id"].iloc[1]
    bad = pd.concat([table.iloc[2:], table.iloc[[2]]])  # drop two, duplicate one
    bad = pd.concat([bad, bad.iloc[[0]].assign(annotation_id=999999)])
    target = tmp_path / "sub.csv"
    with pytest.raises(DataFormatError) as err:
        submission.write_submission(target, bad, test_segments)
    text = str(err.value)
    assert str(target) in text and "annotation_id" in text
    assert f"missing annotation ids [{first}, {second}]" in text
    assert "extra annotation ids [999999]" in text
    assert f"duplicate annotation ids [{table['annotation_id'].iloc[2]}]" in text
    assert not target.exists() and not list(tmp_path.iterdir())


def test_wrong_image_or_category_and_non_finite_values(tmp_path, test_segments):
    table = _table(test_segments)
    wrong = table.copy()
    wrong.loc[3, "img_id"] = wrong.loc[3, "img_id"] + 1000
    with pytest.raises(DataFormatError, match=rf"img_id.*annotation ids \[{table['annotation_id'][3]}\]"):
        submission.validate_predictions(wrong, test_segments)
    wrong = table.copy()
    wrong.loc[0, "category_id"] = 77
    with pytest.raises(DataFormatError, match="category_id"):
        submission.validate_predictions(wrong, test_segments)
    nan = table.copy()
    nan.loc[5, "pred_Intradepth"] = np.nan
    with pytest.raises(DataFormatError, match="pred_Intradepth is not a finite number"):
        submission.write_submission(tmp_path / "s.csv", nan, test_segments)
    with pytest.raises(DataFormatError, match="annotation_id"):
        submission.validate_predictions(table.drop(columns="annotation_id"), test_segments)


def test_read_predictions_reports_missing_and_malformed_files(tmp_path, test_segments):
    with pytest.raises(DataFormatError, match="prediction CSV"):
        submission.read_predictions(tmp_path / "none.csv")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="missing columns"):
        submission.read_predictions(tmp_path / "x.csv")


def test_raw_json_segments_are_refused_with_the_loader_to_use(tmp_path, test_segments):
    import json

    raw = {"images": [], "annotations": [{"id": s.annotation_id} for s in test_segments.segments]}
    rows = _table(test_segments)
    for bad in (raw, json.dumps(raw), raw["annotations"]):
        with pytest.raises(ParameterError, match="load_ai4va_splits"):
            submission.validate_predictions(rows, bad)
        with pytest.raises(ParameterError, match="load_ai4va_splits"):
            submission.write_submission(tmp_path / "submission.csv", rows, bad)
    assert not list(tmp_path.iterdir())
