"""NYU Depth v2 Kaggle layout: CSVs of relative paths, 8-bit train depth, 16-bit test depth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from comicdepth_tf.data.formats import nyu, rgbd
from comicdepth_tf.errors import DataFormatError

H, W = 6, 8


def _kaggle(root):
    """A tiny nyu_data/ folder: two train frames (one scene) and one test frame."""
    data = root / "data"
    (data / "nyu2_train" / "living_room_0001_out").mkdir(parents=True)
    (data / "nyu2_test").mkdir(parents=True)
    train_rows = []
    for i in (1, 2):
        rgb = np.full((H, W, 3), 40 * i, np.uint8)
        depth8 = np.full((H, W), 51 * i, np.uint8)  # 2 m and 4 m
        rel = f"data/nyu2_train/living_room_0001_out/{i}"
        cv2.imwrite(str(root / f"{rel}.jpg"), rgb)
        cv2.imwrite(str(root / f"{rel}.png"), depth8)
        train_rows.append(f"{rel}.jpg,{rel}.png")
    cv2.imwrite(str(data / "nyu2_test" / "00000_colors.png"), np.zeros((H, W, 3), np.uint8))
    cv2.imwrite(str(data / "nyu2_test" / "00000_depth.png"), np.full((H, W), 3250, np.uint16))
    (data / "nyu2_train.csv").write_text("\n".join(train_rows) + "\n")
    (data / "nyu2_test.csv").write_text("data/nyu2_test/00000_colors.png,data/nyu2_test/00000_depth.png\n")
    return root


@pytest.fixture
def kaggle(tmp_path):
    return _kaggle(tmp_path / "nyu_data")


def test_train_and_test_csv(kaggle):
    train = nyu.load_nyu_csv(kaggle / "data" / "nyu2_train.csv")
    test = nyu.load_nyu_csv(kaggle / "data" / "nyu2_test.csv")
    assert [r.codec for r in train] == ["nyu_png8_10m"] * 2 and test[0].codec == "png16_mm"
    assert train[1].name == "nyu2_train/living_room_0001_out/2"
    assert train[0].rgb_path == (kaggle / "data/nyu2_train/living_room_0001_out/1.jpg").resolve()
    rgb, depth = rgbd.load_rgbd_pair(train[1])
    assert rgb.shape == (H, W, 3) and depth.shape == (H, W)
    assert float(depth.mean()) == pytest.approx(4.0, abs=1e-5)
    _, depth = rgbd.load_rgbd_pair(test[0])
    assert float(depth.mean()) == pytest.approx(3.25, abs=1e-6)
    samples = nyu.to_samples(test)
    assert samples[0]["depth_codec"] == "png16_mm" and samples[0]["depth"].endswith("00000_depth.png")


def test_find_and_load_nyu(kaggle, tmp_path):
    found = nyu.find_nyu(kaggle)
    assert found == {"train": kaggle / "data" / "nyu2_train.csv", "test": kaggle / "data" / "nyu2_test.csv"}
    assert nyu.find_nyu(kaggle.parent) == found  # the folder holding nyu_data/
    loaded = nyu.load_nyu(kaggle)
    assert len(loaded["train"]) == 2 and len(loaded["test"]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFormatError, match=r"empty.*nyu2_train\.csv"):
        nyu.find_nyu(empty)


def test_codec_by_bit_depth_when_name_says_nothing(kaggle):
    custom = kaggle / "data" / "my_split.csv"
    custom.write_text((kaggle / "data" / "nyu2_test.csv").read_text())
    assert nyu.load_nyu_csv(custom)[0].codec == "png16_mm"
    custom.write_text((kaggle / "data" / "nyu2_train.csv").read_text())
    assert nyu.load_nyu_csv(custom)[0].codec == "nyu_png8_10m"


def test_bit_depth_contradicting_csv_name(kaggle):
    # A "train" CSV listing 16-bit test depth: error at load time, naming line and column.
    (kaggle / "data" / "nyu2_train.csv").write_text((kaggle / "data" / "nyu2_test.csv").read_text())
    with pytest.raises(
        DataFormatError, match=r"nyu2_train\.csv.*line 1 column 2.*8-bit.*nyu_png8_10m.*png16_mm.*16-bit"
    ):
        nyu.load_nyu_csv(kaggle / "data" / "nyu2_train.csv")
    # The override wins and then agrees with the file.
    records = nyu.load_nyu_csv(kaggle / "data" / "nyu2_train.csv", codec="png16_mm")
    assert records[0].codec == "png16_mm"


def test_wrong_column_count_names_line(kaggle):
    csv_path = kaggle / "data" / "nyu2_train.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text(lines[0] + "\n" + lines[1] + ",extra.png\n")
    with pytest.raises(DataFormatError, match=r"nyu2_train\.csv.*line 2.*2 columns.*3 columns"):
        nyu.load_nyu_csv(csv_path)


def test_missing_file_names_line_and_column(kaggle):
    csv_path = kaggle / "data" / "nyu2_train.csv"
    (kaggle / "data/nyu2_train/living_room_0001_out/2.png").unlink()
    with pytest.raises(
        DataFormatError, match=r"nyu2_train\.csv.*line 2 column 2 \(depth\).*existing depth file.*2\.png"
    ):
        nyu.load_nyu_csv(csv_path)
    (kaggle / "data/nyu2_train/living_room_0001_out/1.jpg").unlink()
    with pytest.raises(DataFormatError, match=r"line 1 column 1 \(rgb\).*1\.jpg"):
        nyu.load_nyu_csv(csv_path)


def test_escaping_path_rejected(kaggle):
    outside = kaggle.parent / "outside.png"
    cv2.imwrite(str(outside), np.zeros((H, W), np.uint8))
    csv_path = kaggle / "data" / "nyu2_test.csv"
    csv_path.write_text("data/nyu2_test/00000_colors.png,../outside.png\n")
    with pytest.raises(DataFormatError, match=r"nyu2_test\.csv.*line 1 column 2.*inside the dataset folder"):
        nyu.load_nyu_csv(csv_path)
    csv_path.write_text(f"{outside},data/nyu2_test/00000_depth.png\n")
    with pytest.raises(DataFormatError, match=r"line 1 column 1.*inside the dataset folder"):
        nyu.load_nyu_csv(csv_path)


def test_missing_and_empty_csv(kaggle):
    with pytest.raises(DataFormatError, match=r"nope\.csv.*existing NYU CSV"):
        nyu.load_nyu_csv(kaggle / "data" / "nope.csv")
    empty = kaggle / "data" / "nyu2_test.csv"
    empty.write_text("\n")
    with pytest.raises(DataFormatError, match=r"nyu2_test\.csv.*at least one"):
        nyu.load_nyu_csv(empty)


def test_explicit_root(kaggle, tmp_path):
    moved = tmp_path / "lists" / "nyu2_test.csv"
    moved.parent.mkdir()
    moved.write_text((kaggle / "data" / "nyu2_test.csv").read_text())
    assert nyu.load_nyu_csv(moved, root=kaggle)[0].depth_path.name == "00000_depth.png"


def test_embedded_smoke_nyu(smoke_data):
    loaded = nyu.load_nyu(smoke_data / "nyu")
    assert loaded["train"] and loaded["test"]
    for split, codec in (("train", "nyu_png8_10m"), ("test", "png16_mm")):
        record = loaded[split][0]
        assert record.codec == codec
        rgb, depth = rgbd.load_rgbd_pair(record)
        valid = depth[depth > 0]
        assert valid.size > 0.5 * depth.size
        assert 0.0 < valid.min() and valid.max() <= 10.0 + 1e-3  # the toy world's far plane


def test_a_path_too_long_for_the_file_system_is_named(kaggle):
    csv_path = kaggle / "data" / "nyu2_test.csv"
    csv_path.write_text("data/nyu2_test/00000_colors.png,data/" + "y" * 5000 + ".png\n")
    with pytest.raises(
        DataFormatError, match=r"nyu2_test\.csv: field 'line 1 column 2 \(depth\)': expected a path the"
    ):
        nyu.load_nyu_csv(csv_path)
