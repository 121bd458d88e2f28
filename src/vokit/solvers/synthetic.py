"""Random patch-BA problems with known ground truth, for tests, benchmarks and examples.

Cameras move forward along a gently curving path with small rotations; every frame hosts ``patches_per_frame``
patches at random pixels with inverse depths in ``[0.2, 0.6]`` (depths 1.7-5 units), and each patch is observed in
the ``obs_per_patch`` frames nearest to its host, which mirrors a patch-VO window (each point seen in ~6 frames).
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from vokit.geometry.lie import se3_compose, se3_exp, se3_inverse
from vokit.solvers.graph import BAGraph, build_ba_graph
from vokit.solvers.jacobians import reproject_patch

IMAGE_SIZE = (120, 160)
"""``(h, w)`` of the synthetic images: DPVO's 1/4 resolution of 480 x 640."""


@dataclass(frozen=True)
class SyntheticBAProblem:
    """A batch of BA problems sharing one graph, with ground truth and a perturbed start.

    Attributes:
        cam_from_world_gt: true poses.
        inv_depth_gt: true patch inverse depths.
        cam_from_world: perturbed start (fixed poses keep their true value).
        inv_depth: perturbed start.
        patch_uv: patch centres in their host images, pixels.
        intrinsics: ``(fx, fy, cx, cy)``, pixels.
        targets: true reprojections plus ``noise_px`` Gaussian noise, pixels.
        weights: per-axis confidences in ``[0.5, 1]``.
        src_idx: host frame per edge.
        dst_idx: observing frame per edge.
        patch_idx: patch per edge.
        free_poses: optimised poses (the first ``n_fixed`` are fixed).
        image_size: ``(h, w)``.
    """

    cam_from_world_gt: Float[Tensor, "B N 7"]
    inv_depth_gt: Float[Tensor, "B P"]
    cam_from_world: Float[Tensor, "B N 7"]
    inv_depth: Float[Tensor, "B P"]
    patch_uv: Float[Tensor, "B P 2"]
    intrinsics: Float[Tensor, "B 4"]
    targets: Float[Tensor, "B E 2"]
    weights: Float[Tensor, "B E 2"]
    src_idx: Int[Tensor, " E"]
    dst_idx: Int[Tensor, " E"]
    patch_idx: Int[Tensor, " E"]
    free_poses: Bool[Tensor, " N"]
    image_size: tuple[int, int]

    def graph(self) -> BAGraph:
        """The problem's :class:`~vokit.solvers.graph.BAGraph`."""
        return build_ba_graph(self.src_idx, self.dst_idx, self.patch_idx, self.free_poses, self.patch_uv.shape[1])


def synthetic_ba_problem(
    n_poses: int,
    patches_per_frame: int,
    obs_per_patch: int = 6,
    batch: int = 1,
    n_fixed: int = 1,
    noise_px: float = 0.0,
    pose_noise: float = 0.02,
    depth_noise: float = 0.1,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> SyntheticBAProblem:
    """Generate a random patch-BA problem (on the CPU with ``generator``, then moved to ``device``).

    Args:
        n_poses: frames N (>= 2).
        patches_per_frame: patches hosted by each frame.
        obs_per_patch: frames each patch is observed in besides its host (clipped to ``N - 1``).
        batch: independent scenes B.
        n_fixed: leading poses held fixed (the gauge); 2 also fixes the monocular scale.
        noise_px: standard deviation of the Gaussian noise added to the targets, pixels.
        pose_noise: standard deviation of the tangent perturbation of the free poses' start (units, radians).
        depth_noise: relative standard deviation of the inverse depths' start.
        dtype: floating dtype.
        device: target device.
        generator: seeded CPU generator.

    Returns:
        The problem; edges are ordered host-major, patch by patch.
    """
    if n_poses < 2 or patches_per_frame < 1:
        raise ValueError("synthetic_ba_problem: need n_poses >= 2 and patches_per_frame >= 1")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    f64 = torch.float64
    h, w = IMAGE_SIZE
    idx = torch.arange(n_poses, dtype=f64)
    # camera centres move ~0.05 units forward per frame with some sideways drift; small rotations
    steps = torch.stack([0.03 * torch.sin(0.5 * idx), 0.01 * torch.cos(0.3 * idx), 0.05 * idx], dim=-1)
    centres = steps[None] + 0.01 * torch.randn(batch, n_poses, 3, generator=g, dtype=f64)
    rot = 0.03 * torch.randn(batch, n_poses, 3, generator=g, dtype=f64)
    zero = torch.zeros_like(rot)
    world_from_cam = se3_compose(se3_exp(torch.cat([centres, zero], -1)), se3_exp(torch.cat([zero, rot], -1)))
    cam_from_world_gt = se3_inverse(world_from_cam)

    n_patches = n_poses * patches_per_frame
    uv = torch.rand(batch, n_patches, 2, generator=g, dtype=f64) * torch.tensor([w - 16.0, h - 16.0], dtype=f64) + 8.0
    inv_depth_gt = 0.2 + 0.4 * torch.rand(batch, n_patches, generator=g, dtype=f64)
    intrinsics = torch.tensor([80.0, 80.0, 80.0, 60.0], dtype=f64).expand(batch, 4).clone()

    n_obs = min(obs_per_patch, n_poses - 1)
    dist = (idx[:, None] - idx[None, :]).abs() + 1e-3 * idx[None, :]
    targets_of_host = torch.argsort(dist, dim=1)[:, 1 : n_obs + 1]
    patch_host = torch.arange(n_poses).repeat_interleave(patches_per_frame)
    patch_idx = torch.arange(n_patches).repeat_interleave(n_obs)
    src_idx = patch_host[patch_idx]
    dst_idx = targets_of_host[patch_host].reshape(-1)

    targets = reproject_patch(
        cam_from_world_gt[:, src_idx],
        cam_from_world_gt[:, dst_idx],
        uv[:, patch_idx],
        inv_depth_gt[:, patch_idx],
        intrinsics[:, None, :],
    )
    targets = targets + noise_px * torch.randn(targets.shape, generator=g, dtype=f64)
    weights = 0.5 + 0.5 * torch.rand(targets.shape, generator=g, dtype=f64)

    free = torch.arange(n_poses) >= n_fixed
    xi = pose_noise * torch.randn(batch, n_poses, 6, generator=g, dtype=f64) * free[None, :, None]
    cam_from_world = se3_compose(se3_exp(xi), cam_from_world_gt)
    inv_depth = inv_depth_gt * (1.0 + depth_noise * torch.randn(batch, n_patches, generator=g, dtype=f64))
    inv_depth = inv_depth.clamp(min=0.05)

    def cast(t: Tensor) -> Tensor:
        return t.to(device=device, dtype=dtype)

    return SyntheticBAProblem(
        cam_from_world_gt=cast(cam_from_world_gt),
        inv_depth_gt=cast(inv_depth_gt),
        cam_from_world=cast(cam_from_world),
        inv_depth=cast(inv_depth),
        patch_uv=cast(uv),
        intrinsics=cast(intrinsics),
        targets=cast(targets),
        weights=cast(weights),
        src_idx=src_idx.to(device),
        dst_idx=dst_idx.to(device),
        patch_idx=patch_idx.to(device),
        free_poses=free.to(device),
        image_size=IMAGE_SIZE,
    )
