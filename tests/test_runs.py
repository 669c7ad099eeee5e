"""The store of saved runs: making a run folder (no TensorFlow needed).

Finding runs and registering configurations are tested with the evaluation that reads them
(tests/test_evaluation.py) and the commands that take run arguments (tests/test_cli_consistency.py).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from comicdepth_tf import runs
from comicdepth_tf.errors import ParameterError


def test_new_run_dir_makes_the_folder_and_reuses_an_explicit_id(tmp_path):
    run = runs.new_run_dir("depth_tiny", "smoke-0", root=tmp_path)
    assert run == tmp_path / "depth_tiny" / "smoke-0" and run.is_dir()
    (run / "last.keras").write_bytes(b"x")
    # Same id again: the same folder, untouched, which is how a run resumes.
    assert runs.new_run_dir("depth_tiny", "smoke-0", root=tmp_path) == run
    assert (run / "last.keras").read_bytes() == b"x"


def test_new_run_dir_defaults_to_the_saved_models_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path))
    assert runs.new_run_dir("text_unet", "a") == tmp_path / "text_unet" / "a"


def test_new_run_dir_without_an_id_takes_a_fresh_timestamp(tmp_path, monkeypatch):
    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2024, 5, 6, 7, 8, 9)

    monkeypatch.setattr(runs, "_dt", SimpleNamespace(datetime=Frozen))
    first = runs.new_run_dir("depth_irv2", root=tmp_path)
    second = runs.new_run_dir("depth_irv2", root=tmp_path)
    third = runs.new_run_dir("depth_irv2", root=tmp_path)
    assert [p.name for p in (first, second, third)] == ["20240506-070809", "20240506-070809-2", "20240506-070809-3"]


@pytest.mark.parametrize("model_name, run_id", [("../escape", None), ("depth_irv2", "../up"), ("depth_irv2", "a/b"),
                                                ("", "x"), ("depth_irv2", ".hidden"), ("depth_irv2", "")])
def test_new_run_dir_refuses_names_that_are_not_one_plain_folder(tmp_path, model_name, run_id):
    with pytest.raises(ParameterError, match="letters, digits"):
        runs.new_run_dir(model_name, run_id, root=tmp_path)
    assert not any(tmp_path.iterdir())
