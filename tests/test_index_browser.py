"""The run index renders in a real browser: comparison table rows and headline images appear.

The index is built with the reporting functions on a tiny fixture (no TensorFlow), opened in
headless Chromium; ``--dump-dom`` gives the DOM after parsing, ``--screenshot`` a PNG whose
pixels must show the headline figure. Chromium is looked for at ``/usr/bin/chromium`` and as
``chromium``, ``chromium-browser``, ``google-chrome`` on PATH; when absent and the test runs as
root with ``CI=true``, ``apt-get install -y chromium`` is tried. The test skips only when no
browser can be found or installed.
"""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from comicdepth_tf import fileio
from comicdepth_tf.chain import reporting

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def _find_browser() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _install_browser() -> str | None:
    """``apt-get install -y chromium`` when running as root in CI; None when that fails."""
    if os.environ.get("CI") != "true" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "chromium"]
    for cmd in (install, ["apt-get", "update"], install):  # update only when a plain install fails
        try:
            subprocess.run(cmd, env=env, check=False, capture_output=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if _find_browser():
            return _find_browser()
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    found = _find_browser() or _install_browser()
    if found is None:
        pytest.skip("no Chromium found (/usr/bin/chromium, chromium, chromium-browser, google-chrome) "
                    "and it could not be installed (needs root and CI=true for apt-get)")
    return found


def _headline_figure(color: str):
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(3, 2))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.add_patch(Rectangle((0, 0), 1, 1, color=color))
    ax.set_axis_off()
    return fig


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    """A two-stage run index: a comparison table of three configurations and two headline figures."""
    run_dir = tmp_path / "run"
    monkeypatch.setenv(reporting.STAGE_DIR_ENV, str(run_dir / "50_evaluate"))
    table = pd.DataFrame({"configuration": ["approach2_simple", "batchnorm_trick", "ai4va_segment"],
                          "status": ["ok", "ok", "missing: no run of ai4va_segment"],
                          "inter_acc": [0.81, 0.74, np.nan], "inter_db": [0.39, 0.0, np.nan]})
    reporting.record_table("50_evaluate", "comparison", table)
    reporting.record_metrics("50_evaluate", {"configurations": 3})
    reporting.record_figure("50_evaluate", _headline_figure("#ff0000"), "comparison_bars", headline=True)
    reporting.record_figure("10_depth_irv2", _headline_figure("#0000ff"), "predictions", headline=True)
    run = {"run_id": "browser", "profile": "smoke", "status": "ok", "started": "2026-01-01T00:00:00",
           "stages": [{"stage": "10_depth_irv2", "status": "ok", "duration_s": 1.0, "stage_dir": "10_depth_irv2",
                       "html": "10_depth_irv2.html"},
                      {"stage": "50_evaluate", "status": "ok", "duration_s": 2.0, "stage_dir": "50_evaluate",
                       "html": "50_evaluate.html"}]}
    return reporting.write_index(run, run_dir)


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


class _DomParser(html.parser.HTMLParser):
    """Rows of the comparison table and the images of the rendered DOM."""

    def __init__(self):
        super().__init__()
        self.images: list[dict] = []
        self.rows: list[list[str]] = []
        self._comparison_depth = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("id") == "comparison":
            self._comparison_depth = 1
        elif tag == "div" and self._comparison_depth:
            self._comparison_depth += 1
        if tag == "img":
            self.images.append(attrs)
        if self._comparison_depth and tag == "tr":
            self.rows.append([])
        if self._comparison_depth and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "div" and self._comparison_depth:
            self._comparison_depth -= 1
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_index_renders_comparison_rows_and_headline_images(browser, index, tmp_path):
    result = _chromium(browser, tmp_path, "--dump-dom", index.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _DomParser()
    dom.feed(result.stdout)
    names = ("approach2_simple", "batchnorm_trick", "ai4va_segment")
    body = [r for r in dom.rows if r and r[0].startswith(names)]
    assert [r[0][:len(n)] for r, n in zip(body, names)] == list(names) and len(body) == 3
    # The compact comparison: the name (with a status other than ok under it), then the metrics.
    assert body[0][1:3] == ["0.81", "0.39"]
    assert body[2][0].endswith("missing: no run of ai4va_segment") and body[2][1] == "–"
    sources = sorted(i.get("src") for i in dom.images)
    assert sources == ["10_depth_irv2/predictions.png", "50_evaluate/comparison_bars.png"]
    for src in sources:
        assert (index.parent / src).is_file()


def test_index_screenshot_shows_the_figures(browser, index, tmp_path):
    shot = tmp_path / "index.png"
    result = _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=1400,1000", index.as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    rgb = fileio.read_image(shot).astype(int)
    assert rgb.shape[0] >= 900 and rgb.std() > 5  # not a blank page
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 60) & (rgb[..., 1] < 60)
    # Both headline thumbnails were decoded and painted (not just their alt text).
    assert red.sum() > 2000 and blue.sum() > 2000
