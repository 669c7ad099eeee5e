"""The one harness of the bench scripts that measure in child processes.

A precision policy, an XLA flag or a graph setting is process-wide, and a first trace warms caches
for the next: each measurement runs in a fresh ``python <script> ...`` and prints one JSON line last.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run_worker(script: str, *args: str, check: bool = False) -> dict | None:
    """Run ``script`` with ``args`` in a new Python process and return its last stdout line as JSON.

    Returns:
        The decoded line, or None when the process failed (its last stderr line is printed);
        with ``check``, a failure ends the bench instead.
    """
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if out.returncode:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  {' '.join(args)}: failed ({last[:160]})", flush=True)
        if check:
            raise SystemExit(f"{script}: a measurement failed")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])
