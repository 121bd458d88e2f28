"""The indoor room scene: walls, floor and ceiling, furniture along the walls, pictures, a rug, moving toys.

The room is an axis-aligned box (floor y = 0) seen from inside. Furniture (bookshelves, cabinets with things
on top, sofas, tables, stacks of boxes, plants) stands along the walls within about a metre of them; the
hand-held camera wanders in the free middle of the room, and one to three boxes ("toys") slide back and forth
across the free floor while spinning, as independently moving objects.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch

from vokit.data.synthetic import textures as tx
from vokit.data.synthetic.domain import Domain
from vokit.data.synthetic.path import handheld, handheld_positions
from vokit.data.synthetic.scene import EMIT_ALWAYS, EMIT_NONE, BoxBuilder, RoomShell, Scene
from vokit.data.synthetic.textures import Colour

TEXTURE_SIZE = 128
FPS = 30.0
DEFAULT_HEIGHT_M = 1.45
HFOV_DEG = 63.0

(
    M_FLOOR,
    M_WALL_A,
    M_WALL_B,
    M_CEILING,
    M_WOOD,
    M_FABRIC,
    M_BOOKS,
    M_PAINT0,
    M_PAINT1,
    M_PAINT2,
    M_CARDBOARD,
    M_METAL,
    M_RUG,
    M_DOOR,
    M_WINDOW,
    M_LAMP,
    M_TOY0,
    M_TOY1,
    M_FOLIAGE,
    M_POT,
) = range(20)


@dataclass(frozen=True)
class _Palette:
    floor_kind: str
    floor: Colour
    walls: tuple[tuple[Colour, Colour], ...]
    patterns: tuple[str, ...]
    wood: Colour
    fabric: tuple[Colour, ...]
    rug: tuple[Colour, Colour]


_FAMILIES = {
    "home": _Palette(
        floor_kind="planks",
        floor=(0.45, 0.28, 0.15),
        walls=(((0.8, 0.75, 0.62), (0.6, 0.45, 0.35)), ((0.55, 0.65, 0.6), (0.85, 0.85, 0.8))),
        patterns=("stripes", "plain", "dots", "diamonds"),
        wood=(0.5, 0.32, 0.18),
        fabric=((0.5, 0.15, 0.12), (0.2, 0.3, 0.5), (0.35, 0.45, 0.25), (0.55, 0.5, 0.42)),
        rug=((0.55, 0.12, 0.1), (0.8, 0.7, 0.45)),
    ),
    "office": _Palette(
        floor_kind="carpet",
        floor=(0.3, 0.33, 0.4),
        walls=(((0.82, 0.82, 0.8), (0.7, 0.7, 0.72)), ((0.6, 0.62, 0.65), (0.8, 0.8, 0.8))),
        patterns=("plain", "plain", "stripes"),
        wood=(0.62, 0.6, 0.55),
        fabric=((0.25, 0.25, 0.28), (0.15, 0.25, 0.45), (0.45, 0.45, 0.45)),
        rug=((0.2, 0.22, 0.3), (0.5, 0.52, 0.6)),
    ),
}


@functools.lru_cache(maxsize=4)
def _cached_room_materials(tex_seed: int, family: str) -> tuple[torch.Tensor, list[tuple[float, float]], list[int]]:
    """`room_materials` for a seed, cached: domains that share a texture family reuse the textures (read-only)."""
    return room_materials(np.random.default_rng(tex_seed), family)


def room_materials(rng: np.random.Generator, family: str) -> tuple[torch.Tensor, list[tuple[float, float]], list[int]]:
    """Textures ``(M, 4, S, S)``, default tile sizes (metres) and emission kinds of the room's materials."""
    if family not in _FAMILIES:
        raise ValueError(f"room: unknown texture family {family!r}; expected one of {sorted(_FAMILIES)}")
    pal = _FAMILIES[family]
    s = TEXTURE_SIZE
    floor = tx.planks(rng, s, pal.floor, 8, 24) if pal.floor_kind == "planks" else tx.weave(rng, s, pal.floor)
    walls = []
    for base, accent in pal.walls:
        pattern = pal.patterns[int(rng.integers(len(pal.patterns)))]
        walls.append(tx.wallpaper(rng, s, base, accent, pattern))
    fabric = pal.fabric[int(rng.integers(len(pal.fabric)))]
    window = tx.wallpaper(rng, s, (0.75, 0.85, 1.0), (0.35, 0.3, 0.25), "plain")
    window[3] = 1.0
    texs = [
        floor,
        walls[0],
        walls[1],
        tx.wallpaper(rng, s, (0.85, 0.85, 0.83), (0.8, 0.8, 0.78), "plain"),
        tx.planks(rng, s, pal.wood, 4, 12),
        tx.weave(rng, s, fabric),
        tx.books(rng, s),
        tx.painting(rng, s),
        tx.painting(rng, s),
        tx.painting(rng, s),
        tx.checker(rng, s, (0.55, 0.4, 0.25), (0.5, 0.36, 0.22), 2),
        tx.streaked(rng, s, (0.5, 0.5, 0.52), 20, 0.15),
        tx.wallpaper(rng, s, pal.rug[0], pal.rug[1], "diamonds"),
        tx.planks(rng, s, (0.55, 0.42, 0.3), 2, 10),
        window,
        tx.emissive(s, (1.0, 0.95, 0.85)),
        tx.checker(rng, s, (0.9, 0.2, 0.1), (0.95, 0.85, 0.2), 4),
        tx.checker(rng, s, (0.1, 0.3, 0.8), (0.9, 0.9, 0.9), 3),
        tx.foliage(rng, s, (0.1, 0.3, 0.08)),
        tx.streaked(rng, s, (0.6, 0.35, 0.25), 6, 0.1),
    ]
    tiles = [
        (1.6, 1.6),
        (1.0, 1.0),
        (1.0, 1.0),
        (2.0, 2.0),
        (1.0, 1.0),
        (0.5, 0.5),
        (1.0, 2.0),
        (1.0, 1.0),
        (1.0, 1.0),
        (1.0, 1.0),
        (0.6, 0.6),
        (0.5, 0.5),
        (2.0, 2.0),
        (0.9, 2.0),
        (1.0, 1.0),
        (1.0, 1.0),
        (0.4, 0.4),
        (0.4, 0.4),
        (0.6, 0.6),
        (0.4, 0.4),
    ]
    emit = [EMIT_NONE] * 14 + [EMIT_ALWAYS, EMIT_ALWAYS] + [EMIT_NONE] * 4
    if not len(texs) == len(tiles) == len(emit) == M_POT + 1:
        raise AssertionError("room material tables out of sync")
    return torch.from_numpy(np.stack(texs)), tiles, emit


def _wall_frame(wall: int, half_x: float, half_z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """Where a wall starts and runs: origin, direction along it, inward normal (all (x, z)), length, normal axis.

    Walls: 0 is the -z wall, 1 the +x wall, 2 the +z wall, 3 the -x wall. The normal axis is the box axis
    perpendicular to the wall (2 for the z walls, 0 for the x walls).
    """
    if wall == 0:
        return np.array([-half_x, -half_z]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), 2 * half_x, 2
    if wall == 1:
        return np.array([half_x, -half_z]), np.array([0.0, 1.0]), np.array([-1.0, 0.0]), 2 * half_z, 0
    if wall == 2:
        return np.array([half_x, half_z]), np.array([-1.0, 0.0]), np.array([0.0, -1.0]), 2 * half_x, 2
    return np.array([-half_x, half_z]), np.array([0.0, -1.0]), np.array([1.0, 0.0]), 2 * half_z, 0


def _axes_half(axis: int, along_half: float, depth_half: float, height_half: float) -> tuple[float, float, float]:
    """Half extents (x, y, z) of a box whose depth runs along ``axis`` (0 or 2)."""
    if axis == 2:
        return (along_half, height_half, depth_half)
    return (depth_half, height_half, along_half)


def _front(axis: int, front: int, other: int) -> tuple[int, int, int]:
    """Per-axis materials with ``front`` on the faces normal to ``axis``."""
    return (front, other, other) if axis == 0 else (other, other, front)


def _furnish_wall(builder: BoxBuilder, rng: np.random.Generator, wall: int, hx: float, hz: float, ceiling: float):
    """Furniture and pictures along one wall."""
    origin, along, inward, length, axis = _wall_frame(wall, hx, hz)
    busy: list[tuple[float, float, float]] = []  # (start, end, top height) along the wall
    margin = 1.0 if axis == 0 else 0.1  # the walls along z leave the corners to the walls along x
    p = margin + rng.uniform(0.0, 0.5)
    while p < length - margin - 0.6:
        kind = rng.choice(["shelf", "cabinet", "sofa", "table", "boxes", "plant", "gap"])
        w = min(rng.uniform(0.6, 2.0), length - margin - p)
        if kind == "gap" or w < 0.5:
            p += rng.uniform(0.3, 1.0)
            continue
        mid = origin + along * (p + w / 2)
        top = _add_item(builder, rng, str(kind), mid, inward, w, axis)
        busy.append((p, p + w, top))
        p += w + rng.uniform(0.05, 0.6)
    for _ in range(int(rng.integers(1, 4))):
        pw, ph = rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.9)
        ps = rng.uniform(0.3, length - 0.3 - pw)
        pz = rng.uniform(1.3, min(2.0, ceiling - 0.3 - ph / 2))
        if any(a < ps + pw and ps < b and top > pz - ph / 2 - 0.1 for a, b, top in busy):
            continue
        busy.append((ps, ps + pw, ceiling))
        mid = origin + along * (ps + pw / 2) + inward * 0.015
        mat = int(rng.choice([M_PAINT0, M_PAINT1, M_PAINT2]))
        tile = [(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]
        tile[axis] = (pw, ph)
        builder.add(
            (mid[0], -pz, mid[1]), _axes_half(axis, pw / 2, 0.015, ph / 2), _front(axis, mat, M_WOOD), tile_m=tile
        )


class _Placer:
    """Adds boxes standing against a wall: depth measured from the wall, height from the floor."""

    def __init__(self, builder: BoxBuilder, mid: np.ndarray, inward: np.ndarray, w: float, axis: int) -> None:
        self.builder, self.mid, self.inward, self.w, self.axis = builder, mid, inward, w, axis

    def __call__(
        self,
        depth: float,
        height: float,
        lift: float,
        mats: tuple[int, int, int],
        off: float = 0.0,
        along_half: float | None = None,
        tile: list[tuple[float, float]] | None = None,
    ) -> None:
        c = self.mid + self.inward * (0.02 + off + depth / 2)
        half = _axes_half(self.axis, self.w / 2 if along_half is None else along_half, depth / 2, height / 2)
        self.builder.add((c[0], -(lift + height / 2), c[1]), half, mats, tile_m=tile)


def _add_item(
    builder: BoxBuilder, rng: np.random.Generator, kind: str, mid: np.ndarray, inward: np.ndarray, w: float, axis: int
) -> float:
    """One piece of furniture of width ``w`` against a wall at ``mid``; returns its top height."""
    put = _Placer(builder, mid, inward, w, axis)
    if kind == "shelf":
        h = rng.uniform(1.6, 2.1)
        tile = [(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]
        tile[axis] = (w, h)
        put(0.4, h, 0.0, _front(axis, M_BOOKS, M_WOOD), tile=tile)
        return h
    if kind == "cabinet":
        h = rng.uniform(0.7, 1.0)
        put(0.5, h, 0.0, (M_WOOD, M_WOOD, M_WOOD))
        for _ in range(int(rng.integers(0, 3))):
            s = rng.uniform(0.15, 0.35)
            off = rng.uniform(-w / 2 + s, w / 2 - s) if w > 2 * s else 0.0
            c = mid + inward * (0.27) + np.array([inward[1], -inward[0]]) * off
            mat = int(rng.choice([M_CARDBOARD, M_METAL, M_POT, M_TOY1]))
            builder.add((c[0], -(h + s / 2), c[1]), (s / 2, s / 2, s / 2), mat, yaw=rng.uniform(0, np.pi))
        return h
    if kind == "sofa":
        put(0.85, 0.45, 0.0, (M_FABRIC, M_FABRIC, M_FABRIC))
        put(0.22, 0.45, 0.45, (M_FABRIC, M_FABRIC, M_FABRIC))
        return 0.9
    if kind == "table":
        h = rng.uniform(0.7, 0.78)
        put(0.75, 0.04, h - 0.04, (M_WOOD, M_WOOD, M_WOOD))
        for sx in (-1.0, 1.0):
            for sd in (0.05, 0.65):
                c = mid + inward * (0.02 + sd + 0.025) + np.array([inward[1], -inward[0]]) * sx * (w / 2 - 0.06)
                builder.add((c[0], -(h - 0.04) / 2, c[1]), (0.025, (h - 0.04) / 2, 0.025), M_METAL)
        return h
    if kind == "boxes":
        y = 0.0
        for _ in range(int(rng.integers(1, 4))):
            s = rng.uniform(0.3, 0.55)
            c = mid + inward * (0.05 + s / 2) + np.array([inward[1], -inward[0]]) * rng.uniform(-0.1, 0.1)
            builder.add((c[0], -(y + s / 2), c[1]), (s / 2, s / 2, s / 2), M_CARDBOARD, yaw=rng.uniform(-0.3, 0.3))
            y += s
        return y
    pot = rng.uniform(0.25, 0.4)
    put(pot, pot, 0.0, (M_POT, M_POT, M_POT), along_half=pot / 2)
    leaves = rng.uniform(0.4, 0.7)
    put(leaves, leaves * 1.4, pot, (M_FOLIAGE, M_FOLIAGE, M_FOLIAGE), off=(pot - leaves) / 2, along_half=leaves / 2)
    return pot + leaves * 1.4


def _toys(
    builder: BoxBuilder, rng: np.random.Generator, times: np.ndarray, hx: float, hz: float, cam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Moving objects: one to three spinning toys (a cube, sometimes with a smaller cube on top).

    Half of them slide on the floor, half fly like drones; each moves back and forth on a straight segment
    inside the furniture ring, and its bounding sphere keeps 0.3 m from every camera position.

    Returns:
        ``(F, D, 3)`` object origins (bottom centre) and ``(F, D)`` yaws.
    """
    centres, yaws = [], []
    for _toy in range(int(rng.integers(1, 4))):
        for _ in range(30):
            size = rng.uniform(0.25, 0.5)
            top = size * rng.uniform(0.4, 0.7) if rng.random() < 0.5 else 0.0
            lift = 0.0 if rng.random() < 0.5 else rng.uniform(0.4, 1.8)
            ends = rng.uniform(-1.0, 1.0, (2, 2)) * np.array([hx - 1.15 - size, hz - 1.15 - size])
            dist = float(np.linalg.norm(ends[1] - ends[0]))
            if dist < 1.0:
                continue
            speed = rng.uniform(0.3, 0.8)
            phase = (speed * times / dist + rng.uniform(0.0, 2.0)) % 2.0
            frac = np.where(phase < 1.0, phase, 2.0 - phase)
            xz = ends[0] + frac[:, None] * (ends[1] - ends[0])
            y = -0.011 - lift - (0.1 * np.sin(2.0 * np.pi * rng.uniform(0.2, 0.5) * times) + 0.1 if lift else 0.0)
            centre = np.stack([xz[:, 0], np.broadcast_to(y, times.shape), xz[:, 1]], -1)
            height = size + top
            radius = np.sqrt(size**2 / 2 + height**2 / 4)
            mid = centre - np.array([0.0, height / 2, 0.0])
            if (np.linalg.norm(cam - mid, axis=1) > radius + 0.3).all():
                break
        else:
            continue
        yaw = rng.uniform(0, np.pi) + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5) * times
        centres.append(centre)
        yaws.append(yaw)
        obj = len(centres) - 1
        builder.add((0.0, -size / 2, 0.0), (size / 2, size / 2, size / 2), int(rng.choice([M_TOY0, M_TOY1])), obj=obj)
        if top > 0:
            builder.add((0.0, -size - top / 2, 0.0), (top / 2, top / 2, top / 2), M_TOY1, yaw=0.7, obj=obj)
    if not centres:
        return np.zeros((len(times), 0, 3)), np.zeros((len(times), 0))
    return np.stack(centres, 1), np.stack(yaws, 1)


def build_room(seed: int, n_frames: int, domain: Domain) -> Scene:
    """Build the room scene of ``seed`` for a sequence of ``n_frames`` frames (poses for ``n_frames + 1``).

    Geometry depends only on ``seed`` (and the camera height of ``domain``); textures on ``seed`` and the
    domain's texture family.

    Args:
        seed: scene seed (see `split_seed` for the split ranges).
        n_frames: number of frames of the sequence.
        domain: appearance switches; only ``texture_family`` and ``camera_height_m`` matter here.

    Returns:
        The `Scene`.
    """
    rng = np.random.default_rng([seed, 11])
    hx, hz, height = rng.uniform(2.75, 4.0), rng.uniform(3.0, 4.5), rng.uniform(2.6, 3.1)
    family_id = sorted(_FAMILIES).index(domain.texture_family) if domain.texture_family in _FAMILIES else -1
    if family_id < 0:
        raise ValueError(f"room: unknown texture family {domain.texture_family!r}")
    tex_seed = int(np.random.SeedSequence([seed, 12, family_id]).generate_state(1)[0])
    textures, tiles, emission = _cached_room_materials(tex_seed, domain.texture_family)
    builder = BoxBuilder(tiles)
    for wall in range(4):
        _furnish_wall(builder, rng, wall, hx, hz, height)
    rug = (rng.uniform(0.8, hx - 1.0), rng.uniform(0.8, hz - 1.0))
    builder.add((0.0, -0.005, 0.0), (rug[0], 0.005, rug[1]), M_RUG, yaw=rng.uniform(-0.2, 0.2))
    lights = []
    for _ in range(int(rng.integers(1, 3))):
        lx, lz = rng.uniform(-hx + 1.0, hx - 1.0), rng.uniform(-hz + 1.0, hz - 1.0)
        builder.add((lx, -height + 0.02, lz), (0.3, 0.02, 0.3), M_LAMP)
        lights.append((lx, -height + 0.3, lz, rng.uniform(2.5, 4.0)))
    times = np.arange(n_frames + 1) / FPS
    cam_height = DEFAULT_HEIGHT_M if domain.camera_height_m is None else domain.camera_height_m
    path_rng = np.random.default_rng([seed, 13])
    cam = handheld_positions(path_rng, times, (0.0, 0.0), (hx - 2.0, hz - 2.0), cam_height)
    obj_centre, obj_yaw = _toys(builder, np.random.default_rng([seed, 14]), times, hx, hz, cam)
    # half of the sequences follow the first toy loosely, like someone filming it
    follow = obj_centre.shape[1] > 0 and path_rng.random() < 0.5
    scene_from_cam = handheld(path_rng, times, cam, obj_centre[:, 0] if follow else None)
    shell = RoomShell(
        centre=torch.tensor([0.0, -height / 2, 0.0]),
        half=torch.tensor([hx, height / 2, hz], dtype=torch.float32),
        materials=torch.tensor([M_WALL_A, M_WALL_A, M_CEILING, M_FLOOR, M_WALL_B, M_WALL_B]),
        tile_m=torch.tensor([tiles[m] for m in (M_WALL_A, M_WALL_A, M_CEILING, M_FLOOR, M_WALL_B, M_WALL_B)]),
    )
    return Scene(
        kind="room",
        boxes=builder.build(),
        obj_centre=torch.tensor(obj_centre, dtype=torch.float32),
        obj_yaw=torch.tensor(obj_yaw, dtype=torch.float32),
        scene_from_cam=torch.tensor(scene_from_cam, dtype=torch.float64),
        timestamps=torch.tensor(times, dtype=torch.float64),
        textures=textures,
        material_emission=torch.tensor(emission, dtype=torch.long),
        material_tile_m=torch.tensor(tiles, dtype=torch.float32),
        sky_material=-1,
        ground=None,
        room=shell,
        lights=torch.tensor(lights, dtype=torch.float32).reshape(-1, 4),
        hfov_deg=HFOV_DEG,
        motion="handheld",
    )
