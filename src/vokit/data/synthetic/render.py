"""Render one frame of a `Scene`: RGB, z-depth, forward flow from geometry, motion mask, object ids.

Per pixel the renderer takes the nearest of the box hits (`raycast.intersect_boxes`), the ground plane (street)
or the room's inner walls (room), else the sky. From the hit it derives the surface normal, the material and
texture coordinates, samples the mip-mapped atlas with the pixel's footprint, and shades: hemispherical ambient
light, a sun, point lights (street lamps at night, ceiling lamps indoors), emissive glass, exponential fog, then
exposure, colour cast and gamma. Everything runs on whole-image tensors; there is no loop over pixels or boxes.

Ground truth:
- ``depth``: z-depth in metres of the visible surface; sky pixels get 0 (invalid).
- ``flow``: each pixel's 3D hit point at frame k, moved rigidly with its object from frame k to k + 1 if it
  belongs to a moving object, projected into camera k + 1, minus the pixel's position (pixels). Sky pixels are
  points at infinity, so their flow is the rotation-only flow of their viewing direction. Flow is given for
  every pixel, visible at k + 1 or not; a point that ends up behind camera k + 1 (never seen in the shipped
  scenes) is projected from depth 1 mm.
- ``motion_mask``: pixels of objects whose pose changes between frames k and k + 1.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from vokit.data.synthetic.atlas import TextureAtlas
from vokit.data.synthetic.domain import Domain
from vokit.data.synthetic.path import wobble
from vokit.data.synthetic.raycast import intersect_boxes, make_ray_grid
from vokit.data.synthetic.scene import EMIT_WINDOWS, Scene
from vokit.data.synthetic.shading import PAINT, lane_markings, point_lights, sky_radiance, street_lamps, tone_map

_U_AXIS = torch.tensor([2, 0, 0])
_WARM = torch.tensor([1.0, 0.78, 0.45])


@dataclass(frozen=True)
class RenderedFrame:
    """One rendered frame with its ground truth.

    Attributes:
        image: RGB in [0, 1].
        depth: z-depth in metres, 0 on the sky.
        flow: forward flow to the next frame in pixels (destination minus source).
        motion_mask: True on pixels of independently moving objects.
        object_id: moving-object index of each pixel, -1 for static surfaces and sky.
        box_id: index of the box seen at each pixel, -1 for ground, room walls and sky.
    """

    image: Float[Tensor, "3 H W"]
    depth: Float[Tensor, "H W"]
    flow: Float[Tensor, "H W 2"]
    motion_mask: Bool[Tensor, "H W"]
    object_id: Int[Tensor, "H W"]
    box_id: Int[Tensor, "H W"]


def intrinsics_for(
    height: int, width: int, hfov_deg: float, principal_offset: tuple[float, float] = (0.0, 0.0)
) -> Float[Tensor, "4"]:
    """Square-pixel pinhole intrinsics with the given horizontal field of view.

    The principal point is the image centre ``((W - 1) / 2, (H - 1) / 2)`` shifted by ``principal_offset``
    times ``(W, H)``.
    """
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx = (width - 1) / 2.0 + principal_offset[0] * width
    cy = (height - 1) / 2.0 + principal_offset[1] * height
    return torch.tensor([f, f, cx, cy], dtype=torch.float32)


def _yaw_rot(yaw: Tensor) -> Tensor:
    c, s = torch.cos(yaw), torch.sin(yaw)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, zero, s, zero, one, zero, -s, zero, c], dim=-1).reshape(*yaw.shape, 3, 3)


def _hash01(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """A deterministic per-cell pseudo-random number in [0, 1) from three integer tensors."""
    h = (a * 73856093) ^ (b * 19349663) ^ (c * 83492791)
    h = (h * 2654435761) % 4294967296
    h = h ^ (h >> 13)
    return (h % 10007).float() / 10007.0


class Renderer:
    """Renders the frames of one scene in one domain at one resolution.

    Internally every per-pixel quantity is a channels-first ``(C, P)`` tensor in the tile order of
    `raycast.RayGrid`, and selections use float masks and arithmetic blends: on the CPU, boolean indexing and
    ``torch.where`` cost many times more than a multiply-add.

    Args:
        scene: the scene.
        domain: appearance switches.
        height: image height in pixels.
        width: image width in pixels.
        tile: screen tile side for box binning (pixels).
        use_mip: prefilter textures with the mip pyramid (False samples level 0 only, for comparisons).
        near_m: near clipping depth, metres.
        max_depth_m: ground hits farther than this z-depth are shown as sky, metres.
        noise_seed: seed of the sensor noise and of the exposure changes (``domain.noise_std``,
            ``domain.exposure_drift``).
    """

    def __init__(
        self,
        scene: Scene,
        domain: Domain,
        height: int,
        width: int,
        tile: int = 8,
        use_mip: bool = True,
        near_m: float = 0.05,
        max_depth_m: float = 1000.0,
        noise_seed: int = 0,
    ) -> None:
        if height < 2 or width < 2:
            raise ValueError(f"Renderer: image size must be at least 2x2, got {height}x{width}")
        self.scene = scene
        self.domain = domain
        self.height, self.width = height, width
        self.intrinsics = intrinsics_for(height, width, scene.hfov_deg, scene.principal_offset)
        self.grid = make_ray_grid(height, width, self.intrinsics, tile)
        self.atlas = TextureAtlas(scene.textures)
        self.use_mip = use_mip
        self.near_m = near_m
        self.max_depth_m = max_depth_m
        self.noise_seed = noise_seed
        el, az = math.radians(domain.sun_elevation_deg), math.radians(domain.sun_azimuth_deg)
        self.sun_dir = torch.tensor([math.cos(el) * math.sin(az), -math.sin(el), math.cos(el) * math.cos(az)])
        self.dir_norm = self.grid.dirs.norm(dim=0)
        self.exposure_gain = exposure_gains(scene.timestamps.numpy(), domain.exposure_drift, noise_seed)
        self.vignette = vignette(self.grid.uv, self.intrinsics, height, width, domain.vignetting)
        boxes = scene.boxes
        n_box = len(boxes)
        # per-box constants, one dummy row (index M) for "no box": half, tint, texture offset, object (-1 static)
        self.sphere = boxes.sphere if boxes.sphere is not None and bool(boxes.sphere.any()) else None
        self.box_const = torch.cat(
            [
                torch.cat([boxes.half, boxes.tint, boxes.tex_offset_m, boxes.obj[:, None].float()], 1),
                torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, -1.0]]),
            ]
        )
        if self.sphere is not None:  # a sphere flag column (0 for the dummy row) only when there are spheres
            flags = torch.cat([self.sphere.float(), torch.zeros(1)])[:, None]
            self.box_const = torch.cat([self.box_const, flags], 1)
        # per (box, face axis): material and tile size; dummy rows for the index M
        self.face_table = torch.cat(
            [torch.cat([boxes.material[..., None].float(), boxes.tile_m], -1).reshape(-1, 3), torch.zeros(3, 3)]
        )
        self.material_emission = scene.material_emission.float()
        self.material_tile = scene.material_tile_m
        moves = (scene.obj_centre[1:] - scene.obj_centre[:-1]).abs().amax(-1) > 1e-7
        moves = moves | ((scene.obj_yaw[1:] - scene.obj_yaw[:-1]).abs() > 1e-7)
        self.obj_moves = torch.cat([moves.float(), torch.zeros(moves.shape[0], 1)], 1)
        self.n_box = n_box

    def __len__(self) -> int:
        return self.scene.n_frames - 1

    def render(self, k: int) -> RenderedFrame:
        """Render frame ``k`` (0 <= k < n_frames - 1) with its ground truth."""
        if not 0 <= k < len(self):
            raise IndexError(f"frame {k} out of range for a scene of {len(self)} frames")
        scene, grid = self.scene, self.grid
        pose0 = scene.scene_from_cam[k]
        rot0 = pose0[:3, :3].float()
        origin = pose0[:3, 3].float()
        centre, yaw = scene.boxes_at(k)
        centre_rel = (centre.double() - pose0[:3, 3]).float()
        dirs = rot0 @ grid.dirs
        depth_env = self._environment(dirs, origin)
        depth, box = intersect_boxes(
            grid, dirs, centre_rel, yaw, scene.boxes.half, rot0, depth_env, self.near_m, sphere=self.sphere
        )
        hit = torch.isfinite(depth).float()
        depth_c = depth.clamp(max=1e6)
        rel = dirs * depth_c
        normal, material, tex, tile, tint, on_box, obj = self._surfaces(k, box, rel, centre_rel, yaw)
        image = self._shade(k, dirs, depth_c, hit, box, normal, material, tex, tile, tint, on_box, rel)
        flow, obj_index = self._flow(k, dirs, hit, rel, obj)
        moving = self.obj_moves[k].index_select(0, obj_index)
        stacked = torch.cat([image, (depth_c * hit)[None], flow, moving[None], obj[None], box[None].float()])
        out = grid.to_image(stacked)
        box_id = out[8].long()
        rgb = out[:3]
        if self.domain.motion_blur > 0:
            rgb = self._noisy(k, motion_blur(rgb, out[4:6], self.domain.motion_blur))
        return RenderedFrame(
            image=rgb.contiguous(),
            depth=out[3].contiguous(),
            flow=out[4:6].permute(1, 2, 0).contiguous(),
            motion_mask=out[6] > 0.5,
            object_id=out[7].long(),
            box_id=torch.where(box_id < self.n_box, box_id, -1),
        )

    def _environment(self, dirs: Tensor, origin: Tensor) -> Tensor:
        """Depth of the ground plane (street) or the room's inner walls (room), ``inf`` where none; ``(P,)``."""
        scene = self.scene
        if scene.room is not None:
            o = (origin - scene.room.centre)[:, None]
            h = scene.room.half[:, None]
            inv = 1.0 / dirs
            t_far = torch.maximum((-h - o) * inv, (h - o) * inv).amin(0)
            if not bool((o.abs() < h).all()):
                return torch.full_like(t_far, float("inf"))
            return t_far
        if scene.ground is None or float(origin[1]) >= 0:
            return torch.full_like(dirs[0], float("inf"))
        t = -float(origin[1]) / dirs[1].clamp_min(1e-9)
        return torch.where(t < self.max_depth_m, t, float("inf"))

    def _surfaces(
        self, k: int, box: Tensor, rel: Tensor, centre_rel: Tensor, yaw: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Per-pixel surface attributes of the boxes, blended with the ground's or the room's.

        Returns normal (3, P), material (P,), texture coordinates in tiles (2, P), tile size in metres (P,),
        tint (3, P), box mask (P,) as floats, and the moving-object index (P,), float, -1 for static surfaces.

        Box attributes are computed for every pixel (pixels without a box read a dummy row) and blended with
        the ground's or the room's by the float mask ``on_box``.
        """
        scene = self.scene
        dyn = torch.cat([centre_rel, torch.cos(yaw)[:, None], torch.sin(yaw)[:, None]], 1)
        dyn = torch.cat([dyn, torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0]])])
        g = torch.cat([dyn, self.box_const], 1).index_select(0, box).T.contiguous()
        cos_yaw, sin_yaw, half, tint, obj = g[3], g[4], g[5:8], g[8:11], g[13]
        d = rel - g[0:3]
        p = torch.stack([cos_yaw * d[0] - sin_yaw * d[2], d[1], sin_yaw * d[0] + cos_yaw * d[2]])
        is_x, is_y, is_z, sign = _face_axis(p, half)
        n_local = sign * torch.stack([is_x, is_y, is_z])
        if self.sphere is not None:
            # spheres: radial normal, the x faces' material, (u, v) = arc lengths along longitude and latitude
            sph = g[14]
            n_local = n_local + sph * (p / p.norm(dim=0).clamp_min(1e-9) - n_local)
            is_x, is_y, is_z = is_x + sph * (1.0 - is_x), is_y * (1.0 - sph), is_z * (1.0 - sph)
        normal = torch.stack(
            [cos_yaw * n_local[0] + sin_yaw * n_local[2], n_local[1], -sin_yaw * n_local[0] + cos_yaw * n_local[2]]
        )
        face = self.face_table.index_select(0, box * 3 + (is_y + 2.0 * is_z).long()).T
        pm = p + half
        u = is_x * pm[2] + (1.0 - is_x) * pm[0]
        v = is_y * pm[2] + (1.0 - is_y) * (2.0 * half[1] - pm[1])
        if self.sphere is not None:
            radius = half[0]
            lon = torch.atan2(p[0], p[2]) + math.pi
            lat = torch.atan2(-p[1], torch.sqrt(p[0] * p[0] + p[2] * p[2])) + 0.5 * math.pi
            u = u + sph * (radius * lon - u)
            v = v + sph * (radius * lat - v)
        tex = torch.stack([(u + g[11]) / face[1].clamp_min(1e-6), (v + g[12]) / face[2].clamp_min(1e-6)])
        on_box = (box < self.n_box).float()
        point = rel + scene.scene_from_cam[k, :3, 3].float()[:, None]
        env_normal, env_material, env_tex, env_tile = self._environment_surface(point)
        material = (env_material + on_box * (face[0] - env_material)).round().long()
        normal = env_normal + on_box * (normal - env_normal)
        tex = env_tex + on_box * (tex - env_tex)
        tile = env_tile + on_box * ((face[1] * face[2]).sqrt() - env_tile)
        return normal, material, tex, tile, tint, on_box, obj

    def _environment_surface(self, point: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Normal, material (float), texture coordinates (tiles) and tile size (metres) of the ground or walls."""
        scene = self.scene
        if scene.room is not None:
            room = scene.room
            p = point - room.centre[:, None]
            half = room.half[:, None].expand_as(p)
            is_x, is_y, is_z, sign = _face_axis(p, half)
            face = (2.0 * (is_y + 2.0 * is_z) + (torch.stack([is_x, is_y, is_z]) * (sign > 0)).sum(0)).long()
            table = torch.cat([room.materials[:, None].float(), room.tile_m], 1).index_select(0, face).T
            normal = -sign * torch.stack([is_x, is_y, is_z])
            pm = p + half
            u = is_x * pm[2] + (1.0 - is_x) * pm[0]
            v = is_y * pm[2] + (1.0 - is_y) * (2.0 * half[1] - pm[1])
            return normal, table[0], torch.stack([u / table[1], v / table[2]]), (table[1] * table[2]).sqrt()
        normal = torch.zeros_like(point)
        normal[1] = -1.0
        if scene.ground is None:
            return normal, torch.zeros_like(point[0]), point[[0, 2]], torch.ones_like(point[0])
        ground = scene.ground
        b = ground.block_m
        dist = torch.minimum(
            (point[0] - torch.round(point[0] / b) * b).abs(), (point[2] - torch.round(point[2] / b) * b).abs()
        )
        asphalt, sidewalk, block = ground.materials
        road = (ground.road_half_m - dist).sign().clamp_min(0.0)
        walk = (ground.road_half_m + ground.sidewalk_m - dist).sign().clamp_min(0.0)
        material = block + walk * (sidewalk - block) + road * (asphalt - sidewalk)
        tile = self.material_tile.index_select(0, material.long()).T
        return normal, material, point[[0, 2]] / tile, (tile[0] * tile[1]).sqrt()

    def _shade(
        self,
        k: int,
        dirs: Tensor,
        depth: Tensor,
        hit: Tensor,
        box: Tensor,
        normal: Tensor,
        material: Tensor,
        tex: Tensor,
        tile: Tensor,
        tint: Tensor,
        on_box: Tensor,
        rel: Tensor,
    ) -> Tensor:
        """Tone-mapped RGB in [0, 1] of every pixel, ``(3, P)``."""
        scene, domain = self.scene, self.domain
        focal = float(self.intrinsics[0])
        unit = dirs / self.dir_norm
        cos_view = (normal * unit).sum(0).abs().clamp_min(0.05)
        footprint_m = depth / focal / cos_view.sqrt()
        footprint = footprint_m / tile
        sky = 1.0 - hit
        elevation = (-unit[1]).clamp_min(0.02)
        clouds = sky * (-unit[1] - 0.02).sign().clamp_min(0.0) if scene.sky_material >= 0 else torch.zeros_like(sky)
        has_clouds = bool(clouds.max() > 0)
        if has_clouds:
            material = material + (clouds * (scene.sky_material - material)).long()
            tex = tex + clouds * (unit[[0, 2]] / elevation / 3.0 - tex)
            footprint = footprint + clouds * (1.0 / focal / elevation.pow(1.5) / 3.0 - footprint)
        if not self.use_mip:
            footprint = torch.zeros_like(footprint)
        texel = self.atlas.sample(material, tex[0], tex[1], footprint)
        albedo = texel[:3] * tint
        point = rel + scene.scene_from_cam[k, :3, 3].float()[:, None]
        if scene.ground is not None:
            cover = lane_markings(point, footprint_m, scene.ground) * hit * (1.0 - on_box)
            paint = torch.tensor(PAINT)[:, None] * (0.75 + 0.5 * albedo)
            albedo = albedo + cover * (paint - albedo)
        irradiance = domain.ambient * (0.65 - 0.35 * normal[1])
        if domain.sun > 0:
            irradiance = irradiance + domain.sun * (self.sun_dir @ normal).clamp_min(0.0)
        if domain.lamps > 0 and scene.ground is not None:
            irradiance = irradiance + domain.lamps * street_lamps(point, normal, scene.ground)
        if domain.lamps > 0 and scene.lights.shape[0] > 0:
            irradiance = irradiance + domain.lamps * point_lights(point, normal, scene.lights)
        occlusion = 1.0 - 0.35 * torch.exp(point[1].clamp_max(0.0) / 0.6) * (1.0 - normal[1].abs())
        radiance = albedo * (irradiance * occlusion)
        if domain.emission > 0:
            kind = self.material_emission.index_select(0, material)
            lit = _hash01(box, torch.floor(tex[0]).long(), torch.floor(tex[1]).long())
            window = (1.0 - (kind - EMIT_WINDOWS).abs()).clamp_min(0.0) * (0.45 - lit).sign().clamp_min(0.0)
            always = (kind - EMIT_WINDOWS).clamp(0.0, 1.0)
            glow = _WARM[:, None] * (1.5 * window * (0.6 + 0.9 * lit)) + 2.0 * always * texel[:3]
            radiance = radiance + domain.emission * texel[3] * glow
        if domain.fog_density_per_m > 0:
            keep = torch.exp(-domain.fog_density_per_m * depth * self.dir_norm)
            fog = torch.tensor(domain.fog_colour)[:, None]
            radiance = fog + keep * (radiance - fog)
        if bool(sky.max() > 0):
            sky_rgb = sky_radiance(unit, domain)
            if has_clouds:
                rise = ((-unit[1] - 0.02) / 0.15).clamp(0.0, 1.0)
                cloud_rgb = 0.95 * min(1.0, domain.ambient + domain.sun)
                sky_rgb = sky_rgb + (texel[0] * rise * clouds) * (cloud_rgb - sky_rgb)
            if domain.fog_density_per_m > 0:
                sky_rgb = torch.tensor(domain.fog_colour)[:, None].expand_as(sky_rgb)
            radiance = radiance + sky * (sky_rgb - radiance)
        if self.vignette is not None or domain.exposure_drift > 0:
            gain = float(self.exposure_gain[k])
            radiance = radiance * (gain if self.vignette is None else gain * self.vignette)
        rgb = tone_map(radiance, domain)
        return rgb if domain.motion_blur > 0 else self._noisy(k, rgb)

    def _noisy(self, k: int, rgb: Tensor) -> Tensor:
        """``rgb`` plus the domain's Gaussian sensor noise (seeded by the noise seed and the frame), clipped."""
        if self.domain.noise_std <= 0:
            return rgb
        gen = torch.Generator().manual_seed(self.noise_seed * 1_000_003 + k)
        return (rgb + self.domain.noise_std * torch.randn(rgb.shape, generator=gen)).clamp(0.0, 1.0)

    def _flow(self, k: int, dirs: Tensor, hit: Tensor, rel: Tensor, obj: Tensor) -> tuple[Tensor, Tensor]:
        """Forward flow ``(2, P)`` to frame k + 1 from geometry and object motion, and each pixel's object row.

        Every pixel reads a motion row: its object's (rotation by the yaw change about the object's centre) or,
        for static surfaces and the sky, the identity row ``D``.
        """
        scene = self.scene
        pose0, pose1 = scene.scene_from_cam[k], scene.scene_from_cam[k + 1]
        delta = (pose1[:3, 3] - pose0[:3, 3]).float()
        n_obj = scene.obj_centre.shape[1]
        c0 = (scene.obj_centre[k].double() - pose0[:3, 3]).float()
        c1 = (scene.obj_centre[k + 1].double() - pose0[:3, 3]).float()
        turn = scene.obj_yaw[k + 1] - scene.obj_yaw[k]
        motion = torch.cat([c0, c1, torch.cos(turn)[:, None], torch.sin(turn)[:, None]], 1)
        motion = torch.cat([motion, torch.tensor([[0.0] * 6 + [1.0, 0.0]])])
        index = (obj + (1.0 - (obj + 1.0).clamp(0.0, 1.0)) * (n_obj + 1)).round().long()
        m = motion.index_select(0, index).T
        d = rel - m[0:3]
        cos_t, sin_t = m[6], m[7]
        rel1 = torch.stack([cos_t * d[0] + sin_t * d[2], d[1], -sin_t * d[0] + cos_t * d[2]]) + m[3:6] - delta[:, None]
        target = dirs + hit * (rel1 - dirs)
        p1 = pose1[:3, :3].float().T @ target
        fx, fy, cx, cy = self.intrinsics.unbind(-1)
        z = p1[2].clamp_min(1e-3)
        uv1 = torch.stack([fx * p1[0] / z + cx, fy * p1[1] / z + cy])
        return uv1 - self.grid.uv, index


def exposure_gains(times: np.ndarray, drift: float, seed: int) -> Float[Tensor, " F"]:
    """Smooth per-frame exposure gains ``exp(s(t))``, ``s`` three sinusoids of 0.05-0.5 Hz with peak ``drift``.

    All ones when ``drift`` is 0. Seeded by ``seed`` (the sequence's noise seed).
    """
    if drift <= 0:
        return torch.ones(len(times))
    log_gain = wobble(np.random.default_rng([seed, 31]), times, drift, (0.05, 0.5))
    return torch.from_numpy(np.exp(log_gain)).float()


def vignette(
    uv: Float[Tensor, "2 P"], intrinsics: Float[Tensor, "4"], height: int, width: int, strength: float
) -> Float[Tensor, " P"] | None:
    """Radiance factor ``1 - strength * r^2`` per pixel (None when ``strength`` is 0).

    r is the distance from the principal point relative to the farthest image corner's.
    """
    if strength <= 0:
        return None
    centre = intrinsics[2:4, None]
    corners = torch.tensor([[0.0, width - 1.0, 0.0, width - 1.0], [0.0, 0.0, height - 1.0, height - 1.0]])
    r2 = ((uv - centre) ** 2).sum(0) / ((corners - centre) ** 2).sum(0).max()
    return 1.0 - strength * r2


def motion_blur(image: Float[Tensor, "3 H W"], flow: Float[Tensor, "2 H W"], shutter: float, taps: int = 8) -> Tensor:
    """Average ``image`` along each pixel's forward flow over a shutter of ``shutter`` frame intervals.

    The point seen at pixel u at time t (frame intervals, 0 = the frame's instant) is, to first order, the one
    seen at ``u - t * flow(u)`` at time 0, so the blurred pixel is the mean of the image sampled there for
    ``taps`` times evenly spread over ``[-shutter / 2, shutter / 2]`` (bilinear, borders repeated). Occlusion
    changes during the shutter are ignored.
    """
    _, height, width = image.shape
    rows, cols = torch.arange(height, dtype=image.dtype), torch.arange(width, dtype=image.dtype)
    v, u = torch.meshgrid(rows, cols, indexing="ij")
    times = shutter * ((torch.arange(taps, dtype=image.dtype) + 0.5) / taps - 0.5)
    x = u[None] - times[:, None, None] * flow[0][None]
    y = v[None] - times[:, None, None] * flow[1][None]
    grid = torch.stack([x * (2.0 / max(width - 1, 1)) - 1.0, y * (2.0 / max(height - 1, 1)) - 1.0], dim=-1)
    taps_rgb = F.grid_sample(image[None].expand(taps, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                             align_corners=True)
    return taps_rgb.mean(0)


def _face_axis(p: Tensor, half: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Which face of a box a surface point ``p`` (box frame, ``(3, P)``) lies on.

    Returns float one-hot masks of the face axis (the coordinate closest to its bound; ties go to z, then y) and
    the sign of each coordinate.
    """
    q = p.abs() / half
    q_max = torch.maximum(q[0], torch.maximum(q[1], q[2]))
    is_z = (q[2] >= q_max).float()
    is_y = (q[1] >= q_max).float() * (1.0 - is_z)
    return 1.0 - is_y - is_z, is_y, is_z, torch.sign(p)
