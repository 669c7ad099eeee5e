"""The embedded synthetic dataset: formats, label consistency with the dense depth, determinism."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from comicdepth_tf import fileio
from comicdepth_tf.data import render, scene, synthetic, writers
from comicdepth_tf.errors import ParameterError

SPLITS = ("train", "val", "test")
ANNOTATION_FILES = {"train": "train-annotations.json", "val": "val-annotations.json", "test": "test-annotations.json"}


def _coco(root: Path, split: str) -> COCO:
    return COCO(str(root / "ai4va" / "annotations" / ANNOTATION_FILES[split]))


def _segment_medians(root: Path, split: str):
    """Per (split, image, panel): list of (Interdepth, Intradepth, median depth of annToMask)."""
    coco = _coco(root, split)
    out = {}
    for img in coco.dataset["images"]:
        depth = fileio.read_depth_png16(root / "ai4va" / "depth" / split / img["file_name"])
        assert depth.shape == (img["height"], img["width"])
        for k, (px, py, pw, ph) in enumerate(img["panels"]):
            rows = []
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"])):
                x, y, w, h = ann["bbox"]
                if not (px <= x and py <= y and x + w <= px + pw and y + h <= py + ph):
                    continue
                mask = coco.annToMask(ann).astype(bool) & (depth > 0)
                assert mask.sum() > 0, f"annotation {ann['id']} rasterises to nothing"
                a = ann["attributes"]
                rows.append((a["Interdepth"], a["Intradepth"], float(np.median(depth[mask]))))
            out[(split, img["id"], k)] = rows
    return out


@pytest.fixture(scope="module")
def rich_data(tmp_path_factory) -> Path:
    """The smoke profile generated in the rich world (every ingredient on)."""
    return synthetic.ensure_dataset("smoke", root=tmp_path_factory.mktemp("embedded") / "smoke-rich", seed=0,
                                    world="rich")


@pytest.fixture(scope="module", params=["street", "rich"])
def medians(request):
    root = request.getfixturevalue("smoke_data" if request.param == "street" else "rich_data")
    return {key: rows for split in SPLITS for key, rows in _segment_medians(root, split).items()}


def test_ai4va_json_loads_with_pycocotools_and_images_match(smoke_data):
    for split in SPLITS:
        coco = _coco(smoke_data, split)
        assert len(coco.dataset["images"]) == synthetic.PROFILES["smoke"].pages[split]
        assert {c["id"] for c in coco.dataset["categories"]} == {1, 2, 3}
        assert len(coco.dataset["annotations"]) > 20 * len(coco.dataset["images"])
        for img in coco.dataset["images"]:
            assert img["file_name"].startswith("Synth_") and img["file_name"].endswith("-01.png")
            rgb = fileio.read_image(smoke_data / "ai4va" / "images" / split / img["file_name"])
            assert rgb.shape == (img["height"], img["width"], 3)
            assert 2 <= len(img["panels"]) <= 6
        for ann in coco.dataset["annotations"]:
            assert ann["iscrowd"] == 0 and ann["area"] > 0
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
            # The stored area is the pixel count loaders get from the polygons.
            assert coco.annToMask(ann).sum() == ann["area"]


def test_depth_attributes_present_in_train_val_and_absent_from_test_segments(smoke_data):
    for split in ("train", "val"):
        for ann in _coco(smoke_data, split).dataset["annotations"]:
            for key in ("Interdepth", "Intradepth"):
                value = ann["attributes"][key]
                assert isinstance(value, int) and value >= 0
    test = fileio.read_json(smoke_data / "ai4va" / "annotations" / "depth_TEST_segments.json")
    labelled = fileio.read_json(smoke_data / "ai4va" / "annotations" / "test-annotations.json")
    assert len(test["annotations"]) == len(labelled["annotations"]) > 0
    for ann, ref in zip(test["annotations"], labelled["annotations"]):
        assert "Interdepth" not in ann["attributes"] and "Intradepth" not in ann["attributes"]
        assert ann["id"] == ref["id"] and ann["segmentation"] == ref["segmentation"]


def test_interdepth_order_agrees_with_dense_depth(medians):
    pairs = 0
    for key, rows in medians.items():
        inters = sorted({r[0] for r in rows})
        assert inters == list(range(len(inters))), f"{key}: Interdepth ranks not dense from 0: {inters}"
        for a, b in itertools.combinations(rows, 2):
            if a[0] != b[0]:
                near, far = (a, b) if a[0] < b[0] else (b, a)
                assert near[2] < far[2], (
                    f"{key}: Interdepth {near[0]} median {near[2]} >= Interdepth {far[0]} median {far[2]}"
                )
                pairs += 1
    assert pairs > 500


def test_intradepth_zero_based_dense_and_consistent_within_objects(medians):
    objects_with_levels = 0
    for key, rows in medians.items():
        by_object = defaultdict(list)
        for inter, intra, med in rows:
            by_object[inter].append((intra, med))
        for inter, parts in by_object.items():
            levels = sorted({p[0] for p in parts})
            assert levels == list(range(len(levels))), f"{key} object {inter}: Intradepth levels {levels}"
            objects_with_levels += len(levels) > 1
            for (la, ma), (lb, mb) in itertools.combinations(parts, 2):
                if la != lb:
                    assert (ma < mb) == (la < lb), f"{key} object {inter}: level {la} at {ma} m vs level {lb} at {mb} m"
    assert objects_with_levels > 20


def test_text_masks_hold_lettering_and_avoid_figures(smoke_data):
    pages_with_text = 0
    for split in SPLITS:
        coco = _coco(smoke_data, split)
        for img in coco.dataset["images"]:
            name = img["file_name"]
            text = fileio.read_mask(smoke_data / "ai4va" / "text_masks" / split / name)
            rgb = fileio.read_image(smoke_data / "ai4va" / "images" / split / name)
            if not text.any():
                continue
            pages_with_text += 1
            n, comp = cv2.connectedComponents(text.astype(np.uint8))
            ink = (rgb.max(axis=2) == 0)
            for c in range(1, n):
                assert ink[comp == c].any(), f"{name}: text region {c} holds no lettering"
            characters = np.zeros_like(text)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"], catIds=[scene.CHARACTER])):
                characters |= coco.annToMask(ann).astype(bool)
            assert (text & characters).sum() <= 0.02 * text.sum()
    assert pages_with_text >= 6


def test_panel_crops_ordering_files_and_dense_depth(smoke_data):
    n_files = 0
    for split in SPLITS:
        folder = smoke_data / "panels" / split
        for txt in sorted((folder / "depth").glob("*.txt")):
            n_files += 1
            crop = fileio.read_image(folder / "images" / f"{txt.stem}.png")
            depth = fileio.read_depth_png16(folder / "depth_gt" / f"{txt.stem}.png")
            text = fileio.read_mask(folder / "text_masks" / f"{txt.stem}.png")
            natural = fileio.read_image(folder / "natural" / f"{txt.stem}.jpg")
            assert crop.shape[:2] == depth.shape == text.shape == natural.shape[:2]
            assert (depth > 0).all() and depth.max() <= scene.FAR_M
            points = []
            for line in txt.read_text().splitlines():
                values = line.split()
                assert len(values) == 4, f"{txt}: {line!r}"
                l1, l2, x, y = map(int, values)
                assert l1 >= 1 and l2 >= 1 and 0 <= x < crop.shape[1] and 0 <= y < crop.shape[0]
                points.append((l1, l2, depth[y, x]))
            assert points, f"{txt} is empty"
            for a, b in itertools.combinations(points, 2):
                if a[0] != b[0]:
                    assert (a[2] < b[2]) == (a[0] < b[0]), f"{txt}: {a} vs {b}"
    assert n_files == sum(len(_coco(smoke_data, s).dataset["images"][k]["panels"])
                          for s in SPLITS for k in range(synthetic.PROFILES["smoke"].pages[s]))


def test_comics_render_inks_boundaries_that_the_natural_render_leaves_unlined(smoke_data):
    folder = smoke_data / "panels" / "train"
    for path in sorted((folder / "images").glob("*.png"))[:6]:
        comics = fileio.read_image(path)
        natural = fileio.read_image(folder / "natural" / f"{path.stem}.jpg")
        assert fileio.read_depth_png16(folder / "depth_gt" / f"{path.stem}.png").shape == comics.shape[:2]
        ink = comics.max(axis=2) == 0
        assert ink.mean() > 0.01
        # No outline and no lettering in the natural twin: nothing is black where comics has ink.
        assert natural[ink].max(axis=1).min() > 12
        assert (natural.max(axis=2) <= 3).sum() == 0
        # The natural render has shading and texture: far more distinct colours than flat comics.
        def n_colors(img):
            return len(np.unique(img.reshape(-1, 3) // 4, axis=0))
        assert n_colors(natural) > 2 * n_colors(comics)


def test_comics_ink_covers_every_object_boundary():
    rng = np.random.default_rng(11)
    style = render.sample_style(rng, 400)
    for _ in range(4):
        panel = render.render_panel(rng, (0, 0, 180, 150), style)
        pid = panel.buffers.part_id
        owner = np.array([p.object_index for p in panel.buffers.parts] + [-1, -2])
        objects = owner[np.where(pid >= 0, pid, np.where(pid == scene.GROUND_ID, len(owner) - 2, len(owner) - 1))]
        boundary = np.zeros(pid.shape, bool)
        boundary[:, 1:] |= objects[:, 1:] != objects[:, :-1]
        boundary[1:, :] |= objects[1:, :] != objects[:-1, :]
        boundary &= ~(cv2.dilate(panel.lettering.mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
        ink = panel.comics.max(axis=2) == 0
        near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert boundary.sum() > 50
        assert near_ink[boundary].all()
        assert not (panel.natural.max(axis=2) == 0).any()


def test_page_layout_gutters_have_no_depth(smoke_data):
    coco = _coco(smoke_data, "train")
    for img in coco.dataset["images"]:
        depth = fileio.read_depth_png16(smoke_data / "ai4va" / "depth" / "train" / img["file_name"])
        inside = np.zeros(depth.shape, bool)
        for x, y, w, h in img["panels"]:
            assert not inside[y:y + h, x:x + w].any(), "panels overlap"
            inside[y:y + h, x:x + w] = True
        assert (depth[inside] > 0).all() and (depth[~inside] == 0).all()
        assert (~inside).mean() > 0.03


def test_ebdtheque_svg_and_dcm_boxes(smoke_data):
    svgs = sorted((smoke_data / "ebdtheque" / "GT").glob("*.svg"))
    assert len(svgs) == synthetic.PROFILES["smoke"].ebdtheque_pages
    ns = {"s": "http://www.w3.org/2000/svg"}
    n_balloons = 0
    for svg in svgs:
        root = ET.parse(svg).getroot()
        children = {el.get("class"): el for el in root.findall("s:svg", ns)}
        assert set(children) == {"Page", "Panel", "Balloon", "Line", "Character"}
        image = children["Page"].find("s:image", ns)
        page = fileio.read_image(smoke_data / "ebdtheque" / "Pages" / f"{svg.stem}.jpg")
        assert (int(image.get("width")), int(image.get("height"))) == (page.shape[1], page.shape[0])
        panels = children["Panel"].findall("s:polygon", ns)
        assert 2 <= len(panels) <= 6
        for poly in itertools.chain(*(children[c].findall("s:polygon", ns) for c in children if c != "Page")):
            pts = np.array([[int(v) for v in p.split(",")] for p in poly.get("points").split()])
            assert len(pts) >= 3 and pts.min() >= 0 and (pts <= [page.shape[1], page.shape[0]]).all()
        n_balloons += len(children["Balloon"].findall("s:polygon", ns))
    assert n_balloons > 0
    txts = sorted((smoke_data / "dcm772" / "groundtruth").glob("*.txt"))
    assert len(txts) == synthetic.PROFILES["smoke"].dcm_pages
    classes = set()
    for txt in txts:
        page = fileio.read_image(smoke_data / "dcm772" / "images" / f"{txt.stem}.jpg")
        for line in txt.read_text().splitlines():
            c, x1, y1, x2, y2 = map(int, line.split())
            classes.add(c)
            assert 0 <= x1 < x2 <= page.shape[1] and 0 <= y1 < y2 <= page.shape[0]
    assert {1, 8} <= classes


def test_nyu_csv_rows_point_at_files_and_depth_encodings_round_trip(smoke_data):
    nyu = smoke_data / "nyu"
    prof = synthetic.PROFILES["smoke"]
    for name, n, bits in (
        ("nyu2_train.csv", prof.nyu_scenes * prof.nyu_frames, np.uint8),
        ("nyu2_test.csv", prof.nyu_test, np.uint16),
    ):
        with open(nyu / "data" / name, newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) == n and all(len(r) == 2 for r in rows)
        for rgb_rel, depth_rel in rows:
            assert rgb_rel.startswith("data/") and (nyu / rgb_rel).is_file() and (nyu / depth_rel).is_file()
        raw = fileio.read_raw(nyu / rows[0][1])
        assert raw.dtype == bits and raw.ndim == 2
        assert fileio.read_image(nyu / rows[0][0]).shape[:2] == raw.shape == (prof.nyu_size[1], prof.nyu_size[0])
    # Re-render the first test image and the first train frame from their seeds: the files hold that depth.
    (_, depth), = synthetic.natural_view(synthetic.item_rng(0, "nyu_test", 0), *prof.nyu_size)
    stored = fileio.read_depth_png16(nyu / "data" / "nyu2_test" / "00000_depth.png")
    assert np.abs(stored - depth).max() <= 0.0005 + 1e-6
    rng = synthetic.item_rng(0, "nyu_train", 0)
    frames = synthetic.natural_view(rng, *prof.nyu_size, prof.nyu_frames, pan_m=float(rng.uniform(0.3, 1.5)))
    stored8 = fileio.read_raw(nyu / "data" / "nyu2_train" / "street_0001_out" / "0.png").astype(np.float32) / 255 * 10
    assert np.abs(stored8 - frames[0][1]).max() <= 10 / 255 / 2 + 1e-5
    assert depth.min() > 0 and depth.max() <= scene.FAR_M


def test_modest_file_map_rows_point_at_files(smoke_data):
    m = smoke_data / "modest"
    rows = [line.split("\t") for line in (m / "file_map.txt").read_text().splitlines()]
    assert len(rows) == synthetic.PROFILES["smoke"].modest_composites
    folders = ("bg", "bg_fg", "bg_fg_mask", "bg_fg_depth_map")
    for row in rows:
        assert len(row) == 4
        files = [list((m / folder).glob(stem + ".*")) for folder, stem in zip(folders, row)]
        assert all(len(f) == 1 for f in files), row
        mask, depth = fileio.read_raw(files[2][0]), fileio.read_raw(files[3][0])
        assert depth.dtype == np.uint8 and depth.shape == mask.shape
        if (mask > 0).any() and (mask == 0).any():
            # A figure stands in front of the sky: where it is visible, the scene is nearer than the far plane.
            assert depth[mask > 0].max() < 255
    fg = fileio.read_raw(next((m / "fg").glob("*.png")))
    assert fg.ndim == 3 and fg.shape[2] == 4 and (fg[..., 3] == 0).any() and (fg[..., 3] == 255).any()


def test_modest_composite_is_the_background_picture_outside_the_figure(smoke_data):
    # As in MODEST, the figure is pasted onto the bg image: away from it (beyond the JPEG blocks
    # it touches) the composite is the background, not a re-render with other noise.
    m = smoke_data / "modest"
    rows = [line.split("\t") for line in (m / "file_map.txt").read_text().splitlines()]
    checked = 0
    for bg_stem, comp_stem, mask_stem, _ in rows:
        bg = fileio.read_raw(next((m / "bg").glob(bg_stem + ".*"))).astype(np.int16)
        comp = fileio.read_raw(next((m / "bg_fg").glob(comp_stem + ".*"))).astype(np.int16)
        mask = fileio.read_raw(next((m / "bg_fg_mask").glob(mask_stem + ".*"))) > 0
        far = ~cv2.dilate(mask.astype(np.uint8), np.ones((33, 33), np.uint8)).astype(bool)
        if mask.any() and far.any():
            assert np.abs(comp - bg)[far].max() <= 2, comp_stem
            assert np.abs(comp - bg)[mask].mean() > 3, comp_stem  # the figure is there
            checked += 1
    assert checked > 0


def test_same_seed_gives_identical_files_and_other_seed_differs(smoke_data, tmp_path):
    small = synthetic.Profile("smoke", (256, 352), {"train": 2, "val": 0, "test": 0}, 0, 0, (128, 96), 1, 2, 1,
                              (160, 120), 1, (128, 128), 1, 1, 1, min_segment_area=12)
    synthetic.generate(tmp_path / "a", small, seed=0, only=["ai4va", "nyu"])
    synthetic.generate(tmp_path / "b", small, seed=1, only=["ai4va"])

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    # Items are seeded per (seed, stream, index): the small profile reproduces the smoke files.
    for rel in ("ai4va/images/train/Synth_0002_2026_train-01.png", "ai4va/depth/train/Synth_0001_2026_train-01.png",
                "panels/train/depth/Synth_0001_2026_train-01_p1.txt", "nyu/data/nyu2_test/00000_depth.png"):
        assert digest(tmp_path / "a" / rel) == digest(smoke_data / rel), rel
    assert digest(tmp_path / "b" / "ai4va/images/train/Synth_0001_2026_train-01.png") != digest(
        smoke_data / "ai4va/images/train/Synth_0001_2026_train-01.png")
    assert fileio.read_json(tmp_path / "a" / "manifest.json")["complete"] is False


def test_ensure_dataset_reuses_complete_dataset_and_cli_reports_it(smoke_data, capsys):
    manifest = fileio.read_json(smoke_data / "manifest.json")
    assert manifest["profile"] == "smoke" and manifest["seed"] == 0 and manifest["complete"] is True
    assert manifest["counts"]["ai4va"]["train"]["pages"] == 6
    before = (smoke_data / "manifest.json").stat().st_mtime_ns
    assert synthetic.ensure_dataset("smoke", root=smoke_data, seed=0) == smoke_data
    assert (smoke_data / "manifest.json").stat().st_mtime_ns == before
    assert not synthetic.is_complete(smoke_data, "smoke", seed=1)
    assert not synthetic.is_complete(smoke_data, "cpu", seed=0)
    assert not list(smoke_data.parent.glob(".smoke.*")), "temporary folders left behind"
    import argparse

    parser = argparse.ArgumentParser()
    synthetic.cli_add_arguments(parser)
    args = parser.parse_args(["--profile", "smoke", "--out", str(smoke_data)])
    assert synthetic.cli_main(args) == 0
    assert "complete smoke dataset" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["--profile", "huge"])


def test_ensure_dataset_leaves_no_partial_folder_on_failure(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_nyu", boom)
    with pytest.raises(RuntimeError):  # one process: the patched writer runs
        synthetic.ensure_dataset("smoke", root=tmp_path / "smoke", seed=3, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_parts_written_by_two_processes_are_the_files_one_process_writes(tmp_path):
    timings = {n: synthetic.generate(tmp_path / str(n), "smoke", seed=0, world="rich", workers=n)["timing"]
               for n in (1, 2)}
    assert timings[1]["workers"] == 1 and timings[2]["workers"] == 2
    files = {n: sorted(p.relative_to(tmp_path / str(n)) for p in (tmp_path / str(n)).rglob("*") if p.is_file())
             for n in (1, 2)}
    assert files[1] == files[2] and len(files[1]) > 100
    for rel in files[1]:
        assert (tmp_path / "1" / rel).read_bytes() == (tmp_path / "2" / rel).read_bytes(), rel


def test_a_part_failing_in_a_worker_process_fails_the_generation_with_its_error(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "modest").write_text("a file where the MODEST folder goes")
    with pytest.raises(OSError):
        synthetic.generate(tmp_path / "out", "smoke", seed=0, workers=2)


def test_polygons_of_a_mask_with_holes_rasterise_back_without_the_holes():
    mask = np.zeros((40, 50), bool)
    mask[5:35, 5:45] = True
    mask[10:20, 10:20] = False  # a window
    mask[22:30, 28:40] = False  # a balloon
    polys = writers.mask_to_polygons(mask)
    back = writers.polygons_to_mask(polys, 40, 50)
    # Without the cuts the outer polygon would fill both holes; pycocotools' rasteriser
    # may still tip one corner pixel into a hole.
    assert back[10:20, 10:20].mean() < 0.05 and back[22:30, 28:40].mean() < 0.05
    assert (back & ~mask).sum() <= 4 and back.sum() > 0.8 * mask.sum()


def test_scene_depth_is_exact_for_the_ground_and_objects_are_separated():
    rng = np.random.default_rng(5)
    camera = scene.Camera(64, 48, focal=60.0, horizon=20.0, height_m=1.5)
    buf = scene.rasterize(
        scene.Scene([], (200, 200, 255), (100, 100, 255), (100, 100, 100), 0, (0, -1, 0), 20.0), camera
    )
    row = 40  # centre at 40.5: z = f * h / (v - horizon)
    assert buf.depth[row, 10] == pytest.approx(60.0 * 1.5 / (40.5 - 20.0), rel=1e-6)
    assert (buf.depth[:20] == scene.FAR_M).all() and (buf.part_id[:20] == scene.SKY_ID).all()
    for _ in range(20):
        cam = scene.sample_camera(rng, 120, 90)
        objs = scene.sample_scene(rng, cam).objects
        assert any(o.category_id == scene.CHARACTER for o in objs)
        spans = [(o.z + o.extent[0], o.z + o.extent[1]) for o in objs]
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 - a1 >= scene.MIN_GAP_M - 1e-9
        assert spans[-1][1] < scene.FAR_M


def test_layout_makes_two_to_six_panels_inside_the_page():
    rng = np.random.default_rng(0)
    for n in range(2, 7):
        boxes = render.layout_panels(rng, 300, 420, n, margin=10, gutter=6)
        assert len(boxes) == n
        for x, y, w, h in boxes:
            assert x >= 10 and y >= 10 and x + w <= 290 and y + h <= 410 and w > 0 and h > 0


# --------------------------------------------------------------------------- worlds


def _scenes(world: scene.World, n: int, size=(64, 48)):
    for i in range(n):
        rng = synthetic.item_rng(0, "train", i)
        camera = scene.sample_camera(rng, *size, world)
        yield camera, scene.sample_scene(rng, camera, world=world)


def _street_digest() -> str:
    h = hashlib.sha256()
    for i in range(40):
        rng = synthetic.item_rng(0, "train", i)
        cam = scene.sample_camera(rng, 160, 120)
        sc = scene.sample_scene(rng, cam)
        h.update(repr((round(cam.focal, 6), round(cam.horizon, 6), round(cam.height_m, 6))).encode())
        for o in sc.objects:
            h.update(repr((o.kind, round(o.x, 6), round(o.z, 6), len(o.parts))).encode())
        h.update(repr((sc.sky_color, sc.ground_color, sc.ground_material, round(sc.haze_m, 6),
                       sc.ground_tone)).encode())
        h.update(repr(round(float(rng.random()), 9)).encode())  # where the scene left the item's stream
    return h.hexdigest()


def test_the_street_world_draws_the_scenes_it_always_drew():
    # Computed with 5509685, before worlds existed: a street dataset must stay byte-identical,
    # so that every earlier run's numbers still hold.
    assert _street_digest() == "f9c9944906e1f132902f7cc61537feca4c357c9da4a37e53cb767fd267b7a425"


def test_the_street_world_renders_the_pages_it_always_rendered():
    # Computed with 2dfac0b, before drawing styles: comics, natural twin, depth and text mask of 3 pages.
    h = hashlib.sha256()
    for i in range(3):
        page = render.render_page(synthetic.item_rng(0, "train", i), 256, 352)
        for array in (page.comics, page.natural, page.depth, page.text_mask):
            h.update(array.tobytes())
    assert h.hexdigest() == "e238e5efa15e8bdefdcae04853ea020090d88c52abcdc0d5a7dd35f9d555fe9c"


def test_worlds_by_name_and_a_clear_error_for_an_unknown_one(tmp_path):
    rich = scene.get_world("rich")
    assert scene.get_world("street").is_street and not rich.is_street
    no_interior = scene.get_world("rich-no-interior")
    assert no_interior.interior == 0 and no_interior.close_up == rich.close_up
    only_close = scene.get_world("street+close-up")
    assert only_close.close_up == rich.close_up and only_close.interior == 0 and not only_close.is_street
    two = scene.get_world("rich-no-styles-no-close-up")
    assert two.styles == 0 and two.close_up == 0 and two.interior == rich.interior
    assert scene.get_world("street+styles+groups") == scene.World(styles=rich.styles, groups=rich.groups)
    with pytest.raises(ValueError, match="low_camera"):
        scene.get_world("rich-no-dragons")
    with pytest.raises(ValueError, match="unknown world"):
        scene.get_world("rich-no-styles-no-dragons")
    with pytest.raises(ParameterError, match="COMICDEPTH_WORLD"):
        synthetic.ensure_dataset("smoke", root=tmp_path / "x", world="moon")
    assert not (tmp_path / "x").exists()
    from comicdepth_tf.chain import runner

    with pytest.raises(ParameterError, match="--world: unknown world 'moon'"):
        runner.run(profile="smoke", world="moon", reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_each_ingredient_of_the_rich_world_shows_at_about_its_rate():
    rich = scene.get_world("rich")
    n = 400
    seen = defaultdict(int)
    for camera, sc in _scenes(rich, n):
        kinds = [o.kind for o in sc.objects]
        seen["low_camera"] += camera.height_m < 1.2
        seen["high_camera"] += camera.height_m > 1.8
        seen["interior"] += "wall" in kinds
        seen["hanging"] += any(k in ("hanging_lamp", "sign") for k in kinds)
        seen["animal"] += "animal" in kinds
        first = sc.objects[0] if sc.objects else None
        seen["close_up"] += bool(first and first.kind == "figure" and first.z + first.extent[0] < 1.15)
    assert abs(seen["low_camera"] / n - rich.low_camera) < 0.07
    assert abs(seen["high_camera"] / n - rich.high_camera) < 0.06
    assert abs(seen["interior"] / n - rich.interior) < 0.07
    # Some close-up draws find no figure (a scene may have none) or a far first item is dropped.
    assert 0.5 * rich.close_up < seen["close_up"] / n < 1.2 * rich.close_up
    assert seen["hanging"] > 0.15 * n and seen["animal"] > 0.05 * n
    street = [(c, s) for c, s in _scenes(scene.get_world("street"), 100)]
    assert all(1.2 <= c.height_m <= 1.8 for c, _ in street)
    assert not {o.kind for _, s in street for o in s.objects} & {"wall", "animal", "sign", "hanging_lamp", "table",
                                                                  "chair"}


def _lower_is_nearer_accuracy(world: scene.World, n: int = 300) -> float:
    """Share of visible object pairs whose nearer object's median row is lower in the frame."""
    right = pairs = 0
    for camera, sc in _scenes(world, n):
        buf = scene.rasterize(sc, camera)
        owner = np.array([p.object_index for p in buf.parts] + [-1])
        objects = owner[np.where(buf.part_id >= 0, buf.part_id, len(buf.parts))]
        rows = {o: np.median(np.nonzero(objects == o)[0]) for o in np.unique(objects) if o >= 0}
        rows = {o: r for o, r in rows.items() if (objects == o).sum() >= 12}
        for a, b in itertools.permutations(rows, 2):
            if sc.objects[a].z < sc.objects[b].z:
                pairs += 1
                right += rows[a] > rows[b]
    return right / pairs


def test_the_rich_world_teaches_less_of_lower_is_nearer():
    # Measured: street 0.765, rich 0.714 (real pages: 0.711 on the real-page check's pairs).
    street, rich = _lower_is_nearer_accuracy(scene.get_world("street")), _lower_is_nearer_accuracy(scene.WORLDS["rich"])
    assert street > 0.74 and rich < street - 0.03


def test_a_world_has_its_own_dataset_folder_manifest_and_fingerprint(rich_data, smoke_data, monkeypatch, tmp_path):
    from comicdepth_tf import paths
    from comicdepth_tf.chain import stage_reuse

    manifest = fileio.read_json(rich_data / "manifest.json")
    assert manifest["world"] == "rich" and manifest["world_settings"]["interior"] == scene.WORLDS["rich"].interior
    assert "world" not in fileio.read_json(smoke_data / "manifest.json")
    assert synthetic.is_complete(rich_data, "smoke", 0, "rich")
    assert not synthetic.is_complete(rich_data, "smoke", 0)
    assert not synthetic.is_complete(smoke_data, "smoke", 0, "rich")
    monkeypatch.setenv("COMICDEPTH_DATA", str(tmp_path))
    monkeypatch.delenv(paths.WORLD_VAR, raising=False)
    street = stage_reuse.fingerprint(__file__, {}, "smoke", {}, "src")
    assert paths.embedded_dir("smoke") == tmp_path / "embedded" / "smoke"
    monkeypatch.setenv("COMICDEPTH_MODELS", str(tmp_path / "saved_models"))
    assert paths.models_dir() == tmp_path / "saved_models"
    monkeypatch.setenv(paths.WORLD_VAR, "rich")
    assert paths.embedded_dir("smoke") == tmp_path / "embedded" / "smoke-rich"
    assert paths.models_dir() == tmp_path / "saved_models-rich"  # a street run is never resumed for rich
    assert stage_reuse.fingerprint(__file__, {}, "smoke", {}, "src") != street


def test_hatching_lines_lie_where_their_angle_and_period_put_them():
    # angle 0: along = -y, so lines on rows where (-y) mod 4 < 1: 0, 4, 8.
    rows = np.flatnonzero(render.hatching((10, 6), (0, 0), 0.0, 4.0).all(axis=1))
    assert rows.tolist() == [0, 4, 8]
    # angle 90: along = x; a page offset of 2 px moves the lines by 2 columns.
    cols = np.flatnonzero(render.hatching((6, 10), (2, 0), 90.0, 4.0).all(axis=0))
    assert cols.tolist() == [2, 6]


def _styled(fill: str, **more) -> render.ComicStyle:
    base = render.sample_style(np.random.default_rng(0), 400)
    return dataclasses.replace(base, fill=fill, paper=(240, 230, 200), tint=(30, 60, 130), **more)


@pytest.mark.parametrize("fill, allowed", [("line", {(240, 230, 200), (0, 0, 0)}),
                                           ("limited", {(240, 230, 200), (30, 60, 130), (0, 0, 0)})])
def test_line_art_and_two_colour_prints_use_only_paper_tint_and_ink(fill, allowed):
    world = scene.get_world("rich")
    seen = set()
    for i in range(6):
        rng = np.random.default_rng(i)
        camera = scene.sample_camera(rng, 120, 90, world)
        sc = scene.sample_scene(rng, camera, world=world)
        buf = scene.rasterize(sc, camera)
        img = render.render_comics(sc, camera, buf, _styled(fill), origin=(3, 5))
        seen |= {tuple(int(v) for v in p) for p in np.unique(img.reshape(-1, 3), axis=0)}
    assert seen == allowed  # every colour of the print is used, and nothing else


def test_line_art_hatches_mid_values_and_inks_the_darkest():
    value = np.array([[0.9, 0.4, 0.25, 0.1]], np.float32).repeat(40, axis=0).repeat(10, axis=1)
    img = render._print_fill(value, np.zeros(value.shape, bool), _styled("line", hatch_period=4.0), (0, 0))
    ink = (img == 0).all(axis=2)
    shares = [ink[:, 10 * k:10 * k + 10].mean() for k in range(4)]
    # Paper; one family of 1-px lines every 4 px (about 1/4); two families (about 7/16); solid.
    assert shares[0] == 0 and 0.15 < shares[1] < 0.35 and 0.35 < shares[2] < 0.55 and shares[3] == 1


def test_near_contours_get_heavier_ink_than_far_ones_with_line_by_depth():
    edges = np.zeros((20, 40), bool)
    edges[10, 2:18] = edges[10, 22:38] = True
    depth = np.full(edges.shape, 5.0, np.float32)
    depth[:, :20], depth[:, 20:] = 2.0, 9.0
    style = _styled("colour", line_by_depth=True)
    lines = render._ink_lines(edges, depth, dataclasses.replace(style, line_px=2))
    assert lines[:, :20].sum() > 2 * lines[:, 20:].sum() and lines[:, 20:].sum() == 16
    plain = render._ink_lines(edges, depth, dataclasses.replace(style, line_px=2, line_by_depth=False))
    assert plain[:, :20].sum() == plain[:, 20:].sum()


def test_print_effects_change_a_styled_panel_and_leave_a_plain_one_and_its_stream_alone():
    img = np.full((48, 64, 3), 255, np.uint8)
    img[10:30, 10:40] = (200, 40, 40)
    rng = np.random.default_rng(5)
    plain = render.sample_style(np.random.default_rng(0), 400)
    assert render.print_effects(img, plain, rng) is img and rng.random() == np.random.default_rng(5).random()
    shifted = render.print_effects(img, dataclasses.replace(plain, misregister=2), rng)
    assert (shifted[10:30, 12:40, 0] == 200).all() and (shifted[10:30, 10:12, 0] == 255).all()  # red plate moved right
    assert (shifted[10:30, 10:40, 1] == 40).all()  # green plate stays
    aged = render.print_effects(img, dataclasses.replace(plain, grain=6.0, jpeg_quality=30), rng)
    assert aged.shape == img.shape and aged.dtype == np.uint8 and 2 < np.abs(aged.astype(int) - img).mean() < 30


def test_the_styles_ingredient_prints_about_its_share_of_pages_otherwise():
    rich = scene.get_world("rich")
    fills = [render.sample_style(np.random.default_rng(i), 400, rich).fill for i in range(400)]
    styled = [render.sample_style(np.random.default_rng(i), 400, rich) for i in range(400)]
    changed = sum(s != render.sample_style(np.random.default_rng(i), 400) for i, s in enumerate(styled))
    assert abs(changed / 400 - rich.styles) < 0.07
    assert 0.2 < fills.count("line") / 400 < 0.4 and fills.count("limited") > 0.08 * 400
    assert scene.get_world("rich-no-styles").styles == 0 and scene.get_world("street+styles").styles == rich.styles


def test_a_world_dataset_written_before_its_world_changed_is_stale(rich_data, tmp_path):
    manifest = fileio.read_json(rich_data / "manifest.json")
    assert synthetic.is_complete(rich_data, "smoke", 0, "rich")
    older = dict(manifest, world_settings={k: v for k, v in manifest["world_settings"].items() if k != "styles"})
    fileio.atomic_write_json(tmp_path / "manifest.json", older)  # the rich world before it had styles
    assert not synthetic.is_complete(tmp_path, "smoke", 0, "rich")
    fileio.atomic_write_json(tmp_path / "manifest.json", manifest)
    assert synthetic.is_complete(tmp_path, "smoke", 0, "rich")


def _brightness_depth_spearman(world: scene.World, n: int = 60) -> float:
    """Mean Spearman rank correlation of luminance and depth over natural renders (sky left out)."""
    from comicdepth_tf import metrics
    from comicdepth_tf.real_pages import LUMA

    rhos = []
    for i, (camera, sc) in enumerate(_scenes(world, n, size=(96, 72))):
        buf = scene.rasterize(sc, camera)
        img = render.render_natural(sc, camera, buf, np.random.default_rng(i))
        keep = buf.part_id != scene.SKY_ID
        rho = metrics.spearman((img.astype(np.float32) @ LUMA)[keep], buf.depth[keep])
        rhos.append(rho if np.isfinite(rho) else 0.0)
    return float(np.mean(rhos))


def test_the_atmosphere_ingredient_weakens_brightness_as_a_depth_cue():
    # Measured (60 scenes): street 0.63, street+atmosphere 0.30 (hazy daylight alone: pale is far).
    street = _brightness_depth_spearman(scene.get_world("street"))
    lit = _brightness_depth_spearman(scene.get_world("street+atmosphere"))
    assert street > 0.5 and lit < street - 0.2


def test_the_atmosphere_changes_the_light_and_never_the_geometry():
    rich, unlit = scene.get_world("rich"), scene.get_world("rich-no-atmosphere")
    changed = 0
    for (cam_a, a), (cam_b, b) in zip(_scenes(rich, 200), _scenes(unlit, 200)):
        assert cam_a == cam_b and [(o.kind, o.x, o.z) for o in a.objects] == [(o.kind, o.x, o.z) for o in b.objects]
        assert (a.ground_color, a.ground_material, a.light) == (b.ground_color, b.ground_material, b.light)
        assert (a.sky_color == b.sky_color) == (a.falloff_m == 0)  # only night skies (both renders) are dark
        changed += (a.haze_m, a.haze_color, a.ambient, a.falloff_m) != (b.haze_m, b.haze_color, b.ambient, b.falloff_m)
        assert b.haze_color is None and b.ambient == 0.5 and b.falloff_m == 0.0
    assert abs(changed / 200 - rich.atmosphere) < 0.08
    night = scene.sample_atmosphere(np.random.default_rng(0), b)
    while night.falloff_m == 0:  # a third of the draws are night scenes
        night = scene.sample_atmosphere(np.random.default_rng(changed := changed + 1), b)
    assert max(night.sky_color) < 100 and night.haze_color is not None
