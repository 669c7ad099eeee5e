"""Procedural 3D toy scenes with exact depth: camera, ground, buildings, props, figures.

The world is a street seen by a pinhole camera standing on a ground plane: sky (the far
plane, :data:`FAR_M` = 10 m), ground, a row of building façades at the back, props (trees,
lamp posts, crates) and 1–6 standing figures, each built of parts (legs, torso, head, arms,
hat). Parts are primitives placed in world metres (capsules, ellipses, rectangles,
polygons) at the depth of their object plus a small per-part offset; each primitive bulges
towards the camera by a few centimetres so its depth and shading vary smoothly across it.
:func:`rasterize` z-buffers every part into exact float32 depth (planar ``Z`` along the
optical axis, as in NYU Depth v2), a part-id map and surface normals.

Ordinal labels follow two rules that make them agree with the dense depth:

- objects are placed along the optical axis so that their depth intervals (reference
  depth plus the part offsets and bulges, see :attr:`SceneObject.extent`) never overlap,
  with a margin of :data:`MIN_GAP_M`; the object nearest to the camera has ``Interdepth`` 0;
- within an object, each part has a design ``level``; parts of different levels occupy
  disjoint depth intervals, so ``Intradepth`` (dense rank of the visible levels, 0 =
  nearest) agrees with each part's median depth.

Ground and sky are not objects: they have depth but no segment.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

#: Depth of the sky (far plane) in metres; every depth fits NYU's 8-bit v/255*10 encoding.
FAR_M = 10.0
#: Nearest allowed object reference depth.
NEAR_M = 1.2
#: Minimal free depth between the depth intervals of two objects.
MIN_GAP_M = 0.12
#: Figures and props are placed before this depth; buildings fill the rest up to BUILDINGS_MAX_M.
FOREGROUND_MAX_M = 7.0
BUILDINGS_MAX_M = 9.7

#: Part-id map values that are not parts.
SKY_ID = -2
GROUND_ID = -1

#: COCO categories of the embedded AI4VA set.
CATEGORIES = ({"id": 1, "name": "character"}, {"id": 2, "name": "object"}, {"id": 3, "name": "building"})
CHARACTER, OBJECT, BUILDING = 1, 2, 3

#: Surface materials: they select the natural texture (see render.py).
MATERIALS = ("plain", "cloth", "skin", "brick", "bark", "foliage", "wood", "metal", "glass", "roof")


@dataclass(frozen=True)
class Camera:
    """Pinhole camera standing on the ground and looking horizontally.

    Attributes:
        width: image width in pixels.
        height: image height in pixels.
        focal: focal length in pixels (square pixels).
        horizon: image row of the horizon (pixel coordinates, centres at +0.5).
        height_m: height of the optical centre above the ground, metres.
        x_m: lateral position of the camera, metres (NYU-style sequences pan it).
    """

    width: int
    height: int
    focal: float
    horizon: float
    height_m: float
    x_m: float = 0.0

    @property
    def cx(self) -> float:
        """Column of the principal point."""
        return self.width / 2.0

    def project(self, x: float, y: float, z: float) -> tuple[float, float]:
        """Image coordinates (column, row) of the world point (x lateral, y up, z depth)."""
        return self.cx + self.focal * (x - self.x_m) / z, self.horizon + self.focal * (self.height_m - y) / z

    def ground_depth(self) -> np.ndarray:
        """Depth of the ground plane per image row (float32, FAR_M above the horizon)."""
        dv = np.arange(self.height, dtype=np.float64) + 0.5 - self.horizon
        with np.errstate(divide="ignore"):
            z = np.where(dv > 0, self.focal * self.height_m / np.maximum(dv, 1e-9), FAR_M)
        return np.minimum(z, FAR_M).astype(np.float32)

    def moved(self, dx_m: float) -> "Camera":
        """The same camera shifted sideways by ``dx_m`` metres."""
        return Camera(self.width, self.height, self.focal, self.horizon, self.height_m, self.x_m + dx_m)


@dataclass(frozen=True)
class Part:
    """One primitive of an object, in world metres.

    Attributes:
        name: what the part is (``head``, ``torso``, ``wall``…).
        kind: ``capsule`` (two points and a radius), ``ellipse`` (centre, semi-axes, angle),
            ``rect`` (two corners) or ``poly`` (points).
        points: world (x, y) points: capsule ends, ellipse centre, rect corners, polygon.
        size: capsule radius or ellipse semi-axes (metres); unused otherwise.
        angle: ellipse rotation in degrees.
        dz: depth offset from the object's reference depth (negative = nearer).
        bulge: how far the part's centre comes towards the camera (metres).
        level: design depth level inside the object (smaller = nearer).
        color: flat RGB colour (0–255).
        material: index into :data:`MATERIALS`.
        tone: whether the comics render puts screentone on it.
    """

    name: str
    kind: str
    points: tuple[tuple[float, float], ...]
    size: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    dz: float = 0.0
    bulge: float = 0.0
    level: int = 0
    color: tuple[int, int, int] = (128, 128, 128)
    material: int = 0
    tone: bool = False


@dataclass
class SceneObject:
    """An object: parts around a reference point (x, z) on the ground.

    Attributes:
        kind: ``figure``, ``tree``, ``lamp``, ``crate`` or ``building``.
        category_id: COCO category (:data:`CHARACTER`, :data:`OBJECT`, :data:`BUILDING`).
        x: lateral position of the reference point, metres.
        z: reference depth, metres.
        parts: the object's parts (positions relative to the reference point).
    """

    kind: str
    category_id: int
    x: float
    z: float
    parts: list[Part] = field(default_factory=list)

    @property
    def extent(self) -> tuple[float, float]:
        """Depth interval of the object relative to ``z``: (nearest offset, farthest offset)."""
        return (min(p.dz - p.bulge for p in self.parts), max(p.dz for p in self.parts))


@dataclass
class Scene:
    """A world: objects plus the colours of sky and ground and the atmosphere.

    Attributes:
        objects: every object, nearest first.
        sky_color: RGB of the sky at the horizon.
        zenith_color: RGB of the sky at the top.
        ground_color: RGB of the ground.
        ground_material: index into :data:`MATERIALS`.
        light: unit vector towards the light (x right, y down, z towards the camera).
        haze_m: distance at which the haze reaches 63 % (natural render).
        ground_tone: whether the comics render puts screentone on the ground.
        haze_color: RGB the haze fades to (natural render); None: the sky's.
        ambient: the natural render's light where the sun does not reach (0.5 in the street world).
        falloff_m: when positive, a lamp near the camera lights the natural render: brightness
            falls with depth beyond this distance (night scenes); 0: daylight everywhere.
    """

    objects: list[SceneObject]
    sky_color: tuple[int, int, int]
    zenith_color: tuple[int, int, int]
    ground_color: tuple[int, int, int]
    ground_material: int
    light: tuple[float, float, float]
    haze_m: float
    ground_tone: bool = False
    haze_color: tuple[int, int, int] | None = None
    ambient: float = 0.5
    falloff_m: float = 0.0


@dataclass
class PartRef:
    """A rasterised part: where it comes from and what it looks like."""

    object_index: int
    part: Part
    z: float


@dataclass
class SceneBuffers:
    """Output of :func:`rasterize`.

    Attributes:
        depth: float32 (H, W) metres; sky = FAR_M.
        part_id: int32 (H, W): index into ``parts`` or SKY_ID / GROUND_ID.
        normal: float32 (H, W, 3) unit surface normals (x right, y down, z towards camera).
        parts: the rasterised parts in id order.
    """

    depth: np.ndarray
    part_id: np.ndarray
    normal: np.ndarray
    parts: list[PartRef]


# ---------------------------------------------------------------------------------------------
# Sampling


@dataclass(frozen=True)
class World:
    """What the embedded world may show beyond the eye-level street: each field is a probability.

    The street world (every field 0) is the world the project started from: a camera at eye
    height looking horizontally, so that nearer things stand lower in the frame. Each
    ingredient breaks that prior the way real comics panels do (see :data:`WORLDS`).

    Attributes:
        low_camera: a camera 0.35–1.1 m above the ground with the horizon low in (or below)
            the frame, as in a worm's-eye shot: nearer heads rise higher in the frame.
        high_camera: a camera 2.2–4 m high with the horizon high in (or above) the frame.
        close_up: the first figure stands 0.6–1.1 m away, cut by the panel border.
        hanging: each prop may be a hanging lamp or a shop sign, near and high in the frame.
        interior: a room: a floor and a back wall across the whole frame instead of buildings
            and sky, with furniture among the props.
        groups: each figure after the first may stand beside the previous one, overlapping it.
        shapes: each character may be drawn otherwise: cartoon proportions (a head up to
            twice as large) or a four-legged animal.
        styles: each page may be drawn and printed otherwise than in flat colours: line art
            with hatching, two-colour prints, yellowed paper, distance-weighted ink, shifted
            colour plates, grain, JPEG artefacts (:func:`comicdepth_tf.data.render.sample_print_look`).
        atmosphere: each scene's natural render may be lit otherwise than by hazy daylight: clear
            air, a dark dusk haze, or a lamp near the camera at night (:func:`sample_atmosphere`;
            night skies are dark in the comics render too).
            In hazy daylight alone brightness tells distance (pale things are far); these
            weaken that cue or reverse it, as real pages do not follow it.
    """

    low_camera: float = 0.0
    high_camera: float = 0.0
    close_up: float = 0.0
    hanging: float = 0.0
    interior: float = 0.0
    groups: float = 0.0
    shapes: float = 0.0
    styles: float = 0.0
    atmosphere: float = 0.0

    @property
    def is_street(self) -> bool:
        """Whether this is the original eye-level street world (no ingredient)."""
        return self == World()


#: Named worlds. ``street`` draws exactly the random numbers it always drew, so its datasets
#: stay byte-identical; ``rich`` turns every ingredient on; ``rich-no-<field>`` leaves one
#: out (an ablation), ``street+<field>`` adds one.
WORLDS: dict[str, World] = {
    "street": World(),
    "rich": World(low_camera=0.3, high_camera=0.15, close_up=0.25, hanging=0.35, interior=0.35, groups=0.5,
                  shapes=0.3, styles=0.6, atmosphere=0.75),
}
INGREDIENTS = tuple(f.name for f in dataclasses.fields(World))


def get_world(name: str | World) -> World:
    """A :class:`World` by name: ``street``, ``rich``, ``rich-no-<ingredient>`` or ``street+<ingredient>``.

    Changes chain: ``rich-no-styles-no-hanging`` leaves out two ingredients, ``street+styles+groups``
    adds two (at the rich world's rates).
    """
    if isinstance(name, World):
        return name
    if name in WORLDS:
        return WORLDS[name]
    for base, sep in (("rich", "-no-"), ("street", "+")):
        parts = name.split(sep)
        changes = [p.replace("-", "_") for p in parts[1:]]
        if parts[0] == base and changes and all(c in INGREDIENTS for c in changes):
            values = {c: 0.0 if base == "rich" else getattr(WORLDS["rich"], c) for c in changes}
            return dataclasses.replace(WORLDS[base], **values)
    raise ValueError(f"unknown world {name!r}; expected street, rich, rich-no-<ingredient>[-no-<ingredient>…] or "
                     f"street+<ingredient>[+<ingredient>…] with ingredients among {', '.join(INGREDIENTS)}")


def sample_camera(rng: np.random.Generator, width: int, height: int, world: World = World()) -> Camera:
    """A random camera for a ``width`` × ``height`` image.

    In the street world the camera stands at eye height with the horizon in the upper half.
    A shifted principal point (the horizon row) keeps the camera's axis horizontal, so depth
    stays exact for low and high cameras too.
    """
    # Tied to the panel's geometric mean size so tall and wide panels frame alike.
    focal = math.sqrt(width * height) * rng.uniform(0.75, 1.15)
    horizon, height_m = height * rng.uniform(0.28, 0.55), rng.uniform(1.2, 1.8)
    if not world.is_street:
        pick = rng.random()
        if pick < world.low_camera:
            horizon, height_m = height * rng.uniform(0.55, 1.15), rng.uniform(0.35, 1.1)
        elif pick < world.low_camera + world.high_camera:
            horizon, height_m = height * rng.uniform(-0.35, 0.3), rng.uniform(2.2, 4.0)
    return Camera(int(width), int(height), float(focal), float(horizon), float(height_m))


def _rgb(rng: np.random.Generator, palette: np.ndarray) -> tuple[int, int, int]:
    base = palette[rng.integers(len(palette))].astype(np.float64)
    jitter = rng.normal(0.0, 12.0, 3)
    return tuple(int(v) for v in np.clip(base + jitter, 0, 255))


_CLOTH = np.array([[200, 40, 40], [40, 80, 190], [230, 190, 40], [40, 140, 70], [120, 60, 150],
                   [230, 120, 30], [60, 60, 70], [240, 240, 235], [150, 90, 50], [30, 150, 160]])
_SKIN = np.array([[240, 200, 170], [210, 160, 120], [160, 110, 80], [110, 75, 55], [250, 215, 190]])
_WALL = np.array([[190, 170, 140], [170, 90, 70], [200, 200, 190], [140, 150, 160], [220, 190, 120],
                  [150, 120, 100], [180, 200, 210]])
_HAT = np.array([[40, 40, 40], [120, 60, 30], [200, 30, 30], [30, 30, 110]])


def make_figure(rng: np.random.Generator, head_scale: float = 1.0) -> SceneObject:
    """A standing figure: legs, torso, head, two arms and sometimes a hat.

    Levels (nearest first): 0 front arm, 1 head and hat, 2 torso and legs, 3 back arm. With
    the arms down both arms join level 2. The offsets keep the levels' depth intervals
    disjoint (see the module docstring).

    Args:
        rng: the random generator.
        head_scale: head size against a person's (cartoon figures: up to 2), resting on the
            same shoulders.
    """
    h = rng.uniform(1.55, 1.9) if rng.random() > 0.15 else rng.uniform(1.05, 1.3)
    facing = 1.0 if rng.random() < 0.5 else -1.0
    width = rng.uniform(0.85, 1.2)
    shirt, trousers, skin = _rgb(rng, _CLOTH), _rgb(rng, _CLOTH), _rgb(rng, _SKIN)
    hip_y, shoulder_y, head_y = 0.50 * h, 0.80 * h, (0.845 + 0.07 * head_scale) * h
    spread = rng.uniform(0.0, 0.09) * h
    tone_shirt = bool(rng.random() < 0.3)
    parts = [
        Part("leg", "capsule", ((-0.05 * h, hip_y), (-0.05 * h - spread, 0.035 * h)), (0.04 * h * width, 0),
             dz=-0.02, bulge=0.04, level=2, color=trousers, material=1),
        Part("leg", "capsule", ((0.05 * h, hip_y), (0.05 * h + spread, 0.035 * h)), (0.04 * h * width, 0),
             dz=-0.02, bulge=0.04, level=2, color=trousers, material=1),
        Part("torso", "capsule", ((0.0, hip_y + 0.05 * h), (0.0, shoulder_y - 0.04 * h)), (0.1 * h * width, 0),
             dz=0.0, bulge=0.11, level=2, color=shirt, material=1, tone=tone_shirt),
        Part("head", "ellipse", ((0.0, head_y),), (0.058 * h * head_scale, 0.07 * h * head_scale), dz=-0.14,
             bulge=0.09, level=1, color=skin, material=2),
    ]
    if rng.random() < 0.3:
        parts.append(Part("hat", "ellipse", ((0.0, head_y + 0.06 * h * head_scale),),
                          (0.075 * h * head_scale, 0.028 * h * head_scale), dz=-0.15, bulge=0.0, level=1,
                          color=_rgb(rng, _HAT), material=1))
    arm_len, shoulder_x = 0.36 * h, 0.105 * h * width
    arms_down = rng.random() < 0.3
    for side, front in ((facing, True), (-facing, False)):
        if arms_down:
            angle, dz, bulge, level = rng.uniform(4, 14), -0.02, 0.04, 2
        elif front:
            angle, dz, bulge, level = rng.uniform(20, 150), -0.30, 0.05, 0
        else:
            angle, dz, bulge, level = rng.uniform(5, 45), 0.14, 0.04, 3
        a = math.radians(angle)
        start = (side * shoulder_x, shoulder_y - 0.02 * h)
        end = (start[0] + side * arm_len * math.sin(a), start[1] - arm_len * math.cos(a))
        parts.append(Part("arm", "capsule", (start, end), (0.03 * h, 0), dz=dz, bulge=bulge, level=level,
                          color=shirt, material=1, tone=tone_shirt))
    return SceneObject("figure", CHARACTER, 0.0, 0.0, parts)


def make_prop(rng: np.random.Generator) -> SceneObject:
    """A tree (crown nearer than trunk), a lamp post (one level) or a crate (top behind front)."""
    kind = ("tree", "lamp", "crate")[int(rng.integers(3))]
    if kind == "tree":
        trunk_h, crown = rng.uniform(1.4, 2.4), rng.uniform(0.7, 1.2)
        parts = [
            Part("trunk", "capsule", ((0.0, 0.0), (0.0, trunk_h + 0.3)), (0.11, 0), dz=0.0, bulge=0.08, level=1,
                 color=_rgb(rng, np.array([[110, 75, 45], [90, 60, 40]])), material=4),
            Part("crown", "ellipse", ((0.0, trunk_h + 0.7 * crown),), (crown, 1.1 * crown), dz=-0.15, bulge=0.3,
                 level=0, color=_rgb(rng, np.array([[60, 140, 60], [40, 110, 50], [90, 150, 50]])), material=5,
                 tone=bool(rng.random() < 0.4)),
        ]
    elif kind == "lamp":
        pole_h = rng.uniform(2.6, 3.6)
        metal = _rgb(rng, np.array([[50, 55, 60], [30, 60, 40]]))
        parts = [
            Part("pole", "capsule", ((0.0, 0.0), (0.0, pole_h)), (0.05, 0), dz=0.0, bulge=0.04, level=0,
                 color=metal, material=7),
            Part("lamp", "ellipse", ((0.0, pole_h + 0.15),), (0.16, 0.22), dz=0.0, bulge=0.1, level=0,
                 color=(250, 230, 150), material=8),
        ]
    else:
        w, hgt = rng.uniform(0.5, 1.1), rng.uniform(0.4, 0.9)
        wood = _rgb(rng, np.array([[170, 120, 70], [140, 100, 60], [190, 150, 90]]))
        shear = 0.12 * (1 if rng.random() < 0.5 else -1)
        parts = [
            Part(
                "front",
                "rect",
                ((-w / 2, 0.0), (w / 2, hgt)),
                dz=0.0,
                level=0,
                color=wood,
                material=6,
                tone=bool(rng.random() < 0.4),
            ),
            Part(
                "top",
                "poly",
                ((-w / 2, hgt), (w / 2, hgt), (w / 2 + shear, hgt + 0.16), (-w / 2 + shear, hgt + 0.16)),
                dz=0.25,
                level=1,
                color=tuple(int(min(255, c * 1.2)) for c in wood),
                material=6,
            ),
        ]
    return SceneObject(kind, OBJECT, 0.0, 0.0, parts)


def make_animal(rng: np.random.Generator) -> SceneObject:
    """A four-legged animal (a dog to a horse) seen from the side, a character.

    Levels (nearest first): 0 head and near legs, 1 body, 2 far legs.
    """
    size = rng.uniform(0.45, 1.6)  # shoulder height, metres
    facing = 1.0 if rng.random() < 0.5 else -1.0
    fur = _rgb(rng, np.array([[120, 80, 40], [60, 50, 45], [200, 170, 120], [230, 225, 215], [150, 110, 70]]))
    body_y, half = 0.75 * size, 0.6 * size
    parts = [Part("body", "ellipse", ((0.0, body_y),), (half, 0.28 * size), dz=0.0, bulge=0.12 * size, level=1,
                  color=fur, material=1)]
    for x in (-0.7 * half, 0.7 * half):
        for near in (True, False):
            dx = 0.08 * size * (1 if near else -1)
            parts.append(Part("leg", "capsule", ((x + dx, body_y), (x + dx, 0.03 * size)), (0.07 * size, 0),
                              dz=-0.15 * size if near else 0.1 * size, bulge=0.02, level=0 if near else 2,
                              color=fur, material=1))
    head = (facing * 1.1 * half, body_y + 0.35 * size)
    parts.append(Part("head", "ellipse", (head,), (0.22 * size, 0.17 * size), angle=-20 * facing,
                      dz=-0.16 * size - 0.02, bulge=0.06 * size, level=0, color=fur, material=1))
    return SceneObject("animal", CHARACTER, 0.0, 0.0, parts)


def make_hanging(rng: np.random.Generator, interior: bool) -> SceneObject:
    """Something near that hangs high: a ceiling lamp indoors, a shop sign on a bracket outdoors."""
    metal = _rgb(rng, np.array([[50, 55, 60], [120, 90, 40]]))
    if interior:
        y, top = rng.uniform(1.9, 2.6), rng.uniform(2.8, 3.4)
        shade = rng.uniform(0.18, 0.35)
        parts = [
            Part("cord", "capsule", ((0.0, y + 0.1), (0.0, top)), (0.012, 0), dz=0.0, level=0, color=(40, 40, 40),
                 material=7),
            Part("shade", "poly", ((-0.3 * shade, y + 0.12), (0.3 * shade, y + 0.12), (shade, y - 0.1),
                                   (-shade, y - 0.1)), dz=0.0, level=0, color=metal, material=7),
        ]
        return SceneObject("hanging_lamp", OBJECT, 0.0, 0.0, parts)
    y, w = rng.uniform(2.3, 3.4), rng.uniform(0.6, 1.3)
    board = _rgb(rng, _WALL)
    parts = [
        Part("bracket", "capsule", ((-0.1, y + 0.45), (w + 0.1, y + 0.45)), (0.025, 0), dz=0.0, level=0,
             color=metal, material=7),
        Part("sign", "rect", ((0.0, y), (w, y + 0.4)), dz=0.0, level=0, color=board, material=6,
             tone=bool(rng.random() < 0.4)),
    ]
    return SceneObject("sign", OBJECT, 0.0, 0.0, parts)


def make_furniture(rng: np.random.Generator) -> SceneObject:
    """A table (top nearer than the legs behind it) or a chair (seat nearer than its back)."""
    wood = _rgb(rng, np.array([[150, 100, 60], [110, 70, 40], [190, 150, 100], [90, 90, 95]]))
    if rng.random() < 0.5:
        w, hgt = rng.uniform(0.8, 1.8), rng.uniform(0.7, 0.8)
        parts = [Part("top", "rect", ((-w / 2, hgt - 0.06), (w / 2, hgt)), dz=0.0, level=0, color=wood, material=6)]
        parts += [Part("leg", "rect", ((x - 0.03, 0.0), (x + 0.03, hgt - 0.06)), dz=0.3, level=1, color=wood,
                       material=6) for x in (-w / 2 + 0.08, w / 2 - 0.08)]
        return SceneObject("table", OBJECT, 0.0, 0.0, parts)
    seat = rng.uniform(0.42, 0.5)
    parts = [
        Part("seat", "rect", ((-0.22, seat - 0.05), (0.22, seat)), dz=0.0, level=0, color=wood, material=6),
        Part("leg", "rect", ((-0.2, 0.0), (-0.16, seat - 0.05)), dz=0.0, level=0, color=wood, material=6),
        Part("leg", "rect", ((0.16, 0.0), (0.2, seat - 0.05)), dz=0.0, level=0, color=wood, material=6),
        Part("back", "rect", ((-0.22, seat), (0.22, seat + rng.uniform(0.4, 0.55))), dz=0.35, level=1, color=wood,
             material=6),
    ]
    return SceneObject("chair", OBJECT, 0.0, 0.0, parts)


def make_room_wall(rng: np.random.Generator) -> SceneObject:
    """The back wall of a room across the whole view, with doors, windows and pictures in front of it."""
    wall = _rgb(rng, _WALL)
    tone = bool(rng.random() < 0.45)
    parts = [Part("wall", "rect", ((-40.0, 0.0), (40.0, 12.0)), dz=0.0, level=1, color=wall, material=0, tone=tone)]
    x = rng.uniform(-6.0, -3.0)
    while x < 6.0:
        kind = rng.integers(3)
        if kind == 0:
            parts.append(Part("door", "rect", ((x, 0.0), (x + 0.9, 2.1)), dz=-0.06, level=0,
                              color=_rgb(rng, np.array([[100, 60, 40], [60, 40, 30], [200, 200, 190]])), material=6))
        elif kind == 1:
            y0 = rng.uniform(0.9, 1.2)
            parts.append(Part("window", "rect", ((x, y0), (x + rng.uniform(0.7, 1.4), y0 + rng.uniform(0.8, 1.3))),
                              dz=-0.06, level=0, color=_rgb(rng, np.array([[150, 190, 220], [90, 110, 140]])),
                              material=8))
        else:
            y0 = rng.uniform(1.3, 1.7)
            parts.append(Part("picture", "rect", ((x, y0), (x + rng.uniform(0.4, 0.9), y0 + rng.uniform(0.3, 0.7))),
                              dz=-0.06, level=0, color=_rgb(rng, _CLOTH), material=0, tone=bool(rng.random() < 0.5)))
        x += rng.uniform(1.6, 3.2)
    return SceneObject("wall", BUILDING, 0.0, 0.0, parts)


def make_building(rng: np.random.Generator) -> SceneObject:
    """A façade: wall (and gable roof) at level 1, windows and door protruding at level 0."""
    w, hgt = rng.uniform(3.0, 8.0), rng.uniform(3.0, 9.0)
    wall = _rgb(rng, _WALL)
    glass = _rgb(rng, np.array([[60, 80, 110], [90, 110, 140], [40, 50, 70]]))
    tone = bool(rng.random() < 0.45)
    parts = [Part("wall", "rect", ((-w / 2, 0.0), (w / 2, hgt)), dz=0.0, level=1, color=wall, material=3, tone=tone)]
    if rng.random() < 0.5:
        parts.append(Part("roof", "poly", ((-w / 2 - 0.2, hgt), (w / 2 + 0.2, hgt), (0.0, hgt + rng.uniform(0.8, 2.0))),
                          dz=0.0, level=1, color=_rgb(rng, np.array([[150, 50, 40], [80, 80, 90]])), material=9))
    cols = max(1, int(w // 1.6))
    rows = max(1, int((hgt - 0.6) // 2.2))
    win_w, win_h = rng.uniform(0.6, 0.9), rng.uniform(0.8, 1.2)
    for r in range(rows):
        y0 = 1.0 + r * 2.2 + (0.0 if r == 0 else 0.3)
        if y0 + win_h > hgt - 0.2:
            break
        for c in range(cols):
            xc = -w / 2 + (c + 0.5) * w / cols
            if r == 0 and c == cols // 2 and rng.random() < 0.6:
                parts.append(Part("door", "rect", ((xc - 0.5, 0.0), (xc + 0.5, 2.1)), dz=-0.08, level=0,
                                  color=_rgb(rng, np.array([[100, 60, 40], [60, 40, 30]])), material=6))
                continue
            parts.append(Part("window", "rect", ((xc - win_w / 2, y0), (xc + win_w / 2, y0 + win_h)), dz=-0.08,
                              level=0, color=glass, material=8))
    return SceneObject("building", BUILDING, 0.0, 0.0, parts)


def _place_x(rng: np.random.Generator, camera: Camera, z: float, margin: float = 0.08) -> float:
    """A lateral position whose reference point projects inside the image."""
    u = rng.uniform(margin, 1.0 - margin) * camera.width
    return camera.x_m + (u - camera.cx) * z / camera.focal


def sample_scene(
    rng: np.random.Generator,
    camera: Camera,
    n_figures: tuple[int, int] = (1, 6),
    n_props: tuple[int, int] = (0, 3),
    n_buildings: tuple[int, int] = (1, 4),
    pan_m: float = 0.0,
    world: World = World(),
) -> Scene:
    """Sample a street scene (or, in a richer :class:`World`, sometimes a room) for ``camera``.

    Objects are stacked in depth: each object's interval starts at least
    :data:`MIN_GAP_M` behind the previous one's (see the module docstring). Figures and
    props are shuffled together (at least one figure comes among the first three);
    whatever does not fit before :data:`FOREGROUND_MAX_M` is dropped. Buildings follow, or
    in a room the back wall.

    Args:
        rng: the random generator (the only source of randomness).
        camera: the camera the objects are framed for.
        n_figures: inclusive range of figures (0 for a background-only scene).
        n_props: inclusive range of props.
        n_buildings: inclusive range of buildings.
        pan_m: how far the camera will pan (objects are spread over the panned view).
        world: which ingredients beyond the eye-level street the scene may draw on. The
            street world draws exactly the random numbers it always drew.

    Returns:
        The scene, objects sorted nearest first.
    """
    rich = not world.is_street
    interior = rich and rng.random() < world.interior
    figures = [_make_character(rng, world) for _ in range(int(rng.integers(n_figures[0], n_figures[1] + 1)))]
    props = [_make_prop(rng, world, interior) for _ in range(int(rng.integers(n_props[0], n_props[1] + 1)))]
    items = figures + props
    order = list(rng.permutation(len(items)))
    if figures:
        first_fig = next(i for i, k in enumerate(order) if k < len(figures))
        if first_fig > 2:
            order.insert(int(rng.integers(0, 3)), order.pop(first_fig))
    close_up = rich and bool(figures) and rng.random() < world.close_up
    if close_up:
        order.insert(0, order.pop(next(i for i, k in enumerate(order) if k < len(figures))))
    back_m = rng.uniform(3.5, 8.0) - 0.5 if interior else FOREGROUND_MAX_M
    placed: list[SceneObject] = []
    cursor = rng.uniform(NEAR_M, 3.5)
    if rich and camera.height_m > 1.8:
        # A high camera sees the ground only from some distance on: start where things show.
        cursor = max(cursor, 0.8 * camera.focal * (camera.height_m - 1.0) / max(camera.height - camera.horizon, 1.0))
    last_figure: SceneObject | None = None
    for k in order:
        obj = items[k]
        near, far = obj.extent
        cut_by_border = close_up and not placed
        if cut_by_border:
            z = rng.uniform(0.6, 1.1) - near
        else:
            z = max(cursor - near, NEAR_M) if not placed else cursor + MIN_GAP_M + rng.uniform(0.0, 0.9) - near
        if z + far > back_m:
            break
        obj.z = float(z)
        if cut_by_border:
            obj.x = float(_place_x(rng, camera, z, margin=0.25))  # near the middle of the frame
        elif rich and k < len(figures) and last_figure is not None and rng.random() < world.groups:
            obj.x = float(last_figure.x + rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.7))
        else:
            obj.x = float(_place_x(rng, camera, z) + rng.uniform(0, pan_m))
        if k < len(figures):
            last_figure = obj
        placed.append(obj)
        cursor = z + far
    if interior:
        wall = make_room_wall(rng)
        wall.z, wall.x = float(max(cursor + MIN_GAP_M + 0.06, back_m + 0.5)), float(camera.x_m)
        placed.append(wall)
    else:
        cursor = max(cursor + MIN_GAP_M, rng.uniform(5.5, 7.5))
        for _ in range(int(rng.integers(n_buildings[0], n_buildings[1] + 1))):
            obj = make_building(rng)
            near, far = obj.extent
            z = cursor + MIN_GAP_M + rng.uniform(0.1, 1.2) - near
            if z + far > BUILDINGS_MAX_M:
                break
            obj.z = float(z)
            obj.x = float(_place_x(rng, camera, z, margin=0.0) + rng.uniform(0, pan_m))
            placed.append(obj)
            cursor = z + far
    sky = _rgb(rng, np.array([[170, 205, 235], [200, 220, 240], [235, 200, 160], [190, 200, 215]]))
    zenith = tuple(int(c * 0.7) for c in sky[:2]) + (min(255, int(sky[2] * 1.0)),)
    ground = _rgb(rng, np.array([[150, 145, 135], [120, 150, 80], [170, 150, 110], [110, 110, 115]]))
    lx, ly = rng.uniform(-0.7, 0.7), rng.uniform(-0.8, -0.2)
    light = np.array([lx, ly, 0.8])
    light /= np.linalg.norm(light)
    ground_material = int(rng.choice([3, 5, 6, 0]))
    if interior:
        ground, ground_material = _rgb(rng, np.array([[150, 110, 70], [190, 170, 140], [120, 120, 125]])), 6
    scene = Scene(placed, sky, zenith, ground, ground_material, tuple(float(v) for v in light),
                  float(rng.uniform(9.0, 25.0)), bool(rng.random() < 0.4))
    # Drawn only in worlds that have the ingredient, so the others keep their random stream.
    if world.atmosphere > 0 and rng.random() < world.atmosphere:
        scene = sample_atmosphere(rng, scene)
    return scene


def sample_atmosphere(rng: np.random.Generator, scene: Scene) -> Scene:
    """The scene under other light than hazy daylight: clear air, a dark dusk haze or a lamp at night.

    Each is a third of the draws. Clear air keeps the colours at every distance; dusk fades far
    things towards a dark colour instead of a pale one (the cue weakens); at night brightness falls
    with depth from a lamp near the camera (near is bright, the cue reverses) under a dark sky. The
    night sky is the scene's sky colour, so the comics render of a night scene has a dark sky too;
    everything else the ingredient changes is the natural render's. Brightness-depth Spearman of the natural
    renders (sky left out, 120 scenes of 128 × 96): 0.558 in ``rich-no-styles-no-atmosphere``,
    0.44 in clear air (pale walls, darker clothes), 0.31 at dusk, −0.26 at night.
    """
    kind = int(rng.integers(3))
    if kind == 0:
        return dataclasses.replace(scene, haze_m=float(rng.uniform(80.0, 300.0)), ambient=float(rng.uniform(0.3, 0.6)))
    dark = _rgb(rng, np.array([[70, 70, 95], [95, 80, 90], [55, 65, 75]] if kind == 1 else
                               [[20, 25, 45], [35, 35, 45], [25, 30, 30]]))
    if kind == 1:
        return dataclasses.replace(scene, haze_color=dark, haze_m=float(rng.uniform(8.0, 25.0)),
                                   ambient=float(rng.uniform(0.3, 0.5)))
    sky = tuple(int(c * 1.6) for c in dark)
    return dataclasses.replace(scene, haze_color=dark, haze_m=float(rng.uniform(15.0, 60.0)), sky_color=sky,
                               zenith_color=dark, ambient=float(rng.uniform(0.3, 0.5)),
                               falloff_m=float(rng.uniform(1.5, 4.0)))


def _make_character(rng: np.random.Generator, world: World) -> SceneObject:
    """A person; in a world with other ``shapes``, sometimes a cartoon figure or an animal."""
    if world.is_street or rng.random() >= world.shapes:
        return make_figure(rng)
    return make_animal(rng) if rng.random() < 0.4 else make_figure(rng, head_scale=rng.uniform(1.3, 2.0))


def _make_prop(rng: np.random.Generator, world: World, interior: bool) -> SceneObject:
    """A street prop; in a richer world sometimes something hanging, and furniture in a room."""
    if not world.is_street:
        if rng.random() < world.hanging:
            return make_hanging(rng, interior)
        if interior and rng.random() < 0.6:
            return make_furniture(rng)
    return make_prop(rng)


# ---------------------------------------------------------------------------------------------
# Rasterisation


def _bbox(us: np.ndarray, vs: np.ndarray, pad: float, w: int, h: int) -> tuple[int, int, int, int] | None:
    x0, x1 = int(max(0, math.floor(us.min() - pad))), int(min(w, math.ceil(us.max() + pad) + 1))
    y0, y1 = int(max(0, math.floor(vs.min() - pad))), int(min(h, math.ceil(vs.max() + pad) + 1))
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _part_field(part: Part, obj: SceneObject, camera: Camera):
    """Rasterise one part: bbox, mask, depth and normal inside the bbox (or None when off-screen)."""
    z = obj.z + part.dz
    s = camera.focal / z
    pts = np.array([camera.project(obj.x + px, py, z) for px, py in part.points], dtype=np.float64)
    w, h = camera.width, camera.height
    if part.kind == "capsule":
        r = part.size[0] * s
        box = _bbox(pts[:, 0], pts[:, 1], r, w, h)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        uu, vv = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        (ax, ay), (bx, by) = pts
        dx, dy = bx - ax, by - ay
        t = np.clip(((uu - ax) * dx + (vv - ay) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
        ox, oy = (uu - ax - t * dx) / r, (vv - ay - t * dy) / r
        rr = ox * ox + oy * oy
    elif part.kind == "ellipse":
        a, b = part.size[0] * s, part.size[1] * s
        pad = max(a, b)
        box = _bbox(pts[:, 0], pts[:, 1], pad, w, h)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        uu, vv = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        c, sn = math.cos(math.radians(part.angle)), math.sin(math.radians(part.angle))
        du, dv = uu - pts[0, 0], vv - pts[0, 1]
        ex, ey = (du * c + dv * sn) / a, (-du * sn + dv * c) / b
        rr = ex * ex + ey * ey
        ox, oy = ex * c - ey * sn, ex * sn + ey * c
    else:
        box = _bbox(pts[:, 0], pts[:, 1], 0.0, w, h)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        local = np.zeros((y1 - y0, x1 - x0), np.uint8)
        poly = pts if part.kind == "poly" else np.array(
            [pts[0], [pts[1, 0], pts[0, 1]], pts[1], [pts[0, 0], pts[1, 1]]])
        # Sub-pixel precision: shift=4 means coordinates in 1/16 px; the -0.5 maps centres to integers.
        fixed = np.round((poly - [x0 + 0.5, y0 + 0.5]) * 16).astype(np.int32)
        cv2.fillPoly(local, [fixed], 1, lineType=cv2.LINE_8, shift=4)
        mask = local.astype(bool)
        depth = np.full(mask.shape, z, np.float32)
        normal = np.zeros(mask.shape + (3,), np.float32)
        normal[..., 2] = 1.0
        return box, mask, depth, normal
    mask = rr <= 1.0
    hgt = np.sqrt(np.clip(1.0 - rr, 0.0, 1.0))
    depth = (z - part.bulge * hgt).astype(np.float32)
    normal = np.stack([ox, oy, hgt * 1.2], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-9
    return box, mask, depth, normal.astype(np.float32)


def rasterize(scene: Scene, camera: Camera) -> SceneBuffers:
    """Z-buffer the scene seen by ``camera`` into exact depth, part ids and normals.

    Args:
        scene: the world.
        camera: the camera.

    Returns:
        The buffers; ``parts[i]`` describes part id ``i``.
    """
    h, w = camera.height, camera.width
    ground = camera.ground_depth()
    depth = np.repeat(ground[:, None], w, axis=1)
    part_id = np.where(depth < FAR_M, GROUND_ID, SKY_ID).astype(np.int32)
    normal = np.zeros((h, w, 3), np.float32)
    normal[..., 1] = -1.0  # the ground faces up (y points down in image space)
    normal[part_id == SKY_ID] = (0.0, 0.0, 1.0)
    parts: list[PartRef] = []
    for oi, obj in enumerate(scene.objects):
        for part in obj.parts:
            res = _part_field(part, obj, camera)
            if res is None:
                continue
            (x0, y0, x1, y1), mask, pdepth, pnormal = res
            sub = depth[y0:y1, x0:x1]
            win = mask & (pdepth < sub)
            if not win.any():
                continue
            pid = len(parts)
            parts.append(PartRef(oi, part, obj.z + part.dz))
            sub[win] = pdepth[win]
            part_id[y0:y1, x0:x1][win] = pid
            normal[y0:y1, x0:x1][win] = pnormal[win]
    return SceneBuffers(depth, part_id, normal, parts)


# ---------------------------------------------------------------------------------------------
# Ordinal labels


def depth_ranks(objects: list[SceneObject], parts: list[PartRef], visible: list[int]) -> dict[int, tuple[int, int]]:
    """Interdepth and Intradepth of each visible part.

    Args:
        objects: the scene's objects.
        parts: the rasterised parts.
        visible: ids of the parts that keep a segment.

    Returns:
        part id -> (Interdepth, Intradepth): the rank of the part's object by reference
        depth among the objects with a visible part (0 = nearest), and the dense rank of the
        part's level among the visible levels of its object (0 = nearest).
    """
    by_object: dict[int, list[int]] = {}
    for pid in visible:
        by_object.setdefault(parts[pid].object_index, []).append(pid)
    ordered = sorted(by_object, key=lambda oi: objects[oi].z)
    ranks: dict[int, tuple[int, int]] = {}
    for inter, oi in enumerate(ordered):
        levels = sorted({parts[pid].part.level for pid in by_object[oi]})
        for pid in by_object[oi]:
            ranks[pid] = (inter, levels.index(parts[pid].part.level))
    return ranks
