"""``comicdepth run``: execute the numbered notebooks with papermill and write the run report.

For each selected notebook ``notebooks/NN_*.ipynb`` (in order) the runner

1. resolves its parameters: notebook defaults < ``params/<stem>/<profile>.yaml`` <
   ``--params FILE`` < ``-p KEY=VALUE``; every name must be declared in the notebook's
   ``parameters`` cell and every value must fit the annotation there — all of it is checked
   for every notebook *before* anything runs (papermill itself only warns);
2. executes it with papermill into ``reports/<run_id>/<stem>.ipynb`` on a kernel that runs
   this very Python (``sys.executable``), with ``COMICDEPTH_STAGE_DIR`` and
   ``COMICDEPTH_RUN_ID`` set so :mod:`comicdepth_tf.chain.reporting` records into
   ``reports/<run_id>/<stem>/``;
3. converts the executed notebook to ``<stem>.html`` (also a failed, partial one), and
   rewrites ``run.json`` and ``index.html`` after every stage.

On the console it prints a line when a stage starts (with its usual time) and ends (with the
elapsed time and an estimate of the remaining time, from the last run of the same profile that
executed each stage), and in between the training lines the notebook prints (one per epoch,
:mod:`comicdepth_tf.progress`); the kernel's own output goes to ``kernel.log`` in the stage folder.

Stage reuse (:mod:`comicdepth_tf.chain.stage_reuse`): before executing a stage the runner computes
its fingerprint (notebook, effective parameters, package source, data, upstream stages). A
stage whose fingerprint matches a finished run is not executed: it is listed as ``reused``,
with links to the report of the run it reused. ``force=True`` (``--force``) reruns every stage,
``force=["30"]`` (``--force 30``) that stage and every stage downstream of it.

Side by side (``jobs`` > 1, ``--jobs``): a stage starts once the stages it loads from are done,
the one heading the longest chain of stages first, while the usual peak memories of the stages
running together fit in ``max_memory_gb`` (:func:`_side_by_side`). Each kernel gets its own
environment (:func:`kernel_manager_class`), and its peak memory and CPU time are its own.

Overrides without a scope apply to every selected notebook that declares the name; a name
no selected notebook declares is an error. ``NN.NAME=VALUE`` (or ``<stem>.NAME=VALUE``)
targets one notebook. A ``--params`` YAML file holds the same: top-level names, or a
mapping under a notebook's stem or number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from comicdepth_tf import paths
from comicdepth_tf import progress as progress_lines
from comicdepth_tf.chain import config, hygiene, peak_memory, reporting, stage_reuse
from comicdepth_tf.env import source_digest
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import atomic_write_text, read_json
from comicdepth_tf.runs import PLAIN_NAME

PROFILES = ("smoke", "cpu", "full")
KERNEL_NAME = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class StageResult:
    """What happened to one notebook of a run (paths relative to the run folder)."""

    stage: str
    notebook: str
    status: str = "pending"  # pending | running | ok | reused | failed | not_run
    duration_s: float | None = None
    peak_memory_mb: float | None = None  # the kernel's peak resident memory (Linux)
    cpu_seconds: float | None = None  # the kernel's CPU time: over duration_s, the cores it kept busy
    started_s: float | None = None  # seconds after the run started (stages side by side overlap)
    nice: int = 0  # the kernel's niceness: a side stage yields the CPU to the longest chain's
    params: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    output_notebook: str | None = None
    html: str | None = None
    stage_dir: str = ""
    error: dict[str, Any] | None = None
    fingerprint: str | None = None
    reused_from: str | None = None


@dataclass
class RunResult:
    """A finished (or stopped) run."""

    run_id: str
    run_dir: Path
    profile: str
    stages: list[StageResult]

    @property
    def ok(self) -> bool:
        """True when every stage finished without error (or was reused)."""
        return all(s.status in ("ok", "reused") for s in self.stages)

    @property
    def index(self) -> Path:
        """The run's ``index.html``."""
        return self.run_dir / "index.html"

    def stage(self, name_or_prefix: str) -> StageResult:
        """The stage whose name starts with ``name_or_prefix``."""
        for s in self.stages:
            if s.stage.startswith(name_or_prefix):
                return s
        raise KeyError(name_or_prefix)


# --------------------------------------------------------------------------- parameters


@dataclass
class StagePlan:
    """A notebook, the parameters its cell declares and the values the run sets."""

    notebook: Path
    declared: dict[str, hygiene.Parameter]
    values: dict[str, Any] = field(default_factory=dict)


def _unknown_error(source: str, plans: list[StagePlan], names: list[str]) -> ParameterError:
    parts = [f"{p.notebook.stem} (known: {', '.join(sorted(p.declared)) or 'none'})" for p in plans]
    return ParameterError(f"unknown parameter{'s' if len(names) > 1 else ''} {', '.join(names)} "
                          f"from {source}: not declared in the parameters cell of " + "; ".join(parts))


def _scope_plans(scope: str, plans: list[StagePlan], source: str) -> list[StagePlan]:
    chosen = [p for p in plans if p.notebook.stem.startswith(scope)]
    if not chosen:
        stems = ", ".join(p.notebook.stem for p in plans)
        raise ParameterError(f"{source}: scope {scope!r} matches no selected notebook ({stems})")
    return chosen


def _apply(plans: list[StagePlan], name: str, source: str, get_value) -> None:
    """Set ``name`` on every plan that declares it; error when none does."""
    targets = [p for p in plans if name in p.declared]
    if not targets:
        raise _unknown_error(source, plans, [name])
    for p in targets:
        p.values[name] = hygiene.check_sign(p.declared[name], get_value(p.declared[name].annotation), source)


def plan_parameters(notebooks: list[Path], profile: str, overrides: list[str] = (),
                    params_file: str | os.PathLike | None = None,
                    params_root: str | os.PathLike | None = None) -> list[StagePlan]:
    """Resolve and check the parameters of every notebook (nothing is executed).

    Raises:
        ParameterError: unknown names (naming the notebook, the unknown and the known
            names), values that do not fit the annotation, bad scopes.
        DataFormatError: unreadable notebooks or YAML files.
    """
    plans = [StagePlan(nb, hygiene.read_parameters(nb)) for nb in notebooks]

    for p in plans:
        path = config.profile_path(p.notebook.stem, profile, params_root)
        values = config.load_profile(p.notebook.stem, profile, params_root)
        if "PROFILE" not in p.declared:
            values.pop("PROFILE")
        unknown = sorted(set(values) - set(p.declared))
        if unknown:
            raise _unknown_error(os.fspath(path), [p], unknown)
        for name, value in values.items():
            checked = config.check_value(name, value, p.declared[name].annotation, os.fspath(path))
            p.values[name] = hygiene.check_sign(p.declared[name], checked, os.fspath(path))

    if params_file is not None:
        source = os.fspath(params_file)
        data = config.read_params_file(params_file)
        for key, value in data.items():
            # A mapping under a name no notebook declares is a per-notebook section.
            if isinstance(value, dict) and not any(key in p.declared for p in plans):
                targets = _scope_plans(key, plans, source)
                for name, v in value.items():
                    _apply(targets, name, f"{source} [{key}]",
                           lambda ann, n=name, v=v: config.check_value(n, v, ann, source))
            else:
                _apply(plans, key, source, lambda ann, k=key, v=value: config.check_value(k, v, ann, source))

    for item in overrides:
        scope, name, text = config.split_override(item)
        source = f"-p {item}"
        targets = _scope_plans(scope, plans, source) if scope else plans
        _apply(targets, name, source, lambda ann, n=name, t=text: config.coerce_text(n, t, ann, source))
    return plans


# --------------------------------------------------------------------------- kernel


#: The kernel's own stdout and stderr (TensorFlow's C++ start-up lines, ipykernel's warnings)
#: go to ``<stage folder>/kernel.log`` instead of the console: ipykernel copies everything
#: written to those descriptors there, on top of the cell outputs the report keeps.
KERNEL_LOG = "kernel.log"
#: A kernel started with this variable lowers its scheduling priority (``os.nice``, and its session's
#: under Linux's autogroup scheduling) before any thread exists, so all of its threads run at that
#: niceness: the side stages of :func:`_side_by_side`.
NICE_ENV = "COMICDEPTH_KERNEL_NICE"
#: The niceness of a stage started beside one that heads a longer chain: the CPU it leaves idle is its.
SIDE_NICE = 10
_LAUNCHER = ("import os, sys\n"
             "if sys.path and sys.path[0] == '': del sys.path[0]\n"  # as ipykernel_launcher does
             f"if os.environ.get('{NICE_ENV}'):\n"
             f"    os.nice(int(os.environ['{NICE_ENV}']))\n"
             # A kernel is a session of its own; where Linux groups CPU time by session (autogroup),
             # only the group's niceness counts against other sessions.
             "    try:\n"
             f"        open('/proc/self/autogroup', 'w').write(os.environ['{NICE_ENV}'])\n"
             "    except OSError:\n"
             "        pass\n"
             f"folder = os.environ.get('{reporting.STAGE_DIR_ENV}')\n"
             "if folder:\n"
             f"    fd = os.open(os.path.join(folder, '{KERNEL_LOG}'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)\n"
             "    os.dup2(fd, 1); os.dup2(fd, 2); os.close(fd)\n"
             "from ipykernel import kernelapp\n"
             "kernelapp.launch_new_instance()\n")


def write_kernelspec(folder: str | os.PathLike, name: str = KERNEL_NAME) -> Path:
    """Write a kernelspec ``<folder>/kernels/<name>/kernel.json`` that runs ``sys.executable``.

    The kernel writes its process-level output to :data:`KERNEL_LOG` in the stage folder.
    """
    spec = {
        "argv": [sys.executable, "-c", _LAUNCHER, "-f", "{connection_file}"],
        "display_name": f"Python 3 ({sys.prefix})",
        "language": "python",
        "metadata": {"debugger": True, "supported_encryption": ["curve"]},
    }
    path = Path(folder) / "kernels" / name / "kernel.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path


@contextlib.contextmanager
def patched_environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block (the kernel inherits them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def own_kernel() -> Iterator[None]:
    """Make the ``python3`` kernelspec resolve to this interpreter.

    A private kernelspec is put first on ``JUPYTER_PATH`` (which Jupyter searches before the
    user's and the system's folders), so a ``python3`` kernel installed elsewhere on the
    machine cannot take over.
    """
    with tempfile.TemporaryDirectory(prefix="comicdepth-kernel-") as tmp:
        write_kernelspec(tmp)
        jupyter_path = os.pathsep.join(p for p in (tmp, os.environ.get("JUPYTER_PATH")) if p)
        with patched_environ(JUPYTER_PATH=jupyter_path):
            yield


def kernel_manager_class(env: Mapping[str, str], cwd: str | os.PathLike, pids: list[int]):
    """A kernel manager class whose kernels start in ``cwd`` with ``env`` on top of this process's environment.

    Stages running side by side need their own variables (``COMICDEPTH_STAGE_DIR``…), which
    ``os.environ`` (one per process) cannot give; the started kernel's process id is appended to
    ``pids``, so that its memory and CPU time are counted for its stage alone.
    """
    from jupyter_client import AsyncKernelManager

    class StageKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw["env"] = {**os.environ, **dict(kw.get("env") or {}), **env}
            kw["cwd"] = os.fspath(cwd)
            await super().start_kernel(**kw)
            pid = getattr(self.provisioner, "pid", None)
            if pid:
                pids.append(int(pid))

    return StageKernelManager


# --------------------------------------------------------------------------- execution


def _last_line(text: str) -> str:
    lines = [ln.rstrip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def failing_cell(notebook_path: Path) -> dict[str, Any] | None:
    """Locate the failing cell of an executed notebook.

    Returns:
        ``cell_index`` (in the source notebook: papermill's injected and error-marker cells
        are not counted), ``execution_count``, ``cell_first_line``, ``ename``, ``evalue``,
        ``exception`` (the last line of the traceback); None when no cell failed.
    """
    nb = hygiene.read_notebook(notebook_path)
    index = -1
    running = None
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        index += 1
        if cell.cell_type != "code":
            continue
        first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
        info = {"cell_index": index, "execution_count": cell.get("execution_count"),
                "cell_first_line": first.strip()[:200]}
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                if out.get("ename") == "SystemExit" and out.get("evalue") in ("", "0"):
                    continue
                tail = _last_line("\n".join(out.get("traceback", [])))
                info.update(ename=out.get("ename"), evalue=out.get("evalue"),
                            exception=tail or f"{out.get('ename')}: {out.get('evalue')}")
                return info
        pm = cell.get("metadata", {}).get("papermill", {})
        if pm.get("exception") or pm.get("status") in ("failed", "running"):
            running = running or info
    return running


def to_html(notebook_path: Path, html_path: Path) -> Path:
    """Convert an executed notebook to a standalone HTML page (atomic write)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(
        hygiene.read_notebook(notebook_path))
    return atomic_write_text(html_path, body)


class ConsoleLines:
    """A file-like sink for a notebook's stdout that passes the training progress lines on.

    Papermill writes each stream output to it as the kernel sends it (in pieces, not lines);
    the complete lines that :data:`comicdepth_tf.progress.CONSOLE_LINE` matches go to ``emit``,
    indented under the stage's line, and everything else stays in the report only.
    """

    def __init__(self, emit):
        self.emit = emit
        self.pending = ""

    def write(self, text: str) -> int:
        """Take a piece of stdout; emit the progress lines it completes."""
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            line = _ANSI.sub("", line).rstrip()
            if progress_lines.CONSOLE_LINE.match(line):
                self.emit(f"    {line}")
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered but an unfinished line."""


def _shared_gpu_env() -> dict[str, str]:
    """Side by side, a kernel takes GPU memory as it needs it: TensorFlow's default, all of every
    GPU at start, would leave the second stage's kernel none. A value the user set is kept."""
    return {} if "TF_FORCE_GPU_ALLOW_GROWTH" in os.environ else {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def _execute(plan: StagePlan, result: StageResult, run_dir: Path, run_id: str, reports_root: Path,
             progress: bool, timeout: float | None, emit=None, shared: bool = False) -> None:
    import papermill as pm

    stem = plan.notebook.stem
    output = run_dir / f"{stem}.ipynb"
    partial = run_dir / f".{stem}.partial.ipynb"
    stage_dir = run_dir / stem
    # A re-run into an existing run folder must not merge with the previous metrics.
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    for old in (output, run_dir / f"{stem}.html"):
        old.unlink(missing_ok=True)
    stage_dir.mkdir(parents=True)
    # The kernel runs in the notebooks' folder (inside site-packages for a pip install): it is
    # told the runner's home, so data and models land where the runner looks for them.
    env = {reporting.STAGE_DIR_ENV: str(stage_dir), reporting.RUN_ID_ENV: run_id,
           "COMICDEPTH_REPORTS": str(reports_root), "COMICDEPTH_HOME": str(paths.home_dir()),
           **({NICE_ENV: str(result.nice)} if result.nice else {}), **(_shared_gpu_env() if shared else {})}
    error: Exception | None = None
    peak = peak_memory.PeakWatch()
    pids: list[int] = []  # the stage's kernel, once started
    start = time.monotonic()
    try:
        with peak_memory.watch(roots=lambda: pids) as peak:
            pm.execute_notebook(
                str(plan.notebook), str(partial), parameters=plan.values, kernel_name=KERNEL_NAME,
                progress_bar=progress, start_timeout=120, execution_timeout=timeout, log_output=False,
                kernel_manager_class=kernel_manager_class(env, plan.notebook.parent, pids),
                stdout_file=ConsoleLines(emit) if emit is not None else None)
    except Exception as exc:  # a failing notebook must not stop the report
        error = exc
    finally:
        # Also on Ctrl-C: what ran becomes the stage's notebook instead of a hidden partial file.
        if partial.exists():
            os.replace(partial, output)
            result.output_notebook = output.name
    result.duration_s = round(time.monotonic() - start, 3)
    result.peak_memory_mb, result.cpu_seconds = peak.mb, peak.cpu_seconds
    if error is None:
        result.status = "ok"
    else:
        result.status = "failed"
        info = failing_cell(output) if output.exists() else None
        if info is None or error.__class__.__name__ != "PapermillExecutionError":
            info = {**(info or {}), "exception": _last_line(str(error)) or type(error).__name__,
                    "ename": type(error).__name__}
        result.error = info
    if output.exists():
        try:
            hygiene.strip_console_noise(output)
            to_html(output, run_dir / f"{stem}.html")
            result.html = f"{stem}.html"
        except Exception as exc:  # keep the run going; say why the HTML is missing
            result.error = {**(result.error or {}), "html_error": f"{type(exc).__name__}: {exc}"}


def _previous_stages(run_dir: Path, selected: set[str]) -> list[StageResult]:
    """Stages of an earlier run into the same folder that this run does not repeat.

    Re-running one stage (``--run-id X --only 10``) keeps the others on the index.
    """
    file = run_dir / "run.json"
    if not file.exists():
        return []
    names = {f.name for f in fields(StageResult)}
    previous = read_json(file).get("stages", [])
    return [StageResult(**{k: v for k, v in s.items() if k in names})
            for s in previous if isinstance(s, dict) and s.get("stage") not in selected and "stage" in s]


def _reuse(result: StageResult, entry: Mapping[str, Any], run_dir: Path, reports_root: Path) -> None:
    """Point ``result`` at the report of the run it reuses (paths relative to this run's folder)."""
    old = reports_root / entry["run_id"]
    rel = lambda name: os.path.relpath(old / name, run_dir) if name else None  # noqa: E731
    result.status = "reused"
    result.reused_from = entry["run_id"]
    result.duration_s = 0.0
    result.html = rel(entry.get("html"))
    result.output_notebook = rel(entry.get("output_notebook"))
    result.stage_dir = rel(entry["stage_dir"])


def _forced(force: bool | Sequence[str], stages: list[StageResult]) -> set[str]:
    """The stage numbers ``force`` reruns: all, or the named ones and everything downstream."""
    numbers = [stage_reuse.stage_number(s.stage) for s in stages]
    if force is True:
        return set(numbers)
    if not force:
        return set()
    unknown = sorted(set(map(str, force)) - set(numbers))
    if unknown:
        raise ParameterError(f"--force {','.join(unknown)}: not a selected stage number ({', '.join(numbers)})")
    return stage_reuse.downstream_closure([str(f) for f in force], [s.stage for s in stages])


# --------------------------------------------------------------------------- time estimates


def usual_durations(reports_root: Path, profile: str, exclude: str = "",
                    key: str = "duration_s") -> tuple[dict[str, float], list[str]]:
    """Each stage's wall time (or another ``key`` of its record) in the newest earlier run of ``profile``
    that executed it.

    Only stages that ran to ``ok`` count (a reused stage's 0 s says nothing of the work); runs
    are ordered by their ``started`` stamp.

    Returns:
        ``({stage: seconds}, the run ids those times come from)``; empty without earlier runs.
    """
    newest: dict[str, tuple[str, float, str]] = {}
    for file in reports_root.glob("*/run.json"):
        if file.parent.name == exclude:
            continue
        try:
            record = read_json(file)
        except DataFormatError:
            continue  # a run killed while writing run.json: nothing to learn from it
        if not isinstance(record, dict) or record.get("profile") != profile:
            continue
        started = str(record.get("started") or "")
        for s in record.get("stages", []):
            if isinstance(s, dict) and s.get("status") == "ok" and s.get(key):
                if s.get("stage") not in newest or started > newest[s["stage"]][0]:
                    newest[s["stage"]] = (started, float(s[key]), file.parent.name)
    return {k: v[1] for k, v in newest.items()}, sorted({v[2] for v in newest.values()})


def reference_chain_file(profile: str, folder: str | os.PathLike | None = None,
                         bfloat16: bool | None = None) -> Path | None:
    """The newest (by its ``recorded`` field) chain run of ``profile`` recorded in ``folder``, default the
    checkout's ``bench/chains/``; None when there is none (an installed package has no such folder).

    A record's ``cpu_bfloat16`` says whether its CPU had bfloat16 units: ``auto`` precision makes the
    GAN and foreground stages about twice as slow without them, so a record of the same kind as
    ``bfloat16`` (default: this machine, :func:`comicdepth_tf.training.cpu_has_bfloat16`) is preferred.
    """
    if folder is None and paths.CHECKOUT_DIR is None:
        return None
    folder = Path(folder) if folder is not None else paths.CHECKOUT_DIR / "bench" / "chains"
    if bfloat16 is None:
        from comicdepth_tf.training import cpu_has_bfloat16

        bfloat16 = cpu_has_bfloat16()
    found = []
    for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = read_json(file)
        except DataFormatError:
            continue
        if isinstance(record, dict) and record.get("profile") == profile:
            same_kind = record.get("cpu_bfloat16", bfloat16) == bfloat16
            found.append((same_kind, str(record.get("recorded") or ""), file))
    return max(found)[2] if found else None


def reference_chain(profile: str) -> dict[str, Any]:
    """The record of :func:`reference_chain_file` ({} without one)."""
    file = reference_chain_file(profile)
    return read_json(file) if file else {}


def expected_values(reports_root: Path, profile: str, exclude: str = "",
                    key: str = "peak_memory_mb") -> dict[str, float]:
    """Each stage's expected peak memory in MB (``key="duration_s"``: wall time in seconds): from the newest
    earlier run of ``profile`` that executed it, else from the reference chain of the checkout
    (:func:`reference_chain`); unknown stages are left out."""
    reference = reference_chain(profile).get("stages" if key == "duration_s" else key) or {}
    values = {k: float(v) for k, v in reference.items()}
    values.update(usual_durations(reports_root, profile, exclude, key=key)[0])
    return values


def memory_budget_mb() -> float | None:
    """Half of this machine's memory in MB (``MemTotal`` of Linux's ``/proc/meminfo``); None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            total_kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return total_kb * 1024 / 1e6 / 2


def critical_paths(numbers: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Per stage number, the seconds from its start to the end of the longest chain of stages that waits
    for it (its own time included; unknown times count 1 s): the scheduler starts the longest first."""
    tails: dict[str, float] = {}
    for number in sorted(numbers, reverse=True):
        below = [tails[d] for d in tails if number in stage_reuse.upstream_of(d)]
        tails[number] = durations.get(number, 1.0) + max(below, default=0.0)
    return tails


def _side_by_side(items, prepare, execute, *, jobs: int, lock, keep_going: bool, budget_mb: float | None,
                  peaks: Mapping[str, float], durations: Mapping[str, float]) -> None:
    """Run stages on ``jobs`` threads, each as soon as the stages it loads from are done.

    Among the ready stages the one heading the longest remaining chain starts first; one started
    beside a stage heading a longer chain runs at niceness :data:`SIDE_NICE`, so that the longest
    chain keeps the cores it can use and the side stage gets the rest. A stage joins running ones
    only when the usual peaks (``peaks``, by stage name) of all of them fit in ``budget_mb``; a
    stage whose peak is unknown, or that alone exceeds the budget, runs alone.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    by_number = {stage_reuse.stage_number(result.stage): (i, p, result) for i, p, result in items}
    tails = critical_paths(list(by_number), {stage_reuse.stage_number(k): v for k, v in durations.items()})
    pending, running, finished, stopped = dict(by_number), {}, set(), False

    def need(number: str) -> float:
        peak = peaks.get(by_number[number][2].stage)
        return float("inf") if peak is None or budget_mb is None else peak

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stage") as pool:
        while pending and not stopped or running:
            started = True
            while started and not stopped and len(running) < jobs:
                started = False
                ready = [n for n in pending
                         if all(u in finished or u not in by_number for u in stage_reuse.upstream_of(n))]
                for number in sorted(ready, key=lambda n: -tails[n]):
                    used = sum(need(n) for n in running.values())
                    if running and used + need(number) > (budget_mb or 0):
                        continue
                    i, p, result = pending.pop(number)
                    # Beside a stage that heads a longer chain, this one takes only the CPU that one leaves.
                    result.nice = SIDE_NICE if any(tails[n] > tails[number] for n in running.values()) else 0
                    with lock:
                        go = prepare(i, p, result)
                    if go:
                        running[pool.submit(execute, i, p, result)] = number
                    else:
                        finished.add(number)
                    started = True
                    break
            if not running:
                if pending and not stopped:  # nothing can start: upstream stages missing (cannot happen)
                    raise RuntimeError(f"stages {sorted(pending)} wait for stages that never run")
                break
            for future in wait(running, return_when=FIRST_COMPLETED)[0]:
                number = running.pop(future)
                future.result()
                finished.add(number)
                stopped = stopped or (by_number[number][2].status == "failed" and not keep_going)
    for _, _, result in pending.values():
        result.status = "not_run"


def estimate_source(profile: str, runs: list[str], reports_root: Path) -> str:
    """The console line saying where the time estimates come from (or that there are none)."""
    if not runs:
        return f"times: no earlier run of profile {profile} in {reports_root} to estimate from"
    shown = ", ".join(runs[-3:]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
    return (f"times: estimates from the last run of profile {profile} that executed each stage ({shown}); "
            "a reused stage takes seconds")


def remaining_text(stages_left: Sequence[str], usual: Mapping[str, float]) -> str:
    """``remaining ~3:50 (estimate)`` for the stages still to run; what is unknown is said."""
    known = [usual[s] for s in stages_left if s in usual]
    unknown = len(stages_left) - len(known)
    if not stages_left:
        return "nothing remaining"
    text = f"remaining ~{progress_lines.format_duration(sum(known))} (estimate)" if known else "remaining: unknown"
    return text + (f", {unknown} stage(s) never timed" if unknown and known else "")


def _console_emitter(echo, progress_bar: bool):
    """How a stage's training lines reach the console: through ``echo``, above papermill's
    progress bar when there is one (tqdm redraws it below them); None when ``echo`` is None."""
    if echo is None:
        return None
    if not progress_bar:
        return lambda line: echo(line, flush=True)
    from tqdm import tqdm

    def emit(line: str) -> None:
        with tqdm.external_write_mode():
            echo(line, flush=True)

    return emit


def new_run_id(profile: str, reports_root: Path) -> str:
    """``YYYYmmdd-HHMMSS-<profile>``, with a suffix when that folder already exists."""
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{profile}"
    run_id, n = base, 1
    while (reports_root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def run(profile: str = "cpu", only: list[str] | None = None, overrides: list[str] = (),
        params_file: str | os.PathLike | None = None, run_id: str | None = None,
        keep_going: bool = True, notebooks_dir: str | os.PathLike | None = None,
        reports_dir: str | os.PathLike | None = None, params_root: str | os.PathLike | None = None,
        progress: bool | None = None, timeout: float | None = None, echo=print,
        force: bool | Sequence[str] = False, reuse: bool = True, jobs: int = 1,
        max_memory_gb: float | None = None, world: str | None = None) -> RunResult:
    """Execute the numbered notebooks and write the run report.

    Args:
        profile: parameter profile (``smoke``, ``cpu``, ``full``).
        only: notebook prefixes to run (``["00", "10"]``); None runs all.
        overrides: ``["KEY=VALUE", "10.KEY=VALUE", …]`` (YAML scalars, type-checked).
        params_file: YAML file of parameter values (see the module docstring).
        run_id: folder name under the reports folder (default: timestamp and profile).
        keep_going: continue after a failing stage (False: stop at the first failure).
        notebooks_dir: folder of ``NN_*.ipynb`` (default: the repository's ``notebooks/``).
        reports_dir: where ``<run_id>/`` goes (default: :func:`paths.reports_dir`).
        params_root: folder of ``<stem>/<profile>.yaml``; default: ``params/`` beside the
            notebooks folder.
        progress: show papermill's per-cell progress bar (default: when stderr is a terminal).
        timeout: per-cell timeout in seconds (None: no limit).
        echo: where the console lines go (``print``; None silences them): per stage its start
            with its usual time, its end with the elapsed time and an estimate of the remaining
            time (:func:`usual_durations`), and the training lines of
            :mod:`comicdepth_tf.progress` the notebook prints meanwhile. The kernel's own
            start-up output goes to ``<stage folder>/kernel.log``, not here.
        force: True reruns every stage; stage numbers (``["30"]``) rerun those and their
            downstream stages; False reuses every stage whose fingerprint matches a finished run.
        reuse: False never reuses (and records nothing in the ledger).
        jobs: stages run side by side, at most this many at once: each as soon as the stages it
            loads from (:data:`~comicdepth_tf.chain.stage_reuse.UPSTREAM`) are done, the one
            heading the longest chain first (:func:`_side_by_side`). 1 (default): one after the
            other, in order. Each stage computes the same numbers either way.
        max_memory_gb: with ``jobs`` > 1, stages share the machine only while their usual peak
            memory (:func:`expected_values`) adds up to at most this; default half of the machine's
            memory (:func:`memory_budget_mb`). A stage of unknown peak runs alone.
        world: the embedded world every stage reads (``street``, ``rich``, ``rich-no-<ingredient>``…:
            :func:`comicdepth_tf.data.scene.get_world`), passed to the kernels as
            ``COMICDEPTH_WORLD``; default: that variable, else ``street``. Each world has its own
            dataset and saved-runs folders (:func:`comicdepth_tf.paths.models_dir`), and its stages
            their own fingerprints.

    Returns:
        The :class:`RunResult`; ``result.ok`` is False when a stage failed.

    Raises:
        ParameterError: bad selection, unknown parameter names or wrong types, an unknown world
            or a ``COMICDEPTH_REAL_DATA`` that names no folder (before any notebook runs).
    """
    arguments = dict(locals())
    if profile not in PROFILES:
        raise ParameterError(f"profile {profile!r}: expected one of {', '.join(PROFILES)}")
    from comicdepth_tf.data.scene import get_world  # numpy and OpenCV: only when a run starts

    arguments["world"] = world = world or paths.world_name()
    try:
        get_world(world)
    except ValueError as error:
        raise ParameterError(f"--world: {error}") from None
    paths.real_data_dir()  # a mistyped COMICDEPTH_REAL_DATA is an error before any file is written
    # The kernels inherit the variable: every stage reads the same world's dataset.
    with patched_environ(**{paths.WORLD_VAR: world}):
        return _run(**arguments)


def _run(*, profile, only, overrides, params_file, run_id, keep_going, notebooks_dir, reports_dir, params_root,
         progress, timeout, echo, force, reuse, jobs, max_memory_gb, world) -> RunResult:
    """:func:`run` once its world is set in the environment."""
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else paths.notebooks_dir()
    if params_root is None:
        params_root = paths.params_dir() if notebooks_dir.resolve() == paths.notebooks_dir().resolve() \
            else notebooks_dir.parent / "params"
    reports_root = Path(reports_dir).resolve() if reports_dir is not None else paths.reports_dir()
    if jobs < 1:
        raise ParameterError(f"--jobs {jobs}: expected 1 or more")
    # Several papermill progress bars would overwrite each other: side by side, the lines say it all.
    progress = sys.stderr.isatty() and jobs == 1 if progress is None else progress and jobs == 1
    emit = _console_emitter(echo, progress)
    echo = echo or (lambda *a, **k: None)

    notebooks = hygiene.numbered_notebooks(notebooks_dir, only)
    if not notebooks:
        raise ParameterError(f"no numbered notebooks (NN_*.ipynb) in {notebooks_dir}")
    plans = plan_parameters(notebooks, profile, list(overrides), params_file, params_root)

    if run_id is None:
        run_id = new_run_id(profile, reports_root)
    elif not PLAIN_NAME.match(run_id):
        raise ParameterError(f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-'")
    run_dir = reports_root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)

    stages = []
    for p in plans:
        effective = {name: prm.default for name, prm in p.declared.items()}
        effective.update(p.values)
        stages.append(StageResult(stage=p.notebook.stem, notebook=str(p.notebook), params=effective,
                                  overrides=sorted(p.values), stage_dir=p.notebook.stem))
    record = {"run_id": run_id, "profile": profile, "world": world, "status": "running",
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished": None,
              "python": sys.executable, "prefix": sys.prefix, "notebooks_dir": str(notebooks_dir),
              "overrides": list(overrides), "params_file": os.fspath(params_file) if params_file else None,
              "keep_going": keep_going, "stages": stages}

    kept = _previous_stages(run_dir, {s.stage for s in stages})

    def save() -> Path:
        listed = sorted(kept + stages, key=lambda s: s.stage)
        return reporting.write_index({**record, "stages": [asdict(s) for s in listed]}, run_dir)

    save()
    echo(f"run {run_id}: {len(plans)} notebook(s), profile {profile} -> {run_dir}", flush=True)
    usual, timed_runs = usual_durations(reports_root, profile, exclude=run_id)
    echo(estimate_source(profile, timed_runs, reports_root), flush=True)
    run_start = time.monotonic()

    def stage_done(line: str) -> None:
        elapsed = progress_lines.format_duration(time.monotonic() - run_start)
        left = [s.stage for s in stages if s.status in ("pending", "running")]
        echo(f"{line} · elapsed {elapsed} · {remaining_text(left, usual)}", flush=True)

    ledger = stage_reuse.Ledger(profile)
    source = source_digest()
    forced = _forced(force, stages)
    done: dict[str, str | None] = {}  # stage number -> fingerprint in this run
    side_by_side = jobs > 1 and len(plans) > 1
    lock = threading.RLock()  # run.json, the ledger and the console, shared by stages running side by side

    def prepare(i: int, p: StagePlan, result: StageResult) -> bool:
        """Fingerprint a stage whose upstream stages are done: reuse it (False) or mark it running (True)."""
        number = stage_reuse.stage_number(result.stage)
        upstream = {u: done[u] if u in done else ledger.fingerprint_of(u)
                    for u in stage_reuse.upstream_of(result.stage)}
        result.fingerprint = stage_reuse.fingerprint(p.notebook, result.params, profile, upstream, source)
        entry = ledger.reusable(number, result.fingerprint, reports_root) \
            if reuse and number not in forced else None
        if entry is not None:
            _reuse(result, entry, run_dir, reports_root)
            done[number] = result.fingerprint
            stage_done(f"[{i}/{len(plans)}] {result.stage}: reused (run {entry['run_id']}, "
                       f"fingerprint {result.fingerprint[:12]})")
            save()
            return False
        usually = f" (usually ~{progress_lines.format_duration(usual[result.stage])})" \
            if result.stage in usual else ""
        echo(f"[{i}/{len(plans)}] {result.stage} ...{usually}", flush=True)
        result.status = "running"
        save()
        ledger.forget_run(number, run_id)  # its report is about to be replaced
        return True

    def execute(i: int, p: StagePlan, result: StageResult) -> None:
        """Run a prepared stage's notebook, then record it (in the ledger when it finished)."""
        number = stage_reuse.stage_number(result.stage)
        before = stage_reuse.models_snapshot()
        result.started_s = round(time.monotonic() - run_start, 3)
        stage_emit = (lambda line: emit(line.replace("    ", f"    {number}| ", 1))) if side_by_side and emit else emit
        _execute(p, result, run_dir, run_id, reports_root, progress, timeout, stage_emit, shared=side_by_side)
        with lock:
            if result.status == "ok":
                done[number] = result.fingerprint
                if reuse and result.html:  # a stage without its report cannot be shown when reused
                    written = stage_reuse.written_runs(before, stage_reuse.models_snapshot())
                    ledger.record(number, {
                        "fingerprint": result.fingerprint, "run_id": run_id, "stage": result.stage,
                        "html": result.html, "output_notebook": result.output_notebook,
                        "stage_dir": result.stage_dir, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        # Side by side, another stage's runs change meanwhile: keep this stage's own.
                        "runs": stage_reuse.own_runs(number, written) if side_by_side else written})
            line = f"[{i}/{len(plans)}] {result.stage}: {result.status} in {result.duration_s:.1f} s"
            if result.peak_memory_mb is not None:
                line += f", peak memory {result.peak_memory_mb / 1000:.2f} GB"
            if result.cpu_seconds and result.duration_s:
                line += f", {result.cpu_seconds / result.duration_s:.2f} cores busy"
            if result.error:
                cell = result.error.get("cell_index")
                line += (f" (cell {cell}: " if cell is not None else " (") + \
                    f"{result.error.get('exception', '')})"
                line += f"; kernel output: {run_dir / result.stage_dir / KERNEL_LOG}"
            stage_done(line)
            save()

    items = [(i, p, result) for i, (p, result) in enumerate(zip(plans, stages), 1)]
    try:
        with own_kernel():
            if side_by_side:
                peaks = expected_values(reports_root, profile, run_id)
                _side_by_side(items, prepare, execute, jobs=jobs, lock=lock, keep_going=keep_going,
                              budget_mb=(max_memory_gb * 1000 if max_memory_gb else memory_budget_mb()),
                              peaks=peaks, durations=expected_values(reports_root, profile, run_id, "duration_s"))
            else:
                stopped = False
                for i, p, result in items:
                    if stopped:
                        result.status = "not_run"
                        continue
                    if prepare(i, p, result):
                        execute(i, p, result)
                    stopped = result.status == "failed" and not keep_going
        record["status"] = "ok" if all(s.status in ("ok", "reused") for s in stages) else "failed"
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        for s in stages:
            if s.status in ("pending", "running"):
                s.status = "not_run"
        raise
    finally:
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        index = save()
        echo(f"index: {index}", flush=True)
    return RunResult(run_id, run_dir, profile, stages)


# --------------------------------------------------------------------------- CLI


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth run``."""
    parser.add_argument("--profile", choices=PROFILES, default="cpu",
                        help="parameter profile: params/<notebook>/<profile>.yaml (default: cpu)")
    parser.add_argument("--only", action="append", default=None, metavar="NN[,NN…]",
                        help="run only notebooks whose name starts with these prefixes, e.g. 00,10")
    parser.add_argument("-p", "--param", dest="overrides", action="append", default=[],
                        metavar="[NN.]KEY=VALUE",
                        help="override a parameter (YAML scalar, checked against its annotation); "
                             "NN. limits it to one notebook")
    parser.add_argument("--params", dest="params_file", type=Path, default=None, metavar="FILE.yaml",
                        help="YAML file of parameter values (top-level or per notebook)")
    parser.add_argument("--run-id", default=None, help="name of the run folder (default: timestamp)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep-going", dest="keep_going", action="store_true", default=True,
                       help="run the remaining notebooks after a failure (default)")
    group.add_argument("--stop-on-error", dest="keep_going", action="store_false",
                       help="stop at the first failing notebook")
    parser.add_argument("--notebooks-dir", type=Path, default=None, help="folder of NN_*.ipynb")
    parser.add_argument("--reports-dir", type=Path, default=None,
                        help="folder that receives <run_id>/ (default: reports/)")
    parser.add_argument("--params-dir", type=Path, default=None,
                        help="folder of <notebook>/<profile>.yaml (default: params/ beside the notebooks)")
    parser.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds")
    parser.add_argument("--force", nargs="?", action="append", const="all", default=None, metavar="NN[,NN…]",
                        help="rerun stages whose fingerprint matches a finished run: all of them (no value), "
                             "or these stages and every stage downstream of them")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no per-cell progress bar")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run up to N stages side by side, each once the stages it loads from are done "
                             "(default 1: one after the other; the numbers are the same)")
    parser.add_argument("--max-memory", dest="max_memory_gb", type=float, default=None, metavar="GB",
                        help="with --jobs: start a stage beside others only while their usual peak memory "
                             "adds up to at most GB (default: half of this machine's memory)")
    parser.add_argument("--world", default=None,
                        help="the embedded world every stage reads: street (default, or $COMICDEPTH_WORLD), "
                             "rich, rich-no-<ingredient> or street+<ingredient>; each has its own dataset")


def cli_main(args: argparse.Namespace) -> int:
    """Run the notebooks; exit code 0 when every stage succeeded, 1 when one failed, 2 on bad input."""
    only = None
    if args.only:
        only = [p for chunk in args.only for p in chunk.split(",") if p.strip()]
    force: bool | list[str] = False
    if args.force:
        named = [p for chunk in args.force for p in chunk.split(",") if p.strip()]
        force = True if "all" in named else named
    try:
        result = run(profile=args.profile, only=only, overrides=args.overrides,
                     params_file=args.params_file, run_id=args.run_id, keep_going=args.keep_going,
                     notebooks_dir=args.notebooks_dir, reports_dir=args.reports_dir,
                     params_root=args.params_dir, progress=args.progress, timeout=args.timeout, force=force,
                     jobs=args.jobs, max_memory_gb=args.max_memory_gb, world=args.world)
    except (ParameterError, DataFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [s.stage for s in result.stages if s.status == "failed"]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
