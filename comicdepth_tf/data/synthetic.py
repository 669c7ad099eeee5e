"""The embedded dataset: procedural comics pages and natural RGB-D images with exact labels.

Every image comes from a small 3D street scene (:mod:`comicdepth_tf.data.scene`) rendered
as a natural picture and as a comics panel (:mod:`comicdepth_tf.data.render`), and is
written **in the real datasets' formats** (``data/README.md`` shows the layout) so the
same loaders read embedded and real data:

- ``ai4va/``: comics pages (PNG) per split with COCO-style ``train-annotations.json``,
  ``val-annotations.json`` and ``depth_TEST_segments.json`` (no depth attributes); dense
  depth (uint16 mm) and text masks per page. Images list their panel boxes in an extra
  ``panels`` key. ``file_name`` is the bare page name; the file is
  ``images/<split>/<file_name>``.
- ``panels/<split>/``: each panel of those pages as a crop with ComicsDepth ordering
  points (``depth/*.txt``), dense depth (``depth_gt``), text mask, and its pixel-aligned
  **natural twin** (``natural/*.jpg``: the same scene and camera rendered naturally).
- ``ebdtheque/`` and ``dcm772/``: their own pages (other seeds, no overlap with the AI4VA
  splits), JPEG, with eBDtheque SVG (Panel, Balloon, Line, Character) and DCM772 boxes
  (1 body, 7 face, 8 frame = panel; ``x2 y2`` exclusive).
- ``nyu/``: natural RGB-D in the NYU Depth v2 Kaggle layout, from **independent** scenes
  (not the comics panels): each train "scene" is a short sequence of frames of one world
  with the camera panning sideways; test images are single frames of other worlds.
  Train depth is 8-bit (v/255*10 m), test depth 16-bit millimetres.
- ``natural/images``: natural renders of further independent scenes, without depth
  (the COCO stand-in for the natural domain of CycleGANs).
- ``modest/``: MODEST-style composites: backgrounds without figures, figure cut-outs
  (RGBA), the figure placed into the 3D background (true occlusion) and its visible part
  pasted onto the background picture (outside the figure a composite *is* the bg image), its
  visible mask and 8-bit depth (brighter = farther), ``file_map.txt`` linking their stems.
- ``manifest.json``: profile, seed, version, counts and settings; written last.

Profiles (page size w×h, AI4VA pages train/val/test, eBDtheque/DCM pages, NYU size and
train/test count, natural images, MODEST backgrounds/figures/composites):

=======  =========  ============  =======  ================  =======  ==============
profile  page       AI4VA pages   ebd/dcm  NYU               natural  MODEST
=======  =========  ============  =======  ================  =======  ==============
smoke    256×352    6/3/3         3/3      128×96, 24/8      12       3/3/8 at 128²
cpu      384×544    120/30/30     40/40    160×120, 800/160  300      20/20/300 at 160²
full     768×1088   1000/200/200  200/200  320×240, 8000/654 2000     100/100/3000 at 224²
=======  =========  ============  =======  ================  =======  ==============

Worlds: the scenes come from a :class:`~comicdepth_tf.data.scene.World` (``world=``,
``COMICDEPTH_WORLD``): ``street`` (the default, and the original world: the folder is
``embedded/<profile>``) or a richer one (``embedded/<profile>-<world>``, named in the manifest).

Determinism: every item draws from its own generator seeded by (seed, stream, index), so
the same seed gives byte-identical files whatever else changes in the profile's counts.
Depth is metres in a toy world whose far plane (sky) is 10 m.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from comicdepth_tf import fileio, paths
from comicdepth_tf.data import render as rd
from comicdepth_tf.data import scene as sc
from comicdepth_tf.data import writers as wr
from comicdepth_tf.errors import ParameterError

#: Bump when the generated content changes: datasets of another version are regenerated.
VERSION = "2"
SPLITS = ("train", "val", "test")
_STREAMS = {"train": 1, "val": 2, "test": 3, "ebdtheque": 4, "dcm772": 5, "nyu_train": 6, "nyu_test": 7,
            "natural": 8, "modest_bg": 9, "modest_fg": 10, "modest_mix": 11, "ordering": 12}


@dataclass(frozen=True)
class Profile:
    """Sizes and counts of one embedded dataset profile (see the module docstring)."""

    name: str
    page_size: tuple[int, int]
    pages: dict[str, int]
    ebdtheque_pages: int
    dcm_pages: int
    nyu_size: tuple[int, int]
    nyu_scenes: int
    nyu_frames: int
    nyu_test: int
    natural_size: tuple[int, int]
    natural_images: int
    modest_size: tuple[int, int]
    modest_bg: int
    modest_fg: int
    modest_composites: int
    min_segment_area: int = 16
    jpeg_quality: int = 92

    def settings(self) -> dict:
        """The profile as plain JSON values."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", (256, 352), {"train": 6, "val": 3, "test": 3}, 3, 3, (128, 96), 3, 8, 8,
                     (160, 120), 12, (128, 128), 3, 3, 8, min_segment_area=12),
    "cpu": Profile("cpu", (384, 544), {"train": 120, "val": 30, "test": 30}, 40, 40, (160, 120), 100, 8, 160,
                   (192, 144), 300, (160, 160), 20, 20, 300),
    "full": Profile("full", (768, 1088), {"train": 1000, "val": 200, "test": 200}, 200, 200, (320, 240), 800, 10,
                    654, (320, 240), 2000, (224, 224), 100, 100, 3000, min_segment_area=40),
}


def get_profile(profile: str | Profile) -> Profile:
    """A :class:`Profile` by name (``smoke``, ``cpu``, ``full``) or as given."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ParameterError(f"unknown synthetic profile {profile!r}; expected one of {sorted(PROFILES)}")
    return PROFILES[profile]


def item_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    """The generator of one item: independent of every other item, so counts can change freely.

    Args:
        seed: dataset seed.
        stream: what is generated (``train``, ``val``, ``test``, ``ebdtheque``, ``dcm772``,
            ``nyu_train``, ``nyu_test``, ``natural``, ``modest_bg``, ``modest_fg``, ``modest_mix``,
            ``ordering``).
        index: the item's index in its stream.
    """
    return np.random.default_rng([int(seed), _STREAMS[stream], int(index)])


def page_name(split: str, index: int) -> str:
    """AI4VA-like page stem, e.g. ``Synth_0001_2026_train-01``."""
    return f"Synth_{index + 1:04d}_2026_{split}-01"


def _progress(items: Iterable, total: int, desc: str, show: bool | None):
    if show is False:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=desc, leave=False, disable=None if show is None else not show)


# ---------------------------------------------------------------------------------------------
# Comics: AI4VA pages, panel crops, eBDtheque, DCM772


def _write_ai4va_split(root: Path, prof: Profile, seed: int, split: str, show: bool | None,
                       world: sc.World) -> dict:
    coco = wr.CocoBuilder(with_depth=True)
    n_panels = 0
    width, height = prof.page_size
    for i in _progress(range(prof.pages[split]), prof.pages[split], f"ai4va {split}", show):
        page = rd.render_page(item_rng(seed, split, i), width, height, world=world)
        name = page_name(split, i)
        panels = []
        for k, panel in enumerate(page.panels):
            segments = wr.panel_segments(panel, prof.min_segment_area)
            panels.append((panel.box, segments))
            _write_panel(root / "panels" / split, f"{name}_p{k + 1}", panel, segments,
                         item_rng(seed, "ordering", _STREAMS[split] * 1_000_000 + i * 100 + k), prof)
            n_panels += 1
        coco.add_page(f"{name}.png", width, height, panels)
        fileio.write_image(root / "ai4va" / "images" / split / f"{name}.png", page.comics)
        fileio.write_depth_png16(root / "ai4va" / "depth" / split / f"{name}.png", page.depth)
        fileio.write_image(root / "ai4va" / "text_masks" / split / f"{name}.png", page.text_mask.astype(np.uint8) * 255)
    doc = coco.to_dict()
    if split == "test":
        fileio.atomic_write_json(
            root / "ai4va" / "annotations" / "depth_TEST_segments.json", _strip_depth(doc), indent=None
        )
    # The test split also keeps its labels (for scoring), under the name the organisers never publish.
    target = {"train": "train-annotations.json", "val": "val-annotations.json", "test": "test-annotations.json"}[split]
    fileio.atomic_write_json(root / "ai4va" / "annotations" / target, doc, indent=None)
    return {"pages": prof.pages[split], "panels": n_panels, "segments": len(doc["annotations"])}


def _strip_depth(doc: dict) -> dict:
    out = dict(doc)
    out["annotations"] = [dict(a, attributes={k: v for k, v in a["attributes"].items()
                                              if k not in ("Interdepth", "Intradepth")}) for a in doc["annotations"]]
    return out


def _write_panel(folder: Path, name: str, panel: rd.PanelRender, segments: list[wr.Segment],
                 rng: np.random.Generator, prof: Profile) -> None:
    fileio.write_image(folder / "images" / f"{name}.png", panel.comics)
    fileio.atomic_write_text(folder / "depth" / f"{name}.txt", wr.ordering_text(wr.ordering_points(segments, rng)))
    fileio.write_depth_png16(folder / "depth_gt" / f"{name}.png", panel.buffers.depth)
    fileio.write_image(folder / "text_masks" / f"{name}.png", panel.lettering.mask.astype(np.uint8) * 255)
    fileio.write_image(folder / "natural" / f"{name}.jpg", panel.natural, quality=prof.jpeg_quality)


def _page_regions(page: rd.PageRender, min_area: int):
    """Panel, balloon, line and character polygons plus DCM boxes of a page (page pixels)."""
    classes: dict[str, list[np.ndarray]] = {"Panel": [], "Balloon": [], "Line": [], "Character": []}
    boxes = []
    for panel in page.panels:
        x, y, w, h = panel.box
        # Corner x + w: the polygon's bounding box [x_min, x_max) is then exactly the panel box.
        classes["Panel"].append(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]))
        boxes.append((wr.DCM_CLASSES["panel"], x, y, x + w, y + h))
        for poly in panel.lettering.balloons:
            poly = np.asarray(poly) + (x, y)
            classes["Balloon"].append(poly)
        classes["Line"] += [np.asarray(p) + (x, y) for p in panel.lettering.lines]
        for poly, (x1, y1, x2, y2), head in wr.figure_regions(panel, min_area):
            classes["Character"].append(poly + (x, y))
            boxes.append((wr.DCM_CLASSES["character"], x1 + x, y1 + y, x2 + x, y2 + y))
            if head is not None:
                boxes.append((wr.DCM_CLASSES["face"], head[0] + x, head[1] + y, head[2] + x, head[3] + y))
    return classes, boxes


def _write_page_sets(root: Path, prof: Profile, seed: int, show: bool | None, world: sc.World) -> dict:
    width, height = prof.page_size
    for i in _progress(range(prof.ebdtheque_pages), prof.ebdtheque_pages, "ebdtheque", show):
        page = rd.render_page(item_rng(seed, "ebdtheque", i), width, height, natural=False, world=world)
        name = f"SYNTH_EBD_T01_{i + 1:03d}"
        classes, _ = _page_regions(page, prof.min_segment_area)
        fileio.write_image(root / "ebdtheque" / "Pages" / f"{name}.jpg", page.comics, quality=prof.jpeg_quality)
        fileio.atomic_write_text(root / "ebdtheque" / "GT" / f"{name}.svg",
                             wr.ebdtheque_svg(f"{name}.jpg", width, height, classes))
    for i in _progress(range(prof.dcm_pages), prof.dcm_pages, "dcm772", show):
        page = rd.render_page(item_rng(seed, "dcm772", i), width, height, natural=False, world=world)
        name = f"synth_dcm_{i + 1:04d}"
        _, boxes = _page_regions(page, prof.min_segment_area)
        fileio.write_image(root / "dcm772" / "images" / f"{name}.jpg", page.comics, quality=prof.jpeg_quality)
        fileio.atomic_write_text(root / "dcm772" / "groundtruth" / f"{name}.txt", wr.dcm_groundtruth(boxes))
    return {"ebdtheque_pages": prof.ebdtheque_pages, "dcm772_pages": prof.dcm_pages}


# ---------------------------------------------------------------------------------------------
# Natural images: NYU, plain natural folder, MODEST


def natural_view(rng: np.random.Generator, width: int, height: int, frames: int = 1, pan_m: float = 0.0,
                 n_figures: tuple[int, int] = (0, 4), world: sc.World = sc.World()):
    """Render ``frames`` views of one random scene of ``world`` with the camera panning ``pan_m`` metres.

    Returns:
        A list of (RGB uint8, depth float32 metres) pairs.
    """
    camera = sc.sample_camera(rng, width, height, world)
    scene = sc.sample_scene(rng, camera, n_figures=n_figures, pan_m=pan_m, world=world)
    out = []
    for f in range(frames):
        cam = camera.moved(pan_m * f / max(frames - 1, 1))
        buf = sc.rasterize(scene, cam)
        out.append((rd.render_natural(scene, cam, buf, rng), buf.depth))
    return out


def depth_to_u8(depth: np.ndarray) -> np.ndarray:
    """NYU Kaggle / MODEST 8-bit depth: ``v = depth / 10 * 255`` (brighter = farther)."""
    return np.clip(np.round(depth / sc.FAR_M * 255.0), 0, 255).astype(np.uint8)


def _write_nyu(root: Path, prof: Profile, seed: int, show: bool | None, world: sc.World) -> dict:
    nyu = root / "nyu"
    w, h = prof.nyu_size
    rows = []
    for s in _progress(range(prof.nyu_scenes), prof.nyu_scenes, "nyu train", show):
        scene_dir = f"data/nyu2_train/street_{s + 1:04d}_out"
        rng = item_rng(seed, "nyu_train", s)
        views = natural_view(rng, w, h, prof.nyu_frames, pan_m=float(rng.uniform(0.3, 1.5)), world=world)
        for f, (rgb, depth) in enumerate(views):
            fileio.write_image(nyu / scene_dir / f"{f}.jpg", rgb, quality=prof.jpeg_quality)
            fileio.write_image(nyu / scene_dir / f"{f}.png", depth_to_u8(depth))
            rows.append(f"{scene_dir}/{f}.jpg,{scene_dir}/{f}.png")
    fileio.atomic_write_text(nyu / "data" / "nyu2_train.csv", "\n".join(rows) + "\n")
    rows = []
    for i in _progress(range(prof.nyu_test), prof.nyu_test, "nyu test", show):
        (rgb, depth), = natural_view(item_rng(seed, "nyu_test", i), w, h, world=world)
        stem = f"data/nyu2_test/{i:05d}"
        fileio.write_image(nyu / f"{stem}_colors.png", rgb)
        fileio.write_depth_png16(nyu / f"{stem}_depth.png", depth)
        rows.append(f"{stem}_colors.png,{stem}_depth.png")
    fileio.atomic_write_text(nyu / "data" / "nyu2_test.csv", "\n".join(rows) + "\n")
    return {"nyu_train": prof.nyu_scenes * prof.nyu_frames, "nyu_test": prof.nyu_test}


def _write_natural(root: Path, prof: Profile, seed: int, show: bool | None, world: sc.World) -> dict:
    w, h = prof.natural_size
    for i in _progress(range(prof.natural_images), prof.natural_images, "natural", show):
        rng = item_rng(seed, "natural", i)
        # Some portrait pictures, as in a photo collection.
        size = (w, h) if rng.random() < 0.75 else (h, w)
        (rgb, _), = natural_view(rng, *size, world=world)
        fileio.write_image(root / "natural" / "images" / f"nat_{i + 1:05d}.jpg", rgb, quality=prof.jpeg_quality)
    return {"natural_images": prof.natural_images}


def _write_modest(root: Path, prof: Profile, seed: int, show: bool | None) -> dict:
    m = root / "modest"
    w, h = prof.modest_size
    backgrounds = []
    for i in range(prof.modest_bg):
        rng = item_rng(seed, "modest_bg", i)
        camera = sc.sample_camera(rng, w, h)
        scene = sc.sample_scene(rng, camera, n_figures=(0, 0), n_props=(1, 3))
        buf = sc.rasterize(scene, camera)
        rgb = rd.render_natural(scene, camera, buf, rng)
        fileio.write_image(m / "bg" / f"bg_{i + 1:04d}.jpg", rgb, quality=prof.jpeg_quality)
        backgrounds.append((scene, camera, rgb))
    figures = []
    for j in range(prof.modest_fg):
        rng = item_rng(seed, "modest_fg", j)
        fig = sc.make_figure(rng)
        camera = sc.Camera(w, h, focal=h * 1.1, horizon=h * 0.45, height_m=1.0)
        fig.z = 2.4
        scene = sc.Scene([fig], (200, 200, 200), (200, 200, 200), (128, 128, 128), 0, (0.3, -0.5, 0.8), 30.0)
        buf = sc.rasterize(scene, camera)
        rgb = rd.render_natural(scene, camera, buf, rng)
        mask = buf.part_id >= 0
        ys, xs = np.nonzero(mask)
        crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        rgba = np.dstack([rgb, mask.astype(np.uint8) * 255])[crop]
        # write_image converts only 3-channel arrays, so hand OpenCV its BGRA order here.
        fileio.write_image(m / "fg" / f"fg_{j + 1:04d}.png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
        fileio.write_image(m / "fg_mask" / f"fg_mask_{j + 1:04d}.png", mask[crop].astype(np.uint8) * 255)
        figures.append(fig)
    rows = []
    for k in _progress(range(prof.modest_composites), prof.modest_composites, "modest", show):
        rng = item_rng(seed, "modest_mix", k)
        b, f = int(rng.integers(prof.modest_bg)), int(rng.integers(prof.modest_fg))
        scene, camera, bg_rgb = backgrounds[b]
        z = float(rng.uniform(1.8, 6.5))
        fig = dataclasses.replace(
            figures[f], z=z, x=float(camera.x_m + (rng.uniform(0.15, 0.85) - 0.5) * w * z / camera.focal)
        )
        mixed = dataclasses.replace(scene, objects=scene.objects + [fig])
        buf = sc.rasterize(mixed, camera)
        fig_ids = [i for i, p in enumerate(buf.parts) if p.object_index == len(scene.objects)]
        fg_mask = np.isin(buf.part_id, fig_ids)
        # As in MODEST, the figure is pasted onto the background picture itself: outside the
        # (visible part of the) figure the composite is the bg image, pixel for pixel.
        composite = np.where(fg_mask[..., None], rd.render_natural(mixed, camera, buf, rng), bg_rgb)
        stem = f"{k + 1:05d}"
        fileio.write_image(m / "bg_fg" / f"fg_bg_{stem}.jpg", composite, quality=prof.jpeg_quality)
        fileio.write_image(m / "bg_fg_mask" / f"fg_bg_mask_{stem}.png", fg_mask.astype(np.uint8) * 255)
        fileio.write_image(m / "bg_fg_depth_map" / f"depth_{stem}.png", depth_to_u8(buf.depth))
        rows.append(f"bg_{b + 1:04d}\tfg_bg_{stem}\tfg_bg_mask_{stem}\tdepth_{stem}")
    fileio.atomic_write_text(m / "file_map.txt", "\n".join(rows) + "\n")
    return {"modest_bg": prof.modest_bg, "modest_fg": prof.modest_fg, "modest_composites": prof.modest_composites}


# ---------------------------------------------------------------------------------------------
# Entry points


def _write_part(root: Path, prof: Profile, seed: int, show: bool | None, world: sc.World, name: str,
                split: str | None) -> tuple[dict, float]:
    """One part of :func:`generate` (an AI4VA split, the page sets, NYU, natural, MODEST) and its seconds."""
    t0 = time.perf_counter()
    if name == "ai4va":
        result = _write_ai4va_split(root, prof, seed, split, show, world)
    elif name == "pages":
        result = _write_page_sets(root, prof, seed, show, world)
    elif name == "nyu":
        result = _write_nyu(root, prof, seed, show, world)
    elif name == "natural":
        result = _write_natural(root, prof, seed, show, world)
    else:
        result = _write_modest(root, prof, seed, show)
    return result, time.perf_counter() - t0


#: Parts in the order a pool takes them: the longest first, so that two workers end together.
_PART_ORDER = (("ai4va", "train"), ("pages", None), ("nyu", None), ("ai4va", "val"), ("ai4va", "test"),
               ("natural", None), ("modest", None))


def default_workers(n_jobs: int) -> int:
    """Processes for ``n_jobs`` independent jobs: one per core this process may use, at most ``n_jobs``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n_jobs, cores))


def generate(root: str | os.PathLike, profile: str | Profile = "cpu", seed: int = 0, show_progress: bool | None = None,
             only: Iterable[str] | None = None, world: str = paths.DEFAULT_WORLD, workers: int | None = None) -> dict:
    """Generate the embedded dataset into ``root`` (written in place; see :func:`ensure_dataset`).

    Args:
        root: destination folder (created).
        profile: ``smoke``, ``cpu``, ``full`` or a :class:`Profile`.
        seed: the seed; the same seed gives byte-identical files.
        show_progress: progress bars (None: only on a terminal).
        only: restrict to some parts (``ai4va``, ``pages``, ``nyu``, ``natural``, ``modest``);
            the manifest then says so and :func:`ensure_dataset` will not accept it.
        world: what the scenes show (:func:`comicdepth_tf.data.scene.get_world`): ``street``
            (the original world), ``rich`` or an ablation of it. MODEST composites stay
            street scenes in every world (the foreground stage's set).
        workers: processes writing parts side by side (None: :func:`default_workers`; 1: this
            process). Every item draws from its own random stream, so the files are the same
            for any number.

    Returns:
        The manifest (also written to ``root/manifest.json``), with a ``timing`` entry
        (seconds per part, wall seconds, pages and natural images per second of the parts'
        own time) that is not written.
    """
    prof = get_profile(profile)
    scene_world = _world(world)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    parts = ("ai4va", "pages", "nyu", "natural", "modest")
    chosen = tuple(parts if only is None else [p for p in parts if p in set(only)])
    jobs = [job for job in _PART_ORDER if job[0] in chosen]
    n_workers = default_workers(len(jobs)) if workers is None else max(1, int(workers))
    started = time.perf_counter()
    if n_workers == 1:
        done = [_write_part(root, prof, seed, show_progress, scene_world, *job) for job in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: a forked copy of a process that runs TensorFlow threads can deadlock.
        with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            # Workers draw no progress bars (they would overwrite each other's): one bar counts the parts.
            futures = [pool.submit(_write_part, root, prof, seed, False, scene_world, *job) for job in jobs]
            try:
                for future in _progress(as_completed(futures), len(futures), f"parts ({n_workers} workers)",
                                        show_progress):
                    future.result()  # the first failure, as soon as it happens
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            done = [future.result() for future in futures]
    by_job = dict(zip(jobs, done))
    counts: dict = {}
    seconds: dict[str, float] = {}
    for name in chosen:  # the manifest lists parts in their fixed order, whichever worker ended first
        mine = {split: by_job[(n, split)] for n, split in jobs if n == name}
        seconds[name] = sum(took for _, took in mine.values())
        if name == "ai4va":
            counts["ai4va"] = {split: mine[split][0] for split in SPLITS}
        else:
            counts.update(mine[None][0])
    manifest = {
        "format": "comicdepth_tf embedded dataset",
        "version": VERSION,
        "profile": prof.name,
        "seed": int(seed),
        **({} if world == paths.DEFAULT_WORLD else {"world": world, "world_settings": dataclasses.asdict(scene_world)}),
        "complete": only is None,
        "parts": list(chosen),
        "counts": counts,
        "settings": {**prof.settings(), "far_plane_m": sc.FAR_M, "min_gap_m": sc.MIN_GAP_M,
                     "categories": list(sc.CATEGORIES), "dcm_classes": wr.DCM_CLASSES,
                     "nyu_source": "independent scenes (panning sequences); panel twins in panels/<split>/natural"},
    }
    fileio.atomic_write_json(root / "manifest.json", manifest)
    n_pages = sum(prof.pages.values()) + prof.ebdtheque_pages + prof.dcm_pages
    n_natural = prof.nyu_scenes * prof.nyu_frames + prof.nyu_test + prof.natural_images
    page_s = seconds.get("ai4va", 0.0) + seconds.get("pages", 0.0)
    nat_s = seconds.get("nyu", 0.0) + seconds.get("natural", 0.0)
    timing = {"seconds": seconds, "total_s": sum(seconds.values()), "wall_s": time.perf_counter() - started,
              "workers": n_workers,
              "pages_per_s": n_pages / page_s if page_s else None,
              "natural_per_s": n_natural / nat_s if nat_s else None}
    return {**manifest, "timing": timing}


def _world(name: str) -> sc.World:
    try:
        return sc.get_world(name)
    except ValueError as error:
        raise ParameterError(f"{paths.WORLD_VAR} / world: {error}") from None


def is_complete(root: str | os.PathLike, profile: str, seed: int, world: str = paths.DEFAULT_WORLD) -> bool:
    """Whether ``root`` holds a complete dataset of this profile, seed, world and generator version.

    A world other than street must also have the settings it has now: a dataset written before
    the world gained an ingredient (``rich`` before ``styles``) is stale.
    """
    path = Path(root) / "manifest.json"
    if not path.is_file():
        return False
    try:
        m = fileio.read_json(path)
    except Exception:  # a damaged manifest means regenerate, not crash
        return False
    return (isinstance(m, dict) and m.get("complete") is True and m.get("profile") == profile
            and m.get("seed") == int(seed) and m.get("version") == VERSION
            and m.get("world", paths.DEFAULT_WORLD) == world
            and (world == paths.DEFAULT_WORLD or m.get("world_settings") == dataclasses.asdict(_world(world))))


def _generate_atomically(root: Path, prof: Profile, seed: int, show_progress: bool | None,
                         world: str = paths.DEFAULT_WORLD, workers: int | None = None) -> dict:
    """Generate into a temporary sibling folder, then swap it into ``root``."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        manifest = generate(tmp, prof, seed, show_progress=show_progress, world=world, workers=workers)
        if root.exists():
            old = root.parent / f".{root.name}.old-{os.getpid()}"
            os.replace(root, old)
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def ensure_dataset(profile: str = "cpu", root: str | os.PathLike | None = None, seed: int = 0, force: bool = False,
                   show_progress: bool | None = None, world: str | None = None, workers: int | None = None) -> Path:
    """Make sure the embedded dataset exists; generate it when missing, stale or forced.

    Generation goes into a temporary sibling folder renamed into place at the end, so an
    interrupted run never leaves a half dataset behind.

    Args:
        profile: ``smoke``, ``cpu`` or ``full``.
        root: destination (default ``paths.embedded_dir(profile)``).
        seed: generator seed.
        force: regenerate even when a complete dataset is there.
        show_progress: progress bars (None: only on a terminal).
        world: the scenes' world (default: ``COMICDEPTH_WORLD``, else ``street``; see
            :func:`generate`), so that every stage of a run reads the same world.
        workers: processes generating side by side (see :func:`generate`).

    Returns:
        The dataset folder.
    """
    prof = get_profile(profile)
    world = world or paths.world_name()
    _world(world)
    root = Path(root) if root is not None else paths.embedded_dir(prof.name, world)
    if not force and is_complete(root, prof.name, seed, world):
        return root
    _generate_atomically(root, prof, seed, show_progress, world, workers)
    return root


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth synth``."""
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES), help="dataset size (default: cpu)")
    parser.add_argument("--out", default=None, help="destination folder (default: data/embedded/<profile>)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    parser.add_argument("--force", action="store_true", help="regenerate even when a complete dataset exists")
    parser.add_argument("--world", default=None,
                        help="what the scenes show: street (default, or $COMICDEPTH_WORLD), rich, "
                             "rich-no-<ingredient> or street+<ingredient> (see comicdepth_tf.data.scene.World)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes generating parts side by side (default: one per core; the files are the same)")


def cli_main(args: argparse.Namespace) -> int:
    """Run ``comicdepth synth``: generate (atomically) and print counts and throughput."""
    prof = get_profile(args.profile)
    world = args.world or paths.world_name()
    _world(world)
    root = Path(args.out) if args.out else paths.embedded_dir(prof.name, world)
    if not args.force and is_complete(root, prof.name, args.seed, world):
        print(f"{root}: complete {prof.name} dataset (seed {args.seed}, world {world}, version {VERSION}); "
              "use --force to redo")
        return 0
    t0 = time.perf_counter()
    manifest = _generate_atomically(root, prof, args.seed, None, world, args.workers)
    timing = manifest["timing"]
    print(f"wrote {root} (profile {prof.name}, seed {args.seed}, world {world}) in {time.perf_counter() - t0:.1f} s "
          f"with {timing['workers']} worker(s)")
    for key, value in manifest["counts"].items():
        print(f"  {key}: {value}")
    print(f"  pages/s: {timing['pages_per_s']:.1f}   natural images/s: {timing['natural_per_s']:.1f}")
    return 0
