"""Plain image folders: listing, lazy sizes, conversions to RGB uint8, broken files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from comicdepth_tf.data.formats import coco_images
from comicdepth_tf.errors import DataFormatError


@pytest.fixture
def folder(tmp_path):
    """A COCO-like folder with one image per storage variant, written by OpenCV as real files."""
    gray = np.full((12, 16), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "000000000139.jpg"), cv2.merge([gray, gray, gray]))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    bgra = np.zeros((10, 8, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[:, :4, 3] = 255  # left half opaque, right half transparent
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    deep = np.full((6, 9, 3), 257 * 100, np.uint16)
    deep[0, 0] = 65535
    cv2.imwrite(str(tmp_path / "deep16.png"), deep)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_listing_names_and_lazy_sizes(folder):
    records = coco_images.load_image_folder(folder)
    assert [r.name for r in records] == ["000000000139", "deep16", "gray", "rgba"]
    assert all(r._size is None for r in records)  # nothing read while listing
    assert [(r.width, r.height) for r in records] == [(16, 12), (9, 6), (16, 12), (8, 10)]
    assert coco_images.to_samples(records[:1]) == [{"name": "000000000139", "image": str(folder / "000000000139.jpg")}]


def test_conversions_to_rgb_uint8(folder):
    by_name = {r.name: r for r in coco_images.load_image_folder(folder)}
    gray = by_name["gray"].read()
    assert gray.shape == (12, 16, 3) and gray.dtype == np.uint8 and (gray == 90).all()
    rgba = by_name["rgba"].read()
    assert rgba.shape == (10, 8, 3)
    np.testing.assert_array_equal(rgba[0, 0], [200, 0, 0])  # opaque red, RGB order
    np.testing.assert_array_equal(rgba[0, 7], [255, 255, 255])  # transparent -> white page
    deep = by_name["deep16"].read()
    assert deep.dtype == np.uint8 and deep[0, 0].tolist() == [255, 255, 255] and deep[3, 3].tolist() == [100, 100, 100]


def test_truncated_file_is_an_error(folder):
    data = (folder / "gray.png").read_bytes()
    (folder / "gray.png").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    by_name = {r.name: r for r in coco_images.load_image_folder(folder)}
    with pytest.raises(DataFormatError) as err:
        by_name["gray"].read()
    assert "gray.png" in str(err.value)
    with pytest.raises(DataFormatError) as err:
        by_name["empty"].size
    assert "empty.jpg" in str(err.value)


def test_recursive_listing_and_stem_clashes(tmp_path):
    img = np.zeros((4, 5, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "b.png"), img)
    assert [r.name for r in coco_images.load_image_folder(tmp_path)] == ["a.jpg", "a.png"]
    names = [r.name for r in coco_images.load_image_folder(tmp_path, recursive=True)]
    assert names == ["a.jpg", "a.png", "sub/b"]


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "readme.txt").write_text("x")
    with pytest.raises(DataFormatError) as err:
        coco_images.load_image_folder(tmp_path / "only_text")
    assert "only_text" in str(err.value) and "at least one image" in str(err.value)
    with pytest.raises(DataFormatError, match="existing folder"):
        coco_images.load_image_folder(tmp_path / "absent")


def test_image_size_reads_header_of_large_page(tmp_path):
    page = np.zeros((1280, 845, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "page.jpg"), page)
    assert coco_images.image_size(tmp_path / "page.jpg") == (845, 1280)
    with pytest.raises(DataFormatError, match="existing image"):
        coco_images.image_size(tmp_path / "missing.png")


def test_real_comics_page_size(real_dir):
    assert coco_images.image_size(real_dir / "comics" / "006013.jpg") == (845, 1280)


def test_embedded_natural_images(request):
    root = request.getfixturevalue("smoke_data")
    records = coco_images.load_image_folder(root / "natural" / "images")
    assert records and all(r.read().shape == (r.height, r.width, 3) for r in records[:3])
