"""Notebooks are committed clean and follow the parameters-cell conventions.

Every ``notebooks/*.ipynb`` must pass :func:`comicdepth_tf.chain.hygiene.check_notebook`;
the checker itself is tested on good and bad notebooks written into tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from comicdepth_tf import paths
from comicdepth_tf.chain import hygiene

NOTEBOOKS = sorted(paths.notebooks_dir().glob("*.ipynb"))
FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"

GOOD_PARAMS = ('PROFILE: str = "cpu"  # smoke | cpu | full\n'
               "IMAGE_SIZE: int = 128  # px\n"
               'DATA_DIR: str = ""  # empty: embedded dataset\n'
               "LR: float = 1e-3  # learning rate\n"
               "SIZES: list[int] = [1, 2]  # pyramid levels\n"
               "OFFSET: int = -1  # signed literal")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_repository_notebook_is_clean(notebook):
    problems = hygiene.check_notebook(notebook)
    assert problems == [], f"{notebook.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("notebook", sorted(FIXTURES.glob("*.ipynb")), ids=lambda p: p.name)
def test_runner_fixture_notebooks_are_clean(notebook, tmp_path):
    assert hygiene.check_notebook(notebook, params_root=tmp_path, require_smoke_profile=False) == []


# --------------------------------------------------------------------------- the checker


def _params_cell(source: str):
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


def _write(tmp_path: Path, cells, stem: str = "10_demo", kernel: str = "python3",
           smoke: str | None = "IMAGE_SIZE: 32\n") -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    path = tmp_path / "notebooks" / f"{stem}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    if smoke is not None:
        (tmp_path / "params" / stem).mkdir(parents=True, exist_ok=True)
        (tmp_path / "params" / stem / "smoke.yaml").write_text(smoke)
    return path


def _good_cells(extra=()):
    return [
        new_markdown_cell("# Demo"),
        new_code_cell("%pip install -q comicdepth_tf  # Colab\n!ls"),
        _params_cell(GOOD_PARAMS),
        new_code_cell("from comicdepth_tf import config\ncfg = config.freeze(PROFILE=PROFILE)"),
        new_code_cell("def plot_pair(a, b):\n    fig, ax = plt.subplots(1, 2)\n    ax[0].imshow(a)\n"
                      "    ax[1].imshow(b)\n    return fig"),
        *extra,
    ]


def _check(tmp_path, path):
    return hygiene.check_notebook(path, params_root=tmp_path / "params")


def test_clean_notebook_has_no_problems(tmp_path):
    assert _check(tmp_path, _write(tmp_path, _good_cells())) == []


def test_read_parameters_gives_annotation_default_and_comment(tmp_path):
    params = hygiene.read_parameters(_write(tmp_path, _good_cells()))
    assert list(params) == ["PROFILE", "IMAGE_SIZE", "DATA_DIR", "LR", "SIZES", "OFFSET"]
    p = params["IMAGE_SIZE"]
    assert (p.annotation, p.default, p.comment, p.line) == ("int", 128, "px", 2)
    assert params["SIZES"].annotation == "list[int]" and params["OFFSET"].default == -1


def test_outputs_execution_counts_and_kernel_are_reported(tmp_path):
    cells = _good_cells()
    cells[3].outputs = [new_output("stream", name="stdout", text="hi\n")]
    cells[3].execution_count = 7
    problems = _check(tmp_path, _write(tmp_path, cells, kernel="conda-env-foo"))
    assert any("kernelspec name is 'conda-env-foo'" in p for p in problems)
    assert any("cell 3: has outputs" in p for p in problems)
    assert any("cell 3: has execution count 7" in p for p in problems)


def test_strip_outputs_cleans_an_executed_notebook(tmp_path):
    cells = _good_cells()
    cells[3].outputs = [new_output("stream", name="stdout", text="hi\n")]
    cells[3].execution_count = 2
    cells[3].metadata["papermill"] = {"duration": 1.0}
    path = _write(tmp_path, cells)
    assert hygiene.strip_outputs(path) is True
    assert _check(tmp_path, path) == []
    nb = nbformat.read(path, as_version=4)
    assert "papermill" not in nb.cells[3].metadata and nb.cells[2].metadata["tags"] == ["parameters"]
    assert hygiene.strip_outputs(path) is False


@pytest.mark.parametrize("source, expected", [
    ('PROFILE: str = "cpu"  # p\nSIZE: int = 64  # px\nHALF: int = SIZE // 2  # derived',
     "HALF = 'SIZE // 2' is not a literal"),
    ('PROFILE: str = "cpu"  # p\nSIZE = 64  # px', "only annotated assignments"),
    ('PROFILE: str = "cpu"  # p\nSIZE: int = 64', "SIZE has no trailing comment"),
    ('PROFILE: str = "cpu"  # p\nimport os', "only annotated assignments"),
    ('PROFILE: str = "cpu"  # p\nSIZE: int = "64"  # px', "SIZE expects int"),
    ('PROFILE: str = "cpu"  # p\nA: np.ndarray = 1  # x', "not supported"),
    ('SIZE: int = 64  # px', "no PROFILE"),
    ('PROFILE: int = 1  # p', "PROFILE is annotated 'int'"),
])
def test_bad_parameters_cells(tmp_path, source, expected):
    cells = [_params_cell(source), new_code_cell("x = 1")]
    problems = _check(tmp_path, _write(tmp_path, cells, smoke=""))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("n_cells", [0, 2])
def test_exactly_one_parameters_cell(tmp_path, n_cells):
    cells = [_params_cell('PROFILE: str = "cpu"  # p') for _ in range(n_cells)] + [new_code_cell("x = 1")]
    problems = _check(tmp_path, _write(tmp_path, cells, smoke=""))
    assert any(f"exactly one code cell tagged 'parameters', found {n_cells}" in p for p in problems)


@pytest.mark.parametrize("code, expected", [
    ("class Model:\n    pass", "defines class Model"),
    ("def train(x):\n    return x", "defines function train"),
    ("def plot_big(x):\n" + "    x += 1\n" * 15 + "    return x", "defines function plot_big (17 lines)"),
])
def test_logic_defined_in_notebook_cells(tmp_path, code, expected):
    problems = _check(tmp_path, _write(tmp_path, _good_cells([new_code_cell(code)])))
    assert any(expected in p for p in problems), problems


def test_profile_files_must_exist_and_name_real_parameters(tmp_path):
    problems = _check(tmp_path, _write(tmp_path, _good_cells(), smoke=None))
    assert any("missing profile file" in p and "smoke.yaml" in p for p in problems)

    path = _write(tmp_path, _good_cells(), smoke="IMAGE_SIZ: 32\n")
    (tmp_path / "params" / "10_demo" / "cpu.yaml").write_text("IMAGE_SIZE: big\n")
    problems = _check(tmp_path, path)
    assert any("smoke.yaml: unknown parameters IMAGE_SIZ" in p and "known: DATA_DIR" in p for p in problems)
    assert any("cpu.yaml: parameter IMAGE_SIZE expects int" in p for p in problems)


def test_unreadable_notebook_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "00_broken.ipynb"
    path.write_text("{not json")
    problems = hygiene.check_notebook(path, params_root=tmp_path)
    assert len(problems) == 1 and "00_broken.ipynb" in problems[0]


def test_command_line_check_and_strip(tmp_path, capsys):
    path = _write(tmp_path, _good_cells())
    assert hygiene.main(["strip", str(path)]) == 0
    assert "clean" in capsys.readouterr().out
    bad = _write(tmp_path, [new_code_cell("x = 1")], stem="20_bad", smoke=None)
    assert hygiene.main(["check", str(bad)]) == 1
    assert "exactly one code cell tagged 'parameters'" in capsys.readouterr().out


NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796566512.441467   30102 port.cc:153] oneDNN custom operations are on. You may see …\n",
    "E0000 00:00:1796566513.267607   30102 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.\n",
    "/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.\n",
    "  from .autonotebook import tqdm as notebook_tqdm\n",
]


def test_console_noise_leaves_executed_notebooks_and_real_warnings_stay(tmp_path):
    real = "/x/foo.py:3: UserWarning: the mask is empty\nE0000 00:00:1.2   7 conv_ops.cc:9] a real kernel error\n"
    cell = new_code_cell("x = 1", outputs=[new_output("stream", name="stderr", text="".join(NOISE)),
                                          new_output("stream", name="stderr", text=NOISE[0] + real),
                                          new_output("stream", name="stdout", text=NOISE[1])])
    path = _write(tmp_path, [cell])
    assert hygiene.strip_console_noise(path) == len(NOISE) + 1
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o.name, o.text) for o in outputs] == [("stderr", real), ("stdout", NOISE[1])]  # stdout is the notebook's
    assert hygiene.strip_console_noise(path) == 0
