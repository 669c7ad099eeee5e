"""Image reading conversions, atomic writes and path safety of comicdepth_tf.io."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hostile_files import write_png_bomb

from comicdepth_tf import io
from comicdepth_tf.errors import DataFormatError, ParameterError


def test_read_image_converts_gray_rgba_and_16bit(tmp_path):
    gray = np.full((4, 5), 200, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 255  # red in BGR order
    bgra[..., 3] = 0
    bgra[0, 0, 3] = 255  # one opaque red pixel, the rest transparent
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    cv2.imwrite(str(tmp_path / "w.png"), np.full((4, 5), 65535, np.uint16))

    g = io.read_image(tmp_path / "g.png")
    assert g.shape == (4, 5, 3) and g.dtype == np.uint8 and (g == 200).all()
    a = io.read_image(tmp_path / "a.png")
    assert tuple(a[0, 0]) == (255, 0, 0)  # RGB order
    assert tuple(a[1, 1]) == (255, 255, 255)  # transparent composited over white paper
    w = io.read_image(tmp_path / "w.png")
    assert w.dtype == np.uint8 and (w == 255).all()


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(DataFormatError, match="missing.png"):
        io.read_image(tmp_path / "missing.png")
    good = tmp_path / "t.jpg"
    io.write_image(good, np.zeros((64, 64, 3), np.uint8))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataFormatError, match="truncated.jpg"):
        io.read_image(truncated)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty.png"):
        io.read_image(empty)


def _no_decode(*_args, **_kwargs):
    raise AssertionError("the file was decoded")


@pytest.mark.parametrize("side", [20000, 8000], ids=["beyond Pillow's own limit", "between ours and Pillow's"])
def test_images_declaring_too_many_pixels_are_refused_before_decoding(tmp_path, monkeypatch, side):
    bomb = write_png_bomb(tmp_path / "bomb.png", side, side)
    monkeypatch.delenv(io.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(io.cv2, "imdecode", _no_decode)
    monkeypatch.setattr(io.np, "fromfile", _no_decode)
    for read in (io.read_image, io.read_raw, io.read_mask):
        with pytest.raises(DataFormatError) as err:
            read(bomb)
        assert err.value.path == str(bomb) and err.value.field == "pixels"
        assert f"at most {io.MAX_PIXELS} pixels" in str(err.value) and f"{side * side} pixels" in str(err.value)


def test_pixel_limit_follows_the_environment(tmp_path, monkeypatch):
    io.write_image(tmp_path / "page.png", np.zeros((10, 20, 3), np.uint8))
    monkeypatch.setenv(io.MAX_PIXELS_ENV, "200")
    assert io.read_image(tmp_path / "page.png").shape == (10, 20, 3)
    monkeypatch.setenv(io.MAX_PIXELS_ENV, "199")
    with pytest.raises(DataFormatError, match=r"page.png: field 'pixels': expected an image of at most 199 pixels"):
        io.read_image(tmp_path / "page.png")
    monkeypatch.setenv(io.MAX_PIXELS_ENV, "lots")
    with pytest.raises(ParameterError, match=io.MAX_PIXELS_ENV):
        io.read_image(tmp_path / "page.png")


def test_depth_png16_round_trip_in_millimetres(tmp_path):
    depth = np.array([[0.0, 1.2344], [9.999, np.nan]], np.float32)
    path = io.write_depth_png16(tmp_path / "d.png", depth)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    assert raw.tolist() == [[0, 1234], [9999, 0]]
    back = io.read_depth_png16(path)
    np.testing.assert_allclose(back, [[0.0, 1.234], [9.999, 0.0]], atol=1e-6)


def test_read_depth_png16_rejects_8bit(tmp_path):
    cv2.imwrite(str(tmp_path / "d8.png"), np.zeros((3, 3), np.uint8))
    with pytest.raises(DataFormatError, match="16-bit"):
        io.read_depth_png16(tmp_path / "d8.png")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    io.atomic_write_json(tmp_path / "sub" / "x.json", {"a": np.float32(1.5), "b": np.arange(2)})
    assert io.read_json(tmp_path / "sub" / "x.json") == {"a": 1.5, "b": [0, 1]}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.json"]


def test_read_json_reports_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(DataFormatError, match=r"bad.json.*line 2"):
        io.read_json(bad)


def test_safe_join_rejects_escaping_paths(tmp_path):
    (tmp_path / "images").mkdir()
    assert io.safe_join(tmp_path, "images/a.png", "ann.json", "file_name") == (tmp_path / "images" / "a.png").resolve()
    for bad in ("../outside.png", "/etc/passwd", "images/../../x.png", ""):
        with pytest.raises(DataFormatError, match="file_name"):
            io.safe_join(tmp_path, bad, "ann.json", "file_name")


def test_list_images_filters_by_extension(tmp_path):
    for name in ("b.PNG", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in io.list_images(tmp_path)] == ["a.jpg", "b.PNG"]
    with pytest.raises(DataFormatError):
        io.list_images(tmp_path / "nope")


def test_atomic_write_uses_the_umask_mode(tmp_path):
    path = io.atomic_write_text(tmp_path / "r.html", "<p>x</p>")
    assert (path.stat().st_mode & 0o777) == (0o666 & ~io._UMASK)
