"""What the per-input commands share: ``predict``, ``text-mask``, ``translate``.

* **Arguments** (:func:`add_command_arguments`): ``INPUT…`` (files, folders, globs),
  ``--run`` (required: a run folder, a run id or ``latest-<profile>``, all resolved by
  :func:`comicdepth_tf.runs.resolve_run`), ``--out``, ``--recursive``, ``--quiet``,
  ``--overwrite``.
* **Names**: every output file is ``<name>_<what>.<ext>`` (:data:`SUFFIXES`), ``<name>`` being
  the input's stem (its path inside a folder input with ``--recursive``).
* **Progress and exit status** (:class:`Report`): one line per input on stderr as it finishes
  (``[k/n] INPUT -> FILE`` or ``[k/n] INPUT: failed: reason``) unless ``--quiet``; a summary on
  stdout; exit status 0 when every input was written, 1 when any failed, 2 for bad arguments
  (a missing run included).
* **Manifest**: ``<out>/<tool>_manifest.json`` written atomically at the end, one schema for the
  three (:meth:`Report.manifest_record`): ``tool``, ``version``, ``run``, ``inputs``, ``outputs`` (per
  output name: its ``source`` and ``files`` by role, plus the tool's values) and ``skipped``
  (input and reason). Outputs of an earlier run of the same tool and run into the folder are
  kept in it.

Output files follow one rule, applied by :func:`plan_outputs` before anything is written:

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
import glob
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError, OutputConflictError, ParameterError

#: The suffix of each kind of output file: ``<name><suffix>``.
SUFFIXES = {
    "depth": "_depth.png",  # 16-bit, decoded with the manifest's scale
    "color": "_depth_color.png",
    "npy": "_depth.npy",
    "pfm": "_depth.pfm",
    "side_by_side": "_side_by_side.png",
    "mask": "_text_mask.png",
    "probability": "_text_prob.png",
    "translated": "_translated.png",
}
MANIFEST_FORMAT = "comicdepth outputs"
#: Manifests of earlier versions that are ours too (replaced, never merged into).
LEGACY_FORMATS = ("comicdepth depth predictions",)
RUN_HELP = ("a run folder, a run id, or latest-<profile> (the run the profile saved last, e.g. latest-cpu); "
            "required: no run is picked for you")
EPILOG = ("exit status: 0 when every input was written, 1 when any input failed (each is named), "
          "2 for bad arguments or a run that cannot be found")

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


def add_command_arguments(parser: argparse.ArgumentParser, run_what: str) -> None:
    """The arguments every per-input command shares, worded the same.

    Args:
        parser: the command's parser.
        run_what: what ``--run`` names (``"saved depth_irv2 run"``).
    """
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("--run", required=True, help=f"{run_what}: {RUN_HELP}")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--recursive", action="store_true", help="look into sub-folders of folder inputs")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no line per input (failures and the summary are still printed)")
    add_overwrite_argument(parser)
    parser.epilog = EPILOG


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


def run_record(argument: str | os.PathLike, path: str | os.PathLike) -> dict[str, str]:
    """The manifest's record of a run argument: as given, and the folder it resolved to."""
    return {"argument": os.fspath(argument), "path": str(Path(path).resolve())}


def run_command(tool: str, out: str | os.PathLike, work: Callable[[], Report]) -> int:
    """The frame of every per-input command: check ``--out``, work, print the summary, give the exit status.

    Args:
        tool: the command's name, prefixed to its messages.
        out: the ``--out`` folder, checked before anything is loaded.
        work: loads the model and processes the inputs; the usage errors it raises before
            writing anything (:class:`DataFormatError` for a run that cannot be found or read,
            :class:`ParameterError`, :class:`OutputConflictError` for someone else's manifest)
            give exit status 2 and one line on stderr.

    Returns:
        0 when every input was written, 1 when any failed, 2 for usage errors.
    """
    try:
        check_out_dir(out)
        report = work()
    except (DataFormatError, ParameterError, OutputConflictError) as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return report.exit_code()


def expand_inputs(
    inputs: str | os.PathLike | Sequence[str | os.PathLike], recursive: bool = False
) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Image files named by files, folders or glob patterns, with their output names.

    Files inside a folder input keep their path relative to that folder in the output name;
    other files use their stem. Names may repeat: :func:`plan_outputs` makes them unique.

    Returns:
        ``(files, problems)``: ``[(path, output name)]`` in input order (duplicates dropped) and
        ``[(input, reason)]`` for inputs that named nothing.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[tuple[Path, str]] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        text = os.fspath(item)
        files, problem = _expand_one(text, recursive)
        found.extend(files)
        if problem:
            problems.append((text, problem))
    seen: set[Path] = set()
    unique = []
    for path, name in found:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append((path, name))
    return unique, problems


def _expand_one(text: str, recursive: bool) -> tuple[list[tuple[Path, str]], str | None]:
    """The files of one input and, when it names none, why."""
    path = Path(text).expanduser()
    if path.is_dir():
        files = [(p, p.relative_to(path).with_suffix("").as_posix()) for p in fileio.list_images(path, recursive)]
        return files, None if files else "no images in folder"
    if path.is_file():
        return [(path, path.stem)], None
    if not glob.has_magic(text):
        return [], "no such file or folder"
    files = []
    for match in sorted(glob.glob(os.path.expanduser(text), recursive=True)):
        p = Path(match)
        if p.is_file():
            files.append((p, p.stem))
        elif p.is_dir():
            files.extend((q, q.stem) for q in fileio.list_images(p))
    return files, None if files else "no file matches the pattern"


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


# --------------------------------------------------------------------------- progress, report, manifest


@dataclass
class Report:
    """What a per-input command did: printed as it goes, summarised, written as its manifest.

    Attributes:
        tool: the command (``predict``, ``text-mask``, ``translate``).
        out_dir: the output folder.
        written: output name → its main file.
        entries: output name → its manifest entry (``source``, ``files`` by role, the tool's values).
        failed: ``[(input, reason)]``, in the order they failed.
        total: the number of inputs (files found plus inputs that named nothing).
        quiet: print no line per input.
        seconds: wall time of the work (model loading excluded).
        manifest: the manifest file, once written.
    """

    tool: str = ""
    out_dir: Path | None = None
    written: dict[str, Path] = field(default_factory=dict)
    entries: dict[str, dict] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    quiet: bool = True
    seconds: float = 0.0
    manifest: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _finished: int = 0

    @property
    def n_failed(self) -> int:
        """How many inputs failed."""
        return len(self.failed)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """The failed inputs (the name :func:`~comicdepth_tf.text_detection.predict_text_masks` used)."""
        return self.failed

    def _line(self, text: str) -> None:
        self._finished += 1
        if not self.quiet:
            print(f"[{self._finished}/{max(self.total, self._finished)}] {text}", file=sys.stderr, flush=True)

    def done(self, name: str, source: str | os.PathLike, files: Mapping[str, Path], **values: Any) -> None:
        """Record an input whose files were written (thread-safe).

        Args:
            name: its output name.
            source: the input file.
            files: role → file written; the first is its main file.
            values: more values for its manifest entry.
        """
        main = next(iter(files.values()))
        entry = {"source": str(source), "files": {role: Path(f).name for role, f in files.items()}, **values}
        with self._lock:
            self.written[name] = Path(main)
            self.entries[name] = entry
            self._line(f"{source} -> {main}")

    def fail(self, source: str | os.PathLike, reason: str) -> None:
        """Record an input that failed (thread-safe); a reason starting with the input loses that prefix."""
        source = str(source)
        reason = reason[len(source) + 2 :] if reason.startswith(source + ": ") else reason
        with self._lock:
            self.failed.append((source, reason))
            self._line(f"{source}: failed: {reason}")

    def plan(self, found: Sequence[tuple[Path, str]], problems: Sequence[tuple[str, str]],
             folders: Path | Sequence[Path], patterns: Sequence[str], overwrite: bool) -> OutputPlan:
        """Plan the outputs of ``found`` (see :func:`plan_outputs`); inputs refused, or that named nothing, fail."""
        self.total = len(found) + len(problems)
        for source, reason in problems:
            self.fail(source, reason)
        plan = plan_outputs([p for p, _ in found], [n for _, n in found], folders, patterns, overwrite=overwrite)
        for index, error in plan.errors.items():
            self.fail(found[index][0], str(error))
        return plan

    def text(self) -> str:
        """The summary: counts, and each failure when the lines per input were not printed."""
        manifest = f"; manifest {self.manifest}" if self.manifest else ""
        lines = [f"{self.tool}: wrote {len(self.written)} of {self.total} input(s) into {self.out_dir} "
                 f"in {self.seconds:.1f} s; {self.n_failed} failed{manifest}"]
        if self.quiet:
            lines += [f"  failed: {source}: {reason}" for source, reason in self.failed]
        return "\n".join(lines)

    def exit_code(self) -> int:
        """0 when every input was written, else 1."""
        return 1 if self.failed else 0

    def manifest_record(self, inputs: Sequence[str | os.PathLike], run: Mapping[str, Any], **values: Any) -> dict:
        """The manifest of this report (see the module doc); ``values`` are the tool's own keys."""
        from comicdepth_tf import __version__

        return {"format": MANIFEST_FORMAT, "tool": self.tool, "version": __version__, "run": dict(run),
                "inputs": [os.fspath(i) for i in inputs], **values,
                "outputs": dict(sorted(self.entries.items())),
                "skipped": [{"input": source, "reason": reason} for source, reason in self.failed]}


def manifest_path(out_dir: str | os.PathLike, tool: str) -> Path:
    """``<out_dir>/<tool>_manifest.json`` (``depth_manifest.json`` for ``predict``, read by the evaluation)."""
    return Path(out_dir) / f"{'depth' if tool == 'predict' else tool.replace('-', '_')}_manifest.json"


def previous_manifest(path: Path, overwrite: bool) -> dict:
    """The manifest an earlier run left at ``path``; ``{}`` when none.

    Raises:
        OutputConflictError: a file of that name that is not one of our manifests, unless ``overwrite``.
    """
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        data = fileio.read_json(path)
    except DataFormatError:
        data = None
    if isinstance(data, dict) and data.get("format") in (MANIFEST_FORMAT, *LEGACY_FORMATS):
        return data
    if not overwrite:  # someone else's file: merging into it would replace it
        raise OutputConflictError(path, "this run", f"a {MANIFEST_FORMAT} manifest, or {NOT_EXISTING}")
    return {}


def write_manifest(
    path: Path, record: dict, previous: Mapping[str, Any], same: Sequence[str] = ("tool", "run")
) -> Path:
    """Write ``record`` atomically, after the outputs of ``previous`` when it matches on ``same``.

    Args:
        path: the manifest file.
        record: from :meth:`Report.manifest_record`.
        previous: from :func:`previous_manifest`.
        same: keys that must be equal for the earlier outputs to stay (their files are decoded
            with the same settings).
    """
    if previous.get("format") == MANIFEST_FORMAT and all(previous.get(k) == record.get(k) for k in same):
        record = {**record, "outputs": dict(sorted({**previous.get("outputs", {}), **record["outputs"]}.items()))}
    return fileio.atomic_write_json(path, record)


def each_image(report: Report, found: Sequence[tuple[Path, str]], plan: OutputPlan, roles: Sequence[str],
               handle) -> None:
    """Read every planned input and write its files with ``handle``, one input at a time.

    Args:
        report: receives each input's files or failure.
        found: ``[(path, name)]`` from :func:`expand_inputs`.
        plan: from :meth:`Report.plan`; refused inputs are passed over.
        roles: the role of each planned file, in pattern order.
        handle: ``handle(image RGB uint8, {role: file}) -> dict`` writes the files and returns
            more values for the manifest entry.
    """
    for index, (path, _) in enumerate(found):
        if index in plan.errors:
            continue
        try:
            image = fileio.read_image(path)
        except DataFormatError as exc:
            report.fail(path, str(exc))
            continue
        files = dict(zip(roles, plan.files[index]))
        values = handle(image, files)
        report.done(plan.names[index], path, files, **values)
