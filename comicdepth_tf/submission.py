"""AI4VA per-segment prediction tables: the challenge submission CSV and its validation.

A prediction table has one row per segment and the columns
``img_id,category_id,pred_Intradepth,pred_Interdepth,annotation_id`` (the challenge's four
columns, in the seed's order, plus ``annotation_id`` so that a row names its segment). The
same format stores a model's predictions for any split (``ai4va_predictions/<split>.csv`` in
a saved run, see :mod:`comicdepth_tf.evaluation`).

:func:`validate_predictions` checks a table against the segments it must cover: exactly one
row per segment (errors name the missing, extra and duplicate annotation ids), ``img_id`` and
``category_id`` equal to the segment's, finite levels. :func:`write_submission` validates
before it writes (atomically), so an invalid file never appears.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import atomic_write_text
from comicdepth_tf.metrics import PRED_COLUMNS, prediction_table

#: Column order of the written CSV.
SUBMISSION_COLUMNS = PRED_COLUMNS
_MAX_LISTED = 20


def _listed(values) -> str:
    values = sorted(values)
    text = ", ".join(str(v) for v in values[:_MAX_LISTED])
    return text + (f", … ({len(values)} in all)" if len(values) > _MAX_LISTED else "")


def _segments(segments) -> list:
    segs = list(getattr(segments, "segments", segments))
    if not all(hasattr(s, "annotation_id") for s in segs):
        # A raw json.load() of depth_TEST_segments.json is the usual mistake: say what to call instead.
        raise ParameterError(f"segments must be an AI4VADataset or its segments (load the JSON with "
                             f"comicdepth_tf.data.formats.ai4va.load_ai4va_splits), got {type(segments).__name__}")
    return segs


def prediction_rows(segments, interdepth, intradepth):
    """A prediction table from per-segment values in the order of ``segments``.

    Args:
        segments: an ``AI4VADataset`` or its segments.
        interdepth: one predicted Interdepth per segment.
        intradepth: one predicted Intradepth per segment.

    Returns:
        A DataFrame with :data:`SUBMISSION_COLUMNS`.
    """
    import pandas as pd

    segs = _segments(segments)
    inter = np.asarray(interdepth, dtype=np.float64).reshape(-1)
    intra = np.asarray(intradepth, dtype=np.float64).reshape(-1)
    if not len(segs) == inter.size == intra.size:
        raise ParameterError(f"prediction_rows: {len(segs)} segments but {inter.size} Interdepth and "
                             f"{intra.size} Intradepth values")
    return pd.DataFrame({
        "img_id": [int(s.image_id) for s in segs],
        "category_id": [int(s.category_id) for s in segs],
        "pred_Intradepth": intra,
        "pred_Interdepth": inter,
        "annotation_id": [int(s.annotation_id) for s in segs],
    }, columns=list(SUBMISSION_COLUMNS))


def validate_predictions(predictions, segments, source: str | os.PathLike = "predictions"):
    """Check that a table holds exactly one valid row per segment.

    Args:
        predictions: a DataFrame or row dicts (see :func:`comicdepth_tf.metrics.prediction_table`).
        segments: the segments to cover (e.g. ``depth_TEST_segments.json`` loaded with
            :func:`~comicdepth_tf.data.formats.ai4va.load_ai4va`).
        source: named in errors (a file path, or a description).

    Returns:
        The table with :data:`SUBMISSION_COLUMNS`, rows in the order of ``segments``.

    Raises:
        DataFormatError: missing columns, non-finite or non-integer ids, non-finite levels,
            missing / extra / duplicate annotation ids (listed), or an ``img_id`` /
            ``category_id`` that differs from the segment's.
    """
    try:
        df = prediction_table(predictions)
    except ParameterError as exc:
        raise DataFormatError(source, "columns / values", f"a table with {list(SUBMISSION_COLUMNS)}",
                              str(exc)) from None
    if "annotation_id" not in df.columns:
        raise DataFormatError(source, "annotation_id", "an annotation_id column (one row per segment)")
    for col in ("annotation_id", "img_id", "category_id"):
        values = np.asarray(df[col], dtype=np.float64)
        if not (np.isfinite(values).all() and np.all(values == np.round(values))):
            raise DataFormatError(source, col, "integer ids in every row")
        df[col] = values.astype(np.int64)
    segs = _segments(segments)
    ids = df["annotation_id"].tolist()
    counts: dict[int, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    duplicate = [i for i, n in counts.items() if n > 1]
    expected = {int(s.annotation_id): s for s in segs}
    missing = set(expected) - set(counts)
    extra = set(counts) - set(expected)
    if missing or extra or duplicate:
        raise DataFormatError(source, "annotation_id", f"exactly one row per segment ({len(expected)} segments)",
                              f"missing annotation ids [{_listed(missing)}]; extra annotation ids "
                              f"[{_listed(extra)}]; duplicate annotation ids [{_listed(duplicate)}]")
    df = df.set_index("annotation_id", drop=False).loc[[int(s.annotation_id) for s in segs]]
    for col, attr in (("img_id", "image_id"), ("category_id", "category_id")):
        want = np.asarray([getattr(s, attr) for s in segs], dtype=np.int64)
        wrong = df["annotation_id"].to_numpy()[df[col].to_numpy() != want]
        if wrong.size:
            raise DataFormatError(source, col, f"the {attr} of each row's segment",
                                  f"different for annotation ids [{_listed(wrong.tolist())}]")
    return df.reset_index(drop=True)[list(SUBMISSION_COLUMNS)]


def write_submission(path: str | os.PathLike, predictions, segments) -> Path:
    """Validate a prediction table against ``segments`` and write it as CSV (atomic).

    Args:
        path: the CSV file to write.
        predictions: the table (see :func:`validate_predictions`).
        segments: the segments it must cover, e.g. the test segments.

    Returns:
        The written path.

    Raises:
        DataFormatError: when the table is invalid (nothing is written).
    """
    df = validate_predictions(predictions, segments, source=path)
    return atomic_write_text(path, df.to_csv(index=False, float_format="%.6f"))


def read_predictions(path: str | os.PathLike, segments=None):
    """Read a prediction CSV; validate it against ``segments`` when given.

    Raises:
        DataFormatError: a missing or unreadable file, or (with ``segments``) an invalid table.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "", f"a prediction CSV with columns {','.join(SUBMISSION_COLUMNS)}")
    try:
        df = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(path, "", "a CSV table", str(exc).splitlines()[0]) from None
    if segments is None:
        try:
            return prediction_table(df)
        except ParameterError as exc:
            raise DataFormatError(path, "columns / values", f"columns {list(SUBMISSION_COLUMNS)}", str(exc)) from None
    return validate_predictions(df, segments, source=path)
