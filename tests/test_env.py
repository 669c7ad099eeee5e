"""The environment report (comicdepth_tf.env); TensorFlow is not imported here (fast)."""

from __future__ import annotations

import json
import sys
from importlib import metadata

from comicdepth_tf import cli, env


def test_report_without_tensorflow_names_interpreter_and_versions():
    info = env.report(with_tensorflow=False)
    assert info["executable"] == sys.executable and info["prefix"] == sys.prefix
    assert info["packages"]["numpy"] == metadata.version("numpy")
    assert info["packages"]["papermill"] == metadata.version("papermill")
    assert info["packages"]["opencv"] is not None
    assert env.package_version("surely-not-installed-package") is None
    text = env.format_report(info)
    assert f"numpy            {metadata.version('numpy')}" in text


def test_cli_env_json(capsys):
    assert cli.main(["env", "--json", "--no-tensorflow"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["executable"] == sys.executable and "devices" in info
