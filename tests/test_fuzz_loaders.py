"""Mutation fuzzing of every loader: each mutation of a valid file ends in a record or a DataFormatError.

Each test writes one small valid dataset in the real format, then :func:`fuzz.fuzz` applies
seeded mutations to one of its files (``$COMICDEPTH_FUZZ_N`` per loader, 300 by default) and
loads the dataset after each. The outcome counts are printed (``pytest -s`` shows them) and
are in the assertion message when a mutation escapes. Deeper runs::

    COMICDEPTH_FUZZ_N=3000 python -m pytest tests/test_fuzz_loaders.py -s
    COMICDEPTH_FUZZ_N=3000 COMICDEPTH_FUZZ_SEED=2 python -m pytest tests/test_fuzz_loaders.py -s   # other mutations
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from fuzz import fuzz, json_mutator, mutate_bytes, mutation_count, mutation_seed, png_mutator, text_mutator, xml_mutator
from pycocotools import mask as mask_utils
from test_format_ebdtheque import write_page as write_ebd_page

from comicdepth_tf import fileio
from comicdepth_tf.data.formats import ai4va, dcm, ebdtheque, modest, nyu, ordering, rgbd

#: Pixel limit during the fuzz: a mutated header may declare any size; nothing larger is decoded.
FUZZ_MAX_PIXELS = 1_000_000
#: Largest growth of the process's peak memory over one loader's run.
MAX_RSS_GROWTH_MB = 256


@pytest.fixture(autouse=True)
def small_pixel_limit(monkeypatch):
    monkeypatch.setenv(fileio.MAX_PIXELS_ENV, str(FUZZ_MAX_PIXELS))


def _run(loader: str, path: Path, load: Callable[[], Any], mutate, root: Path, seed: int = 17) -> None:
    """Fuzz the file ``path`` of the dataset ``root``; print the counts and fail on any escape."""
    original = path.read_bytes()
    load()  # the unmutated dataset is valid
    report = fuzz(loader, original, path.write_bytes, load, mutate, root=root, seed=mutation_seed(seed))
    print(report.summary())
    assert not report.escapes, report.summary()
    assert report.valid + report.errors == report.tried == mutation_count(), report.summary()
    assert report.errors > 0, report.summary()  # mutations that never fail would test nothing
    assert report.rss_growth_mb < MAX_RSS_GROWTH_MB, report.summary()


def _page(path: Path, width: int, height: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    return fileio.write_image(path, rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# --------------------------------------------------------------------------- AI4VA JSON


def _ai4va(root: Path) -> tuple[Path, Path]:
    images = root / "images" / "train"
    _page(images / "p1.png", 40, 30)
    _page(images / "p2.png", 50, 40, seed=1)
    fileio.write_depth_png16(root / "depth" / "train" / "p1.png", np.full((30, 40), 2.5))
    mask = np.zeros((40, 50), np.uint8)
    mask[5:15, 20:32] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    compressed = {"size": [40, 50], "counts": rle["counts"].decode("ascii")}

    def ann(i, image_id, segm, bbox, inter, intra):
        return {"id": i, "image_id": image_id, "category_id": 1 + i % 2, "segmentation": segm, "bbox": bbox,
                "area": float(bbox[2] * bbox[3]), "iscrowd": int(isinstance(segm, dict)),
                "attributes": {"occluded": False, "Interdepth": inter, "Intradepth": intra}}

    data = {
        "categories": [{"id": 1, "name": "Character", "supercategory": ""}, {"id": 2, "name": "Object"}],
        "images": [{"id": 1, "width": 40, "height": 30, "file_name": "p1.png"},
                   {"id": 2, "width": 50, "height": 40, "file_name": "p2.png"}],
        "annotations": [ann(1, 1, [[5, 5, 25, 5, 25, 15, 5, 15]], [5, 5, 20, 10], 0, 0),
                        ann(2, 1, [[0, 0, 20, 0, 0, 20]], [0, 0, 20, 20], "1", 2.0),
                        ann(3, 2, compressed, [20, 5, 12, 10], 1, 0),
                        ann(4, 2, {"size": [40, 50], "counts": [100, 20, 1880]}, [2, 0, 1, 20], 2, 1),
                        ann(5, 2, [], [10, 10, 5, 4], 3, 0)],
    }
    path = root / "annotations" / "train-annotations.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data, indent=1))
    return path, images


def test_fuzz_ai4va_json(tmp_path):
    path, images = _ai4va(tmp_path)

    def load():
        dataset = ai4va.load_ai4va(path, images, on_missing_depth="drop")
        return [ai4va.segment_mask(dataset, s).sum() for s in dataset.segments]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mutations drop depth levels on purpose: the loader warns of each
        _run("AI4VA JSON", path, load, json_mutator(), tmp_path)


# --------------------------------------------------------------------------- ComicsDepth ordering


def test_fuzz_ordering_file(tmp_path):
    folder = tmp_path / "panels" / "val"
    _page(folder / "images" / "a.png", 20, 15)
    fileio.write_depth_png16(folder / "depth_gt" / "a.png", np.full((15, 20), 3.0))
    text = "1 1 3 4\n1 2 5 4\n2 1 10 10\n2 2 19 14\n3 1 0 0\n\n3 4 7 2\n"
    path = folder / "depth" / "a.txt"
    fileio.atomic_write_text(path, text)

    def load():
        panels = ordering.load_ordering_set(folder)
        return [len(p.points) for p in panels]

    _run("ordering file", path, load, text_mutator(), tmp_path)


# --------------------------------------------------------------------------- eBDtheque SVG

def test_fuzz_ebdtheque_svg(tmp_path):
    write_ebd_page(tmp_path, "p")  # the page of test_format_ebdtheque: every class, namespaces, metadata
    path = tmp_path / "GT" / "p.svg"

    def load():
        pages = ebdtheque.load_ebdtheque(tmp_path)
        return [(ebdtheque.text_mask(p).sum(), len(ebdtheque.panel_crops(p))) for p in pages]

    _run("eBDtheque SVG", path, load, xml_mutator(), tmp_path)


# --------------------------------------------------------------------------- DCM772 boxes


def test_fuzz_dcm_boxes(tmp_path):
    _page(tmp_path / "images" / "p.png", 100, 80)
    path = tmp_path / "groundtruth" / "p.txt"
    fileio.atomic_write_text(path, "8 0 0 50 40\n7 10 10 20 20\n8 50 0 100 40\n1 5 5 30 35\n\n8 -2 40 101 80\n")

    def load():
        pages = dcm.load_dcm(tmp_path)
        return [len(dcm.panel_crops(p)) for p in pages], dcm.page_samples(pages)

    _run("DCM boxes", path, load, text_mutator(), tmp_path)


# --------------------------------------------------------------------------- NYU Kaggle CSV


def test_fuzz_nyu_csv(tmp_path):
    rows = []
    for i in range(3):
        rgb, depth = f"data/nyu2_train/s/{i}.jpg", f"data/nyu2_train/s/{i}.png"
        _page(tmp_path / rgb, 16, 12, seed=i)
        fileio.write_image(tmp_path / depth, np.full((12, 16), 40 + i, np.uint8))
        rows.append(f"{rgb},{depth}")
    path = tmp_path / "data" / "nyu2_train.csv"
    fileio.atomic_write_text(path, "\n".join(rows) + "\n")

    def load():
        records = nyu.load_nyu_csv(path)
        return [rgbd.load_rgbd_pair(r)[1].shape for r in records]

    _run("NYU CSV", path, load, text_mutator(sep=","), tmp_path)


# --------------------------------------------------------------------------- MODEST file map


def test_fuzz_modest_file_map(tmp_path):
    lines = ["bg\tbg_fg\tmask\tdepth"]
    for i in range(3):
        for folder in ("bg", "bg_fg", "bg_fg_mask", "bg_fg_depth_map"):
            _page(tmp_path / folder / f"{folder}_{i}.png", 8, 6, seed=i)
        lines.append(f"bg_{i}\tbg_fg_{i}\tbg_fg_mask_{i}\tbg_fg_depth_map_{i}")
    path = tmp_path / "file_map.txt"
    fileio.atomic_write_text(path, "\n".join(lines) + "\n")

    def load():
        return modest.to_samples(modest.load_modest(tmp_path))

    _run("MODEST file map", path, load, text_mutator(sep="\t"), tmp_path)


# --------------------------------------------------------------------------- images


def _write_rgb_png(path: Path) -> Path:
    return _page(path, 32, 24)


def _write_gray16_png(path: Path) -> Path:
    return fileio.write_image(path, (np.arange(32 * 24, dtype=np.uint16).reshape(24, 32) * 80))


def _write_jpeg(path: Path) -> Path:
    return _page(path, 32, 24)


@pytest.mark.parametrize("name, write, mutate", [("rgb.png", _write_rgb_png, png_mutator()),
                                                 ("depth16.png", _write_gray16_png, png_mutator()),
                                                 ("page.jpg", _write_jpeg, mutate_bytes)],
                         ids=["PNG 8-bit RGB", "PNG 16-bit", "JPEG"])
def test_fuzz_images(tmp_path, name, write, mutate):
    path = write(tmp_path / name)

    def load():
        return (fileio.read_image(path).shape, fileio.read_raw(path).shape, fileio.read_mask(path).sum(),
                fileio.image_size(path))

    _run(f"images ({name})", path, load, mutate, tmp_path)
