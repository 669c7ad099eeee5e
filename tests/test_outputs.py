"""The output-file rule shared by predict, text-mask and translate (comicdepth_tf.outputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from comicdepth_tf import outputs
from comicdepth_tf.errors import OutputConflictError, ParameterError


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_same_stems_from_two_folders_get_numbered_names_whatever_is_on_disk(tmp_path):
    sources = [_touch(tmp_path / d / "page.png") for d in ("x", "y", "z")]
    out = tmp_path / "out"
    plan = outputs.plan_outputs(sources, ["page"] * 3, out, ["{}.png", "prob/{}.png"])
    assert plan.names == ["page", "page-2", "page-3"] and plan.errors == {}
    assert plan.files[1] == [out / "page-2.png", out / "prob" / "page-2.png"]
    _touch(out / "page.png")  # a refused input keeps its name: the others are named as before
    again = outputs.plan_outputs(sources, ["page"] * 3, out, ["{}.png", "prob/{}.png"])
    assert again.names == plan.names and list(again.errors) == [0]


def test_names_are_unique_file_by_file_not_only_by_name(tmp_path):
    # translate --depth-run: "a" writes a_depth.png, which would also be the translation of "a_depth".
    sources = [_touch(tmp_path / "in" / "a.png"), _touch(tmp_path / "in" / "a_depth.png")]
    plan = outputs.plan_outputs(sources, ["a", "a_depth"], tmp_path / "out", ["{}.png", "{}_depth.png"])
    assert plan.names == ["a", "a_depth-2"]
    assert len({f for files in plan.files for f in files}) == 4


def test_inputs_are_never_outputs_and_existing_files_need_overwrite(tmp_path):
    pages = tmp_path / "pages"
    sources = [_touch(pages / "a.png"), _touch(pages / "b.jpg")]
    _touch(pages / "b.png", b"someone else's")
    for overwrite in (False, True):
        plan = outputs.plan_outputs(sources, ["a", "b"], pages, ["{}.png"], overwrite=overwrite)
        err = plan.errors[0]
        assert isinstance(err, OutputConflictError) and err.path == str(pages / "a.png")
        assert err.source == str(pages / "a.png") and "input" in str(err)
        assert (1 in plan.errors) is not overwrite
    err = outputs.plan_outputs(sources, ["a", "b"], pages, ["{}.png"]).errors[1]
    assert str(err).startswith(f"{pages / 'b.png'}: output of {pages / 'b.jpg'} not written") and "--overwrite" in str(
        err
    )


def test_a_symlink_to_an_input_is_that_input(tmp_path):
    source = _touch(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").symlink_to(source)
    plan = outputs.plan_outputs([source], ["a"], tmp_path / "out", ["{}.png"], overwrite=True)
    assert plan.errors[0].expected == outputs.NOT_AN_INPUT


def test_out_folder_that_is_an_existing_file_is_refused(tmp_path):
    _touch(tmp_path / "notes.txt")
    assert outputs.check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert outputs.check_out_dir(tmp_path) == tmp_path
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "sub"):
        with pytest.raises(
            ParameterError, match=f"--out {out}: expected a folder, but {tmp_path / 'notes.txt'} is a file"
        ):
            outputs.check_out_dir(out)


@pytest.mark.parametrize("command", ["predict", "text-mask", "translate"])
def test_every_command_refuses_an_out_file_before_loading_its_model(tmp_path, capsys, command):
    from comicdepth_tf import cli

    page = _touch(tmp_path / "page.png")
    out = _touch(tmp_path / "out.png", b"someone else's file")
    code = cli.main([command, str(page), "--run", str(tmp_path / "no-run"), "--out", str(out)])
    assert code == 2
    assert f"--out {out}: expected a folder" in capsys.readouterr().err
    assert out.read_bytes() == b"someone else's file"
