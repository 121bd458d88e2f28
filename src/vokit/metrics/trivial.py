"""Trivial predictors that every trajectory and depth result is reported beside.

A Sim(3)-aligned ATE is forgiving: on a short straight drive a constant-velocity line scores a few centimetres,
and a static camera scores the spread of the ground-truth path. A learned model that does not beat these has not
learned motion. This module scores, with the same protocol as the estimate:

- the **static camera**: every pose equal to the ground truth's first pose;
- the **constant-velocity line**: the first ground-truth orientation held fixed, the camera centre moving along
  that frame's optical axis (+z) at the ground truth's mean speed (path length over duration);
- the **constant-depth predictor**: one depth for every pixel, median-scaled per image like a monocular model.

Alignment of the trivial trajectories (``"sim3"`` and ``"se3"``): Umeyama is undefined for them (their camera
centres are coincident or collinear), so the optimum is taken in closed form. The static camera's centre goes
to the centroid of the reference centres; the line's centres ``tau_i u + a`` (``tau_i`` the time since the
first frame) are the least-squares fit of the reference centres, with ``|u|`` free for ``"sim3"`` and fixed at
the mean speed for ``"se3"``; the line's orientation turns by the smallest rotation taking its axis onto ``u``
(the roll about the axis is left at the ground truth's). ``"scale"`` and ``"none"`` use the ordinary metrics
(the static camera is not scaled). RPE of a trivial trajectory is taken on its aligned poses.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.errors import VokitError
from vokit.metrics.depth import CropMode, DepthMetrics, eigen_depth_metrics
from vokit.metrics.stats import ErrorStats
from vokit.metrics.trajectory import (
    AlignMode,
    PoseInput,
    absolute_trajectory_error,
    pose_matrices,
    relative_pose_error,
)

STATIC_CAMERA = "static camera"
CONSTANT_VELOCITY = "constant-velocity line"


@dataclass(frozen=True)
class TrajectoryScore:
    """The headline errors of one trajectory against the reference.

    Attributes:
        name: ``"estimate"``, ``"static camera"`` or ``"constant-velocity line"``.
        ate: translation APE after alignment, metres.
        ate_rot: rotation APE after alignment, degrees.
        rpe: RPE translation, metres.
        rpe_rot: RPE rotation, degrees.
    """

    name: str
    ate: ErrorStats
    ate_rot: ErrorStats
    rpe: ErrorStats
    rpe_rot: ErrorStats

    def as_dict(self) -> dict[str, float]:
        """The rmse of each error (JSON-ready)."""
        return {"ate_rmse_m": self.ate.rmse, "ate_rot_rmse_deg": self.ate_rot.rmse,
                "rpe_trans_rmse_m": self.rpe.rmse, "rpe_rot_rmse_deg": self.rpe_rot.rmse}


@dataclass(frozen=True)
class TrivialComparison:
    """An estimate's errors beside those of the static camera and the constant-velocity line.

    Attributes:
        align: the alignment used for all three.
        estimate: the estimate's errors.
        static: the static camera's errors.
        line: the constant-velocity line's errors.
        line_speed_m_s: the line's speed (ground-truth path length over duration; per frame without stamps).
    """

    align: str
    estimate: TrajectoryScore
    static: TrajectoryScore
    line: TrajectoryScore
    line_speed_m_s: float

    @property
    def beats_trivial(self) -> bool:
        """Whether the estimate's ATE rmse is below both trivial trajectories'."""
        return self.estimate.ate.rmse < min(self.static.ate.rmse, self.line.ate.rmse)

    @property
    def verdict(self) -> str:
        """One line for reports: better than both trivial trajectories, or which one is as good."""
        if self.beats_trivial:
            return "better than a static camera and a constant-velocity line (ATE)"
        worse = [s.name for s in (self.static, self.line) if s.ate.rmse <= self.estimate.ate.rmse]
        return f"TRIVIAL: not better than a {' or a '.join(worse)} (ATE, {self.align} alignment)"

    def rows(self) -> tuple[TrajectoryScore, TrajectoryScore, TrajectoryScore]:
        """The estimate, the static camera and the line, in table order."""
        return self.estimate, self.static, self.line

    def as_dict(self) -> dict:
        """JSON-ready: alignment, the three scores, the line's speed and the verdict."""
        return {"align": self.align, "line_speed_m_s": self.line_speed_m_s, "beats_trivial": self.beats_trivial,
                "verdict": self.verdict, **{s.name: s.as_dict() for s in self.rows()}}

    def table(self) -> str:
        """A plain-text table of the three trajectories (rmse values) and the verdict."""
        head = f"{'trajectory':<24} {'ATE (m)':>10} {'ATE rot (deg)':>14} {'RPE (m)':>10} {'RPE rot (deg)':>14}"
        lines = [head, "-" * len(head)]
        for s in self.rows():
            lines.append(f"{s.name:<24} {s.ate.rmse:>10.4g} {s.ate_rot.rmse:>14.4g} {s.rpe.rmse:>10.4g} "
                         f"{s.rpe_rot.rmse:>14.4g}")
        return "\n".join([*lines, self.verdict])


def _durations(n: int, stamps_s: Tensor | None) -> Float[Tensor, " N"]:
    """Time since the first pose (seconds; frame counts without stamps)."""
    if stamps_s is None:
        return torch.arange(n, dtype=torch.float64)
    t = stamps_s.detach().to(torch.float64).reshape(-1)
    if t.shape[0] != n or not bool(torch.isfinite(t).all()) or bool((t[1:] < t[:-1]).any()):
        raise VokitError(f"need {n} finite, non-decreasing timestamps for the constant-velocity line")
    return t - t[0]


def _minimal_rotation(a: Tensor, b: Tensor) -> Float[Tensor, "3 3"]:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b`` (Rodrigues)."""
    v = torch.linalg.cross(a, b)
    c = float(torch.dot(a, b))
    if c < -1.0 + 1e-12:
        axis = torch.linalg.cross(a, torch.eye(3, dtype=a.dtype)[int(torch.argmin(a.abs()))])
        axis = axis / torch.linalg.vector_norm(axis)
        return 2.0 * torch.outer(axis, axis) - torch.eye(3, dtype=a.dtype)
    vx = torch.zeros(3, 3, dtype=a.dtype)
    vx[0, 1], vx[0, 2], vx[1, 2] = -v[2], v[1], -v[0]
    vx = vx - vx.T
    return torch.eye(3, dtype=a.dtype) + vx + vx @ vx / (1.0 + c)


def trivial_trajectories(
    ref_world_from_cam: PoseInput, stamps_s: Float[Tensor, " N"] | None = None
) -> tuple[Float[Tensor, "N 4 4"], Float[Tensor, "N 4 4"], float]:
    """The static camera and the constant-velocity line for a reference trajectory (before alignment).

    Args:
        ref_world_from_cam: reference ``world_from_cam`` poses (N >= 2), metres.
        stamps_s: reference timestamps in seconds (``None``: one time unit per frame).

    Returns:
        ``(static, line, speed)``: float64 4x4 ``world_from_cam`` matrices of each, and the line's speed in
        metres per second (per frame without stamps).
    """
    ref = pose_matrices(ref_world_from_cam, "reference trajectory")
    n = ref.shape[0]
    if n < 2:
        raise VokitError(f"trivial trajectories need at least 2 reference poses, got {n}")
    tau = _durations(n, stamps_s)
    path = float(torch.linalg.vector_norm(ref[1:, :3, 3] - ref[:-1, :3, 3], dim=-1).sum())
    speed = path / float(tau[-1]) if float(tau[-1]) > 0 else 0.0
    static = ref[:1].expand(n, 4, 4).clone()
    line = static.clone()
    line[:, :3, 3] = ref[0, :3, 3] + speed * tau[:, None] * ref[0, :3, 2]
    return static, line, speed


def _aligned_static(ref: Tensor) -> Tensor:
    out = ref[:1].expand(ref.shape[0], 4, 4).clone()
    out[:, :3, 3] = ref[:, :3, 3].mean(0)
    return out


def _aligned_line(ref: Tensor, tau: Tensor, speed: float, mode: str) -> Tensor:
    p = ref[:, :3, 3]
    tau_c = tau - tau.mean()
    u = (tau_c[:, None] * (p - p.mean(0))).sum(0) / tau_c.square().sum().clamp_min(1e-300)
    axis = ref[0, :3, 2]
    norm = float(torch.linalg.vector_norm(u))
    direction = u / norm if norm > 0 else axis
    if mode == "se3":
        u = speed * direction
    out = ref[:1].expand(ref.shape[0], 4, 4).clone()
    out[:, :3, :3] = _minimal_rotation(axis, direction) @ ref[0, :3, :3]
    out[:, :3, 3] = p.mean(0) + (tau - tau.mean())[:, None] * u
    return out


def _score(name: str, ref: Tensor, est: Tensor, align: AlignMode, rpe_delta: int, pre_aligned: bool
           ) -> TrajectoryScore:
    mode: AlignMode = "none" if pre_aligned else align
    ate = absolute_trajectory_error(ref, est, mode)
    rpe = relative_pose_error(ref, est, rpe_delta, "frames", align=mode)
    return TrajectoryScore(name=name, ate=ate.errors.trans, ate_rot=ate.errors.rot, rpe=rpe.errors.trans,
                           rpe_rot=rpe.errors.rot)


def compare_with_trivial(
    ref_world_from_cam: PoseInput,
    est_world_from_cam: PoseInput,
    stamps_s: Float[Tensor, " N"] | None = None,
    align: AlignMode = "sim3",
    rpe_delta: int = 1,
) -> TrivialComparison:
    """Score an associated estimate and the two trivial trajectories with one protocol.

    Args:
        ref_world_from_cam: reference poses, metres (associated one-to-one with the estimate).
        est_world_from_cam: estimated poses, same length.
        stamps_s: reference timestamps in seconds, for the line's speed (``None``: per frame).
        align: ``"sim3"`` (monocular), ``"se3"``, ``"scale"``, ``"none"`` or another mode of `align_trajectory`.
        rpe_delta: RPE frame delta.

    Returns:
        The three scores and the verdict.

    Example:
        >>> t = torch.linspace(0, 9, 10, dtype=torch.float64)
        >>> ref = torch.zeros(10, 7, dtype=torch.float64); ref[:, 6] = 1; ref[:, 2] = t; ref[:, 0] = 0.1 * t ** 2
        >>> c = compare_with_trivial(ref, ref.clone())
        >>> c.beats_trivial, round(c.estimate.ate.rmse, 6), c.line.ate.rmse > 0.05
        (True, 0.0, True)
    """
    ref = pose_matrices(ref_world_from_cam, "reference trajectory")
    est = pose_matrices(est_world_from_cam, "estimated trajectory")
    if ref.shape[0] != est.shape[0]:
        raise VokitError(f"reference and estimate need the same number of poses, got {ref.shape[0]} and "
                         f"{est.shape[0]}")
    static, line, speed = trivial_trajectories(ref, stamps_s)
    umeyama_mode = {"6dof": "se3", "7dof": "sim3"}.get(align, align)  # kitti-odom-eval's names of the same fits
    closed_form = umeyama_mode in ("sim3", "se3")
    if closed_form:
        static = _aligned_static(ref)
        line = _aligned_line(ref, _durations(ref.shape[0], stamps_s), speed, umeyama_mode)
    # a static camera has no scale to fit: the scale-only modes leave it where it is
    static_as_is = closed_form or align in ("scale", "kitti_scale", "scale_7dof")
    return TrivialComparison(
        align=align,
        estimate=_score("estimate", ref, est, align, rpe_delta, pre_aligned=False),
        static=_score(STATIC_CAMERA, ref, static, align, rpe_delta, pre_aligned=static_as_is),
        line=_score(CONSTANT_VELOCITY, ref, line, align, rpe_delta, pre_aligned=closed_form),
        line_speed_m_s=speed,
    )


def beats_constant_depth(prediction: DepthMetrics, constant: DepthMetrics) -> bool:
    """Whether a prediction's mean abs_rel is below the constant depth's (`constant_depth_metrics`)."""
    return prediction.mean.abs_rel < constant.mean.abs_rel


def constant_depth_verdict(prediction: DepthMetrics, constant: DepthMetrics) -> str:
    """One line for reports: the prediction's abs_rel beside the constant depth's, flagged when not better."""
    ours, const = prediction.mean.abs_rel, constant.mean.abs_rel
    if beats_constant_depth(prediction, constant):
        return f"abs_rel {ours:.3f}, better than a constant depth ({const:.3f}, median-scaled)"
    return f"TRIVIAL: abs_rel not better than a constant depth ({ours:.3f} vs {const:.3f}, median-scaled)"


def constant_depth_metrics(
    gt_depths: Sequence[Float[Tensor, "_ _"]],
    crop: CropMode = "garg",
    min_depth_m: float = 1e-3,
    max_depth_m: float = 80.0,
) -> DepthMetrics:
    """Eigen metrics of a constant depth, median-scaled per image (the depth predictor that knows nothing).

    Args:
        gt_depths: ground-truth z-depth per image, metres, 0 where invalid.
        crop: as `eigen_depth_metrics`.
        min_depth_m: as `eigen_depth_metrics`.
        max_depth_m: as `eigen_depth_metrics`.

    Returns:
        The metrics a constant prediction gets under the same protocol as a model's median-scaled depth.
    """
    ones = [torch.ones_like(g, dtype=torch.float64) for g in gt_depths]
    return eigen_depth_metrics(gt_depths, ones, pred_kind="depth", crop=crop, min_depth_m=min_depth_m,
                               max_depth_m=max_depth_m, median_scaling=True)


__all__ = [
    "CONSTANT_VELOCITY", "STATIC_CAMERA", "TrajectoryScore", "TrivialComparison", "beats_constant_depth",
    "compare_with_trivial", "constant_depth_metrics", "constant_depth_verdict", "trivial_trajectories",
]
