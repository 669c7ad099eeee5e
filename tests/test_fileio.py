"""Image reading conversions, atomic writes and path safety of comicdepth_tf.fileio."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hostile_files import write_png_bomb

from comicdepth_tf import fileio
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

    g = fileio.read_image(tmp_path / "g.png")
    assert g.shape == (4, 5, 3) and g.dtype == np.uint8 and (g == 200).all()
    a = fileio.read_image(tmp_path / "a.png")
    assert tuple(a[0, 0]) == (255, 0, 0)  # RGB order
    assert tuple(a[1, 1]) == (255, 255, 255)  # transparent composited over white paper
    w = fileio.read_image(tmp_path / "w.png")
    assert w.dtype == np.uint8 and (w == 255).all()


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(DataFormatError, match="missing.png"):
        fileio.read_image(tmp_path / "missing.png")
    good = tmp_path / "t.jpg"
    fileio.write_image(good, np.zeros((64, 64, 3), np.uint8))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataFormatError, match="truncated.jpg"):
        fileio.read_image(truncated)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty.png"):
        fileio.read_image(empty)


def _no_decode(*_args, **_kwargs):
    raise AssertionError("the file was decoded")


@pytest.mark.parametrize("side", [20000, 8000], ids=["beyond Pillow's own limit", "between ours and Pillow's"])
def test_images_declaring_too_many_pixels_are_refused_before_decoding(tmp_path, monkeypatch, side):
    bomb = write_png_bomb(tmp_path / "bomb.png", side, side)
    monkeypatch.delenv(fileio.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(fileio.cv2, "imdecode", _no_decode)
    monkeypatch.setattr(fileio.np, "fromfile", _no_decode)
    for read in (fileio.read_image, fileio.read_raw, fileio.read_mask):
        with pytest.raises(DataFormatError) as err:
            read(bomb)
        assert err.value.path == str(bomb) and err.value.field == "pixels"
        assert f"at most {fileio.MAX_PIXELS} pixels" in str(err.value) and f"{side * side} pixels" in str(err.value)


def test_pixel_limit_follows_the_environment(tmp_path, monkeypatch):
    fileio.write_image(tmp_path / "page.png", np.zeros((10, 20, 3), np.uint8))
    monkeypatch.setenv(fileio.MAX_PIXELS_ENV, "200")
    assert fileio.read_image(tmp_path / "page.png").shape == (10, 20, 3)
    monkeypatch.setenv(fileio.MAX_PIXELS_ENV, "199")
    with pytest.raises(DataFormatError, match=r"page.png: field 'pixels': expected an image of at most 199 pixels"):
        fileio.read_image(tmp_path / "page.png")
    monkeypatch.setenv(fileio.MAX_PIXELS_ENV, "lots")
    with pytest.raises(ParameterError, match=fileio.MAX_PIXELS_ENV):
        fileio.read_image(tmp_path / "page.png")


def test_depth_png16_round_trip_in_millimetres(tmp_path):
    depth = np.array([[0.0, 1.2344], [9.999, np.nan]], np.float32)
    path = fileio.write_depth_png16(tmp_path / "d.png", depth)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    assert raw.tolist() == [[0, 1234], [9999, 0]]
    back = fileio.read_depth_png16(path)
    np.testing.assert_allclose(back, [[0.0, 1.234], [9.999, 0.0]], atol=1e-6)


def test_read_depth_png16_rejects_8bit(tmp_path):
    cv2.imwrite(str(tmp_path / "d8.png"), np.zeros((3, 3), np.uint8))
    with pytest.raises(DataFormatError, match="16-bit"):
        fileio.read_depth_png16(tmp_path / "d8.png")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    fileio.atomic_write_json(tmp_path / "sub" / "x.json", {"a": np.float32(1.5), "b": np.arange(2)})
    assert fileio.read_json(tmp_path / "sub" / "x.json") == {"a": 1.5, "b": [0, 1]}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.json"]


def test_read_json_reports_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(DataFormatError, match=r"bad.json.*line 2"):
        fileio.read_json(bad)


def test_safe_join_rejects_escaping_paths(tmp_path):
    (tmp_path / "images").mkdir()
    joined = fileio.safe_join(tmp_path, "images/a.png", "ann.json", "file_name")
    assert joined == (tmp_path / "images" / "a.png").resolve()
    for bad in ("../outside.png", "/etc/passwd", "images/../../x.png", ""):
        with pytest.raises(DataFormatError, match="file_name"):
            fileio.safe_join(tmp_path, bad, "ann.json", "file_name")


def test_list_images_filters_by_extension(tmp_path):
    for name in ("b.PNG", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in fileio.list_images(tmp_path)] == ["a.jpg", "b.PNG"]
    with pytest.raises(DataFormatError):
        fileio.list_images(tmp_path / "nope")


def test_atomic_write_uses_the_umask_mode(tmp_path):
    path = fileio.atomic_write_text(tmp_path / "r.html", "<p>x</p>")
    assert (path.stat().st_mode & 0o777) == (0o666 & ~fileio._UMASK)


def test_read_json_refuses_non_utf8_bytes_naming_the_byte(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(DataFormatError) as err:
        fileio.read_json(bad)
    assert err.value.path == str(bad) and err.value.field == "byte 13"
    assert "UTF-8" in err.value.expected


def test_read_json_refuses_a_5000_digit_number_naming_its_line(tmp_path):
    bad = tmp_path / "huge.json"
    bad.write_text('{"images": [],\n  "area": ' + "7" * 5000 + "}")
    with pytest.raises(DataFormatError) as err:
        fileio.read_json(bad)
    assert err.value.path == str(bad) and err.value.field == "line 2 column 11"
    assert "at most 4300 digits" in err.value.expected


def test_read_json_refuses_nesting_deeper_than_the_parser(tmp_path):
    bad = tmp_path / "deep.json"
    bad.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataFormatError, match="deep.json: expected JSON nested"):
        fileio.read_json(bad)


def test_safe_join_refuses_a_nul_byte(tmp_path):
    with pytest.raises(DataFormatError) as err:
        fileio.safe_join(tmp_path, "a\x00.png", "ann.json", "images[0].file_name")
    assert (err.value.path, err.value.field) == ("ann.json", "images[0].file_name")
    assert "without NUL" in err.value.expected


def test_check_inside_refuses_a_symlink_leading_out_of_the_dataset(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    (tmp_path / "data" / "inner.png").write_bytes(b"x")
    (tmp_path / "data" / "link.png").symlink_to(tmp_path / "secret.png")
    (tmp_path / "data" / "ok.png").symlink_to(tmp_path / "data" / "inner.png")
    assert fileio.check_inside(tmp_path / "data" / "ok.png", tmp_path / "data") == tmp_path / "data" / "ok.png"
    with pytest.raises(DataFormatError) as err:
        fileio.check_inside(tmp_path / "data" / "link.png", tmp_path / "data")
    assert err.value.path == str(tmp_path / "data" / "link.png") and err.value.field == "symlink"
    assert str(tmp_path / "secret.png") in str(err.value)


def _ihdr_only_png(path, width, height):
    """A PNG of signature and IHDR only: Pillow cannot identify it, but the header declares the size."""
    import struct
    import zlib

    data = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + data + struct.pack(">I", zlib.crc32(b"IHDR" + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    return path


def test_a_header_only_png_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    bomb = _ihdr_only_png(tmp_path / "header.png", 30000, 30000)
    monkeypatch.delenv(fileio.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(fileio.cv2, "imdecode", _no_decode)
    for read in (fileio.read_image, fileio.read_raw, fileio.read_mask):
        with pytest.raises(DataFormatError) as err:
            read(bomb)
        assert err.value.path == str(bomb) and err.value.field == "pixels"
        assert "30000x30000 = 900000000 pixels declared in the header" in str(err.value)


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["write", "chmod", "replace"])
def test_an_interrupted_atomic_write_leaves_no_temporary_file(tmp_path, monkeypatch, where):
    target = tmp_path / "x.json"
    target.write_text("old")
    if where == "write":
        monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: _InterruptingFile(fd))
    else:
        monkeypatch.setattr(fileio.os, where, _interrupt)
    with pytest.raises(KeyboardInterrupt):
        fileio.atomic_write_text(target, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"] and target.read_text() == "old"


class _InterruptingFile:
    """A file object whose write is interrupted half-way (a Ctrl-C while the bytes go out)."""

    def __init__(self, fd):
        self._fh = open(fd, "wb", closefd=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def write(self, data):
        self._fh.write(data[: len(data) // 2])
        raise KeyboardInterrupt


def test_a_header_pillow_cannot_parse_is_named(tmp_path):
    import struct
    import zlib

    short = b"\x00" * 8  # an IHDR of 8 bytes instead of 13: Pillow raises a bare ValueError
    chunk = (
        struct.pack(">I", len(short)) + b"IHDR" + short + struct.pack(">I", zlib.crc32(b"IHDR" + short) & 0xFFFFFFFF)
    )
    bad = tmp_path / "short.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    for read in (fileio.read_image, fileio.image_size):
        with pytest.raises(DataFormatError) as err:
            read(bad)
        assert err.value.path == str(bad) and err.value.field == "header" and "Truncated IHDR" in str(err.value)
