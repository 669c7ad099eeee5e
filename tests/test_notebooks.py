"""Every numbered notebook runs end to end through the runner on the ``smoke`` profile.

Nothing is written into the repository: the reports, models and data folders point into
tmp_path; the embedded smoke dataset is generated once per session (``smoke_data``) and
copied where the notebooks' own ``ensure_dataset("smoke")`` call looks for it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from comicdepth_tf import paths, runner

NOTEBOOKS = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_on_smoke_profile(notebook, smoke_data, tmp_path, monkeypatch):
    # A copy (a few MB) of the session's dataset where paths.embedded_dir("smoke") looks, so
    # notebooks reuse it and a notebook that regenerates cannot touch the shared one.
    data = tmp_path / "data"
    shutil.copytree(smoke_data, data / "embedded" / "smoke")
    monkeypatch.setenv("COMICDEPTH_DATA", str(data))
    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path / "saved_models"))
    monkeypatch.setenv("COMICDEPTH_REPORTS", str(tmp_path / "reports"))
    result = runner.run("smoke", only=[notebook.stem], run_id="test", reports_dir=tmp_path / "reports",
                        progress=False, echo=None)
    stage = result.stage(notebook.stem)
    assert stage.status == "ok", f"{notebook.name} failed: {json.dumps(stage.error, indent=1)}"
    assert (result.run_dir / f"{notebook.stem}.html").stat().st_size > 0
    metrics = json.loads((result.run_dir / notebook.stem / "metrics.json").read_text())
    assert metrics, f"{notebook.name} recorded no metrics"
    assert result.index.exists()
