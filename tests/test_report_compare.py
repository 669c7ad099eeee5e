"""Comparing one configuration across chain runs on the real-page check (ablations)."""

from __future__ import annotations

import pandas as pd
import pytest

from comicdepth_tf.chain import report_compare
from comicdepth_tf.cli import main
from comicdepth_tf.errors import DataFormatError, ParameterError

PANELS = [("p", f"p{i:02d}") for i in range(8)]


def _report(root, name, right_inter, right_counter, configuration="approach2_exact_comics"):
    """A report whose configuration gets ``right_*`` of 4 inter and 2 counter-y pairs on every panel and seed."""
    rows = []
    for seed in (0, 1):
        for page, panel in PANELS:
            for conf, ri, rc in ((configuration, right_inter, right_counter), ("rule: lower is nearer", 3, 0)):
                rows.append({"configuration": conf, "seed": seed, "mode": "panel", "page": page, "panel": panel,
                             "inter_pairs": 4, "inter_right": ri, "counter_y_pairs": 2, "counter_y_right": rc})
                rows.append({**rows[-1], "mode": "page", "inter_right": 0, "counter_y_right": 0})
    folder = root / name / "50_evaluate"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "real_pages_per_panel.csv", index=False)
    return root / name


def test_the_same_configuration_in_two_runs_is_compared_panel_for_panel(tmp_path):
    a, b = _report(tmp_path, "a", 2, 0), _report(tmp_path, "b", 3, 2)
    scores, table = report_compare.compare_reports({"street": a, "rich": b}, "approach2_exact_comics")
    assert scores.set_index("label").to_dict("index") == {"street": {"seeds": 2, "inter": 0.5, "counter_y": 0.0},
                                                           "rich": {"seeds": 2, "inter": 0.75, "counter_y": 1.0}}
    rows = table.set_index("metric")
    # Every panel and seed differs by the same amount: the interval is that amount exactly.
    assert rows.loc["real_inter", ["difference", "low", "high"]].tolist() == pytest.approx([0.25] * 3)
    assert rows.loc["real_counter_y", "difference"] == pytest.approx(1.0) and rows["significant"].all()
    assert set(rows["configuration"]) == {"rich"} and set(rows["baseline"]) == {"street"}


def test_one_annotation_batch_is_compared_alone(tmp_path, capsys):
    a, b = _report(tmp_path, "a", 2, 0), _report(tmp_path, "b", 3, 2)
    table = pd.read_csv(b / "50_evaluate" / "real_pages_per_panel.csv")
    # In b the last two panels came in batch 2 and the configuration gets all their pairs right.
    late = table["panel"].isin(["p06", "p07"])
    table["batch"] = late.map({True: 2, False: 1})
    table.loc[late & (table["configuration"] == "approach2_exact_comics"), ["inter_right", "counter_y_right"]] = [4, 2]
    table.to_csv(b / "50_evaluate" / "real_pages_per_panel.csv", index=False)
    scores, _ = report_compare.compare_reports({"b": b}, "approach2_exact_comics", batches=[2])
    assert scores.loc[0, "inter"] == 1.0
    scores, _ = report_compare.compare_reports({"b": b}, "approach2_exact_comics", batches=[1])
    assert scores.loc[0, "inter"] == 0.75
    # a was written before batches: all its panels are batch 1, none batch 2.
    with pytest.raises(DataFormatError, match="batch"):
        report_compare.compare_reports({"a": a, "b": b}, "approach2_exact_comics", batches=[2])
    assert main(["compare-reports", f"b={b}", "--configuration", "approach2_exact_comics", "--batch", "2"]) == 0
    assert "1.000" in capsys.readouterr().out


def test_bad_reports_and_labels_are_named(tmp_path, capsys):
    a = _report(tmp_path, "a", 2, 0)
    with pytest.raises(DataFormatError, match="real_pages_per_panel.csv.*approach2_simple"):
        report_compare.compare_reports({"x": a}, "approach2_simple")
    with pytest.raises(DataFormatError, match="notebook 50"):
        report_compare.compare_reports({"x": tmp_path / "nowhere"}, "approach2_exact_comics")
    with pytest.raises(ParameterError, match="baseline 'y'"):
        report_compare.compare_reports({"x": a}, "approach2_exact_comics", baseline="y")
    assert main(["compare-reports", str(a), "--configuration", "approach2_exact_comics"]) == 2
    assert "expected LABEL=REPORT" in capsys.readouterr().err
    assert main(["compare-reports", f"s={a}", f"r={_report(tmp_path, 'b', 4, 1)}",
                 "--configuration", "approach2_exact_comics"]) == 0
    out = capsys.readouterr().out
    assert "r beats s on real-page inter-object accuracy (pooled): +0.500" in out


def test_a_report_given_twice_is_an_error_not_a_zero_difference(tmp_path, capsys):
    a = _report(tmp_path, "a", 2, 0)
    with pytest.raises(ParameterError, match="'x' and 'y' name the same report"):
        report_compare.compare_reports({"x": a, "y": tmp_path / "b" / ".." / "a"}, "approach2_exact_comics")
    b = _report(tmp_path, "b", 3, 1)
    assert main(["compare-reports", f"s={a}", f"s={b}", "--configuration", "approach2_exact_comics"]) == 2
    assert "label 's' is given twice" in capsys.readouterr().err
