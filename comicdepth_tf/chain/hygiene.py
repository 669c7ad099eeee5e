"""Notebook hygiene: read the parameters cell, check the house conventions, strip outputs.

The conventions (README "Notebooks"; tests/test_notebook_hygiene.py): notebooks are committed
without outputs and with the ``python3`` kernelspec; exactly one code cell is tagged ``parameters`` and holds only
annotated assignments of literals, each with a trailing comment, including ``PROFILE``;
logic lives in the package (notebook cells define no classes, and functions only as tiny
``plot_*``/``show_*`` helpers); ``params/<stem>/smoke.yaml`` exists and names real parameters.
"""

from __future__ import annotations

import ast
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from comicdepth_tf import paths
from comicdepth_tf.chain import config
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import atomic_write_text

PARAMETERS_TAG = "parameters"
KERNEL_NAME = "python3"
NUMBERED_GLOB = "[0-9][0-9]_*.ipynb"
PROFILES = ("smoke", "cpu", "full")
#: Function names allowed in notebook cells, and their longest length in lines.
HELPER_PREFIXES = ("plot_", "show_")
MAX_HELPER_LINES = 12
#: Cell metadata written by Jupyter/papermill that should not be committed.
_VOLATILE_CELL_META = ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled")
_VOLATILE_NB_META = ("papermill", "widgets")
#: Lines TensorFlow, absl, the CUDA probe, ipykernel and tqdm write to every kernel's stderr,
#: whatever the notebook does: kept out of the reports (real warnings and errors stay).
CONSOLE_NOISE = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"^I\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] ",  # absl INFO lines: oneDNN, cudart stub, CPU feature guard
    r"^[EW]\d{4} [\d:.]+\s+\d+ cuda_[\w.]+:\d+\] failed call to cuInit",  # the CUDA probe without a GPU
    r"^To enable the following instructions: .* in other operations, rebuild TensorFlow",
    r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption",
    r"TqdmWarning: IProgress not found",
    r"^\s+from \.autonotebook import tqdm as notebook_tqdm$",
))


@dataclass(frozen=True)
class Parameter:
    """One entry of a parameters cell: ``NAME: annotation = default  # comment``."""

    name: str
    annotation: str
    default: Any
    comment: str
    line: int


def read_notebook(path: str | os.PathLike) -> nbformat.NotebookNode:
    """Read a notebook (nbformat 4); unreadable or invalid JSON raises :class:`DataFormatError`."""
    path = Path(path)
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing .ipynb notebook") from None
    except Exception as exc:  # nbformat raises several unrelated types for bad files
        raise DataFormatError(path, "", "a valid nbformat-4 notebook", str(exc).splitlines()[0]) from None


def numbered_notebooks(directory: str | os.PathLike | None = None,
                       only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` of a folder, in order, filtered by prefixes.

    Args:
        directory: the notebooks folder (default: the repository's ``notebooks/``).
        only: stem prefixes such as ``["00", "10"]`` or full stems; None keeps all.

    Raises:
        ParameterError: a prefix matches no notebook, or ``only`` holds no prefix at all.
    """
    directory = Path(directory) if directory is not None else paths.notebooks_dir()
    found = sorted(directory.glob(NUMBERED_GLOB))
    if only is None:
        return found
    prefixes = [p.strip() for p in only if p.strip()]
    if not prefixes:  # `--only ''`: say so, rather than "no notebooks in the folder"
        raise ParameterError(f"--only {','.join(only)!r} names no notebook: give prefixes such as 00,10")
    unmatched = [p for p in prefixes if not any(nb.stem.startswith(p) for nb in found)]
    if unmatched:
        available = ", ".join(nb.stem for nb in found) or "(none)"
        raise ParameterError(f"--only {','.join(unmatched)} matches no notebook in {directory}; "
                             f"available: {available}")
    return [nb for nb in found if any(nb.stem.startswith(p) for p in prefixes)]


def parameters_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells tagged ``parameters``."""
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])]


def check_sign(param: Parameter, value: Any, source: str = "") -> Any:
    """Refuse a negative value for a numeric parameter whose default is not negative.

    Every ``int`` and ``float`` parameter of the notebooks is a count, a size, a seed, a rate
    or a fraction, for which ``-1`` is a typo rather than a setting (``MAX_PAGES=-1`` would
    slice ``pages[:-1]``). A parameter whose default is negative shows that negative values
    mean something, and keeps them.

    Args:
        param: the declared parameter.
        value: the value already checked against the annotation.
        source: where the value came from (a file, ``-p``), for the message.

    Returns:
        ``value``.

    Raises:
        ParameterError: a negative value for a parameter with a non-negative default.
    """
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    default_sign_ok = isinstance(param.default, (int, float)) and param.default >= 0
    if numeric and default_sign_ok and value < 0:
        where = f"{source}: " if source else ""
        raise ParameterError(f"{where}parameter {param.name} expects a value >= 0, got {value!r} "
                             f"(a count, size or rate: {param.comment or param.annotation})")
    return value


def parse_parameters_source(source: str) -> tuple[dict[str, Parameter], list[str]]:
    """Parse the source of a parameters cell.

    Returns:
        ``(parameters, problems)``: the parameters by name and a list of convention
        violations (empty when the cell is clean).
    """
    problems: list[str] = []
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return {}, [f"parameters cell: syntax error at line {exc.lineno}: {exc.msg}"]
    comments = _comments_by_line(source)
    params: dict[str, Parameter] = {}
    for stmt in tree.body:
        where = f"parameters cell line {stmt.lineno}"
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            problems.append(f"{where}: only annotated assignments 'NAME: type = literal  # comment' "
                            f"are allowed, got {type(stmt).__name__}: {ast.unparse(stmt)[:60]!r}")
            continue
        name = stmt.target.id
        annotation = ast.unparse(stmt.annotation)
        if stmt.value is None:
            problems.append(f"{where}: {name} has no value")
            continue
        if not _is_literal(stmt.value):
            problems.append(f"{where}: {name} = {ast.unparse(stmt.value)!r} is not a literal; "
                            "compute derived values after the config cell")
            continue
        comment = comments.get(stmt.end_lineno, "")
        if not comment:
            problems.append(f"{where}: {name} has no trailing comment saying what it is")
        if name in params:
            problems.append(f"{where}: {name} is assigned twice")
        default = ast.literal_eval(stmt.value)
        try:
            config.parse_annotation(annotation)
            config.check_value(name, default, annotation, "parameters cell")
        except ParameterError as exc:
            problems.append(f"{where}: {exc}")
        params[name] = Parameter(name, annotation, default, comment, stmt.lineno)
    return params, problems


def _comments_by_line(source: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return out


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) for k in node.keys) and \
            all(_is_literal(v) for v in node.values)
    return False


def read_parameters(notebook: str | os.PathLike | nbformat.NotebookNode) -> dict[str, Parameter]:
    """The parameters declared by a notebook's ``parameters`` cell ({} when it has none).

    Raises:
        ParameterError: several parameters cells, or a cell that breaks the conventions (the
            runner cannot type-check such a notebook's overrides).
    """
    where = "notebook"
    if isinstance(notebook, (str, os.PathLike)):
        where = os.fspath(notebook)
        notebook = read_notebook(notebook)
    cells = parameters_cells(notebook)
    if not cells:
        return {}
    if len(cells) > 1:
        raise ParameterError(f"{where}: {len(cells)} cells are tagged 'parameters' (cells {cells}); "
                             "expected exactly one")
    params, problems = parse_parameters_source(notebook.cells[cells[0]].source)
    # A missing comment does not stop a run; anything that hides a parameter does.
    fatal = [p for p in problems if "trailing comment" not in p]
    if fatal:
        raise ParameterError(f"{where}: " + "; ".join(fatal))
    return params


def _python_source(cell_source: str) -> str:
    """Cell source as plain Python: IPython magics (``%pip``, ``!ls``) become calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(cell_source)
    except Exception:  # IPython missing or odd input: blank out magic lines, keep line numbers
        return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                         for ln in cell_source.splitlines())


def _definition_problems(index: int, source: str) -> list[str]:
    try:
        tree = ast.parse(_python_source(source))
    except SyntaxError as exc:
        return [f"cell {index}: syntax error at line {exc.lineno}: {exc.msg}"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            problems.append(f"cell {index}: defines class {node.name}; move it into comicdepth_tf")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n_lines = node.end_lineno - node.lineno + 1
            if not node.name.startswith(HELPER_PREFIXES) or n_lines > MAX_HELPER_LINES:
                problems.append(
                    f"cell {index}: defines function {node.name} ({n_lines} lines); only small "
                    f"{'/'.join(p + '*' for p in HELPER_PREFIXES)} helpers of at most "
                    f"{MAX_HELPER_LINES} lines belong in a notebook, move it into comicdepth_tf")
    return problems


def check_profile_file(path: Path, params: dict[str, Parameter]) -> list[str]:
    """Problems of one profile YAML file against the notebook's parameters."""
    try:
        values = config.read_params_file(path)
    except DataFormatError as exc:
        return [str(exc)]
    problems = []
    unknown = sorted(set(values) - set(params))
    if unknown:
        problems.append(f"{path}: unknown parameters {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(params)) or '(none)'}")
    for name, value in values.items():
        if name in params:
            try:
                checked = config.check_value(name, value, params[name].annotation, os.fspath(path))
                check_sign(params[name], checked, os.fspath(path))
            except ParameterError as exc:
                problems.append(str(exc))
    return problems


def check_notebook(path: str | os.PathLike, params_root: str | os.PathLike | None = None,
                   require_smoke_profile: bool = True) -> list[str]:
    """Check a notebook against the house conventions.

    Args:
        path: the ``.ipynb`` file.
        params_root: folder holding ``<stem>/<profile>.yaml`` (default: the repository's
            ``params/``).
        require_smoke_profile: whether ``<stem>/smoke.yaml`` must exist.

    Returns:
        Human-readable problems; an empty list means the notebook is clean.
    """
    path = Path(path)
    try:
        nb = read_notebook(path)
    except DataFormatError as exc:
        return [str(exc)]
    problems: list[str] = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != KERNEL_NAME:
        problems.append(f"kernelspec name is {kernel!r}, expected {KERNEL_NAME!r}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i}: has outputs (strip them: python -m comicdepth_tf.chain.hygiene "
                            "strip NOTEBOOK)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i}: has execution count {cell.execution_count}")

    cells = parameters_cells(nb)
    params: dict[str, Parameter] = {}
    if len(cells) != 1:
        problems.append(f"expected exactly one code cell tagged 'parameters', found {len(cells)}"
                        + (f" (cells {cells})" if cells else ""))
    else:
        params, cell_problems = parse_parameters_source(nb.cells[cells[0]].source)
        problems += cell_problems
        if "PROFILE" not in params:
            problems.append("parameters cell has no PROFILE: str parameter")
        elif params["PROFILE"].annotation != "str":
            problems.append(f"PROFILE is annotated {params['PROFILE'].annotation!r}, expected 'str'")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i not in cells:
            problems += _definition_problems(i, cell.source)

    root = Path(params_root) if params_root is not None else paths.params_dir()
    for profile in PROFILES:
        file = config.profile_path(path.stem, profile, root)
        if file.exists():
            problems += check_profile_file(file, params)
        elif profile == "smoke" and require_smoke_profile:
            problems.append(f"missing profile file {file}")
    return problems


def strip_outputs(path: str | os.PathLike) -> bool:
    """Remove outputs, execution counts and run metadata from a notebook, in place (atomic).

    Returns:
        True when the file changed.
    """
    path = Path(path)
    nb = read_notebook(path)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in _VOLATILE_CELL_META:
            cell.metadata.pop(key, None)
    for key in _VOLATILE_NB_META:
        nb.metadata.pop(key, None)
    after = nbformat.writes(nb)
    if after == before:
        return False
    atomic_write_text(path, after if after.endswith("\n") else after + "\n")
    return True


def _without_noise(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not any(p.search(line.rstrip("\n")) for p in CONSOLE_NOISE)]
    return "".join(kept), len(lines) - len(kept)


def strip_console_noise(path: str | os.PathLike) -> int:
    """Remove the :data:`CONSOLE_NOISE` lines from the stderr outputs of an executed notebook (atomic).

    Outputs left empty are dropped; every other output is kept as it was.

    Returns:
        The number of lines removed.
    """
    path = Path(path)
    nb = read_notebook(path)
    removed = 0
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"], n = _without_noise(out.get("text", ""))
                removed += n
                if not out["text"]:
                    continue
            outputs.append(out)
        if cell.cell_type == "code":
            cell.outputs = outputs
    if removed:
        text = nbformat.writes(nb)
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    return removed


def main(argv: list[str] | None = None) -> int:
    """``python -m comicdepth_tf.chain.hygiene {check,strip} NOTEBOOK…``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m comicdepth_tf.chain.hygiene",
                                     description="check notebook hygiene or strip outputs")
    parser.add_argument("action", choices=["check", "strip"])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks (default: notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(paths.notebooks_dir().glob("*.ipynb"))
    failed = 0
    for nb in notebooks:
        if args.action == "strip":
            print(f"{nb}: {'stripped' if strip_outputs(nb) else 'clean'}")
            continue
        problems = check_notebook(nb)
        failed += bool(problems)
        print(f"{nb}: {'ok' if not problems else ''}")
        for p in problems:
            print(f"  - {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
