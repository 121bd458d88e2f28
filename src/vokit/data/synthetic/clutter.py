"""The clutter scene, in the spirit of FlyingThings: random textured boxes, slabs and spheres at many depths.

A large textured hall (the background: walls, floor and ceiling 10-30 m away) holds 40-90 boxes, slabs (one
side thin), poles and spheres, each rotated about the vertical axis and textured with a random procedural material
(checkers, paintings, noise, bricks, planks, weaves, stripes ...) per face axis with random tints and tile
sizes (per 100 frames of the sequence). They are placed inside the view of random frames at depths of 0.7-25 m
(log-uniform, so near and far objects are equally common; near ones are shrunk to at most 0.3 times their depth)
and never closer than 0.3 m to the camera. About a third of them move: they drift along a straight line at
0.15-0.6 times their depth per second, bob and spin (up to 2 rad/s), as independently moving objects with exact
motion masks. A sphere's texture wraps a whole number of tiles around its equator.

The camera motion is drawn per seed from `path.MOTION_KINDS` (forward, sideways, pure rotation, hand-held
6-DoF with strong rotation, driving with turns) at a random speed and frame rate (10, 15, 20 or 30 frames/s),
and the camera itself from random intrinsics: horizontal field of view 45-100 degrees and a principal point
up to 4% of the image size off the centre. `CLUTTER_SIZES` lists the image sizes (4:3, 16:9, KITTI-wide) that
`clutter_image_size` picks per seed for ``vokit synth``.
"""

import functools

import numpy as np
import torch

from vokit.data.synthetic import textures as tx
from vokit.data.synthetic.domain import Domain
from vokit.data.synthetic.path import MOTION_KINDS, motion_path
from vokit.data.synthetic.scene import EMIT_NONE, BoxBuilder, RoomShell, Scene

TEXTURE_SIZE = 128
N_MATERIALS = 24
FRAME_RATES = (10.0, 15.0, 20.0, 30.0)
SPEED_MPS = {"forward": (0.5, 3.0), "sideways": (0.3, 1.5), "rotation": (0.0, 0.0), "handheld": (0.2, 0.8),
             "drive": (2.0, 6.0)}
"""Range of the camera's mean speed per motion kind, m/s."""
CLUTTER_SIZES = ((240, 320), (180, 320), (128, 416))
"""Image sizes (height, width) of the clutter scene's cameras: 4:3, 16:9 and KITTI-wide."""
PLAN_FRAMES = 100
"""The scene is planned in chunks of this many frames (path, hall and objects seen from each chunk), so a
longer sequence of a seed extends a shorter one when both round up to the same number of chunks."""
CLEARANCE_M = 0.3
"""Smallest distance between the camera centre and an object's bounding sphere, metres."""


def clutter_image_size(seed: int) -> tuple[int, int]:
    """The image size of `CLUTTER_SIZES` for ``seed`` (used by ``vokit synth`` when no size is given)."""
    return CLUTTER_SIZES[int(np.random.default_rng([seed, 27]).integers(len(CLUTTER_SIZES)))]


def clutter_camera(seed: int) -> tuple[str, float, float, float, tuple[float, float]]:
    """The camera of a clutter seed.

    Returns:
        Motion kind, frame rate (frames/s), mean speed (m/s), horizontal field of view (degrees) and principal
        point offset (fractions of width and height).
    """
    rng = np.random.default_rng([seed, 21])
    motion = str(MOTION_KINDS[int(rng.integers(len(MOTION_KINDS)))])
    fps = float(rng.choice(FRAME_RATES))
    speed = float(rng.uniform(*SPEED_MPS[motion]))
    hfov = float(rng.uniform(45.0, 100.0))
    return motion, fps, speed, hfov, (float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04)))


@functools.lru_cache(maxsize=4)
def _cached_clutter_materials(tex_seed: int) -> tuple[torch.Tensor, list[tuple[float, float]], list[int]]:
    """`clutter_materials` for a seed, cached (read-only)."""
    return clutter_materials(np.random.default_rng(tex_seed))


def _random_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    c = rng.uniform(0.05, 0.9, 3)
    return float(c[0]), float(c[1]), float(c[2])


def clutter_materials(rng: np.random.Generator) -> tuple[torch.Tensor, list[tuple[float, float]], list[int]]:
    """`N_MATERIALS` random procedural textures ``(M, 4, S, S)``, default tile sizes and emission kinds."""
    s = TEXTURE_SIZE
    makers = [
        lambda: tx.checker(rng, s, _random_colour(rng), _random_colour(rng), int(rng.choice([2, 4, 8]))),
        lambda: tx.painting(rng, s),
        lambda: tx.planks(rng, s, _random_colour(rng), int(rng.choice([2, 4, 8])), int(rng.integers(6, 30))),
        lambda: tx.weave(rng, s, _random_colour(rng)),
        lambda: tx.wallpaper(rng, s, _random_colour(rng), _random_colour(rng),
                             str(rng.choice(["stripes", "dots", "diamonds", "plain"]))),
        lambda: tx.streaked(rng, s, _random_colour(rng), int(rng.choice([4, 8, 16, 32])), 0.3),
        lambda: tx.paving(rng, s, _random_colour(rng), int(rng.choice([2, 4, 8]))),
        lambda: tx.ground_cover(rng, s, _random_colour(rng)),
        lambda: tx.foliage(rng, s, _random_colour(rng)),
        lambda: tx.books(rng, s),
        lambda: tx.asphalt(rng, s, _random_colour(rng)),
        lambda: tx.facade(rng, s, str(rng.choice(["brick", "plaster", "panel"])), _random_colour(rng),
                          _random_colour(rng), _random_colour(rng), float(rng.uniform(0.3, 0.9))),
    ]
    texs = [makers[int(rng.integers(len(makers)))]() for _ in range(N_MATERIALS)]
    tiles = [(float(t), float(t)) for t in rng.uniform(0.3, 2.0, N_MATERIALS)]
    return torch.from_numpy(np.stack(texs)), tiles, [EMIT_NONE] * N_MATERIALS


def _random_shape(rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """A random shape: half extents (metres) and whether it is a sphere.

    A box (45%), a slab (one side 2-8 cm thick, 25%), a pole (10%) or a sphere (20%, half extents = radius).
    """
    size = np.exp(rng.uniform(np.log(0.15), np.log(1.5)))
    half = size * rng.uniform(0.4, 1.0, 3)
    kind = rng.random()
    if kind < 0.25:
        half[int(rng.integers(3))] = rng.uniform(0.01, 0.04)
    elif kind < 0.35:
        half[[0, 2]] = rng.uniform(0.03, 0.12)
        half[1] = size * rng.uniform(1.0, 2.0)
    elif kind < 0.55:
        return np.full(3, half[0]), True
    return half, False


def _sphere_tiles(tile: tuple[float, float], radius: float) -> list[tuple[float, float]]:
    """Tile sizes of a sphere's texture: the longitude tile shrunk so that a whole number of tiles wraps around."""
    around = 2.0 * np.pi * radius
    tile_u = around / max(1, round(around / tile[0]))
    return [(float(tile_u), tile[1])] * 3


def _place_in_view(
    rng: np.random.Generator, poses: np.ndarray, hfov_deg: float, aspect: float
) -> tuple[np.ndarray, float]:
    """A random scene point inside the view of a random frame, at a log-uniform depth of 0.7-25 m (returned)."""
    f = int(rng.integers(len(poses)))
    half_w = np.tan(np.deg2rad(hfov_deg) / 2.0)
    x, y = rng.uniform(-half_w, half_w), rng.uniform(-half_w / aspect, half_w / aspect)
    depth = np.exp(rng.uniform(np.log(0.7), np.log(25.0)))
    return poses[f, :3, :3] @ (np.array([x, y, 1.0]) * depth) + poses[f, :3, 3], float(depth)


def _inside(points: np.ndarray, radius: float, shell_half: np.ndarray, shell_centre: np.ndarray) -> bool:
    return bool((np.abs(points - shell_centre) + radius < shell_half).all())


def _objects(
    builder: BoxBuilder,
    rng: np.random.Generator,
    times: np.ndarray,
    poses: np.ndarray,
    chunk: slice,
    hfov_deg: float,
    shell: tuple[np.ndarray, np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Add the static and moving objects seen from the frames ``chunk`` (clear of the camera in all frames).

    Returns:
        The moving objects' ``(F,)`` centre tracks ``(F, 3)`` and yaws, one per object.
    """
    cam = poses[:, :3, 3]
    centres: list[np.ndarray] = []
    yaws: list[np.ndarray] = []
    obj0 = builder.n_objects()
    n_target, added = int(rng.integers(40, 91)), 0
    for _ in range(4 * n_target):
        if added == n_target:
            break
        half, sphere = _random_shape(rng)
        moving = rng.random() < 0.35
        mats = (int(rng.integers(N_MATERIALS)), int(rng.integers(N_MATERIALS)), int(rng.integers(N_MATERIALS)))
        tint = tuple(rng.uniform(0.6, 1.3, 3))
        start, depth = _place_in_view(rng, poses[chunk], hfov_deg, 4.0 / 3.0)
        half = half * min(1.0, 0.3 * depth / float(half.max()))  # near objects smaller: no wall-filling boxes
        radius = float(np.linalg.norm(half))
        tiles = _sphere_tiles(builder.material_tiles[mats[0]], float(half[0])) if sphere else None
        if not moving:
            clear = np.linalg.norm(cam - start, axis=1).min() > radius + CLEARANCE_M
            if clear and _inside(start[None], radius, *shell):
                builder.add(start, half, mats, yaw=rng.uniform(-np.pi, np.pi), tint=tint, tile_m=tiles, sphere=sphere)
                added += 1
            continue
        direction = rng.normal(size=3)
        direction[1] *= 0.3
        velocity = direction / np.linalg.norm(direction) * depth * rng.uniform(0.15, 0.6)
        bob = rng.uniform(0.0, 0.3) * np.sin(2.0 * np.pi * rng.uniform(0.2, 1.0) * times + rng.uniform(0, 2 * np.pi))
        mid = times[(chunk.start + chunk.stop) // 2]
        track = start + (times - mid)[:, None] * velocity + bob[:, None] * np.array([0, 1.0, 0])
        if not _inside(track, radius, *shell) or (np.linalg.norm(cam - track, axis=1) <= radius + CLEARANCE_M).any():
            continue
        centres.append(track)
        yaws.append(rng.uniform(-np.pi, np.pi) + rng.uniform(-2.0, 2.0) * times)
        builder.add((0.0, 0.0, 0.0), half, mats, tint=tint, tile_m=tiles, obj=obj0 + len(centres) - 1, sphere=sphere)
        added += 1
    return centres, yaws


def build_clutter(seed: int, n_frames: int, domain: Domain) -> Scene:
    """Build the clutter scene of ``seed`` for ``n_frames`` frames (poses for ``n_frames + 1``).

    Args:
        seed: scene seed.
        n_frames: number of frames of the sequence.
        domain: appearance switches; only ``camera_height_m`` matters here (default 1.2-3 m, per seed).

    Returns:
        The `Scene`; ``motion`` names the camera motion kind, ``principal_offset`` the principal point shift.
    """
    motion, fps, speed, hfov, offset = clutter_camera(seed)
    rng = np.random.default_rng([seed, 25])
    height = float(rng.uniform(1.2, 3.0)) if domain.camera_height_m is None else domain.camera_height_m
    n_plan = -(-(n_frames + 1) // PLAN_FRAMES) * PLAN_FRAMES
    times = np.arange(n_plan) / fps
    poses = motion_path(np.random.default_rng([seed, 22]), motion, times, speed, height)
    cam = poses[:, :3, 3]
    lo, hi = cam.min(0), cam.max(0)
    margin = rng.uniform(10.0, 30.0, 3)
    shell_lo = np.array([lo[0] - margin[0], -max(8.0, height + margin[1] / 3.0), lo[2] - margin[2]])
    shell_hi = np.array([hi[0] + rng.uniform(10.0, 30.0), 0.0, hi[2] + rng.uniform(10.0, 30.0)])
    centre, half = (shell_lo + shell_hi) / 2.0, (shell_hi - shell_lo) / 2.0
    tex_seed = int(np.random.SeedSequence([seed, 23]).generate_state(1)[0])
    textures, tiles, emission = _cached_clutter_materials(tex_seed)
    builder = BoxBuilder(tiles)
    tracks: list[np.ndarray] = []
    spins: list[np.ndarray] = []
    for c in range(n_plan // PLAN_FRAMES):
        chunk = slice(c * PLAN_FRAMES, (c + 1) * PLAN_FRAMES)
        more = _objects(builder, np.random.default_rng([seed, 24, c]), times, poses, chunk, hfov, (half, centre))
        tracks += more[0]
        spins += more[1]
    n = n_frames + 1
    obj_centre = np.stack(tracks, 1)[:n] if tracks else np.zeros((n, 0, 3))
    obj_yaw = np.stack(spins, 1)[:n] if spins else np.zeros((n, 0))
    walls = [int(m) for m in rng.integers(N_MATERIALS, size=6)]
    wall_tiles = [(float(t), float(t)) for t in rng.uniform(2.0, 8.0, 6)]
    shell = RoomShell(
        centre=torch.tensor(centre, dtype=torch.float32),
        half=torch.tensor(half, dtype=torch.float32),
        materials=torch.tensor(walls),
        tile_m=torch.tensor(wall_tiles, dtype=torch.float32),
    )
    return Scene(
        kind="clutter",
        boxes=builder.build(),
        obj_centre=torch.tensor(obj_centre, dtype=torch.float32),
        obj_yaw=torch.tensor(obj_yaw, dtype=torch.float32),
        scene_from_cam=torch.tensor(poses[:n], dtype=torch.float64),
        timestamps=torch.tensor(times[:n], dtype=torch.float64),
        textures=textures,
        material_emission=torch.tensor(emission, dtype=torch.long),
        material_tile_m=torch.tensor(tiles, dtype=torch.float32),
        sky_material=-1,
        ground=None,
        room=shell,
        lights=torch.zeros(0, 4),
        hfov_deg=hfov,
        motion=motion,
        principal_offset=offset,
    )
