"""Outside the checkout: the wheel, a lone notebook (as Colab opens it) and an empty folder.

A wheel is built from this checkout and installed into a fresh virtual environment that has
no comicdepth_tf. Its third-party dependencies are borrowed from the test environment (a
path to a folder of links to its site-packages, leaving comicdepth_tf's own entries out), so
nothing is downloaded: what is tested is our package — the files the wheel carries, where
the installed package looks for notebooks, parameters, data, models and reports, and the
notebooks' bootstrap cell — not pip's resolver.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.notebook
_OWN = ("comicdepth_tf", "__editable__", "_comicdepth")


def _run(cmd, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT],
         cwd=out, env=os.environ.copy())
    (path,) = out.glob("comicdepth_tf-*.whl")
    return path


def _borrowed_dependencies(folder: Path) -> Path:
    folder.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(_OWN) and entry.suffix != ".pth":
            (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    """``(python, env)`` of a new virtual environment without comicdepth_tf."""
    root = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=root, env=os.environ.copy()).stdout.strip())
    (purelib / "_borrowed_dependencies.pth").write_text(f"{_borrowed_dependencies(root / 'deps')}\n")
    kernel = root / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps(
        {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "fresh venv", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMICDEPTH_", "PYTHON", "JUPYTER"))}
    env.update(JUPYTER_PATH=str(root / "jupyter"), TF_CPP_MIN_LOG_LEVEL="2")
    return python, env


@pytest.mark.parametrize("stem", ["00_explore_data"])  # 10 also passes (4 min here): too slow for CI
def test_a_lone_notebook_installs_the_package_and_makes_its_data(stem, wheel, fresh_env, tmp_path):
    python, env = fresh_env
    _run([python, "-m", "pip", "uninstall", "-q", "-y", "comicdepth_tf"], tmp_path, env)  # as a fresh runtime
    probe = [python, "-c", "import importlib.util; print(importlib.util.find_spec('comicdepth_tf'))"]
    assert _run(probe, tmp_path, env).stdout.strip() == "None"
    shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", tmp_path)
    _run([python, "-m", "papermill", f"{stem}.ipynb", "out.ipynb", "-p", "PROFILE", "smoke",
          "-k", "python3", "--no-progress-bar"], tmp_path, {**env, "COMICDEPTH_PIP_SPEC": str(wheel)})
    installed = _run([python, "-c", "import comicdepth_tf; print(comicdepth_tf.__file__)"], tmp_path, env).stdout
    assert Path(installed.strip()).is_relative_to(python.parent.parent), installed
    assert (tmp_path / "data" / "embedded" / "smoke" / "manifest.json").is_file()
    assert json.loads((tmp_path / "reports" / "interactive" / stem / "metrics.json").read_text())


def test_an_installed_wheel_runs_a_stage_in_an_empty_folder(wheel, fresh_env, tmp_path):
    python, env = fresh_env
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], tmp_path, env)
    home = tmp_path / "home"
    home.mkdir()
    comicdepth = python.parent / "comicdepth"
    _run([comicdepth, "run", "--profile", "smoke", "--only", "00", "--run-id", "wheel", "--no-progress"], home, env)
    run = json.loads((home / "reports" / "wheel" / "run.json").read_text())
    assert [s["status"] for s in run["stages"]] == ["ok"]
    assert Path(run["notebooks_dir"]).is_relative_to(python.parent.parent)  # the wheel's own notebooks
    assert (home / "reports" / "wheel" / "index.html").is_file()
    assert (home / "data" / "embedded" / "smoke" / "manifest.json").is_file()
    assert sorted(os.listdir(home)) == ["data", "reports"]


def test_the_notebooks_bootstrap_from_the_repository_named_in_pyproject():
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    cells = set()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        cells.add(code[0])
    assert len(cells) == 1, "every notebook starts with the same bootstrap cell"
    assert f'"git+{url}"' in cells.pop()


def test_the_wheel_carries_every_package_notebook_and_profile(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "comicdepth_tf").rglob("*.py")}
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)[:5]}"
    for folder, pattern in (("notebooks", "*.ipynb"), ("params", "*/*.yaml")):
        shipped = {f"comicdepth_tf/{folder}/{p.relative_to(ROOT / folder)}" for p in (ROOT / folder).glob(pattern)}
        assert shipped and shipped <= names, f"missing from the wheel: {sorted(shipped - names)[:5]}"
