"""Notebook ``50_evaluate``: every saved configuration side by side, never training.

The notebook imports this module (and the chain's ``config`` and ``reporting``) only. What it
calls is defined here or re-exported from the library that does the work:

* finding the runs: :func:`find_runs_by_seed` (:func:`comicdepth_tf.runs.find_runs` once per
  training seed), :func:`runs_by_seed`;
* the data and the scores: :func:`load_data` (the evaluation sets of
  :mod:`comicdepth_tf.evaluation` and the AI4VA splits), :func:`evaluate_seeds`
  (:func:`comicdepth_tf.evaluation.evaluate_all` per seed), :func:`ordering_details_table`;
* the comparisons over seeds with intervals (:mod:`comicdepth_tf.comparisons`): :func:`mean_table`,
  :func:`per_seed_table`, :func:`seed_aggregates`, :func:`item_tables`,
  :func:`comparison_intervals`, :func:`verdict_summary`, :func:`interval_bar_chart`;
* the figures: :func:`qualitative_grid`, :func:`best_model_worst_panels`;
* the real-page check (:mod:`comicdepth_tf.real_pages`, its names prefixed ``real_page``):
  :func:`load_real_pages`, :func:`score_real_pages` and the tables and figure of its scores;
* the stage's outputs: the seed-format results file, the AI4VA submission and
  :func:`stage_metrics`.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import comparisons, evaluation, fileio, real_pages, runs, submission

# Re-exported: the notebook imports its stage module only, and calls them as ``evaluate.<name>``.
from comicdepth_tf.comparisons import (  # noqa: F401
    comparison_intervals,
    interval_bar_chart,
    item_tables,
    mean_table,
    parse_seeds,
    per_seed_table,
    real_page_intervals,
    real_page_intervals_by_batch,
    real_page_items,
    runs_by_seed,
    seed_aggregates,
    verdict_summary,
)
from comicdepth_tf.errors import DataFormatError
from comicdepth_tf.evaluation import EvalSet, Evaluation, display_depth

# The real-page check's own names need their module to be read ("load_check", "summary_table"): here
# they carry the ``real_page`` prefix of the comparisons' real-page functions.
from comicdepth_tf.real_pages import check_counts as real_page_counts  # noqa: F401
from comicdepth_tf.real_pages import group_table as real_page_groups  # noqa: F401
from comicdepth_tf.real_pages import load_check as load_real_pages  # noqa: F401
from comicdepth_tf.real_pages import page_table as real_page_table  # noqa: F401
from comicdepth_tf.real_pages import plot_pages as plot_real_pages  # noqa: F401
from comicdepth_tf.real_pages import summary_table as real_page_summary  # noqa: F401

STAGE = "50_evaluate"


# --------------------------------------------------------------------------- data and runs


def load_data(data_dir: str | os.PathLike = "", profile: str = "cpu", *, seed: int = 0, split: str = "val",
              panels_dir: str | os.PathLike = "", natural_dir: str | os.PathLike = "",
              ai4va_dir: str | os.PathLike = "") -> tuple[dict[str, EvalSet], dict[str, Any]]:
    """The evaluation sets and the AI4VA splits the notebook scores.

    Args:
        data_dir: dataset root in the embedded layout (``panels/``, ``nyu/``, ``ai4va/``); empty:
            the embedded dataset of ``profile``, made with ``seed`` when it is missing.
        profile: the embedded dataset's profile.
        seed: the embedded dataset's seed.
        split: the panel split scored (``panels_<split>``).
        panels_dir: a ComicsDepth-style panels folder; empty: ``<root>/panels``.
        natural_dir: the NYU Kaggle folder (its test CSV is ``natural_val``); empty: ``<root>/nyu``.
        ai4va_dir: the AI4VA root; empty: the dataset root.

    Returns:
        ``(sets, ai4va_sets)``: set name -> :class:`~comicdepth_tf.evaluation.EvalSet` (see
        :func:`comicdepth_tf.evaluation.load_eval_sets`) and split -> AI4VA dataset (see
        :func:`comicdepth_tf.data.formats.ai4va.load_ai4va_splits`).
    """
    from comicdepth_tf.data import synthetic
    from comicdepth_tf.data.formats import ai4va

    root = data_dir or synthetic.ensure_dataset(profile, seed=seed)
    sets = evaluation.load_eval_sets(root, split, panels_dir, natural_dir)
    return sets, ai4va.load_ai4va_splits(ai4va_dir or root)


def find_runs_by_seed(profile: str, explicit: Mapping[str, str], seeds: Sequence[int],
                      per_seed: bool) -> dict[int, dict[str, runs.RunRef]]:
    """Every configuration's run, once per training seed (:func:`comicdepth_tf.runs.find_runs`).

    Args:
        profile: the profile whose runs are evaluated.
        explicit: the notebook's ``RUNS`` (configuration -> run folder).
        seeds: the training seeds (``SEED_LIST``).
        per_seed: look notebook 40's configurations up per seed (``SEEDS`` given); False: the
            single-seed runs.

    Returns:
        seed -> configuration -> :class:`~comicdepth_tf.runs.RunRef`, in ``seeds`` order.
    """
    return {seed: runs.find_runs(profile, dict(explicit), seed=seed if per_seed else None) for seed in seeds}


def evaluate_seeds(refs_by_seed: Mapping[int, Mapping[str, runs.RunRef]], sets: Mapping[str, EvalSet],
                   ai4va_sets: Mapping[str, Any], **kwargs: Any) -> dict[int, Evaluation]:
    """:func:`comicdepth_tf.evaluation.evaluate_all` on each seed's runs.

    Args:
        refs_by_seed: :func:`find_runs_by_seed`'s runs.
        sets: the evaluation sets.
        ai4va_sets: the AI4VA splits.
        **kwargs: passed to :func:`~comicdepth_tf.evaluation.evaluate_all` (split, baseline,
            alignment, prediction settings).

    Returns:
        seed -> :class:`~comicdepth_tf.evaluation.Evaluation`, in ``refs_by_seed``'s order.
    """
    return {seed: evaluation.evaluate_all(refs, sets, ai4va_sets, **kwargs) for seed, refs in refs_by_seed.items()}


# --------------------------------------------------------------------------- tables and figures


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


def best_model_worst_panels(ordering, refs: Mapping[str, runs.RunRef], eval_set: EvalSet, seed: int, n: int = 4,
                            predict_missing: bool = True, size: int | Sequence[int] | None = None):
    """The panels the best configuration orders worst, with the inter-object pairs it gets wrong.

    Args:
        ordering: the per-panel ordering table (:func:`item_tables`'s ``ordering_per_panel``).
        refs: the runs of ``seed`` (configuration -> :class:`~comicdepth_tf.runs.RunRef`).
        eval_set: the panel set those rows score.
        seed: the training seed whose panels are ranked.
        n: how many panels.
        predict_missing: predict with the run's model when its saved maps are absent.
        size: network size for those predictions; None: the run's own.

    Returns:
        The figure, titled with the configuration (the one with the highest mean inter-object
        accuracy, :func:`comicdepth_tf.comparisons.best_configuration`).
    """
    best = comparisons.best_configuration(ordering)
    stems = comparisons.worst_panels(ordering, best, seed, n=n)
    maps, convention = evaluation.read_maps(refs[best], eval_set, stems, predict_missing, size)
    return comparisons.worst_panels_figure(eval_set, maps, convention, stems,
                                           title=f"{best} (seed {seed}): its {len(stems)} worst panels")


def score_real_pages(refs_by_seed: Mapping[int, Mapping[str, runs.RunRef]], check: real_pages.RealCheck,
                     size: int | Sequence[int] | None = None, seed: int = 0) -> dict[int, real_pages.Scored]:
    """Every configuration on the real-page check, once per training seed's runs.

    Args:
        refs_by_seed: :func:`find_runs_by_seed`'s runs.
        check: :func:`load_real_pages`'s pages and points.
        size: network size for predictions; None: each run's own.
        seed: the seeded random rule's seed, the same for every training seed.

    Returns:
        training seed -> :func:`comicdepth_tf.real_pages.score_configurations`'s scores.
    """
    return {training_seed: real_pages.score_configurations(refs, check, size=size, seed=seed)
            for training_seed, refs in refs_by_seed.items()}


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


def stage_metrics(ev: Evaluation, table, interval_table, n_seeds: int) -> dict[str, Any]:
    """The stage's metrics: :func:`summary_metrics` of ``table`` and the interval counts and
    headline differences of :func:`comicdepth_tf.comparisons.summary_metrics`."""
    return {**summary_metrics(ev, table), **comparisons.summary_metrics(interval_table, n_seeds)}
