"""The run index's compact comparison and the rounded metrics tables (comicdepth_tf.chain.report_tables)."""

from __future__ import annotations

import math
import os
import re

import pandas as pd

from comicdepth_tf.chain import report_tables as rt

NAN = math.nan


def comparison() -> pd.DataFrame:
    """Hand-made rows shaped like 50_evaluate's comparison (most cells empty, as there)."""
    return pd.DataFrame({
        "configuration": ["natural_irv2", "approach2_simple", "batchnorm_trick", "ai4va_segment", "ai4va_constant"],
        "label": ["natural", "approach 2", "bn trick", "segment", "constant"],
        "status": ["ok", "ok", "ok", "ok", "missing: no run of ai4va_constant"],
        "inter_acc": [1.2, 0.66, 0.30, NAN, NAN],
        "inter_db": [NAN, 6.9, 0.0, NAN, NAN],
        "ordering_images": [NAN, 9.0, 9.0, NAN, NAN],
        "comics_delta1": [NAN, 0.30, 0.27, NAN, NAN],
        "comics_abs_rel": [0.8, 0.69, 1878.0, NAN, NAN],
        "natural_delta1": [0.51, NAN, NAN, NAN, NAN],
        "natural_log10": [NAN] * 5,
        "ai4va_mse_overall": [NAN, NAN, NAN, 1.16, 2.02],
        "run": ["/nowhere/saved_models/depth_irv2/smoke-0", "", "", "", ""],
    })


def test_directions_come_from_the_column_names():
    assert [rt.direction(c) for c in ("inter_acc", "inter_db", "comics_delta1", "inter_pooled", "counter_y")] == [
        "max"
    ] * 5
    assert [rt.direction(c) for c in ("comics_abs_rel", "natural_rmse", "ai4va_mse_inter", "val_cycle_l1")] == [
        "min"
    ] * 4
    assert [rt.direction(c) for c in ("ordering_images", "seeds", "inter_pairs", "n_items")] == [None] * 4


def test_values_outside_a_sane_range_are_flagged_with_the_reason():
    assert "scale not aligned" in rt.out_of_range("comics_abs_rel", 1878.0)
    assert rt.out_of_range("comics_abs_rel", 0.7) is None
    assert "outside [0, 1]" in rt.out_of_range("inter_acc", 1.2)
    assert rt.out_of_range("inter_db", 6.9) is None  # dB is no share
    assert "negative" in rt.out_of_range("ai4va_mse_overall", -0.1)


def test_the_compact_comparison_groups_columns_marks_the_best_and_flags_the_odd(tmp_path):
    page = rt.compact_comparison(comparison(), tmp_path)
    families = re.findall(r'<th colspan="(\d+)" class="family">([^<]*)</th>', page)
    assert families == [("2", "ordering"), ("2", "comics dense"), ("1", "natural dense"), ("1", "AI4VA MSE")]
    headers = re.findall(r'<th title="([^"]+)">([^<]+)</th>', page)
    assert headers[:4] == [("inter_acc", "inter acc ↑"), ("inter_db", "inter dB ↑"), ("comics_delta1", "δ1 ↑"),
                           ("comics_abs_rel", "AbsRel ↓")]
    assert "natural_log10" not in page  # no configuration has it: no column
    best = re.findall(r'<td class="num best"><b>([^<]+)</b></td>', page)
    # The flagged accuracy 1.2 is never best, so 0.66 is; a column with one value has no best.
    assert best == ["0.66", "6.9", "0.3", "0.69", "1.16"]
    assert '<td class="num flag" title="a share (accuracy, δ) outside [0, 1]">1.2 ⚠</td>' in page
    assert (
        '<td class="num flag" title="AbsRel &gt; 10: depth scale not aligned to the ground truth">1.88e+03 ⚠</td>'
        in page
    )
    assert "<li>batchnorm_trick · comics dense AbsRel: 1.88e+03 (AbsRel &gt; 10: depth scale" in page
    assert '<div class="status-note">missing: no run of ai4va_constant</div>' in page
    # Text, counts and paths go to the details, paths relative to the run folder.
    details = page.split("<details>", 1)[1]
    link = os.path.relpath("/nowhere/saved_models/depth_irv2/smoke-0", tmp_path)
    assert "ordering images" in details and f'<a href="{link}">{link}</a>' in details


def test_metrics_show_as_a_table_of_rounded_values():
    table = rt.metrics_table({"val_delta1": 0.3655914068222046, "n": 393, "inter_acc": {"a": 0.6640625, "b": NAN},
                              "sizes": list(range(10)), "model": "ai4va_segment"})
    assert table["value"].to_dict() == {"val_delta1": "0.366", "n": "393", "inter_acc · a": "0.664",
                                        "inter_acc · b": "–", "sizes": "0, 1, 2, 3, 4, 5, … (10 in all)",
                                        "model": "ai4va_segment"}
