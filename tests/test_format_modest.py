"""MODEST museum layout: file_map.txt stems resolved to files, errors naming file_map lines."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from comicdepth_tf.data.formats import modest, rgbd
from comicdepth_tf.errors import DataFormatError

H, W = 6, 8
FOLDERS = ("bg", "fg", "fg_mask", "bg_fg", "bg_fg_mask", "bg_fg_depth_map")


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def _modest(root):
    """Two backgrounds, three composites; mixed extensions as in real dumps (jpg images, png masks)."""
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for b in range(2):
        _write(root / "bg" / f"bg_{b}.jpg", np.full((H, W, 3), (60 + 100 * b, 120, 180), np.uint8))
    rows = []
    for i in range(3):
        b = i % 2
        _write(root / "bg_fg" / f"bg_{b}_fg_{i}.jpg", np.full((H, W, 3), 90, np.uint8))
        mask = np.zeros((H, W), np.uint8)
        mask[2:5, 3:6] = 255
        _write(root / "bg_fg_mask" / f"bg_{b}_fg_{i}_mask.png", mask)
        _write(root / "bg_fg_depth_map" / f"bg_{b}_fg_{i}_depth.png", np.full((H, W), 51 * (i + 1), np.uint8))
        rows.append(f"bg_{b}\tbg_{b}_fg_{i}\tbg_{b}_fg_{i}_mask\tbg_{b}_fg_{i}_depth")
    (root / "file_map.txt").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def museum(tmp_path):
    return _modest(tmp_path / "modest")


def _rewrite_line(root, line_no, text):
    lines = (root / "file_map.txt").read_text().splitlines()
    lines[line_no - 1] = text
    (root / "file_map.txt").write_text("\n".join(lines) + "\n")


def test_load_modest_resolves_extensions(museum):
    records = modest.load_modest(museum)
    assert len(records) == 3
    r = records[2]
    assert r.bg == museum / "bg" / "bg_0.jpg"
    assert r.bg_fg == museum / "bg_fg" / "bg_0_fg_2.jpg"
    assert r.mask == museum / "bg_fg_mask" / "bg_0_fg_2_mask.png"
    assert r.depth == museum / "bg_fg_depth_map" / "bg_0_fg_2_depth.png"
    assert (r.name, r.line) == ("bg_0_fg_2", 3)
    depth = rgbd.decode_depth(r.depth, modest.DEPTH_CODEC)
    assert float(depth.mean()) == pytest.approx(153 / 255 * 10, rel=1e-6)
    assert modest.load_modest(museum, limit=2) == records[:2]


def test_to_samples_keys(museum):
    sample = modest.to_samples(modest.load_modest(museum))[0]
    assert set(sample) == {"bg", "bg_fg", "mask", "depth", "depth_codec", "name"}
    assert sample["depth_codec"] == "modest_png8" and sample["mask"].endswith("bg_0_fg_0_mask.png")


def test_header_and_blank_lines_skipped(museum):
    text = (museum / "file_map.txt").read_text()
    (museum / "file_map.txt").write_text("bg\tbg_fg\tmask\tdepth\n\n" + text)
    records = modest.load_modest(museum)
    assert [r.line for r in records] == [3, 4, 5]


def test_channel_statistics(museum):
    stats = modest.channel_statistics(modest.load_modest(museum), n=10)
    # bg_0 appears twice, bg_1 once: each record's image counts once.
    np.testing.assert_allclose(stats["bg_fg"]["mean"], [90 / 255] * 3, atol=1e-6)
    np.testing.assert_allclose(stats["bg_fg"]["std"], [0, 0, 0], atol=1e-6)
    # cv2 writes BGR: (60|160, 120, 180) in B, G, R order -> RGB = (180, 120, 60|160);
    # JPEG keeps flat colours near-exact.
    red, green, blue = stats["bg"]["mean"]
    assert red == pytest.approx(180 / 255, abs=2 / 255) and green == pytest.approx(120 / 255, abs=2 / 255)
    assert blue == pytest.approx((60 * 2 + 160) / 3 / 255, abs=2 / 255)
    assert stats["bg"]["std"][2] == pytest.approx(np.std([60, 60, 160]) / 255, abs=2 / 255)


def test_wrong_column_count_names_line(museum):
    _rewrite_line(museum, 2, "bg_1\tbg_1_fg_1\tbg_1_fg_1_mask")
    with pytest.raises(DataFormatError, match=r"file_map\.txt.*line 2.*4 non-empty tab-separated"):
        modest.load_modest(museum)


def test_missing_image_names_line_and_column(museum):
    (museum / "bg_fg_depth_map" / "bg_1_fg_1_depth.png").unlink()
    with pytest.raises(DataFormatError, match=r"file_map\.txt.*line 2 column 4 \(depth\).*bg_fg_depth_map"):
        modest.load_modest(museum)
    # The records before the bad line are still available lazily.
    assert next(modest.iter_modest(museum)).line == 1


def test_ambiguous_stem(museum):
    _write(museum / "bg" / "bg_1.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataFormatError, match=r"line 2 column 1 \(bg\).*one image named 'bg_1'.*bg_1\.jpg.*bg_1\.png"):
        modest.load_modest(museum)


def test_escaping_stem_rejected(museum):
    _rewrite_line(museum, 1, "../../outside\tbg_0_fg_0\tbg_0_fg_0_mask\tbg_0_fg_0_depth")
    with pytest.raises(DataFormatError, match=r"line 1 column 1 \(bg\).*inside the dataset folder"):
        modest.load_modest(museum)


def test_missing_folder_and_file_map(museum, tmp_path):
    for path in (museum / "bg_fg_mask").iterdir():
        path.unlink()
    (museum / "bg_fg_mask").rmdir()
    with pytest.raises(DataFormatError, match=r"line 1 column 3 \(mask\).*existing folder .*bg_fg_mask"):
        modest.load_modest(museum)
    with pytest.raises(DataFormatError, match=r"file_map\.txt.*MODEST file_map"):
        modest.load_modest(tmp_path / "nowhere")


def test_embedded_smoke_modest(smoke_data):
    records = modest.load_modest(smoke_data / "modest")
    assert records
    r = records[0]
    image = cv2.imread(str(r.bg_fg))
    depth = rgbd.decode_depth(r.depth, modest.DEPTH_CODEC)
    mask = cv2.imread(str(r.mask), cv2.IMREAD_GRAYSCALE)
    assert image.shape[:2] == depth.shape == mask.shape
    assert 0 < mask.astype(bool).mean() < 1  # a foreground, not the whole picture
    stats = modest.channel_statistics(records, n=4)
    assert all(0 < m < 1 for m in stats["bg_fg"]["mean"])


def test_a_non_utf8_line_is_named(museum):
    path = museum / "file_map.txt"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"bg_1", b"bg_\xff1", 1)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataFormatError) as err:
        modest.load_modest(museum)
    assert (err.value.path, err.value.field, err.value.expected) == (str(path), "line 2", "UTF-8 text")


def test_a_stem_too_long_for_the_file_system_is_named(museum):
    _rewrite_line(museum, 2, "x" * 300 + "\tbg_1_fg_1\tbg_1_fg_1_mask\tbg_1_fg_1_depth")
    with pytest.raises(
        DataFormatError, match=r"file_map\.txt: field 'line 2 column 1 \(bg\)': expected a path the file"
    ):
        modest.load_modest(museum)


def test_a_depth_map_linking_out_of_the_dataset_is_refused(museum, tmp_path):
    depth = museum / "bg_fg_depth_map" / "bg_1_fg_1_depth.png"
    outside = tmp_path / "elsewhere.png"
    depth.rename(outside)
    depth.symlink_to(outside)
    with pytest.raises(DataFormatError) as err:
        modest.load_modest(museum)
    assert err.value.path == str(depth) and err.value.field == "symlink" and str(outside) in str(err.value)
