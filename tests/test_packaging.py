"""The set-up files agree: environment.yml lists pyproject's dependencies; CI runs the README's test command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"]) + list(data["project"]["optional-dependencies"]["test"])
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml must have exactly one pip: section"
    reqs = [r for r in pip_lists[0] if not r.startswith("-e")]
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_yml_pins_python_311_and_installs_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_list


def test_name_parser_handles_specifiers():
    assert _name("opencv-python-headless>=4.8") == "opencv-python-headless"
    assert _name("tensorflow[and-cuda]>=2.16") == "tensorflow"
    assert _name("PyYAML==6.0") == "pyyaml"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(python3 tasks\.py \w+)\s*$", readme, flags=re.M)
    assert commands[:2] == ["python3 tasks.py run", "python3 tasks.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in ci


def test_console_script_points_at_cli_main():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["scripts"]["comicdepth"] == "comicdepth_tf.cli:main"
    from comicdepth_tf import cli

    assert callable(cli.main)


@pytest.fixture
def tasks():
    """``tasks.py`` (the set-up-and-go script beside pyproject.toml), imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_test_command_runs_whole_files_on_one_worker_per_core_unless_told_otherwise(tasks, monkeypatch):
    monkeypatch.setattr(tasks, "cores", lambda: 2)
    assert tasks.test_workers(["-q", "-rs"]) == ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]
    monkeypatch.setattr(tasks, "cores", lambda: 64)  # a GPU host: capped, each worker holds models
    assert tasks.test_workers([]) == ["-n", "4", "--dist", "loadfile", "--no-loadscope-reorder"]
    monkeypatch.setattr(tasks, "cores", lambda: 1)
    assert tasks.test_workers([]) == []
    for own in (["-n", "0"], ["-n3"], ["--numprocesses=1"], ["-p", "no:xdist"], ["--dist", "load"]):
        assert tasks.test_workers(own) == [], own


def test_cores_are_the_ones_this_process_may_use_not_the_hosts(tasks, monkeypatch):
    monkeypatch.setattr(tasks.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(tasks.os, "sched_getaffinity", lambda pid: {3, 7}, raising=False)
    assert tasks.cores() == 2
    monkeypatch.delattr(tasks.os, "sched_getaffinity")
    assert tasks.cores() == 64


def test_the_smoke_chain_is_the_first_file_handed_to_a_worker():
    # With --no-loadscope-reorder xdist hands out files in collection order: the smoke chain, the
    # longest file, must lead it (tests/conftest.py), whatever order the files are named in.
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                           "-p", "no:cacheprovider", "tests/test_layers.py", "tests/test_notebooks.py"],
                          cwd=ROOT, capture_output=True, text=True)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0 and ids, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert ids[0].startswith("tests/test_notebooks.py::test_notebook_runs_on_smoke_profile"), ids[:3]


def test_the_main_command_runs_two_stages_side_by_side_within_half_the_old_memory(tasks, monkeypatch):
    monkeypatch.setattr(tasks, "cores", lambda: 2)
    assert tasks.side_by_side(["--profile", "cpu"]) == ["--jobs", "2", "--max-memory", "5.6"]
    for own in (["--jobs", "1"], ["--jobs=3"], ["--max-memory", "20"]):
        assert tasks.side_by_side(own) == [], own
    monkeypatch.setattr(tasks, "cores", lambda: 1)
    assert tasks.side_by_side([]) == []
