"""Stage reuse for ``comicdepth run``: fingerprints of what determined a stage, and a ledger of finished ones.

A stage's fingerprint is a SHA-256 over everything that determines its results: the notebook
file, its effective parameters, the profile, the package (every file of ``comicdepth_tf``, code
and shipped data, and the versions of TensorFlow, Keras, NumPy, …), the embedded dataset's
manifest, the shared real files, and the fingerprints of the upstream stages whose saved runs
it loads (:data:`UPSTREAM`). Since training is deterministic (same code,
parameters and seed give the same weights), a stage whose fingerprint matches a finished run
would only reproduce it, so the runner reuses that run instead.

The ledger ``<saved_models>/stages/<profile>.json`` maps each stage to its last finished run:
fingerprint, run id, report files and the saved-run folders the stage wrote. A stage is reused
only when its fingerprint matches and those files still exist, so deleting ``saved_models/``
or ``reports/`` makes the stages run again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from comicdepth_tf import paths
from comicdepth_tf.fileio import atomic_write_json, read_json
from comicdepth_tf.runs import LEDGER_DIR

#: Stage number -> the stages whose saved runs it loads (by "latest" pointers or discovery).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "00": (),
    "10": (),
    "20": (),
    "30": ("10",),
    "40": ("10", "30"),
    "50": ("10", "20", "30", "40"),
    "60": (),
}



def stage_number(stage: str) -> str:
    """``"30"`` for ``"30_cyclegan"``."""
    return stage.split("_", 1)[0]


def upstream_of(stage: str) -> tuple[str, ...]:
    """The stage numbers ``stage`` loads runs from (unknown stages: every lower number, to be safe)."""
    number = stage_number(stage)
    if number in UPSTREAM:
        return UPSTREAM[number]
    return tuple(n for n in UPSTREAM if n < number)


def downstream_closure(numbers: Iterable[str], stages: Iterable[str]) -> set[str]:
    """``numbers`` and every stage among ``stages`` that loads from them, directly or not."""
    chosen = set(numbers)
    ordered = sorted(stage_number(s) for s in stages)
    changed = True
    while changed:
        changed = False
        for number in ordered:
            if number not in chosen and any(u in chosen for u in upstream_of(number)):
                chosen.add(number)
                changed = True
    return chosen


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def real_data_listing() -> list[tuple[str, int]]:
    """Names and sizes of the shared real files (the real-page check reads a page from there)."""
    root = paths.real_data_dir()
    if root is None:
        return []
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def fingerprint(notebook: str | os.PathLike, params: Mapping[str, Any], profile: str,
                upstream: Mapping[str, str | None], source: str) -> str:
    """The fingerprint of one stage (hex SHA-256).

    Args:
        notebook: the notebook file (its bytes count: a changed cell changes the stage).
        params: the stage's effective parameters.
        profile: the parameter profile.
        upstream: upstream stage number -> its fingerprint (None when it never finished).
        source: :func:`comicdepth_tf.env.source_digest` of the package.
    """
    manifest = paths.embedded_dir(profile) / "manifest.json"
    record = {
        "notebook": _file_digest(Path(notebook)),
        "params": params,
        "profile": profile,
        "upstream": dict(sorted(upstream.items())),
        "source": source,
        "data": _file_digest(manifest) if manifest.exists() else None,
        "real_data": real_data_listing(),
    }
    if paths.world_name() != paths.DEFAULT_WORLD:
        # Before its dataset exists a world has no manifest: name it (the street world's
        # fingerprints stay as they were).
        record["world"] = paths.world_name()
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def models_snapshot(root: str | os.PathLike | None = None) -> dict[str, float]:
    """``{"<model>/<run>": newest mtime}`` of the saved-run folders (to see what a stage wrote)."""
    root = Path(root) if root else paths.models_dir()
    out = {}
    if root.is_dir():
        for run in root.glob("*/*"):
            if run.is_dir() and run.parent.name != LEDGER_DIR:
                out[run.relative_to(root).as_posix()] = max(
                    [run.stat().st_mtime] + [f.stat().st_mtime for f in run.iterdir()])
    return out


#: Stage number -> the saved-run folders it writes (``<model>/<run>`` patterns), to tell its runs
#: from those of a stage running beside it. A test holds them to what the smoke chain writes.
WRITES: dict[str, tuple[str, ...]] = {
    "00": (),
    "10": ("depth_irv2/*",),
    "20": ("text_unet/*",),
    "30": ("cyclegan_*/*", "depth_irv2/*"),  # a depth model of its own when notebook 10 saved none
    "40": ("comics_depth/*", "ai4va_*/*", "configurations/*"),
    "50": (),
    "60": ("fg_*/*",),
}


def own_runs(number: str, written: Iterable[str]) -> list[str]:
    """The runs of ``written`` that stage ``number`` writes (:data:`WRITES`; unknown stages: all)."""
    if number not in WRITES:
        return sorted(written)
    return sorted(run for run in written if any(fnmatch.fnmatchcase(run, p) for p in WRITES[number]))


def written_runs(before: Mapping[str, float], after: Mapping[str, float]) -> list[str]:
    """The saved-run folders that are new or changed between two :func:`models_snapshot` calls."""
    return sorted(k for k, t in after.items() if before.get(k) != t)


class Ledger:
    """The finished stages of one profile: ``<saved_models>/stages/<profile>.json``."""

    def __init__(self, profile: str, models_root: str | os.PathLike | None = None):
        self.models_root = Path(models_root) if models_root else paths.models_dir()
        self.path = self.models_root / LEDGER_DIR / f"{profile}.json"
        self.entries: dict[str, dict] = read_json(self.path) if self.path.exists() else {}

    def fingerprint_of(self, number: str) -> str | None:
        """The fingerprint of the last finished run of stage ``number`` (None if none)."""
        entry = self.entries.get(number)
        return entry["fingerprint"] if entry else None

    def reusable(self, number: str, fingerprint_: str, reports_root: Path) -> dict | None:
        """The entry of stage ``number`` when it has this fingerprint and its files still exist."""
        entry = self.entries.get(number)
        if not entry or entry.get("fingerprint") != fingerprint_:
            return None
        if not entry.get("html") or not entry.get("stage_dir"):
            return None
        report = reports_root / entry["run_id"]
        files = [report / entry["html"], report / entry["stage_dir"]]
        files += [self.models_root / run for run in entry.get("runs", [])]
        return entry if all(f.exists() for f in files) else None

    def forget_run(self, number: str, run_id: str) -> None:
        """Drop stage ``number``'s entry when it lives in the report folder ``run_id`` (rerun there)."""
        if self.entries.get(number, {}).get("run_id") == run_id:
            del self.entries[number]
            atomic_write_json(self.path, self.entries)

    def record(self, number: str, entry: Mapping[str, Any]) -> None:
        """Remember a finished stage (atomic write)."""
        self.entries[number] = dict(entry)
        atomic_write_json(self.path, self.entries)
