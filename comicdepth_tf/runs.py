"""The one store of saved runs: where each run lives, how to find it again, what it is registered as.

A stage makes its run folder ``saved_models/<model>/<run_id>/`` with :func:`new_run_dir`.

Every run argument of every stage and command goes through :func:`resolve_run`: a run folder, a
path under ``saved_models/`` (``cyclegan_simple/<id>``), a run id under
``saved_models/<model>/``, or ``latest-<profile>`` (the pointer
``saved_models/<model>/latest-<profile>.json``, else the newest run that ``comicdepth run``'s ledger
or the run's ``config.json`` assigns to that profile). A run that cannot be found raises
:class:`~comicdepth_tf.errors.DataFormatError` naming every place looked at and the notebook that
makes such runs.

Configurations (the rows notebook 50 compares, :data:`CONFIGURATIONS`) are registered here too:
a stage calls :func:`register_configuration` (``evaluation.json`` in the run plus the pointer
``saved_models/configurations/<profile>.json``, and ``<profile>-seeds.json`` for seeded runs), saves
the depth maps it predicted with :func:`save_depth_maps` or per-segment AI4VA predictions with
:func:`save_ai4va_predictions`, and notebook 50 finds them all with :func:`find_runs`.

Discovery contract (what a stage writes so that notebook 50 finds it)
---------------------------------------------------------------------
One saved run folder ``saved_models/<model>/<run_id>/`` per configuration holds:

* ``evaluation.json`` — ``{"configuration": <name>, "profile": <profile>, "convention":
  "metric" | "inverse" | "relative", "image_size": <network size, optional>}``;
* ``depth_maps/<set>/<stem>.npy`` — float32 ``(H, W)`` at the image's **original size**, in
  the model's convention. ``<set>`` is ``panels_<split>`` (the ComicsDepth/embedded panel crops
  of ``panels/<split>/images``) or ``natural_val`` (the natural validation set: the NYU ``test``
  CSV); ``<stem>`` is the image file's stem (``00000_colors`` for NYU test images). A folder
  written by ``comicdepth predict`` (``<stem>_depth.png`` + ``depth_manifest.json``, optional
  ``<stem>_depth.npy``) is read too; the map convention then comes from that manifest;
* ``ai4va_predictions/<split>.csv`` — per-segment predictions for AI4VA predictors (``val`` to
  score, ``test`` for the submission), columns
  ``img_id,category_id,pred_Intradepth,pred_Interdepth,annotation_id``;
* optionally ``model.keras`` (+ ``config.json``): used to predict the sets whose maps are absent.

:func:`find_runs` resolves a configuration, in this order, from: the notebook's ``RUNS``
parameter (configuration -> run folder, absolute or relative to ``saved_models/``); the pointer
file; the newest ``saved_models/*/*/evaluation.json`` naming it and the profile; for
``natural_irv2`` the natural model's ``latest-<profile>``. ``no_batchnorm_trick`` (the natural
model applied to comics as is) falls back to the ``natural_irv2`` run. With a ``seed``, the
configurations trained once per seed (stage 40) resolve from the per-seed pointer only.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from comicdepth_tf import fileio, paths, submission
from comicdepth_tf.errors import DataFormatError, ParameterError

#: The natural depth model's folder under ``saved_models/`` (notebook 10).
NATURAL_MODEL_NAME = "depth_irv2"
#: A depth run folder holds one of these (the final model, else the best or last epoch's).
DEPTH_FILES = ("model.keras", "best.keras", "last.keras")
#: ``saved_models/<LEDGER_DIR>/<profile>.json``: the runs each stage of ``comicdepth run`` made.
LEDGER_DIR = "stages"
EVALUATION_FILE = "evaluation.json"
DEPTH_MAPS_DIR = "depth_maps"
AI4VA_PREDICTIONS_DIR = "ai4va_predictions"
#: ``saved_models/<POINTER_DIR>/<profile>.json``: configuration -> run folder.
POINTER_DIR = "configurations"
NATURAL_SET = "natural_val"
CONVENTIONS = ("metric", "inverse", "relative")
#: The stage whose configurations are trained once per seed (``SEEDS`` of notebook 40).
SEEDED_STAGE = "40_comics_depth"
#: The approach-1 configuration of each CycleGAN variant that registers one (notebook 30).
APPROACH1_CONFIGURATIONS = {"simple": "approach1_simple", "depth_aware": "approach1_depth_aware"}

# --------------------------------------------------------------------------- making a run

#: A plain folder name (a model, a run id, a report run id): no separators, no leading dot.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_name(value: str, what: str) -> str:
    if not PLAIN_NAME.match(value):
        raise ParameterError(f"{what} must be letters, digits, '_', '-' or '.', got {value!r}")
    return value


def new_run_dir(model_name: str, run_id: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Create (if needed) and return ``<root>/<model_name>/<run_id>``.

    Args:
        model_name: the model's folder name, e.g. ``"depth_irv2"``.
        run_id: the run's name; default a timestamp ``YYYYmmdd-HHMMSS`` (with a ``-N`` suffix if
            taken). An explicit ``run_id`` that exists is reused, which is how a run resumes.
        root: default :func:`comicdepth_tf.paths.models_dir` (``saved_models/``).

    Returns:
        The run folder.

    Raises:
        ParameterError: ``model_name`` or ``run_id`` is not a plain folder name (letters,
            digits, ``_``, ``-`` and ``.``, starting with a letter or a digit).
    """
    base = _models_root(root) / _check_name(model_name, "model_name")
    if run_id is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_id, n = stamp, 1
        while (base / run_id).exists():
            n += 1
            run_id = f"{stamp}-{n}"
    path = base / _check_name(run_id, "run_id")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- finding a run


def latest_pointer(profile: str, model_name: str = NATURAL_MODEL_NAME, root: str | os.PathLike | None = None) -> Path:
    """``<models>/<model_name>/latest-<profile>.json``: which run a profile last saved."""
    base = Path(root) if root is not None else paths.models_dir()
    return base / model_name / f"latest-{profile}.json"


def write_latest_pointer(run_dir: str | os.PathLike, profile: str, model_name: str = NATURAL_MODEL_NAME,
                         root: str | os.PathLike | None = None) -> Path:
    """Point ``latest-<profile>.json`` at ``run_dir`` (atomic). The run id is stored, not the
    absolute path, so the saved-models folder can move."""
    run_dir = Path(run_dir)
    record = {"run_id": run_dir.name, "model": model_name, "profile": profile,
              "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return fileio.atomic_write_json(latest_pointer(profile, model_name, root), record)


#: The notebook (stage of ``comicdepth run``) that saves the runs of each ``saved_models/`` folder.
RUN_NOTEBOOKS = {NATURAL_MODEL_NAME: "10_depth_irv2", "text_unet": "20_text_unet", "depth_tiny": "30_cyclegan",
                 **{f"cyclegan_{v}": "30_cyclegan" for v in ("simple", "depth_aware", "without_text", "add_text")}}
LATEST_PREFIX = "latest-"


def run_maker(model_name: str, profile: str | None = None) -> str:
    """Which notebook and ``comicdepth run`` stage save runs of ``model_name`` (for error messages)."""
    notebook = RUN_NOTEBOOKS.get(model_name)
    if notebook is None:
        return f"the notebook that saves {model_name} runs"
    flag = f" --profile {profile}" if profile else ""
    return f"notebooks/{notebook}.ipynb (`comicdepth run{flag} --only {notebook[:2]}`)"


def _is_run(path: Path, files: Sequence[str]) -> bool:
    """A run folder holding one of ``files``, or a ``.keras`` file when runs are single models."""
    from comicdepth_tf.models.registry import MODEL_FILE

    if path.is_file():
        return path.suffix == ".keras" and MODEL_FILE in files
    return any((path / name).is_file() for name in files)


def _run_time(folder: Path, files: Sequence[str]) -> float:
    return max((folder / name).stat().st_mtime for name in files if (folder / name).is_file())


def _ledger_runs(base: Path, profile: str) -> set[str]:
    """``<model>/<run>`` folders that ``comicdepth run``'s ledger of ``profile`` lists."""
    path = base / LEDGER_DIR / f"{profile}.json"
    try:
        entries = fileio.read_json(path) if path.is_file() else {}
    except DataFormatError:
        return set()
    entries = entries if isinstance(entries, dict) else {}
    return {run for entry in entries.values() if isinstance(entry, dict) for run in entry.get("runs") or []}


def _config_profile(folder: Path) -> str | None:
    path = folder / "config.json"
    try:
        config = fileio.read_json(path) if path.is_file() else {}
    except DataFormatError:
        return None
    return (config.get("PROFILE") or config.get("profile")) if isinstance(config, dict) else None


def newest_profile_run(folder: Path, profile: str, files: Sequence[str]) -> Path | None:
    """The newest run under ``folder`` (``<models>/<model>``) made with ``profile``, or None.

    A run belongs to a profile when ``comicdepth run``'s ledger ``<models>/stages/<profile>.json``
    lists it, or when its ``config.json`` records that ``PROFILE``. Newest: by the time of its
    model file.
    """
    if not folder.is_dir():
        return None
    listed = _ledger_runs(folder.parent, profile)
    runs = [d for d in folder.iterdir() if d.is_dir() and _is_run(d, files)
            and (f"{folder.name}/{d.name}" in listed or _config_profile(d) == profile)]
    return max(runs, key=lambda d: _run_time(d, files), default=None)


def _pointed_run(pointer: Path, folder: Path, files: Sequence[str]) -> Path:
    record = fileio.read_json(pointer)
    run_id = record.get("run_id") if isinstance(record, dict) else None
    if not isinstance(run_id, str) or not _is_run(folder / run_id, files):
        raise DataFormatError(pointer, "run_id", f"the id of a saved run under {folder}", run_id)
    return folder / run_id


def resolve_run(run: str | os.PathLike, model_name: str = NATURAL_MODEL_NAME, root: str | os.PathLike | None = None, *,
                files: Sequence[str] | None = None) -> Path:
    """Find a saved run of ``model_name``: a run folder, a run id, or ``latest-<profile>``.

    The one resolver of every command's run arguments. Looked up in order: ``run`` as a path;
    ``<models>/<run>`` (e.g. ``cyclegan_simple/<id>``); ``<models>/<model_name>/<run>``; the
    pointer ``<models>/<model_name>/<run>.json`` (``latest-<profile>.json``, written by notebook
    10); for ``latest-<profile>`` without a pointer, :func:`newest_profile_run`.

    Args:
        run: the run argument.
        model_name: the ``saved_models/`` folder of such runs (``depth_irv2``, ``text_unet``,
            ``cyclegan_simple``…).
        root: the saved-models root (default :func:`comicdepth_tf.paths.models_dir`).
        files: a folder is a run when it holds one of them (default ``model.keras``; then a
            ``.keras`` file is accepted too).

    Returns:
        The run folder (or ``.keras`` file).

    Raises:
        DataFormatError: nothing found; the message names every place looked at and the
            notebook that saves such runs.
    """
    from comicdepth_tf.models.registry import MODEL_FILE

    files = tuple(files or (MODEL_FILE,))
    base = Path(root) if root is not None else paths.models_dir()
    folder, text = base / model_name, os.fspath(run)
    candidates = list(dict.fromkeys([Path(text).expanduser(), base / text, folder / text])) if text else []
    for candidate in candidates:
        if _is_run(candidate, files):
            return candidate
    pointer = folder / f"{text}.json" if text and "/" not in text and os.sep not in text else None
    if pointer is not None and pointer.is_file():
        return _pointed_run(pointer, folder, files)
    profile = text[len(LATEST_PREFIX):] if text.startswith(LATEST_PREFIX) else None
    found = newest_profile_run(folder, profile, files) if profile else None
    if found is not None:
        return found
    looked = [c.absolute() for c in candidates] + ([pointer] if pointer else [])
    raise DataFormatError(text or "''", "", _not_found(folder, files, looked, profile))


def _not_found(folder: Path, files: Sequence[str], looked: Sequence[Path], profile: str | None) -> str:
    """The ``expected`` part of :func:`resolve_run`'s error: what, where, and who makes such runs."""
    from comicdepth_tf.models.registry import MODEL_FILE

    what = " or ".join(files) + (", or a .keras file" if MODEL_FILE in files else "")
    places = [str(p) for p in looked] + ([f"the runs of profile {profile} under {folder}"] if profile else [])
    return (f"a saved {folder.name} run (a folder with {what}, a run id under {folder}, or latest-<profile>); "
            f"looked at {', '.join(places)}; {folder.name} runs are saved by {run_maker(folder.name, profile)}")


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Configuration:
    """One row of the comparison.

    Attributes:
        name: the configuration's id (``evaluation.json``'s ``configuration``).
        label: a short human name.
        stage: the notebook that produces it.
        kind: ``"depth"`` (depth maps) or ``"ai4va"`` (per-segment predictions).
        sets: for depth configurations, the evaluation sets it must have (``"panels"`` = the
            panel split being evaluated, or ``natural_val``).
        fallback: a configuration whose run serves when this one has none.
        optional: trained only on request (a reference): left out of the comparison, not
            listed as missing, when it has no run.
    """

    name: str
    label: str
    stage: str
    kind: str
    sets: tuple[str, ...] = ()
    fallback: str | None = None
    optional: bool = False

    @property
    def seeded(self) -> bool:
        """Trained once per seed (stage 40); the upstream stages 10 and 30 are not re-seeded."""
        return self.stage == SEEDED_STAGE


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration("natural_irv2", "natural IRv2 model", "10_depth_irv2", "depth", (NATURAL_SET,)),
    Configuration("approach1_simple", "approach 1 simple", "30_cyclegan", "depth", ("panels",)),
    Configuration("approach1_depth_aware", "approach 1 depth_aware", "30_cyclegan", "depth", ("panels",)),
    Configuration("approach2_simple", "approach 2 simple", "40_comics_depth", "depth", ("panels",)),
    Configuration("approach2_add_text", "approach 2 add_text", "40_comics_depth", "depth", ("panels",)),
    Configuration("approach2_add_text_ignoretext", "approach 2 add_text_ignoretext", "40_comics_depth", "depth",
                  ("panels",)),
    Configuration("approach2_exact_comics", "exact comics depth (embedded-only reference)", "40_comics_depth",
                  "depth", ("panels",), optional=True),
    Configuration("no_batchnorm_trick", "no_batchnorm_trick", "40_comics_depth", "depth", ("panels",),
                  fallback="natural_irv2"),
    Configuration("batchnorm_trick", "batchnorm_trick", "40_comics_depth", "depth", ("panels",)),
    Configuration("ai4va_segment", "AI4VA per-segment predictor", "40_comics_depth", "ai4va"),
    Configuration("ai4va_page_baseline", "seed-style whole-page baseline", "40_comics_depth", "ai4va"),
    Configuration("ai4va_constant", "constant (training means)", "50_evaluate", "ai4va"),
)
_BY_NAME = {c.name: c for c in CONFIGURATIONS}


def configuration(name: str) -> Configuration:
    """The configuration called ``name``; unknown names raise :class:`ParameterError`."""
    if name not in _BY_NAME:
        raise ParameterError(f"unknown configuration {name!r}; expected one of {list(_BY_NAME)}")
    return _BY_NAME[name]


def _models_root(root) -> Path:
    return Path(root) if root is not None else paths.models_dir()


# --------------------------------------------------------------------------- registering a configuration (stages)


def register_configuration(run_dir: str | os.PathLike, configuration_name: str, profile: str,
                           convention: str | None = None, image_size: int | Sequence[int] | None = None,
                           models_root: str | os.PathLike | None = None, seed: int | None = None,
                           primary: bool = True) -> Path:
    """Mark a saved run as the one evaluated for ``configuration_name`` on ``profile``.

    Writes ``<run_dir>/evaluation.json`` and points
    ``<models>/configurations/<profile>.json[configuration_name]`` at the run (both atomic).
    With a training ``seed``, the record holds it and the per-seed pointer
    ``<models>/configurations/<profile>-seeds.json[seed][configuration_name]`` is written too;
    ``primary=False`` leaves the plain pointer alone (an extra seed must not replace the run the
    single-seed path evaluates).

    Args:
        run_dir: the saved run folder.
        configuration_name: one of :data:`CONFIGURATIONS`.
        profile: the parameter profile the run belongs to.
        convention: ``metric``, ``inverse`` or ``relative`` for depth configurations.
        image_size: network size to predict at when maps must be computed from the model.
        models_root: default ``saved_models/``.
        seed: the training seed of the run (None: not recorded, no per-seed pointer).
        primary: also update the plain pointer.

    Returns:
        The plain pointer file (the per-seed one when ``primary`` is False).
    """
    configuration(configuration_name)
    if convention is not None and convention not in CONVENTIONS:
        raise ParameterError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if seed is None and not primary:
        raise ParameterError("register_configuration: a run that is not primary needs its seed")
    run_dir = Path(run_dir).resolve()
    record = {"configuration": configuration_name, "profile": profile, "convention": convention,
              "written": _dt.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")}
    if image_size is not None:
        record["image_size"] = image_size if isinstance(image_size, int) else list(image_size)
    if seed is not None:
        record["seed"] = int(seed)
    fileio.atomic_write_json(run_dir / EVALUATION_FILE, record)
    root = _models_root(models_root).resolve()
    try:
        rel = run_dir.relative_to(root).as_posix()
    except ValueError:
        rel = str(run_dir)
    written = None
    if seed is not None:
        seeds_file = seeds_pointer(profile, root)
        table = fileio.read_json(seeds_file) if seeds_file.is_file() else {}
        table.setdefault(str(int(seed)), {})[configuration_name] = rel
        written = fileio.atomic_write_json(seeds_file, {k: dict(sorted(v.items())) for k, v in sorted(table.items())})
    if primary:
        pointer = root / POINTER_DIR / f"{profile}.json"
        table = fileio.read_json(pointer) if pointer.is_file() else {}
        table[configuration_name] = rel
        written = fileio.atomic_write_json(pointer, dict(sorted(table.items())))
    return written


def seeds_pointer(profile: str, models_root: str | os.PathLike | None = None) -> Path:
    """``<models>/configurations/<profile>-seeds.json``: seed -> configuration -> run folder."""
    return _models_root(models_root) / POINTER_DIR / f"{profile}-seeds.json"


def save_depth_maps(run_dir: str | os.PathLike, set_name: str, maps: Mapping[str, np.ndarray]) -> Path:
    """Write ``<run_dir>/depth_maps/<set_name>/<stem>.npy`` (float32, atomic) for every map.

    Args:
        run_dir: the saved run folder.
        set_name: ``panels_<split>`` or ``natural_val``.
        maps: stem -> ``(H, W)`` map at the image's original size, in the model's convention.

    Returns:
        The set's folder.
    """
    folder = Path(run_dir) / DEPTH_MAPS_DIR / set_name
    folder.mkdir(parents=True, exist_ok=True)
    for stem, depth in maps.items():
        arr = np.asarray(depth, dtype=np.float32)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise ParameterError(f"depth map {stem!r}: expected (H, W), got shape {arr.shape}")
        fileio.atomic_write_bytes(folder / f"{stem}.npy", _npy_bytes(arr))
    return folder


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def save_ai4va_predictions(run_dir: str | os.PathLike, split: str, table, segments) -> Path:
    """Validate a per-segment prediction table against ``segments`` and write it (atomic).

    Returns:
        ``<run_dir>/ai4va_predictions/<split>.csv``.
    """
    return submission.write_submission(Path(run_dir) / AI4VA_PREDICTIONS_DIR / f"{split}.csv", table, segments)


# --------------------------------------------------------------------------- finding configurations (notebook 50)


@dataclass
class RunRef:
    """Where a configuration's outputs are, or why they are not.

    Attributes:
        configuration: the configuration name.
        run_dir: the run folder, or None when missing.
        source: how it was found (``RUNS``, the pointer file, a scan, the natural model's
            pointer, or another configuration's run).
        record: the run's ``evaluation.json`` ({} when absent).
        missing: what was expected where, when not found.
        problem: why the run's ``evaluation.json`` could not be used (the row becomes an error).
    """

    configuration: str
    run_dir: Path | None = None
    source: str = ""
    record: dict = field(default_factory=dict)
    missing: str | None = None
    problem: str | None = None


def read_record(run_dir: Path) -> dict:
    """A run's ``evaluation.json`` ({} when it has none)."""
    file = run_dir / EVALUATION_FILE
    record = fileio.read_json(file) if file.is_file() else {}
    if not isinstance(record, dict):
        raise DataFormatError(file, "", "a JSON object with configuration, profile and convention")
    return record


def _scan(root: Path, profile: str, seed: int | None = None) -> dict[str, Path]:
    """configuration -> newest run folder whose evaluation.json names it and ``profile`` (and
    ``seed``, for the configurations trained per seed, when one is asked for)."""
    found: dict[str, tuple[float, Path]] = {}
    for file in root.glob(f"*/*/{EVALUATION_FILE}"):
        try:
            record = fileio.read_json(file)
        except DataFormatError:
            continue  # a broken record is reported when that run is used, not while scanning
        name = record.get("configuration") if isinstance(record, dict) else None
        if name in _BY_NAME and seed is not None and _BY_NAME[name].seeded and record.get("seed") != seed:
            continue
        if name in _BY_NAME and record.get("profile") == profile:
            mtime = file.stat().st_mtime
            if name not in found or mtime > found[name][0]:
                found[name] = (mtime, file.parent)
    return {k: v for k, (_, v) in found.items()}


def _resolve_path(text: str, root: Path) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else root / p


def find_runs(profile: str, runs: Mapping[str, str] | None = None,
              models_root: str | os.PathLike | None = None, seed: int | None = None) -> dict[str, RunRef]:
    """Resolve every configuration to a run folder (see the module doc for the order).

    Args:
        profile: the profile whose runs are wanted.
        runs: explicit configuration -> run folder (absolute, or relative to the models root).
        models_root: default ``saved_models/``.
        seed: a training seed: the configurations trained per seed (:attr:`Configuration.seeded`)
            are then resolved from the per-seed pointer (:func:`seeds_pointer`) and the scan
            keeps only runs recorded with that seed; the others (stages 10 and 30, the
            constant) as without a seed. None: the single-seed path.

    Returns:
        configuration name -> :class:`RunRef`, in :data:`CONFIGURATIONS` order.

    Raises:
        ParameterError: ``runs`` names an unknown configuration or a folder that does not exist.
    """
    root = _models_root(models_root)
    runs = dict(runs or {})
    for name, text in runs.items():
        configuration(name)
        if not _resolve_path(text, root).is_dir():
            raise ParameterError(f"RUNS[{name!r}] = {text!r}: no such run folder under {root}")
    pointer = root / POINTER_DIR / f"{profile}.json"
    pointed = fileio.read_json(pointer) if pointer.is_file() else {}
    per_seed: dict = {}
    if seed is not None:
        seeds_file = seeds_pointer(profile, root)
        per_seed = (fileio.read_json(seeds_file) if seeds_file.is_file() else {}).get(str(int(seed)), {})
    scanned = _scan(root, profile, seed) if root.is_dir() else {}
    refs: dict[str, RunRef] = {}
    for conf in CONFIGURATIONS:
        ref = RunRef(conf.name)
        # A seeded configuration never falls back to the plain pointer: it may hold another seed's run.
        table, table_name = ((per_seed, f"{seeds_pointer(profile, root).name}[{seed}] pointer")
                             if seed is not None and conf.seeded else (pointed, f"{pointer.name} pointer"))
        if conf.name in runs:
            ref.run_dir, ref.source = _resolve_path(runs[conf.name], root), "RUNS parameter"
        elif conf.name in table and _resolve_path(table[conf.name], root).is_dir():
            ref.run_dir, ref.source = _resolve_path(table[conf.name], root), table_name
        elif conf.name in scanned:
            ref.run_dir, ref.source = scanned[conf.name], f"newest {EVALUATION_FILE} scan"
        elif conf.name == "natural_irv2" and (natural := _natural_run(root, profile)) is not None:
            ref.run_dir, ref.source = natural, f"{LATEST_PREFIX}{profile}"
        if ref.run_dir is None and conf.fallback and refs.get(conf.fallback) and refs[conf.fallback].run_dir:
            base = refs[conf.fallback]
            ref.run_dir, ref.source = base.run_dir, f"{conf.fallback} run (same model)"
        if ref.run_dir is None and conf.optional:
            continue
        if ref.run_dir is None:
            seeded = seed is not None and conf.seeded
            where = (f"RUNS, {seeds_pointer(profile, root) if seeded else pointer}, {root}/*/*/{EVALUATION_FILE} "
                     f"(configuration {conf.name!r}, profile {profile!r}{f', seed {seed}' if seeded else ''})")
            if conf.name == "natural_irv2":
                where += f", {root / NATURAL_MODEL_NAME}/latest-{profile}.json"
            if conf.fallback:
                where += f", the {conf.fallback} run"
            ref.missing = f"missing: no run of {conf.name} (written by {conf.stage}) in {where}"
        else:
            try:
                ref.record = read_record(ref.run_dir)
            except DataFormatError as exc:
                ref.problem = str(exc)
        refs[conf.name] = ref
    return refs


def _natural_run(root: Path, profile: str) -> Path | None:
    """``latest-<profile>`` of the natural model, or None."""
    try:
        return resolve_run(f"{LATEST_PREFIX}{profile}", NATURAL_MODEL_NAME, root, files=("config.json", *DEPTH_FILES))
    except DataFormatError:
        return None
