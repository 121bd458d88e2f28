"""Small in-memory sequences with every kind of ground truth, for data-layer tests."""

import math

import torch

from vokit.data.sequence import Sequence
from vokit.geometry.lie import se3_compose, se3_exp

INTRINSICS = (30.0, 31.0, 15.5, 11.5)


def smooth_poses(n: int, generator: torch.Generator, step_m: float = 0.3) -> torch.Tensor:
    """(n, 7) float64 world_from_cam poses of a camera moving forward while turning a little."""
    poses = [torch.tensor([0.1, -0.2, 0.3, 0.0, 0.0, math.sin(0.1), math.cos(0.1)], dtype=torch.float64)]
    for _ in range(n - 1):
        xi = torch.randn(6, generator=generator, dtype=torch.float64) * torch.tensor([0.02] * 3 + [0.03] * 3)
        xi[2] += step_m
        poses.append(se3_compose(poses[-1], se3_exp(xi)))
    return torch.stack(poses)


def make_sequence(
    n: int = 4,
    height: int = 24,
    width: int = 32,
    seed: int = 0,
    depth: bool = True,
    flow: bool = True,
    motion_mask: bool = True,
    poses: bool = True,
    t0: float = 1305031102.175304,
) -> Sequence:
    """A random-texture sequence whose images are exact multiples of 1/255 (so 8-bit PNGs store them exactly).

    Depth is in [1, 20] m with a few invalid (0) pixels, flow is random with NaN for the last frame (it has no
    next frame), masks are random blobs.
    """
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, height, width), generator=g).float() / 255.0 for _ in range(n)]
    depths = []
    for _ in range(n):
        d = 1.0 + 19.0 * torch.rand(height, width, generator=g)
        d[torch.rand(height, width, generator=g) < 0.05] = 0.0
        depths.append(d)
    flows = [3.0 * torch.randn(height, width, 2, generator=g) for _ in range(n - 1)]
    flows.append(torch.full((height, width, 2), float("nan")))
    masks = [torch.rand(height, width, generator=g) < 0.2 for _ in range(n)]
    world_from_cam = smooth_poses(n, g) if poses else None
    timestamps = [t0 + 0.0333 * i for i in range(n)]
    return Sequence(
        name="tiny",
        timestamps=timestamps,
        intrinsics=torch.tensor(INTRINSICS),
        image_size=(height, width),
        load_image=lambda i: images[i].clone(),
        world_from_cam=world_from_cam,
        load_depth=(lambda i: depths[i].clone()) if depth else None,
        load_flow=(lambda i: flows[i].clone()) if flow else None,
        load_motion_mask=(lambda i: masks[i].clone()) if motion_mask else None,
    )


def same_rotation(q_a: torch.Tensor, q_b: torch.Tensor, atol: float) -> bool:
    """Quaternions (..., 4) equal up to sign."""
    close = torch.isclose(q_a, q_b, atol=atol, rtol=0).all(-1) | torch.isclose(q_a, -q_b, atol=atol, rtol=0).all(-1)
    return bool(close.all())


def assert_same_sequence(a: Sequence, b: Sequence, pose_atol: float = 1e-12) -> None:
    """Every field and every frame of two sequences agree (poses to ``pose_atol``, quaternions up to sign)."""
    assert len(a) == len(b)
    assert a.image_size == b.image_size
    torch.testing.assert_close(a.timestamps, b.timestamps, rtol=0, atol=0)
    torch.testing.assert_close(a.intrinsics, b.intrinsics, rtol=0, atol=0)
    assert (a.world_from_cam is None) == (b.world_from_cam is None)
    if a.world_from_cam is not None and b.world_from_cam is not None:
        torch.testing.assert_close(a.world_from_cam[:, :3], b.world_from_cam[:, :3], rtol=0, atol=pose_atol)
        assert same_rotation(a.world_from_cam[:, 3:], b.world_from_cam[:, 3:], pose_atol)
    assert (a.has_depth, a.has_flow, a.has_motion_mask) == (b.has_depth, b.has_flow, b.has_motion_mask)
    for i in range(len(a)):
        fa, fb = a[i], b[i]
        torch.testing.assert_close(fa.image, fb.image, rtol=0, atol=0)
        for name in ("depth", "flow", "motion_mask"):
            va, vb = getattr(fa, name), getattr(fb, name)
            if va is not None:
                torch.testing.assert_close(va, vb, rtol=0, atol=0, equal_nan=True)
