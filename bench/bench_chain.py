"""Where a chain run's time goes: each stage's wall time, and its ratio to a reference chain run.

Reads ``run.json`` of a report folder (``reports/<run_id>/``, written by ``comicdepth run``) and
a reference recorded in ``bench/chains/`` (the stage durations of an earlier full run of the
same profile, with the commit and machine it came from). A ratio below 1 is faster than the
reference. Stages reused from an earlier run (``status: reused``) cost seconds, not training
time; they are flagged, since a chain with reused stages is not a timing of the work.

    python bench/bench_chain.py reports/<run_id>                 # against the newest reference of this kind of CPU
    python bench/bench_chain.py reports/<run_id> --reference bench/chains/cpu-daa4189-irv2.json
    python bench/bench_chain.py reports/<run_id> --record bench/chains/cpu-<commit>.json --note "..."

With stages side by side (``comicdepth run --jobs``), the stages' wall time (first start to last
end) is printed under their sum, with its ratio to the reference's total. Prints; asserts
nothing. Times from different machines (or one shared with other work) are not comparable: the
reference file says where it was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from comicdepth_tf.chain.reporting import side_by_side_wall_seconds
from comicdepth_tf.chain.runner import reference_chain_file
from comicdepth_tf.training import cpu_has_bfloat16

CHAINS = Path(__file__).resolve().parent / "chains"


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", help="report folder holding run.json (or the run.json itself)")
    p.add_argument("--reference", help="reference JSON (default: the newest in bench/chains/ of the run's profile)")
    p.add_argument("--record", help="write this run's stage durations as a new reference JSON")
    p.add_argument("--note", default="", help="where and how the recorded run was measured")
    return p.parse_args(argv)


def read_run(path: str | Path) -> dict:
    """The run record (``run.json``) of a report folder."""
    path = Path(path)
    path = path / "run.json" if path.is_dir() else path
    if not path.is_file():
        sys.exit(f"{path}: no run.json (expected a report folder written by `comicdepth run`)")
    return json.loads(path.read_text(encoding="utf-8"))


def stage_peaks(run: dict) -> dict[str, float]:
    """``{stage: peak resident memory in MB}`` of the stages whose kernel's peak was recorded."""
    return {s["stage"]: float(s["peak_memory_mb"]) for s in run.get("stages", [])
            if isinstance(s.get("peak_memory_mb"), (int, float))}


def stage_cores(run: dict) -> dict[str, float]:
    """``{stage: CPU seconds / wall seconds}`` of the stages whose kernel's CPU time was recorded."""
    return {s["stage"]: float(s["cpu_seconds"]) / float(s["duration_s"]) for s in run.get("stages", [])
            if isinstance(s.get("cpu_seconds"), (int, float)) and s.get("duration_s")}


def stage_seconds(run: dict) -> dict[str, float]:
    """``{stage: duration_s}`` of every stage that ran or was reused."""
    return {s["stage"]: float(s.get("duration_s") or 0.0) for s in run.get("stages", [])}


def table(run: dict, reference: dict | None) -> str:
    """Per-stage seconds, the reference's and their ratio, then the totals."""
    seconds = stage_seconds(run)
    ref = (reference or {}).get("stages", {})
    status = {s["stage"]: s.get("status", "") for s in run.get("stages", [])}
    peaks, cores = stage_peaks(run), stage_cores(run)
    lines = [f"{'stage':<20} {'status':<8} {'seconds':>9} {'reference':>10} {'ratio':>7} {'peak GB':>8} {'cores':>6}"]
    for stage, sec in seconds.items():
        r = ref.get(stage)
        ratio = f"{sec / r:7.3f}" if r else f"{'':>7}"
        peak = f"{peaks[stage] / 1000:8.2f}" if stage in peaks else f"{'':>8}"
        busy = f"{cores[stage]:6.2f}" if stage in cores else f"{'':>6}"
        reference = "" if r is None else f"{r:10.1f}"
        lines.append(f"{stage:<20} {status[stage]:<8} {sec:9.1f} {reference:>10} {ratio} {peak} {busy}")
    total = sum(seconds.values())
    ref_total = sum(ref.get(s, 0.0) for s in seconds) if ref else 0.0
    ratio = f"{total / ref_total:7.3f}" if ref_total else ""
    ref_text = f"{ref_total:10.1f}" if ref else f"{'':>10}"
    lines.append(f"{'total':<20} {'':<8} {total:9.1f} {ref_text} {ratio}")
    wall = side_by_side_wall_seconds(run)
    if wall is not None:
        ratio = f"{wall / ref_total:7.3f}" if ref_total else ""
        lines.append(f"{'wall (side by side)':<20} {'':<8} {wall:9.1f} {ref_text} {ratio}")
    if any(v == "reused" for v in status.values()):
        lines.append("note: reused stages were not run; this is not a timing of the chain's work")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _args(argv)
    run = read_run(args.report)
    ref_path = Path(args.reference) if args.reference else reference_chain_file(run.get("profile", ""), CHAINS)
    reference = json.loads(ref_path.read_text(encoding="utf-8")) if ref_path else None
    print(f"run {run.get('run_id')} (profile {run.get('profile')}, {run.get('started')} → {run.get('finished')})")
    if reference:
        print(f"reference {ref_path.name}: {reference.get('note', '')}")
    print(table(run, reference))
    if args.record:
        out = {"profile": run.get("profile"), "run_id": run.get("run_id"), "recorded": run.get("finished") or "",
               "note": args.note, "cpu_bfloat16": cpu_has_bfloat16(), "stages": stage_seconds(run),
               "peak_memory_mb": stage_peaks(run)}
        Path(args.record).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print("recorded", args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
