"""Stage records (metrics, figures, tables) and the HTML index of a run.

Notebooks record what they measured through this module, never by printing:

    reporting.record_metrics("10_depth_irv2", {"val_delta1": 0.71, "epochs": 3})
    reporting.record_figure("10_depth_irv2", fig, "predictions", headline=True)
    reporting.record_table("50_evaluate", "comparison", dataframe)

Everything of a stage lands in its *stage folder*: ``$COMICDEPTH_STAGE_DIR`` when the runner
(:mod:`comicdepth_tf.chain.runner`) executes the notebook (``reports/<run_id>/<stage>/``), else
``reports/interactive/<stage>/``. ``metrics.json`` there holds the metrics plus the lists
``figures`` and ``tables``; the runner's ``index.html`` shows key metrics, the headline figure
and any table named ``comparison*`` of every stage.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import paths
from comicdepth_tf.chain import report_tables
from comicdepth_tf.chain.report_tables import metrics_table  # noqa: F401  (the notebooks' last cell shows it)
from comicdepth_tf.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json

METRICS_FILE = "metrics.json"
#: Keys of metrics.json managed by this module (not metrics).
RESERVED_KEYS = ("figures", "tables", "key_metrics")
#: Tables whose name starts with this are shown on the run index (the evaluation stage's
#: model comparison; issue 7).
COMPARISON_PREFIX = "comparison"
#: How many metrics the index shows per stage when the stage names no key metrics.
MAX_INDEX_METRICS = 8
STAGE_DIR_ENV = "COMICDEPTH_STAGE_DIR"
RUN_ID_ENV = "COMICDEPTH_RUN_ID"


# --------------------------------------------------------------------------- stage folder


def stage_dir(stage: str) -> Path:
    """The folder where ``stage`` records its outputs (created).

    ``$COMICDEPTH_STAGE_DIR`` when set by the runner; a different stage name than the
    runner's goes into a sibling folder of the same run. Otherwise
    ``<reports>/interactive/<stage>/``.
    """
    env = os.environ.get(STAGE_DIR_ENV)
    if env:
        folder = Path(env)
        if folder.name != stage:
            folder = folder.parent / stage
    else:
        folder = paths.reports_dir() / "interactive" / stage
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_id() -> str | None:
    """The runner's run id (``$COMICDEPTH_RUN_ID``), None in an interactive session."""
    return os.environ.get(RUN_ID_ENV) or None


def slug(name: str) -> str:
    """A file-name-safe version of ``name`` (letters, digits, ``-``, ``_``, ``.``)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._")
    if not out:
        raise ValueError(f"name {name!r} has no usable characters for a file name")
    return out


# --------------------------------------------------------------------------- JSON values


def to_jsonable(value: Any, key: str = "value") -> Any:
    """Convert a metric value to plain JSON types.

    NumPy scalars and arrays become Python numbers and lists, tuples lists, paths strings;
    non-finite floats become ``None`` (JSON has no NaN).

    Raises:
        TypeError: a value that is not a number, string, bool, None, list or dict; the
            message names the key.
    """
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"metric {key!r}: {type(value).__name__} is not a JSON number, string, "
                    "bool, list or dict")


# --------------------------------------------------------------------------- records


def read_metrics(stage_or_dir: str | os.PathLike) -> dict[str, Any]:
    """Read a stage's ``metrics.json`` ({} when absent).

    Args:
        stage_or_dir: a stage name (resolved with :func:`stage_dir`), a stage folder or the
            metrics file itself.
    """
    target = Path(stage_or_dir)
    if isinstance(stage_or_dir, str) and not target.exists() and os.sep not in stage_or_dir:
        target = stage_dir(stage_or_dir)
    file = target if target.suffix == ".json" else target / METRICS_FILE
    return read_json(file) if file.exists() else {}


def _update(stage: str, change) -> Path:
    file = stage_dir(stage) / METRICS_FILE
    data = read_json(file) if file.exists() else {}
    change(data)
    atomic_write_json(file, data)
    return file


def record_metrics(stage: str, metrics: Mapping[str, Any], key: list[str] | None = None) -> Path:
    """Merge ``metrics`` into the stage's ``metrics.json`` (atomic write).

    Args:
        stage: the stage name (the notebook stem, e.g. ``"10_depth_irv2"``).
        metrics: name -> JSON number/string/bool/list/dict; NumPy values are converted.
            Existing names are replaced.
        key: names to show on the run index (added to ``key_metrics``); by default the index
            shows the first scalar metrics.

    Returns:
        The path of ``metrics.json``.

    Raises:
        TypeError: a value that cannot be stored as JSON.
        ValueError: a metric uses a reserved name (``figures``, ``tables``, ``key_metrics``).
    """
    clash = [k for k in metrics if k in RESERVED_KEYS]
    if clash:
        raise ValueError(f"metric names {clash} are reserved in {METRICS_FILE}")
    clean = {str(k): to_jsonable(v, str(k)) for k, v in metrics.items()}

    def change(data: dict) -> None:
        data.update(clean)
        if key:
            listed = data.setdefault("key_metrics", [])
            listed += [k for k in key if k not in listed]

    return _update(stage, change)


def record_figure(stage: str, fig, name: str, headline: bool = False, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``<stage dir>/<name>.png`` and list it in ``metrics.json``.

    Args:
        stage: the stage name.
        fig: a matplotlib ``Figure`` (or anything with ``.figure``, e.g. Axes).
        name: the figure's name (also its file name, made safe).
        headline: show this figure on the run index (replaces an earlier headline).
        dpi: resolution of the PNG.

    Returns:
        The PNG path.
    """
    fig = fig if hasattr(fig, "savefig") else fig.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    file_name = slug(name) + ".png"
    path = atomic_write_bytes(stage_dir(stage) / file_name, buf.getvalue())

    def change(data: dict) -> None:
        figures = [f for f in data.get("figures", []) if f.get("name") != name]
        if headline:
            for f in figures:
                f["headline"] = False
        figures.append({"name": name, "file": file_name, "headline": bool(headline)})
        data["figures"] = figures

    _update(stage, change)
    return path


def record_table(stage: str, name: str, dataframe, float_format: str = "{:.4g}") -> dict[str, Path]:
    """Save a table as CSV and HTML in the stage folder and list it in ``metrics.json``.

    A table named ``comparison`` (or ``comparison_*``) is shown on the run index.

    Args:
        stage: the stage name.
        name: the table's name (also its file names).
        dataframe: a pandas DataFrame (a dict of columns or a list of row dicts is converted).
        float_format: format of floats in the HTML version (the CSV keeps full precision).

    Returns:
        ``{"csv": path, "html": path}``.
    """
    if not hasattr(dataframe, "to_csv"):
        import pandas as pd

        dataframe = pd.DataFrame(dataframe)
    keep_index = type(dataframe.index).__name__ != "RangeIndex"
    folder = stage_dir(stage)
    base = slug(name)
    csv_path = atomic_write_text(folder / f"{base}.csv", dataframe.to_csv(index=keep_index))
    table_html = dataframe.to_html(index=keep_index, border=0, classes="table",
                                   float_format=float_format.format, na_rep="–")
    html_path = atomic_write_text(folder / f"{base}.html", table_html)

    def change(data: dict) -> None:
        tables = [t for t in data.get("tables", []) if t.get("name") != name]
        tables.append({"name": name, "csv": csv_path.name, "html": html_path.name,
                       "rows": int(len(dataframe)), "columns": [str(c) for c in dataframe.columns]})
        data["tables"] = tables

    _update(stage, change)
    return {"csv": csv_path, "html": html_path}


def record_config(stage: str, cfg) -> Path:
    """Save a frozen config (:class:`comicdepth_tf.chain.config.Config` or dict) as ``config.json``."""
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    return atomic_write_json(stage_dir(stage) / "config.json", to_jsonable(data, "config"))


# --------------------------------------------------------------------------- index


def key_metrics(metrics: Mapping[str, Any], limit: int = MAX_INDEX_METRICS) -> list[tuple[str, Any]]:
    """The metrics the index shows: the stage's ``key_metrics`` or its first scalar values.

    Nested dicts are flattened one level (``counts.train``).
    """
    flat: dict[str, Any] = {}
    for k, v in metrics.items():
        if k in RESERVED_KEYS:
            continue
        if isinstance(v, Mapping):
            for k2, v2 in v.items():
                if _is_scalar(v2):
                    flat[f"{k}.{k2}"] = v2
        elif _is_scalar(v):
            flat[k] = v
    chosen = metrics.get("key_metrics")
    if chosen:
        return [(k, flat.get(k, metrics.get(k))) for k in chosen if k in flat or k in metrics]
    return list(flat.items())[:limit]


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 60)


def format_value(v: Any) -> str:
    """Compact text for a metric value (4 significant digits for floats)."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        text = json.dumps(v)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(v)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .4rem .6rem; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.status-ok { color: #176c2c; font-weight: bold; }
.status-reused { color: #1f5f8b; font-weight: bold; }
.status-failed { color: #b00020; font-weight: bold; }
.status-not_run, .status-pending, .status-running { color: #777; font-weight: bold; }
.metrics td, .metrics th { border: none; padding: 0 .6rem 0 0; }
img.thumb { max-width: 240px; max-height: 180px; }
code { background: #f6f6f6; padding: 0 .2rem; }
.error { color: #b00020; }
table.compact { font-size: .9rem; }
table.compact th, table.compact td { padding: .25rem .45rem; }
table.compact td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.compact td.empty { color: #bbb; }
table.compact td.best { background: #eaf5ea; }
table.compact td.flag { background: #fff1dc; color: #8a4b00; }
table.compact th.family { text-align: center; border-bottom: 2px solid #999; }
table.compact th.rowname { white-space: nowrap; background: #fafafa; }
.status-note { font-weight: normal; color: #777; font-size: .8rem; white-space: normal; max-width: 22rem; }
.legend { color: #555; font-size: .85rem; }
ul.flags { color: #8a4b00; font-size: .85rem; }
table.details { font-size: .8rem; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _stage_row(run_dir: Path, stage: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """One table row of the index and the comparison tables of that stage."""
    name = stage["stage"]
    status = stage.get("status", "pending")
    folder = run_dir / stage.get("stage_dir", name)
    metrics = read_metrics(folder) if folder.is_dir() else {}

    duration = stage.get("duration_s")
    duration_text = f"{duration:.1f} s" if isinstance(duration, (int, float)) else ""
    peak = stage.get("peak_memory_mb")
    if isinstance(peak, (int, float)):
        duration_text += f"<br>peak {peak / 1000:.2f} GB"
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(format_value(v))}</td></tr>"
                   for k, v in key_metrics(metrics))
    metrics_html = f'<table class="metrics">{rows}</table>' if rows else ""

    rel = os.path.relpath(folder, run_dir)
    headline = [f for f in metrics.get("figures", []) if f.get("headline")]
    figure_html = ""
    if headline:
        src = f"{rel}/{headline[-1]['file']}"
        figure_html = (f'<a href="{_esc(src)}"><img class="thumb" src="{_esc(src)}" '
                       f'alt="{_esc(headline[-1]["name"])}"></a>')

    links = []
    if stage.get("html"):
        links.append(f'<a href="{_esc(stage["html"])}">report</a>')
    if stage.get("output_notebook"):
        links.append(f'<a href="{_esc(stage["output_notebook"])}">notebook</a>')
    if metrics:
        links.append(f'<a href="{_esc(rel)}/{METRICS_FILE}">metrics.json</a>')

    error = stage.get("error")
    error_html = ""
    if error:
        where = ""
        if error.get("cell_index") is not None:
            where = f"cell {error['cell_index']}"
            if error.get("execution_count") is not None:
                where += f" (In [{error['execution_count']}])"
            if error.get("cell_first_line"):
                where += f": <code>{_esc(error['cell_first_line'])}</code>"
            where += "<br>"
        error_html = f'<div class="error">{where}{_esc(error.get("exception", ""))}</div>'
    if stage.get("reused_from"):
        error_html += f'<div>from run {_esc(stage["reused_from"])}</div>'

    params = stage.get("params") or {}
    params_html = ""
    if params:
        changed = set(stage.get("overrides") or [])
        items = "".join(f"<tr><th>{_esc(k)}</th><td>{'<b>' if k in changed else ''}{_esc(format_value(v))}"
                        f"{'</b>' if k in changed else ''}</td></tr>" for k, v in params.items())
        params_html = (f"<details><summary>{len(params)} parameters, {len(changed)} set by the run"
                       f'</summary><table class="metrics">{items}</table></details>')

    row = (f'<tr id="stage-{_esc(name)}"><td>{_esc(name)}</td>'
           f'<td class="status-{_esc(status)}">{_esc(status)}{error_html}</td>'
           f"<td>{duration_text}</td><td>{metrics_html}</td><td>{figure_html}</td>"
           f"<td>{params_html}</td><td>{' · '.join(links)}</td></tr>")

    comparisons = []
    for table in metrics.get("tables", []):
        if str(table.get("name", "")).startswith(COMPARISON_PREFIX) and (folder / table["html"]).exists():
            title = f"{name}: {table['name']}"
            csv_link = f'<a href="{_esc(rel)}/{_esc(table["csv"])}">CSV</a> (full precision)'
            comparisons.append((title, f"{_comparison_body(folder, table, run_dir)}\n<p>{csv_link}</p>"))
    return row, comparisons


def _comparison_body(folder: Path, table: Mapping[str, Any], run_dir: Path) -> str:
    """A comparison table on the index: compact when it has one row per configuration (see
    :func:`comicdepth_tf.chain.report_tables.compact_comparison`), folded when it is long (a row per
    configuration and metric), its recorded HTML when its CSV cannot be read."""
    import pandas as pd

    recorded = (folder / table["html"]).read_text(encoding="utf-8")
    try:
        frame = pd.read_csv(folder / table["csv"])
    except (OSError, ValueError, pd.errors.ParserError):
        return recorded
    if "metric" in frame.columns or frame.empty:
        return f"<details><summary>{len(frame)} rows: one per configuration and metric</summary>{recorded}</details>"
    return report_tables.compact_comparison(frame, run_dir)


def total_seconds(run: Mapping[str, Any]) -> float:
    """Sum of the stages' ``duration_s`` in a run record (stages not run count 0)."""
    return float(sum(s.get("duration_s") or 0.0 for s in run.get("stages", [])))


def wall_seconds(run: Mapping[str, Any]) -> float | None:
    """Seconds from the first stage's start to the last one's end, when the runner recorded the starts
    (``started_s``): with stages side by side (``--jobs``) this, not the sum, is the chain's time."""
    spans = [(float(s["started_s"]), float(s["started_s"]) + float(s.get("duration_s") or 0.0))
             for s in run.get("stages", []) if isinstance(s.get("started_s"), (int, float))]
    return max(e for _, e in spans) - min(b for b, _ in spans) if spans else None


def side_by_side_wall_seconds(run: Mapping[str, Any]) -> float | None:
    """:func:`wall_seconds` when stages overlapped (it is shorter than their sum), else None: the gaps
    between kernels one after the other are not a second measure of the run's time."""
    wall = wall_seconds(run)
    return wall if wall is not None and wall < total_seconds(run) - 1 else None


def _time_text(run: Mapping[str, Any]) -> str:
    """``total 3639.1 s (60.7 min)``; side by side, the wall time first and the stages' sum after it."""
    total, wall = total_seconds(run), side_by_side_wall_seconds(run)
    if wall is not None:
        return f"wall {wall:.1f} s ({wall / 60:.1f} min), stages side by side adding up to {total:.1f} s"
    return f"total {total:.1f} s ({total / 60:.1f} min)"


def render_index(run: Mapping[str, Any], run_dir: str | os.PathLike) -> str:
    """The HTML of a run's index page.

    Args:
        run: the run record (the content of ``run.json``: ``run_id``, ``profile``,
            ``status``, ``stages`` with ``stage``, ``status``, ``duration_s``, ``params``,
            ``html``, ``output_notebook``, ``stage_dir``, ``error``).
        run_dir: the run folder; links and images are relative to it.
    """
    run_dir = Path(run_dir)
    rows, comparisons = [], []
    for stage in run.get("stages", []):
        row, comp = _stage_row(run_dir, stage)
        rows.append(row)
        comparisons += comp
    comparison_html = "".join(
        f'<section class="comparison"><h2>{_esc(title)}</h2>{body}</section>' for title, body in comparisons)
    n_failed = sum(s.get("status") == "failed" for s in run.get("stages", []))
    world = run.get("world") or "street"
    summary = (f"profile <b>{_esc(run.get('profile', ''))}</b> · world <b>{_esc(world)}</b> · status "
               f"<span class=\"status-{_esc(run.get('status', ''))}\">{_esc(run.get('status', ''))}</span>"
               f" · {len(rows)} stages, {n_failed} failed · {_time_text(run)}"
               f"{_peak_text(run)}"
               f" · started {_esc(run.get('started', ''))}"
               f" · python <code>{_esc(run.get('python', ''))}</code>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>comicdepth run {_esc(run.get('run_id', ''))}</title>
<style>{_CSS}</style></head>
<body>
<h1>comicdepth run {_esc(run.get('run_id', ''))}</h1>
<p>{summary}</p>
<table id="stages">
<thead><tr><th>stage</th><th>status</th><th>duration</th><th>key metrics</th><th>headline figure</th>
<th>parameters</th><th>links</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<div id="comparison">{comparison_html}</div>
<p><a href="run.json">run.json</a></p>
</body></html>
"""


def _peak_text(run: Mapping[str, Any]) -> str:
    """`` · peak memory X GB (stage)``: the largest kernel of the run, or "" when none was measured."""
    measured = [s for s in run.get("stages", []) if isinstance(s.get("peak_memory_mb"), (int, float))]
    if not measured:
        return ""
    top = max(measured, key=lambda s: s["peak_memory_mb"])
    return f" · peak memory {top['peak_memory_mb'] / 1000:.2f} GB ({_esc(top['stage'])})"


def write_index(run: Mapping[str, Any], run_dir: str | os.PathLike) -> Path:
    """Write ``run.json`` and ``index.html`` into the run folder (both atomic).

    Returns:
        The path of ``index.html``.
    """
    run_dir = Path(run_dir)
    atomic_write_json(run_dir / "run.json", to_jsonable(dict(run), "run"))
    return atomic_write_text(run_dir / "index.html", render_index(run, run_dir))
