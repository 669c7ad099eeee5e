"""Scoring saved depth configurations side by side, never training (notebooks 40 and 50).

The evaluation only **loads**: depth maps a stage saved with its run, or the run's
``model.keras`` (predicted here with :func:`comicdepth_tf.inference.predict_depth`, which is
inference, not training), and AI4VA prediction tables. A configuration whose run cannot be
found keeps its row, with the status ``missing: <what was expected where>``.

Configurations (:data:`CONFIGURATIONS`, in table order)
--------------------------------------------------------
``natural_irv2`` (stage 10), ``approach1_simple``, ``approach1_depth_aware`` (stage 30),
``approach2_simple``, ``approach2_add_text``, ``approach2_add_text_ignoretext``,
``approach2_exact_comics`` (only when trained: an embedded-only reference),
``no_batchnorm_trick``, ``batchnorm_trick`` (stage 40, depth maps), ``ai4va_segment``,
``ai4va_page_baseline`` (stage 40, AI4VA predictions) and ``ai4va_constant`` (the training
means; computed here from the training labels when no run provides it).

Runs are found through :mod:`comicdepth_tf.runs` (:func:`~comicdepth_tf.runs.find_runs`; its
module doc is the discovery contract a stage follows so that this module finds its outputs).

Several seeds: stage 40 trains its configurations once per seed (:attr:`Configuration.seeded`)
and registers each run with its seed: ``evaluation.json`` holds ``seed`` and
``saved_models/configurations/<profile>-seeds.json`` maps seed -> configuration -> run folder.
:func:`comicdepth_tf.runs.find_runs` with ``seed=`` resolves those configurations from that pointer (or a scan of
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

Outputs: the comparison table and bar charts; notebook 50's qualitative grid, results file and
submission are in :mod:`comicdepth_tf.stages.evaluate`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from comicdepth_tf import fileio, metrics, submission
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.runs import (
    AI4VA_PREDICTIONS_DIR,
    CONFIGURATIONS,
    CONVENTIONS,
    DEPTH_MAPS_DIR,
    NATURAL_SET,
    Configuration,
    RunRef,
    configuration,
)

#: The ordering baseline of the relative (dB) scores.
BASELINE = "batchnorm_trick"


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
        manifest = fileio.read_json(set_folder / "depth_manifest.json")
        if manifest.get("convention") in CONVENTIONS:
            return manifest["convention"]
    config = fileio.read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
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
        if conf.optional and conf.name not in refs:
            continue
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


def display_depth(depth: np.ndarray, convention: str) -> np.ndarray:
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


# --------------------------------------------------------------------------- notebook summaries


def runs_table(refs: Mapping[str, RunRef]):
    """One row per configuration: the run found and how, or what is missing."""
    import pandas as pd

    return pd.DataFrame([{"configuration": name, "stage": configuration(name).stage,
                          "run": str(r.run_dir) if r.run_dir else "", "found_by": r.source,
                          "convention": r.record.get("convention", ""), "missing": r.missing or ""}
                         for name, r in refs.items()])
