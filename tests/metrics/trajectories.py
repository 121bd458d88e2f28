"""Random trajectories for metric tests, and their conversion to evo objects."""

import copy
import math

import numpy as np
import torch

from vokit.geometry.lie import (
    quat_multiply,
    se3_compose,
    se3_exp,
    se3_from_matrix,
    se3_inverse,
    se3_to_matrix,
    sim3_exp,
    so3_act,
)


def _chain(start: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Poses start, start @ steps[0], start @ steps[0] @ steps[1], ... (batched conversions, numpy products)."""
    mats = se3_to_matrix(torch.cat([start[None], steps])).numpy()
    out = [mats[0]]
    for m in mats[1:]:
        out.append(out[-1] @ m)
    return se3_from_matrix(torch.from_numpy(np.stack(out)))


def random_trajectory(n: int, seed: int, step_m: float = 0.5) -> torch.Tensor:
    """(n, 7) float64 world_from_cam poses of a camera driving forward with random turns and bumps."""
    g = torch.Generator().manual_seed(seed)
    start = se3_exp(torch.randn(6, generator=g, dtype=torch.float64))
    xi = torch.randn(n - 1, 6, generator=g, dtype=torch.float64) * torch.tensor([0.05, 0.05, 0.1, 0.05, 0.15, 0.05])
    xi[:, 2] += step_m
    return _chain(start, se3_exp(xi))


def noisy_estimate(ref: torch.Tensor, seed: int, noise: float = 0.05, sim3_scale: float = 1.0) -> torch.Tensor:
    """An estimate of ``ref``: drifting relative-motion noise, then a random Sim(3) change of world frame."""
    g = torch.Generator().manual_seed(seed + 1)
    rel = se3_compose(se3_inverse(ref[:-1]), ref[1:])
    noisy = se3_compose(rel, se3_exp(noise * torch.randn(rel.shape[0], 6, generator=g, dtype=torch.float64)))
    est = _chain(ref[0], noisy)
    xi = torch.randn(7, generator=g, dtype=torch.float64)
    xi[6] = math.log(sim3_scale)
    return apply_sim3(sim3_exp(xi), est)


def apply_sim3(sim3: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
    """``[R_s R | s R_s t + t_s]`` for every pose: a change of world frame with a similarity."""
    q = quat_multiply(sim3[3:7].expand(poses.shape[0], 4), poses[:, 3:])
    t = so3_act(sim3[3:7].expand(poses.shape[0], 4), sim3[7] * poses[:, :3]) + sim3[:3]
    return torch.cat([t, q / q.norm(dim=-1, keepdim=True)], dim=-1)


def to_evo(poses: torch.Tensor, stamps: np.ndarray | None = None):  # noqa: ANN201
    """An evo PosePath3D (or PoseTrajectory3D with stamps) of (N, 7) poses."""
    from evo.core.trajectory import PosePath3D, PoseTrajectory3D

    mats = [m for m in se3_to_matrix(poses).numpy()]
    if stamps is None:
        return PosePath3D(poses_se3=mats)
    return PoseTrajectory3D(poses_se3=mats, timestamps=np.asarray(stamps, dtype=np.float64))


def deep(obj):  # noqa: ANN001, ANN201
    return copy.deepcopy(obj)
