"""One configuration across several runs of the chain, on the real-page check, with paired intervals.

Notebook 50 compares configurations *within* a run. An ablation compares the *same*
configuration across runs that differ in one thing (the embedded world, a parameter): each
run's ``50_evaluate/real_pages_per_panel.csv`` holds its per-panel, per-seed scores, and the
runs share the check's panels and, when run with the same ``SEEDS``, the seeds. Here the
configuration of each run becomes a row named by the run's label, and
:func:`comicdepth_tf.comparisons.real_page_intervals` pairs every row with the baseline run's
(panels and seeds resampled together).

``comicdepth compare-reports street=reports/a rich=reports/b --configuration approach2_exact_comics``
prints each run's pooled scores and its difference from the first run (or ``--baseline``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping, Sequence

from comicdepth_tf.errors import DataFormatError, ParameterError

PER_PANEL_FILE = Path("50_evaluate") / "real_pages_per_panel.csv"
KINDS = ("inter", "counter_y")


def read_rows(report: str | Path, configuration: str, mode: str = "panel", batches: Sequence[int] | None = None):
    """The per-panel rows of one configuration in a report folder (``reports/<run_id>``).

    ``batches`` keeps the panels of those annotation batches (:mod:`comicdepth_tf.real_pages`); a
    table written before batches existed holds batch 1 only.

    Raises:
        DataFormatError: the report has no real-page table, not that configuration or not those batches.
    """
    import pandas as pd

    path = Path(report) / PER_PANEL_FILE
    if not path.is_file():
        raise DataFormatError(path, "", "notebook 50's real-page table (run 50_evaluate with REAL_CHECK)")
    rows = pd.read_csv(path)
    missing = {"configuration", "seed", "mode", "page", "panel"} - set(rows.columns)
    if missing:
        raise DataFormatError(path, "columns", f"the columns {sorted(missing)} of notebook 50's table")
    chosen = rows[(rows["configuration"] == configuration) & (rows["mode"] == mode)]
    if chosen.empty:
        found = sorted(set(rows["configuration"]))
        raise DataFormatError(path, "configuration", f"rows of {configuration!r} in {mode} mode", found)
    if batches is not None:
        from comicdepth_tf.real_pages import row_batches

        batch = row_batches(chosen)
        chosen = chosen[batch.isin(list(batches))]
        if chosen.empty:
            raise DataFormatError(path, "batch", f"panels of batch {sorted(batches)}", sorted(set(batch)))
    return chosen


def compare_reports(reports: Mapping[str, str | Path], configuration: str, baseline: str | None = None,
                    kinds: Sequence[str] = KINDS, seed: int = 0, batches: Sequence[int] | None = None):
    """Pooled real-page scores of ``configuration`` in each report, and paired intervals against one.

    Args:
        reports: label -> report folder, in table order.
        configuration: the configuration compared (e.g. ``approach2_exact_comics``).
        baseline: the label compared with (default: the first).
        kinds: pair kinds (``inter``, ``counter_y``, ``intra``).
        seed: bootstrap seed.
        batches: only the panels of these annotation batches (default: all).

    Returns:
        ``(scores, intervals)``: pooled accuracy per label and kind (seeds pooled), and the
        :func:`~comicdepth_tf.comparisons.real_page_intervals` table (``configuration`` = label).
    """
    import pandas as pd

    from comicdepth_tf import comparisons, real_pages

    if not reports:
        raise ParameterError("compare_reports: no report given")
    baseline = baseline or next(iter(reports))
    if baseline not in reports:
        raise ParameterError(f"baseline {baseline!r} is not one of the labels {list(reports)}")
    seen: dict[Path, str] = {}
    for label, path in reports.items():
        # A report against itself always reads "+0.000, no measurable difference": a typo, not a result.
        other = seen.setdefault(Path(path).resolve(), label)
        if other != label:
            raise ParameterError(f"labels {other!r} and {label!r} name the same report {path}")
    items = pd.concat([read_rows(path, configuration, batches=batches).assign(configuration=label)
                       for label, path in reports.items()], ignore_index=True)
    scores = pd.DataFrame([{"label": label, "seeds": int(group["seed"].nunique()),
                            **{kind: real_pages.pooled(group, kind) for kind in kinds}}
                           for label, group in items.groupby("configuration", sort=False)])
    return scores, comparisons.real_page_intervals(items, baseline=baseline, kinds=kinds, seed=seed)


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth compare-reports``."""
    parser.add_argument("reports", nargs="+", metavar="LABEL=REPORT",
                        help="report folders (reports/<run_id>) with a label each, e.g. street=reports/a")
    parser.add_argument("--configuration", required=True, help="the configuration compared, e.g. approach2_add_text")
    parser.add_argument("--baseline", default=None, help="the label compared with (default: the first)")
    parser.add_argument("--batch", type=int, action="append", default=None, metavar="N",
                        help="only the panels of annotation batch N (repeat for several; default: all)")


def cli_main(args: argparse.Namespace) -> int:
    """Print the scores and the intervals; 2 on bad input."""
    try:
        reports = {}
        for text in args.reports:
            label, sep, path = text.partition("=")
            if not sep or not label or not path:
                raise ParameterError(f"{text!r}: expected LABEL=REPORT")
            if label in reports:
                raise ParameterError(f"label {label!r} is given twice")
            reports[label] = Path(path)
        scores, table = compare_reports(reports, args.configuration, args.baseline, batches=args.batch)
    except (ParameterError, DataFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.configuration} on the real-page check (pooled pair accuracy, panel mode):")
    print(scores.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for line in table["in_words"]:
        print(f"  {line}")
    return 0
