"""Tiny analytic scenes for the loss tests: a textured plane ray-cast from known cameras."""

import torch
from torch import Tensor

from vokit.geometry import lie

H, W = 32, 48
INTRINSICS = torch.tensor([[40.0, 40.0, (W - 1) / 2, (H - 1) / 2]])
MIN_DEPTH, MAX_DEPTH = 0.1, 100.0


def plane_texture(x: Tensor, y: Tensor) -> Tensor:
    """Smooth RGB texture in [0.05, 0.95] on world-plane coordinates; returns (..., 3)."""
    channels = [
        0.5 + 0.2 * torch.sin(7 * x + 1 + k) * torch.cos(5 * y - k) + 0.15 * torch.sin(13 * x - 11 * y + 2 * k)
        for k in range(3)
    ]
    return torch.stack(channels, dim=-1)


def render_plane(world_from_cam: Tensor, intrinsics: Tensor, plane_z: float) -> tuple[Tensor, Tensor]:
    """Ray-cast the plane ``Z_world = plane_z``: returns image (1, 3, H, W) and z-depth (1, H, W)."""
    fx, fy, cx, cy = intrinsics[0].unbind()
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    rays_cam = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(u)], dim=-1)
    rays_world = lie.so3_act(world_from_cam[3:], rays_cam)
    centre = world_from_cam[:3]
    t_hit = (plane_z - centre[2]) / rays_world[..., 2]
    pts = centre + t_hit[..., None] * rays_world
    image = plane_texture(pts[..., 0], pts[..., 1]).permute(2, 0, 1)[None]
    return image, t_hit[None]


def depth_to_sigmoid(depth: Tensor) -> Tensor:
    """Inverse of ``disp_to_depth`` for the default depth range."""
    return (1.0 / depth - 1.0 / MAX_DEPTH) / (1.0 / MIN_DEPTH - 1.0 / MAX_DEPTH)


def pose(translation: tuple[float, float, float], axis_angle: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Tensor:
    """SE(3) (7,) from a translation and a rotation vector."""
    q = lie.axis_angle_to_quat(torch.tensor(axis_angle))
    return torch.cat([torch.tensor(translation), q])


def sigmoid_pyramid(sigmoid_full: Tensor, n_scales: int = 4) -> list[Tensor]:
    """Per-scale sigmoid outputs (B, 1, H/2^s, W/2^s) by average pooling a full-resolution map."""
    return [torch.nn.functional.avg_pool2d(sigmoid_full, 2**s) if s else sigmoid_full for s in range(n_scales)]
