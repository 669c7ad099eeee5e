"""Output files of the commands that write files per input: ``predict``, ``text-mask``, ``translate``.

One rule for all of them, applied by :func:`plan_outputs` before anything is written:

* **Unique names.** Each input's files are named from its output name (its stem, or its path
  inside a folder input) through the command's patterns (``"{}_depth.png"``…). When one of
  those files is already a file of an earlier input of the same run (two ``page.png`` from
  different folders, or ``a.png`` and ``a_depth.png`` under ``translate --depth-run``), ``-2``,
  ``-3``… is appended to the name. The names depend on the inputs and their order only, never on
  what is on disk, so a rerun names every input the same way.
* **Inputs are never overwritten**, not even with ``--overwrite`` (``--out`` may be the folder
  of the inputs, where ``page.png`` would be written over ``page.png``).
* **Files that existed before the run are kept** unless ``overwrite`` is given.

An input refused by the last two rules gets an :class:`~comicdepth_tf.errors.OutputConflictError`
naming the file; none of its files is written, the other inputs are still processed, and the
command reports it and exits non-zero. A file can still appear between the plan and the write
(another process); the plan is a guard against mistakes, not a lock.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from comicdepth_tf.errors import OutputConflictError, ParameterError

NOT_AN_INPUT = "a path that is not an input of this run (input files are never overwritten)"
NOT_EXISTING = "a file that does not exist before this run (--overwrite replaces it)"


@dataclass
class OutputPlan:
    """Where each input's files go.

    Attributes:
        names: the output name of each input (unique within the run).
        files: the output files of each input, one per pattern, in pattern order.
        errors: input index → why its files are not written.
    """

    names: list[str] = field(default_factory=list)
    files: list[list[Path]] = field(default_factory=list)
    errors: dict[int, OutputConflictError] = field(default_factory=dict)


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--overwrite`` flag, worded the same in every command."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that exist before the run (input files are never replaced)")


def check_out_dir(out: str | os.PathLike) -> Path:
    """Check an ``--out`` folder before any work: it, or its nearest existing parent, must be a folder.

    Args:
        out: the output folder (created later when missing).

    Returns:
        ``out`` as a Path.

    Raises:
        ParameterError: ``out`` or one of its parents is an existing file.
    """
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ParameterError(f"--out {out}: expected a folder, but {folder} is a file")
            break
    return out


def out_dir_refused(command: str, out: str | os.PathLike) -> bool:
    """Print ``COMMAND: reason`` on stderr when :func:`check_out_dir` refuses ``out``; True when it does."""
    try:
        check_out_dir(out)
    except ParameterError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return True
    return False


def _files(folder: Path, name: str, patterns: Sequence[str]) -> list[Path]:
    return [folder / pattern.format(name) for pattern in patterns]


def _refusal(path: Path, source: Path, inputs: set[Path], overwrite: bool) -> OutputConflictError | None:
    if path.resolve() in inputs:  # resolve(): a symlink or a relative --out naming an input is still that input
        return OutputConflictError(path, source, NOT_AN_INPUT)
    if not overwrite and (path.exists() or path.is_symlink()):
        return OutputConflictError(path, source, NOT_EXISTING)
    return None


def plan_outputs(sources: Sequence[Path], names: Sequence[str], folders: Path | Sequence[Path],
                 patterns: Sequence[str], *, overwrite: bool = False) -> OutputPlan:
    """Name every input's output files and refuse those that would replace an input or an existing file.

    Args:
        sources: the input files, in the order they are processed.
        names: the output name of each input before de-duplication (e.g. its stem).
        folders: the output folder, or one folder per input.
        patterns: the files of one input, ``str.format`` patterns of its name (``"{}.png"``,
            ``"prob/{}.png"``).
        overwrite: replace files that exist before the run (inputs are never replaced).

    Returns:
        The :class:`OutputPlan`.
    """
    if isinstance(folders, (str, os.PathLike)):
        folders = [Path(folders)] * len(sources)
    inputs = {Path(s).resolve() for s in sources}
    claimed: set[Path] = set()
    plan = OutputPlan()
    for index, (source, name, folder) in enumerate(zip(sources, names, folders)):
        candidate, k = name, 1
        # Refused inputs claim their names too, so names never depend on what is on disk.
        while any(p.resolve() in claimed for p in _files(Path(folder), candidate, patterns)):
            k += 1
            candidate = f"{name}-{k}"
        files = _files(Path(folder), candidate, patterns)
        claimed.update(p.resolve() for p in files)
        plan.names.append(candidate)
        plan.files.append(files)
        refusal = next((r for r in (_refusal(p, Path(source), inputs, overwrite) for p in files) if r), None)
        if refusal is not None:
            plan.errors[index] = refusal
    return plan
