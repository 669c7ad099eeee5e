"""ComicsDepth ordering files and the panels/<split>/ layout, written in the real format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from comicdepth_tf.data.formats import ordering
from comicdepth_tf.data.formats.ordering import OrderingPoints
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import read_depth_png16, write_depth_png16, write_image


def _points() -> OrderingPoints:
    return OrderingPoints(l1=[1, 1, 2, 3], l2=[1, 2, 1, 1], x=[0, 5, 19, 7], y=[0, 3, 9, 14])


def test_read_real_format_file(tmp_path):
    path = tmp_path / "panel.txt"
    path.write_text("1 1 10 20\n1 2 11 21\n2 1 30 5\n\n")  # trailing blank line as editors leave it
    pts = ordering.read_ordering(path)
    assert len(pts) == 3
    np.testing.assert_array_equal(pts.l1, [1, 1, 2])
    np.testing.assert_array_equal(pts.l2, [1, 2, 1])
    np.testing.assert_array_equal(pts.x, [10, 11, 30])
    np.testing.assert_array_equal(pts.y, [20, 21, 5])
    assert pts.x.dtype == np.int64


def test_write_read_round_trip(tmp_path):
    path = ordering.write_ordering(tmp_path / "sub" / "p.txt", _points())
    assert path.read_text() == "1 1 0 0\n1 2 5 3\n2 1 19 9\n3 1 7 14\n"
    assert ordering.read_ordering(path, width=20, height=15) == _points()
    assert not list(path.parent.glob("*.tmp"))


def test_empty_file_has_no_points(tmp_path):
    path = ordering.write_ordering(tmp_path / "e.txt", OrderingPoints([], [], [], []))
    assert len(ordering.read_ordering(path)) == 0


def test_write_rejects_levels_below_one(tmp_path):
    with pytest.raises(ParameterError, match="1-based"):
        ordering.write_ordering(tmp_path / "p.txt", OrderingPoints([0], [1], [2], [3]))
    assert not (tmp_path / "p.txt").exists()


def test_points_must_have_one_length():
    with pytest.raises(ParameterError, match="one length"):
        OrderingPoints([1, 2], [1], [0], [0])


@pytest.mark.parametrize(
    "text, field, expect",
    [
        ("1 1 3 4\n1 2 3\n", "line 2", "4 space-separated integers"),
        ("1 1 3 4 5\n", "line 1", "4 space-separated integers"),
        ("1 1 3 4\n\n2 x 3 4\n", "line 3 field l2", "an integer"),
        ("1 1 3.5 4\n", "line 1 field x", "an integer"),
        ("0 1 3 4\n", "line 1 field l1", "levels are 1-based"),
        ("1 -2 3 4\n", "line 1 field l2", "levels are 1-based"),
        ("1 1 -3 4\n", "line 1 field x", "non-negative"),
        ("1 1 3 4\n1 1 20 4\n", "line 2 field x", "image width 20"),
        ("1 1 3 15\n", "line 1 field y", "image height 15"),
        ("1 1 1_0 4\n", "line 1 field x", "ASCII digits"),  # int() reads "1_0" as 10
        (f"{10**30} 1 3 4\n", "line 1 field l1", "at most 18 digits"),  # does not fit int64
        ("1 1 \u0663 4\n", "line 1 field x", "ASCII digits"),  # int() reads Arabic-Indic 3 as 3
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, text, field, expect):
    path = tmp_path / "bad_panel.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError) as err:
        ordering.read_ordering(path, width=20, height=15)
    msg = str(err.value)
    assert "bad_panel.txt" in msg and f"field '{field}'" in msg and expect in msg, msg


def test_points_outside_checked_only_with_size(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("1 1 500 900\n")
    assert ordering.read_ordering(path).x[0] == 500


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataFormatError, match="existing ordering file"):
        ordering.read_ordering(tmp_path / "none.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataFormatError, match="UTF-8"):
        ordering.read_ordering(tmp_path / "bin.txt")


# --------------------------------------------------------------------------- panels/<split>/ layout


def _panel(folder: Path, stem: str, size=(20, 15), ext=".png", extras=True) -> None:
    w, h = size
    write_image(folder / "images" / f"{stem}{ext}", np.full((h, w, 3), 128, np.uint8))
    ordering.write_ordering(folder / "depth" / f"{stem}.txt", _points())
    if extras:
        write_depth_png16(folder / "depth_gt" / f"{stem}.png", np.full((h, w), 3.25, np.float32))
        mask = np.zeros((h, w), np.uint8)
        mask[1:3, 1:4] = 255
        write_image(folder / "text_masks" / f"{stem}.png", mask)


def test_load_ordering_set_with_extras(tmp_path):
    _panel(tmp_path, "p001")
    _panel(tmp_path, "p000", ext=".jpg")
    panels = ordering.load_ordering_set(tmp_path)
    assert [p.name for p in panels] == ["p000", "p001"]
    assert panels[0].image.suffix == ".jpg" and panels[0].points == _points()
    samples = ordering.to_samples(panels)
    assert samples[1] == {
        "name": "p001",
        "image": str(tmp_path / "images" / "p001.png"),
        "ordering": str(tmp_path / "depth" / "p001.txt"),
        "depth": str(tmp_path / "depth_gt" / "p001.png"),
        "depth_codec": "png16_mm",
        "text_mask": str(tmp_path / "text_masks" / "p001.png"),
    }
    np.testing.assert_allclose(read_depth_png16(samples[0]["depth"]), 3.25)


def test_load_ordering_set_without_extras(tmp_path):
    _panel(tmp_path, "a", extras=False)
    (panel,) = ordering.load_ordering_set(tmp_path)
    assert panel.depth_gt is None and panel.text_mask is None
    assert set(ordering.to_samples([panel])[0]) == {"name", "image", "ordering"}


def test_unpaired_files_are_listed(tmp_path):
    _panel(tmp_path, "ok", extras=False)
    write_image(tmp_path / "images" / "lonely_image.png", np.zeros((15, 20, 3), np.uint8))
    ordering.write_ordering(tmp_path / "depth" / "lonely_txt.txt", _points())
    with pytest.raises(DataFormatError) as err:
        ordering.load_ordering_set(tmp_path)
    msg = str(err.value)
    assert "images without ordering file: ['lonely_image']" in msg
    assert "ordering files without image: ['lonely_txt']" in msg


def test_point_outside_the_crop_is_an_error(tmp_path):
    _panel(tmp_path, "small", size=(10, 10), extras=False)  # the points reach x=19, y=14
    with pytest.raises(DataFormatError) as err:
        ordering.load_ordering_set(tmp_path)
    assert "small.txt" in str(err.value) and "line 3 field x" in str(err.value)


def test_missing_extra_and_size_mismatch(tmp_path):
    _panel(tmp_path, "a")
    _panel(tmp_path, "b")
    (tmp_path / "text_masks" / "b.png").unlink()
    with pytest.raises(DataFormatError) as err:
        ordering.load_ordering_set(tmp_path)
    assert "text_masks" in str(err.value) and "['b']" in str(err.value)
    write_image(tmp_path / "text_masks" / "b.png", np.zeros((15, 20), np.uint8))
    write_depth_png16(tmp_path / "depth_gt" / "b.png", np.ones((5, 5), np.float32))
    with pytest.raises(DataFormatError) as err:
        ordering.load_ordering_set(tmp_path)
    assert "b.png" in str(err.value) and "20x15" in str(err.value)


def test_missing_folders_and_empty_set(tmp_path):
    with pytest.raises(DataFormatError, match="images"):
        ordering.load_ordering_set(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "depth").mkdir()
    with pytest.raises(DataFormatError, match="at least one panel"):
        ordering.load_ordering_set(tmp_path)


def test_two_images_with_one_stem_are_ambiguous(tmp_path):
    _panel(tmp_path, "x", extras=False)
    write_image(tmp_path / "images" / "x.jpg", np.zeros((15, 20, 3), np.uint8))
    with pytest.raises(DataFormatError, match=r"several files for \['x'\]"):
        ordering.load_ordering_set(tmp_path)


def test_a_depth_file_linking_out_of_the_panel_set_is_refused(tmp_path):
    folder = tmp_path / "panels" / "val"
    _panel(folder, "a", extras=False)
    outside = write_depth_png16(tmp_path / "elsewhere" / "a.png", np.full((15, 20), 1.0, np.float32))
    (folder / "depth_gt").mkdir()
    (folder / "depth_gt" / "a.png").symlink_to(outside)
    with pytest.raises(DataFormatError) as err:
        ordering.load_ordering_set(folder)
    assert err.value.path == str(folder / "depth_gt" / "a.png") and err.value.field == "symlink"
    assert str(outside) in str(err.value)
