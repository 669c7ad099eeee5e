"""Frozen run configurations, parameter profiles and typed ``KEY=VALUE`` overrides.

A notebook's parameters cell holds typed literals only (``IMAGE_SIZE: int = 128  # px``);
the cell after it freezes them into a :class:`Config`, before it binds any other upper-case
name, and derives everything else from it::

    cfg = config.from_namespace(globals())
    cfg = cfg.derive(INPUT_SHAPE=(cfg.IMAGE_SIZE, cfg.IMAGE_SIZE, 3))

Each parameter is written twice (the parameters cell, ``cfg.NAME``), not three times.

Profiles are files ``params/<notebook stem>/<profile>.yaml`` holding parameter values.
Values given on the command line are parsed as YAML scalars and checked against the
parameter's annotation (``int`` is accepted where ``float`` is expected).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from comicdepth_tf import paths
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import atomic_write_json, read_json

#: Annotation names the parameter checker understands.
SIMPLE_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool,
                                 "list": list, "tuple": tuple, "dict": dict}
_SCOPED_KEY_RE = re.compile(r"^(?:(?P<scope>[\w-]+)\.)?(?P<name>[A-Za-z_]\w*)$")


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


class Config(Mapping):
    """An immutable run configuration with attribute and mapping access.

    Lists become tuples and dicts become nested :class:`Config` objects, so nothing inside
    can be changed after freezing. :meth:`to_dict` gives plain lists and dicts back.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None):
        frozen = {str(k): _freeze_value(v) for k, v in dict(data or {}).items()}
        object.__setattr__(self, "_data", frozen)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            known = ", ".join(sorted(self._data)) or "(none)"
            raise AttributeError(f"config has no parameter {name!r}; known: {known}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Config is frozen: use derive({name}=...) to add a value")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is frozen")

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"Config({inner})"

    def __reduce__(self):
        return (Config, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable copy (tuples become lists, nested configs dicts)."""
        return {k: _thaw_value(v) for k, v in self._data.items()}

    def derive(self, **more: Any) -> "Config":
        """A new config with derived values added.

        Raises:
            ParameterError: when a name is already in the config (derived values are new
                names; change parameters through the parameters cell or a profile).
        """
        clash = sorted(set(more) & set(self._data))
        if clash:
            raise ParameterError(f"derive() cannot replace existing parameters: {', '.join(clash)}")
        return Config({**self._data, **more})

    def save(self, path: str | os.PathLike) -> Path:
        """Write the config as JSON (atomic)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Config":
        """Read a config written by :meth:`save`."""
        data = read_json(path)
        if not isinstance(data, dict):
            raise DataFormatError(path, "", "a JSON object of parameter values", type(data).__name__)
        return cls(data)


def _freeze_value(value: Any) -> Any:
    if isinstance(value, Config):
        return value
    if isinstance(value, Mapping):
        return Config(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_value(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


def _thaw_value(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_thaw_value(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def freeze(**params: Any) -> Config:
    """Freeze parameter values into an immutable :class:`Config`."""
    return Config(params)


def load(path: str | os.PathLike) -> Config:
    """Read a config saved with :meth:`Config.save`."""
    return Config.load(path)


def from_namespace(namespace: Mapping[str, Any], names: Iterable[str] | None = None) -> Config:
    """Freeze parameters taken from a namespace (a notebook's ``globals()``).

    Args:
        namespace: where the parameter values live.
        names: the parameter names; default: every UPPER_CASE name bound to a plain literal
            (str, int, float, bool, None, list, tuple, dict), which in a notebook right after
            the parameters cell are exactly the parameters.

    Raises:
        ParameterError: a requested name is missing from the namespace.
    """
    if names is None:
        plain = (str, int, float, bool, type(None), list, tuple, dict)
        names = [k for k, v in namespace.items()
                 if k.isupper() and not k.startswith("_") and isinstance(v, plain)]
    names = list(names)
    missing = [n for n in names if n not in namespace]
    if missing:
        raise ParameterError(f"parameters not defined: {', '.join(missing)}")
    return Config({n: namespace[n] for n in names})


# --------------------------------------------------------------------------- profiles


def profile_path(notebook_stem: str, profile: str, params_root: str | os.PathLike | None = None) -> Path:
    """``<params root>/<notebook stem>/<profile>.yaml``."""
    root = Path(params_root) if params_root is not None else paths.params_dir()
    return root / notebook_stem / f"{profile}.yaml"


def read_params_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML file holding a mapping of parameter values (empty file: ``{}``).

    Raises:
        DataFormatError: malformed YAML or not a mapping with string keys.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing YAML file of parameter values") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DataFormatError(path, where, "valid YAML", str(exc).splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataFormatError(path, "", "a mapping of parameter names to values", type(data).__name__)
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise DataFormatError(path, repr(bad[0]), "parameter names (strings)", bad[0])
    return data


def load_profile(notebook_stem: str, profile: str,
                 params_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Parameter values of ``profile`` for a notebook, with ``PROFILE`` set to ``profile``.

    A missing profile file means the notebook's defaults: only ``{"PROFILE": profile}``.
    """
    path = profile_path(notebook_stem, profile, params_root)
    values = read_params_file(path) if path.exists() else {}
    return {"PROFILE": profile, **values}


# --------------------------------------------------------------------------- overrides


def split_override(item: str) -> tuple[str | None, str, str]:
    """Split ``[SCOPE.]NAME=TEXT`` into ``(scope, name, text)`` (scope None when absent).

    Raises:
        ParameterError: no ``=`` or an invalid name.
    """
    key, sep, text = item.partition("=")
    match = _SCOPED_KEY_RE.match(key.strip())
    if not sep or not match:
        raise ParameterError(f"override {item!r}: expected NAME=VALUE (or NOTEBOOK.NAME=VALUE)")
    return match["scope"], match["name"], text.strip()


def parse_scalar(text: str) -> Any:
    """Parse a command-line value as a YAML scalar (``3`` -> 3, ``0.5``, ``true``, ``[1, 2]``)."""
    if text == "":
        return ""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``["KEY=VALUE", …]`` into a dict of YAML-parsed values.

    Scoped keys (``10_depth_irv2.EPOCHS=3`` or ``10.EPOCHS=3``) keep their scope in the key.
    """
    out: dict[str, Any] = {}
    for item in items:
        scope, name, text = split_override(item)
        out[f"{scope}.{name}" if scope else name] = parse_scalar(text)
    return out


# --------------------------------------------------------------------------- type checks


def parse_annotation(annotation: str) -> ast.expr:
    """Parse an annotation string and check that the checker understands it.

    Supported: ``str int float bool list tuple dict``, ``list[T]``, ``tuple[T, ...]``,
    ``dict[K, V]``, ``Optional[T]`` and unions with ``|``, ``None``, ``Any``.

    Raises:
        ParameterError: unsupported annotation.
    """
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        raise ParameterError(f"annotation {annotation!r} is not a Python expression") from None
    _check_annotation_node(node, annotation)
    return node


def _check_annotation_node(node: ast.expr, text: str) -> None:
    if isinstance(node, ast.Name) and (node.id in SIMPLE_TYPES or node.id == "Any"):
        return
    if isinstance(node, ast.Constant) and node.value in (None, Ellipsis):
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        _check_annotation_node(node.left, text)
        _check_annotation_node(node.right, text)
        return
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
            node.value.id in ("list", "tuple", "dict", "Optional"):
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for a in args:
            _check_annotation_node(a, text)
        return
    raise ParameterError(
        f"annotation {text!r} is not supported: use str, int, float, bool, list[T], tuple[T, ...], "
        "dict[K, V], T | None")


def _conform(value: Any, node: ast.expr) -> tuple[bool, Any]:
    """Whether ``value`` fits the annotation ``node``; returns the (possibly widened) value."""
    if isinstance(node, ast.Constant):
        return (value is None, value) if node.value is None else (True, value)
    if isinstance(node, ast.BinOp):
        # Try exact matches first so 1 stays an int in ``int | float``.
        for part in _union_parts(node):
            ok, out = _conform(value, part)
            if ok and type(out) is type(value):
                return ok, out
        for part in _union_parts(node):
            ok, out = _conform(value, part)
            if ok:
                return ok, out
        return False, value
    if isinstance(node, ast.Name):
        if node.id == "Any":
            return True, value
        if node.id == "bool":
            return isinstance(value, bool), value
        if node.id == "int":
            return isinstance(value, int) and not isinstance(value, bool), value
        if node.id == "float":
            if isinstance(value, bool):
                return False, value
            if isinstance(value, int):
                return True, float(value)
            return isinstance(value, float), value
        if node.id in ("list", "tuple"):
            # YAML and JSON have no tuples: a list is accepted for a tuple parameter.
            return isinstance(value, (list, tuple)), value
        return isinstance(value, SIMPLE_TYPES[node.id]), value
    if isinstance(node, ast.Subscript):
        head = node.value.id
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return (True, None) if value is None else _conform(value, args[0])
        if head in ("list", "tuple"):
            if not isinstance(value, (list, tuple)):
                return False, value
            if head == "tuple" and not (len(args) == 2 and isinstance(args[1], ast.Constant)
                                        and args[1].value is Ellipsis):
                if len(args) != len(value):
                    return False, value
                pairs = list(zip(value, args))
            else:
                pairs = [(v, args[0]) for v in value]
            items = []
            for v, a in pairs:
                ok, out = _conform(v, a)
                if not ok:
                    return False, value
                items.append(out)
            return True, type(value)(items) if isinstance(value, tuple) else items
        if head == "dict":
            if not isinstance(value, dict):
                return False, value
            key_node, val_node = args if len(args) == 2 else (ast.Name("Any"), ast.Name("Any"))
            out = {}
            for k, v in value.items():
                ok_k, k2 = _conform(k, key_node)
                ok_v, v2 = _conform(v, val_node)
                if not (ok_k and ok_v):
                    return False, value
                out[k2] = v2
            return True, out
    return False, value


def _union_parts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_parts(node.left) + _union_parts(node.right)
    return [node]


def check_value(name: str, value: Any, annotation: str, source: str = "") -> Any:
    """Check ``value`` against a parameter's annotation and return it (ints widened to float).

    Args:
        name: the parameter name (for the message).
        value: the value to check.
        annotation: the annotation text from the parameters cell, e.g. ``"int"``.
        source: where the value came from (a file, ``-p``), for the message.

    Raises:
        ParameterError: the value does not fit; also for non-finite floats in int slots.
    """
    ok, out = _conform(value, parse_annotation(annotation))
    if not ok:
        where = f"{source}: " if source else ""
        raise ParameterError(
            f"{where}parameter {name} expects {annotation}, got {value!r} ({type(value).__name__})")
    return out


def coerce_text(name: str, text: str, annotation: str, source: str = "") -> Any:
    """Parse a command-line value for a parameter with the given annotation.

    The text is parsed as a YAML scalar; when that does not fit but the annotation allows a
    string, the raw text is used (``-p TAG=001`` gives ``"001"`` for a ``str`` parameter).
    """
    value = parse_scalar(text)
    ok, out = _conform(value, parse_annotation(annotation))
    if ok:
        return out
    ok, out = _conform(text, parse_annotation(annotation))
    if ok:
        return out
    return check_value(name, value, annotation, source)  # raises with the parsed value
