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
from pathlib import Path

import pytest

from comicdepth_tf import paths
from comicdepth_tf.chain import runner, stage_reuse
from comicdepth_tf.chain.metrics_diff import diff_reports

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
    if Path("/proc/self/status").exists():  # a kernel imports at least IPython and comicdepth_tf
        assert 50 < stage.peak_memory_mb < 24_000, stage.peak_memory_mb


TRAINING_STAGES = [nb.stem for nb in NOTEBOOKS if nb.stem[:2] in ("10", "20", "30", "40", "60")]


@pytest.mark.notebook
def test_a_second_run_reuses_every_stage_and_a_forced_rerun_is_identical(smoke_pipeline):
    reports = smoke_pipeline.run_dir.parent
    reused = runner.run("smoke", run_id="reused", reports_dir=reports, progress=False, echo=None)
    assert [s.status for s in reused.stages] == ["reused"] * len(NOTEBOOKS)
    assert {s.reused_from for s in reused.stages} == {"test"}
    # What each stage wrote, one after the other, is what stage_reuse.WRITES says it writes (side by
    # side, the ledger keeps those runs of a stage only).
    ledger = json.loads((Path(os.environ["COMICDEPTH_MODELS"]) / "stages" / "smoke.json").read_text())
    assert set(ledger) == set(stage_reuse.WRITES)
    for number, entry in ledger.items():
        assert stage_reuse.own_runs(number, entry["runs"]) == entry["runs"], (number, entry["runs"])
    # Every training stage trained again, two side by side where their usual memory allows, each
    # once the stages it loads from are done: the same numbers.
    rerun = runner.run("smoke", run_id="rerun", reports_dir=reports, progress=False, echo=None, force=True,
                       only=[stem[:2] for stem in TRAINING_STAGES], jobs=2, max_memory_gb=100)
    assert rerun.ok and [s.status for s in rerun.stages] == ["ok"] * len(TRAINING_STAGES)
    windows = sorted((s.started_s, s.started_s + s.duration_s) for s in rerun.stages)
    assert any(b[0] < a[1] for a, b in zip(windows, windows[1:])), windows  # some stages overlapped
    differences, compared = diff_reports(smoke_pipeline.run_dir, rerun.run_dir, TRAINING_STAGES)
    assert compared > 100 and differences == []


_PLAIN_LOAD = """
import sys, comicdepth_tf, keras
for path in sys.argv[1:]:
    keras.saving.load_model(path)  # compile=True: last.keras brings its loss, metrics and optimizer
print(len(sys.argv) - 1)
"""


@pytest.mark.notebook
def test_every_saved_model_file_loads_with_plain_keras_in_a_fresh_process(smoke_pipeline):
    import subprocess
    import sys

    models = smoke_pipeline.run_dir.parent.parent / "saved_models"
    files = sorted(models.rglob("*.keras"))
    kinds = {(p.relative_to(models).parts[0], p.name) for p in files}
    for expected in [
        ("depth_irv2", "model.keras"),
        ("depth_irv2", "last.keras"),
        ("text_unet", "best_iou50.keras"),
        ("cyclegan_simple", "generator_natural2comics.keras"),
        ("cyclegan_add_text", "generator_add_text.keras"),
        ("fg_depthnet", "model.keras"),
        ("ai4va_seed_baseline", "model.keras"),
        ("comics_depth", "model.keras"),
    ]:
        assert expected in kinds, f"the smoke chain saved no {expected}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _PLAIN_LOAD, *map(str, files)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) == len(files)
    runs = {p.parent for p in files if p.name == "model.keras" or p.name.startswith("generator_")}
    assert all((run / "MODEL_CARD.md").is_file() for run in runs), [
        str(r) for r in runs if not (r / "MODEL_CARD.md").is_file()
    ]
    # Every trained run (a history.csv: training.fit and fit_cyclegan write one) has TensorBoard events.
    trained = {p.parent for p in models.rglob("history.csv")}
    assert trained and all(list((run / "tensorboard").rglob("events.out.tfevents.*")) for run in trained), \
        [str(r) for r in trained if not list((r / "tensorboard").rglob("events.out.tfevents.*"))]


@pytest.mark.notebook
def test_no_report_holds_tensorflow_or_kernel_start_up_noise(smoke_pipeline):
    pages = sorted(smoke_pipeline.run_dir.glob("*.html"))
    assert len(pages) == len(NOTEBOOKS) + 1  # the stages and the index
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found = [word for word in ("oneDNN", "cuInit", "absl::InitializeLog", "IProgress", "without encryption")
                 if word in text]
        assert not found, f"{page.name} shows {found}"
