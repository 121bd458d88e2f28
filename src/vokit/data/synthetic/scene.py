"""Scene description of the synthetic world: boxes, moving objects, ground or room shell, lights, camera path.

World frame of a scene (``scene`` frame): x east, y down, z north, metres, ground (or floor) the plane y = 0,
so a camera at height h has y = -h. Every solid is an oriented box; a box belongs either to the static world
(``obj == -1``) or to a moving object ``d`` whose per-frame pose (centre and yaw about the vertical axis) is
stored for frames 0..F-1 (one more than the sequence length, so the last frame also has forward flow).
"""

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

EMIT_NONE, EMIT_WINDOWS, EMIT_ALWAYS = 0, 1, 2
"""Emission kinds of a material's glass mask: inert glass, windows lit at random at night, always glowing."""


@dataclass(frozen=True)
class BoxSet:
    """N oriented boxes. Static boxes are in the scene frame, boxes of moving objects in their object's frame.

    Attributes:
        centre: box centres, metres.
        yaw: rotation of the box about the vertical (y) axis, radians: ``frame_from_box = R_y(yaw)`` with
            ``R_y = [[c, 0, s], [0, 1, 0], [-s, 0, c]]`` (yaw 0: box axes = frame axes).
        half: half extents along the box's local x, y, z, metres.
        material: material index of the faces normal to local x, y (top and bottom) and z.
        tile_m: texture tile size (u, v) in metres for each face axis.
        tint: albedo multiplier (linear RGB).
        tex_offset_m: offset added to the face's (u, v) texture coordinates, metres.
        obj: moving-object index, -1 for static boxes.
        sphere: True for a sphere of radius ``half[0]`` (its box, a cube of side ``2 half[0]``, bounds it for
            culling; its material and tile size are those of the x faces).
    """

    centre: Float[Tensor, "N 3"]
    yaw: Float[Tensor, " N"]
    half: Float[Tensor, "N 3"]
    material: Int[Tensor, "N 3"]
    tile_m: Float[Tensor, "N 3 2"]
    tint: Float[Tensor, "N 3"]
    tex_offset_m: Float[Tensor, "N 2"]
    obj: Int[Tensor, " N"]
    sphere: Bool[Tensor, " N"] | None = None

    def __len__(self) -> int:
        return int(self.centre.shape[0])


class BoxBuilder:
    """Accumulates boxes at scene-build time (plain Python, once per scene) and packs them into a `BoxSet`.

    Args:
        material_tiles: default tile size (u, v) in metres of every material.
    """

    def __init__(self, material_tiles: list[tuple[float, float]]) -> None:
        self.material_tiles = material_tiles
        self.rows: list[tuple] = []

    def add(
        self,
        centre: tuple[float, float, float] | np.ndarray,
        half: tuple[float, float, float] | np.ndarray,
        material: int | tuple[int, int, int],
        yaw: float = 0.0,
        tint: tuple[float, float, float] | np.ndarray = (1.0, 1.0, 1.0),
        tile_m: tuple[float, float] | list[tuple[float, float]] | None = None,
        tex_offset_m: tuple[float, float] = (0.0, 0.0),
        obj: int = -1,
        sphere: bool = False,
    ) -> None:
        """Add one box (or, with ``sphere``, a sphere of radius ``half[0]``; its half extents are set to it).

        ``material`` is one index for all faces or one per face axis (x faces, top/bottom, z faces); ``tile_m``
        is None (each material's default), one (u, v) tile size in metres, or one per face axis.
        """
        mats = (material, material, material) if isinstance(material, int) else material
        if isinstance(tile_m, list):
            tiles = list(tile_m)
        else:
            tiles = [tile_m if tile_m is not None else self.material_tiles[m] for m in mats]
        if sphere:
            half = (float(half[0]),) * 3
        self.rows.append((centre, half, mats, yaw, tint, tiles, tex_offset_m, obj, sphere))

    def __len__(self) -> int:
        return len(self.rows)

    def n_objects(self) -> int:
        """Number of moving objects among the boxes added so far (largest object index plus one)."""
        return max((row[7] for row in self.rows), default=-1) + 1

    def build(self) -> BoxSet:
        """Pack the boxes added so far."""
        n = len(self.rows)
        if n == 0:
            return BoxSet(
                centre=torch.zeros(0, 3),
                yaw=torch.zeros(0),
                half=torch.zeros(0, 3),
                material=torch.zeros(0, 3, dtype=torch.long),
                tile_m=torch.ones(0, 3, 2),
                tint=torch.ones(0, 3),
                tex_offset_m=torch.zeros(0, 2),
                obj=torch.zeros(0, dtype=torch.long),
            )
        cols = list(zip(*self.rows, strict=True))
        return BoxSet(
            centre=torch.tensor(np.asarray(cols[0], dtype=np.float64), dtype=torch.float32),
            yaw=torch.tensor(np.asarray(cols[3], dtype=np.float64), dtype=torch.float32),
            half=torch.tensor(np.asarray(cols[1], dtype=np.float64), dtype=torch.float32),
            material=torch.tensor(cols[2], dtype=torch.long),
            tile_m=torch.tensor(np.asarray(cols[5], dtype=np.float64), dtype=torch.float32),
            tint=torch.tensor(np.asarray(cols[4], dtype=np.float64), dtype=torch.float32),
            tex_offset_m=torch.tensor(np.asarray(cols[6], dtype=np.float64), dtype=torch.float32),
            obj=torch.tensor(cols[7], dtype=torch.long),
            sphere=torch.tensor(cols[8], dtype=torch.bool) if any(cols[8]) else None,
        )


@dataclass(frozen=True)
class StreetGround:
    """The street's ground plane y = 0: a Manhattan grid of roads every ``block_m`` metres along x and z.

    Attributes:
        block_m: grid spacing (road centre line to road centre line), metres.
        road_half_m: half width of a road (two lanes and two parking lanes), metres.
        sidewalk_m: sidewalk width, metres.
        lane_m: width of one driving lane, metres.
        lamp_spacing_m: spacing of the street lamps along a road, metres.
        lamp_offset_m: lateral distance of the lamps from the road centre line, metres.
        lamp_height_m: lamp height above the ground, metres.
        materials: material indices (asphalt, sidewalk, block ground).
    """

    block_m: float
    road_half_m: float
    sidewalk_m: float
    lane_m: float
    lamp_spacing_m: float
    lamp_offset_m: float
    lamp_height_m: float
    materials: tuple[int, int, int]


@dataclass(frozen=True)
class RoomShell:
    """The room seen from inside: an axis-aligned box whose inner faces are walls, floor and ceiling.

    Attributes:
        centre: room centre in the scene frame, metres.
        half: half extents, metres.
        materials: material of the faces -x, +x, -y (ceiling), +y (floor), -z, +z.
        tile_m: texture tile size (u, v) in metres of the same six faces.
    """

    centre: Float[Tensor, "3"]
    half: Float[Tensor, "3"]
    materials: Int[Tensor, "6"]
    tile_m: Float[Tensor, "6 2"]


@dataclass(frozen=True)
class Scene:
    """Everything needed to render the frames of one synthetic sequence.

    Attributes:
        kind: ``"street"``, ``"room"`` or ``"clutter"``.
        boxes: all boxes, static and of moving objects.
        obj_centre: per-frame position of each moving object's origin, scene frame, metres, ``(F, D, 3)``.
        obj_yaw: per-frame yaw of each moving object about the vertical axis, radians, ``(F, D)``.
        scene_from_cam: per-frame camera pose in the scene frame, ``(F, 4, 4)`` float64.
        timestamps: capture time of each frame, seconds, ``(F,)`` float64.
        textures: ``(M, 4, S, S)`` material textures (linear RGB albedo and glass mask).
        material_emission: emission kind of each material (`EMIT_NONE`, `EMIT_WINDOWS`, `EMIT_ALWAYS`).
        material_tile_m: default tile size (u, v) of each material, metres.
        sky_material: material of the cloud texture (street), or -1.
        ground: the street's ground grid (street scenes).
        room: the room shell (room scenes).
        lights: point lights ``(L, 4)``: position (scene frame, metres) and intensity (room scenes).
        hfov_deg: horizontal field of view of the camera, degrees.
        motion: the camera motion kind (``path.MOTION_KINDS``; street ``"drive"``, room ``"handheld"``).
        principal_offset: principal point offset from the image centre as fractions of (width, height).
    """

    kind: str
    boxes: BoxSet
    obj_centre: Float[Tensor, "F D 3"]
    obj_yaw: Float[Tensor, "F D"]
    scene_from_cam: Float[Tensor, "F 4 4"]
    timestamps: Float[Tensor, " F"]
    textures: Float[Tensor, "M 4 S S"]
    material_emission: Int[Tensor, " M"]
    material_tile_m: Float[Tensor, "M 2"]
    sky_material: int
    ground: StreetGround | None
    room: RoomShell | None
    lights: Float[Tensor, "L 4"]
    hfov_deg: float
    motion: str = ""
    principal_offset: tuple[float, float] = (0.0, 0.0)

    @property
    def n_frames(self) -> int:
        """Number of camera poses (the sequence length plus one)."""
        return int(self.scene_from_cam.shape[0])

    def boxes_at(self, frame: int) -> tuple[Float[Tensor, "N 3"], Float[Tensor, " N"]]:
        """Scene-frame centres and yaws of all boxes at ``frame`` (moving objects posed for that frame)."""
        boxes = self.boxes
        moving = boxes.obj >= 0
        if not bool(moving.any()):
            return boxes.centre, boxes.yaw
        obj = boxes.obj[moving]
        yaw_obj = self.obj_yaw[frame, obj]
        c, s = torch.cos(yaw_obj), torch.sin(yaw_obj)
        local = boxes.centre[moving]
        centre = boxes.centre.clone()
        yaw = boxes.yaw.clone()
        centre[moving] = (
            torch.stack([c * local[:, 0] + s * local[:, 2], local[:, 1], -s * local[:, 0] + c * local[:, 2]], dim=-1)
            + self.obj_centre[frame, obj]
        )
        yaw[moving] = boxes.yaw[moving] + yaw_obj
        return centre, yaw
