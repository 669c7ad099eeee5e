"""The package's layers, read from the source (no TensorFlow needed).

* A stage module (``comicdepth_tf/stages/``, one per notebook) never imports another one.
* Nothing below the stages and the notebook machinery (``comicdepth_tf/chain/``) imports them;
  the chain never imports a stage (it runs notebooks, it does not call them).
* Every saved-run lookup goes through ``comicdepth_tf.runs``: no other module spells a
  ``latest-<profile>`` pointer, scans ``saved_models/*/*`` or lists a model folder's runs, and every
  function that looks a run up calls the store's resolver.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import comicdepth_tf

PACKAGE = Path(comicdepth_tf.__file__).resolve().parent
#: The entry points: they may reach every layer.
ENTRY = {"comicdepth_tf.cli", "comicdepth_tf.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(path: Path) -> set[str]:
    """Every ``comicdepth_tf`` module ``path`` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("comicdepth_tf")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("comicdepth_tf"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    return found


def _layer(name: str) -> str:
    if name in ENTRY:
        return "entry"
    for layer in ("stages", "chain"):
        if name.startswith(f"comicdepth_tf.{layer}.") or name == f"comicdepth_tf.{layer}":
            return layer
    return "lower"


def test_the_layout_has_one_stage_module_per_notebook():
    notebooks = sorted(p.stem for p in (PACKAGE.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    stages = sorted(n for n in MODULES if _layer(n) == "stages" and not n.endswith(".stages"))
    assert len(stages) == len(notebooks) == 7, (stages, notebooks)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) == "stages"))
def test_a_stage_module_never_imports_another(name):
    others = {m for m in _imports(MODULES[name]) if _layer(m) == "stages" and m != name}
    assert not others, f"{name} imports the stage module(s) {sorted(others)}: move what they share down a layer"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) in ("lower", "chain")))
def test_lower_layers_never_import_stages_and_only_the_chain_imports_the_chain(name):
    upward = {m for m in _imports(MODULES[name]) if _layer(m) == "stages"
              or (_layer(m) == "chain" and _layer(name) != "chain")}
    assert not upward, f"{name} ({_layer(name)} layer) imports {sorted(upward)}"


def _code_strings(tree: ast.AST) -> list[str]:
    """String constants that are not docstrings (pieces of f-strings included)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


#: Code that finds runs on its own: a pointer name, a scan of every model's runs.
LOOKUP_CODE = re.compile(r"^latest-|^\*/\*/")
#: Function names of run lookups.
LOOKUP_NAME = re.compile(r"^_?(resolve|find|newest|latest)\w*run")
#: The store's resolvers, and the one GAN-specific call of them (the GAN's file names live with approach 2).
STORE_RESOLVERS = {"resolve_run", "find_runs", "newest_profile_run"}
RESOLVERS = STORE_RESOLVERS | {"find_gan_run"}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "comicdepth_tf.runs"))
def test_run_lookups_go_through_the_store(name):
    tree = ast.parse(MODULES[name].read_text())
    spelled = [s for s in _code_strings(tree) if LOOKUP_CODE.search(s)]
    assert not spelled, f"{name} finds runs itself ({spelled}): use comicdepth_tf.runs"
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and LOOKUP_NAME.match(n.name)):
        called = {c.func.id if isinstance(c.func, ast.Name) else getattr(c.func, "attr", "")
                  for c in ast.walk(fn) if isinstance(c, ast.Call)}
        assert called & RESOLVERS, f"{name}.{fn.name} looks a run up without comicdepth_tf.runs"


def test_the_store_is_the_only_place_that_defines_a_resolver():
    defined = {(name, n.name) for name, path in MODULES.items()
               for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef) and n.name in RESOLVERS}
    expected = {("comicdepth_tf.runs", r) for r in STORE_RESOLVERS} | {("comicdepth_tf.approach2", "find_gan_run")}
    assert defined == expected
