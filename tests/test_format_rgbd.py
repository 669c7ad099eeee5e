"""Sensor RGB-D depth codecs: the real NYU/SUN/TUM files and hand-made files of every codec."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from comicdepth_tf.data.formats import rgbd
from comicdepth_tf.errors import DataFormatError


def _write_png(path, array):
    assert cv2.imwrite(str(path), array)
    return path


def _write_nyu_pgm(path, raw, header=None):
    height, width = raw.shape
    head = header if header is not None else f"P5\n# kinect\n{width} {height}\n65535\n".encode()
    path.write_bytes(head + raw.astype("<u2").tobytes())
    return path


# ---------------------------------------------------------------- real files (PROVENANCE.md)

# name -> (min or None, median, max, valid fraction)
REFERENCE = {
    "NYU": (1.39, 3.27, 6.69, 0.928),
    "SUN": (None, 2.72, 9.87, 0.82),
    "TUM": (None, 2.42, 9.33, 0.81),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_real_sensor_depth_matches_provenance_statistics(real_dir, name):
    record = {r.name: r for r in rgbd.real_rgbd_records(real_dir)}[name]
    rgb, depth = rgbd.load_rgbd_pair(record)
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    stats = rgbd.depth_statistics(depth)
    low, median, high, valid = REFERENCE[name]
    if low is not None:
        assert stats["min"] == pytest.approx(low, abs=0.02)
    assert stats["median"] == pytest.approx(median, abs=0.02)
    assert stats["max"] == pytest.approx(high, abs=0.02)
    assert stats["valid_fraction"] == pytest.approx(valid, abs=0.005)


def test_real_nyu_pgm_payload_is_little_endian(real_dir):
    # OpenCV honours the PGM standard (big-endian) and gets nonsense; our reader must not.
    path = real_dir / "rgbd" / "NYU_depth.pgm"
    opencv = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    ours = rgbd.decode_depth(path, "nyu_raw_pgm")
    assert opencv.shape == ours.shape
    assert np.median(opencv) > 30000  # byte-swapped disparities near 1000 become large numbers
    assert 3.0 < np.median(ours[ours > 0]) < 3.5


def test_real_intrinsics_column_major(real_dir):
    k = rgbd.load_intrinsics(real_dir / "rgbd" / "camera_primesense.json")
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (525.0, 525.0, 319.5, 239.5, 640, 480)
    np.testing.assert_allclose(k.matrix, [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])


# ---------------------------------------------------------------- hand-made files, one per codec


def test_nyu_raw_pgm_handmade(tmp_path):
    raw = np.array([[1000, 2047, 839], [1092, 1093, 0]], dtype=np.uint16)
    path = _write_nyu_pgm(tmp_path / "d.pgm", raw)
    depth = rgbd.decode_depth(path, "nyu_raw_pgm")
    assert depth.dtype == np.float32 and depth.shape == (2, 3)
    assert depth[0, 0] == pytest.approx(351.3 / 92.5, rel=1e-6)
    assert depth[0, 1] == 0  # 2047 = no return
    assert depth[0, 2] == pytest.approx(351.3 / 253.5, rel=1e-6)
    assert depth[1, 0] == 0  # 702.6 m: absurd, invalid
    assert depth[1, 1] == 0  # past the offset: negative, invalid
    assert depth[1, 2] == pytest.approx(351.3 / 1092.5, rel=1e-6)


def test_nyu_raw_pgm_truncated_and_bad_header(tmp_path):
    raw = np.full((4, 5), 1000, dtype=np.uint16)
    path = _write_nyu_pgm(tmp_path / "d.pgm", raw)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataFormatError, match=r"d\.pgm.*pixels.*truncated"):
        rgbd.decode_depth(path, "nyu_raw_pgm")
    bad = _write_nyu_pgm(tmp_path / "p6.pgm", raw, header=b"P6\n5 4\n65535\n")
    with pytest.raises(DataFormatError, match=r"p6\.pgm.*magic.*P5"):
        rgbd.decode_depth(bad, "nyu_raw_pgm")
    eight = tmp_path / "eight.pgm"
    eight.write_bytes(b"P5\n5 4\n255\n" + bytes(20))
    with pytest.raises(DataFormatError, match=r"eight\.pgm.*maxval.*16-bit"):
        rgbd.decode_depth(eight, "nyu_raw_pgm")
    with pytest.raises(DataFormatError, match=r"missing\.pgm"):
        rgbd.decode_depth(tmp_path / "missing.pgm", "nyu_raw_pgm")


def test_png16_mm_handmade(tmp_path):
    path = _write_png(tmp_path / "d.png", np.array([[0, 1500], [65535, 1]], dtype=np.uint16))
    np.testing.assert_allclose(rgbd.decode_depth(path, "png16_mm"), [[0, 1.5], [65.535, 0.001]], rtol=1e-6)


def test_nyu_png8_10m_handmade(tmp_path):
    path = _write_png(tmp_path / "d.png", np.array([[0, 255], [51, 128]], dtype=np.uint8))
    np.testing.assert_allclose(rgbd.decode_depth(path, "nyu_png8_10m"), [[0, 10], [2, 1280 / 255]], rtol=1e-6)


def test_sun_png_bit_rotation_handmade(tmp_path):
    mm = np.array([[0, 1057], [9870, 65535 >> 3]], dtype=np.uint32)
    stored = ((mm << 3) | (mm >> 13)) & 0xFFFF
    path = _write_png(tmp_path / "d.png", stored.astype(np.uint16))
    np.testing.assert_allclose(rgbd.decode_depth(path, "sun_png"), mm / 1000.0, rtol=1e-6)


def test_tum_png_handmade(tmp_path):
    path = _write_png(tmp_path / "d.png", np.array([[0, 5000], [46655, 12100]], dtype=np.uint16))
    np.testing.assert_allclose(rgbd.decode_depth(path, "tum_png"), [[0, 1], [9.331, 2.42]], rtol=1e-6)


def test_modest_png8_brighter_is_farther(tmp_path):
    gray = np.array([[10, 200]], dtype=np.uint8)
    path = _write_png(tmp_path / "d.png", np.dstack([gray] * 3))  # saved as 3 identical channels
    depth = rgbd.decode_depth(path, "modest_png8")
    np.testing.assert_allclose(depth, gray / 255.0 * 10.0, rtol=1e-6)
    assert depth[0, 1] > depth[0, 0]


def test_bit_depth_contradicting_codec(tmp_path):
    eight = _write_png(tmp_path / "eight.png", np.full((3, 3), 100, np.uint8))
    sixteen = _write_png(tmp_path / "sixteen.png", np.full((3, 3), 1000, np.uint16))
    with pytest.raises(DataFormatError, match=r"eight\.png.*bit depth.*16-bit.*png16_mm.*nyu_png8_10m"):
        rgbd.decode_depth(eight, "png16_mm")
    for codec in ("nyu_png8_10m", "modest_png8"):
        with pytest.raises(DataFormatError, match=rf"sixteen\.png.*8-bit depth image for codec '{codec}'"):
            rgbd.decode_depth(sixteen, codec)


def test_colour_depth_and_unknown_codec_rejected(tmp_path):
    colour = np.zeros((3, 3, 3), np.uint8)
    colour[..., 2] = 255
    path = _write_png(tmp_path / "colour.png", colour)
    with pytest.raises(DataFormatError, match=r"colour\.png.*channels.*single-channel"):
        rgbd.decode_depth(path, "nyu_png8_10m")
    with pytest.raises(DataFormatError, match=r"colour\.png.*codec.*png16_mm"):
        rgbd.decode_depth(path, "kinect_v9")


def test_load_rgbd_pair_size_mismatch_names_both_files(tmp_path):
    rgb = _write_png(tmp_path / "rgb.png", np.zeros((4, 6, 3), np.uint8))
    depth = _write_png(tmp_path / "depth.png", np.full((3, 6), 1000, np.uint16))
    record = rgbd.RGBDRecord(rgb, depth, "png16_mm", "x")
    with pytest.raises(DataFormatError, match=r"depth\.png.*size.*rgb\.png \(6x4\).*6x3"):
        rgbd.load_rgbd_pair(record)


def test_load_rgbd_pair_ok_and_sample(tmp_path):
    rgb = _write_png(tmp_path / "rgb.png", np.zeros((4, 6, 3), np.uint8))
    depth = _write_png(tmp_path / "depth.png", np.full((4, 6), 2500, np.uint16))
    record = rgbd.RGBDRecord(rgb, depth, "png16_mm", "x")
    image, metres = rgbd.load_rgbd_pair(record)
    assert image.shape == (4, 6, 3) and float(metres.mean()) == pytest.approx(2.5)
    assert rgbd.to_samples([record]) == [
        {"image": str(rgb), "depth": str(depth), "depth_codec": "png16_mm", "name": "x"}
    ]


def test_intrinsics_errors(tmp_path):
    bad = tmp_path / "cam.json"
    bad.write_text(json.dumps({"width": 640, "height": 480, "intrinsic_matrix": [525, 0, 0, 0, 525]}))
    with pytest.raises(DataFormatError, match=r"cam\.json.*intrinsic_matrix.*9 numbers"):
        rgbd.load_intrinsics(bad)
    row_major = tmp_path / "row.json"
    row_major.write_text(json.dumps({"intrinsic_matrix": [525, 0, 319.5, 0, 525, 239.5, 0, 0, 1]}))
    with pytest.raises(DataFormatError, match=r"row\.json.*column-major"):
        rgbd.load_intrinsics(row_major)


def test_real_records_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match=r"NYU_color\.ppm.*NYU sensor file"):
        rgbd.real_rgbd_records(tmp_path)
