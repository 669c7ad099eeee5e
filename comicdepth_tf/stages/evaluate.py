"""Notebook ``50_evaluate``: every saved configuration side by side, never training.

What the notebook calls beyond the scoring library (:mod:`comicdepth_tf.evaluation`: evaluation
sets, reading or predicting the saved depth maps, :func:`~comicdepth_tf.evaluation.evaluate_all`),
the comparisons over seeds with intervals (:mod:`comicdepth_tf.comparisons`) and the real-page check
(:mod:`comicdepth_tf.real_pages`): the per-item ordering table, the qualitative grid, the
seed-format results file, the AI4VA submission and the stage's summary metrics. Runs are found
with :func:`comicdepth_tf.runs.find_runs`.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import fileio, submission
from comicdepth_tf.errors import DataFormatError
from comicdepth_tf.evaluation import EvalSet, Evaluation, display_depth

STAGE = "50_evaluate"


def ordering_details_table(ev: Evaluation):
    """Full ordering statistics per scored configuration (quartiles, std, counts, dB floor/cap)."""
    import pandas as pd

    rows = [{"configuration": name, **d} for name, d in ev.ordering_details.items()]
    return pd.DataFrame(rows)


def qualitative_grid(ev: Evaluation, eval_set: EvalSet, n: int = 3, size: float = 2.2):
    """Input, ground truth (when present) and every scored configuration's depth on the same
    panels; each map is shown in depth order (near = bright), scaled per map, because the
    models' units differ (so without colorbars); cells take the panels' shape."""
    from comicdepth_tf.data.formats.rgbd import decode_depth
    from comicdepth_tf.viz import depth_grid

    rows = []
    for item in eval_set.items[:n]:
        row: dict[str, np.ndarray] = {"input": fileio.read_image(item.image)}
        if item.depth_gt is not None:
            row["ground truth"] = display_depth(decode_depth(item.depth_gt, item.depth_codec), "metric")
        for name, maps in ev.shown.items():
            if item.stem in maps:
                row[name] = display_depth(maps[item.stem], ev.conventions.get(name, "metric"))
        rows.append(row)
    return depth_grid(rows, size=size, colorbar=False)  # per-map display scales: a colorbar has no unit to read


# --------------------------------------------------------------------------- results and submission


def results_text(table, when: _dt.datetime | None = None, split: str = "val") -> str:
    """The seed's results block (``Evaluation written on`` / ``Model`` / three MSE lines) for every
    configuration that has an AI4VA score, blocks separated by a blank line."""
    stamp = (when or _dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    blocks = []
    for _, row in table.iterrows():
        if not (isinstance(row["ai4va_mse_overall"], float) and math.isfinite(row["ai4va_mse_overall"])):
            continue
        where = row["run"] or row["found_by"] or "no run"
        blocks.append(f"Evaluation written on: {stamp}\n"
                      f"Model: {row['configuration']} ({where}; AI4VA {split}, per-segment matching)\n"
                      f"MSE of Inter-depth: {float(row['ai4va_mse_inter'])!r}\n"
                      f"MSE of Intra-depth: {float(row['ai4va_mse_intra'])!r}\n"
                      f"Overall MSE: {float(row['ai4va_mse_overall'])!r}\n")
    return "\n".join(blocks)


def write_results(folder: str | os.PathLike, table, when: _dt.datetime | None = None, split: str = "val") -> Path:
    """Write ``<folder>/results/evaluation_<YYYYmmdd-HHMMSS>.txt`` (atomic) and return its path."""
    when = when or _dt.datetime.now()
    path = Path(folder) / "results" / f"evaluation_{when.strftime('%Y%m%d-%H%M%S')}.txt"
    return fileio.atomic_write_text(path, results_text(table, when, split))


def write_submission(ev: Evaluation, test_segments, path: str | os.PathLike, prefer: str = "ai4va_segment",
                     fallback: str = "ai4va_constant") -> tuple[Path, str]:
    """Write the AI4VA submission CSV from ``prefer``'s test predictions, else ``fallback``'s.

    Returns:
        ``(path, configuration used)``.

    Raises:
        DataFormatError: neither configuration has test predictions, or the table does not
            cover the test segments exactly (nothing is written).
    """
    for name in (prefer, fallback):
        table = ev.ai4va.get(name, {}).get("test")
        if table is not None:
            return submission.write_submission(path, table, test_segments), name
    raise DataFormatError(path, "", f"test predictions of {prefer} or {fallback} to write a submission",
                          "neither has ai4va_predictions/test.csv")


# --------------------------------------------------------------------------- stage metrics


#: Per-configuration columns repeated in the stage metrics (shown on the run index).
SUMMARY_COLUMNS = ("inter_acc", "intra_acc", "inter_db", "comics_delta1", "natural_delta1", "ai4va_mse_overall")


def summary_metrics(ev: Evaluation, table=None) -> dict[str, Any]:
    """Stage metrics: how many configurations were scored, missing or in error, and per metric
    a ``{configuration: value}`` dict of the scored ones (of ``table``, default ``ev.table``; e.g.
    the means over seeds of :func:`comicdepth_tf.comparisons.mean_table`)."""
    table = ev.table if table is None else table
    status = table["status"].astype(str)
    out: dict[str, Any] = {
        "configurations": int(len(table)),
        "scored": int((status == "ok").sum()),
        "missing": int(status.str.startswith("missing").sum()),
        "errors": int(status.str.startswith("error").sum()),
    }
    for col in SUMMARY_COLUMNS:
        values = {c: float(v) for c, v in zip(table["configuration"], table[col])
                  if isinstance(v, (int, float)) and math.isfinite(v)}
        if values:
            out[col] = values
    return out
