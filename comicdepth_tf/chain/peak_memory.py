"""Peak resident memory and CPU time of the processes a block of code starts (a notebook's kernel).

``resource.getrusage(RUSAGE_CHILDREN)`` only gives the largest child of the whole process
lifetime, so one stage's peak cannot be told from an earlier stage's. Instead a thread reads the
kernel-kept high-water mark (``VmHWM`` in ``/proc/<pid>/status``) of every descendant process
while the block runs, and their CPU time (``utime + stime`` in ``/proc/<pid>/stat``): CPU
seconds over wall seconds is how many cores a stage kept busy. Linux only; elsewhere both are
``None``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

PROC = Path("/proc")


def _stat_fields(pid: str | int) -> list[str]:
    """Fields 3… of ``/proc/<pid>/stat`` (state, ppid, …), or [] when the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return []
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return stat[stat.rfind(")") + 2 :].split()


def _parent_of(pid: str) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (its waited-for children included)."""
    fields = _stat_fields(pid)
    if len(fields) < 15:
        return None
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime (fields 14-17)
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """Process ids below ``root`` (children, their children, …) now alive."""
    parents = {}
    for entry in os.listdir(PROC):
        if entry.isdigit():
            parent = _parent_of(entry)
            if parent is not None:
                parents[int(entry)] = parent
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found.extend(sorted(frontier))
    return found


def high_water_mark_kb(pid: int) -> int | None:
    """``VmHWM`` of a process in kB (its peak resident memory so far), or None if unreadable."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class PeakWatch:
    """The result of :func:`watch`: ``mb`` is the largest descendant's peak in MB (1e6 bytes),
    ``cpu_seconds`` the CPU time of all of them (as last seen)."""

    def __init__(self, ignore: set[int] | frozenset[int] = frozenset()) -> None:
        self.kb: int | None = None
        self._cpu: dict[int, float] = {}
        # Processes alive before the block (a test runner's workers, a leftover kernel) are not its own.
        self._ignore = frozenset(ignore)

    @property
    def cpu_seconds(self) -> float | None:
        return round(sum(self._cpu.values()), 1) if self._cpu else None

    @property
    def mb(self) -> float | None:
        return None if self.kb is None else round(self.kb * 1024 / 1e6, 1)

    def sample(self, root: int, roots: Iterable[int] = ()) -> None:
        """Read the processes below ``root``; with ``roots``, only those and their descendants."""
        own = list(roots)
        pids = descendants(root) if not own else own + [d for r in own for d in descendants(r)]
        for pid in pids:
            if pid in self._ignore:
                continue
            kb = high_water_mark_kb(pid)
            if kb is not None and (self.kb is None or kb > self.kb):
                self.kb = kb
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self._cpu[pid] = max(cpu, self._cpu.get(pid, 0.0))


@contextlib.contextmanager
def watch(interval: float = 0.5, roots: Callable[[], Iterable[int]] | None = None) -> Iterator[PeakWatch]:
    """Track the peak resident memory and CPU time of the processes started inside the block.

    The high-water mark is kept by the kernel, so polling every ``interval`` seconds misses
    only what a process does in its last ``interval`` before exiting (for CPU time too).

    Args:
        interval: seconds between two readings.
        roots: when several blocks run at once (stages side by side), a function giving the
            process ids that are this block's own (its kernel, once started): only they and
            their descendants count. None: every process started below this one.

    Yields:
        A :class:`PeakWatch`, filled when the block ends (``mb`` stays None without ``/proc``).
    """
    if not (PROC / "self" / "status").exists():
        yield PeakWatch()
        return
    root, done = os.getpid(), threading.Event()
    peak = PeakWatch(ignore=set(descendants(root)))

    def read() -> None:
        own = list(roots()) if roots is not None else []
        if roots is None or own:
            peak.sample(root, own)

    def poll() -> None:
        while not done.wait(interval):
            read()

    thread = threading.Thread(target=poll, name="peak-memory", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        read()
