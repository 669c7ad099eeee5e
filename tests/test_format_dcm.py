"""DCM772 loader: box parsing, panel crops, export with manifest, split files and error cases."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from comicdepth_tf import fileio
from comicdepth_tf.data.formats import dcm
from comicdepth_tf.errors import DataFormatError

W, H = 100, 80

GROUNDTRUTH = """8 0 0 50 40
7 10 10 20 20
8 50 0 100 40
1 5 5 30 35

8 -2 40 101 80
8 0 40 10 45
"""


def write_page(root: Path, name: str, groundtruth: str = GROUNDTRUTH, size=(W, H)) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[..., 0] = np.arange(size[0], dtype=np.uint8)[None, :]  # column index, to check crop offsets
    image[..., 1] = np.arange(size[1], dtype=np.uint8)[:, None]  # row index
    fileio.write_image(root / "images" / f"{name}.png", image)  # lossless, so offsets can be checked
    fileio.atomic_write_text(root / "groundtruth" / f"{name}.txt", groundtruth)
    return image


@pytest.fixture()
def dataset(tmp_path) -> Path:
    root = tmp_path / "dcm_dataset.git"
    write_page(root, "1_1")
    return root


def test_boxes_classes_and_clipping(dataset):
    (page,) = dcm.load_dcm(dataset)
    assert (page.width, page.height) == (W, H)
    assert [b.class_id for b in page.boxes] == [8, 7, 8, 1, 8, 8]
    assert [b.line for b in page.boxes] == [1, 2, 3, 4, 6, 7]  # blank line 5 skipped
    assert [b.xywh for b in page.panels] == [(0, 0, 50, 40), (50, 0, 50, 40), (0, 40, 100, 40), (0, 40, 10, 5)]
    assert [b.clipped for b in page.panels] == [False, False, True, False]
    assert page.clipped == ["line 6: (-2, 40, 101, 80) -> (0, 40, 100, 80)"]


def test_panel_crops_count_sizes_and_pixels(dataset):
    (page,) = dcm.load_dcm(dataset)
    crops = dcm.panel_crops(page, min_size=16)
    assert [c[0] for c in crops] == ["1_1_1", "1_1_2", "1_1_3"]  # the 10x5 sliver (k = 4) is left out
    assert [c[1].shape for c in crops] == [(40, 50, 3), (40, 50, 3), (40, 100, 3)]
    second = crops[1][1]
    assert second[0, 0, 0] == 50 and second[0, 0, 1] == 0  # top-left pixel is column 50, row 0
    assert len(dcm.panel_crops(page, min_size=1)) == 4


def test_samples(dataset, tmp_path):
    dcm.export_panel_crops(dataset, tmp_path / "crops")
    samples = dcm.to_samples(tmp_path / "crops")
    assert [s["name"] for s in samples] == ["1_1_1", "1_1_2", "1_1_3"]
    assert set(samples[0]) == {"image", "name"} and Path(samples[0]["image"]).is_file()
    (whole,) = dcm.page_samples(dcm.load_dcm(dataset))
    assert whole["image"].endswith("1_1.png")
    assert whole["boxes"].shape == (6, 5) and whole["boxes"][4].tolist() == [8, 0, 40, 100, 80]


def test_export_panel_crops(dataset, tmp_path):
    write_page(dataset, "2_5", "8 10 10 60 70\n")
    out = tmp_path / "dcm_cropped"
    names = dcm.export_panel_crops(dataset, out)
    assert names == ["1_1_1", "1_1_2", "1_1_3", "2_5_1"]
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == names
    assert fileio.read_image(out / "images" / "2_5_1.png").shape == (60, 50, 3)
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["name"], r["page"], r["x1"], r["x2"], r["line"], r["clipped"]) for r in rows] == [
        ("1_1_1", "1_1", "0", "50", "1", "0"),
        ("1_1_2", "1_1", "50", "100", "3", "0"),
        ("1_1_3", "1_1", "0", "100", "6", "1"),
        ("2_5_1", "2_5", "10", "60", "1", "0"),
    ]


def test_split_file(dataset):
    write_page(dataset, "2_5", "8 10 10 60 70\n")
    (dataset / "train.txt").write_text("2_5.jpg\n\n")
    assert [p.name for p in dcm.load_dcm(dataset, split="train")] == ["2_5"]
    with pytest.raises(DataFormatError, match="test.txt"):
        dcm.load_dcm(dataset, split="test")


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "groundtruth, line, words",
    [
        ("8 0 0 50 40\n8 0 0 50\n", "line 2", "5 fields"),
        ("8 0 0 50 40 7\n", "line 1", "5 fields"),
        ("8 0 0 5.5 40\n", "line 1", "integer"),
        ("frame 0 0 50 40\n", "line 1", "integer"),
        ("8 0 0 50 40\n\n8 30 0 30 40\n", "line 3", "x2 > x1"),
        ("8 0 40 50 10\n", "line 1", "y2 > y1"),
        ("8 0 0 120 40\n", "line 1", "inside the 100x80 image"),
        ("8 -10 0 50 40\n", "line 1", "inside the 100x80 image"),
        ("8 102 0 104 40\n", "line 1", "overlapping"),
        ("8 0 0 5_0 40\n", "line 1", "integer"),  # int() reads "5_0" as 50
        ("2147483648 0 0 50 40\n", "line 1", "class id in [0, 2147483647]"),  # beyond page_samples' int32
        ("8 0 0 " + "5" * 5000 + " 40\n", "line 1", "integer"),
    ],
)
def test_bad_lines(tmp_path, groundtruth, line, words):
    root = tmp_path / "dcm"
    write_page(root, "p", groundtruth)
    with pytest.raises(DataFormatError) as info:
        dcm.load_dcm(root)
    message = str(info.value)
    assert "p.txt" in message and f"'{line}'" in message and words in message, message


def test_image_without_groundtruth(dataset):
    fileio.write_image(dataset / "images" / "lonely.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataFormatError, match=r"lonely\.jpg.*ground truth"):
        dcm.load_dcm(dataset)


def test_groundtruth_without_image(dataset):
    fileio.atomic_write_text(dataset / "groundtruth" / "orphan.txt", "8 0 0 5 5\n")
    with pytest.raises(DataFormatError, match=r"orphan\.txt.*page image"):
        dcm.load_dcm(dataset)


def test_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match="images"):
        dcm.load_dcm(tmp_path)


def test_tolerance_parameter(tmp_path):
    root = tmp_path / "dcm"
    write_page(root, "p", "8 0 0 103 40\n")
    (page,) = dcm.load_dcm(root, tolerance=5)
    assert page.panels[0].x2 == W
    with pytest.raises(DataFormatError, match="line 1"):
        dcm.load_dcm(root, tolerance=0)


# ----------------------------------------------------------------------------- embedded data


@pytest.fixture()
def embedded(request) -> Path:
    """The smoke dataset, skipped while the generator is not importable."""
    return request.getfixturevalue("smoke_data")


def test_embedded_smoke_dataset(embedded, tmp_path):
    pages = dcm.load_dcm(embedded / "dcm772")
    assert pages and all(page.panels for page in pages)
    names = dcm.export_panel_crops(embedded / "dcm772", tmp_path / "crops", min_size=1)
    assert len(names) == sum(len(page.panels) for page in pages)
