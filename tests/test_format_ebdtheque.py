"""eBDtheque loader: SVG parsing, text masks, panel crops, split export and every error case.

Fixtures are written in the real eBDtheque v3 format (SVG namespace, xlink:href on the page
image, one child <svg class="..."> per class holding polygons with metadata children).
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np
import pytest

from comicdepth_tf import fileio
from comicdepth_tf.data.formats import ebdtheque as ebd
from comicdepth_tf.errors import DataFormatError

W, H = 120, 80

# Rectangles with inclusive corners (cv2.fillPoly fills the border): 10x20, 20x10 and 10x5 pixels.
BALLOON_1 = "10,10 19,10 19,29 10,29"
LINE_IN_BALLOON_1 = "12,12 17,12 17,15 12,15"
BALLOON_2 = "70,40 89,40 89,49 70,49"
CAPTION_LINE = "100, 60   109,60\n\t 109,64 100,64"  # whitespace variations, as hand-edited files have
PANEL_1 = "2,3 58,3 58,77 2,77 2,3"  # closed like the real files (last point repeats the first)
PANEL_2 = "62,3 130,3 130,77 62,77"  # reaches 10 px past the right edge: clipped


def svg_text(name: str, width=W, height=H, panels=(PANEL_1, PANEL_2), extra: str = "", page=True) -> str:
    polys = "\n".join(f'    <polygon points="{p}" id="{name}_panel{i}"/>' for i, p in enumerate(panels, 1))
    page_el = (
        f'  <svg class="Page">\n'
        f'    <image xlink:href="../Pages/{name}.jpg" width="{width}" height="{height}"/>\n'
        f"    <metadata><title>{name}</title></metadata>\n  </svg>\n"
        if page
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
{page_el}  <svg class="Panel">
{polys}
  </svg>
  <svg class="Balloon">
    <polygon points="{BALLOON_1}" id="b1"><metadata><style>smooth</style></metadata></polygon>
    <polygon points="{BALLOON_2}" id="b2"/>
  </svg>
  <svg class="Line">
    <polygon points="{LINE_IN_BALLOON_1}" id="l1"/>
    <polygon points="{CAPTION_LINE}" id="l2"/>
  </svg>
  <svg class="Character">
    <polygon points="30,40 50,40 50,70 30,70" id="c1"/>
  </svg>
  <svg class="linkSBSC"><metadata/></svg>
{extra}</svg>
"""


def write_page(root: Path, name: str, svg: str | None = None, size=(W, H)) -> None:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    image = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    fileio.write_image(root / "Pages" / f"{name}.jpg", image)
    fileio.atomic_write_text(root / "GT" / f"{name}.svg", svg if svg is not None else svg_text(name))


@pytest.fixture()
def dataset(tmp_path) -> Path:
    root = tmp_path / "eBDtheque_database_v3"
    write_page(root, "CYB_TEST_001")
    return root


def test_parses_classes_size_and_points(dataset):
    (page,) = ebd.load_ebdtheque(dataset)
    assert page.name == "CYB_TEST_001"
    assert (page.width, page.height) == (W, H)
    assert [len(page.panels), len(page.balloons), len(page.lines), len(page.characters)] == [2, 2, 2, 1]
    assert page.panels[0].id == "CYB_TEST_001_panel1"
    np.testing.assert_array_equal(page.lines[1].points, [[100, 60], [109, 60], [109, 64], [100, 64]])
    assert "linkSBSC" not in page.polygons  # no polygons there


def test_text_mask_counts_are_exact(dataset):
    (page,) = ebd.load_ebdtheque(dataset)
    mask = ebd.text_mask(page)
    assert mask.shape == (H, W) and mask.dtype == bool
    # balloon 1 (200, the line inside adds nothing) + balloon 2 (200) + caption line (50)
    assert mask.sum() == 200 + 200 + 50
    assert mask[10:30, 10:20].all() and not mask[9, 10] and not mask[10, 20]
    assert not mask[40:71, 30:51].any()  # Character polygons are not text


def test_panel_crops_sizes_and_masks(dataset):
    (page,) = ebd.load_ebdtheque(dataset)
    crops = ebd.panel_crops(page)
    assert [c[0] for c in crops] == ["CYB_TEST_001_1", "CYB_TEST_001_2"]
    assert [c[3] for c in crops] == [(2, 3, 56, 74), (62, 3, 58, 74)]  # second clipped at x = 120
    for _, rgb, mask, (x, y, w, h) in crops:
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
        assert mask.shape == (h, w) and mask.dtype == bool
    assert crops[0][2].sum() == 200
    assert crops[1][2].sum() == 250
    image = page.read_image()
    np.testing.assert_array_equal(crops[1][1], image[3:77, 62:120])


def test_svg_without_namespace_is_read(tmp_path):
    root = tmp_path / "ebd"
    text = svg_text("p").replace(' xmlns="http://www.w3.org/2000/svg"', "")
    text = text.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "").replace("xlink:href", "href")
    write_page(root, "p", text)
    (page,) = ebd.load_ebdtheque(root)
    assert ebd.text_mask(page).sum() == 450


def test_export_split_counts_and_files(tmp_path):
    root = tmp_path / "ebd"
    for i in range(5):
        write_page(root, f"page{i}")
    out = tmp_path / "out"
    result = ebd.export_text_mask_crops(root, out, split=(0.8, 0.1, 0.1), seed=0)
    assert {k: len(v) for k, v in result.items()} == {"train": 8, "val": 1, "test": 1}
    for split, names in result.items():
        assert sorted(p.stem for p in (out / split / "images").glob("*.png")) == sorted(names)
        assert sorted(p.stem for p in (out / split / "text_masks").glob("*.png")) == sorted(names)
    mask = fileio.read_raw(out / "train" / "text_masks" / f"{result['train'][0]}.png")
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporaries
    # seeded: same seed, same assignment; another seed, another assignment
    assert ebd.export_text_mask_crops(root, tmp_path / "again", seed=0) == result
    samples = ebd.to_samples(out, split="train")
    assert [s["name"] for s in samples] == result["train"]
    assert set(samples[0]) == {"name", "image", "text_mask"} and Path(samples[0]["text_mask"]).is_file()
    assert len(ebd.to_samples(out, split=None)) == 10
    others = [ebd.split_names(sum(result.values(), []), seed=s) for s in range(1, 6)]
    assert any(o != result for o in others)


def test_samples_feed_the_tf_data_pipeline(dataset, tmp_path):
    pipelines = pytest.importorskip("comicdepth_tf.data.pipelines")
    out = tmp_path / "crops"
    ebd.export_text_mask_crops(dataset, out, split=(1.0, 0.0, 0.0))
    samples = ebd.to_samples(out, "train")
    ds = pipelines.make_dataset(samples, keys={"image": "image", "text_mask": "mask"}, size=(32, 32), batch_size=2)
    batch = next(iter(ds))
    assert tuple(batch["image"].shape) == (2, 32, 32, 3) and tuple(batch["text_mask"].shape) == (2, 32, 32, 1)
    assert 0 < float(batch["text_mask"].numpy().mean()) < 0.5


def test_to_samples_pairs_images_and_masks(dataset, tmp_path):
    out = tmp_path / "crops"
    ebd.export_text_mask_crops(dataset, out, split=(1.0, 0.0, 0.0))
    (out / "train" / "text_masks" / "CYB_TEST_001_2.png").unlink()
    with pytest.raises(DataFormatError, match=r"CYB_TEST_001_2\.png.*text mask"):
        ebd.to_samples(out, "train")


# ----------------------------------------------------------------------------- errors


def expect_error(root: Path, path_part: str, field_part: str) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        ebd.load_ebdtheque(root)
    message = str(info.value)
    assert path_part in message and field_part in message, message
    return info.value


def test_malformed_xml(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "bad", svg_text("bad")[:-20])
    expect_error(root, "bad.svg", "line")


def test_svg_without_page_element(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "nopage", svg_text("nopage", page=False))
    expect_error(root, "nopage.svg", "svg[class=Page]")


def test_page_image_without_size(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "nosize", svg_text("nosize").replace(f' height="{H}"', ""))
    expect_error(root, "nosize.svg", "image@height")


def test_polygon_with_two_points(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p", panels=(PANEL_1, "5,5 40,5 5,5")))
    err = expect_error(root, "p.svg", "svg[class=Panel]/polygon[1]")
    assert "3 distinct points" in str(err)


def test_polygon_with_non_numeric_points(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p", panels=("5,5 40,x 40,40 5,40",)))
    err = expect_error(root, "p.svg", "svg[class=Panel]/polygon[0]")
    assert "numeric" in str(err)


def test_polygon_with_odd_number_count(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p", panels=("5,5 40,5 40,40 5",)))
    expect_error(root, "p.svg", "points")


def test_svg_without_page_image(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p")
    fileio.atomic_write_text(root / "GT" / "orphan.svg", svg_text("orphan"))
    expect_error(root, "orphan.svg", "page image")


def test_page_image_without_svg(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p")
    fileio.write_image(root / "Pages" / "lonely.jpg", np.zeros((H, W, 3), np.uint8))
    expect_error(root, "lonely.jpg", "ground truth")


def test_image_size_differs_from_svg(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p"), size=(W + 1, H))
    err = expect_error(root, "p.jpg", "image size")
    assert f"{W}x{H}" in str(err) and f"{W + 1}x{H}" in str(err)


def test_panel_outside_page(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p", panels=("200,10 220,10 220,30 200,30",)))
    (page,) = ebd.load_ebdtheque(root)
    with pytest.raises(DataFormatError, match=r"p\.svg.*svg\[class=Panel\]/polygon\[0\]"):
        ebd.panel_crops(page)


def test_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match="Pages"):
        ebd.load_ebdtheque(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- embedded data


@pytest.fixture()
def embedded(request) -> Path:
    """The smoke dataset, skipped while the generator is not importable."""
    return request.getfixturevalue("smoke_data")


def test_embedded_smoke_dataset(embedded):
    pages = ebd.load_ebdtheque(embedded / "ebdtheque")
    assert pages
    assert all(page.panels for page in pages)
    assert sum(int(ebd.text_mask(page).sum()) for page in pages) > 0
    for name, rgb, mask, (x, y, w, h) in ebd.panel_crops(pages[0]):
        assert rgb.shape == (h, w, 3) and mask.shape == (h, w)


def test_an_unknown_xml_encoding_is_named(tmp_path):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p").replace('encoding="UTF-8"', 'encoding="ETF-9"'))
    err = expect_error(root, "p.svg", "line 1")
    assert "known encoding" in str(err)


@pytest.mark.parametrize("value", ["1e30", "1e309", "-99999999"], ids=["beyond int32", "infinite", "far negative"])
def test_coordinates_beyond_any_page_are_refused(tmp_path, value):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p", panels=(f"5,5 {value},5 40,40 5,40",)))
    err = expect_error(root, "p.svg", "svg[class=Panel]/polygon[0]")
    assert f"at most {ebd.MAX_COORDINATE} pixels" in str(err) and value in str(err)


@pytest.mark.parametrize("value", ["inf", "nan", "1e309"])
def test_a_non_finite_page_size_is_named(tmp_path, value):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p").replace(f' width="{W}"', f' width="{value}"'))
    err = expect_error(root, "p.svg", "svg[class=Page]/image@width")
    assert "a positive integer number of pixels" in str(err)


def test_a_page_size_beyond_the_pixel_limit_is_refused_before_any_mask(tmp_path, monkeypatch):
    root = tmp_path / "ebd"
    write_page(root, "p", svg_text("p").replace(f' width="{W}"', ' width="2000000"'))
    monkeypatch.setenv(fileio.MAX_PIXELS_ENV, "1000000")
    with pytest.raises(DataFormatError) as err:
        ebd.parse_svg(root / "GT" / "p.svg")
    assert err.value.field == "svg[class=Page]/image" and "at most 1000000 pixels" in str(err.value)
