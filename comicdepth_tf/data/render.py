"""Two renders of one scene (natural and comics), lettering, balloons and page layout.

- :func:`render_natural`: per-part colour, Lambert shading from the scene's light,
  procedural textures evaluated in **world** metres (so their on-screen scale follows
  distance, with amplitude fading where the pattern would alias), atmospheric haze
  growing with depth, a sky gradient with clouds, a slight blur and sensor noise. No
  outlines, no text; never pure black.
- :func:`render_comics`: flat colours with a two-tone cel shadow, screentone (halftone dots
  on a page-aligned 45° grid) on some surfaces, and pure black ink (0, 0, 0) on every
  object boundary (thick, from the object-id map) and part boundary (thin, from the
  part-id map), plus depth discontinuities. Worlds with ``styles`` also draw pages as line art
  with hatching or as two-colour prints (:func:`sample_print_look`), and :func:`print_effects`
  ages and scans them (shifted plates, grain, JPEG).
- :func:`letter_panel`: speech balloons with tails pointing at a head, captions and
  sound effects, lettered with OpenCV's Hershey stroke fonts; returns the text mask and
  the balloon / text-line polygons (eBDtheque ``Balloon`` / ``Line``).
- :func:`layout_panels` and :func:`render_page`: 2–6 rectangular panels in rows with
  gutters and black frames; each panel is its own scene and camera.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from comicdepth_tf.data import scene as sc

INK = (0, 0, 0)
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC)
_WORDS = ("HEY", "LOOK", "THERE", "RUN", "WAIT", "WHAT", "IS", "THAT", "THE", "CITY", "NEVER", "AGAIN", "COME",
          "ON", "QUICK", "WE", "MUST", "HURRY", "I", "KNOW", "YOU", "STOP", "HIM", "WHERE", "ARE", "THEY", "GOING",
          "NOW", "FOLLOW", "ME", "SEE", "IT", "DOWN", "STREET", "BUT", "WHY", "NOT", "HERE", "TOO", "LATE", "GO")
_CAPTIONS = ("MEANWHILE...", "LATER THAT DAY", "IN THE CITY...", "AT DAWN", "ONE HOUR LATER", "THAT NIGHT...",
             "NEXT MORNING", "SUDDENLY...")
_SFX = ("BAM!", "ZOK!", "WHAM", "POW!", "CRASH", "VROOM", "BANG!", "ZAP!")


@dataclass(frozen=True)
class ComicStyle:
    """Drawing choices shared by every panel of a page.

    Attributes:
        line_px: width of silhouette ink lines.
        frame_px: width of panel frames.
        tone_period: screentone dot spacing in pixels.
        font: Hershey font id for lettering.
        font_px: cap height of lettering in pixels.
        paper: RGB of the paper (gutters, balloons).
        shadow_tone: cel shadows drawn with screentone instead of a darker flat colour.
        saturation: colour saturation multiplier of the flat colours.
        fill: how surfaces are filled: ``colour`` (flat colours), ``limited`` (a two-colour
            print: paper, one tint and ink, mid-tones in print dots) or ``line`` (black-and-white
            line art: paper, hatching, cross-hatching and solid ink by the surface's value).
        hatch_angle, hatch_period: direction (degrees) and spacing (px) of hatching lines.
        line_by_depth: silhouette ink thins with distance (near objects get a heavier line).
        misregister: px by which the red and blue plates are shifted (colour prints).
        grain: standard deviation of the paper and print noise (grey levels).
        jpeg_quality: the panel is JPEG-compressed at this quality (0: not).
    """

    line_px: int
    frame_px: int
    tone_period: float
    font: int
    font_px: float
    paper: tuple[int, int, int]
    shadow_tone: bool
    saturation: float
    fill: str = "colour"
    tint: tuple[int, int, int] = (0, 0, 0)
    hatch_angle: float = 45.0
    hatch_period: float = 4.0
    line_by_depth: bool = False
    misregister: int = 0
    grain: float = 0.0
    jpeg_quality: int = 0


#: Old newsprint: the paper colour a fully yellowed page tends to.
YELLOWED_PAPER = np.array((226, 212, 170), np.float64)
#: Inks of two-colour prints (sepia, blue, red, green).
_TINTS = ((112, 66, 20), (30, 60, 130), (150, 30, 30), (40, 100, 60))


def sample_style(rng: np.random.Generator, page_width: int, world: sc.World = sc.World()) -> ComicStyle:
    """A random drawing style scaled to the page width.

    With probability ``world.styles`` the page is printed otherwise (:func:`sample_print_look`);
    other pages draw exactly what they always drew.
    """
    scale = page_width / 400.0
    paper = (255, 255, 255) if rng.random() < 0.6 else (250, 246, 232)
    style = ComicStyle(
        line_px=int(max(1, round(scale * rng.uniform(1.2, 2.2)))),
        frame_px=int(max(1, round(scale * rng.uniform(1.5, 2.5)))),
        tone_period=float(max(3.0, scale * rng.uniform(3.5, 5.5))),
        font=int(_FONTS[int(rng.integers(len(_FONTS)))]),
        font_px=float(max(6.0, page_width * rng.uniform(0.017, 0.022))),
        paper=paper,
        shadow_tone=bool(rng.random() < 0.4),
        saturation=float(rng.uniform(0.9, 1.3)),
    )
    if world.styles and rng.random() < world.styles:
        style = dataclasses.replace(style, **sample_print_look(rng, scale))
    return style


def sample_print_look(rng: np.random.Generator, scale: float) -> dict:
    """The drawing and printing of a page other than flat colours on white (``styles`` worlds).

    Half the pages are black-and-white line art with hatching (as newspaper strips were), a
    quarter two-colour prints, a quarter colour; each may have yellowed paper, distance-weighted
    ink lines, shifted colour plates, paper grain and JPEG artefacts.

    Returns:
        :class:`ComicStyle` fields to replace.
    """
    fill = ("line", "line", "limited", "colour")[int(rng.integers(4))]
    yellow = rng.uniform(0.2, 1.0) if rng.random() < 0.6 else 0.0
    paper = np.round(255.0 + (YELLOWED_PAPER - 255.0) * yellow)
    angle = float(rng.uniform(25.0, 65.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    return {
        "fill": fill,
        "paper": tuple(int(v) for v in paper),
        "tint": _TINTS[int(rng.integers(len(_TINTS)))],
        "hatch_angle": angle,
        "hatch_period": float(max(3.0, scale * rng.uniform(3.0, 5.0))),
        "line_by_depth": bool(rng.random() < 0.7),
        "misregister": int(rng.integers(1, 3)) if fill != "line" and rng.random() < 0.4 else 0,
        "grain": float(rng.uniform(2.0, 9.0)) if rng.random() < 0.5 else 0.0,
        "jpeg_quality": int(rng.integers(25, 75)) if rng.random() < 0.5 else 0,
    }


# ---------------------------------------------------------------------------------------------
# Scene look-ups shared by both renders


def _lookup(scene: sc.Scene, buf: sc.SceneBuffers) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel index into the colour tables, plus the colour, material and tone tables."""
    n = len(buf.parts)
    colors = np.array([p.part.color for p in buf.parts] + [scene.ground_color, scene.sky_color], np.float32) / 255.0
    materials = np.array([p.part.material for p in buf.parts] + [scene.ground_material, 0], np.int32)
    tones = np.array([p.part.tone for p in buf.parts] + [scene.ground_tone, False], bool)
    index = buf.part_id.copy()
    index[buf.part_id == sc.GROUND_ID] = n
    index[buf.part_id == sc.SKY_ID] = n + 1
    return index, colors, materials, tones


def _world_coords(camera: sc.Camera, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World x (lateral) and y (height) of every pixel on its surface."""
    u = np.arange(camera.width, dtype=np.float32)[None, :] + 0.5
    v = np.arange(camera.height, dtype=np.float32)[:, None] + 0.5
    x = camera.x_m + (u - camera.cx) * depth / camera.focal
    y = camera.height_m - (v - camera.horizon) * depth / camera.focal
    return x, y


def _texture(material: int, p: np.ndarray, q: np.ndarray, px_per_m: np.ndarray, phase: float) -> np.ndarray:
    """Multiplicative texture of a material at world coordinates (p, q) metres.

    The amplitude fades when one period covers fewer than ~3 pixels, like a mip-map, so
    far surfaces turn smooth instead of aliasing.
    """

    def fade(period_m: float) -> np.ndarray:
        return np.clip((period_m * px_per_m - 2.0) / 4.0, 0.0, 1.0)

    two_pi = 2.0 * math.pi
    if material == 1:  # cloth: fine weave
        return 1.0 + 0.05 * fade(0.04) * np.sin(two_pi * p / 0.04 + phase) * np.sin(two_pi * q / 0.04)
    if material == 3:  # brick / paving: mortar lines
        row = np.floor(q / 0.25)
        offset = np.where(row % 2 == 0, 0.0, 0.25)
        joint = (np.mod(q, 0.25) < 0.03) | (np.mod(p + offset + phase, 0.5) < 0.03)
        return 1.0 - 0.22 * fade(0.25) * joint + 0.05 * fade(0.1) * np.sin(two_pi * (p * 3.1 + q * 7.3) + phase)
    if material == 4:  # bark: wavy vertical grooves
        return 1.0 + 0.16 * fade(0.05) * np.sin(two_pi * p / 0.05 + 2.0 * np.sin(q * 3.0 + phase))
    if material == 5:  # foliage / grass: blotches
        n = np.sin(two_pi * p / 0.17 + phase) * np.sin(two_pi * q / 0.13 + 1.3) + 0.5 * np.sin(
            two_pi * (p + q) / 0.07 + phase)
        return 1.0 + 0.18 * fade(0.1) * n
    if material == 6:  # wood: planks
        return 1.0 + 0.1 * fade(0.12) * np.sin(two_pi * q / 0.12 + 0.6 * np.sin(p * 9.0 + phase))
    if material == 8:  # glass: soft reflection bands
        return 1.0 + 0.2 * np.sin(two_pi * (p + 0.6 * q) / 1.3 + phase)
    if material == 9:  # roof tiles
        return 1.0 - 0.2 * fade(0.2) * (np.mod(q, 0.2) < 0.04)
    return np.ones_like(p)


def render_natural(scene: sc.Scene, camera: sc.Camera, buf: sc.SceneBuffers, rng: np.random.Generator) -> np.ndarray:
    """Photograph-like render: shading, world-scale textures, haze; no outlines, no text.

    Args:
        scene: the world.
        camera: the camera the buffers were rasterised with.
        buf: output of :func:`comicdepth_tf.data.scene.rasterize`.
        rng: the random generator (noise, texture phases).

    Returns:
        RGB uint8 (H, W, 3).
    """
    index, colors, materials, _ = _lookup(scene, buf)
    depth = buf.depth
    col = colors[index]
    light = np.array(scene.light, np.float32)
    lambert = np.clip(buf.normal @ light, 0.0, 1.0)
    shade = scene.ambient + 0.6 * lambert
    x, y = _world_coords(camera, depth)
    px_per_m = camera.focal / depth
    is_ground = index == len(buf.parts)
    tex = np.ones_like(depth)
    for m in np.unique(materials[index]):
        sel = (materials[index] == m) & (index != len(buf.parts) + 1)
        if m == 0 or not sel.any():
            continue
        # Ground textures lie in the (x, z) plane; every other surface is vertical (x, y).
        q = np.where(is_ground, depth, y)[sel]
        tex[sel] = _texture(int(m), x[sel], q, px_per_m[sel], float(rng.uniform(0, 6.28)))
    col = col * (shade * tex)[..., None]
    sky = buf.part_id == sc.SKY_ID
    if scene.falloff_m > 0:
        # A lamp by the camera: near things bright, far ones dark (the sky is left to the haze).
        lamp = np.clip(scene.falloff_m / np.maximum(depth, 0.1), 0.15, 1.25) ** 0.7
        col = np.where(sky[..., None], col, col * lamp[..., None])
    if sky.any():
        v = np.arange(camera.height, dtype=np.float32)[:, None] + 0.5
        t = np.clip((camera.horizon - v) / max(camera.height * 0.8, 1.0), 0.0, 1.0)
        grad = (np.array(scene.sky_color, np.float32) / 255.0) * (1 - t[..., None]) + (
            np.array(scene.zenith_color, np.float32) / 255.0) * t[..., None]
        grad = np.broadcast_to(grad, col.shape)
        u = np.arange(camera.width, dtype=np.float32)[None, :] / camera.width
        k1, k2, k3 = rng.uniform(2, 5, 3)
        cloud = np.sin(k1 * 6.28 * u + 2.0 * np.sin(k2 * v / camera.height * 6.28)) * np.sin(
            k3 * v / camera.height * 6.28
        )
        cloud = np.clip(cloud - 0.3, 0.0, 1.0)[..., None] * 0.6
        sky_col = grad * (1 - cloud) + cloud
        col[sky] = sky_col[sky]
    haze = np.exp(-depth / scene.haze_m)[..., None]
    haze_col = np.array(scene.haze_color or scene.sky_color, np.float32) / 255.0
    col = col * haze + haze_col * (1.0 - haze)
    col = cv2.GaussianBlur(col, (0, 0), 0.6)
    col += rng.normal(0.0, 0.012, col.shape).astype(np.float32)
    # Natural pictures keep some light everywhere: no pure black (ink is the comics' privilege).
    return np.clip(col * 255.0, 8, 255).round().astype(np.uint8)


def _page_coords(shape: tuple[int, int], origin: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Page x and y (float32) of every pixel of an array placed at ``origin`` (x, y) on the page."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    xs += origin[0]
    ys += origin[1]
    return xs, ys


def halftone(shape: tuple[int, int], origin: tuple[int, int], period: float, coverage: float) -> np.ndarray:
    """Boolean dot pattern of a 45° screen; ``coverage`` is the inked share (0–1).

    ``origin`` is the (x, y) offset of the array on the page so every panel shares one
    screen, as printed tones do.
    """
    xs, ys = _page_coords(shape, origin)
    a = (xs + ys) / math.sqrt(2.0)
    b = (xs - ys) / math.sqrt(2.0)
    da = np.mod(a, period) - period / 2.0
    db = np.mod(b, period) - period / 2.0
    radius = period * math.sqrt(max(coverage, 0.0) / math.pi)
    return da * da + db * db < radius * radius


def _edges(labels: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Pixels on the nearer side of a label change (so ink hugs the occluding object)."""
    out = np.zeros(labels.shape, bool)
    for axis in (0, 1):
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        diff = labels[tuple(a)] != labels[tuple(b)]
        a_near = depth[tuple(a)] <= depth[tuple(b)]
        out[tuple(a)] |= diff & a_near
        out[tuple(b)] |= diff & ~a_near
    return out


def render_comics(scene: sc.Scene, camera: sc.Camera, buf: sc.SceneBuffers, style: ComicStyle,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Comics render: flat colours, cel shadow, screentone, black ink outlines.

    Args:
        scene: the world.
        camera: the camera the buffers were rasterised with.
        buf: the rasterised buffers.
        style: the page's drawing style.
        origin: (x, y) of the panel on the page (aligns the screentone grid).

    Returns:
        RGB uint8 (H, W, 3); ink pixels are exactly (0, 0, 0).
    """
    index, colors, _, tones = _lookup(scene, buf)
    grey = colors.mean(axis=1, keepdims=True)
    flat = np.clip(grey + (colors - grey) * style.saturation, 0.0, 1.0)
    # Comics skies are pale: mix the sky colour with paper.
    flat[-1] = 0.5 * flat[-1] + 0.5 * np.array(style.paper, np.float32) / 255.0
    col = flat[index]
    light = np.array(scene.light, np.float32)
    lambert = buf.normal @ light
    bulged = np.zeros(len(buf.parts) + 2, bool)
    bulged[: len(buf.parts)] = [p.part.bulge > 0 for p in buf.parts]
    shadow = bulged[index] & (lambert < 0.45)
    shape = index.shape
    if style.shadow_tone:
        dots = halftone(shape, origin, style.tone_period, 0.35)
        col[shadow & dots] *= 0.45
    else:
        col[shadow] *= 0.72
    toned = tones[index]
    if style.fill != "colour":
        sky = index == len(buf.parts) + 1
        value = np.where(shadow, 0.6, 1.0) * np.where(toned, 0.8, 1.0) * flat.mean(axis=1)[index]
        img = _print_fill(value, sky, style, origin)
    else:
        if toned.any():
            dots = halftone(shape, origin, style.tone_period, 0.22)
            col[toned & dots] *= 0.55
        img = (col * 255.0).round().astype(np.uint8)
    object_map = np.where(buf.part_id >= 0, 0, buf.part_id)
    if buf.parts:
        obj_of_part = np.array([p.object_index for p in buf.parts], np.int32)
        object_map = np.where(buf.part_id >= 0, obj_of_part[np.maximum(buf.part_id, 0)], buf.part_id)
    silhouettes = _ink_lines(_edges(object_map, buf.depth), buf.depth, style)
    inner = _edges(buf.part_id, buf.depth)
    # Depth steps inside one object (an arm in front of the torso) also get ink.
    dz = np.zeros(shape, bool)
    dz[:, 1:] |= np.abs(np.diff(buf.depth, axis=1)) > 0.06
    dz[1:, :] |= np.abs(np.diff(buf.depth, axis=0)) > 0.06
    dz &= buf.part_id >= 0
    img[silhouettes | inner | dz] = INK
    return img


def _ink_lines(edges: np.ndarray, depth: np.ndarray, style: ComicStyle) -> np.ndarray:
    """Silhouette ink ``style.line_px`` wide; with ``line_by_depth`` one pixel heavier within 3 m
    and one pixel wide beyond 8 m, as inkers weight near contours."""
    def widen(mask: np.ndarray, width: int) -> np.ndarray:
        if width <= 1:
            return mask
        return cv2.dilate(mask.astype(np.uint8), np.ones((width, width), np.uint8)) > 0

    if not style.line_by_depth:
        return widen(edges, style.line_px)
    near, far = edges & (depth < 3.0), edges & (depth > 8.0)
    return widen(near, style.line_px + 1) | widen(edges & ~near & ~far, style.line_px) | far


def hatching(shape: tuple[int, int], origin: tuple[int, int], angle: float, period: float) -> np.ndarray:
    """Boolean parallel lines at ``angle`` degrees, ``period`` px apart and about 1 px wide,
    aligned to the page (``origin``: the array's (x, y) on it) like :func:`halftone`."""
    xs, ys = _page_coords(shape, origin)
    t = math.radians(angle)
    along = xs * math.sin(t) - ys * math.cos(t)
    return np.mod(along, period) < 1.0


def _print_fill(value: np.ndarray, sky: np.ndarray, style: ComicStyle, origin: tuple[int, int]) -> np.ndarray:
    """Fills of a ``line`` or ``limited`` print from each pixel's value (0 dark – 1 light).

    ``line``: paper above 0.5, hatching down to 0.32, cross-hatching down to 0.16, solid ink
    below (line art leaves most surfaces white); ``limited``: paper above 0.62, the tint in
    print dots down to 0.42, the full tint down to 0.22, ink. Skies stay paper.
    """
    paper = np.array(style.paper, np.float32)
    out = np.broadcast_to(paper, value.shape + (3,)).copy()
    light, middle, low = (0.5, 0.32, 0.16) if style.fill == "line" else (0.62, 0.42, 0.22)
    lit = sky | (value >= light)
    mid = ~lit & (value >= middle)
    dark = ~lit & ~mid & (value >= low)
    black = ~lit & ~mid & ~dark
    if style.fill == "line":
        lines = hatching(value.shape, origin, style.hatch_angle, style.hatch_period)
        cross = lines | hatching(value.shape, origin, style.hatch_angle + 90.0, style.hatch_period)
        out[(mid & lines) | (dark & cross) | black] = INK
    else:
        tint = np.array(style.tint, np.float32)
        dots = halftone(value.shape, origin, style.tone_period, 0.35)
        out[(mid & dots) | dark] = tint
        out[black] = INK
    return out.round().astype(np.uint8)


def print_effects(img: np.ndarray, style: ComicStyle, rng: np.random.Generator) -> np.ndarray:
    """What printing, ageing and scanning did to a panel: shifted colour plates, paper grain,
    JPEG artefacts (each as ``style`` says; a plain style returns ``img`` unchanged, drawing nothing)."""
    if not (style.misregister or style.grain or style.jpeg_quality):
        return img
    out = img
    if style.misregister:
        out = out.copy()
        out[..., 0] = np.roll(out[..., 0], style.misregister, axis=1)
        out[..., 2] = np.roll(out[..., 2], style.misregister, axis=0)
    if style.grain:
        noise = np.random.default_rng(int(rng.integers(2**31))).normal(0.0, style.grain, out.shape[:2])
        out = np.clip(out.astype(np.float32) + noise[..., None], 0, 255).round().astype(np.uint8)
    if style.jpeg_quality:
        ok, encoded = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality])
        out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else out
    return out


# ---------------------------------------------------------------------------------------------
# Lettering


@dataclass
class Lettering:
    """Text drawn on a panel, in panel coordinates.

    Attributes:
        mask: bool (H, W) text area (balloons, captions, sound-effect strokes).
        balloons: polygons (N, 2) of balloons and caption boxes.
        lines: polygons (4, 2) of text-line boxes.
    """

    mask: np.ndarray
    balloons: list[np.ndarray] = field(default_factory=list)
    lines: list[np.ndarray] = field(default_factory=list)


def _scale_for(style: ComicStyle, px: float) -> float:
    (_, h), _ = cv2.getTextSize("H", style.font, 1.0, 1)
    return px / max(h, 1)


def _text_block(rng: np.random.Generator, n_lines: int) -> list[str]:
    return ["  ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), int(rng.integers(1, 4)))) +
            ("" if rng.random() < 0.6 else ("!" if rng.random() < 0.5 else "?")) for _ in range(n_lines)]


def _put_lines(img: np.ndarray, lines: list[str], center: tuple[float, float], style: ComicStyle, scale: float,
               line_h: float) -> list[np.ndarray]:
    """Draw centred lines of text; returns their boxes as (4, 2) polygons."""
    boxes = []
    top = center[1] - line_h * len(lines) / 2.0
    for k, text in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(text, style.font, scale, 1)
        x = int(round(center[0] - tw / 2.0))
        y = int(round(top + line_h * (k + 0.5) + th / 2.0))
        cv2.putText(img, text, (x, y), style.font, scale, INK, 1, cv2.LINE_AA)
        boxes.append(np.array([[x - 1, y - th - 1], [x + tw + 1, y - th - 1], [x + tw + 1, y + 2], [x - 1, y + 2]]))
    return boxes


def _balloon_shape(shape: tuple[int, int], center: tuple[float, float], axes: tuple[float, float],
                   tail_to: tuple[float, float] | None) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    c = (int(round(center[0])), int(round(center[1])))
    cv2.ellipse(mask, c, (int(round(axes[0])), int(round(axes[1]))), 0, 0, 360, 1, -1)
    if tail_to is not None:
        ang = math.atan2(tail_to[1] - center[1], tail_to[0] - center[0])
        base = []
        for d in (-0.25, 0.25):
            base.append((center[0] + 0.8 * axes[0] * math.cos(ang + d), center[1] + 0.8 * axes[1] * math.sin(ang + d)))
        pts = np.array(base + [tail_to], np.float64)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((2 * width + 1, 2 * width + 1), np.uint8), borderValue=0)
    return mask & (eroded == 0)


def _polygon_of(mask: np.ndarray) -> np.ndarray | None:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 0.8, True).reshape(-1, 2)
    return c if len(c) >= 3 else None


def letter_panel(img: np.ndarray, rng: np.random.Generator, style: ComicStyle, avoid: np.ndarray,
                 heads: list[tuple[float, float]], inset: int) -> Lettering:
    """Draw balloons (with tails and lettering), a caption and sound effects onto a panel.

    Args:
        img: the panel's comics render, drawn on in place.
        rng: the random generator.
        style: the page's style.
        avoid: bool (H, W) pixels balloons should not cover (figures).
        heads: (x, y) of visible heads (balloon tails point at one of them).
        inset: frame width (nothing is drawn on the frame).

    Returns:
        The text mask and the balloon and line polygons, panel coordinates.
    """
    h, w = img.shape[:2]
    out = Lettering(np.zeros((h, w), bool))
    scale = _scale_for(style, style.font_px)
    line_h = style.font_px * 1.6
    (space_w, _), _ = cv2.getTextSize("M", style.font, scale, 1)
    n_balloons = int(rng.choice([0, 1, 1, 2])) if heads else int(rng.choice([0, 1]))
    for _ in range(n_balloons):
        for n_lines in (int(rng.integers(1, 4)), 1):
            lines = _text_block(rng, n_lines)
            tw = max(cv2.getTextSize(t, style.font, scale, 1)[0][0] for t in lines)
            ax, ay = tw / 2.0 * 1.3 + space_w * 0.6, line_h * n_lines / 2.0 * 1.35 + 2.0
            if ax < 0.47 * w - inset and ay < 0.3 * h:
                break
        else:
            continue
        best, best_score = None, None
        for _ in range(10):
            cx = rng.uniform(inset + ax + 1, w - inset - ax - 1)
            cy = rng.uniform(inset + ay + 1, max(inset + ay + 2, 0.55 * h))
            box = (slice(int(max(0, cy - ay)), int(cy + ay) + 1), slice(int(max(0, cx - ax)), int(cx + ax) + 1))
            score = avoid[box].mean() + 10.0 * out.mask[box].mean()
            if best_score is None or score < best_score:
                best, best_score = (cx, cy), score
        if best_score is None or best_score > 5.0:
            continue
        cx, cy = best
        tail = None
        if heads:
            hx, hy = heads[int(rng.integers(len(heads)))]
            d = math.hypot(hx - cx, hy - cy)
            if d > 1.3 * max(ax, ay):
                reach = min(d - 2.0, max(ax, ay) * 1.1 + style.font_px * 2.0)
                tail = (cx + (hx - cx) * reach / d, cy + (hy - cy) * reach / d)
                tail = (float(np.clip(tail[0], inset, w - inset - 1)), float(np.clip(tail[1], inset, h - inset - 1)))
        shape = _balloon_shape((h, w), (cx, cy), (ax, ay), tail)
        shape[:inset, :] = shape[h - inset:, :] = False
        shape[:, :inset] = shape[:, w - inset:] = False
        img[shape] = style.paper
        img[_outline(shape, 1 if style.line_px < 3 else 2)] = INK
        out.lines += _put_lines(img, lines, (cx, cy), style, scale, line_h)
        out.mask |= shape
        poly = _polygon_of(shape)
        if poly is not None:
            out.balloons.append(poly)
    if rng.random() < 0.3:  # caption box glued to the top-left or bottom-right corner of the frame
        text = _CAPTIONS[int(rng.integers(len(_CAPTIONS)))]
        (tw, th), _ = cv2.getTextSize(text, style.font, scale, 1)
        bw, bh = int(tw + space_w), int(line_h + 2)
        if bw < w - 2 * inset and bh < h // 4:
            x0, y0 = (inset, inset) if rng.random() < 0.6 else (w - inset - bw, h - inset - bh)
            box = np.zeros((h, w), bool)
            box[y0:y0 + bh, x0:x0 + bw] = True
            img[box] = (255, 240, 170)
            img[_outline(box, 1)] = INK
            out.lines += _put_lines(img, [text], (x0 + bw / 2.0, y0 + bh / 2.0), style, scale, line_h)
            out.mask |= box
            out.balloons.append(np.array([[x0, y0], [x0 + bw - 1, y0], [x0 + bw - 1, y0 + bh - 1], [x0, y0 + bh - 1]]))
    if rng.random() < 0.12:  # sound effect: big outlined letters straight on the picture
        text = _SFX[int(rng.integers(len(_SFX)))]
        big = scale * rng.uniform(2.0, 3.0)
        thick = max(2, int(round(big * 1.5)))
        (tw, th), _ = cv2.getTextSize(text, style.font, big, thick)
        if tw < w - 2 * inset - 4 and th < h / 3:
            x = int(rng.uniform(inset + 2, w - inset - tw - 2))
            y = int(rng.uniform(h * 0.5 + th, h - inset - 4))
            letters = np.zeros((h, w), np.uint8)
            cv2.putText(letters, text, (x, y), style.font, big, 1, thick, cv2.LINE_8)
            outlined = cv2.dilate(letters, np.ones((3, 3), np.uint8)) > 0
            fill = tuple(int(c) for c in rng.choice([[250, 60, 40], [250, 210, 30], [255, 140, 20]]))
            img[outlined] = INK
            img[letters > 0] = fill
            out.mask |= cv2.dilate(letters, np.ones((5, 5), np.uint8)) > 0
            out.lines.append(
                np.array([[x - 2, y - th - 2], [x + tw + 2, y - th - 2], [x + tw + 2, y + 4], [x - 2, y + 4]])
            )
    return out


# ---------------------------------------------------------------------------------------------
# Pages


def _split(rng: np.random.Generator, total: int, n: int, gap: int) -> list[tuple[int, int]]:
    """Split ``total`` pixels into ``n`` spans separated by ``gap`` (random proportions)."""
    weights = rng.uniform(0.7, 1.3, n)
    avail = total - gap * (n - 1)
    edges = np.round(np.concatenate([[0], np.cumsum(weights) / weights.sum()]) * avail).astype(int)
    return [(int(edges[i] + gap * i), int(edges[i + 1] - edges[i])) for i in range(n)]


def layout_panels(rng: np.random.Generator, width: int, height: int, n_panels: int, margin: int,
                  gutter: int) -> list[tuple[int, int, int, int]]:
    """Rectangular panels in rows (1–3 rows of 1–3 panels).

    Returns:
        Panel boxes (x, y, w, h) in page pixels, reading order.
    """
    n_rows = int(rng.integers(max(1, math.ceil(n_panels / 3)), min(3, n_panels) + 1))
    per_row = [1] * n_rows
    for _ in range(n_panels - n_rows):
        free = [i for i, k in enumerate(per_row) if k < 3]
        per_row[free[int(rng.integers(len(free)))]] += 1
    boxes = []
    for (y, h), k in zip(_split(rng, height - 2 * margin, n_rows, gutter), per_row):
        for x, w in _split(rng, width - 2 * margin, k, gutter):
            boxes.append((margin + x, margin + y, w, h))
    return boxes


@dataclass
class PanelRender:
    """One panel of a page: its scene, both renders and its labels, panel coordinates.

    Attributes:
        box: (x, y, w, h) on the page.
        scene: the world.
        camera: the camera.
        buffers: exact depth, part ids and normals.
        natural: natural render (H, W, 3).
        comics: comics render with lettering and frame (H, W, 3).
        lettering: text mask and balloon / line polygons.
        exclude: bool (H, W): pixels that belong to no segment (text, frame).
    """

    box: tuple[int, int, int, int]
    scene: sc.Scene
    camera: sc.Camera
    buffers: sc.SceneBuffers
    natural: np.ndarray
    comics: np.ndarray
    lettering: Lettering
    exclude: np.ndarray


@dataclass
class PageRender:
    """A comics page and its natural twin with dense depth and text mask (page pixels).

    ``depth`` is 0 (invalid) in margins and gutters.
    """

    comics: np.ndarray
    natural: np.ndarray
    depth: np.ndarray
    text_mask: np.ndarray
    panels: list[PanelRender]
    style: ComicStyle


def _heads(buf: sc.SceneBuffers) -> list[tuple[float, float]]:
    out = []
    for pid, ref in enumerate(buf.parts):
        if ref.part.name == "head":
            ys, xs = np.nonzero(buf.part_id == pid)
            if len(xs) > 4:
                out.append((float(xs.mean()), float(ys.min())))
    return out


def render_panel(rng: np.random.Generator, box: tuple[int, int, int, int], style: ComicStyle,
                 lettering: bool = True, natural: bool = True, world: sc.World = sc.World()) -> PanelRender:
    """Sample a scene of ``world`` for a panel box and render it both ways, with lettering and frame.

    With ``natural=False`` the natural twin is left white (saves time for page-only sets).
    """
    x, y, w, h = box
    camera = sc.sample_camera(rng, w, h, world)
    scene = sc.sample_scene(rng, camera, world=world)
    buf = sc.rasterize(scene, camera)
    if natural:
        nat = render_natural(scene, camera, buf, rng)
    else:
        nat = np.full((h, w, 3), 255, np.uint8)
    comics = render_comics(scene, camera, buf, style, origin=(x, y))
    t = style.frame_px
    if lettering:
        is_char = np.zeros(len(buf.parts) + 2, bool)
        is_char[: len(buf.parts)] = [scene.objects[p.object_index].category_id == sc.CHARACTER for p in buf.parts]
        avoid = is_char[np.where(buf.part_id >= 0, buf.part_id, len(buf.parts))]
        text = letter_panel(comics, rng, style, avoid, _heads(buf), t)
    else:
        text = Lettering(np.zeros((h, w), bool))
    frame = np.zeros((h, w), bool)
    frame[:t, :] = frame[h - t:, :] = True
    frame[:, :t] = frame[:, w - t:] = True
    comics[frame] = INK
    comics = print_effects(comics, style, rng)
    return PanelRender(box, scene, camera, buf, nat, comics, text, text.mask | frame)


def render_page(rng: np.random.Generator, width: int, height: int, n_panels: tuple[int, int] = (2, 6),
                lettering: bool = True, natural: bool = True, world: sc.World = sc.World()) -> PageRender:
    """A multi-panel comics page and its natural twin.

    Args:
        rng: the random generator (the only source of randomness).
        width: page width in pixels.
        height: page height in pixels.
        n_panels: inclusive range of the panel count.
        lettering: draw balloons, captions and sound effects.
        natural: render the natural twin (white when False).
        world: what the panels' scenes may show (:data:`comicdepth_tf.data.scene.WORLDS`).

    Returns:
        The page renders, dense depth, text mask and per-panel details.
    """
    style = sample_style(rng, width, world)
    margin = int(round(width * rng.uniform(0.03, 0.05)))
    gutter = int(max(3, round(width * rng.uniform(0.015, 0.03))))
    boxes = layout_panels(rng, width, height, int(rng.integers(n_panels[0], n_panels[1] + 1)), margin, gutter)
    comics = np.empty((height, width, 3), np.uint8)
    comics[:] = style.paper
    natural_page = np.full((height, width, 3), 255, np.uint8)
    depth = np.zeros((height, width), np.float32)
    text_mask = np.zeros((height, width), bool)
    panels = []
    for box in boxes:
        panel = render_panel(rng, box, style, lettering, natural, world)
        x, y, w, h = box
        comics[y:y + h, x:x + w] = panel.comics
        natural_page[y:y + h, x:x + w] = panel.natural
        depth[y:y + h, x:x + w] = panel.buffers.depth
        text_mask[y:y + h, x:x + w] = panel.lettering.mask
        panels.append(panel)
    return PageRender(comics, natural_page, depth, text_mask, panels, style)
