"""Each notebook imports its stage module, ``viz`` and the chain's ``config`` and ``reporting``, nothing else (#18),
and builds its configuration from the parameters cell in one call (each parameter written twice, not three times).

Read from the notebooks' code cells with ``ast`` (no notebook runs). The bootstrap cell (the one that
pip-installs the package when it is missing, ``COMICDEPTH_PIP_SPEC``) imports the standard library only
and is left out. What a notebook calls from the library goes through its stage module, which re-exports it.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: The stage module of each notebook, by its number.
STAGES = {
    "00": "comicdepth_tf.stages.explore",
    "10": "comicdepth_tf.stages.depth",
    "20": "comicdepth_tf.stages.text",
    "30": "comicdepth_tf.stages.cyclegan",
    "40": "comicdepth_tf.stages.comics_depth",
    "50": "comicdepth_tf.stages.evaluate",
    "60": "comicdepth_tf.stages.fg",
}
#: What every notebook may import besides its stage module.
SHARED = {"comicdepth_tf.viz", "comicdepth_tf.chain.config", "comicdepth_tf.chain.reporting"}
BOOTSTRAP_MARK = "COMICDEPTH_PIP_SPEC"


def _notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _code_cells(path: Path) -> list[tuple[int, ast.Module]]:
    """``(cell index, parsed source)`` of every code cell but the bootstrap cell."""
    cells = []
    for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if BOOTSTRAP_MARK in source:
            continue
        # IPython magics and shell lines are not Python: blank them (the line numbers stay right).
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        cells.append((index, ast.parse("\n".join(lines), f"{path.name} cell {index}")))
    return cells


def _imported(tree: ast.AST) -> list[tuple[str, str, int]]:
    """``(module, local name, line)`` of every ``comicdepth_tf`` module or name imported in ``tree``.

    ``from comicdepth_tf.stages import depth as de`` gives ``comicdepth_tf.stages.depth``;
    ``from comicdepth_tf.paths import real_data_dir`` gives ``comicdepth_tf.paths.real_data_dir``
    (a name from a module other than the allowed ones is refused like the module).
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "comicdepth_tf":
                    found.append((alias.name, alias.asname or alias.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "comicdepth_tf":
            for alias in node.names:
                found.append((f"{node.module}.{alias.name}", alias.asname or alias.name, node.lineno))
    return found


def _stage_of(path: Path) -> str:
    number = path.name[:2]
    assert number in STAGES, f"{path.name}: no stage module is known for notebook {number}; add it to STAGES"
    return STAGES[number]


def test_every_notebook_has_a_stage_module():
    assert sorted(p.name[:2] for p in _notebook_paths()) == sorted(STAGES)


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda p: p.stem)
def test_a_notebook_imports_its_stage_module_and_the_shared_modules_only(path):
    allowed = SHARED | {_stage_of(path)}
    imported, offending = set(), []
    for index, tree in _code_cells(path):
        for module, _, line in _imported(tree):
            imported.add(module)
            if module not in allowed:
                offending.append(f"cell {index} line {line}: {module}")
    assert not offending, (
        f"{path.name} imports {', '.join(offending)}; a notebook imports only {sorted(allowed)}: "
        "re-export what it calls from its stage module"
    )
    assert _stage_of(path) in imported, f"{path.name} never imports its stage module {_stage_of(path)}"


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda p: p.stem)
def test_what_a_notebook_reads_from_its_stage_module_exists(path):
    """Every ``<stage alias>.<name>`` of the notebook is an attribute of the stage module (no TensorFlow needed)."""
    stage = _stage_of(path)
    trees = _code_cells(path)
    aliases = {name for tree in (t for _, t in trees) for module, name, _ in _imported(tree) if module == stage}
    module = importlib.import_module(stage)
    missing = sorted({f"cell {index}: {node.value.id}.{node.attr}"
                      for index, tree in trees for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id in aliases and not hasattr(module, node.attr)})
    assert not missing, f"{path.name} reads names its stage module {stage} does not have: {missing}"


def _binds_upper_case(tree: ast.AST) -> list[str]:
    """Upper-case names a statement binds (``STAGE = …``): ``config.from_namespace`` would take them as parameters."""
    return sorted({node.id for node in ast.walk(tree)
                   if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id.isupper()})


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda p: p.stem)
def test_the_configuration_is_the_parameters_cell_frozen_in_one_call(path):
    from comicdepth_tf.chain import config, hygiene

    nb = hygiene.read_notebook(path)
    (params_index,) = hygiene.parameters_cells(nb)
    declared = list(hygiene.read_parameters(nb))
    namespace: dict = {}
    exec(compile(nb.cells[params_index].source, f"{path.name} parameters", "exec"), namespace)  # literals only
    assert list(config.from_namespace(namespace)) == declared

    calls, before = [], []
    for index, tree in _code_cells(path):
        if index == params_index:
            continue
        for statement in tree.body:
            source = ast.unparse(statement)
            if "config.freeze(" in source:
                pytest.fail(f"{path.name} cell {index}: config.freeze lists the parameters a third time; "
                            "use config.from_namespace(globals())")
            if "config.from_namespace(globals())" in source:
                calls.append(index)
            elif not calls:
                before += _binds_upper_case(statement)
    assert len(calls) == 1, f"{path.name}: config.from_namespace(globals()) called {len(calls)} times, expected once"
    assert not before, (f"{path.name} binds {before} before config.from_namespace(globals()), "
                        "which would take them as parameters")


#: The notebooks that train one model, and the stage-module calls that build, compile and train it.
TRAINING_STEPS = ("build_model", "compile_model", "fit")


@pytest.mark.parametrize("number", ["10", "20", "60"])
def test_a_training_notebook_shows_build_compile_fit_in_cells_of_their_own(number):
    """Keras examples' order, one step per cell: the model is built, then compiled, then trained (#18)."""
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    stage = _stage_of(path)
    trees = _code_cells(path)
    aliases = {name for _, tree in trees for module, name, _ in _imported(tree) if module == stage}
    calls = [(index, node.func.attr) for index, tree in trees for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases]
    steps = [(index, name) for index, name in calls if name in TRAINING_STEPS + ("train",)]
    assert [name for _, name in steps] == list(TRAINING_STEPS), (
        f"{path.name}: expected one call each of {', '.join(TRAINING_STEPS)} in that order, found {steps}")
    assert len({index for index, _ in steps}) == 3, f"{path.name}: build, compile and fit share a cell: {steps}"
