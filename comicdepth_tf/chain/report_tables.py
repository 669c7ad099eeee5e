"""Readable HTML tables for the reports: the run index's compact comparison, rounded metric dicts.

A comparison table (one row per configuration, as ``50_evaluate`` records it) has a column
per metric and configuration kind, so most cells are empty, and its paths and notes make it
thousands of pixels wide. :func:`compact_comparison` shows it as people read it:

- one row per configuration; columns without any value are left out;
- metric columns grouped by family (ordering, comics dense, natural dense, AI4VA MSE, …),
  each with its direction (↑ higher is better, ↓ lower is better) and its best value in bold;
- values outside a sane range (an AbsRel above 10: the depth scale was not aligned) flagged
  with ⚠ and the reason, and never marked best;
- text (stage, how the run was found, its folder relative to the project, notes) and counts in
  a details section below.

:func:`metrics_table` renders a stage's ``metrics`` dict as a two-column table of rounded values
(the last cell of every notebook shows it).
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from comicdepth_tf.training import HIGHER_IS_BETTER

#: (family shown above its columns, column prefixes, what of the name the header drops).
FAMILIES = (
    ("ordering", ("inter", "intra", "counter_y"), r"^$"),
    ("comics dense", ("comics_",), r"^comics_"),
    ("natural dense", ("natural_",), r"^natural_"),
    ("AI4VA MSE", ("ai4va_mse_", "ai4va_official_mse_"), r"^ai4va_|mse_"),
)
#: Real-page ordering scores whose names say no direction: shares of pairs ordered right.
HIGHER_EXACT = ("inter", "intra", "inter_pooled", "inter_panel_mean", "counter_y")
#: Words of columns that improve downward (errors and losses).
LOWER_WORDS = ("mse", "rmse", "abs_rel", "loss", "l1", "error", "log10", "mae")
#: Columns that count things (shown in the details, never compared).
COUNT_RE = re.compile(r"^(n_.*|seeds|panels)$|_(images|segments|pairs|panels|count|n)$")
#: Header words: short forms people know.
WORDS = {"abs_rel": "AbsRel", "delta1": "δ1", "delta2": "δ2", "delta3": "δ3", "rmse": "RMSE", "mse": "MSE",
         "db": "dB", "acc": "acc", "ai4va": "AI4VA", "official_mse": "official"}
#: Text columns folded into the row label rather than the details (they split a configuration's rows).
LABEL_PARTS = ("mode",)
NOT_OK = "status"


def direction(column: str) -> str | None:
    """``"max"`` (↑), ``"min"`` (↓) or None (no direction, e.g. a count or a free name)."""
    name = column.lower()
    if COUNT_RE.search(name):
        return None
    if name in HIGHER_EXACT or name.endswith("_db") or any(w in name for w in HIGHER_IS_BETTER):
        return "max"
    if any(w in name for w in LOWER_WORDS):
        return "min"
    return None


def out_of_range(column: str, value: float) -> str | None:
    """Why ``value`` is outside a sane range for ``column`` (None when it is not)."""
    name = column.lower()
    if "abs_rel" in name and value > 10:
        return "AbsRel > 10: depth scale not aligned to the ground truth"
    shares = direction(column) == "max" and not name.endswith("_db")
    if shares and not 0.0 <= value <= 1.0:
        return "a share (accuracy, δ) outside [0, 1]"
    if direction(column) == "min" and value < 0:
        return "a negative error"
    return None


def short_number(value: Any) -> str:
    """3 significant digits (``0.664``, ``6.91``, ``2.83e+03``); text as is; NaN and None as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _family(column: str) -> tuple[int, str, str]:
    """(family order, family name, header label) of a metric column."""
    for order, (name, prefixes, drop) in enumerate(FAMILIES):
        if column.startswith(prefixes):
            return order, name, header_label(re.sub(drop, "", column))
    return len(FAMILIES), "", header_label(column)


def header_label(column: str) -> str:
    """``abs_rel`` → ``AbsRel``, ``inter_db`` → ``inter dB``, ``official_mse_overall`` → ``official overall``."""
    text = column
    for word, short in sorted(WORDS.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"(?<![A-Za-z]){word}(?![A-Za-z0-9])", short, text)
    return text.replace("_", " ")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_number_column(frame, column: str) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])


def split_columns(frame) -> tuple[list[str], list[str], list[str]]:
    """``(metric columns, in family order; label parts; detail columns)``; empty metrics are dropped."""
    metrics, details = [], []
    for column in frame.columns[1:]:
        if column in LABEL_PARTS or column == NOT_OK:
            continue
        if _is_number_column(frame, column) and direction(column) is not None:
            if frame[column].notna().any():
                metrics.append(column)
        elif frame[column].notna().any():
            details.append(column)
    metrics.sort(key=lambda c: _family(c)[0])  # stable: a family keeps the table's order
    return metrics, [c for c in LABEL_PARTS if c in frame.columns], details


def best_values(frame, columns: list[str]) -> dict[str, float]:
    """Per metric column, its best value among the rows whose value is in range (a column with
    fewer than two such values has none: there is nothing to compare)."""
    best = {}
    for column in columns:
        values = [float(v) for v in frame[column] if _finite(v) and out_of_range(column, float(v)) is None]
        if len(values) > 1:
            best[column] = max(values) if direction(column) == "max" else min(values)
    return best


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _header(metrics: list[str], label: str) -> str:
    groups: list[list] = []
    for column in metrics:
        _, family, _ = _family(column)
        if groups and groups[-1][0] == family:
            groups[-1][1] += 1
        else:
            groups.append([family, 1])
    top = "".join(f'<th colspan="{n}" class="family">{_esc(name)}</th>' for name, n in groups)
    arrows = {"max": "↑", "min": "↓"}
    cells = "".join(f'<th title="{_esc(c)}">{_esc(_family(c)[2])} {arrows[direction(c)]}</th>' for c in metrics)
    return (f'<thead><tr><th rowspan="2">{_esc(label)}</th>{top}</tr>'
            f"<tr>{cells}</tr></thead>")


def _cell(column: str, value: Any, best: Mapping[str, float], flags: list[str], row_name: str) -> str:
    if not _finite(value):
        return '<td class="num empty">–</td>'
    value = float(value)
    reason = out_of_range(column, value)
    if reason:
        _, family, label = _family(column)
        flags.append(f"{row_name} · {family} {label}: {short_number(value)} ({reason})")
        return f'<td class="num flag" title="{_esc(reason)}">{_esc(short_number(value))} ⚠</td>'
    text = _esc(short_number(value))
    return f'<td class="num best"><b>{text}</b></td>' if best.get(column) == value else f'<td class="num">{text}</td>'


def _row_name(row, label: str, parts: list[str]) -> str:
    extra = [str(row[p]) for p in parts if isinstance(row[p], str)]
    return " · ".join([str(row[label]), *extra])


def display_path(text: str, run_dir: Path) -> tuple[str, str]:
    """``(shown text, link)`` of a path: relative to the project home when inside it, linked from the run folder."""
    from comicdepth_tf import paths

    path = Path(text)
    if not path.is_absolute():
        return text, text
    link = os.path.relpath(path, run_dir)
    home = paths.models_dir().parent
    shown = os.path.relpath(path, home) if path.is_relative_to(home) else link
    return shown, link


def _details(frame, label: str, columns: list[str], run_dir: Path) -> str:
    if not columns:
        return ""
    head = "".join(f"<th>{_esc(header_label(c))}</th>" for c in [label, *columns])
    rows = []
    for _, row in frame.iterrows():
        cells = [f"<td>{_esc(row[label])}</td>"]
        for c in columns:
            value = row[c]
            if isinstance(value, str) and os.path.isabs(value):
                shown, link = display_path(value, run_dir)
                cells.append(f'<td><a href="{_esc(link)}">{_esc(shown)}</a></td>')
            else:
                cells.append(f"<td>{_esc(short_number(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<details><summary>runs, counts and notes ({', '.join(map(header_label, columns))})</summary>"
            f'<table class="details"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></details>')


LEGEND = ("↑ higher is better · ↓ lower is better · <b>bold</b>: best of the column · "
          "⚠ outside the sane range (never best) · –: not scored")


def compact_comparison(frame, run_dir: str | os.PathLike) -> str:
    """The HTML of a one-row-per-configuration comparison (see the module docstring).

    Args:
        frame: the comparison table; its first column names the rows (``configuration``); a
            ``status`` other than ``ok`` is shown under the name; a ``mode`` column joins the name.
        run_dir: the run folder the page lies in (links are relative to it).
    """
    label = str(frame.columns[0])
    metrics, parts, details = split_columns(frame)
    best = best_values(frame, metrics)
    flags: list[str] = []
    body = []
    for _, row in frame.iterrows():
        name = _row_name(row, label, parts)
        status = row.get(NOT_OK)
        note = f'<div class="status-note">{_esc(status)}</div>' if isinstance(status, str) and status != "ok" else ""
        cells = "".join(_cell(c, row[c], best, flags, name) for c in metrics)
        body.append(f'<tr><th class="rowname">{_esc(name)}{note}</th>{cells}</tr>')
    flagged = "".join(f"<li>{_esc(f)}</li>" for f in flags)
    flag_html = f'<ul class="flags">{flagged}</ul>' if flags else ""
    return (f'<table class="compact">{_header(metrics, label)}<tbody>{"".join(body)}</tbody></table>'
            f'<p class="legend">{LEGEND}</p>{flag_html}{_details(frame, label, details, Path(run_dir))}')


def metrics_table(metrics: Mapping[str, Any]):
    """A stage's metrics as a two-column table of rounded values (for a notebook's last cell).

    Dicts of numbers (``{configuration: value}``) become one row per entry (``inter_acc ·
    approach2_simple``); lists are shortened. A DataFrame of text, so it shows as an HTML
    table in the notebook and in its report, with the values exactly as rounded here.
    """
    import pandas as pd

    return pd.DataFrame(_metric_rows(metrics), columns=["metric", "value"]).set_index("metric")


def _metric_rows(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(name, rounded text)`` per value; nested dicts flattened as ``outer · inner``."""
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _metric_rows(value, f"{name} · ")
        elif isinstance(value, (list, tuple)):
            text = ", ".join(short_number(v) for v in value[:6])
            rows.append((name, text + (f", … ({len(value)} in all)" if len(value) > 6 else "")))
        else:
            rows.append((name, short_number(value)))
    return rows
