"""``comicdepth diff-metrics``: exact comparison of two runs' results, timings and run ids left out."""

from __future__ import annotations

import json

from comicdepth_tf import cli
from comicdepth_tf.chain.metrics_diff import diff_reports


def write(folder, stage, metrics):
    (folder / stage).mkdir(parents=True, exist_ok=True)
    (folder / stage / "metrics.json").write_text(json.dumps(metrics))


def test_identical_results_with_other_timings_and_run_ids(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "10_x", {"delta1": 0.8512, "train_seconds": 7.2, "run_id": "20261206-1", "scores": {"ai4va_s": 1.0}})
    write(b, "10_x", {"delta1": 0.8512, "train_seconds": 7.0, "run_id": "20261206-2", "scores": {"ai4va_s": 2.0}})
    assert diff_reports(a, b) == ([], 1)
    assert cli.main(["diff-metrics", str(a), str(b)]) == 0
    assert "0 difference(s) in 1 values" in capsys.readouterr().out


def test_any_result_change_is_a_difference(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "30_gan", {"inter": 0.7508, "per_variant": [0.1, 0.2]})
    write(b, "30_gan", {"inter": 0.7805, "per_variant": [0.1, 0.2000001]})
    write(b, "40_more", {"inter": 1.0})
    differences, _ = diff_reports(a, b)
    assert ("30_gan", "inter", 0.7508, 0.7805) in differences
    assert ("30_gan", "per_variant.1", 0.2, 0.2000001) in differences
    assert ("40_more", "metrics.json", False, True) in differences
    assert cli.main(["diff-metrics", str(a), str(b)]) == 1
    assert "30_gan: inter: 0.7508 != 0.7805" in capsys.readouterr().out
    assert cli.main(["diff-metrics", str(a), str(tmp_path / "missing")]) == 2
