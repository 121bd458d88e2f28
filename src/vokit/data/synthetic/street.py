"""The street-canyon scene: a Manhattan grid of roads, building blocks, parked and moving cars, lamps, trees.

Layout (all randomness from the seed; see `build_street`):
- roads every ``block_m`` metres along x and z; a road has two 3.5 m driving lanes and two 2.3 m parking
  lanes, then sidewalks; lane markings are drawn by the shader, anti-aliased analytically;
- blocks near the camera route get rows of box buildings with varying width, height and setback (facades
  at varying depths, gaps between buildings, a courtyard building behind); blocks farther away get one
  backdrop box each;
- parked cars (three boxes each: wheels, body, cabin; slightly rotated), lamp posts, trees on sidewalks;
- the camera drives a random walk on the grid (straight on, left or right at each crossing) in the right
  lane, slowing down in the rounded turns; independently moving cars drive in both lanes of the roads of
  the route, and every car that would come near the camera or another moving car is removed.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch

from vokit.data.synthetic import textures as tx
from vokit.data.synthetic.domain import Domain
from vokit.data.synthetic.path import follow_route
from vokit.data.synthetic.scene import EMIT_ALWAYS, EMIT_NONE, EMIT_WINDOWS, BoxBuilder, Scene, StreetGround
from vokit.data.synthetic.textures import Colour

TEXTURE_SIZE = 128
FPS = 10.0
DEFAULT_HEIGHT_M = 1.65
HFOV_DEG = 81.0
LANE_M = 3.5
PARKING_M = 2.3
STOREY_M = 3.2
N_FACADES = 6
DIRS = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])  # (x, z) of headings N, E, S, W

(M_ASPHALT, M_SIDEWALK, M_GROUND) = (0, 1, 2)
M_FACADE = 3
M_ROOF = M_FACADE + N_FACADES
(M_PAINT, M_CARGLASS, M_RUBBER, M_METAL, M_FOLIAGE, M_BARK, M_LAMP, M_CLOUDS) = range(M_ROOF + 1, M_ROOF + 9)


@dataclass(frozen=True)
class _Palette:
    asphalt: Colour
    sidewalk: Colour
    ground: Colour
    walls: tuple[Colour, ...]
    kinds: tuple[str, ...]
    frames: tuple[Colour, ...]
    glass: Colour
    window_w: tuple[float, float]
    foliage: Colour


_FAMILIES = {
    "urban": _Palette(
        asphalt=(0.16, 0.16, 0.17),
        sidewalk=(0.5, 0.48, 0.45),
        ground=(0.16, 0.28, 0.09),
        walls=(
            (0.45, 0.17, 0.11),
            (0.5, 0.3, 0.2),
            (0.7, 0.62, 0.48),
            (0.55, 0.55, 0.53),
            (0.4, 0.45, 0.5),
            (0.72, 0.65, 0.42),
        ),
        kinds=("brick", "brick", "plaster", "plaster", "panel", "plaster"),
        frames=((0.85, 0.85, 0.82), (0.2, 0.2, 0.2)),
        glass=(0.12, 0.16, 0.22),
        window_w=(0.4, 0.6),
        foliage=(0.12, 0.3, 0.08),
    ),
    "desert": _Palette(
        asphalt=(0.3, 0.27, 0.22),
        sidewalk=(0.66, 0.55, 0.4),
        ground=(0.72, 0.58, 0.38),
        walls=(
            (0.8, 0.7, 0.52),
            (0.72, 0.5, 0.28),
            (0.62, 0.33, 0.2),
            (0.86, 0.83, 0.76),
            (0.75, 0.62, 0.45),
            (0.68, 0.42, 0.3),
        ),
        kinds=("plaster", "plaster", "brick", "plaster", "panel", "brick"),
        frames=((0.3, 0.2, 0.12), (0.9, 0.88, 0.8)),
        glass=(0.08, 0.08, 0.09),
        window_w=(0.25, 0.4),
        foliage=(0.3, 0.32, 0.12),
    ),
    "modern": _Palette(
        asphalt=(0.11, 0.11, 0.12),
        sidewalk=(0.56, 0.56, 0.55),
        ground=(0.2, 0.3, 0.14),
        walls=(
            (0.6, 0.6, 0.6),
            (0.3, 0.32, 0.35),
            (0.75, 0.75, 0.72),
            (0.45, 0.42, 0.38),
            (0.2, 0.22, 0.25),
            (0.82, 0.8, 0.78),
        ),
        kinds=("panel", "panel", "plaster", "panel", "panel", "plaster"),
        frames=((0.3, 0.32, 0.35), (0.7, 0.7, 0.7)),
        glass=(0.12, 0.2, 0.25),
        window_w=(0.75, 0.95),
        foliage=(0.1, 0.26, 0.1),
    ),
}

CAR_COLOURS = [
    (0.9, 0.9, 0.9),
    (0.55, 0.56, 0.58),
    (0.06, 0.06, 0.07),
    (0.6, 0.06, 0.05),
    (0.08, 0.15, 0.45),
    (0.1, 0.25, 0.12),
    (0.8, 0.6, 0.1),
    (0.3, 0.3, 0.33),
    (0.45, 0.12, 0.3),
]


@functools.lru_cache(maxsize=4)
def _cached_street_materials(tex_seed: int, family: str) -> tuple[torch.Tensor, list[tuple[float, float]], list[int]]:
    """`street_materials` for a seed, cached: domains that share a texture family reuse the textures (read-only)."""
    return street_materials(np.random.default_rng(tex_seed), family)


def street_materials(
    rng: np.random.Generator, family: str
) -> tuple[torch.Tensor, list[tuple[float, float]], list[int]]:
    """Textures ``(M, 4, S, S)``, default tile sizes (metres) and emission kinds of the street's materials."""
    if family not in _FAMILIES:
        raise ValueError(f"street: unknown texture family {family!r}; expected one of {sorted(_FAMILIES)}")
    pal = _FAMILIES[family]
    s = TEXTURE_SIZE
    texs = [tx.asphalt(rng, s, pal.asphalt), tx.paving(rng, s, pal.sidewalk), tx.ground_cover(rng, s, pal.ground)]
    tiles = [(3.0, 3.0), (2.0, 2.0), (4.0, 4.0)]
    emit = [EMIT_NONE] * 3
    for k in range(N_FACADES):
        frame = pal.frames[int(rng.integers(len(pal.frames)))]
        w0, w1 = pal.window_w
        width = w0 + (w1 - w0) * float(rng.random())
        texs.append(tx.facade(rng, s, pal.kinds[k], pal.walls[k], frame, pal.glass, width))
        tiles.append((3.0, STOREY_M))
        emit.append(EMIT_WINDOWS)
    texs += [
        tx.roof(rng, s, (0.3, 0.3, 0.3)),
        tx.car_paint(rng, s),
        tx.car_glass(rng, s),
        tx.streaked(rng, s, (0.05, 0.05, 0.05), 8, 0.2),
        tx.streaked(rng, s, (0.45, 0.46, 0.48), 24, 0.15),
        tx.foliage(rng, s, pal.foliage),
        tx.streaked(rng, s, (0.25, 0.17, 0.1), 10, 0.35),
        tx.emissive(s, (1.0, 0.9, 0.7)),
        tx.clouds(rng, s),
    ]
    tiles += [
        (4.0, 4.0),
        (3.0, 0.75),
        (1.2, 0.55),
        (1.0, 1.0),
        (0.5, 2.0),
        (2.0, 2.0),
        (0.6, 1.0),
        (1.0, 1.0),
        (3.0, 3.0),
    ]
    emit += [EMIT_NONE] * 7 + [EMIT_ALWAYS, EMIT_NONE]
    if not len(texs) == len(tiles) == len(emit) == M_CLOUDS + 1:
        raise AssertionError("street material tables out of sync")
    return torch.from_numpy(np.stack(texs)), tiles, emit


def _right(d: np.ndarray) -> np.ndarray:
    """Right-hand side of a heading (x, z) in the y-down scene frame."""
    return np.array([d[1], -d[0]])


def _route(rng: np.random.Generator, block_m: float, length_m: float) -> tuple[np.ndarray, np.ndarray, list]:
    """Random walk on the grid nodes, heading north first: straight on (p = 0.5), right or left at each crossing.

    Returns:
        ``(nodes, headings, turns)``: grid nodes (in block units) visited, heading index leaving each node, and
        the turn taken at each node (0 straight, +1 right, -1 left).
    """
    nodes = [np.array([0, -1]), np.array([0, 0])]
    headings = [0]
    turns = [0]
    while len(nodes) * block_m < length_m + 3 * block_m:
        turn = int(rng.choice([0, 1, -1], p=[0.5, 0.25, 0.25]))
        h = (headings[-1] + turn) % 4
        turns.append(turn)
        headings.append(h)
        nodes.append(nodes[-1] + DIRS[h].astype(int))
    return np.array(nodes), np.array(headings), turns


def _dense_route(nodes: np.ndarray, turns: list, block_m: float, cruise: float, turn_speed: float):
    """Lane-offset route with rounded turns, sampled every 5 cm, and its smooth speed profile."""
    offset = LANE_M / 2
    pts: list[np.ndarray] = []
    arcs: list[tuple[int, int]] = []
    step = 0.05
    heading_in = (nodes[1] - nodes[0]).astype(float)
    start = nodes[0] * block_m + offset * _right(heading_in)
    pts.append(start[None])
    for k in range(1, len(nodes) - 1):
        a = (nodes[k] - nodes[k - 1]).astype(float)
        b = (nodes[k + 1] - nodes[k]).astype(float)
        if turns[k] == 0:
            continue
        radius = 6.0 if turns[k] > 0 else 10.0
        corner = nodes[k] * block_m + offset * (_right(a) + _right(b))
        p_in = corner - a * radius
        last = pts[-1][-1]
        n = max(int(np.linalg.norm(p_in - last) / step), 1)
        pts.append(last + (p_in - last) * (np.arange(1, n + 1) / n)[:, None])
        centre = p_in + b * radius
        phi = np.linspace(0.0, np.pi / 2, max(int(radius * np.pi / 2 / step), 2))[1:]
        first = sum(len(p) for p in pts)
        pts.append(centre + radius * (-b[None] * np.cos(phi)[:, None] + a[None] * np.sin(phi)[:, None]))
        arcs.append((first, first + len(phi)))
    end = nodes[-1] * block_m + offset * _right((nodes[-1] - nodes[-2]).astype(float))
    last = pts[-1][-1]
    n = max(int(np.linalg.norm(end - last) / step), 1)
    pts.append(last + (end - last) * (np.arange(1, n + 1) / n)[:, None])
    route = np.concatenate(pts)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(route, axis=0), axis=1))])
    dist = np.full(len(route), np.inf)
    for i0, i1 in arcs:
        dist = np.minimum(dist, np.maximum.reduce([arc[i0] - arc, arc - arc[i1 - 1], np.zeros_like(arc)]))
    blend = np.clip(dist / 25.0, 0.0, 1.0)
    speed = turn_speed + (cruise - turn_speed) * blend * blend * (3 - 2 * blend)
    return route, speed


def _add_car(
    builder: BoxBuilder,
    rng: np.random.Generator,
    x: float,
    z: float,
    yaw: float,
    obj: int = -1,
    size: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Wheels, body and cabin of one car centred at ground point (x, z) (object-local if ``obj >= 0``).

    ``size`` is (length, width) in metres, random when None.
    """
    length, width = (rng.uniform(3.8, 4.9), rng.uniform(1.7, 1.9)) if size is None else size
    colour = np.array(CAR_COLOURS[rng.integers(len(CAR_COLOURS))]) * rng.uniform(0.9, 1.1, 3)
    # parked cars are static boxes rotated in place; moving cars are built in their object's frame
    yaw_box = yaw if obj < 0 else 0.0
    fwd = np.array([np.sin(yaw_box), np.cos(yaw_box)])
    builder.add((x, -0.15, z), (width / 2 - 0.05, 0.15, length / 2 - 0.4), M_RUBBER, yaw_box, obj=obj)
    builder.add(
        (x, -0.67, z), (width / 2, 0.37, length / 2), (M_PAINT, M_PAINT, M_PAINT), yaw_box, tint=colour, obj=obj
    )
    cx, cz = np.array([x, z]) - 0.05 * length * fwd
    builder.add(
        (cx, -1.3, cz),
        (width / 2 - 0.12, 0.26, length * 0.27),
        (M_CARGLASS, M_PAINT, M_CARGLASS),
        yaw_box,
        tint=colour,
        obj=obj,
    )
    return length, width


def _block_buildings(builder: BoxBuilder, rng: np.random.Generator, rect: tuple[float, float, float, float]) -> None:
    """Rows of buildings along the four sides of a block interior ``(x0, x1, z0, z1)`` and a courtyard box."""
    x0, x1, z0, z1 = rect
    placed: list[tuple[float, float, float, float]] = []

    sides = [
        ((x0, z0), (1.0, 0.0), (0.0, 1.0), x1 - x0),
        ((x1, z1), (-1.0, 0.0), (0.0, -1.0), x1 - x0),
        ((x0, z1), (0.0, -1.0), (1.0, 0.0), z1 - z0),
        ((x1, z0), (0.0, 1.0), (-1.0, 0.0), z1 - z0),
    ]
    for origin, along, inward, side_len in sides:
        p = rng.uniform(0.0, 2.0)
        while p < side_len - 4.0:
            if rng.random() < 0.25:
                p += rng.uniform(2.0, 6.0)
                continue
            w = min(rng.uniform(6.0, 18.0), side_len - p)
            setback = 0.0 if rng.random() < 0.5 else rng.uniform(0.5, 4.0)
            depth = rng.uniform(8.0, 16.0)
            a0 = np.array(origin) + np.array(along) * p + np.array(inward) * setback
            a1 = a0 + np.array(along) * w + np.array(inward) * depth
            r = (min(a0[0], a1[0]), max(a0[0], a1[0]), min(a0[1], a1[1]), max(a0[1], a1[1]))
            p += w
            if not all(
                r[0] >= q[1] - 0.01 or r[1] <= q[0] + 0.01 or r[2] >= q[3] - 0.01 or r[3] <= q[2] + 0.01 for q in placed
            ):
                continue
            placed.append(r)
            height = STOREY_M * rng.integers(2, 10) + rng.uniform(0.0, 1.5)
            _add_building(builder, rng, r, height)
    inner = (x0 + 17.0, x1 - 17.0, z0 + 17.0, z1 - 17.0)
    if inner[1] - inner[0] > 3.0 and inner[3] - inner[2] > 3.0:
        _add_building(builder, rng, inner, rng.uniform(8.0, 22.0))


def _add_building(builder: BoxBuilder, rng: np.random.Generator, r: tuple[float, float, float, float], h: float):
    """One box building on footprint ``r = (x0, x1, z0, z1)``, windows fitted to whole bays on each face."""
    facade = M_FACADE + int(rng.integers(N_FACADES))
    wx, wz = r[1] - r[0], r[3] - r[2]
    tiles = []
    for face_len in (wz, wx):
        tiles.append(face_len / max(1, round(face_len / rng.uniform(2.6, 3.6))))
    builder.add(
        ((r[0] + r[1]) / 2, -h / 2, (r[2] + r[3]) / 2),
        (wx / 2, h / 2, wz / 2),
        (facade, M_ROOF, facade),
        tint=rng.uniform(0.88, 1.12, 3),
        tile_m=[(tiles[0], STOREY_M), (4.0, 4.0), (tiles[1], STOREY_M)],
    )


def _side_props(
    builder: BoxBuilder,
    rng: np.random.Generator,
    ground: StreetGround,
    node: np.ndarray,
    along: np.ndarray,
    side: np.ndarray,
) -> None:
    """Parked cars, lamp posts and trees along one side of the road from grid node ``node`` in ``along``."""
    b, rh = ground.block_m, ground.road_half_m
    e = rh + ground.sidewalk_m
    start = node * b
    yaw_road = float(np.arctan2(along[0], along[1]))
    s = e + rng.uniform(0.0, 3.0)
    while s + 5.0 < b - e:
        if rng.random() < 0.6:
            length = 4.9
            p = start + along * (s + length / 2) + side * (LANE_M + PARKING_M / 2 + rng.uniform(-0.15, 0.15))
            flip = np.pi if rng.random() < 0.3 else 0.0
            _add_car(builder, rng, p[0], p[1], yaw_road + flip + rng.uniform(-0.04, 0.04))
            s += length + rng.uniform(0.6, 3.0)
        else:
            s += rng.uniform(3.0, 9.0)
    for j in range(3):
        lamp_s = (j + 0.5) * ground.lamp_spacing_m
        p = start + along * lamp_s + side * (rh + 0.6)
        builder.add((p[0], -3.0, p[1]), (0.09, 3.0, 0.09), M_METAL)
        arm = start + along * lamp_s + side * rh
        builder.add((arm[0], -6.0, arm[1]), (0.6, 0.05, 0.05), M_METAL, yaw=yaw_road)
        head = start + along * lamp_s + side * ground.lamp_offset_m
        builder.add((head[0], -5.95, head[1]), (0.15, 0.06, 0.3), (M_METAL, M_LAMP, M_METAL), yaw=yaw_road + np.pi / 2)
        if j > 0 and rng.random() < 0.6:
            t = start + along * (j * ground.lamp_spacing_m + rng.uniform(-1.0, 1.0)) + side * (rh + 1.3)
            builder.add((t[0], -1.3, t[1]), (0.15, 1.3, 0.15), M_BARK, tex_offset_m=(rng.uniform(0, 5), 0.0))
            size = rng.uniform(1.0, 1.3)
            builder.add(
                (t[0], -2.5 - size, t[1]),
                (size, size * 0.9, size),
                M_FOLIAGE,
                yaw=rng.uniform(0, np.pi),
                tex_offset_m=(rng.uniform(0, 5), rng.uniform(0, 5)),
            )


def _block_sides(i: int, j: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(grid node, along, towards-block) of the four roads around block (i, j)."""
    east, north = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    return [
        (np.array([i, j]), east, north),
        (np.array([i, j + 1]), east, -north),
        (np.array([i, j]), north, east),
        (np.array([i + 1, j]), north, -east),
    ]


def _conflicts(
    axis: np.ndarray,
    line: np.ndarray,
    sign: np.ndarray,
    s0: np.ndarray,
    speed: np.ndarray,
    length: np.ndarray,
    times: np.ndarray,
    cam_xz: np.ndarray,
) -> np.ndarray:
    """Pairs of constant-velocity cars that would visibly overlap, as a ``(D, D)`` bool matrix.

    Cars in the same lane (same road and direction) conflict when their gap closes below half their lengths plus
    2 m during the sequence; cars on crossing roads conflict when both are in the crossing (within half a length
    plus 4 m of it) at the same time while the camera is within 200 m of it (farther crossings are at most a
    few pixels wide and mostly hidden, and checking them would leave long sequences with few cars). Cars in
    opposite lanes of one road never touch.
    """
    t_end = float(times[-1] - times[0])
    same_lane = (axis[:, None] == axis[None]) & (line[:, None] == line[None]) & (sign[:, None] == sign[None])
    gap0 = s0[:, None] - s0[None]
    gap1 = gap0 + sign[:, None] * (speed[:, None] - speed[None]) * t_end
    closest = np.where(gap0 * gap1 <= 0, 0.0, np.minimum(np.abs(gap0), np.abs(gap1)))
    lane_hit = same_lane & (closest < (length[:, None] + length[None]) / 2 + 2.0)
    crossing = axis[:, None] != axis[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_i = (line[None] - s0[:, None]) / (sign[:, None] * speed[:, None])
    t_j = t_i.T
    h = (length / 2 + 4.0) / speed
    h_i, h_j = h[:, None], h[None]
    overlap = (np.abs(t_i - t_j) < h_i + h_j) & (np.maximum(t_i - h_i, t_j - h_j) < t_end)
    overlap &= np.minimum(t_i + h_i, t_j + h_j) > 0
    t_mid = np.clip(np.nan_to_num((t_i + t_j) / 2, nan=0.0, posinf=t_end, neginf=0.0), 0.0, t_end) + times[0]
    cross_x = np.where(axis[:, None] == 1, line[:, None], line[None])
    cross_z = np.where(axis[:, None] == 0, line[:, None], line[None])
    cam_x = np.interp(t_mid, times, cam_xz[:, 0])
    cam_z = np.interp(t_mid, times, cam_xz[:, 1])
    overlap &= np.hypot(cam_x - cross_x, cam_z - cross_z) < 200.0
    conflict = lane_hit | (crossing & overlap)
    np.fill_diagonal(conflict, False)
    return conflict


def _moving_cars(
    builder: BoxBuilder,
    rng: np.random.Generator,
    nodes: np.ndarray,
    headings: np.ndarray,
    ground: StreetGround,
    cam_xz: np.ndarray,
    times: np.ndarray,
    lead: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Cars driving both lanes of every road of the route; returns per-frame centres ``(F, D, 3)`` and yaws.

    Candidates drive at constant speed (one speed per lane, plus a lead car in the camera's lane); for every
    stretch of road the camera drives, cars are spread along it for the moment the camera gets there. A
    candidate is dropped if it never comes within 150 m of the camera, if it comes near the camera, or if it
    would overlap a car kept before it.
    """
    b = ground.block_m
    cands = []  # (axis, line coordinate, direction sign, s0, speed)
    first_axis = 1 if headings[0] % 2 == 0 else 0
    cands.append((first_axis, nodes[0][1 - first_axis] * b, 1.0 if headings[0] < 2 else -1.0, lead[0], lead[1]))
    lane_speed: dict[tuple[int, float, float], float] = {}
    for k, h in enumerate(headings):
        axis = 1 if h % 2 == 0 else 0  # N/S roads run along z (axis 1), E/W along x
        line = float(nodes[k][1 - axis] * b)
        ends = sorted([float(nodes[k][axis] * b), float(nodes[k + 1][axis] * b)])
        # when the camera drives this stretch: cars are placed around it for that moment
        mid = (nodes[k] + nodes[k + 1]) * (b / 2)
        t_visit = float(times[np.argmin(np.hypot(*(cam_xz - mid).T))] - times[0])
        for sign in (1.0, -1.0):
            speed = lane_speed.setdefault((axis, line, sign), float(rng.uniform(5.0, 12.0)))
            s = ends[0] - 80.0 + rng.uniform(0.0, 30.0)
            while s < ends[1] + 80.0:
                cands.append((axis, line, sign, s - sign * speed * t_visit, speed))
                s += rng.uniform(20.0, 55.0)
    c_axis, c_line, c_sign, c_s0, c_speed = (np.array(col, dtype=float) for col in zip(*cands, strict=True))
    c_axis = c_axis.astype(int)
    dims = np.stack([rng.uniform(3.8, 4.9, len(cands)), rng.uniform(1.7, 1.9, len(cands))], -1)
    along = np.zeros((len(cands), 2))
    along[np.arange(len(cands)), c_axis] = c_sign
    lateral = np.stack([along[:, 1], -along[:, 0]], -1) * (ground.lane_m / 2)
    xz = np.zeros((len(times), len(cands), 2))
    xz[:, np.arange(len(cands)), c_axis] = c_s0 + c_sign * c_speed * times[:, None]
    xz[:, np.arange(len(cands)), 1 - c_axis] = c_line
    xz += lateral
    yaw = np.arctan2(along[:, 0], along[:, 1])
    rel = cam_xz[:, None, :] - xz
    local_x = rel[..., 0] * np.cos(yaw) - rel[..., 1] * np.sin(yaw)
    local_z = rel[..., 0] * np.sin(yaw) + rel[..., 1] * np.cos(yaw)
    near_cam = np.asarray(((np.abs(local_x) < 2.3) & (np.abs(local_z) < dims[:, 0] / 2 + 4.0)).any(0))
    seen = np.asarray((np.hypot(rel[..., 0], rel[..., 1]) < 150.0).any(0))
    conflict = _conflicts(c_axis, c_line, c_sign, c_s0, c_speed, dims[:, 0], times, cam_xz)
    keep: list[int] = []
    for d in range(len(cands)):
        if seen[d] and not near_cam[d] and not conflict[d, keep].any():
            keep.append(d)
    for new_id, d in enumerate(keep):
        _add_car(builder, rng, 0.0, 0.0, 0.0, obj=new_id, size=(float(dims[d, 0]), float(dims[d, 1])))
    centre = np.zeros((len(times), len(keep), 3))
    centre[..., 0] = xz[:, keep, 0]
    centre[..., 2] = xz[:, keep, 1]
    return centre, np.broadcast_to(yaw[keep], (len(times), len(keep))).copy()


def build_street(seed: int, n_frames: int, domain: Domain) -> Scene:
    """Build the street scene of ``seed`` for a sequence of ``n_frames`` frames (poses for ``n_frames + 1``).

    Geometry depends only on ``seed`` (and the camera height of ``domain``); textures on ``seed`` and the
    domain's texture family. A longer sequence of the same seed drives the same route and passes the same
    buildings (its first frames equal the shorter sequence's), only the moving cars may differ.

    Args:
        seed: scene seed (see `split_seed` for the split ranges).
        n_frames: number of frames of the sequence.
        domain: appearance switches; only ``texture_family``, ``camera_height_m`` and ``speed_scale`` matter here.

    Returns:
        The `Scene`.
    """
    rng = np.random.default_rng([seed, 1])
    block = round(float(rng.uniform(50.0, 70.0)), 1)
    sidewalk = float(rng.uniform(2.8, 4.0))
    cruise = float(rng.uniform(7.0, 11.0)) * domain.speed_scale
    lead_gap, lead_speed = float(rng.uniform(12.0, 20.0)), cruise * float(rng.uniform(1.0, 1.1))
    rh = LANE_M + PARKING_M
    ground = StreetGround(block, rh, sidewalk, LANE_M, block / 3, rh - 0.6, 5.95, (M_ASPHALT, M_SIDEWALK, M_GROUND))
    times = np.arange(n_frames + 1) / FPS
    nodes, headings, turns = _route(rng, block, cruise * times[-1] + block)
    route, speed = _dense_route(nodes, turns, block, cruise, 4.0 * domain.speed_scale)
    height = DEFAULT_HEIGHT_M if domain.camera_height_m is None else domain.camera_height_m
    scene_from_cam = follow_route(np.random.default_rng([seed, 3]), route, speed, times, height, block / 2)
    cam_xz = scene_from_cam[:, [0, 2], 3]

    family_id = sorted(_FAMILIES).index(domain.texture_family) if domain.texture_family in _FAMILIES else -1
    if family_id < 0:
        raise ValueError(f"street: unknown texture family {domain.texture_family!r}")
    tex_seed = int(np.random.SeedSequence([seed, 2, family_id]).generate_state(1)[0])
    textures, tiles, emission = _cached_street_materials(tex_seed, domain.texture_family)

    builder = BoxBuilder(tiles)
    near = {(int(np.floor(p[0] / block)), int(np.floor(p[1] / block))) for p in route[::100]}
    detailed = {(i + di, j + dj) for i, j in near for di in (-1, 0, 1) for dj in (-1, 0, 1)}
    backdrop = {(i + di, j + dj) for i, j in detailed for di in (-1, 0, 1) for dj in (-1, 0, 1)} - detailed
    e = rh + sidewalk
    for i, j in sorted(detailed):
        block_rng = np.random.default_rng([seed, 5, i + 100_000, j + 100_000])
        _block_buildings(builder, block_rng, (i * block + e, (i + 1) * block - e, j * block + e, (j + 1) * block - e))
        for node, along, side in _block_sides(i, j):
            _side_props(builder, block_rng, ground, node, along, side)
    for i, j in sorted(backdrop):
        block_rng = np.random.default_rng([seed, 6, i + 100_000, j + 100_000])
        _add_building(
            builder,
            block_rng,
            (i * block + e + 1, (i + 1) * block - e - 1, j * block + e + 1, (j + 1) * block - e - 1),
            float(block_rng.uniform(10.0, 40.0)),
        )
    lead = (nodes[0][1] * block + block / 2 + lead_gap, lead_speed)
    obj_centre, obj_yaw = _moving_cars(
        builder, np.random.default_rng([seed, 4]), nodes, headings, ground, cam_xz, times, lead
    )
    return Scene(
        kind="street",
        boxes=builder.build(),
        obj_centre=torch.tensor(obj_centre, dtype=torch.float32),
        obj_yaw=torch.tensor(obj_yaw, dtype=torch.float32),
        scene_from_cam=torch.tensor(scene_from_cam, dtype=torch.float64),
        timestamps=torch.tensor(times, dtype=torch.float64),
        textures=textures,
        material_emission=torch.tensor(emission, dtype=torch.long),
        material_tile_m=torch.tensor(tiles, dtype=torch.float32),
        sky_material=M_CLOUDS,
        ground=ground,
        room=None,
        lights=torch.zeros(0, 4),
        hfov_deg=HFOV_DEG,
        motion="drive",
    )
