"""The per-stage peak memory the runner records: a child's and a grandchild's allocations."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from comicdepth_tf.chain import peak_memory, reporting

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")

ALLOCATE = "import time; b = bytearray({mb} * 1000 * 1000); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3)"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_peak_of_a_child_is_its_allocation():
    with peak_memory.watch(interval=0.05) as peak:
        subprocess.run(_python(ALLOCATE.format(mb=300)), check=True)
    assert 300 <= peak.mb < 400


def test_the_cpu_time_of_a_busy_child_is_counted_and_a_sleeping_one_is_not():
    spin = "import time; t = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(0.3)"
    with peak_memory.watch(interval=0.05) as busy:
        subprocess.run(_python(spin), check=True)
    with peak_memory.watch(interval=0.05) as idle:
        subprocess.run(_python("import time; time.sleep(0.8)"), check=True)
    assert 0.55 <= busy.cpu_seconds < 1.5
    assert idle.cpu_seconds < 0.3


def test_a_grandchild_counts_and_a_smaller_child_does_not_lower_the_peak():
    nested = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {ALLOCATE.format(mb=250)!r}], check=True)"
    with peak_memory.watch(interval=0.05) as peak:
        subprocess.run(_python(nested), check=True)
        subprocess.run(_python(ALLOCATE.format(mb=20)), check=True)
    assert 250 <= peak.mb < 350


def test_a_child_started_before_the_block_is_not_counted():
    before = subprocess.Popen(_python(ALLOCATE.format(mb=300) + "; import time; time.sleep(30)"))
    try:
        time.sleep(1.5)  # it holds its 300 MB before the block starts
        with peak_memory.watch(interval=0.05) as peak:
            subprocess.run(_python(ALLOCATE.format(mb=60)), check=True)
        assert 60 <= peak.mb < 150
    finally:
        before.kill()
        before.wait()


def test_nothing_started_means_no_peak():
    with peak_memory.watch(interval=0.05) as peak:
        pass
    assert peak.mb is None and peak.cpu_seconds is None


def test_the_index_names_the_stage_with_the_largest_peak(tmp_path):
    run = {"run_id": "r", "profile": "cpu", "status": "ok",
           "stages": [{"stage": "10_depth_irv2", "status": "ok", "duration_s": 5.0, "peak_memory_mb": 2100.0},
                      {"stage": "30_cyclegan", "status": "ok", "duration_s": 9.0, "peak_memory_mb": 3456.7},
                      {"stage": "50_evaluate", "status": "reused", "duration_s": 1.0}]}
    html = reporting.write_index(run, tmp_path).read_text()
    assert "peak memory 3.46 GB (30_cyclegan)" in html
    assert "peak 2.10 GB" in html
