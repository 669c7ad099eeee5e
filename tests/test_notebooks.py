"""Every numbered notebook runs end to end through the runner on the ``smoke`` profile.

The notebooks form a pipeline (later stages load the models earlier ones saved), so they
run once per session, in order, as one ``comicdepth run --profile smoke`` into temporary
folders; each notebook is then checked as its own test item. Nothing is written into the
repository: reports, models and data point into a temporary folder; the embedded smoke
dataset (``smoke_data``) is copied where the notebooks' own ``ensure_dataset("smoke")`` looks.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from comicdepth_tf import paths, runner
from comicdepth_tf.metrics_diff import diff_reports

NOTEBOOKS = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
_ENV = ("COMICDEPTH_DATA", "COMICDEPTH_MODELS", "COMICDEPTH_REPORTS")


@pytest.fixture(scope="session")
def smoke_pipeline(smoke_data, tmp_path_factory):
    """The whole pipeline executed once on the smoke profile."""
    root = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(smoke_data, root / "data" / "embedded" / "smoke")
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(COMICDEPTH_DATA=str(root / "data"), COMICDEPTH_MODELS=str(root / "saved_models"),
                      COMICDEPTH_REPORTS=str(root / "reports"))
    try:
        yield runner.run("smoke", run_id="test", reports_dir=root / "reports", progress=False, echo=None)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_on_smoke_profile(notebook, smoke_pipeline):
    stage = smoke_pipeline.stage(notebook.stem)
    assert stage.status == "ok", f"{notebook.name} failed: {json.dumps(stage.error, indent=1)}"
    assert (smoke_pipeline.run_dir / f"{notebook.stem}.html").stat().st_size > 0
    metrics = json.loads((smoke_pipeline.run_dir / notebook.stem / "metrics.json").read_text())
    assert metrics, f"{notebook.name} recorded no metrics"
    assert smoke_pipeline.index.exists()


TRAINING_STAGES = [nb.stem for nb in NOTEBOOKS if nb.stem[:2] in ("10", "20", "30", "40", "60")]


@pytest.mark.notebook
def test_a_second_run_reuses_every_stage_and_a_forced_rerun_is_identical(smoke_pipeline):
    reports = smoke_pipeline.run_dir.parent
    reused = runner.run("smoke", run_id="reused", reports_dir=reports, progress=False, echo=None)
    assert [s.status for s in reused.stages] == ["reused"] * len(NOTEBOOKS)
    assert {s.reused_from for s in reused.stages} == {"test"}
    # Every training stage trained again, in order, each after the others: the same numbers.
    rerun = runner.run("smoke", run_id="rerun", reports_dir=reports, progress=False, echo=None, force=True,
                       only=[stem[:2] for stem in TRAINING_STAGES])
    assert rerun.ok and [s.status for s in rerun.stages] == ["ok"] * len(TRAINING_STAGES)
    differences, compared = diff_reports(smoke_pipeline.run_dir, rerun.run_dir, TRAINING_STAGES)
    assert compared > 100 and differences == []
