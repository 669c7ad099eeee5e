"""AI4VA loader: fixture files written in the real COCO/CVAT format, every error case, masks, statistics."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from comicdepth_tf.data.formats import ai4va
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import read_depth_png16, read_mask, write_depth_png16, write_image

PAGE_A = (40, 30)  # width, height
PAGE_B = (50, 40)


def _rle_mask() -> np.ndarray:
    mask = np.zeros((PAGE_B[1], PAGE_B[0]), dtype=np.uint8)
    mask[5:15, 20:32] = 1  # 120 px
    mask[20:24, 3:6] = 1  # 12 px
    return mask


def _compressed_rle() -> dict:
    rle = mask_utils.encode(np.asfortranarray(_rle_mask()))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _uncompressed_rle() -> dict:
    """Column-major run lengths of a 4x6 block at rows 30..33, columns 40..45 of page B."""
    mask = np.zeros((PAGE_B[1], PAGE_B[0]), dtype=np.uint8)
    mask[30:34, 40:46] = 1
    flat = mask.flatten(order="F")
    runs, current, n = [], 0, 0
    for v in flat:
        if v != current:
            runs.append(n)
            current, n = v, 0
        n += 1
    runs.append(n)
    return {"size": [PAGE_B[1], PAGE_B[0]], "counts": runs}


def _good_data() -> dict:
    def ann(i, image_id, cat, segm, bbox, inter, intra, area=None):
        rec = {
            "id": i,
            "image_id": image_id,
            "category_id": cat,
            "segmentation": segm,
            "area": float(area if area is not None else bbox[2] * bbox[3]),
            "bbox": bbox,
            "iscrowd": 1 if isinstance(segm, dict) else 0,
            "attributes": {"occluded": False, "Interdepth": inter, "Intradepth": intra},
        }
        return rec

    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "description": ""},
        "categories": [
            {"id": 1, "name": "Character", "supercategory": ""},
            {"id": 2, "name": "Object", "supercategory": ""},
        ],
        "images": [
            {"id": 1, "width": PAGE_A[0], "height": PAGE_A[1], "file_name": "Vaillant_0616_1957-01.png"},
            {"id": 2, "width": PAGE_B[0], "height": PAGE_B[1], "file_name": "Vaillant_0616_1957-02.png"},
        ],
        "annotations": [
            ann(1, 1, 1, [[5, 5, 25, 5, 25, 15, 5, 15]], [5, 5, 20, 10], 0, 0),
            ann(2, 1, 2, [[0, 0, 20, 0, 0, 20]], [0, 0, 20, 20], 1, 2, area=200),
            ann(3, 2, 1, _compressed_rle(), [3, 5, 29, 19], 1, 0, area=132),
            ann(4, 2, 2, _uncompressed_rle(), [40, 30, 6, 4], 0, 1),
            ann(5, 2, 1, [], [10, 10, 5, 4], 2, 0),
        ],
    }


def _write(root: Path, data: dict | None = None, split: str = "train", name: str | None = None) -> tuple[Path, Path]:
    """Write pages and the annotation JSON in the AI4VA layout; returns (json, images_dir)."""
    data = _good_data() if data is None else data
    images_dir = root / "images" / split
    sizes = {"Vaillant_0616_1957-01.png": PAGE_A, "Vaillant_0616_1957-02.png": PAGE_B}
    for file_name, (w, h) in sizes.items():
        if not (images_dir / file_name).exists():
            write_image(images_dir / file_name, np.full((h, w, 3), 200, np.uint8))
    json_path = root / "annotations" / (name or f"{split}-annotations.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data))
    return json_path, images_dir


def _load(json_path, images_dir, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ai4va.load_ai4va(json_path, images_dir, **kw)


@pytest.fixture
def good(tmp_path):
    return _write(tmp_path)


# --------------------------------------------------------------------------- good file


def test_good_file_records(good):
    json_path, images_dir = good
    with pytest.warns(UserWarning, match="1 annotation issue"):
        ds = ai4va.load_ai4va(json_path, images_dir)
    assert [p.image_id for p in ds.pages] == [1, 2]
    assert ds.pages[0].path == (images_dir / "Vaillant_0616_1957-01.png").resolve()
    assert (ds.pages[1].width, ds.pages[1].height) == PAGE_B
    assert [s.annotation_id for s in ds.segments] == [1, 2, 3, 4, 5]
    s2 = ds.segments[1]
    assert (s2.category, s2.interdepth, s2.intradepth, s2.bbox) == ("Object", 1, 2, (0.0, 0.0, 20.0, 20.0))
    assert ds.categories == {1: "Character", 2: "Object"}
    # the only issue: the empty segmentation, noted with file, index and id
    assert len(ds.issues) == 1
    assert "train-annotations.json" in ds.issues[0] and "annotations[4]" in ds.issues[0] and "id 5" in ds.issues[0]
    assert [s.annotation_id for s in ai4va.page_segments(ds, 2)] == [3, 4, 5]
    assert ds.coco.getAnnIds(imgIds=[1]) == [1, 2]
    with pytest.raises(KeyError, match="image_id 9"):
        ai4va.page_segments(ds, 9)


def test_polygon_mask_area_matches_polygon_area(good):
    ds = _load(*good)
    rect = ai4va.segment_mask(ds, ds.segments[0])
    assert rect.shape == (PAGE_A[1], PAGE_A[0]) and rect.dtype == bool
    assert rect.sum() == 20 * 10  # shoelace area of the 20x10 rectangle
    assert rect[5:15, 5:25].all()
    tri = ai4va.segment_mask(ds, ds.segments[1])
    # right triangle with legs 20: shoelace area 200; rasterisation within a few boundary pixels
    assert abs(int(tri.sum()) - 200) <= 15
    assert tri[2, 2] and not tri[18, 18]


def test_rle_masks_decode_exactly(good):
    ds = _load(*good)
    np.testing.assert_array_equal(ai4va.segment_mask(ds, ds.segments[2]), _rle_mask().astype(bool))
    block = ai4va.segment_mask(ds, ds.segments[3])
    assert block.sum() == 24 and block[30:34, 40:46].all()


def test_empty_segmentation_falls_back_to_bbox(good):
    ds = _load(*good)
    mask = ai4va.segment_mask(ds, ds.segments[4])
    assert mask.sum() == 5 * 4 and mask[10:14, 10:15].all()


def test_missing_area_is_computed_from_the_mask(tmp_path):
    data = _good_data()
    del data["annotations"][0]["area"]
    del data["annotations"][0]["iscrowd"]
    ds = _load(*_write(tmp_path, data))
    assert ds.segments[0].area == 200.0 and ds.segments[0].iscrowd == 0


def test_level_statistics_hand_checked(good):
    stats = ai4va.level_statistics(_load(*good))
    assert stats == {
        "pages": 2,
        "segments": 5,
        "per_category": {"Character": 3, "Object": 2},
        "interdepth": {0: 2, 1: 2, 2: 1},
        "intradepth": {0: 3, 1: 1, 2: 1},
        "missing_interdepth": 0,
        "missing_intradepth": 0,
    }


def test_depth_levels_as_text_or_integral_float_are_integers(tmp_path):
    data = _good_data()
    data["annotations"][0]["attributes"].update(Interdepth="3", Intradepth=4.0)
    ds = _load(*_write(tmp_path, data))
    assert (ds.segments[0].interdepth, ds.segments[0].intradepth) == (3, 4)


@pytest.mark.parametrize("name, value", [("Interdepth", 1e30), ("Interdepth", 10**40), ("Intradepth", "1" + "0" * 40),
                                         ("Intradepth", ai4va.MAX_DEPTH_LEVEL + 1)],
                         ids=["float 1e30", "int 10**40", "digit string", "just above the bound"])
def test_implausible_depth_levels_name_file_annotation_and_field(tmp_path, name, value):
    data = _good_data()
    data["annotations"][1]["attributes"][name] = value
    with pytest.raises(DataFormatError) as err:
        _load(*_write(tmp_path, data))
    assert err.value.path.endswith("train-annotations.json")
    assert err.value.field == f"annotations[1].attributes.{name}"
    assert "annotation id 2" in str(err.value) and f"[0, {ai4va.MAX_DEPTH_LEVEL}]" in str(err.value)


def test_the_largest_plausible_level_is_kept(tmp_path):
    data = _good_data()
    data["annotations"][1]["attributes"].update(
        Interdepth=ai4va.MAX_DEPTH_LEVEL, Intradepth=float(ai4va.MAX_DEPTH_LEVEL)
    )
    ds = _load(*_write(tmp_path, data))
    assert (ds.segments[1].interdepth, ds.segments[1].intradepth) == (ai4va.MAX_DEPTH_LEVEL,) * 2


def test_extras_and_samples(tmp_path):
    json_path, images_dir = _write(tmp_path)
    depth = np.full((PAGE_A[1], PAGE_A[0]), 2.5, np.float32)
    write_depth_png16(tmp_path / "depth" / "train" / "Vaillant_0616_1957-01.png", depth)
    text = np.zeros((PAGE_A[1], PAGE_A[0]), np.uint8)
    text[2:6, 2:9] = 255
    write_image(tmp_path / "text_masks" / "train" / "Vaillant_0616_1957-01.png", text)
    ds = _load(json_path, images_dir)
    samples = ai4va.to_samples(ds)
    assert [s["name"] for s in samples] == ["Vaillant_0616_1957-01", "Vaillant_0616_1957-02"]
    first, second = samples
    assert first["depth_codec"] == "png16_mm" and first["image_id"] == 1
    np.testing.assert_allclose(read_depth_png16(first["depth"]), depth)
    assert read_mask(first["text_mask"]).sum() == 4 * 7
    assert set(second) == {"name", "image", "image_id"}  # no extras for page 2


def test_extras_size_mismatch_is_an_error(tmp_path):
    json_path, images_dir = _write(tmp_path)
    bad = tmp_path / "depth" / "train" / "Vaillant_0616_1957-01.png"
    write_depth_png16(bad, np.ones((10, 10), np.float32))
    with pytest.raises(DataFormatError) as err:
        _load(json_path, images_dir)
    assert str(bad) in str(err.value) and "size" in str(err.value)


def test_test_segments_file_without_depth(tmp_path):
    data = _good_data()
    for a in data["annotations"]:
        a["attributes"] = {"occluded": False}
    json_path, images_dir = _write(tmp_path, data, split="test", name=ai4va.TEST_SEGMENTS_FILE)
    ds = _load(json_path, images_dir, require_depth=False)
    assert all(s.interdepth is None and s.intradepth is None for s in ds.segments)
    assert len(ds.issues) == 1  # only the empty segmentation
    stats = ai4va.level_statistics(ds)
    assert stats["missing_interdepth"] == 5 and stats["interdepth"] == {}


def test_find_ai4va_standard_layout(tmp_path):
    _write(tmp_path, split="train")
    _write(tmp_path, split="val")
    _write(tmp_path, split="test", name=ai4va.TEST_SEGMENTS_FILE)
    found = ai4va.find_ai4va(tmp_path)
    assert set(found) == {"train", "val", "test"}
    assert found["test"] == (tmp_path / "annotations" / ai4va.TEST_SEGMENTS_FILE, tmp_path / "images" / "test")
    assert found["val"][1] == tmp_path / "images" / "val"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = ai4va.load_ai4va_splits(tmp_path)
    assert [len(splits[s].segments) for s in ("train", "val", "test")] == [5, 5, 5]


def test_find_ai4va_images_directly_in_images(tmp_path):
    json_path, _ = _write(tmp_path, split="train")
    flat = tmp_path / "flat"
    (flat / "annotations").mkdir(parents=True)
    (flat / "images").mkdir()
    json_path.rename(flat / "annotations" / "train-annotations.json")
    found = ai4va.find_ai4va(flat)
    assert found == {"train": (flat / "annotations" / "train-annotations.json", flat / "images")}


def test_find_ai4va_without_annotations_names_the_folder(tmp_path):
    with pytest.raises(DataFormatError, match="annotations"):
        ai4va.find_ai4va(tmp_path)


# --------------------------------------------------------------------------- missing depth policy


def _without_depth(data: dict) -> dict:
    del data["annotations"][1]["attributes"]["Interdepth"]  # id 2: missing
    data["annotations"][3]["attributes"]["Intradepth"] = None  # id 4: null
    data["annotations"][4]["attributes"]["Interdepth"] = ""  # id 5: unset CVAT text attribute
    return data


def test_missing_depth_report(tmp_path):
    json_path, images_dir = _write(tmp_path, _without_depth(_good_data()))
    with pytest.warns(UserWarning, match="4 annotation issue"):
        ds = ai4va.load_ai4va(json_path, images_dir)
    assert len(ds.segments) == 5
    assert ds.segments[1].interdepth is None and ds.segments[1].intradepth == 2
    assert ds.segments[3].intradepth is None
    depth_issues = [i for i in ds.issues if "missing or null" in i]
    assert len(depth_issues) == 3
    assert (
        "id 2" in depth_issues[0] and "attributes.Interdepth" in depth_issues[0] and "kept with None" in depth_issues[0]
    )
    assert "id 4" in depth_issues[1] and "attributes.Intradepth" in depth_issues[1]
    assert "id 5" in depth_issues[2] and ds.segments[4].interdepth is None
    assert ai4va.level_statistics(ds)["missing_interdepth"] == 2


def test_missing_depth_drop(tmp_path):
    ds = _load(*_write(tmp_path, _without_depth(_good_data())), on_missing_depth="drop")
    assert [s.annotation_id for s in ds.segments] == [1, 3]
    assert sorted(ds.coco.anns) == [1, 3]
    assert sum("dropped" in i for i in ds.issues) == 3


def test_missing_depth_error(tmp_path):
    json_path, images_dir = _write(tmp_path, _without_depth(_good_data()))
    with pytest.raises(DataFormatError) as err:
        ai4va.load_ai4va(json_path, images_dir, on_missing_depth="error")
    msg = str(err.value)
    assert (
        "train-annotations.json" in msg and "annotations[1].attributes.Interdepth" in msg and "annotation id 2" in msg
    )


def test_unknown_policy_is_a_parameter_error(good):
    with pytest.raises(ParameterError, match="on_missing_depth"):
        ai4va.load_ai4va(*good, on_missing_depth="ignore")


# --------------------------------------------------------------------------- error cases


def _set(path: str, value):
    """Mutation setting ``data[a][i][b]... = value`` (``path`` like ``annotations.0.bbox``)."""

    def mutate(data):
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = data
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value

    return mutate


def _delete(path: str):
    def mutate(data):
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = data
        for k in keys[:-1]:
            target = target[k]
        del target[keys[-1]]

    return mutate


def _append_copy(section: str, index: int):
    def mutate(data):
        data[section].append(json.loads(json.dumps(data[section][index])))

    return mutate


ERROR_CASES = [
    ("missing top-level key", _delete("annotations"), "annotations"),
    ("top-level key of wrong type", _set("images", {}), "images"),
    ("missing image key", _delete("images.1.file_name"), "images[1].file_name"),
    ("missing image width", _delete("images.0.width"), "images[0].width"),
    ("non-integer image id", _set("images.0.id", "1"), "images[0].id"),
    ("missing annotation key", _delete("annotations.2.bbox"), "annotations[2].bbox"),
    ("missing segmentation", _delete("annotations.0.segmentation"), "annotations[0].segmentation"),
    ("missing category name", _delete("categories.1.name"), "categories[1].name"),
    ("annotation on missing image", _set("annotations.0.image_id", 99), "annotations[0].image_id"),
    ("unknown category", _set("annotations.1.category_id", 7), "annotations[1].category_id"),
    ("duplicate image id", _set("images.1.id", 1), "images[1].id"),
    ("duplicate annotation id", _set("annotations.3.id", 1), "annotations[3].id"),
    ("duplicate category id", _set("categories.1.id", 1), "categories[1].id"),
    ("file_name with ..", _set("images.0.file_name", "../escape.png"), "images[0].file_name"),
    ("absolute file_name", _set("images.0.file_name", "/etc/hostname"), "images[0].file_name"),
    ("missing image file", _set("images.1.file_name", "nope.png"), "images[1].file_name"),
    ("width mismatch", _set("images.0.width", 41), "images[0].width"),
    ("height mismatch", _set("images.1.height", 39), "images[1].height"),
    ("empty polygon", _set("annotations.0.segmentation", [[]]), "annotations[0].segmentation[0]"),
    ("two-point polygon", _set("annotations.0.segmentation", [[1, 1, 5, 5]]), "annotations[0].segmentation[0]"),
    ("odd coordinate count", _set("annotations.0.segmentation", [[1, 1, 5, 5, 9]]), "annotations[0].segmentation[0]"),
    (
        "non-numeric coordinate",
        _set("annotations.0.segmentation", [[1, 1, "a", 5, 9, 9]]),
        "annotations[0].segmentation[0]",
    ),
    (
        "polygon beyond width",
        _set("annotations.0.segmentation", [[5, 5, 41.5, 5, 25, 15]]),
        "annotations[0].segmentation[0]",
    ),
    (
        "polygon above the page",
        _set("annotations.1.segmentation", [[0, -2, 20, 0, 0, 20]]),
        "annotations[1].segmentation[0]",
    ),
    ("flat polygon list", _set("annotations.0.segmentation", [5, 5, 25, 5, 25, 15]), "annotations[0].segmentation[0]"),
    ("segmentation of wrong type", _set("annotations.0.segmentation", "polygon"), "annotations[0].segmentation"),
    ("RLE without counts", _delete("annotations.2.segmentation.counts"), "annotations[2].segmentation.counts"),
    ("RLE of wrong size", _set("annotations.2.segmentation.size", [30, 40]), "annotations[2].segmentation.size"),
    (
        "RLE runs not covering page",
        _set("annotations.3.segmentation.counts", [10, 5]),
        "annotations[3].segmentation.counts",
    ),
    ("corrupt RLE string", _set("annotations.2.segmentation.counts", "~~~~"), "annotations[2].segmentation.counts"),
    ("bbox of 3 numbers", _set("annotations.0.bbox", [1, 2, 3]), "annotations[0].bbox"),
    ("bbox outside page", _set("annotations.0.bbox", [30, 5, 20, 10]), "annotations[0].bbox"),
    ("negative depth", _set("annotations.0.attributes.Interdepth", -1), "annotations[0].attributes.Interdepth"),
    ("fractional depth", _set("annotations.1.attributes.Intradepth", 1.5), "annotations[1].attributes.Intradepth"),
    ("text depth", _set("annotations.1.attributes.Intradepth", "far"), "annotations[1].attributes.Intradepth"),
    ("boolean depth", _set("annotations.1.attributes.Interdepth", True), "annotations[1].attributes.Interdepth"),
    ("attributes not an object", _set("annotations.1.attributes", [1, 2]), "annotations[1].attributes"),
    ("iscrowd of 2", _set("annotations.0.iscrowd", 2), "annotations[0].iscrowd"),
    ("negative area", _set("annotations.0.area", -3), "annotations[0].area"),
    ("annotation not an object", _set("annotations.4", 5), "annotations[4]"),
    ("NUL byte in file_name", _set("images.0.file_name", "Vaillant\x00.png"), "images[0].file_name"),
    ("two images with one file_name", _set("images.1.file_name", "Vaillant_0616_1957-01.png"), "images[1].file_name"),
    ("area larger than the page", _set("annotations.0.area", 1e6), "annotations[0].area"),
    (
        "5000-digit level string",
        _set("annotations.0.attributes.Interdepth", "1" * 5000),
        "annotations[0].attributes.Interdepth",
    ),
]


@pytest.mark.parametrize("mutate, field", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_bad_input_names_file_and_field(tmp_path, mutate, field):
    data = _good_data()
    mutate(data)
    json_path, images_dir = _write(tmp_path, data)
    with pytest.raises(DataFormatError) as err:
        _load(json_path, images_dir)
    msg = str(err.value)
    assert "train-annotations.json" in msg, msg
    assert err.value.field.startswith(field) and f"field '{err.value.field}'" in msg, msg


def test_polygon_within_one_pixel_tolerance_is_accepted(tmp_path):
    data = _good_data()
    data["annotations"][0]["segmentation"] = [[5, -0.5, 40.8, 5, 25, 30.5]]
    ds = _load(*_write(tmp_path, data))
    assert ai4va.segment_mask(ds, ds.segments[0]).any()


def test_malformed_json_names_file_and_position(tmp_path):
    json_path, images_dir = _write(tmp_path)
    json_path.write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(DataFormatError) as err:
        ai4va.load_ai4va(json_path, images_dir)
    assert "train-annotations.json" in str(err.value) and "line 2" in str(err.value)


def test_missing_images_folder(tmp_path):
    json_path, _ = _write(tmp_path)
    with pytest.raises(DataFormatError, match="folder of page images"):
        ai4va.load_ai4va(json_path, tmp_path / "nowhere")


def test_size_check_can_be_disabled(tmp_path):
    data = _good_data()
    data["images"][0]["width"] = 41
    ds = _load(*_write(tmp_path, data), validate_images=False)
    assert ds.pages[0].width == 41


# --------------------------------------------------------------------------- embedded dataset


@pytest.fixture
def smoke(request):
    """The ``smoke_data`` fixture, skipped while the synthetic generator is not importable."""
    return request.getfixturevalue("smoke_data")


def test_embedded_smoke_dataset_loads_without_issues(smoke):
    from comicdepth_tf.data.formats import ordering

    smoke_data = smoke

    found = ai4va.find_ai4va(smoke_data / "ai4va")
    assert set(found) == {"train", "val", "test"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no issue warning either
        splits = ai4va.load_ai4va_splits(smoke_data / "ai4va", on_missing_depth="error")
    for split, ds in splits.items():
        assert ds.issues == [], (split, ds.issues[:3])
        assert ds.pages and ds.segments
        samples = ai4va.to_samples(ds)
        assert all("depth" in s and "text_mask" in s for s in samples), split
    for split in ("train", "val"):
        stats = ai4va.level_statistics(splits[split])
        assert stats["missing_interdepth"] == 0 and stats["missing_intradepth"] == 0
    for split in ("train", "val", "test"):
        panels = ordering.load_ordering_set(smoke_data / "panels" / split)
        assert panels and sum(len(p.points) for p in panels) > 0, split


def test_non_utf8_annotation_file_names_file_and_byte(tmp_path):
    json_path, images_dir = _write(tmp_path)
    json_path.write_bytes(json_path.read_bytes().replace(b'"Character"', b'"Personnage \xe9"'))
    with pytest.raises(DataFormatError) as err:
        _load(json_path, images_dir)
    assert err.value.path == str(json_path) and err.value.field.startswith("byte ") and "UTF-8" in str(err.value)


def test_a_depth_file_linking_out_of_the_dataset_is_refused(tmp_path):
    json_path, images_dir = _write(tmp_path / "ai4va")
    outside = write_depth_png16(tmp_path / "elsewhere" / "secret.png", np.ones((PAGE_A[1], PAGE_A[0]), np.float32))
    link = tmp_path / "ai4va" / "depth" / "train" / "Vaillant_0616_1957-01.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(DataFormatError) as err:
        _load(json_path, images_dir)
    assert err.value.path == str(link) and err.value.field == "symlink" and str(outside) in str(err.value)


def test_a_page_size_beyond_the_pixel_limit_is_refused_even_without_image_checks(tmp_path, monkeypatch):
    data = _good_data()
    data["images"][1].update(width=100_000, height=100_000)  # masks are allocated at this size
    json_path, images_dir = _write(tmp_path, data)
    monkeypatch.setenv("COMICDEPTH_MAX_PIXELS", "1000000")
    with pytest.raises(DataFormatError) as err:
        _load(json_path, images_dir, validate_images=False)
    assert err.value.field == "images[1].width" and "at most 1000000 pixels" in str(err.value)
