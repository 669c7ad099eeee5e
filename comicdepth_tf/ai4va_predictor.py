"""Per-segment AI4VA depth levels from a dense depth map, and the baselines it is compared with.

The seed solutions (seed 000) regress one ``(Interdepth, Intradepth)`` pair per *page* and copy
it to every segment. Here every segment gets its own prediction:

1. **Features** (:func:`segment_features`): the dense depth map is pooled inside each segment's
   mask (median, 10/25/75/90 % quantiles, normalised by the panel's depth range), the share of
   the panel's pixels nearer than the segment's median, the segment's rank among the segments
   of its panel, the rank of its *pseudo-object* among the panel's pseudo-objects and its rank
   inside that pseudo-object, its box position and size relative to the panel, and its category
   (one-hot). A pseudo-object is a connected group of touching segments of one category with
   similar depth (AI4VA does not say which segments form an object; Interdepth ranks objects
   and Intradepth ranks the parts of one object).
2. **Regressor** (:class:`SegmentRegressor`): closed-form ridge regression on standardised
   features, one per level, fitted on the training annotations. The *direction* of the labels
   (does 0 mean near or far?) is not assumed: the regression learns the signs of the depth
   features from the data. Predictions are clipped to the level range seen in training;
   rounding to whole levels is optional (``round_levels=True``): it raises the MSE (on the
   embedded cpu data 0.24 → 0.31 overall), since a rounded miss costs a whole level.
3. **Baselines**: :class:`ConstantPredictor` (the training mean of each level) and the seed's
   whole-page network (:func:`train_seed_baseline`, model in
   :mod:`comicdepth_tf.models.segment_head`).

"Nearer" uses the depth map's convention: ``larger_is_nearer=False`` for metric depth,
``True`` for inverse depth; a wrong choice only flips the learned signs.

Predictions come as :class:`SegmentPredictions` (per annotation id), which
:func:`predictions_frame` turns into the submission table
(``annotation_id, img_id, category_id, pred_Intradepth, pred_Interdepth``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from comicdepth_tf.errors import DataFormatError, ParameterError

LEVELS = ("interdepth", "intradepth")
#: Submission columns (AI4VA) plus the annotation id.
SUBMISSION_COLUMNS = ("annotation_id", "img_id", "category_id", "pred_Intradepth", "pred_Interdepth")
#: Pseudo-objects: touching segments of one category whose medians differ by less than this
#: share of the panel's depth range are grouped.
DEFAULT_GROUP_TOLERANCE = 0.03
#: Pixels of dilation deciding that two segments touch.
TOUCH_PIXELS = 2

_BASE_FEATURES = (
    "median", "q10", "q25", "q75", "q90", "spread", "share_nearer",
    "rank", "rank_frac", "n_segments",
    "object_rank", "object_rank_frac", "n_objects",
    "part_rank", "part_rank_frac", "part_gap", "object_size",
    "cx", "cy", "w", "h", "area_frac",
)


# --------------------------------------------------------------------------- data classes


@dataclass
class FeatureTable:
    """Per-segment features and labels of one AI4VA split.

    Attributes:
        annotation_ids, image_ids, category_ids: ``(N,)`` int64.
        features: ``(N, F)`` float64.
        names: the ``F`` feature names.
        interdepth, intradepth: ``(N,)`` float64 labels, NaN when unknown (test segments).
    """

    annotation_ids: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray
    features: np.ndarray
    names: list[str]
    interdepth: np.ndarray
    intradepth: np.ndarray

    def __len__(self) -> int:
        return int(self.annotation_ids.shape[0])

    def labels(self, level: str) -> np.ndarray:
        """The labels of ``level`` (``interdepth`` or ``intradepth``)."""
        if level not in LEVELS:
            raise ParameterError(f"level must be one of {LEVELS}, got {level!r}")
        return getattr(self, level)


@dataclass
class SegmentPredictions:
    """Predicted levels per segment (parallel arrays).

    Attributes:
        annotation_ids, image_ids, category_ids: ``(N,)`` int64.
        interdepth, intradepth: ``(N,)`` float64 predicted levels.
        source: what produced them (a model name).
    """

    annotation_ids: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray
    interdepth: np.ndarray
    intradepth: np.ndarray
    source: str = ""

    def as_dict(self) -> dict[int, tuple[float, float]]:
        """``annotation_id -> (interdepth, intradepth)``."""
        return {int(a): (float(i), float(j)) for a, i, j in zip(self.annotation_ids, self.interdepth, self.intradepth)}


# --------------------------------------------------------------------------- geometry helpers


def panel_boxes(dataset, image_id: int) -> list[tuple[int, int, int, int]]:
    """The panel boxes ``(x, y, w, h)`` of a page (``images[].panels``), or the whole page when absent."""
    page = dataset.page(image_id)
    record = dataset.coco.imgs.get(image_id, {})
    panels = record.get("panels")
    if not panels:
        return [(0, 0, page.width, page.height)]
    boxes = []
    for k, box in enumerate(panels):
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise DataFormatError(dataset.source, f"images[id={image_id}].panels[{k}]", "[x, y, w, h]", box)
        boxes.append(tuple(int(round(v)) for v in box))
    return boxes


def assign_panel(bbox, panels: Sequence[tuple[int, int, int, int]]) -> int:
    """Index of the panel holding most of a segment's box (the nearest by centre when none overlaps)."""
    x, y, w, h = bbox
    best, best_overlap = 0, -1.0
    for k, (px, py, pw, ph) in enumerate(panels):
        ox = max(0.0, min(x + w, px + pw) - max(x, px))
        oy = max(0.0, min(y + h, py + ph) - max(y, py))
        if ox * oy > best_overlap:
            best, best_overlap = k, ox * oy
    if best_overlap <= 0:
        cx, cy = x + w / 2, y + h / 2
        best = int(np.argmin([(cx - (px + pw / 2)) ** 2 + (cy - (py + ph / 2)) ** 2 for px, py, pw, ph in panels]))
    return best


def _touching_pairs(labels: np.ndarray, reach: int) -> set[tuple[int, int]]:
    """Pairs of segment labels (≥ 0) within ``reach`` pixels of each other (4-neighbour shifts)."""
    pairs: set[tuple[int, int]] = set()
    for d in range(1, reach + 1):
        for a, b in ((labels[:-d], labels[d:]), (labels[:, :-d], labels[:, d:])):
            m = (a >= 0) & (b >= 0) & (a != b)
            if m.any():
                found = np.unique(np.stack([np.minimum(a[m], b[m]), np.maximum(a[m], b[m])], 1), axis=0)
                pairs.update(map(tuple, found.tolist()))
    return pairs


def _components(n: int, edges: Sequence[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    roots = [find(i) for i in range(n)]
    _, ids = np.unique(roots, return_inverse=True)
    return ids


def _ranks(values: np.ndarray) -> np.ndarray:
    """For each value, how many values are strictly smaller (ties share a rank)."""
    return np.searchsorted(np.sort(values), values, side="left").astype(np.float64)


# --------------------------------------------------------------------------- features


def segment_features(
    dataset,
    image_id: int,
    depth: np.ndarray,
    categories: Sequence[int],
    larger_is_nearer: bool = False,
    group_tolerance: float = DEFAULT_GROUP_TOLERANCE,
) -> tuple[list, np.ndarray, list[str]]:
    """Features of every segment of one page.

    Args:
        dataset: an :class:`~comicdepth_tf.data.formats.ai4va.AI4VADataset`.
        image_id: the page.
        depth: ``(H, W)`` dense depth of the page (any convention; NaN, inf or ≤ 0 with metric
            depth count as "no value").
        categories: the category ids of the one-hot block (the training categories).
        larger_is_nearer: the map's convention (inverse depth: True).
        group_tolerance: pseudo-object grouping threshold, as a share of the panel depth range.

    Returns:
        ``(segments, features (n, F), names)``.
    """
    from comicdepth_tf.data.formats.ai4va import page_segments, segment_mask

    page = dataset.page(image_id)
    depth = np.asarray(depth, np.float64)
    if depth.shape != (page.height, page.width):
        raise ParameterError(
            f"depth map of page {page.name}: shape {depth.shape}, expected {(page.height, page.width)}"
        )
    segments = page_segments(dataset, image_id)
    names = list(_BASE_FEATURES) + [f"cat_{c}" for c in categories]
    if not segments:
        return [], np.zeros((0, len(names))), names
    # Work in "nearness": larger = nearer whatever the input convention.
    valid = np.isfinite(depth) & ((depth > 0) if not larger_is_nearer else np.isfinite(depth))
    near = depth if larger_is_nearer else -depth
    panels = panel_boxes(dataset, image_id)
    masks = [segment_mask(dataset, s) for s in segments]
    labels = np.full((page.height, page.width), -1, np.int64)
    for i, m in enumerate(masks):
        labels[m & (labels < 0)] = i
    touching = _touching_pairs(labels, TOUCH_PIXELS)
    panel_of = np.array([assign_panel(s.bbox, panels) for s in segments])
    cat_index = {c: k for k, c in enumerate(categories)}

    n = len(segments)
    feats = np.zeros((n, len(names)))
    for k, (px, py, pw, ph) in enumerate(panels):
        members = np.flatnonzero(panel_of == k)
        if members.size == 0:
            continue
        region = np.zeros_like(valid)
        region[max(py, 0):py + ph, max(px, 0):px + pw] = True
        pool = near[region & valid]
        if pool.size == 0:
            pool = np.zeros(1)
        lo, hi = float(np.min(pool)), float(np.max(pool))
        span = hi - lo if hi > lo else 1.0
        pool_sorted = np.sort(pool)
        stats = np.zeros((members.size, 6))
        for j, i in enumerate(members):
            values = near[masks[i] & valid]
            if values.size == 0:  # a segment without depth: the panel median
                values = np.array([float(np.median(pool))])
            q = np.quantile(values, [0.5, 0.1, 0.25, 0.75, 0.9])
            stats[j, :5] = (q - lo) / span
            # Share of the panel nearer than the segment's median.
            stats[j, 5] = 1.0 - np.searchsorted(pool_sorted, q[0], side="right") / pool_sorted.size
        med = stats[:, 0]
        # Rank 0 = nearest segment of the panel.
        rank = _ranks(-med)
        # Pseudo-objects: touching, same category, similar median.
        local = {int(i): j for j, i in enumerate(members)}
        edges = [
            (local[a], local[b]) for a, b in touching
            if a in local and b in local and segments[a].category_id == segments[b].category_id
            and abs(med[local[a]] - med[local[b]]) <= group_tolerance
        ]
        obj = _components(members.size, edges)
        n_obj = int(obj.max()) + 1
        obj_near = np.array([med[obj == o].max() for o in range(n_obj)])
        obj_rank = _ranks(-obj_near)
        for j, i in enumerate(members):
            s = segments[i]
            same = obj == obj[j]
            part_rank = float(np.sum(med[same] > med[j]))
            size = int(same.sum())
            x, y, w, h = s.bbox
            row = {
                "median": med[j], "q10": stats[j, 1], "q25": stats[j, 2], "q75": stats[j, 3], "q90": stats[j, 4],
                "spread": stats[j, 4] - stats[j, 1], "share_nearer": stats[j, 5],
                "rank": rank[j], "rank_frac": rank[j] / max(members.size - 1, 1), "n_segments": members.size,
                "object_rank": obj_rank[obj[j]], "object_rank_frac": obj_rank[obj[j]] / max(n_obj - 1, 1),
                "n_objects": n_obj,
                "part_rank": part_rank, "part_rank_frac": part_rank / max(size - 1, 1),
                "part_gap": float(obj_near[obj[j]] - med[j]), "object_size": size,
                "cx": (x + w / 2 - px) / max(pw, 1), "cy": (y + h / 2 - py) / max(ph, 1),
                "w": w / max(pw, 1), "h": h / max(ph, 1), "area_frac": s.area / max(pw * ph, 1),
            }
            feats[i, : len(_BASE_FEATURES)] = [row[name] for name in _BASE_FEATURES]
            if s.category_id in cat_index:
                feats[i, len(_BASE_FEATURES) + cat_index[s.category_id]] = 1.0
    return segments, feats, names


DepthSource = Callable[[Any], np.ndarray] | Mapping


def _depth_for(source, page) -> np.ndarray:
    if callable(source):
        return source(page)
    for key in (page.image_id, page.name, page.file_name):
        if key in source:
            return source[key]
    raise ParameterError(f"no depth map for page {page.name} (id {page.image_id})")


def exact_depth(page) -> np.ndarray:
    """The embedded dataset's dense depth of a page (metres, 0 = none): the oracle depth source."""
    from comicdepth_tf.fileio import read_depth_png16

    if page.depth_path is None:
        raise DataFormatError(
            page.path, "depth", "a dense depth file depth/<split>/<page>.png beside the page (embedded data only)"
        )
    return read_depth_png16(page.depth_path)


def build_feature_table(
    dataset,
    depth_source: DepthSource,
    categories: Sequence[int] | None = None,
    larger_is_nearer: bool = False,
    group_tolerance: float = DEFAULT_GROUP_TOLERANCE,
) -> FeatureTable:
    """Features of every segment of a split.

    Args:
        dataset: the AI4VA split.
        depth_source: ``page -> (H, W) depth`` (e.g. :func:`exact_depth`), or a mapping from image
            id / page name / file name to depth maps.
        categories: category ids of the one-hot block; default the dataset's.
        larger_is_nearer: the depth convention (inverse depth: True).
        group_tolerance: see :func:`segment_features`.
    """
    categories = sorted(dataset.categories) if categories is None else list(categories)
    rows, ids, imgs, cats, inter, intra = [], [], [], [], [], []
    names: list[str] = []
    for page in dataset.pages:
        segs, feats, names = segment_features(
            dataset, page.image_id, _depth_for(depth_source, page), categories, larger_is_nearer, group_tolerance
        )
        rows.append(feats)
        for s in segs:
            ids.append(s.annotation_id)
            imgs.append(s.image_id)
            cats.append(s.category_id)
            inter.append(math.nan if s.interdepth is None else s.interdepth)
            intra.append(math.nan if s.intradepth is None else s.intradepth)
    if not names:
        names = list(_BASE_FEATURES) + [f"cat_{c}" for c in categories]
    return FeatureTable(
        np.asarray(ids, np.int64), np.asarray(imgs, np.int64), np.asarray(cats, np.int64),
        np.concatenate(rows) if rows else np.zeros((0, len(names))), names,
        np.asarray(inter, np.float64), np.asarray(intra, np.float64),
    )


# --------------------------------------------------------------------------- predictors


def _postprocess(values: np.ndarray, lo: float, hi: float, round_levels: bool) -> np.ndarray:
    values = np.clip(values, lo, hi)
    return np.round(values) if round_levels else values


@dataclass
class SegmentRegressor:
    """Ridge regression from segment features to each level (closed form, NumPy).

    Attributes:
        alpha: ridge penalty on the standardised features (not on the intercept).
        round_levels: round predictions to whole levels (after clipping to the training range).
        mean, scale: feature standardisation (fitted).
        coef: level -> ``(F + 1,)`` weights, intercept first (fitted).
        ranges: level -> ``(min, max)`` seen in training.
        names: the feature names it was fitted on.
    """

    alpha: float = 1.0
    round_levels: bool = False
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    coef: dict[str, np.ndarray] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def _design(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.mean) / self.scale
        return np.concatenate([np.ones((z.shape[0], 1)), z], axis=1)

    def fit(self, table: FeatureTable) -> "SegmentRegressor":
        """Fit one ridge regression per level on the labelled segments of ``table``."""
        if len(table) == 0:
            raise ParameterError("SegmentRegressor.fit: the feature table is empty")
        self.names = list(table.names)
        self.mean = table.features.mean(axis=0)
        std = table.features.std(axis=0)
        self.scale = np.where(std > 1e-12, std, 1.0)
        for level in LEVELS:
            y = table.labels(level)
            keep = np.isfinite(y)
            if not keep.any():
                raise ParameterError(f"SegmentRegressor.fit: no segment has a {level} label")
            a = self._design(table.features[keep])
            penalty = self.alpha * np.eye(a.shape[1])
            penalty[0, 0] = 0.0
            self.coef[level] = np.linalg.solve(a.T @ a + penalty, a.T @ y[keep])
            self.ranges[level] = (float(y[keep].min()), float(y[keep].max()))
        return self

    def predict(self, table: FeatureTable, source: str = "per_segment") -> SegmentPredictions:
        """Levels for every segment of ``table``."""
        if not self.coef:
            raise ParameterError("SegmentRegressor: call fit() first")
        if list(table.names) != self.names:
            raise ParameterError("SegmentRegressor.predict: the table's features differ from the fitted ones")
        a = self._design(table.features)
        out = {lv: _postprocess(a @ self.coef[lv], *self.ranges[lv], self.round_levels) for lv in LEVELS}
        return SegmentPredictions(table.annotation_ids, table.image_ids, table.category_ids,
                                  out["interdepth"], out["intradepth"], source)

    def weights(self) -> dict[str, dict[str, float]]:
        """level -> feature -> weight on the standardised feature (the learned directions)."""
        return {lv: dict(zip(["intercept"] + self.names, map(float, c))) for lv, c in self.coef.items()}

    def to_dict(self) -> dict:
        """JSON-ready parameters (see :meth:`from_dict`)."""
        return {"alpha": self.alpha, "round_levels": self.round_levels, "names": self.names,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": {k: v.tolist() for k, v in self.coef.items()},
                "ranges": {k: list(v) for k, v in self.ranges.items()}}

    @classmethod
    def from_dict(cls, data: Mapping) -> "SegmentRegressor":
        """Rebuild a fitted regressor from :meth:`to_dict`'s output."""
        return cls(alpha=float(data["alpha"]), round_levels=bool(data["round_levels"]),
                   mean=np.asarray(data["mean"]), scale=np.asarray(data["scale"]),
                   coef={k: np.asarray(v) for k, v in data["coef"].items()},
                   ranges={k: tuple(v) for k, v in data["ranges"].items()}, names=list(data["names"]))


@dataclass
class ConstantPredictor:
    """Predicts the training mean of each level for every segment."""

    values: dict[str, float] = field(default_factory=dict)

    def fit(self, dataset) -> "ConstantPredictor":
        """Means of the known levels of an AI4VA split."""
        for level in LEVELS:
            known = [getattr(s, level) for s in dataset.segments if getattr(s, level) is not None]
            if not known:
                raise ParameterError(f"ConstantPredictor.fit: no segment of {dataset.source} has a {level} label")
            self.values[level] = float(np.mean(known))
        return self

    def predict(self, dataset) -> SegmentPredictions:
        """The constant for every segment of ``dataset``."""
        segs = dataset.segments
        n = len(segs)
        return SegmentPredictions(
            np.array([s.annotation_id for s in segs], np.int64), np.array([s.image_id for s in segs], np.int64),
            np.array([s.category_id for s in segs], np.int64),
            np.full(n, self.values["interdepth"]), np.full(n, self.values["intradepth"]), "constant",
        )


# --------------------------------------------------------------------------- seed baseline


def page_arrays(dataset, size: int = 128) -> np.ndarray:
    """Every page of a split resized to ``size × size`` (area interpolation), ``(N, size, size, 3)`` in [0, 1]."""
    import cv2

    from comicdepth_tf.fileio import read_image

    out = np.zeros((len(dataset.pages), size, size, 3), np.float32)
    for i, page in enumerate(dataset.pages):
        out[i] = cv2.resize(read_image(page.path), (size, size), interpolation=cv2.INTER_AREA) / 255.0
    return out


def page_targets(dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per page, the mean level of its segments and the number of labelled segments.

    The seed trains on one ``(page, segment levels)`` sample per segment; a page's samples share
    one input, so their squared error is minimised by the page mean. Training on the page mean
    weighted by the segment count has the same gradient, in one sample per page.
    """
    targets = {lv: np.zeros(len(dataset.pages), np.float32) for lv in LEVELS}
    weights = np.zeros(len(dataset.pages), np.float32)
    by_page: dict[int, list] = {p.image_id: [] for p in dataset.pages}
    for s in dataset.segments:
        if s.interdepth is not None and s.intradepth is not None:
            by_page[s.image_id].append(s)
    for i, page in enumerate(dataset.pages):
        segs = by_page[page.image_id]
        weights[i] = len(segs)
        for lv in LEVELS:
            targets[lv][i] = float(np.mean([getattr(s, lv) for s in segs])) if segs else 0.0
    return targets, weights


def train_seed_baseline(
    train,
    val,
    run_dir: str | Path,
    *,
    epochs: int = 30,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    input_size: int = 128,
    seed: int = 0,
):
    """Train the seed's whole-page regressor (MSE on both heads, best epoch by validation loss).

    Args:
        train, val: AI4VA splits with labels.
        run_dir: the run folder (``saved_models/ai4va_seed_baseline/<run_id>``); resumable.
        epochs, batch_size, learning_rate: training settings (Adam, constant rate, as the seed).
        input_size: page side (seed: 128).
        seed: weight initialisation and shuffling.

    Returns:
        The :class:`comicdepth_tf.training.FitResult` (``.model`` holds the best epoch).
    """
    import tensorflow as tf

    from comicdepth_tf.data.pipelines import array_stream
    from comicdepth_tf.models.segment_head import build_segment_head
    from comicdepth_tf.training import fit

    digest = hashlib.sha256()

    def dataset(split, shuffle):
        x = page_arrays(split, input_size)
        y, w = page_targets(split)
        for array in (x, *(y[k] for k in sorted(y)), w):
            digest.update(np.ascontiguousarray(array).tobytes())
        ds = array_stream((x, {k: v[:, None] for k, v in y.items()}, w), batch_size=batch_size, shuffle=shuffle,
                          seed=seed)
        return ds.map(lambda position, element: element).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    train_ds, val_ds = dataset(train, True), dataset(val, False)
    # The run folder is named by run id only: pages or settings of another run are not resumed.
    identity = {"settings": {"batch_size": batch_size, "learning_rate": learning_rate, "input_size": input_size,
                             "seed": seed}, "data": digest.hexdigest()}
    return fit(
        lambda: build_segment_head(input_size=input_size), train_ds, val_ds,
        run_dir=run_dir, epochs=epochs, learning_rate=learning_rate, lr_schedule="constant",
        loss={k: "mse" for k in LEVELS}, metrics={k: [] for k in LEVELS}, seed=seed, identity=identity,
    )


def seed_baseline_predictions(model, dataset, input_size: int = 128) -> SegmentPredictions:
    """The seed's rule: predict one pair per page and copy it to every segment of the page."""
    out = model.predict(page_arrays(dataset, input_size), verbose=0)
    per_page = {
        p.image_id: (float(out["interdepth"][i, 0]), float(out["intradepth"][i, 0]))
        for i, p in enumerate(dataset.pages)
    }
    segs = dataset.segments
    return SegmentPredictions(
        np.array([s.annotation_id for s in segs], np.int64), np.array([s.image_id for s in segs], np.int64),
        np.array([s.category_id for s in segs], np.int64),
        np.array([per_page[s.image_id][0] for s in segs]), np.array([per_page[s.image_id][1] for s in segs]),
        "seed_whole_page",
    )


# --------------------------------------------------------------------------- scoring and export


def segment_mse(pred: SegmentPredictions, dataset, mode: str = "segment") -> dict[str, float]:
    """AI4VA MSE of predictions against a labelled split (:func:`comicdepth_tf.metrics.ai4va_mse`).

    Returns:
        ``mse_interdepth``, ``mse_intradepth``, ``mse_overall`` (their mean) and the counts.
    """
    from comicdepth_tf.metrics import ai4va_mse

    return ai4va_mse(predictions_frame(pred), dataset, mode=mode)


def predictions_frame(pred: SegmentPredictions):
    """The submission table: ``annotation_id, img_id, category_id, pred_Intradepth, pred_Interdepth``."""
    import pandas as pd

    return pd.DataFrame({
        "annotation_id": pred.annotation_ids, "img_id": pred.image_ids, "category_id": pred.category_ids,
        "pred_Intradepth": pred.intradepth, "pred_Interdepth": pred.interdepth,
    }, columns=list(SUBMISSION_COLUMNS))
