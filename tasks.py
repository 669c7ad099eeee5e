#!/usr/bin/env python3
"""Set-up-and-go commands that need nothing but Python 3.10+ and pip.

    python3 tasks.py run    # make .venv, install, generate the embedded dataset, run every
                            # notebook on the cpu profile, write reports/<run_id>/index.html
    python3 tasks.py test   # make .venv, install with test extras, run the whole test suite

Both create (or reuse) the virtual environment ``.venv`` beside this file and install the
package into it, so the notebooks' kernel is that environment's Python. Extra arguments after
``run`` go to ``comicdepth run`` (e.g. ``--profile smoke --only 00``); after ``test`` to pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("COMICDEPTH_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*cmd: str | os.PathLike) -> None:
    """Run a command from the repository root and stop on failure."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def ensure_env(extras: str = "") -> None:
    """Create ``.venv`` when missing and install the package (editable) with ``extras``."""
    if not PY.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    spec = f".[{extras}]" if extras else "."
    # pip is quiet (-q) for a minute or two: say what it is doing and for how long.
    print(f"installing comicdepth_tf (editable) with {', '.join(dependency_names(extras))} into {VENV}: "
          "usually 1-2 min (the first time TensorFlow alone is a download of several hundred MB), no output until done",
          flush=True)
    sh(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", spec)


def dependency_names(extras: str = "") -> list[str]:
    """The distributions ``pyproject.toml`` lists (with ``extras``), names only, e.g. ``tensorflow``."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    blocks = [re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M)]
    blocks += [
        re.search(rf"^{re.escape(extra)} = \[(.*?)\]", text, re.S | re.M) for extra in extras.split(",") if extra
    ]
    specs = [s for block in blocks if block for s in re.findall(r'"([^"]+)"', block.group(1))]
    return [re.split(r"[<>=!~\[; ]", spec, 1)[0] for spec in specs]


#: The main command's memory budget for stages side by side (GB): half of what the chain once took
#: (issue 16), which on the cpu profile pairs only the light stages (10 with 20, then 00).
SIDE_BY_SIDE_GB = 5.6


def cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one (a container pinned to
    2 of a host's 64 cores gets 2), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def side_by_side(args: list[str]) -> list[str]:
    """``comicdepth run`` options for the main command: two stages side by side on a machine with 2+
    cores, within :data:`SIDE_BY_SIDE_GB`, unless ``args`` choose (``--jobs``, ``--max-memory``).

    At ae210be on 2 cores without bf16, stages 10 and 20 side by side took 503 s against 744 s one
    after the other, with the same numbers; the heavy stages (30, 40, 60) still run alone.
    """
    if any(a.startswith(("--jobs", "--max-memory")) for a in args) or cores() < 2:
        return []
    return ["--jobs", "2", "--max-memory", str(SIDE_BY_SIDE_GB)]


def run(args: list[str]) -> int:
    """Generate the embedded dataset and execute every notebook into a report."""
    ensure_env()
    profile = "cpu"
    if "--profile" in args:
        profile = args[args.index("--profile") + 1]
    else:
        args = ["--profile", profile, *args]
    sh(PY, "-m", "comicdepth_tf", "synth", "--profile", profile)
    sh(PY, "-m", "comicdepth_tf", "run", *side_by_side(args), *args)
    return 0


def ensure_chromium() -> None:
    """Install Debian's Chromium for the report-rendering test when CI runs as root without it.

    Elsewhere the browser test skips when no Chromium is found; a failed install is not fatal.
    """
    if any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        return
    if os.environ.get("CI") == "true" and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def test_workers(args: list[str]) -> list[str]:
    """pytest-xdist options for the suite: one worker per core, at most 4, each test file on one worker.

    Whole files stay together because their module fixtures (a trained model, the smoke chain) are
    built once per worker; on 2 cores without bf16 this took the suite from 1229.7 s to 775.6 s. Files
    are handed out in collection order (``--no-loadscope-reorder``), which ``tests/conftest.py`` starts
    with the smoke chain, the longest file: xdist's own order (most tests first) left it to the end,
    where one worker ran it alone (858.2 s). Arguments that choose workers themselves (``-n``, ``--numprocesses``,
    ``--dist``, ``-p no:xdist``) are left alone.
    """
    if any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in args):
        return []
    workers = min(4, cores())
    return ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"] if workers > 1 else []


def test(args: list[str]) -> int:
    """Install the test extras and run the whole suite (notebooks on the smoke profile)."""
    ensure_env("test")
    ensure_chromium()
    return subprocess.run([str(PY), "-m", "pytest", *test_workers(args), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    return {"run": run, "test": test}[argv[0]](argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode or 1)
