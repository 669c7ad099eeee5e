"""Every comparison of notebook ``50_evaluate`` with error bars: per-item tables over seeds, paired
intervals against each baseline, seed aggregates, the verdicts in words, and two figures.

Notebook 50 scores every seed of ``SEEDS`` with :func:`comicdepth_tf.evaluation.evaluate_all`
(one :class:`~comicdepth_tf.evaluation.Evaluation` per seed). This module turns those into:

* **per-item tables** (one row per configuration, seed and item, saved as CSV beside the
  report): ordering accuracy per panel, ComicsDepth relative score per panel (dB against
  ``batchnorm_trick``), AI4VA squared error per segment, dense metrics per image (with the
  mean-depth baseline as one more configuration). Their means are the comparison table's
  numbers: the ordering and dB columns are panel means, ``ai4va_mse_inter``/``_intra`` segment
  means, ``comics_*``/``natural_*`` image means;
* **paired intervals** (:func:`comparison_intervals`): every configuration against its
  baseline on the items and seeds both have, with :func:`comicdepth_tf.intervals.paired_difference`
  (items and seeds resampled together), and the verdict — *significant* only when the 95 %
  interval excludes 0, else *no measurable difference*;
* **seed aggregates** (:func:`seed_aggregates`): mean, standard deviation and number of seeds
  per configuration and metric (:func:`comicdepth_tf.intervals.aggregate_seeds`);
* the bar chart with error bars and the worst panels of the best model.

The baselines: ``no_batchnorm_trick`` for ordering accuracy, ``batchnorm_trick`` for the dB
score (the protocol's reference), the seed-style page model and the constant for AI4VA, and
``mean_depth`` (the evaluated set's mean depth everywhere, aligned per image like every model)
for dense metrics. Every bootstrap is seeded: the same tables and seed give the same intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from comicdepth_tf import evaluation, intervals, metrics, runs
from comicdepth_tf.errors import ParameterError

#: Baseline of the ordering-accuracy differences.
ORDERING_BASELINE = "no_batchnorm_trick"
#: Reference of the relative (dB) score.
DB_BASELINE = evaluation.BASELINE
#: Baselines of the AI4VA differences.
AI4VA_BASELINES = ("ai4va_page_baseline", "ai4va_constant")
#: The dense-metrics baseline: a constant map, the set's mean depth.
MEAN_DEPTH = "mean_depth"
#: Dense metrics compared (key, higher is better).
DENSE_KEYS = (("delta1", True), ("abs_rel", False), ("rmse", False))
#: Columns of :func:`comparison_intervals`.
INTERVAL_COLUMNS = ("configuration", "metric", "baseline", "n_items", "n_seeds", "difference", "low", "high",
                    "significant", "verdict", "in_words")
#: Comparison-table columns aggregated over seeds.
AGGREGATED = ("inter_acc", "intra_acc", "inter_db", "intra_db", "comics_delta1", "comics_abs_rel", "comics_rmse",
              "natural_delta1", "natural_abs_rel", "natural_rmse", "ai4va_mse_inter", "ai4va_mse_intra",
              "ai4va_mse_overall")
#: Human names of the metrics, for the verdicts.
METRIC_WORDS = {"inter_acc": "inter-object accuracy", "intra_acc": "intra-object accuracy",
                "inter_db": "inter-object accuracy in dB", "intra_db": "intra-object accuracy in dB",
                "ai4va_mse_inter": "AI4VA Interdepth MSE", "ai4va_mse_intra": "AI4VA Intradepth MSE",
                "ai4va_mse_overall": "AI4VA overall MSE",
                "real_inter": "real-page inter-object accuracy (pooled)",
                "real_counter_y": "real-page accuracy on counter-y pairs",
                **{f"{prefix}_{k}": f"{prefix} {name}" for prefix in ("comics", "natural")
                   for k, name in (("delta1", "δ1"), ("abs_rel", "AbsRel"), ("rmse", "RMSE"))}}
SEED_COLUMN = "seed"


def parse_seeds(text: str, default: int) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]``; an empty text is ``[default]`` (the single-seed path).

    Raises:
        ParameterError: a value that is not an integer, or a seed given twice.
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        return [int(default)]
    try:
        seeds = [int(p) for p in parts]
    except ValueError as exc:
        raise ParameterError(f"SEEDS must be comma-separated integers, got {text!r}") from exc
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"SEEDS lists a seed twice: {text!r}")
    return seeds


# --------------------------------------------------------------------------- tables over seeds


def _with_seed(frames: Mapping[int, Any]):
    import pandas as pd

    parts = [f.assign(**{SEED_COLUMN: seed}) for seed, f in frames.items() if len(f)]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    first = ["configuration", SEED_COLUMN]
    return out[first + [c for c in out.columns if c not in first]]


def runs_by_seed(refs_by_seed: Mapping[int, Mapping[str, runs.RunRef]]):
    """:func:`comicdepth_tf.evaluation.runs_table` of every seed, with a ``seed`` column."""
    return _with_seed({seed: evaluation.runs_table(refs) for seed, refs in refs_by_seed.items()})


def per_seed_table(evs: Mapping[int, evaluation.Evaluation]):
    """The comparison tables of every seed, one under the other, with a ``seed`` column."""
    return _with_seed({seed: ev.table for seed, ev in evs.items()})


def seed_aggregates(evs: Mapping[int, evaluation.Evaluation], columns: Sequence[str] = AGGREGATED):
    """Mean, standard deviation and number of seeds per configuration and metric (long table).

    Only scored values count: a configuration missing in one seed has that many fewer seeds.
    """
    import pandas as pd

    rows = [
        {"configuration": conf, "metric": col, SEED_COLUMN: seed, "value": float(v)}
        for seed, ev in evs.items()
        for conf, *values in ev.table[["configuration", *columns]].itertuples(index=False)
        for col, v in zip(columns, values)
        if isinstance(v, (int, float)) and np.isfinite(v)
    ]
    if not rows:
        return pd.DataFrame(columns=["configuration", "metric", "mean", "std", "n_seeds"])
    return intervals.aggregate_seeds(rows)


def mean_table(evs: Mapping[int, evaluation.Evaluation]):
    """The comparison table with every number averaged over the seeds that scored it, a ``seeds``
    column (how many), and the text columns of the first seed."""
    import pandas as pd

    tables = [ev.table for ev in evs.values()]
    first = tables[0].copy()
    numeric = [c for c in first.columns if pd.api.types.is_numeric_dtype(first[c])]
    stacked = pd.concat([t[numeric] for t in tables])
    first[numeric] = stacked.groupby(level=0).mean().reindex(first.index)
    first.insert(first.columns.get_loc("status") + 1, "seeds",
                 sum((t["status"].astype(str) == "ok").astype(int) for t in tables).to_numpy())
    return first


def ordering_items(evs: Mapping[int, evaluation.Evaluation]):
    """Ordering accuracy and pair counts per configuration, seed and panel."""
    return _with_seed({seed: evaluation.ordering_per_panel(ev) for seed, ev in evs.items()})


def db_items(ordering, baseline: str = DB_BASELINE):
    """The ComicsDepth relative score per configuration, seed and panel: ``10·log10(acc / baseline acc)``
    (:func:`comicdepth_tf.metrics.relative_db`) against ``baseline`` of the same seed and panel."""
    import pandas as pd

    cols = ["configuration", SEED_COLUMN, "panel", "inter_db", "intra_db"]
    if ordering.empty or baseline not in set(ordering["configuration"]):
        return pd.DataFrame(columns=cols)
    base = ordering[ordering["configuration"] == baseline][[SEED_COLUMN, "panel", "inter", "intra"]]
    mine = ordering[ordering["configuration"] != baseline]
    joined = mine.merge(base, on=[SEED_COLUMN, "panel"], suffixes=("", "_base"))
    for kind in ("inter", "intra"):
        joined[f"{kind}_db"] = metrics.relative_db(joined[kind].to_numpy(), joined[f"{kind}_base"].to_numpy())
    return joined[cols].reset_index(drop=True)


def ai4va_items(evs: Mapping[int, evaluation.Evaluation], segments, split: str = "val"):
    """AI4VA squared errors per configuration, seed and segment (:func:`comicdepth_tf.metrics.ai4va_squared_errors`).

    ``se_overall`` is the mean of the two errors of a segment with both labels (NaN otherwise): its
    mean is ``ai4va_mse_overall`` when every segment has both labels.
    """
    frames = {}
    for seed, ev in evs.items():
        parts = [metrics.ai4va_squared_errors(tables[split], segments).assign(configuration=name)
                 for name, tables in ev.ai4va.items() if split in tables]
        if parts:
            import pandas as pd

            frame = pd.concat(parts, ignore_index=True)
            frame["se_overall"] = (frame["se_inter"] + frame["se_intra"]) / 2.0
            frames[seed] = frame
    return _with_seed(frames)


def mean_depth_scores(eval_set: evaluation.EvalSet, align: str | None = "median") -> dict[str, dict]:
    """Dense metrics per image of the mean-depth baseline: the set's mean ground-truth depth everywhere.

    Aligned per image like the models (with ``median`` alignment it is each image's median depth).
    """
    from comicdepth_tf.data.formats.rgbd import decode_depth

    gts = {i.stem: decode_depth(i.depth_gt, i.depth_codec) for i in eval_set.items if i.depth_gt is not None}
    if not gts:
        return {}
    valid = np.concatenate([g[g > 1e-3].ravel() for g in gts.values()])
    mean = float(valid.mean()) if valid.size else 1.0
    out = {}
    for stem, gt in gts.items():
        result = metrics.depth_metrics(np.full(gt.shape, mean), gt, align=align)
        if result["n_images"]:
            out[stem] = result
    return out


def dense_items(evs: Mapping[int, evaluation.Evaluation], sets: Mapping[str, evaluation.EvalSet],
                align: str | None = "median"):
    """Dense metrics per configuration, seed, set and image, with the ``mean_depth`` baseline's rows
    (the same in every seed) on every set some configuration was scored on."""
    import pandas as pd

    keys = [k for k, _ in DENSE_KEYS]
    scored_sets = {s for ev in evs.values() for per_set in ev.dense_per_image.values() for s in per_set}
    baseline = {s: mean_depth_scores(sets[s], align) for s in sorted(scored_sets) if s in sets}
    frames = {}
    for seed, ev in evs.items():
        rows = [{"configuration": name, "set": set_name, "image": stem, **{k: r[k] for k in keys}}
                for name, per_set in {**ev.dense_per_image, MEAN_DEPTH: baseline}.items()
                for set_name, per_image in per_set.items() for stem, r in per_image.items()]
        frames[seed] = pd.DataFrame(rows, columns=["configuration", "set", "image", *keys])
    return _with_seed(frames)


def item_tables(evs: Mapping[int, evaluation.Evaluation], sets: Mapping[str, evaluation.EvalSet],
                ai4va_segments=None, ai4va_split: str = "val", align: str | None = "median",
                db_baseline: str = DB_BASELINE) -> dict[str, Any]:
    """Every per-item table, by the name it is saved under: ``ordering_per_panel``,
    ``relative_db_per_panel``, ``ai4va_per_segment`` (when the split's segments are given) and
    ``dense_per_image``."""
    ordering = ordering_items(evs)
    tables = {"ordering_per_panel": ordering, "relative_db_per_panel": db_items(ordering, db_baseline)}
    if ai4va_segments is not None:
        tables["ai4va_per_segment"] = ai4va_items(evs, ai4va_segments, ai4va_split)
    tables["dense_per_image"] = dense_items(evs, sets, align)
    return tables


# --------------------------------------------------------------------------- paired intervals


def _matrix(items, name: str, value: str, key: Sequence[str]):
    """``seeds × items`` of one configuration's ``value`` (pivoted on ``key``)."""
    mine = items[items["configuration"] == name]
    return mine.pivot_table(index=SEED_COLUMN, columns=list(key), values=value, aggfunc="first", dropna=False)


def _paired(a, b):
    """The seeds and items both matrices have, keeping items finite in every one of those seeds."""
    seeds = a.index.intersection(b.index)
    cols = a.columns.intersection(b.columns)
    aa, bb = a.loc[seeds, cols].to_numpy(np.float64), b.loc[seeds, cols].to_numpy(np.float64)
    keep = np.isfinite(aa).all(axis=0) & np.isfinite(bb).all(axis=0)
    return aa[:, keep], bb[:, keep]


def verdict_word(iv: intervals.Interval, higher_is_better: bool = True) -> str:
    """``significant (better)``, ``significant (worse)`` or ``no measurable difference``."""
    if not iv.excludes_zero:
        return "no measurable difference"
    return f"significant ({'better' if (iv.estimate > 0) == higher_is_better else 'worse'})"


def interval_row(name: str, baseline: str, metric: str, iv: intervals.Interval, higher_is_better: bool) -> dict:
    """One row of :func:`comparison_intervals`."""
    words = METRIC_WORDS.get(metric, metric.replace("_", " "))
    return {"configuration": name, "metric": metric, "baseline": baseline, "n_items": iv.n_items,
            "n_seeds": iv.n_seeds, "difference": iv.estimate, "low": iv.low, "high": iv.high,
            "significant": iv.excludes_zero, "verdict": verdict_word(iv, higher_is_better),
            "in_words": intervals.verdict(iv, name, baseline, words, higher_is_better)}


def paired_rows(items, value: str, metric: str, baseline: str, higher_is_better: bool, key: Sequence[str],
                seed: int = 0, against_zero: bool = False) -> list[dict]:
    """Every configuration of ``items`` against ``baseline`` on ``value``: the paired difference
    with its interval over the items and seeds both have.

    Args:
        items: a per-item table (``configuration``, ``seed``, the ``key`` columns, ``value``).
        value: the column compared.
        metric: its name in the result.
        baseline: the configuration compared with.
        higher_is_better: direction of ``value``, for the verdict.
        key: the columns naming an item.
        seed: seed of the bootstrap.
        against_zero: ``value`` is already relative to ``baseline`` (the dB score): compare with 0.
    """
    if items.empty or value not in items.columns:
        return []
    names = [n for n in dict.fromkeys(items["configuration"]) if n != baseline]
    if not against_zero and baseline not in set(items["configuration"]):
        return []
    base = None if against_zero else _matrix(items, baseline, value, key)
    rows = []
    for name in names:
        mine = _matrix(items, name, value, key)
        a, b = _paired(mine, mine * 0.0 if against_zero else base)
        if a.size == 0:
            continue
        iv = intervals.paired_difference(a, b, seed=seed)
        rows.append(interval_row(name, baseline, metric, iv, higher_is_better))
    return rows


def comparison_intervals(tables: Mapping[str, Any], ordering_baseline: str = ORDERING_BASELINE,
                         db_baseline: str = DB_BASELINE, ai4va_baselines: Sequence[str] = AI4VA_BASELINES,
                         seed: int = 0):
    """Every comparison with its paired 95 % interval and verdict, one row each (:data:`INTERVAL_COLUMNS`).

    Args:
        tables: from :func:`item_tables`.
        ordering_baseline: the ordering accuracies' baseline.
        db_baseline: the reference of the dB score (its rows in ``relative_db_per_panel``).
        ai4va_baselines: the AI4VA baselines.
        seed: seed of every bootstrap.

    Returns:
        A ``pandas.DataFrame``: ordering accuracy vs ``ordering_baseline``, the dB score vs
        ``db_baseline``, AI4VA MSE vs each AI4VA baseline, dense metrics vs ``mean_depth``.
        Comparisons without data on both sides are left out.
    """
    import pandas as pd

    rows: list[dict] = []
    ordering = tables.get("ordering_per_panel")
    if ordering is not None:
        for kind in ("inter", "intra"):
            rows += paired_rows(ordering, kind, f"{kind}_acc", ordering_baseline, True, ["panel"], seed)
    db = tables.get("relative_db_per_panel")
    if db is not None:
        for kind in ("inter", "intra"):
            rows += paired_rows(db, f"{kind}_db", f"{kind}_db", db_baseline, True, ["panel"], seed, against_zero=True)
    ai4va = tables.get("ai4va_per_segment")
    if ai4va is not None:
        for base in ai4va_baselines:
            for part in ("inter", "intra", "overall"):
                rows += paired_rows(ai4va, f"se_{part}", f"ai4va_mse_{part}", base, False, ["annotation_id"], seed)
    dense = tables.get("dense_per_image")
    if dense is not None and not dense.empty:
        for set_name in dict.fromkeys(dense["set"]):
            prefix = "natural" if set_name == runs.NATURAL_SET else "comics"
            part = dense[dense["set"] == set_name]
            for k, higher in DENSE_KEYS:
                rows += paired_rows(part, k, f"{prefix}_{k}", MEAN_DEPTH, higher, ["image"], seed)
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


# --------------------------------------------------------------------------- real pages

#: The rule every configuration must beat on the real pages: it is the embedded world's prior.
REAL_BASELINE = "rule: lower is nearer"
#: Pair kinds compared on the real pages (counter-y: pairs the rule gets wrong by construction).
REAL_KINDS = ("inter", "counter_y")


def real_page_items(rows_by_seed: Mapping[int, Any], mode: str = "panel"):
    """The real-page check's per-panel rows of every seed, in one ``mode``, with a ``seed`` column.

    Args:
        rows_by_seed: seed -> ``real_pages.score_configurations(...).rows``.
        mode: ``panel`` (the ComicsDepth protocol: each crop on its own) or ``page``.
    """
    table = _with_seed(rows_by_seed)
    return table[table["mode"] == mode].reset_index(drop=True) if len(table) else table


def _real_matrices(items, name: str, baseline: str, kind: str):
    """``(a, b, pairs)`` per-panel accuracies of ``name`` and ``baseline`` and the pair counts, seeds × panels."""
    key = ["page", "panel"]
    right_a, right_b = (_matrix(items, n, f"{kind}_right", key) for n in (name, baseline))
    pairs = _matrix(items, name, f"{kind}_pairs", key)
    seeds, cols = right_a.index.intersection(right_b.index), right_a.columns.intersection(right_b.columns)
    n = np.nan_to_num(pairs.loc[seeds, cols].to_numpy(np.float64))
    a, b = (np.divide(np.nan_to_num(m.loc[seeds, cols].to_numpy(np.float64)), n, out=np.zeros_like(n), where=n > 0)
            for m in (right_a, right_b))
    keep = n.sum(axis=0) > 0  # panels without pairs of this kind (or absent: the pivot's empty cells) are no items
    return a[:, keep], b[:, keep], n[:, keep]


def real_page_intervals(items, baseline: str = REAL_BASELINE, kinds: Sequence[str] = REAL_KINDS, seed: int = 0):
    """Every configuration against ``baseline`` on the real pages, with paired 95 % intervals.

    The score is the pooled pair accuracy (each panel weighted by its pairs), the check's own
    headline number; panels and seeds are resampled together (:func:`intervals.paired_difference`).

    Args:
        items: from :func:`real_page_items`.
        baseline: the configuration or rule compared with.
        kinds: pair kinds (``inter``, ``counter_y``, ``intra``).
        seed: seed of the bootstrap.

    Returns:
        A ``pandas.DataFrame`` of :data:`INTERVAL_COLUMNS`, metrics ``real_<kind>``.
    """
    import pandas as pd

    rows: list[dict] = []
    if len(items) == 0 or baseline not in set(items["configuration"]):
        return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))
    for kind in kinds:
        for name in dict.fromkeys(items["configuration"]):
            if name == baseline:
                continue
            a, b, pairs = _real_matrices(items, name, baseline, kind)
            if pairs.sum() == 0:
                continue
            iv = intervals.paired_difference(a, b, weights=pairs, seed=seed)
            rows.append(interval_row(name, baseline, f"real_{kind}", iv, True))
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


def real_page_intervals_by_batch(items, baseline: str = REAL_BASELINE, kinds: Sequence[str] = REAL_KINDS,
                                 seed: int = 0):
    """:func:`real_page_intervals` within each annotation batch of the check, with a ``batch`` column.

    A batch annotated after configurations were chosen on earlier ones is their held-out test
    (:mod:`comicdepth_tf.real_pages`); rows written before batches existed count as batch 1.
    """
    import pandas as pd

    from comicdepth_tf import real_pages

    batches = real_pages.row_batches(items)
    tables = [real_page_intervals(items[batches == b], baseline, kinds, seed).assign(batch=int(b))
              for b in sorted(set(batches))]
    columns = ["batch", *INTERVAL_COLUMNS]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------- words


def verdict_summary(table) -> str:
    """The comparisons in words: the significant ones, then those with no measurable difference."""
    if table.empty:
        return "No comparison could be made (no baseline was scored)."
    sig = table[table["significant"]]
    same = table[~table["significant"]]
    lines = [f"{len(sig)} of {len(table)} differences are significant (95 % interval excludes 0):"]
    lines += [f"  - {t}" for t in sig["in_words"]] or ["  (none)"]
    lines.append(f"{len(same)} show no measurable difference (95 % interval includes 0):")
    lines += [f"  - {t}" for t in same["in_words"]] or ["  (none)"]
    return "\n".join(lines)


#: The comparisons repeated on the run index: (configuration, metric, baseline, metric name).
HEADLINES = (("approach2_simple", "inter_acc", ORDERING_BASELINE, "approach2_simple_vs_no_bn_inter"),
             ("ai4va_segment", "ai4va_mse_overall", "ai4va_page_baseline", "ai4va_segment_vs_page_mse"),
             ("ai4va_segment", "ai4va_mse_overall", "ai4va_constant", "ai4va_segment_vs_constant_mse"))


def summary_metrics(table, n_seeds: int) -> dict[str, Any]:
    """Stage metrics for the index: how many differences are significant, and the headline
    comparisons as short text (``+0.051 [+0.012, +0.089] significant (better)``)."""
    out: dict[str, Any] = {"seeds": int(n_seeds), "differences": int(len(table)),
                           "significant_differences": int(table["significant"].sum()) if len(table) else 0}
    for name, metric, baseline, key in HEADLINES:
        hit = table[(table["configuration"] == name) & (table["metric"] == metric) & (table["baseline"] == baseline)]
        if len(hit):
            r = hit.iloc[0]
            out[key] = f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] {r['verdict']}"
    return out


# --------------------------------------------------------------------------- figures


#: Panels of :func:`interval_bar_chart`: (metric, per-item table, value column, key, title, higher is better).
BAR_PANELS = (("inter_acc", "ordering_per_panel", "inter", ("panel",), "inter-object accuracy", True),
              ("intra_acc", "ordering_per_panel", "intra", ("panel",), "intra-object accuracy", True),
              ("inter_db", "relative_db_per_panel", "inter_db", ("panel",), f"inter vs {DB_BASELINE} (dB)", True),
              ("comics_delta1", "dense_per_image", "delta1", ("set", "image"), "comics δ1 (aligned)", True),
              ("ai4va_mse_overall", "ai4va_per_segment", "se_overall", ("annotation_id",), "AI4VA overall MSE", False))


def mean_intervals(tables: Mapping[str, Any], seed: int = 0, panels=BAR_PANELS, dense_set: str | None = None):
    """Per configuration and bar metric: the mean over items and seeds with its 95 % bootstrap
    interval (items and seeds resampled), as a long table."""
    import pandas as pd

    rows = []
    for metric, table_name, value, key, _, _ in panels:
        items = tables.get(table_name)
        if items is None or items.empty:
            continue
        if "set" in items.columns and dense_set is not None:
            items = items[items["set"] == dense_set]
        for name in dict.fromkeys(items["configuration"]):
            m = _matrix(items, name, value, key).to_numpy(np.float64)
            m = m[:, np.isfinite(m).all(axis=0)]
            if m.size == 0:
                continue
            iv = intervals.paired_difference(m, np.zeros_like(m), seed=seed)
            rows.append({"configuration": name, "metric": metric, "mean": iv.estimate, "low": iv.low, "high": iv.high,
                         "n_items": iv.n_items, "n_seeds": iv.n_seeds})
    return pd.DataFrame(rows, columns=["configuration", "metric", "mean", "low", "high", "n_items", "n_seeds"])


def interval_bar_chart(tables: Mapping[str, Any], status_table, seed: int = 0, panels=BAR_PANELS,
                       dense_set: str = "panels_val"):
    """:func:`comicdepth_tf.evaluation.bar_chart` of the means over seeds with 95 % interval error bars.

    Args:
        tables: from :func:`item_tables`.
        status_table: a comparison table (``configuration``, ``status``), e.g. :func:`mean_table`:
            its rows and order, and what ``missing`` / ``n/a`` bars say.
        seed: seed of the bootstraps.
        panels: :data:`BAR_PANELS`.
        dense_set: the set of the δ1 panel.
    """
    means = mean_intervals(tables, seed, panels, dense_set)
    table = status_table[["configuration", "status"]].copy()
    errors = {}
    for metric, *_ in panels:
        part = means[means["metric"] == metric].set_index("configuration")
        table[metric] = [part["mean"].get(c, np.nan) for c in table["configuration"]]
        errors[metric] = [(part["low"].get(c, np.nan), part["high"].get(c, np.nan)) for c in table["configuration"]]
    n_seeds = int(means["n_seeds"].max()) if len(means) else 0
    columns = [(metric, title, higher) for metric, _, _, _, title, higher in panels]
    return evaluation.bar_chart(table, columns, errors=errors,
                                title=f"mean over {n_seeds} seed{'s' if n_seeds != 1 else ''}; error bars: 95 % "
                                      f"bootstrap interval over items and seeds")


def best_configuration(ordering, kind: str = "inter") -> str:
    """The configuration with the highest mean ``kind`` accuracy over panels and seeds."""
    if ordering.empty:
        raise ParameterError("best_configuration: no ordering scores")
    return str(ordering.groupby("configuration", sort=False)[kind].mean().idxmax())


def worst_panels(ordering, configuration: str, seed: int, n: int = 4, kind: str = "inter") -> list[str]:
    """The ``n`` panels ``configuration`` (in ``seed``) orders worst: lowest accuracy, most pairs first."""
    mine = ordering[(ordering["configuration"] == configuration) & (ordering[SEED_COLUMN] == seed)]
    mine = mine[np.isfinite(mine[kind].to_numpy(np.float64))]
    return list(mine.sort_values([kind, f"{kind}_pairs"], ascending=[True, False])["panel"][:n])


def worst_panels_figure(eval_set: evaluation.EvalSet, maps: Mapping[str, np.ndarray], convention: str,
                        stems: Sequence[str] | None = None, title: str = "", size: float = 2.6):
    """Each panel (columns, in ``stems`` order): the input with its ordering points, and the depth
    (nearer = brighter, the project's colour map) with the inter-object pairs it orders wrongly in red."""
    from comicdepth_tf import fileio, viz
    from comicdepth_tf.real_pages import draw_pairs, wrong_pairs

    plt = viz.pyplot()
    by_stem = {i.stem: i for i in eval_set.items}
    items = [by_stem[s] for s in (stems if stems is not None else maps) if s in by_stem and s in maps]
    fig, axes = plt.subplots(2, max(len(items), 1), figsize=(size * max(len(items), 1), size * 2.1), squeeze=False)
    order_conv = evaluation.ordering_convention(convention)
    for c, item in enumerate(items):
        depth = maps[item.stem]
        bad = wrong_pairs(depth, item.points, order_conv)
        total = metrics.ordering_accuracy(depth, item.points, order_conv)["inter_pairs"]
        axes[0, c].imshow(fileio.read_image(item.image))
        draw_pairs(axes[0, c], item.points, [])
        axes[0, c].set_title(item.stem, fontsize=7)
        axes[1, c].imshow(viz.colorize_depth(evaluation.display_depth(depth, convention)))
        draw_pairs(axes[1, c], item.points, bad)
        axes[1, c].set_title(f"{len(bad)} of {int(total)} pairs wrong", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
