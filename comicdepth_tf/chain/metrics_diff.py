"""``comicdepth diff-metrics A B``: are two runs' results identical, stage by stage?

Compares every ``<stage>/metrics.json`` of two report folders value by value, exactly (no
tolerance: identical runs give bitwise-identical numbers). Values that record *when* or *how
long* rather than *what* — wall and CPU seconds, timestamps, the run ids derived from them — are
left out (:data:`VOLATILE`); everything else must be equal. Exit code 0 when nothing differs,
1 when something does, 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from comicdepth_tf.chain.reporting import METRICS_FILE, read_metrics
from comicdepth_tf.errors import DataFormatError
from comicdepth_tf.fileio import read_json

#: Flattened keys whose values are timings, timestamps or run ids (``a.b.c`` paths, last part).
VOLATILE = re.compile(r"(seconds|_s|run_id|_run|^gan_run_.*|^finished|^started|^when)$")


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``("a.b.0", leaf)`` pairs of a nested JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flatten(v, f"{prefix}{k}.")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from flatten(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], value


def stable_values(metrics: dict) -> dict[str, Any]:
    """The flattened values of a ``metrics.json`` without the volatile ones."""
    return {k: v for k, v in flatten(metrics) if not VOLATILE.search(k.rsplit(".", 1)[-1])}


def diff_reports(a: str | os.PathLike, b: str | os.PathLike,
                 stages: Iterable[str] | None = None) -> tuple[list[tuple[str, str, Any, Any]], int]:
    """Differences between the stages' results of two report folders.

    Args:
        a, b: report folders (``reports/<run_id>``).
        stages: compare only these stage folders (default: every stage of either).

    Returns:
        ``([(stage, key, value in a, value in b), …], values compared)``; a stage present in one
        folder only is one difference with key ``metrics.json``.

    Raises:
        DataFormatError: a folder without any ``<stage>/metrics.json``.
    """
    a, b = Path(a), Path(b)
    folders = {a: stage_folders(a), b: stage_folders(b)}
    chosen = set(stages) if stages is not None else set(folders[a]) | set(folders[b])
    out, compared = [], 0
    for stage in sorted(chosen):
        if stage not in folders[a] or stage not in folders[b]:
            out.append((stage, METRICS_FILE, stage in folders[a], stage in folders[b]))
            continue
        va, vb = stable_values(read_metrics(folders[a][stage])), stable_values(read_metrics(folders[b][stage]))
        for key in sorted(set(va) | set(vb)):
            compared += 1
            if va.get(key) != vb.get(key):
                out.append((stage, key, va.get(key), vb.get(key)))
    return out, compared


def stage_folders(report: Path) -> dict[str, Path]:
    """Stage -> its folder holding ``metrics.json``: ``run.json``'s ``stage_dir`` (a reused stage's
    folder is in the run it reused), else the report's own ``<stage>/`` folders.

    Raises:
        DataFormatError: a folder without any stage metrics.
    """
    found = {p.parent.name: p.parent for p in report.glob(f"*/{METRICS_FILE}")}
    run_file = report / "run.json"
    if run_file.exists():
        for stage in read_json(run_file).get("stages", []):
            folder = report / stage.get("stage_dir", stage.get("stage", ""))
            if (folder / METRICS_FILE).exists():
                found[stage["stage"]] = folder
    if not found:
        raise DataFormatError(report, METRICS_FILE, "a report folder with <stage>/metrics.json files")
    return found


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth diff-metrics``."""
    parser.add_argument("a", type=Path, help="a report folder (reports/<run_id>)")
    parser.add_argument("b", type=Path, help="another report folder")


def cli_main(args: argparse.Namespace) -> int:
    """Print the differences; 0 when the results are identical."""
    try:
        differences, compared = diff_reports(args.a, args.b)
    except DataFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for stage, key, va, vb in differences:
        print(f"{stage}: {key}: {va!r} != {vb!r}")
    print(f"{len(differences)} difference(s) in {compared} values compared (timings and run ids left out)")
    return 1 if differences else 0
