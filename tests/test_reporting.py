"""Stage records, the run index and the papermill runner (comicdepth_tf.chain.reporting, .runner).

The runner tests execute the tiny notebooks of tests/fixtures/notebooks (no TensorFlow):
00_ok records metrics, a headline figure and a comparison table; 10_fail raises in its
fourth cell (source index 3); 20_after records one metric.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from comicdepth_tf import cli  # noqa: E402
from comicdepth_tf.chain import hygiene, reporting, runner
from comicdepth_tf.errors import ParameterError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


# --------------------------------------------------------------------------- records


@pytest.fixture
def stage_env(tmp_path, monkeypatch):
    folder = tmp_path / "run" / "00_stage"
    monkeypatch.setenv(reporting.STAGE_DIR_ENV, str(folder))
    return folder


def test_stage_dir_follows_runner_env_and_defaults_to_interactive(tmp_path, monkeypatch):
    monkeypatch.delenv(reporting.STAGE_DIR_ENV, raising=False)
    monkeypatch.setenv("COMICDEPTH_REPORTS", str(tmp_path / "reports"))
    assert reporting.stage_dir("10_x") == (tmp_path / "reports" / "interactive" / "10_x").resolve()
    monkeypatch.setenv(reporting.STAGE_DIR_ENV, str(tmp_path / "r1" / "10_x"))
    assert reporting.stage_dir("10_x") == tmp_path / "r1" / "10_x"
    # another stage name of the same run goes beside it, not into the running stage's folder
    assert reporting.stage_dir("50_eval") == tmp_path / "r1" / "50_eval"
    assert (tmp_path / "r1" / "50_eval").is_dir()


def test_record_metrics_merges_and_converts_numpy(stage_env):
    reporting.record_metrics("00_stage", {"loss": np.float32(0.5), "count": np.int64(3),
                                          "hist": np.array([1, 2]), "nan": float("nan")})
    path = reporting.record_metrics("00_stage", {"loss": 0.25, "per_class": {"a": np.float64(1.5)}},
                                    key=["loss"])
    data = json.loads(path.read_text())
    assert data == {"loss": 0.25, "count": 3, "hist": [1, 2], "nan": None,
                    "per_class": {"a": 1.5}, "key_metrics": ["loss"]}
    assert type(data["count"]) is int
    assert reporting.read_metrics("00_stage") == data
    assert reporting.read_metrics(stage_env) == data


def test_record_metrics_rejects_bad_values_and_reserved_names(stage_env):
    with pytest.raises(TypeError, match="'model'"):
        reporting.record_metrics("00_stage", {"model": object()})
    with pytest.raises(ValueError, match="reserved"):
        reporting.record_metrics("00_stage", {"figures": []})
    assert not (stage_env / "metrics.json").exists()


def test_record_figure_png_and_single_headline(stage_env):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1])
    first = reporting.record_figure("00_stage", fig, "first plot", headline=True)
    second = reporting.record_figure("00_stage", ax, "second", headline=True)
    plt.close(fig)
    assert first.name == "first_plot.png" and first.read_bytes()[:4] == b"\x89PNG"
    assert second.exists()
    figures = reporting.read_metrics("00_stage")["figures"]
    assert [(f["name"], f["headline"]) for f in figures] == [("first plot", False), ("second", True)]


def test_record_table_writes_csv_html_and_lists_it(stage_env):
    import pandas as pd

    df = pd.DataFrame({"model": ["a", "b"], "mse": [0.123456, 2.0]})
    out = reporting.record_table("00_stage", "comparison", df)
    assert out["csv"].read_text().splitlines() == ["model,mse", "a,0.123456", "b,2.0"]
    assert "<td>0.1235</td>" in out["html"].read_text()
    tables = reporting.read_metrics("00_stage")["tables"]
    assert tables == [{"name": "comparison", "csv": "comparison.csv", "html": "comparison.html",
                       "rows": 2, "columns": ["model", "mse"]}]


def test_key_metrics_uses_key_list_else_first_scalars():
    metrics = {"a": 1, "b": [1, 2, 3], "c": {"x": 0.5}, "figures": [], "d": "s"}
    assert reporting.key_metrics(metrics) == [("a", 1), ("c.x", 0.5), ("d", "s")]
    assert reporting.key_metrics({**metrics, "key_metrics": ["d", "c.x"]}) == [("d", "s"), ("c.x", 0.5)]
    assert len(reporting.key_metrics({f"m{i}": i for i in range(20)})) == reporting.MAX_INDEX_METRICS


def test_render_index_shows_error_cell_figure_and_comparison(tmp_path, monkeypatch):
    monkeypatch.setenv(reporting.STAGE_DIR_ENV, str(tmp_path / "50_eval"))
    reporting.record_metrics("50_eval", {"mse": 0.5})
    reporting.record_table("50_eval", "comparison", {"model": ["<m>"], "mse": [0.5]})
    (tmp_path / "50_eval" / "fig.png").write_bytes(b"\x89PNG")
    reporting._update("50_eval", lambda d: d.setdefault("figures", []).append(
        {"name": "fig", "file": "fig.png", "headline": True}))
    run = {"run_id": "r", "profile": "smoke", "status": "failed", "stages": [
        {"stage": "50_eval", "status": "ok", "duration_s": 1.25, "html": "50_eval.html",
         "output_notebook": "50_eval.ipynb", "stage_dir": "50_eval", "params": {"A": 1}},
        {"stage": "60_x", "status": "failed", "duration_s": 2.0, "stage_dir": "60_x",
         "error": {"cell_index": 4, "execution_count": 3, "cell_first_line": "x = f(<1>)",
                   "exception": "ValueError: bad"}},
    ]}
    index = reporting.write_index(run, tmp_path)
    text = index.read_text()
    assert 'src="50_eval/fig.png"' in text and 'href="50_eval.html"' in text
    assert "cell 4 (In [3]): <code>x = f(&lt;1&gt;)</code>" in text and "ValueError: bad" in text
    assert '<section class="comparison"><h2>50_eval: comparison</h2>' in text
    assert "&lt;m&gt;" in text  # pandas escapes table cells
    assert json.loads((tmp_path / "run.json").read_text())["stages"][1]["error"]["cell_index"] == 4


def test_the_index_gives_the_wall_time_of_stages_side_by_side_and_the_sum_one_after_the_other():
    side = {"stages": [{"stage": "10_a", "started_s": 0.0, "duration_s": 550.0},
                       {"stage": "20_b", "started_s": 0.0, "duration_s": 470.0},
                       {"stage": "30_c", "started_s": 550.5, "duration_s": 1244.5}]}
    assert reporting.wall_seconds(side) == 1795.0 and reporting.total_seconds(side) == 2264.5
    assert reporting._time_text(side) == "wall 1795.0 s (29.9 min), stages side by side adding up to 2264.5 s"
    serial = {"stages": [{"stage": "10_a", "started_s": 0.0, "duration_s": 60.0},
                         {"stage": "20_b", "started_s": 60.2, "duration_s": 30.0}]}
    assert reporting._time_text(serial) == "total 90.0 s (1.5 min)"  # the gaps between kernels are not stages' time
    assert reporting._time_text({"stages": [{"stage": "10_a", "duration_s": 6.0}]}) == "total 6.0 s (0.1 min)"


# --------------------------------------------------------------------------- runner: checks


def _write_profile(root: Path, stem: str, profile: str, text: str) -> None:
    (root / stem).mkdir(parents=True, exist_ok=True)
    (root / stem / f"{profile}.yaml").write_text(text)


def test_unknown_parameter_is_an_error_before_anything_runs(tmp_path):
    reports = tmp_path / "reports"
    with pytest.raises(ParameterError) as info:
        runner.run("smoke", only=["00"], overrides=["NOPE=1"], notebooks_dir=FIXTURES,
                   reports_dir=reports, params_root=tmp_path / "params", echo=None)
    msg = str(info.value)
    assert "NOPE" in msg and "00_ok" in msg and "known: LABEL, N, PROFILE, SCALE" in msg
    assert not reports.exists()
    # scoped to a notebook that lacks it
    with pytest.raises(ParameterError, match=r"N from -p 20.N=3: .*20_after \(known: PROFILE\)"):
        runner.plan_parameters(hygiene.numbered_notebooks(FIXTURES), "smoke", ["20.N=3"],
                               params_root=tmp_path / "params")


def test_wrong_type_is_an_error(tmp_path):
    with pytest.raises(ParameterError, match="N expects int, got 'abc'"):
        runner.run("smoke", only=["00"], overrides=["N=abc"], notebooks_dir=FIXTURES,
                   reports_dir=tmp_path / "reports", params_root=tmp_path / "params", echo=None)
    assert not (tmp_path / "reports").exists()


def test_profile_files_are_checked(tmp_path):
    nbs = hygiene.numbered_notebooks(FIXTURES, ["00"])
    _write_profile(tmp_path, "00_ok", "cpu", "N: 4\nSCALE: 2\n")
    plan = runner.plan_parameters(nbs, "cpu", params_root=tmp_path)[0]
    assert plan.values == {"PROFILE": "cpu", "N": 4, "SCALE": 2.0}
    _write_profile(tmp_path, "00_ok", "full", "EPOCHS: 4\n")
    with pytest.raises(ParameterError, match=r"EPOCHS from .*full.yaml"):
        runner.plan_parameters(nbs, "full", params_root=tmp_path)
    _write_profile(tmp_path, "00_ok", "smoke", "N: 1.5\n")
    with pytest.raises(ParameterError, match=r"smoke.yaml: parameter N expects int"):
        runner.plan_parameters(nbs, "smoke", params_root=tmp_path)


def test_overrides_apply_where_declared_and_params_file_sections(tmp_path):
    nbs = hygiene.numbered_notebooks(FIXTURES)
    params = tmp_path / "run.yaml"
    params.write_text("SCALE: 3\n10_fail:\n  FAIL: false\n")
    plans = runner.plan_parameters(nbs, "smoke", ["N=7", "20.PROFILE=custom"], params,
                                   params_root=tmp_path / "none")
    values = {p.notebook.stem: p.values for p in plans}
    assert values == {"00_ok": {"PROFILE": "smoke", "SCALE": 3.0, "N": 7},
                      "10_fail": {"PROFILE": "smoke", "FAIL": False},
                      "20_after": {"PROFILE": "custom"}}
    params.write_text("99_missing:\n  A: 1\n")
    with pytest.raises(ParameterError, match="99_missing"):
        runner.plan_parameters(nbs, "smoke", [], params, params_root=tmp_path / "none")


def test_only_prefix_that_matches_nothing_is_an_error():
    assert [p.stem for p in hygiene.numbered_notebooks(FIXTURES, ["00", "20"])] == ["00_ok", "20_after"]
    with pytest.raises(ParameterError, match="--only 70 .*available: 00_ok, 10_fail, 20_after"):
        hygiene.numbered_notebooks(FIXTURES, ["70"])


def test_an_empty_only_is_named_as_such(tmp_path, capsys):
    with pytest.raises(ParameterError, match="--only '' names no notebook: give prefixes such as 00,10"):
        hygiene.numbered_notebooks(FIXTURES, [""])
    code = cli.main(["run", "--profile", "smoke", "--notebooks-dir", str(FIXTURES), "--reports-dir",
                     str(tmp_path / "r"), "--params-dir", str(tmp_path / "p"), "--only", ""])
    err = capsys.readouterr().err
    assert code == 2 and "--only '' names no notebook" in err and "no numbered notebooks" not in err


@pytest.mark.parametrize("override", ["N=-1", "SCALE=-0.5"])
def test_a_negative_count_or_size_is_refused(tmp_path, override):
    nbs = hygiene.numbered_notebooks(FIXTURES, ["00"])
    name, value = override.split("=")
    with pytest.raises(ParameterError, match=f"-p {override}: parameter {name} expects a value >= 0, got {value}"):
        runner.plan_parameters(nbs, "smoke", [override], params_root=tmp_path)
    _write_profile(tmp_path, "00_ok", "cpu", f"{name}: {value}\n")
    with pytest.raises(ParameterError, match=f"cpu.yaml: parameter {name} expects a value >= 0"):
        runner.plan_parameters(nbs, "cpu", params_root=tmp_path)
    assert runner.plan_parameters(nbs, "smoke", [f"{name}=0"], params_root=tmp_path)[0].values[name] == 0


def test_a_parameter_with_a_negative_default_may_stay_negative():
    param = hygiene.Parameter("OFFSET", "int", -3, "signed offset", 1)
    assert hygiene.check_sign(param, -7, "-p OFFSET=-7") == -7


def test_cli_reports_parameter_errors_with_exit_code_2(tmp_path, capsys):
    code = cli.main(["run", "--profile", "smoke", "--notebooks-dir", str(FIXTURES), "--reports-dir",
                     str(tmp_path / "r"), "--params-dir", str(tmp_path / "p"), "-p", "TYPO=1"])
    assert code == 2 and "TYPO" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- runner: execution


@pytest.fixture(autouse=True)
def own_models_dir(tmp_path, monkeypatch):
    """Each test its own saved_models/ (and so its own stage ledger): no stage is reused across tests."""
    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path / "saved_models"))


@pytest.fixture(scope="module")
def keep_going_run(tmp_path_factory):
    """All three fixtures, keep going, with a decoy python3 kernelspec on the Jupyter paths."""
    tmp = tmp_path_factory.mktemp("keep_going")
    decoy = tmp / "decoy"
    (decoy / "kernels" / "python3").mkdir(parents=True)
    (decoy / "kernels" / "python3" / "kernel.json").write_text(json.dumps({
        "argv": [str(tmp / "no-such-python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "decoy", "language": "python"}))
    _write_profile(tmp / "params", "00_ok", "smoke", "N: 4  # from the profile file\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMICDEPTH_MODELS", str(tmp / "saved_models"))
        mp.setenv("JUPYTER_PATH", str(decoy))
        mp.setenv("JUPYTER_DATA_DIR", str(decoy))
        result = runner.run("smoke", overrides=["SCALE=2", "LABEL=001"], run_id="keep",
                            notebooks_dir=FIXTURES, reports_dir=tmp / "reports",
                            params_root=tmp / "params", progress=False, echo=None)
    return result


def test_successful_stage_writes_notebook_html_metrics_and_index(keep_going_run):
    run_dir = keep_going_run.run_dir
    ok = keep_going_run.stage("00")
    assert ok.status == "ok" and ok.duration_s > 0
    assert (run_dir / "00_ok.ipynb").exists() and (run_dir / "00_ok.html").exists()
    assert not list(run_dir.glob(".*partial*"))
    metrics = json.loads((run_dir / "00_ok" / "metrics.json").read_text())
    # N from the profile file, SCALE and LABEL from -p (int widened to float, text kept as text)
    assert metrics["total"] == (0 + 1 + 2 + 3) * 2.0
    assert (metrics["n"], metrics["scale"], metrics["label"]) == (4, 2.0, "001")
    assert metrics["profile"] == "smoke" and metrics["run_id"] == "keep"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed"
    assert record["stages"][0]["params"] == {"PROFILE": "smoke", "N": 4, "SCALE": 2.0, "LABEL": "001"}
    index = (run_dir / "index.html").read_text()
    assert 'src="00_ok/values.png"' in index and (run_dir / "00_ok" / "values.png").exists()
    assert "<th>total</th><td>12</td>" in index
    assert "00_ok: comparison" in index and "0.125" in index
    assert 'href="00_ok.html"' in index and 'href="00_ok.ipynb"' in index


def test_kernel_is_the_runner_interpreter(keep_going_run):
    metrics = json.loads((keep_going_run.run_dir / "00_ok" / "metrics.json").read_text())
    assert Path(metrics["executable"]).resolve() == Path(sys.executable).resolve()
    assert os.path.realpath(metrics["prefix"]) == os.path.realpath(sys.prefix)


def test_failing_stage_keeps_partial_notebook_and_names_the_cell(keep_going_run):
    run_dir = keep_going_run.run_dir
    failed = keep_going_run.stage("10")
    assert failed.status == "failed"
    assert failed.error["cell_index"] == 3 and failed.error["cell_first_line"] == "if FAIL:"
    assert failed.error["exception"] == "ValueError: fixture failure"
    partial = hygiene.read_notebook(run_dir / "10_fail.ipynb")
    last = partial.cells[-1]
    assert "after_failure" in last.source and last.execution_count is None and not last.outputs
    assert (run_dir / "10_fail.html").exists()
    assert reporting.read_metrics(run_dir / "10_fail") == {"before_failure": 1}
    index = (run_dir / "index.html").read_text()
    assert "cell 3 (In [" in index and "<code>if FAIL:</code>" in index
    assert "ValueError: fixture failure" in index


def test_keep_going_runs_the_next_stage(keep_going_run):
    after = keep_going_run.stage("20")
    assert after.status == "ok"
    assert reporting.read_metrics(keep_going_run.run_dir / "20_after") == {"ran": 1, "profile": "smoke"}
    assert not keep_going_run.ok


def test_stop_on_error_skips_the_rest_and_only_filters(tmp_path, capsys):
    reports = tmp_path / "reports"
    code = cli.main(["run", "--profile", "smoke", "--only", "10,20", "--stop-on-error", "--no-progress",
                     "--run-id", "stop", "--notebooks-dir", str(FIXTURES), "--reports-dir", str(reports),
                     "--params-dir", str(tmp_path / "params")])
    assert code == 1 and "failed: 10_fail" in capsys.readouterr().err
    record = json.loads((reports / "stop" / "run.json").read_text())
    assert [(s["stage"], s["status"]) for s in record["stages"]] == [("10_fail", "failed"),
                                                                     ("20_after", "not_run")]
    assert not (reports / "stop" / "20_after.ipynb").exists()
    assert not (reports / "stop" / "00_ok.ipynb").exists()
    assert "not_run" in (reports / "stop" / "index.html").read_text()


def test_rerun_into_the_same_folder_keeps_other_stages_and_drops_stale_metrics(tmp_path):
    reports = tmp_path / "reports"
    common = dict(notebooks_dir=FIXTURES, reports_dir=reports, params_root=tmp_path / "params",
                  run_id="again", progress=False, echo=None)
    first = runner.run("smoke", only=["10", "20"], keep_going=False, **common)
    assert [s.status for s in first.stages] == ["failed", "not_run"]
    (reports / "again" / "20_after").mkdir(exist_ok=True)
    (reports / "again" / "20_after" / "metrics.json").write_text('{"stale": 1}')
    second = runner.run("smoke", only=["20"], **common)
    assert second.ok and [s.stage for s in second.stages] == ["20_after"]
    record = json.loads((reports / "again" / "run.json").read_text())
    assert [(s["stage"], s["status"]) for s in record["stages"]] == [("10_fail", "failed"), ("20_after", "ok")]
    assert reporting.read_metrics(reports / "again" / "20_after") == {"ran": 1, "profile": "smoke"}
    assert "if FAIL:" in (reports / "again" / "index.html").read_text()



@pytest.mark.slow
def test_a_stage_with_an_unchanged_fingerprint_is_reused_and_force_reruns_it_and_its_downstream(tmp_path):
    reports = tmp_path / "reports"
    common = dict(notebooks_dir=FIXTURES, reports_dir=reports, params_root=tmp_path / "params", progress=False,
                  echo=None, only=["00", "20"])
    first = runner.run("smoke", run_id="first", **common)
    assert [s.status for s in first.stages] == ["ok", "ok"] and first.stages[0].fingerprint

    lines = []
    second = runner.run("smoke", run_id="second", **{**common, "echo": lambda *a, **k: lines.append(a[0])})
    assert second.ok and [s.status for s in second.stages] == ["reused", "reused"]
    assert [s.fingerprint for s in second.stages] == [s.fingerprint for s in first.stages]
    assert not (reports / "second" / "00_ok.ipynb").exists()  # nothing executed
    assert any("00_ok: reused (run first" in line for line in lines)
    index = (reports / "second" / "index.html").read_text()
    assert 'href="../first/00_ok.html"' in index and "from run first" in index
    assert "<th>total</th>" in index  # the reused stage's key metrics are shown

    # A changed parameter changes the fingerprint of the stages that declare it.
    third = runner.run("smoke", run_id="third", **{**common, "overrides": ["SCALE=3"]})
    assert [s.status for s in third.stages] == ["ok", "reused"]
    # --force 00 reruns 00 and its downstream stages (20 loads nothing from 00: it stays reused).
    forced = runner.run("smoke", run_id="forced", force=["00"], **common)
    assert [s.status for s in forced.stages] == ["ok", "reused"]
    assert [s.status for s in runner.run("smoke", run_id="all", force=True, **common).stages] == ["ok", "ok"]

    with pytest.raises(ParameterError, match="--force 30: not a selected stage number"):
        runner.run("smoke", run_id="typo", force=["30"], **common)

    # Deleting a reused report makes the stage run again.
    shutil.rmtree(reports / "all")
    again = runner.run("smoke", run_id="again", **common)
    assert [s.status for s in again.stages] == ["ok", "ok"]


def test_downstream_closure_follows_the_stage_graph():
    from comicdepth_tf.chain import stage_reuse

    stages = ["00_explore_data", "10_depth_irv2", "20_text_unet", "30_cyclegan", "40_comics_depth", "50_evaluate",
              "60_fg_mask_depth"]
    assert stage_reuse.downstream_closure(["30"], stages) == {"30", "40", "50"}
    assert stage_reuse.downstream_closure(["10"], stages) == {"10", "30", "40", "50"}
    assert stage_reuse.downstream_closure(["60"], stages) == {"60"}


def test_an_interrupted_stage_leaves_no_partial_notebook(tmp_path, monkeypatch):
    import papermill

    def interrupted(_input, output, **_kwargs):
        Path(output).write_text("{}")  # papermill writes the notebook as cells run
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    reports = tmp_path / "reports"
    with pytest.raises(KeyboardInterrupt):
        runner.run("smoke", only=["00"], notebooks_dir=FIXTURES, reports_dir=reports, run_id="r",
                   params_root=tmp_path / "params", echo=None, reuse=False)
    assert sorted(p.name for p in (reports / "r").iterdir() if p.name.startswith(".")) == []
    assert (reports / "r" / "00_ok.ipynb").read_text() == "{}"  # what ran is kept as the stage's notebook


def test_the_console_shows_training_lines_and_time_estimates_and_no_kernel_noise(tmp_path):
    common = dict(notebooks_dir=FIXTURES, reports_dir=tmp_path / "reports", params_root=tmp_path / "params",
                  only=["20"], progress=False, reuse=False)
    first, second = [], []
    runner.run("smoke", run_id="first", echo=lambda line, **_: first.append(line), **common)
    assert "times: no earlier run of profile smoke" in first[1]
    assert "    training fixture/run: epochs 1-1" in first and "    epoch 1/1  loss 0.5  0.1 s" in first
    assert not any("stays in the report" in ln or "without encryption" in ln for ln in first)
    assert any(ln.startswith("[1/1] 20_after: ok in ") and "· elapsed 0:" in ln and "nothing remaining" in ln
               for ln in first)
    # The kernel's own output (ipykernel's warnings, TensorFlow's start-up lines) goes to its log.
    assert (tmp_path / "reports" / "first" / "20_after" / runner.KERNEL_LOG).is_file()
    runner.run("smoke", run_id="second", echo=lambda line, **_: second.append(line), **common)
    assert "estimates from the last run of profile smoke that executed each stage (first)" in second[1]
    assert any(ln.startswith("[1/1] 20_after ... (usually ~0:") for ln in second)


def test_remaining_time_sums_the_usual_times_of_the_stages_left():
    usual = {"10_a": 60.0, "30_c": 90.0}
    assert runner.remaining_text(["10_a", "30_c"], usual) == "remaining ~2:30 (estimate)"
    assert runner.remaining_text(["10_a", "20_b"], usual) == "remaining ~1:00 (estimate), 1 stage(s) never timed"
    assert runner.remaining_text(["20_b"], usual) == "remaining: unknown"
    assert runner.remaining_text([], usual) == "nothing remaining"


_SLEEPER = {
    "params": 'PROFILE: str = "smoke"  # smoke | cpu | full\nSECONDS: float = 2.0  # how long the stage works\n'
              'MEGABYTES: int = 0  # memory it holds meanwhile',
    "code": "import os, time\nfrom comicdepth_tf.chain import reporting\n"
            "start = time.time()\nheld = bytearray(MEGABYTES * 1_000_000)\nheld[::4096] = b'x' * len(held[::4096])\n"
            "time.sleep(SECONDS)\n"
            "folder = os.environ['COMICDEPTH_STAGE_DIR']\n"
            "reporting.record_metrics(os.path.basename(folder), "
            "{'start': start, 'end': time.time(), 'stage_dir': folder, 'cwd': os.getcwd(), 'nice': os.nice(0),\n"
            " 'autogroup': open('/proc/self/autogroup').read() if os.path.exists('/proc/self/autogroup') else '',\n"
            " 'gpu_growth': os.environ.get('TF_FORCE_GPU_ALLOW_GROWTH')})",
}


def _sleepers(folder: Path, stems: list[str]) -> Path:
    """Notebooks that hold ``MEGABYTES`` of memory for ``SECONDS`` and record when they ran (no TensorFlow)."""
    import nbformat

    folder.mkdir(parents=True)
    for stem in stems:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(_SLEEPER["params"], metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(_SLEEPER["code"])]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{stem}.ipynb")
    return folder


def _windows(result) -> dict[str, tuple[float, float]]:
    """Stage number -> (start, end) of its work, as the kernel recorded it."""
    out = {}
    for s in result.stages:
        m = json.loads((result.run_dir / s.stage / "metrics.json").read_text())
        out[s.stage[:2]] = (m["start"], m["end"])
    return out


def test_stages_run_side_by_side_after_their_upstream_each_with_its_own_environment_and_memory(tmp_path,
                                                                                               monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    notebooks = _sleepers(tmp_path / "notebooks", ["10_a", "20_b", "30_c"])  # 30 loads from 10 (UPSTREAM)
    common = dict(notebooks_dir=notebooks, reports_dir=tmp_path / "reports", params_root=tmp_path / "params",
                  progress=False, echo=None, reuse=False,
                  # 10 works 5 s longer than 20, so that 20 ends first even when its niced kernel starts
                  # slowly beside 10's (a 2 s margin once failed on a loaded machine).
                  overrides=["SECONDS=1", "10.SECONDS=6", "10.MEGABYTES=300"])
    first = runner.run("smoke", run_id="first", jobs=2, max_memory_gb=100, **common)
    ran = _windows(first)  # no stage's peak memory is known yet: each runs alone
    assert ran["10"][1] <= ran["20"][0] and ran["20"][1] <= ran["30"][0], ran
    lines: list[str] = []
    result = runner.run("smoke", run_id="side", jobs=2, max_memory_gb=100,
                        **{**common, "echo": lambda *a, **k: lines.append(a[0])})
    assert result.ok
    ran = _windows(result)
    assert ran["20"][0] < ran["10"][1] and ran["10"][0] < ran["20"][1]  # 10 and 20 overlapped
    assert ran["30"][0] >= ran["10"][1]  # 30 waited for the stage it loads from
    for s in result.stages:
        metrics = json.loads((result.run_dir / s.stage / "metrics.json").read_text())
        assert Path(metrics["stage_dir"]) == result.run_dir / s.stage  # each kernel its own COMICDEPTH_STAGE_DIR
        assert Path(metrics["cwd"]) == notebooks
        assert metrics["gpu_growth"] == "true"  # two kernels can share a GPU's memory
        assert metrics["nice"] == min(19, os.nice(0) + s.nice)  # the kernel runs at the niceness it was given
        if metrics["autogroup"]:  # and so does its session, which is what counts between sessions on Linux
            assert metrics["autogroup"].split()[-1] == str(s.nice), metrics["autogroup"]
    # 20 ran beside 10, which heads the longer chain (10 -> 30): 20 yields the CPU to it.
    assert [s.nice for s in result.stages] == [0, runner.SIDE_NICE, 0]
    if Path("/proc/self/status").exists():  # each stage's peak is its own kernel's, not the sum
        peaks = {s.stage[:2]: s.peak_memory_mb for s in result.stages}
        assert peaks["10"] > 300 and peaks["20"] < 250 and peaks["30"] < 250, peaks
    ten, thirty = result.stage("10"), result.stage("30")
    assert thirty.started_s >= ten.started_s + ten.duration_s - 0.5  # the runner's clock agrees
    assert any(line.startswith("[1/3] 10_a: ok in") for line in lines), lines

    # With the peaks of that run known, a budget that fits one stage runs them one after the other.
    alone = runner.run("smoke", run_id="alone", jobs=2, max_memory_gb=0.001, **common)
    ran = _windows(alone)
    order = sorted(ran, key=lambda n: ran[n][0])
    assert all(ran[a][1] <= ran[b][0] for a, b in zip(order, order[1:])), ran
    # One stage at a time, a kernel keeps TensorFlow's GPU memory default.
    serial = runner.run("smoke", run_id="serial", only=["20"], **{**common, "overrides": ["SECONDS=1"]})
    assert json.loads((serial.run_dir / "20_b" / "metrics.json").read_text())["gpu_growth"] is None


def test_the_longest_chain_starts_first():
    tails = runner.critical_paths(["00", "10", "20", "30", "40", "50", "60"],
                                  {"00": 10, "10": 355, "20": 125, "30": 648, "40": 538, "50": 53, "60": 461})
    assert tails["10"] == 355 + 648 + 538 + 53 and tails["60"] == 461 and tails["20"] == 125 + 53
    assert max(tails, key=tails.get) == "10"


def test_the_reference_chain_is_the_newest_of_this_kind_of_cpu(tmp_path):
    def record(name, recorded, **extra):
        body = {"profile": "cpu", "recorded": recorded, "stages": {"10": 1.0}, **extra}
        (tmp_path / name).write_text(json.dumps(body), encoding="utf-8")

    record("old-bf16.json", "2026-12-06T01:00:00", cpu_bfloat16=True)
    record("new-float32.json", "2026-12-07T01:00:00", cpu_bfloat16=False)
    assert runner.reference_chain_file("cpu", tmp_path, bfloat16=True).name == "old-bf16.json"
    assert runner.reference_chain_file("cpu", tmp_path, bfloat16=False).name == "new-float32.json"
    record("newest-unknown.json", "2026-12-08T01:00:00")  # no field: a record of either kind
    assert runner.reference_chain_file("cpu", tmp_path, bfloat16=True).name == "newest-unknown.json"
    assert runner.reference_chain_file("smoke", tmp_path) is None


def test_without_earlier_runs_the_scheduler_uses_the_checkouts_reference_chain(tmp_path):
    reference = runner.reference_chain("cpu")  # bench/chains/ of this checkout
    assert reference["profile"] == "cpu" and reference["peak_memory_mb"]
    peaks = runner.expected_values(tmp_path / "no-reports", "cpu")
    durations = runner.expected_values(tmp_path / "no-reports", "cpu", key="duration_s")
    assert peaks == reference["peak_memory_mb"] and durations == reference["stages"]
    assert runner.expected_values(tmp_path / "no-reports", "smoke") == {}  # none recorded: those stages run alone
