"""The logic of notebook ``50_evaluate``: every saved model side by side, never training.

The evaluation only **loads**: depth maps a stage saved with its run, or the run's
``model.keras`` (predicted here with :func:`comicdepth_tf.inference.predict_depth`, which is
inference, not training), and AI4VA prediction tables. A configuration whose run cannot be
found keeps its row, with the status ``missing: <what was expected where>``.

Configurations (:data:`CONFIGURATIONS`, in table order)
--------------------------------------------------------
``natural_irv2`` (stage 10), ``approach1_simple``, ``approach1_depth_aware`` (stage 30),
``approach2_simple``, ``approach2_add_text``, ``approach2_add_text_ignoretext``,
``no_batchnorm_trick``, ``batchnorm_trick`` (stage 40, depth maps), ``ai4va_segment``,
``ai4va_page_baseline`` (stage 40, AI4VA predictions) and ``ai4va_constant`` (the training
means; computed here from the training labels when no run provides it).

Discovery contract (what a stage writes so that this module finds it)
---------------------------------------------------------------------
One saved run folder ``saved_models/<model>/<run_id>/`` per configuration holds:

* ``evaluation.json`` — ``{"configuration": <name>, "profile": <profile>, "convention":
  "metric" | "inverse" | "relative", "image_size": <network size, optional>}``
  (write it with :func:`register_configuration`, which also updates the pointer below);
* ``depth_maps/<set>/<stem>.npy`` — float32 ``(H, W)`` at the image's **original size**, in
  the model's convention (:func:`save_depth_maps`). ``<set>`` is ``panels_<split>`` (the
  ComicsDepth/embedded panel crops of ``panels/<split>/images``) or ``natural_val`` (the
  natural validation set: the NYU ``test`` CSV); ``<stem>`` is :attr:`EvalItem.stem` from
  :func:`load_eval_sets`, the image file's stem (``00000_colors`` for NYU test images). A
  folder written by ``comicdepth predict`` (``<stem>_depth.png`` + ``depth_manifest.json``,
  optional ``<stem>_depth.npy``) is read too; the map convention then comes from that manifest;
* ``ai4va_predictions/<split>.csv`` — per-segment predictions for AI4VA predictors
  (``val`` to score, ``test`` for the submission), columns
  ``img_id,category_id,pred_Intradepth,pred_Interdepth,annotation_id``
  (:func:`save_ai4va_predictions`, validated against the split's segments);
* optionally ``model.keras`` (+ ``config.json``): used to predict the sets whose maps are
  absent (at ``image_size``, else the run config's ``predict_size`` / ``input_size``).

Convention of the maps: ``evaluation.json``'s ``convention``, else the folder's
``depth_manifest.json``, else ``config.json``'s ``model_info.output``, else ``metric``.

A configuration is resolved, in this order, from: the notebook's ``RUNS`` parameter
(configuration -> run folder, absolute or relative to ``saved_models/``); the pointer file
``saved_models/configurations/<profile>.json`` (configuration -> run folder relative to
``saved_models/``); the newest ``saved_models/*/*/evaluation.json`` naming it and the profile;
for ``natural_irv2`` the natural model's ``saved_models/depth_irv2/latest-<profile>.json``.
``no_batchnorm_trick`` (the natural model applied to comics as is) falls back to the
``natural_irv2`` run.

Several seeds: stage 40 trains its configurations once per seed (:attr:`Configuration.seeded`)
and registers each run with its seed: ``evaluation.json`` holds ``seed`` and
``saved_models/configurations/<profile>-seeds.json`` maps seed -> configuration -> run folder.
:func:`find_runs` with ``seed=`` resolves those configurations from that pointer (or a scan of
runs recorded with that seed), never from another seed's run; the stage-10 and stage-30
configurations are not re-seeded and resolve as without a seed. Comparisons over seeds, with
intervals, are in :mod:`comicdepth_tf.comparisons`.

Scores
------
* ordering accuracy on ``panels_<split>`` (:func:`comicdepth_tf.metrics.ordering_accuracy`,
  convention from the run: inverse maps as they are, metric/relative depth negated), per image,
  summarised, and relative to ``batchnorm_trick`` per image in dB;
* dense metrics on ``panels_<split>`` (``comics_*``) and ``natural_val`` (``natural_*``) where
  dense ground truth exists, per-image alignment by parameter (the comics models have no
  metric scale);
* AI4VA MSE (``segment`` matching, and ``official`` for comparability) on the scored split.

Outputs: the comparison table, bar charts, a qualitative grid, the seed-format results file
``<stage folder>/results/evaluation_<YYYYmmdd-HHMMSS>.txt`` (in the run's report folder, so it
travels with the run and never lands in the repository) and the submission CSV.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from comicdepth_tf import io, metrics, paths, submission
from comicdepth_tf.errors import DataFormatError, ParameterError

STAGE = "50_evaluate"
EVALUATION_FILE = "evaluation.json"
DEPTH_MAPS_DIR = "depth_maps"
AI4VA_PREDICTIONS_DIR = "ai4va_predictions"
POINTER_DIR = "configurations"
#: The ordering baseline of the relative (dB) scores.
BASELINE = "batchnorm_trick"
CONVENTIONS = ("metric", "inverse", "relative")
NATURAL_SET = "natural_val"
#: Natural model folder and pointer written by stage 10 (see comicdepth_tf.inference).
NATURAL_MODEL_NAME = "depth_irv2"
#: The stage whose configurations are trained once per seed (``SEEDS`` of notebook 40).
SEEDED_STAGE = "40_comics_depth"


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
    """

    name: str
    label: str
    stage: str
    kind: str
    sets: tuple[str, ...] = ()
    fallback: str | None = None

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


# --------------------------------------------------------------------------- writers (for stages)


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
    io.atomic_write_json(run_dir / EVALUATION_FILE, record)
    root = _models_root(models_root).resolve()
    try:
        rel = run_dir.relative_to(root).as_posix()
    except ValueError:
        rel = str(run_dir)
    written = None
    if seed is not None:
        seeds_file = seeds_pointer(profile, root)
        table = io.read_json(seeds_file) if seeds_file.is_file() else {}
        table.setdefault(str(int(seed)), {})[configuration_name] = rel
        written = io.atomic_write_json(seeds_file, {k: dict(sorted(v.items())) for k, v in sorted(table.items())})
    if primary:
        pointer = root / POINTER_DIR / f"{profile}.json"
        table = io.read_json(pointer) if pointer.is_file() else {}
        table[configuration_name] = rel
        written = io.atomic_write_json(pointer, dict(sorted(table.items())))
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
        io.atomic_write_bytes(folder / f"{stem}.npy", _npy_bytes(arr))
    return folder


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io as _pyio

    buf = _pyio.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def save_ai4va_predictions(run_dir: str | os.PathLike, split: str, table, segments) -> Path:
    """Validate a per-segment prediction table against ``segments`` and write it (atomic).

    Returns:
        ``<run_dir>/ai4va_predictions/<split>.csv``.
    """
    return submission.write_submission(Path(run_dir) / AI4VA_PREDICTIONS_DIR / f"{split}.csv", table, segments)


# --------------------------------------------------------------------------- discovery


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


def _read_record(run_dir: Path) -> dict:
    file = run_dir / EVALUATION_FILE
    record = io.read_json(file) if file.is_file() else {}
    if not isinstance(record, dict):
        raise DataFormatError(file, "", "a JSON object with configuration, profile and convention")
    return record


def _scan(root: Path, profile: str, seed: int | None = None) -> dict[str, Path]:
    """configuration -> newest run folder whose evaluation.json names it and ``profile`` (and
    ``seed``, for the configurations trained per seed, when one is asked for)."""
    found: dict[str, tuple[float, Path]] = {}
    for file in root.glob(f"*/*/{EVALUATION_FILE}"):
        try:
            record = io.read_json(file)
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
    pointed = io.read_json(pointer) if pointer.is_file() else {}
    per_seed: dict = {}
    if seed is not None:
        seeds_file = seeds_pointer(profile, root)
        per_seed = (io.read_json(seeds_file) if seeds_file.is_file() else {}).get(str(int(seed)), {})
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
        elif conf.name == "natural_irv2":
            natural = root / NATURAL_MODEL_NAME / f"latest-{profile}.json"
            record = io.read_json(natural) if natural.is_file() else {}
            if isinstance(record, dict) and (root / NATURAL_MODEL_NAME / str(record.get("run_id"))).is_dir():
                ref.run_dir, ref.source = root / NATURAL_MODEL_NAME / record["run_id"], natural.name
        if ref.run_dir is None and conf.fallback and refs.get(conf.fallback) and refs[conf.fallback].run_dir:
            base = refs[conf.fallback]
            ref.run_dir, ref.source = base.run_dir, f"{conf.fallback} run (same model)"
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
                ref.record = _read_record(ref.run_dir)
            except DataFormatError as exc:
                ref.problem = str(exc)
        refs[conf.name] = ref
    return refs


# --------------------------------------------------------------------------- evaluation sets


@dataclass(frozen=True)
class EvalItem:
    """One evaluation image.

    Attributes:
        stem: its key in ``depth_maps/<set>/``: the image file's stem.
        image: the image file.
        depth_gt: dense ground truth file, or None.
        depth_codec: codec of ``depth_gt`` (see :func:`comicdepth_tf.data.formats.rgbd.decode_depth`).
        points: ordering points, or None.
    """

    stem: str
    image: Path
    depth_gt: Path | None = None
    depth_codec: str = "png16_mm"
    points: Any = None


@dataclass
class EvalSet:
    """A named list of :class:`EvalItem`."""

    name: str
    items: list[EvalItem]
    source: Path

    def __len__(self) -> int:
        return len(self.items)


def load_eval_sets(data_root: str | os.PathLike, split: str = "val", panels_dir: str | os.PathLike = "",
                   natural_dir: str | os.PathLike = "") -> dict[str, EvalSet]:
    """The evaluation sets present: ``panels_<split>`` and ``natural_val``.

    Args:
        data_root: the embedded dataset root (``panels/``, ``nyu/``); may be "" when both
            folders are given.
        split: the panel split.
        panels_dir: a ComicsDepth-style folder holding ``<split>/images`` and ``<split>/depth``
            (default ``<data_root>/panels``).
        natural_dir: a NYU Kaggle folder (default ``<data_root>/nyu``); its ``test`` CSV is the
            natural validation set.

    Returns:
        set name -> :class:`EvalSet`, only for the folders that exist.
    """
    from comicdepth_tf.data.formats import nyu, ordering

    root = Path(data_root) if data_root else None
    sets: dict[str, EvalSet] = {}
    panels = Path(panels_dir) if panels_dir else (root / "panels" if root else None)
    if panels is not None and (panels / split).is_dir():
        loaded = ordering.load_ordering_set(panels / split)
        items = [EvalItem(p.name, p.image, p.depth_gt, "png16_mm", p.points) for p in loaded]
        sets[f"panels_{split}"] = EvalSet(f"panels_{split}", items, panels / split)
    natural = Path(natural_dir) if natural_dir else (root / "nyu" if root else None)
    if natural is not None and natural.is_dir():
        found = nyu.find_nyu(natural)
        if "test" in found:
            records = nyu.load_nyu_csv(found["test"])
            items = [EvalItem(r.rgb_path.stem, r.rgb_path, r.depth_path, r.codec) for r in records]
            stems = [i.stem for i in items]
            if len(set(stems)) != len(stems):
                raise DataFormatError(found["test"], "rgb paths", "image files with distinct stems (depth maps are "
                                      "saved as <stem>.npy)")
            sets[NATURAL_SET] = EvalSet(NATURAL_SET, items, found["test"])
    return sets


def _set_key(set_name: str, panels_set: str) -> str:
    return panels_set if set_name == "panels" else set_name


# --------------------------------------------------------------------------- depth maps


def _map_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.npy", f"{stem}_depth.npy", f"{stem}_depth.png"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_map(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataFormatError(path, "", "a float .npy depth map", str(exc)) from None
    else:
        from comicdepth_tf.inference import read_depth_prediction

        arr = read_depth_prediction(path)
    arr = np.asarray(arr, dtype=np.float32)
    return arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr


def run_convention(run_dir: Path, record: Mapping[str, Any], set_folder: Path | None = None) -> str:
    """The convention of a run's maps: ``evaluation.json``, a ``comicdepth predict`` manifest,
    the run's ``config.json`` model info, else ``metric``."""
    if record.get("convention") in CONVENTIONS:
        return record["convention"]
    if set_folder is not None and (set_folder / "depth_manifest.json").is_file():
        manifest = io.read_json(set_folder / "depth_manifest.json")
        if manifest.get("convention") in CONVENTIONS:
            return manifest["convention"]
    config = io.read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    output = (config.get("model_info") or {}).get("output") if isinstance(config, dict) else None
    return output if output in CONVENTIONS else "metric"


@dataclass
class MapSource:
    """How one configuration's maps of one set are obtained."""

    kind: str  # "files" | "model" | "missing"
    folder: Path | None = None
    convention: str = "metric"
    note: str = ""


def map_source(ref: RunRef, set_name: str, predict_missing: bool = True) -> MapSource:
    """Where ``ref``'s maps of ``set_name`` come from: saved files, the run's model, or nowhere."""
    if ref.run_dir is None:
        return MapSource("missing", note=ref.missing or "missing")
    folder = ref.run_dir / DEPTH_MAPS_DIR / set_name
    if folder.is_dir() and any(folder.iterdir()):
        return MapSource("files", folder, run_convention(ref.run_dir, ref.record, folder))
    model_file = ref.run_dir / "model.keras"
    if predict_missing and model_file.is_file():
        return MapSource("model", None, run_convention(ref.run_dir, ref.record),
                         note=f"predicted here from {model_file.name}")
    expected = f"{folder}/<stem>.npy" + (f" or {model_file}" if predict_missing else "")
    return MapSource("missing", note=f"missing: no depth maps for {set_name} at {expected}")


def iter_depth_maps(ref: RunRef, eval_set: EvalSet, source: MapSource, size: int | Sequence[int] | None = None,
                    batch_size: int = 8, chunk: int = 32) -> Iterator[tuple[EvalItem, np.ndarray]]:
    """Yield ``(item, map)`` for every item of ``eval_set``, from files or from the run's model.

    Raises:
        DataFormatError: a map file is missing for an item (all missing stems listed) or has a
            size other than its image's.
    """
    from comicdepth_tf.data.formats.coco_images import image_size

    if source.kind == "files":
        files = {item.stem: _map_file(source.folder, item.stem) for item in eval_set.items}
        absent = sorted(s for s, f in files.items() if f is None)
        if absent:
            raise DataFormatError(source.folder, "", f"a depth map (<stem>.npy) for every image of {eval_set.source}",
                                  f"missing for {absent[:20]}{' …' if len(absent) > 20 else ''} ({len(absent)} in all)")
        for item in eval_set.items:
            depth = _read_map(files[item.stem])
            _check_size(files[item.stem], depth, image_size(item.image), item)
            yield item, depth
        return
    if source.kind != "model":
        raise ParameterError(f"no maps to read: {source.note}")
    from comicdepth_tf import inference
    from comicdepth_tf.models.registry import load_model, read_run

    model = load_model(ref.run_dir)
    if size is None:
        size = ref.record.get("image_size") or inference.default_size(read_run(ref.run_dir)["config"])
    predict_fn = inference.make_predict_fn(model)
    for start in range(0, len(eval_set.items), chunk):
        items = eval_set.items[start:start + chunk]
        maps = inference.predict_depth(model, [str(i.image) for i in items], size=size, batch_size=batch_size,
                                       predict_fn=predict_fn)
        yield from zip(items, maps)


def read_maps(ref: RunRef, eval_set: EvalSet, stems: Sequence[str], predict_missing: bool = True,
              size: int | Sequence[int] | None = None) -> tuple[dict[str, np.ndarray], str]:
    """The maps of some images of ``eval_set`` (saved files, else the run's model) and their convention.

    Raises:
        ParameterError: the run has neither maps nor a model for that set.
    """
    wanted = set(stems)
    subset = EvalSet(eval_set.name, [i for i in eval_set.items if i.stem in wanted], eval_set.source)
    source = map_source(ref, eval_set.name, predict_missing)
    if source.kind == "missing":
        raise ParameterError(source.note)
    return {item.stem: depth for item, depth in iter_depth_maps(ref, subset, source, size=size)}, source.convention


def _check_size(path: Path, depth: np.ndarray, wh: tuple[int, int], item: EvalItem) -> None:
    w, h = wh
    if depth.ndim != 2 or depth.shape != (h, w):
        raise DataFormatError(path, "shape", f"(H, W) = ({h}, {w}), the original size of {item.image.name}",
                              str(depth.shape))


# --------------------------------------------------------------------------- scoring


def ordering_convention(convention: str) -> str:
    """``inverse`` maps are compared as they are; metric and relative depth are negated."""
    return "inverse" if convention == "inverse" else "depth"


@dataclass
class DepthScores:
    """Scores of one configuration on one set."""

    per_image: dict[str, dict] = field(default_factory=dict)  # stem -> ordering_accuracy(...)
    dense: dict[str, float] = field(default_factory=dict)
    dense_per_image: dict[str, dict] = field(default_factory=dict)  # stem -> depth_metrics(...) of that image
    shown: dict[str, np.ndarray] = field(default_factory=dict)  # stems kept for the grid
    convention: str = "metric"


def score_depth_set(ref: RunRef, eval_set: EvalSet, source: MapSource, align: str | None = "median",
                    keep: Sequence[str] = (), size=None, batch_size: int = 8) -> DepthScores:
    """Ordering accuracy per image (when the set has points) and dense metrics (when it has
    ground truth) of one configuration's maps; keeps the maps of the ``keep`` stems."""
    from comicdepth_tf.data.formats.rgbd import decode_depth

    scores = DepthScores(convention=source.convention)
    order_conv = ordering_convention(source.convention)
    space = "inverse" if source.convention == "inverse" else "depth"
    dense = []  # per-image dense metrics (images differ in size), averaged at the end
    for item, depth in iter_depth_maps(ref, eval_set, source, size=size, batch_size=batch_size):
        if item.points is not None and len(item.points):
            scores.per_image[item.stem] = metrics.ordering_accuracy(depth, item.points, order_conv)
        if item.depth_gt is not None:
            gt = decode_depth(item.depth_gt, item.depth_codec)
            result = metrics.depth_metrics(depth, gt, align=align, pred_space=space)
            if result["n_images"]:
                dense.append(result)
                scores.dense_per_image[item.stem] = result
        if item.stem in keep:
            scores.shown[item.stem] = depth
    if dense:
        scores.dense = {k: float(np.mean([d[k] for d in dense])) for k in metrics.DEPTH_METRIC_KEYS}
        scores.dense["n_images"] = len(dense)
    return scores


def constant_predictions(train, segments):
    """The constant predictor: the training means of Interdepth and Intradepth for every segment."""
    train_segs = list(getattr(train, "segments", train))
    inter = [s.interdepth for s in train_segs if s.interdepth is not None]
    intra = [s.intradepth for s in train_segs if s.intradepth is not None]
    if not inter or not intra:
        raise ParameterError("constant predictor: the training annotations hold no Interdepth/Intradepth levels")
    segs = list(getattr(segments, "segments", segments))
    n = len(segs)
    return submission.prediction_rows(segs, np.full(n, np.mean(inter)), np.full(n, np.mean(intra)))


# --------------------------------------------------------------------------- the comparison


@dataclass
class Evaluation:
    """Everything the notebook shows.

    Attributes:
        table: the comparison DataFrame (one row per configuration, in order).
        per_image: configuration -> stem -> ordering accuracies (panels set).
        shown: configuration -> stem -> map, for the qualitative grid.
        conventions: configuration -> convention of its maps.
        ai4va: configuration -> split -> validated prediction table.
        ordering_details: configuration -> full ordering summary (quartiles, std, dB counts).
        dense_per_image: configuration -> set -> stem -> dense metrics of that image (their
            means are the table's ``comics_*`` / ``natural_*`` columns).
    """

    table: Any
    per_image: dict[str, dict[str, dict]]
    shown: dict[str, dict[str, np.ndarray]]
    conventions: dict[str, str]
    ai4va: dict[str, dict[str, Any]]
    ordering_details: dict[str, dict[str, float]]
    dense_per_image: dict[str, dict[str, dict[str, dict]]] = field(default_factory=dict)


def _depth_row(conf: Configuration, ref: RunRef, sets: Mapping[str, EvalSet], panels_set: str, align, keep,
               predict_missing: bool, size, batch_size: int, ev: Evaluation) -> dict:
    """Scores of a depth configuration on its wanted sets (and any other set its run has maps
    for). Status ``ok`` when at least one wanted set was scored; what is missing goes to
    ``note`` then, or to ``status`` when nothing could be scored."""
    row: dict[str, Any] = {}
    notes: list[str] = []
    missing: list[str] = []
    wanted = [_set_key(s, panels_set) for s in conf.sets]
    present = []
    if ref.run_dir is not None and (ref.run_dir / DEPTH_MAPS_DIR).is_dir():
        present = [p.name for p in sorted((ref.run_dir / DEPTH_MAPS_DIR).iterdir()) if p.is_dir() and p.name in sets]
    scored = False
    for set_name in dict.fromkeys(wanted + present):
        if set_name not in sets:
            missing.append(f"missing: evaluation set {set_name} is not in the dataset")
            continue
        source = map_source(ref, set_name, predict_missing)
        if source.kind == "missing":
            missing.append(source.note)
            continue
        scores = score_depth_set(ref, sets[set_name], source, align, keep if set_name == panels_set else (),
                                 size, batch_size)
        scored = True
        ev.conventions[conf.name] = source.convention
        if source.note:
            notes.append(f"{set_name}: {source.note}")
        prefix = "natural" if set_name == NATURAL_SET else "comics"
        if scores.dense_per_image:
            ev.dense_per_image.setdefault(conf.name, {})[set_name] = scores.dense_per_image
        for k in ("delta1", "abs_rel", "rmse"):
            if k in scores.dense:
                row[f"{prefix}_{k}"] = scores.dense[k]
        if set_name == panels_set and scores.per_image:
            ev.per_image[conf.name] = scores.per_image
            ev.shown[conf.name] = scores.shown
            summary = metrics.ordering_scores(scores.per_image.values())
            ev.ordering_details[conf.name] = summary
            row.update(inter_acc=summary["inter_mean"], intra_acc=summary["intra_mean"],
                       ordering_images=summary["inter_count"])
    if scored:
        row["status"] = "ok"
        row["note"] = "; ".join(notes + missing)
    else:
        row["status"] = missing[0] if missing else f"missing: no evaluation set wanted by {conf.name}"
        row["note"] = "; ".join(missing[1:])
    return row


def _ai4va_row(conf: Configuration, ref: RunRef, ai4va_sets: Mapping[str, Any], split: str, ev: Evaluation) -> dict:
    row: dict[str, Any] = {"note": ""}
    tables: dict[str, Any] = {}
    # The constant predictor needs no run: the training means are computed here (not trained).
    if ref.run_dir is None and conf.name == "ai4va_constant":
        if "train" not in ai4va_sets:
            return {"status": "missing: AI4VA train annotations (needed for the training means)", "note": ""}
        for s, data in ai4va_sets.items():
            if s != "train":
                tables[s] = constant_predictions(ai4va_sets["train"], data)
        row["found_by"] = "computed here from the training labels"
    elif ref.run_dir is None:
        return {"status": ref.missing, "note": ""}
    else:
        folder = ref.run_dir / AI4VA_PREDICTIONS_DIR
        for s, data in ai4va_sets.items():
            if (folder / f"{s}.csv").is_file():
                tables[s] = submission.read_predictions(folder / f"{s}.csv", data)
    ev.ai4va[conf.name] = tables
    if split not in tables:
        where = ref.run_dir / AI4VA_PREDICTIONS_DIR / f"{split}.csv" if ref.run_dir else "(no run)"
        return {**row, "status": f"missing: AI4VA {split} predictions at {where}"}
    if split not in ai4va_sets:
        return {**row, "status": f"missing: AI4VA {split} annotations"}
    seg = metrics.ai4va_mse(tables[split], ai4va_sets[split], mode="segment")
    off = metrics.ai4va_mse(tables[split], ai4va_sets[split], mode="official")
    row.update(status="ok", ai4va_mse_inter=seg["mse_interdepth"], ai4va_mse_intra=seg["mse_intradepth"],
               ai4va_mse_overall=seg["mse_overall"], ai4va_official_mse_overall=off["mse_overall"],
               ai4va_segments=seg["n_interdepth"])
    return row


#: Column order of the comparison table.
TABLE_COLUMNS = ("configuration", "label", "stage", "status", "inter_acc", "intra_acc", "inter_db", "intra_db",
                 "ordering_images", "comics_delta1", "comics_abs_rel", "comics_rmse", "natural_delta1",
                 "natural_abs_rel", "natural_rmse", "ai4va_mse_inter", "ai4va_mse_intra", "ai4va_mse_overall",
                 "ai4va_official_mse_overall", "ai4va_segments", "run", "found_by", "note")


def evaluate_all(refs: Mapping[str, RunRef], sets: Mapping[str, EvalSet], ai4va_sets: Mapping[str, Any],
                 panels_split: str = "val", ai4va_split: str = "val", baseline: str = BASELINE,
                 align: str | None = "median", n_show: int = 3, predict_missing: bool = True,
                 size: int | Sequence[int] | None = None, batch_size: int = 8) -> Evaluation:
    """Score every configuration; a configuration that cannot be scored keeps its row.

    Args:
        refs: from :func:`find_runs`.
        sets: from :func:`load_eval_sets`.
        ai4va_sets: split -> ``AI4VADataset`` (``train`` for the constant predictor, the scored
            split, and ``test`` — the test segments — for predictions to validate).
        panels_split: the panel split scored for ordering and comics dense metrics.
        ai4va_split: the AI4VA split scored.
        baseline: configuration whose per-image accuracies are the dB reference.
        align: per-image alignment of the dense metrics (``None``, ``median``, ``lstsq``, ...).
        n_show: how many panels' maps to keep for the qualitative grid.
        predict_missing: predict with the run's ``model.keras`` when its maps are absent.
        size: network size for those predictions (default: the run's own).
        batch_size: images per forward pass.

    Returns:
        An :class:`Evaluation`. A run whose files are malformed gets the status
        ``error: <message>`` (the message names the file), the other rows are still scored.
    """
    import pandas as pd

    panels_set = f"panels_{panels_split}"
    keep = [i.stem for i in sets[panels_set].items[:n_show]] if panels_set in sets else []
    ev = Evaluation(None, {}, {}, {}, {}, {})
    rows = []
    for conf in CONFIGURATIONS:
        ref = refs.get(conf.name) or RunRef(conf.name, missing=f"missing: {conf.name} was not looked up")
        try:
            if ref.problem:
                row = {"status": f"error: {ref.problem}", "note": ""}
            elif conf.kind == "depth":
                row = _depth_row(conf, ref, sets, panels_set, align, keep, predict_missing, size, batch_size, ev)
            else:
                row = _ai4va_row(conf, ref, ai4va_sets, ai4va_split, ev)
        except (DataFormatError, ParameterError, OSError) as exc:
            row = {"status": f"error: {exc}", "note": ""}
        row.update(configuration=conf.name, label=conf.label, stage=conf.stage,
                   run=str(ref.run_dir) if ref.run_dir else "")
        row.setdefault("found_by", ref.source)
        rows.append(row)
    _add_relative_db(rows, ev, baseline)
    table = pd.DataFrame(rows)
    for col in TABLE_COLUMNS:
        if col not in table.columns:
            table[col] = np.nan
    ev.table = table[list(TABLE_COLUMNS)]
    return ev


def _add_relative_db(rows: list[dict], ev: Evaluation, baseline: str) -> None:
    base = ev.per_image.get(baseline)
    for row in rows:
        mine = ev.per_image.get(row["configuration"])
        if not mine:
            continue
        if not base:
            row["note"] = "; ".join(filter(None, [row.get("note"), f"no dB: baseline {baseline} not scored"]))
            continue
        stems = sorted(set(mine) & set(base))
        for kind in ("inter", "intra"):
            scores = metrics.relative_db_scores([mine[s][kind] for s in stems], [base[s][kind] for s in stems])
            row[f"{kind}_db"] = scores["mean"]
            details = ev.ordering_details.setdefault(row["configuration"], {})
            details.update({f"{kind}_db_{k}": v for k, v in scores.items()})


def ordering_details_table(ev: Evaluation):
    """Full ordering statistics per scored configuration (quartiles, std, counts, dB floor/cap)."""
    import pandas as pd

    rows = [{"configuration": name, **d} for name, d in ev.ordering_details.items()]
    return pd.DataFrame(rows)


def ordering_per_panel(ev: Evaluation):
    """Ordering accuracy and pair counts of every panel for every scored configuration (one row each).

    The per-item results behind ``inter_acc`` / ``intra_acc`` (their panel means), kept so that
    any comparison can be recomputed or resampled.
    """
    import pandas as pd

    rows = [{"configuration": name, "panel": stem, **scores}
            for name, per_image in ev.per_image.items() for stem, scores in sorted(per_image.items())]
    return pd.DataFrame(rows, columns=["configuration", "panel", "inter", "intra", "inter_pairs", "intra_pairs"])


# --------------------------------------------------------------------------- figures


#: Bar-chart panels: (column, title, higher is better).
BAR_METRICS = (("inter_acc", "inter-object accuracy", True), ("intra_acc", "intra-object accuracy", True),
               ("inter_db", f"inter vs {BASELINE} (dB)", True), ("comics_delta1", "comics δ1 (aligned)", True),
               ("ai4va_mse_overall", "AI4VA overall MSE", False))


def bar_chart(table, columns=BAR_METRICS, size: float = 3.2, errors: Mapping[str, Sequence] | None = None,
              title: str | None = None):
    """Horizontal bars per metric, one bar per configuration; rows without a value are labelled
    ``missing`` (or ``n/a`` when the configuration does not produce that metric).

    Args:
        table: one row per configuration with ``configuration``, ``status`` and the columns.
        columns: ``(column, title, higher is better)`` per panel.
        size: inches per panel.
        errors: column -> one ``(low, high)`` per table row (absolute values, NaN for none),
            drawn as error bars.
        title: the figure's title (e.g. what the bars and error bars are).
    """
    from comicdepth_tf.viz import pyplot

    plt = pyplot()
    labels = list(table["configuration"])
    fig, axes = plt.subplots(1, len(columns), figsize=(size * len(columns) + 2.5, 0.32 * len(labels) + 1.6),
                             sharey=True, squeeze=False)
    y = np.arange(len(labels))
    for ax, (col, title_, higher) in zip(axes[0], columns):
        values = np.asarray(table[col], dtype=np.float64)
        finite = np.isfinite(values)
        xerr = None
        if errors and col in errors:
            bounds = np.asarray(errors[col], dtype=np.float64).reshape(len(values), 2)[finite]
            # Bars without an interval get none (NaN would hide the bar's whisker in matplotlib).
            xerr = np.nan_to_num(np.abs(np.stack([values[finite] - bounds[:, 0], bounds[:, 1] - values[finite]])))
        ax.barh(y[finite], values[finite], color="#3b75af" if higher else "#c0504d", xerr=xerr,
                error_kw={"ecolor": "#222", "elinewidth": 0.9, "capsize": 2.5})
        for yi, ok, status in zip(y, finite, table["status"]):
            if not ok:
                ax.text(0, yi, " missing" if str(status).startswith("missing") else " n/a", va="center",
                        fontsize=7, color="#888")
        ax.set_title(title_ + (" ↑" if higher else " ↓"), fontsize=9)
        ax.axvline(0, color="#444", lw=0.6)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_yticks(y, labels, fontsize=8)
    axes[0, 0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _display_depth(depth: np.ndarray, convention: str) -> np.ndarray:
    """A map in depth order (larger = farther), robustly scaled to [0.05, 1] for display."""
    d = np.asarray(depth, dtype=np.float64)
    if convention == "inverse":
        d = -d
    finite = np.isfinite(d)
    if not finite.any():
        return np.zeros_like(d)
    lo, hi = np.percentile(d[finite], [2, 98])
    hi = hi if hi > lo else lo + 1e-6
    return np.where(finite, 0.05 + 0.95 * np.clip((d - lo) / (hi - lo), 0, 1), 0.0)


def qualitative_grid(ev: Evaluation, eval_set: EvalSet, n: int = 3, size: float = 2.2):
    """Input, ground truth (when present) and every scored configuration's depth on the same
    panels; each map is shown in depth order (near = bright), scaled per map, because the
    models' units differ (so without colorbars); cells take the panels' shape."""
    from comicdepth_tf.data.formats.rgbd import decode_depth
    from comicdepth_tf.viz import depth_grid

    rows = []
    for item in eval_set.items[:n]:
        row: dict[str, np.ndarray] = {"input": io.read_image(item.image)}
        if item.depth_gt is not None:
            row["ground truth"] = _display_depth(decode_depth(item.depth_gt, item.depth_codec), "metric")
        for name, maps in ev.shown.items():
            if item.stem in maps:
                row[name] = _display_depth(maps[item.stem], ev.conventions.get(name, "metric"))
        rows.append(row)
    return depth_grid(rows, size=size, colorbar=False)  # per-map display scales: a colorbar has no unit to read


# --------------------------------------------------------------------------- results and submission


def results_text(table, when: _dt.datetime | None = None, split: str = "val") -> str:
    """The seed's results block (``Evaluation written on`` / ``Model`` / three MSE lines) for every
    configuration that has an AI4VA score, blocks separated by a blank line."""
    stamp = (when or _dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    blocks = []
    for _, row in table.iterrows():
        if not (isinstance(row["ai4va_mse_overall"], float) and math.isfinite(row["ai4va_mse_overall"])):
            continue
        where = row["run"] or row["found_by"] or "no run"
        blocks.append(f"Evaluation written on: {stamp}\n"
                      f"Model: {row['configuration']} ({where}; AI4VA {split}, per-segment matching)\n"
                      f"MSE of Inter-depth: {float(row['ai4va_mse_inter'])!r}\n"
                      f"MSE of Intra-depth: {float(row['ai4va_mse_intra'])!r}\n"
                      f"Overall MSE: {float(row['ai4va_mse_overall'])!r}\n")
    return "\n".join(blocks)


def write_results(folder: str | os.PathLike, table, when: _dt.datetime | None = None, split: str = "val") -> Path:
    """Write ``<folder>/results/evaluation_<YYYYmmdd-HHMMSS>.txt`` (atomic) and return its path."""
    when = when or _dt.datetime.now()
    path = Path(folder) / "results" / f"evaluation_{when.strftime('%Y%m%d-%H%M%S')}.txt"
    return io.atomic_write_text(path, results_text(table, when, split))


def write_submission(ev: Evaluation, test_segments, path: str | os.PathLike, prefer: str = "ai4va_segment",
                     fallback: str = "ai4va_constant") -> tuple[Path, str]:
    """Write the AI4VA submission CSV from ``prefer``'s test predictions, else ``fallback``'s.

    Returns:
        ``(path, configuration used)``.

    Raises:
        DataFormatError: neither configuration has test predictions, or the table does not
            cover the test segments exactly (nothing is written).
    """
    for name in (prefer, fallback):
        table = ev.ai4va.get(name, {}).get("test")
        if table is not None:
            return submission.write_submission(path, table, test_segments), name
    raise DataFormatError(path, "", f"test predictions of {prefer} or {fallback} to write a submission",
                          "neither has ai4va_predictions/test.csv")


# --------------------------------------------------------------------------- notebook summaries


def runs_table(refs: Mapping[str, RunRef]):
    """One row per configuration: the run found and how, or what is missing."""
    import pandas as pd

    return pd.DataFrame([{"configuration": name, "stage": configuration(name).stage,
                          "run": str(r.run_dir) if r.run_dir else "", "found_by": r.source,
                          "convention": r.record.get("convention", ""), "missing": r.missing or ""}
                         for name, r in refs.items()])


#: Per-configuration columns repeated in the stage metrics (shown on the run index).
SUMMARY_COLUMNS = ("inter_acc", "intra_acc", "inter_db", "comics_delta1", "natural_delta1", "ai4va_mse_overall")


def summary_metrics(ev: Evaluation, table=None) -> dict[str, Any]:
    """Stage metrics: how many configurations were scored, missing or in error, and per metric
    a ``{configuration: value}`` dict of the scored ones (of ``table``, default ``ev.table``; e.g.
    the means over seeds of :func:`comicdepth_tf.comparisons.mean_table`)."""
    table = ev.table if table is None else table
    status = table["status"].astype(str)
    out: dict[str, Any] = {
        "configurations": int(len(table)),
        "scored": int((status == "ok").sum()),
        "missing": int(status.str.startswith("missing").sum()),
        "errors": int(status.str.startswith("error").sum()),
    }
    for col in SUMMARY_COLUMNS:
        values = {c: float(v) for c, v in zip(table["configuration"], table[col])
                  if isinstance(v, (int, float)) and math.isfinite(v)}
        if values:
            out[col] = values
    return out
