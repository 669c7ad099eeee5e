"""A real-page depth-ordering check the project owns: hand-made ordering points on real comics pages.

The embedded (synthetic) validation set is the only other judge of the comics depth models; this
check scores them on real, openly licensed pages (``comicdepth_tf/data/real_pages/``, provenance
and licences in its ``PROVENANCE.md``).

Layout of the check folder::

    pages.json            pages, sizes, licences and panel boxes (below)
    pages/<file>          the shipped page images (downsized JPEG)
    depth/<page>_<panel>.txt   one ComicsDepth ordering file per panel crop (``l1 l2 x y``,
                          x = column, y = row in the crop, levels 1-based, smaller = nearer)

``pages.json``::

    {"pages": [{"id": "...", "file": "pages/x.jpg", "location": "package" | "shared",
                "width": W, "height": H, "licence": "...",
                "panels": [{"id": "p01", "box": [x0, y0, x1, y1], "kind": "interior" | "exterior",
                            "shot": "close-up" | "medium" | "long", "batch": 1}]}]}

``batch`` (optional, default 1) numbers the rounds of annotation. A batch is annotated and committed
before any model is scored on it, so choices made by scoring earlier batches can be checked on it
(``load_check(batches=...)``, ``comicdepth real-check --batch N``): batch 1 holds the 22 panels every
configuration up to December 2026 was chosen on, batch 2 the 13 panels added after that choice, batch 3
the 11 panels of a Snookums page annotated after batch 2 had been looked at (``PROVENANCE.md``).

A ``shared`` page is not shipped (the project's rule for ``../shared/data/real``): its image is
looked up in ``comics/`` of the real-data folder (``$COMICDEPTH_REAL_DATA``, else
``<repository>/../shared/data/real``: :func:`comicdepth_tf.paths.real_data_dir`); when it
is absent the page is skipped and :attr:`RealCheck.notices` says so (a ``COMICDEPTH_REAL_DATA``
that names no folder is an error).

Scoring follows the ComicsDepth protocol per panel crop (predict on the crop) and also on the
whole page (predict once, read the points at page coordinates), with three rules beside the
models: ``lower is nearer`` (the row index as an inverse-depth map), ``darker is nearer`` (the tone
cue) and a seeded random map (its expected accuracy is exactly 0.5, since ties have probability
zero). Pair accuracy uses :func:`comicdepth_tf.metrics.ordering_accuracy`; a *counter-y* pair is an
inter-object pair whose nearer point is higher on the page (smaller y) than the farther one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from comicdepth_tf import fileio, metrics, runs
from comicdepth_tf.data.formats.ordering import OrderingPoints, read_ordering
from comicdepth_tf.errors import DataFormatError, ParameterError

DATA_DIR = Path(__file__).resolve().parent / "data" / "real_pages"
PAGES_FILE = "pages.json"
ENV_VAR = "COMICDEPTH_REAL_DATA"  # the one variable of paths.real_data_dir
KINDS = ("interior", "exterior")
SHOTS = ("close-up", "medium", "long")
LOCATIONS = ("package", "shared")
#: Rows of the per-panel table that hold counts and right answers (pooled by summing).
COUNT_KINDS = ("inter", "intra", "counter_y")

RULE_LOWER = "rule: lower is nearer"
RULE_DARKER = "rule: darker is nearer"
#: A predictor maps one RGB uint8 image (H, W, 3) to an (H, W) map.
Predictor = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class RealPanel:
    """One annotated panel crop.

    Attributes:
        page: the page id.
        id: the panel id (unique within the page).
        box: ``(x0, y0, x1, y1)`` in page pixels (x1, y1 exclusive).
        kind: ``interior`` or ``exterior``.
        shot: ``close-up``, ``medium`` or ``long``.
        ordering: the panel's ordering file.
        points: its points in crop coordinates.
        batch: the round of annotation it came in (module docstring).
    """

    page: str
    id: str
    box: tuple[int, int, int, int]
    kind: str
    shot: str
    ordering: Path
    points: OrderingPoints
    batch: int = 1

    @property
    def name(self) -> str:
        """``<page>_<panel>``: the stem of the ordering file."""
        return f"{self.page}_{self.id}"

    def page_points(self) -> OrderingPoints:
        """The points at page coordinates."""
        p = self.points
        return OrderingPoints(p.l1, p.l2, p.x + self.box[0], p.y + self.box[1])


@dataclass(frozen=True)
class RealPage:
    """One page of the check.

    Attributes:
        id: page id.
        image: the image file (None when a shared page was not found).
        width, height: the image size the boxes refer to.
        licence: the licence id (``PROVENANCE.md`` explains each).
        panels: the annotated panels.
    """

    id: str
    image: Path | None
    width: int
    height: int
    licence: str
    panels: tuple[RealPanel, ...]


@dataclass
class RealCheck:
    """The loaded check: the pages whose images were found, and a notice per skipped page."""

    pages: list[RealPage]
    notices: list[str] = field(default_factory=list)
    root: Path = DATA_DIR

    @property
    def panels(self) -> list[RealPanel]:
        """Every panel of the available pages, in page order."""
        return [panel for page in self.pages for panel in page.panels]


def shared_real_dir() -> Path:
    """Where shared (not shipped) pages are looked up: the ``comics`` folder of
    :func:`comicdepth_tf.paths.real_data_dir` (``$COMICDEPTH_REAL_DATA`` or
    ``<repository>/../shared/data/real``)."""
    from comicdepth_tf import paths

    shared = paths.real_data_dir()
    return shared / "comics" if shared is not None else paths.default_real_data_dir() / "comics"


def _require(cond: bool, path: Path, field_name: str, expected: str, got: Any = None) -> None:
    if not cond:
        raise DataFormatError(path, field_name, expected, got)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_box(path: Path, where: str, box: Any, width: int, height: int) -> tuple[int, int, int, int]:
    ok = isinstance(box, list) and len(box) == 4 and all(_is_int(v) for v in box)
    _require(ok, path, f"{where}.box", "[x0, y0, x1, y1], four integers", box)
    x0, y0, x1, y1 = box
    inside = 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    _require(inside, path, f"{where}.box", f"0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}", box)
    return x0, y0, x1, y1


def _parse_panel(path: Path, root: Path, page_id: str, where: str, raw: Any, width: int, height: int) -> RealPanel:
    _require(isinstance(raw, dict), path, where, "an object with id, box, kind, shot", raw)
    pid = raw.get("id")
    _require(isinstance(pid, str) and pid != "", path, f"{where}.id", "a non-empty string", pid)
    box = _parse_box(path, where, raw.get("box"), width, height)
    _require(raw.get("kind") in KINDS, path, f"{where}.kind", f"one of {KINDS}", raw.get("kind"))
    _require(raw.get("shot") in SHOTS, path, f"{where}.shot", f"one of {SHOTS}", raw.get("shot"))
    batch = raw.get("batch", 1)
    _require(_is_int(batch) and batch > 0, path, f"{where}.batch", "a positive integer", batch)
    ordering = root / "depth" / f"{page_id}_{pid}.txt"
    points = read_ordering(ordering, width=box[2] - box[0], height=box[3] - box[1])
    _require(len(points) >= 2, ordering, "", "at least two ordering points", len(points))
    return RealPanel(page_id, pid, box, raw["kind"], raw["shot"], ordering, points, batch)


def _find_image(path: Path, root: Path, where: str, raw: dict, real_dir: Path) -> Path | None:
    location = raw.get("location", "package")
    _require(location in LOCATIONS, path, f"{where}.location", f"one of {LOCATIONS}", location)
    name = raw.get("file")
    _require(isinstance(name, str) and name != "", path, f"{where}.file", "an image file name", name)
    image = (root if location == "package" else real_dir) / name
    if location == "package":
        _require(image.is_file(), path, f"{where}.file", f"an image shipped at {image}", name)
    return image if image.is_file() else None


def _parse_page(path: Path, root: Path, where: str, raw: Any, real_dir: Path) -> tuple[RealPage, bool]:
    _require(isinstance(raw, dict), path, where, "an object with id, file, width, height, licence, panels", raw)
    page_id = raw.get("id")
    _require(isinstance(page_id, str) and page_id != "", path, f"{where}.id", "a non-empty string", page_id)
    width, height = raw.get("width"), raw.get("height")
    _require(_is_int(width) and width > 0, path, f"{where}.width", "a positive integer", width)
    _require(_is_int(height) and height > 0, path, f"{where}.height", "a positive integer", height)
    licence = raw.get("licence")
    _require(isinstance(licence, str) and licence != "", path, f"{where}.licence", "a licence id", licence)
    image = _find_image(path, root, where, raw, real_dir)
    if image is not None:
        size = fileio.image_size(image)
        _require(tuple(size) == (width, height), path, f"{where}.width/height",
                 f"the size of {image} ({size[0]}x{size[1]})", f"{width}x{height}")
    panels_raw = raw.get("panels")
    _require(isinstance(panels_raw, list) and panels_raw, path, f"{where}.panels", "a non-empty list", panels_raw)
    panels = tuple(_parse_panel(path, root, page_id, f"{where}.panels[{i}]", p, width, height)
                   for i, p in enumerate(panels_raw))
    ids = [p.id for p in panels]
    _require(len(set(ids)) == len(ids), path, f"{where}.panels", "distinct panel ids", ids)
    return RealPage(page_id, image, width, height, licence, panels), image is not None


def load_check(root: str | os.PathLike = DATA_DIR, real_dir: str | os.PathLike | None = None,
               batches: Iterable[int] | None = None) -> RealCheck:
    """Load and validate the real-page check.

    Args:
        root: the check folder (``pages.json``, ``pages/``, ``depth/``).
        real_dir: where ``shared`` pages are looked up (default :func:`shared_real_dir`).
        batches: keep only the panels of these annotation batches (pages left without panels are
            dropped); None: every panel. Every entry is validated either way.

    Returns:
        The pages whose images exist; a notice for each shared page that was not found.

    Raises:
        DataFormatError: naming the file and field of any malformed entry (``pages.json``, an
            ordering file, a missing shipped image, a size that does not match its image).
    """
    root = Path(root)
    real_dir = Path(real_dir) if real_dir is not None else shared_real_dir()
    path = root / PAGES_FILE
    data = fileio.read_json(path) if path.is_file() else None
    _require(data is not None, path, "", "the check's pages.json")
    _require(isinstance(data, dict) and isinstance(data.get("pages"), list) and data["pages"], path, "pages",
             "a non-empty list of pages", data if not isinstance(data, dict) else data.get("pages"))
    pages, notices = [], []
    for i, raw in enumerate(data["pages"]):
        page, found = _parse_page(path, root, f"pages[{i}]", raw, real_dir)
        if found:
            pages.append(page)
        else:
            notices.append(
                f"real-page check: page {page.id!r} skipped: {raw.get('file')} not found in {real_dir} "
                f"(set {ENV_VAR} to the real-data folder whose comics/ holds it); {len(page.panels)} panels not scored"
            )
    ids = [p.id for p in pages]
    _require(len(set(ids)) == len(ids), path, "pages", "distinct page ids", ids)
    if batches is not None:
        keep = set(batches)
        pages = [dataclasses.replace(p, panels=tuple(q for q in p.panels if q.batch in keep)) for p in pages]
        pages = [p for p in pages if p.panels]
        if not pages:
            raise ParameterError(f"{path}: no panel of batch {sorted(keep)} among the pages found")
    return RealCheck(pages, notices, root)


# --------------------------------------------------------------------------- pairs


def counter_y_pairs(points: OrderingPoints) -> tuple[np.ndarray, np.ndarray]:
    """Inter-object pairs whose nearer point is higher (smaller y) than the farther one.

    Returns:
        ``(near, far)`` index arrays, one entry per pair.
    """
    l1, y = np.asarray(points.l1), np.asarray(points.y)
    near, far = np.nonzero((l1[:, None] < l1[None, :]) & (y[:, None] < y[None, :]))
    return near, far


def check_counts(check: RealCheck) -> dict[str, int]:
    """Pages, panels, points and pairs of the loaded check (inter and intra as the metric counts them)."""
    counts = {"pages": len(check.pages), "panels": len(check.panels), "points": 0,
              "inter_pairs": 0, "counter_y_pairs": 0, "intra_pairs": 0}
    for panel in check.panels:
        p = panel.points
        result = metrics.ordering_accuracy(np.zeros((int(p.y.max()) + 1, int(p.x.max()) + 1)), p)
        counts["points"] += len(p)
        counts["inter_pairs"] += result["inter_pairs"]
        counts["intra_pairs"] += result["intra_pairs"]
        counts["counter_y_pairs"] += len(counter_y_pairs(p)[0])
    return counts


#: Luma weights (ITU-R BT.601) of the brightness the tone measures read.
LUMA = (0.299, 0.587, 0.114)


def _nearness(pred_map: np.ndarray, convention: str) -> np.ndarray:
    """The map with larger values nearer, whatever its ``convention``."""
    values = np.asarray(pred_map, dtype=np.float64)
    return -values if convention == "depth" else values


def _luminance(image: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The brightness (:data:`LUMA`) of an RGB image, in ``dtype``."""
    return np.asarray(image, dtype)[..., :3] @ np.array(LUMA, dtype)


def _values(pred_map: np.ndarray, points: OrderingPoints, convention: str) -> np.ndarray:
    return _nearness(pred_map, convention)[points.y, points.x]


def score_points(pred_map: np.ndarray, points: OrderingPoints, convention: str = "inverse") -> dict[str, float]:
    """Right answers and pairs of one map: ``inter``, ``intra`` (through
    :func:`~comicdepth_tf.metrics.ordering_accuracy`) and ``counter_y``.

    Returns:
        ``{kind}_pairs``, ``{kind}_right`` and ``{kind}`` (accuracy, NaN without pairs) for each kind.
    """
    acc = metrics.ordering_accuracy(pred_map, points, convention)
    out: dict[str, float] = {}
    for kind in ("inter", "intra"):
        out[f"{kind}_pairs"] = int(acc[f"{kind}_pairs"])
        out[f"{kind}_right"] = int(round(acc[kind] * acc[f"{kind}_pairs"])) if acc[f"{kind}_pairs"] else 0
        out[kind] = acc[kind]
    near, far = counter_y_pairs(points)
    v = _values(pred_map, points, convention)
    out["counter_y_pairs"] = int(near.size)
    out["counter_y_right"] = int(np.sum(v[near] > v[far]))
    out["counter_y"] = out["counter_y_right"] / near.size if near.size else float("nan")
    return out


def brightness_nearness(image: np.ndarray, pred_map: np.ndarray, convention: str = "inverse") -> float:
    """Spearman rank correlation of a map's nearness with the image's brightness, over every pixel.

    Needs no annotation: it says how much a model's depth follows tone. Hazy daylight teaches
    "pale is far" (negative values: dark things come out near), which real pages do not obey.

    Args:
        image: RGB (H, W, 3), any dtype.
        pred_map: (H, W) map in ``convention`` (``inverse``: larger is nearer; ``depth``: larger is farther).

    Returns:
        The correlation in [-1, 1]; NaN when the image or the map is constant.
    """
    return metrics.spearman(_luminance(image), _nearness(pred_map, convention))


# --------------------------------------------------------------------------- rules


def lower_is_nearer(image: np.ndarray) -> np.ndarray:
    """The rule "lower on the page is nearer": the row index, an inverse-depth map."""
    h, w = np.asarray(image).shape[:2]
    return np.repeat(np.arange(h, dtype=np.float64)[:, None], w, axis=1)


def darker_is_nearer(image: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """The rule "darker is nearer", the tone cue that hazy renders teach, as an inverse-depth map.

    The darkness is blurred (Gaussian, ``sigma`` pixels) so that a point beside a 1-px ink line
    reads the region's tone, not the line's. On the shipped check it orders 0.655, 0.565 and 0.512
    of batches 1, 2 and 3's inter-object pairs (counter-y 0.667, 0.576, 0.381): batch 1 rewards
    it, which the later batches do not.
    """
    import cv2

    return -cv2.GaussianBlur(_luminance(image, np.float32), (0, 0), sigma).astype(np.float64)


def random_rule(seed: int = 0) -> Predictor:
    """A seeded random map per image (uniform values; the expected pair accuracy is exactly 0.5).

    The map is drawn from ``seed`` and the image's bytes, not from a stream shared by all calls, so
    a panel's map does not change when panels are added to the check or scored in another order.
    """

    def predict(image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image)
        key = zlib.crc32(image.tobytes(), zlib.crc32(repr(image.shape).encode()))
        return np.random.default_rng([seed, key]).random(image.shape[:2])

    return predict


# --------------------------------------------------------------------------- scoring


def _crop(page_image: np.ndarray, box: Sequence[int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return page_image[y0:y1, x0:x1]


def _check_map(depth: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    depth = np.asarray(depth)
    depth = depth[..., 0] if depth.ndim == 3 and depth.shape[-1] == 1 else depth
    if depth.shape != shape:
        raise ParameterError(f"{what}: the predictor returned a map of shape {depth.shape}, expected {shape}")
    return depth


def predict_check(check: RealCheck, predict: Predictor) -> dict[str, dict[str, np.ndarray]]:
    """Maps of one predictor: ``{"panel": {panel name: map of the crop}, "page": {page id: map}}``."""
    maps: dict[str, dict[str, np.ndarray]] = {"panel": {}, "page": {}}
    for page in check.pages:
        image = fileio.read_image(page.image)
        maps["page"][page.id] = _check_map(predict(image), image.shape[:2], page.id)
        for panel in page.panels:
            crop = _crop(image, panel.box)
            maps["panel"][panel.name] = _check_map(predict(crop), crop.shape[:2], panel.name)
    return maps


def score_maps(check: RealCheck, maps: Mapping[str, Mapping[str, np.ndarray]], name: str,
               convention: str = "inverse"):
    """Per-panel rows (a pandas DataFrame) of one configuration's maps, both modes.

    Columns: ``configuration, mode (panel | page), page, panel, kind, shot, batch``, the
    :func:`score_points` keys and ``brightness_nearness`` (:func:`brightness_nearness` over the
    panel's crop; in page mode, over the panel's box of the page map).
    """
    import pandas as pd

    rows = []
    for page in check.pages:
        image = None
        for panel in page.panels:
            for mode in ("panel", "page"):
                if mode == "panel":
                    found = maps.get("panel", {}).get(panel.name)
                    points = panel.points
                else:
                    found = maps.get("page", {}).get(page.id)
                    points = panel.page_points()
                if found is None:
                    continue
                image = fileio.read_image(page.image) if image is None else image
                box_map = found if mode == "panel" else _crop(found, panel.box)
                rows.append({"configuration": name, "mode": mode, "page": page.id, "panel": panel.id,
                             "kind": panel.kind, "shot": panel.shot, "batch": panel.batch,
                             **score_points(found, points, convention),
                             "brightness_nearness": brightness_nearness(_crop(image, panel.box), box_map, convention)})
    return pd.DataFrame(rows)


def row_batches(rows):
    """Each per-panel row's annotation batch (a pandas Series): its ``batch`` column, or 1 for a table
    written before panels had batches (all its panels were batch 1)."""
    import pandas as pd

    return rows["batch"] if "batch" in rows.columns else pd.Series(1, index=rows.index)


def score_predictor(check: RealCheck, predict: Predictor, name: str, convention: str = "inverse"):
    """Predict every crop and page with ``predict`` and score them (see :func:`score_maps`)."""
    return score_maps(check, predict_check(check, predict), name, convention)


def score_rules(check: RealCheck, seed: int = 0):
    """Per-panel rows of the three rules: ``lower is nearer``, ``darker is nearer`` and ``random``."""
    import pandas as pd

    return pd.concat([score_predictor(check, lower_is_nearer, RULE_LOWER),
                      score_predictor(check, darker_is_nearer, RULE_DARKER),
                      score_predictor(check, random_rule(seed), f"rule: random (seed {seed})")], ignore_index=True)


def pooled(group, kind: str) -> float:
    """Pooled accuracy of per-panel rows: right answers over pairs of one kind (NaN without pairs)."""
    pairs = group[f"{kind}_pairs"].sum()
    return float(group[f"{kind}_right"].sum() / pairs) if pairs else float("nan")


def summary_table(rows, expectation: bool = True):
    """Pooled pair accuracy, mean per-panel accuracy, counter-y and intra accuracy and the mean
    per-panel :func:`brightness_nearness`, per configuration and mode; with ``expectation``, a row
    for the random rule's exact expectation (0.5)."""
    import pandas as pd

    out = []
    for (name, mode), group in rows.groupby(["configuration", "mode"], sort=False):
        out.append({"configuration": name, "mode": mode, "inter_pooled": pooled(group, "inter"),
                    "inter_panel_mean": float(group["inter"].mean()), "counter_y": pooled(group, "counter_y"),
                    "intra": pooled(group, "intra"),
                    "brightness_nearness": float(group["brightness_nearness"].mean())
                    if "brightness_nearness" in group else float("nan"),
                    "panels": int(len(group)),
                    "inter_pairs": int(group["inter_pairs"].sum()),
                    "counter_y_pairs": int(group["counter_y_pairs"].sum()),
                    "intra_pairs": int(group["intra_pairs"].sum())})
    if expectation:
        for mode in ("panel", "page"):
            out.append({"configuration": "random (expectation)", "mode": mode, "inter_pooled": 0.5,
                        "inter_panel_mean": 0.5, "counter_y": 0.5, "intra": 0.5})
    table = pd.DataFrame(out)
    for column in ("panels", "inter_pairs", "counter_y_pairs", "intra_pairs"):
        table[column] = table[column].astype("Int64")
    return table


def group_table(rows, by: str, kinds: Sequence[str] = ("inter", "counter_y"), mode: str = "panel"):
    """Pooled accuracy per configuration (rows) and per value of a panel column ``by`` (``kind``,
    ``shot`` or ``batch``), for each pair kind, with the pairs behind each figure (one seed's count).

    A failure of one kind of panel (interiors, medium shots) hides in the pooled figure; here it
    shows. Columns are ``<kind> <value>`` and ``<kind>_pairs <value>`` (e.g. ``counter_y interior``).
    """
    import pandas as pd

    chosen = rows[rows["mode"] == mode]
    table: dict[str, dict] = {}
    for (name, value), group in chosen.groupby(["configuration", by], sort=False):
        row = table.setdefault(name, {"configuration": name})
        seeds = group["seed"].nunique() if "seed" in group else 1
        for kind in kinds:
            row[f"{kind} {value}"] = pooled(group, kind)
            row[f"{kind}_pairs {value}"] = int(group[f"{kind}_pairs"].sum() // seeds)
    return pd.DataFrame(list(table.values()))


def page_table(rows):
    """Pooled inter-object accuracy per page (columns), per configuration and mode (rows)."""
    table = rows.groupby(["configuration", "mode", "page"], sort=False).apply(
        lambda g: pooled(g, "inter"), include_groups=False)
    return table.unstack("page")


# --------------------------------------------------------------------------- saved runs


def run_predictor(run: str | os.PathLike, size: int | Sequence[int] | None = None,
                  batch_size: int = 1) -> tuple[Predictor, str, Path]:
    """A predictor for a saved depth run, with the map convention to score it in.

    Args:
        run: a run folder, ``.keras`` file, run id or pointer (see
            :func:`comicdepth_tf.runs.resolve_run`).
        size: network size; default: the run's ``evaluation.json`` ``image_size``, else its
            recorded size (:func:`comicdepth_tf.inference.default_size`).

    Returns:
        ``(predict, convention, run_dir)``; ``convention`` is ``inverse`` or ``depth``.
    """
    from comicdepth_tf import evaluation, inference

    model, config = inference.load_depth_model(run)
    run_dir = Path(config["run_dir"])
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    record = runs.read_record(folder)
    convention = evaluation.ordering_convention(evaluation.run_convention(folder, record))
    size = size or record.get("image_size") or inference.default_size(config)
    predict_fn = inference.make_predict_fn(model)

    def predict(image: np.ndarray) -> np.ndarray:
        return inference.predict_depth(model, [image], size=size, batch_size=batch_size, predict_fn=predict_fn)[0]

    return predict, convention, run_dir


def score_run(run: str | os.PathLike, check: RealCheck | None = None, name: str | None = None,
              size: int | Sequence[int] | None = None, keep_maps: bool = False):
    """Per-panel rows of a saved depth run (see :func:`score_maps`); with ``keep_maps``,
    ``(rows, maps)``."""
    check = check if check is not None else load_check()
    predict, convention, run_dir = run_predictor(run, size=size)
    maps = predict_check(check, predict)
    rows = score_maps(check, maps, name or run_dir.name, convention)
    rows.attrs["convention"] = convention
    return (rows, maps) if keep_maps else rows


@dataclass
class Scored:
    """Every configuration on the check: per-panel rows, the page maps kept for plotting,
    the conventions, and a status per configuration."""

    rows: Any
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    conventions: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)


def approach1_predictor(gan_run: str | os.PathLike, depth_run: str | os.PathLike,
                        size: int | Sequence[int] | None = None) -> tuple[Predictor, str]:
    """Approach 1 on a real image: comics → natural with a CycleGAN run's generator (at its
    training side), then the natural depth run (:func:`comicdepth_tf.translate.comics_to_depth`).

    Returns:
        ``(predict, convention)`` in the depth run's convention.
    """
    from comicdepth_tf import evaluation, inference, translate

    generator = translate.load_generator(gan_run, "comics2natural")
    side = translate.run_image_size(gan_run)
    model, config = inference.load_depth_model(depth_run)
    folder = Path(config["run_dir"])
    folder = folder if folder.is_dir() else folder.parent
    record = runs.read_record(folder)  # noqa: SLF001 (the evaluation module's own reader)
    convention = evaluation.ordering_convention(evaluation.run_convention(folder, record))
    depth_size = size or record.get("image_size") or inference.default_size(config)
    forward = inference.make_predict_fn(model)

    def predict(image: np.ndarray) -> np.ndarray:
        return translate.comics_to_depth([image], generator, model, size=side, depth_size=depth_size, batch_size=1,
                                         predict_fn=forward)[0]

    return predict, convention


def _predictor_for(name: str, ref, refs: Mapping[str, Any], size) -> tuple[Path, Callable | None]:
    """Which run scores configuration ``name`` and, for approach 1, how (None: its ``model.keras``)."""
    from comicdepth_tf.runs import APPROACH1_CONFIGURATIONS

    natural = refs.get("natural_irv2")
    natural_dir = getattr(natural, "run_dir", None)
    if name in APPROACH1_CONFIGURATIONS.values() and ref.run_dir is not None and natural_dir is not None:
        return ref.run_dir, lambda: approach1_predictor(ref.run_dir, natural_dir, size)
    if name == "no_batchnorm_trick" and natural_dir is not None:
        return natural_dir, None  # the natural model applied to comics as it is
    return ref.run_dir, None


def score_configurations(refs: Mapping[str, Any], check: RealCheck, size=None, seed: int = 0) -> Scored:
    """Score every depth configuration of notebook 50 (``runs.find_runs``) and the rules.

    Approach 1 runs its CycleGAN's comics → natural generator, then the natural model;
    ``no_batchnorm_trick`` is the natural model itself. Any other configuration without a run or
    without ``model.keras`` keeps a status and no rows; a run that serves several configurations
    is predicted once. The whole-page maps of ``lower is nearer`` and of every scored run are kept
    for :func:`plot_pages`.
    """
    import pandas as pd

    from comicdepth_tf import runs

    lower = predict_check(check, lower_is_nearer)
    frames = [score_maps(check, lower, RULE_LOWER), score_predictor(check, darker_is_nearer, RULE_DARKER),
              score_predictor(check, random_rule(seed), f"rule: random (seed {seed})")]
    scored = Scored(rows=None, maps={RULE_LOWER: lower["page"]}, conventions={RULE_LOWER: "inverse"})
    done: dict[Path, tuple[Any, dict, str]] = {}
    for name, ref in refs.items():
        if runs.configuration(name).kind != "depth":
            continue
        run_dir, approach1 = _predictor_for(name, ref, refs, size)
        if approach1 is None and (run_dir is None or not (run_dir / "model.keras").is_file()):
            scored.status[name] = ref.missing or f"missing: no model.keras in {run_dir}"
            continue
        try:
            if run_dir not in done:
                if approach1 is not None:
                    predict, convention = approach1()
                    maps = predict_check(check, predict)
                    rows = score_maps(check, maps, name, convention)
                    rows.attrs["convention"] = convention
                else:
                    rows, maps = score_run(run_dir, check, name=name, size=size, keep_maps=True)
                done[run_dir] = (rows, maps, rows.attrs["convention"])
            rows, maps, convention = done[run_dir]
        except (DataFormatError, ParameterError) as exc:
            scored.status[name] = f"error: {exc}"
            continue
        frames.append(rows.assign(configuration=name))
        scored.maps[name] = maps["page"]
        scored.conventions[name] = convention
        scored.status[name] = "ok"
    scored.rows = pd.concat(frames, ignore_index=True)
    return scored


# --------------------------------------------------------------------------- plots


def wrong_pairs(pred_map: np.ndarray, points: OrderingPoints, convention: str = "inverse") -> list[tuple[int, int]]:
    """``(near, far)`` index pairs of the inter-object pairs the map orders wrongly (ties included)."""
    v = _values(pred_map, points, convention)
    l1 = np.asarray(points.l1)
    near, far = np.nonzero(l1[:, None] < l1[None, :])
    bad = ~(v[near] > v[far])
    return list(zip(near[bad].tolist(), far[bad].tolist()))


def draw_pairs(ax, points: OrderingPoints, pairs: Iterable[tuple[int, int]], color: str = "red") -> None:
    """Draw ``pairs`` of point indices as lines (the wrongly ordered ones, in red) and every point on ``ax``."""
    for a, b in pairs:
        ax.plot([points.x[a], points.x[b]], [points.y[a], points.y[b]], color=color, lw=0.8, alpha=0.7)
    ax.scatter(points.x, points.y, s=6, c="cyan", edgecolors="black", linewidths=0.3, zorder=3)


def plot_pages(check: RealCheck, maps: Mapping[str, Mapping[str, np.ndarray]],
               conventions: Mapping[str, str] | None = None, pages: Sequence[str] | None = None,
               size: float = 2.6):
    """Each page (rows) with every configuration's whole-page depth (columns, nearer = brighter,
    the project's colour map), the ordering points and the wrongly ordered pairs drawn in red.

    Args:
        check: the loaded check.
        maps: configuration -> {page id: page map}.
        conventions: configuration -> ``inverse`` | ``depth`` (default ``inverse``).
        pages: page ids to show (default all).
    """
    from comicdepth_tf import viz

    plt = viz.pyplot()
    conventions = dict(conventions or {})
    shown = [p for p in check.pages if pages is None or p.id in pages]
    names = list(maps)
    fig, axes = plt.subplots(len(shown), len(names) + 1, figsize=(size * (len(names) + 1), size * 1.4 * len(shown)),
                             squeeze=False)
    for r, page in enumerate(shown):
        image = fileio.read_image(page.image)
        points = _concat([panel.page_points() for panel in page.panels])
        axes[r, 0].imshow(image)
        for panel in page.panels:
            x0, y0, x1, y1 = panel.box
            axes[r, 0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.8))
        draw_pairs(axes[r, 0], points, [])
        axes[r, 0].set_title(page.id, fontsize=7)
        for c, name in enumerate(names, start=1):
            depth = maps[name].get(page.id)
            ax = axes[r, c]
            if depth is not None:
                conv = conventions.get(name, "inverse")
                shown_depth = -np.asarray(depth, dtype=np.float64) if conv == "inverse" else depth
                ax.imshow(viz.colorize_depth(shown_depth - np.nanmin(shown_depth) + 1e-3))
                bad = []
                for panel in page.panels:
                    pts = panel.page_points()
                    bad_local = wrong_pairs(depth, pts, conv)
                    draw_pairs(ax, pts, bad_local)
                    bad += bad_local
                ax.set_title(f"{name}\n{len(bad)} wrong pairs", fontsize=7)
            for a in (ax,):
                a.axis("off")
        axes[r, 0].axis("off")
    fig.tight_layout()
    return fig


def _concat(items: Sequence[OrderingPoints]) -> OrderingPoints:
    return OrderingPoints(*(np.concatenate([getattr(p, f) for p in items]) for f in ("l1", "l2", "x", "y")))


# --------------------------------------------------------------------------- command line


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth real-check``."""
    parser.add_argument("--run", action="append", default=[],
                        help="saved depth run (folder, .keras file, run id or pointer); repeat for several")
    parser.add_argument("--size", type=int, default=None, help="network size (longer side, px); default: the run's")
    parser.add_argument("--check-dir", default=str(DATA_DIR), help="the check folder (default: the shipped check)")
    parser.add_argument("--real-dir", default=None, help=f"folder of shared pages (default: comics/ of ${ENV_VAR}, "
                                                         "else <repository>/../shared/data/real/comics)")
    parser.add_argument("--batch", type=int, action="append", default=None, metavar="N",
                        help="score only the panels of annotation batch N (repeat for several; default: all)")
    parser.add_argument("--panels", action="store_true", help="also print the per-panel rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random rule")


def cli_main(args: argparse.Namespace) -> int:
    """Score the rules and each ``--run`` on the check and print the tables."""
    import pandas as pd

    check = load_check(args.check_dir, args.real_dir, batches=args.batch)
    for notice in check.notices:
        print(notice)
    print("check:", ", ".join(f"{k} {v}" for k, v in check_counts(check).items()))
    frames = [score_rules(check, args.seed)]
    for run in args.run:
        frames.append(score_run(run, check, name=str(run), size=args.size))
    rows = pd.concat(frames, ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(summary_table(rows).to_string(index=False))
        print()
        print("inter-object accuracy per page:")
        print(page_table(rows).to_string())
        if args.panels:
            print(rows.to_string(index=False))
    return 0
