"""Vectorised ray casting of oriented boxes with screen-space tile binning (no loop over pixels or boxes).

Every camera ray passes through the camera centre, so a box is tested only against the rays of the image tiles
its projection can cover:

1. each box's eight corners go to the camera frame; the box is clipped against the near plane (corners in
   front plus the points where its twelve edges cross the plane) and the bounding rectangle of the projected
   points is the box's exact screen-space bounding box;
2. the rectangle is expanded into the list of ``tile x tile`` pixel tiles it overlaps, for all boxes at once;
3. every (tile, box) pair runs the slab test on the tile's rays in the box's local frame, and a
   ``scatter_reduce(amin)`` on int64 keys ``(depth bits << 32) | box`` keeps the nearest hit per pixel (the bit
   pattern of a non-negative float32 orders like its value);
4. occlusion culling: a first pass tests each tile against its few nearest boxes; a second pass only tests the
   boxes that start in front of the farthest depth the tile has seen so far.

Boxes rotate about the vertical axis only (yaw), which is all the scenes need and keeps the local-frame
transform of the rays to a few multiply-adds.

Rays are ``K^-1 [u, v, 1]`` (z component 1), so the ray parameter of a hit is its z-depth.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int, Shaped
from torch import Tensor

_CORNER_SIGNS = torch.tensor(
    [[sx, sy, sz] for sx in (-1.0, 1.0) for sy in (-1.0, 1.0) for sz in (-1.0, 1.0)], dtype=torch.float32
)
_NOTHING = 1e18
"""Depth standing for "no surface" inside the int64 keys of `intersect_boxes`."""
_EDGES = torch.tensor(
    [[a, b] for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1], dtype=torch.long
)


@dataclass(frozen=True)
class RayGrid:
    """Camera rays of an image in *tile order*, channels first, for one set of intrinsics.

    The image is padded to whole ``tile x tile`` tiles. Internally every per-pixel quantity is a ``(C, P)``
    tensor whose pixel axis runs tile by tile (tile ``t`` holds pixels ``t * Q .. t * Q + Q - 1``, ``Q =
    tile * tile``), so that the pixels of a tile are contiguous; `to_image` reorders to ``(C, H, W)``.

    Attributes:
        height: image height H.
        width: image width W.
        tile: tile side in pixels.
        tiles_x: tiles per row.
        tiles_y: tile rows.
        intrinsics: (fx, fy, cx, cy) in pixels.
        dirs: ``(3, P)`` camera-frame ray directions ``K^-1 [u, v, 1]`` (z component 1).
        uv: ``(2, P)`` pixel coordinates (u, v) of each ray.
        image_index: ``(padded_h * padded_w,)`` tile-order position of each pixel of the padded image.
    """

    height: int
    width: int
    tile: int
    tiles_x: int
    tiles_y: int
    intrinsics: Float[Tensor, "4"]
    dirs: Float[Tensor, "3 P"]
    uv: Float[Tensor, "2 P"]
    image_index: Int[Tensor, " P"]

    @property
    def padded_h(self) -> int:
        """Padded image height (a multiple of the tile)."""
        return self.tiles_y * self.tile

    @property
    def padded_w(self) -> int:
        """Padded image width (a multiple of the tile)."""
        return self.tiles_x * self.tile

    @property
    def tile_pixels(self) -> int:
        """Pixels per tile, Q."""
        return self.tile * self.tile

    def to_image(self, values: Shaped[Tensor, "C P"]) -> Shaped[Tensor, "C H W"]:
        """Reorder tile-order values ``(C, P)`` to an image ``(C, H, W)`` (padding cropped)."""
        image = values.index_select(1, self.image_index).reshape(-1, self.padded_h, self.padded_w)
        return image[:, : self.height, : self.width]


def make_ray_grid(height: int, width: int, intrinsics: Float[Tensor, "4"], tile: int = 8) -> RayGrid:
    """Precompute the tile-ordered camera rays of an ``height`` x ``width`` image.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        intrinsics: (fx, fy, cx, cy) in pixels.
        tile: tile side in pixels used for binning.

    Returns:
        The `RayGrid`.
    """
    tiles_y = -(-height // tile)
    tiles_x = -(-width // tile)
    hp, wp = tiles_y * tile, tiles_x * tile
    fx, fy, cx, cy = (float(x) for x in intrinsics)
    v, u = torch.meshgrid(torch.arange(hp, dtype=torch.float32), torch.arange(wp, dtype=torch.float32), indexing="ij")
    # tile order: (tile row, tile column, row in tile, column in tile)
    order = torch.arange(hp * wp).reshape(tiles_y, tile, tiles_x, tile).permute(0, 2, 1, 3).reshape(-1)
    u_t, v_t = u.reshape(-1)[order], v.reshape(-1)[order]
    return RayGrid(
        height=height,
        width=width,
        tile=tile,
        tiles_x=tiles_x,
        tiles_y=tiles_y,
        intrinsics=intrinsics.float(),
        dirs=torch.stack([(u_t - cx) / fx, (v_t - cy) / fy, torch.ones_like(u_t)]),
        uv=torch.stack([u_t, v_t]),
        image_index=torch.argsort(order),
    )


def yaw_rotate(yaw_cos: Tensor, yaw_sin: Tensor, v: Tensor) -> Tensor:
    """Rotate vectors ``(..., 3)`` about the y axis: ``R_y v``, ``R_y = [[c, 0, s], [0, 1, 0], [-s, 0, c]]``."""
    x, y, z = v.unbind(-1)
    return torch.stack([yaw_cos * x + yaw_sin * z, y, -yaw_sin * x + yaw_cos * z], dim=-1)


def screen_rects(
    centre_rel: Float[Tensor, "M 3"],
    yaw: Float[Tensor, " M"],
    half: Float[Tensor, "M 3"],
    scene_from_cam_rot: Float[Tensor, "3 3"],
    intrinsics: Float[Tensor, "4"],
    near: float,
) -> tuple[Float[Tensor, "M 4"], Float[Tensor, " M"], Tensor]:
    """Screen-space bounding rectangles of yawed boxes clipped to ``z >= near``.

    Args:
        centre_rel: box centres minus the camera centre, in scene axes, metres.
        yaw: box yaw about the scene's vertical (y) axis, radians.
        half: half extents, metres.
        scene_from_cam_rot: the camera's rotation (scene axes from camera axes).
        intrinsics: (fx, fy, cx, cy) in pixels.
        near: near-plane depth, metres.

    Returns:
        ``(rect, z_min, in_front)``: ``(u_min, u_max, v_min, v_max)`` in pixels, the smallest z-depth of the
        clipped box, and whether any part of the box lies in front of the near plane.
    """
    local = _CORNER_SIGNS[None] * half[:, None, :]
    rel = centre_rel[:, None, :] + yaw_rotate(torch.cos(yaw)[:, None], torch.sin(yaw)[:, None], local)
    corners = rel @ scene_from_cam_rot
    a, b = corners[:, _EDGES[:, 0]], corners[:, _EDGES[:, 1]]
    za, zb = a[..., 2], b[..., 2]
    crosses = (za - near) * (zb - near) < 0
    s = ((near - za) / torch.where(crosses, zb - za, torch.ones_like(za))).clamp(0.0, 1.0)
    cut = a + s[..., None] * (b - a)
    pts = torch.cat([corners, cut], dim=1)
    valid = torch.cat([corners[..., 2] >= near, crosses], dim=1)
    z = pts[..., 2].clamp_min(near)
    fx, fy, cx, cy = intrinsics.unbind(-1)
    u = fx * pts[..., 0] / z + cx
    v = fy * pts[..., 1] / z + cy
    inf = torch.tensor(float("inf"))
    rect = torch.stack(
        [
            torch.where(valid, u, inf).amin(1),
            torch.where(valid, u, -inf).amax(1),
            torch.where(valid, v, inf).amin(1),
            torch.where(valid, v, -inf).amax(1),
        ],
        dim=-1,
    )
    return rect, torch.where(valid, z, inf).amin(1), valid.any(1)


def _in_frustum(centre_rel: Tensor, half: Tensor, rot: Tensor, grid: RayGrid, near: float) -> Tensor:
    """Indices of the boxes whose bounding sphere meets the view frustum (a cheap test before `screen_rects`)."""
    c = centre_rel @ rot
    radius = half.norm(dim=-1)
    fx, fy, cx, cy = grid.intrinsics.tolist()
    keep = c[:, 2] > near - radius
    for axis, f, lo, hi in ((0, fx, -cx - 0.5, grid.width - 0.5 - cx), (1, fy, -cy - 0.5, grid.height - 0.5 - cy)):
        # side planes through the camera centre: f x - e z = 0 for image edges e in pixels from the centre
        for edge, sign in ((lo, -1.0), (hi, 1.0)):
            dist = sign * (f * c[:, axis] - edge * c[:, 2]) / (f * f + edge * edge) ** 0.5
            keep &= dist < radius
    return keep.nonzero()[:, 0]


def _tile_pairs(rect: Float[Tensor, "M 4"], grid: RayGrid) -> tuple[Int[Tensor, " E"], Int[Tensor, " E"]]:
    """All (tile, box) pairs whose tile overlaps the box's rectangle (half-pixel margin)."""
    t = grid.tile
    big = float(max(grid.padded_w, grid.padded_h) + 2)
    u0 = torch.ceil((rect[:, 0] - 0.5).clamp(-1.0, big))
    u1 = torch.floor((rect[:, 1] + 0.5).clamp(-1.0, big))
    v0 = torch.ceil((rect[:, 2] - 0.5).clamp(-1.0, big))
    v1 = torch.floor((rect[:, 3] + 0.5).clamp(-1.0, big))
    tx0 = torch.div(u0.clamp(0, grid.width - 1), t, rounding_mode="floor").long()
    tx1 = torch.div(u1.clamp(0, grid.width - 1), t, rounding_mode="floor").long()
    ty0 = torch.div(v0.clamp(0, grid.height - 1), t, rounding_mode="floor").long()
    ty1 = torch.div(v1.clamp(0, grid.height - 1), t, rounding_mode="floor").long()
    on_screen = (u1 >= 0) & (u0 <= grid.width - 1) & (v1 >= 0) & (v0 <= grid.height - 1) & (u0 <= u1) & (v0 <= v1)
    nx = (tx1 - tx0 + 1) * on_screen
    ny = (ty1 - ty0 + 1) * on_screen
    counts = nx * ny
    box = torch.repeat_interleave(torch.arange(rect.shape[0]), counts)
    if box.numel() == 0:
        return box, box
    first = torch.cumsum(counts, 0) - counts
    k = torch.arange(box.numel()) - first[box]
    tx = tx0[box] + k % nx[box]
    ty = ty0[box] + torch.div(k, nx[box], rounding_mode="floor")
    return ty * grid.tiles_x + tx, box


def _slab_keys(
    dirs: Tensor,
    q: int,
    tile: Tensor,
    box: Tensor,
    origin_local: Tensor,
    cos_yaw: Tensor,
    sin_yaw: Tensor,
    half: Tensor,
    near: float,
    sphere: Tensor | None = None,
) -> Tensor:
    """Slab test of (tile, box) pairs; returns ``(E, Q)`` int64 keys ``(depth bits << 32) | box``.

    A miss gets a huge depth (1e20 or more, never below `_NOTHING`) instead of a boolean mask, because float
    arithmetic is much faster than boolean selection on the CPU. Boxes flagged in ``sphere`` (float, per box)
    are spheres of radius ``half[:, 0]``: the nearer root of ``|o + t d|^2 = r^2`` replaces the slab hit.
    """
    d = dirs.reshape(3, -1, q).index_select(1, tile)
    dx, dy, dz = d[0], d[1], d[2]
    c, s = cos_yaw[box][:, None], sin_yaw[box][:, None]
    o = origin_local[box]
    h = half[box]
    t_near: Tensor | None = None
    t_far: Tensor | None = None
    local = ((0, c * dx - s * dz), (1, dy), (2, s * dx + c * dz))
    for axis, dl in local:
        inv = 1.0 / dl
        t_lo = (-h[:, axis : axis + 1] - o[:, axis : axis + 1]) * inv
        t_hi = (h[:, axis : axis + 1] - o[:, axis : axis + 1]) * inv
        lo, hi = torch.minimum(t_lo, t_hi), torch.maximum(t_lo, t_hi)
        t_near = lo if t_near is None else torch.maximum(t_near, lo)
        t_far = hi if t_far is None else torch.minimum(t_far, hi)
    assert t_near is not None and t_far is not None
    penalty = (t_near - t_far).clamp_min(0.0) + (near - t_near).clamp_min(0.0)
    if sphere is not None:
        sph = sphere[box][:, None]
        a = sum(dl * dl for _, dl in local)
        b = sum(o[:, axis : axis + 1] * dl for axis, dl in local)
        c2 = (o * o).sum(-1, keepdim=True) - h[:, :1] * h[:, :1]
        disc = b * b - a * c2
        t_sphere = (-b - disc.clamp_min(0.0).sqrt()) / a
        miss = (-disc).clamp_min(0.0) * 1e30 + (near - t_sphere).clamp_min(0.0)
        t_near = t_near + sph * (t_sphere - t_near)
        penalty = penalty + sph * (miss - penalty)
    t_key = torch.nan_to_num(t_near + penalty * 1e30, nan=float("inf")).clamp_min(0.0)
    return (t_key.view(torch.int32).long() << 32) | box[:, None]


def intersect_boxes(
    grid: RayGrid,
    dirs: Float[Tensor, "3 P"],
    centre_rel: Float[Tensor, "M 3"],
    yaw: Float[Tensor, " M"],
    half: Float[Tensor, "M 3"],
    scene_from_cam_rot: Float[Tensor, "3 3"],
    depth_bound: Float[Tensor, " P"],
    near: float = 0.05,
    first_pass: int = 3,
    sphere: Bool[Tensor, " M"] | None = None,
) -> tuple[Float[Tensor, " P"], Int[Tensor, " P"]]:
    """Nearest surface of every pixel ray: a box, or the surface given by ``depth_bound``; tile-order pixels.

    Pass one tests every tile against its ``first_pass`` boxes of smallest z-depth; pass two tests the other
    boxes of a tile only if they start in front of the tile's farthest depth found so far. Skipped boxes lie
    behind what every pixel of their tile already sees, so the result is exact.

    Args:
        grid: the image's tiled rays.
        dirs: ``(3, P)`` ray directions in scene axes (``grid.dirs`` rotated by the camera), tile order, with
            camera-frame z component 1.
        centre_rel: box centres minus the camera centre, in scene axes, metres.
        yaw: box yaw about the scene's vertical axis, radians.
        half: half extents, metres.
        scene_from_cam_rot: the camera's rotation.
        depth_bound: ``(P,)`` z-depth of another surface per pixel (ground plane, room walls; ``inf`` for none).
        near: hits closer than this z-depth (metres) are ignored, so is a box containing the camera.
        first_pass: boxes per tile in the first pass.
        sphere: which boxes are spheres of radius ``half[:, 0]`` (None: all are boxes); their bounding cube
            serves the binning and culling.

    Returns:
        ``(depth, box)``: z-depth of the nearest surface (``inf`` where none) and the index of the box seen,
        ``M`` (the number of boxes) where the ``depth_bound`` surface is nearer or nothing is hit.
    """
    n_box = int(centre_rel.shape[0])
    q = grid.tile_pixels
    # "nothing" is 1e18 inside the keys, so that misses (keys of 1e20 and more) never beat it
    keys = (depth_bound.clamp(max=_NOTHING).contiguous().view(torch.int32).long() << 32) | n_box
    candidates = _in_frustum(centre_rel, half, scene_from_cam_rot, grid, near) if n_box > 0 else None
    if candidates is not None and candidates.numel() > 0:
        rect, z_min, in_front = screen_rects(
            centre_rel[candidates], yaw[candidates], half[candidates], scene_from_cam_rot, grid.intrinsics, near
        )
        rect = torch.where(in_front[:, None], rect, torch.full_like(rect, -1e9))
        tile, sub = _tile_pairs(rect, grid)
        box = candidates[sub]
        z_min = torch.zeros(n_box).index_copy_(0, candidates, z_min)
        if box.numel() > 0:
            order = torch.argsort(tile.double() * 1e7 + z_min[box].double().clamp(max=1e6))
            tile, box = tile[order], box[order]
            counts = torch.bincount(tile, minlength=grid.tiles_x * grid.tiles_y)
            rank = torch.arange(tile.numel()) - (torch.cumsum(counts, 0) - counts)[tile]
            cos_yaw, sin_yaw = torch.cos(yaw), torch.sin(yaw)
            origin_local = yaw_rotate(cos_yaw, -sin_yaw, -centre_rel)
            offsets = torch.arange(q)
            sphere_f = sphere.float() if sphere is not None and bool(sphere.any()) else None
            first = rank < first_pass
            for sel in (first, None):
                if sel is None:
                    bound = (keys >> 32).int().view(torch.float32).reshape(-1, q).amax(1)
                    sel = ~first & (z_min[box] < bound[tile])
                t_sel, b_sel = tile[sel], box[sel]
                if b_sel.numel() == 0:
                    continue
                pair_keys = _slab_keys(dirs, q, t_sel, b_sel, origin_local, cos_yaw, sin_yaw, half, near, sphere_f)
                keys.scatter_reduce_(0, (t_sel[:, None] * q + offsets).reshape(-1), pair_keys.reshape(-1), "amin")
    depth = (keys >> 32).int().view(torch.float32)
    return torch.where(depth < _NOTHING, depth, float("inf")), keys & 0xFFFFFFFF
