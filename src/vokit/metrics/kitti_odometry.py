"""KITTI odometry segment errors (METHODS.md section 9.3) and the kitti-odom-eval variants.

**Official devkit** (``evaluate_odometry.cpp``; mirrored in TurtleZhong/ORB_SLAM2_Evaluation ``devkit/cpp/``):
segments start every 10 frames and are 100, 200, ..., 800 m long along the ground-truth path; a segment ends at
the first frame whose path distance exceeds ``dist[first] + len``. The error pose is
``E = (res_f^-1 res_l)^-1 (gt_f^-1 gt_l)``; ``r = arccos(clip((tr R_E - 1) / 2)) / len`` (rad/m) and
``t = ||t_E|| / len`` (m/m). The sequence value is the mean over all segments, reported as ``t_err`` in % and
``r_err`` in deg/100 m.

The devkit does much of this in C ``float`` (the path steps and their running sum, the per-segment errors, and
the sums of the final means), on general 4x4 inverses of the poses read from the files. ``precision="devkit"``
reproduces that arithmetic step by step (the pose algebra in float64, every ``float`` of the C++ code as
float32); ``precision="float64"`` does everything in float64, as Huangying-Zhan/kitti-odom-eval does.
Float32 path accumulation is not cosmetic: in float64 a few segments end one frame earlier or later.

Raw KITTI rows are only orthonormal to about 1e-7, and the devkit's float32 ``acos`` of the trace is sensitive to
that at small angles: pass the file's (N, 3, 4) matrices (rather than SE(3) poses, whose rotations are exact) for
bit-level agreement with the tools.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from vokit.errors import VokitError
from vokit.geometry.lie import se3_to_matrix
from vokit.metrics.trajectory import Alignment, PoseInput, align_trajectory, matrices_to_se3, pose_matrices

Precision = Literal["devkit", "float64"]
KittiOdomAlignment = Literal["none", "scale", "scale_7dof", "6dof", "7dof"]

KITTI_LENGTHS_M: tuple[float, ...] = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
"""Segment lengths of the KITTI odometry benchmark, metres."""

RAD_PER_M_TO_DEG_PER_100M = 18000.0 / np.pi


@dataclass(frozen=True)
class KittiSegmentErrors:
    """Segment errors of one sequence.

    Attributes:
        first_frame: first frame of every segment.
        last_frame: last frame of every segment.
        length_m: nominal segment length, metres.
        r_err_rad_per_m: rotation error per segment, rad/m.
        t_err_m_per_m: translation error per segment, m/m.
        speed_mps: ``len / (0.1 (last - first + 1))``, m/s (the devkit assumes 10 Hz).
        t_err_pct: mean translation error over all segments, %.
        r_err_deg_per_100m: mean rotation error over all segments, deg/100 m.
        lengths_m: the lengths evaluated.
        per_length_t_err_pct: mean translation error per length, % (NaN below ``min_count`` segments).
        per_length_r_err_deg_per_100m: mean rotation error per length, deg/100 m (NaN likewise).
        per_length_count: number of segments per length.
        precision: ``"devkit"`` (float32 emulation) or ``"float64"``.
        step_frames: distance between first frames.
    """

    first_frame: Int[Tensor, " K"]
    last_frame: Int[Tensor, " K"]
    length_m: Float[Tensor, " K"]
    r_err_rad_per_m: Float[Tensor, " K"]
    t_err_m_per_m: Float[Tensor, " K"]
    speed_mps: Float[Tensor, " K"]
    t_err_pct: float
    r_err_deg_per_100m: float
    lengths_m: tuple[float, ...]
    per_length_t_err_pct: tuple[float, ...]
    per_length_r_err_deg_per_100m: tuple[float, ...]
    per_length_count: tuple[int, ...]
    precision: str
    step_frames: int

    @property
    def n_segments(self) -> int:
        """Number of segments evaluated."""
        return int(self.first_frame.numel())


@dataclass(frozen=True)
class KittiOdomEvalResult:
    """The numbers Huangying-Zhan/kitti-odom-eval prints for one sequence.

    Attributes:
        segments: the segment errors (float64, on the re-anchored, aligned estimate).
        ate_m: RMSE of the camera-centre differences, metres (no further alignment).
        rpe_trans_m: *mean* translational RPE over consecutive frames, metres.
        rpe_rot_deg: *mean* rotational RPE over consecutive frames, degrees.
        alignment: ``"none"``, ``"scale"``, ``"scale_7dof"``, ``"6dof"`` or ``"7dof"``.
        scale: the scale applied to the estimate.
        sim3: the Umeyama fit (``None`` for ``"none"`` and ``"scale"``).
        est_aligned: re-anchored, aligned estimate ``[t, q_xyzw]``.
        ref_anchored: re-anchored reference ``[t, q_xyzw]``.
    """

    segments: KittiSegmentErrors
    ate_m: float
    rpe_trans_m: float
    rpe_rot_deg: float
    alignment: str
    scale: float
    sim3: Alignment | None
    est_aligned: Float[Tensor, "N 7"]
    ref_anchored: Float[Tensor, "N 7"]


def path_distances(positions_m: np.ndarray, precision: Precision = "devkit") -> np.ndarray:
    """Accumulated path length along camera centres, exactly as the devkit (float32) or in float64.

    Devkit: ``float d = c[i-1] - c[i]`` per axis (float64 difference rounded to float32), the squared norm
    summed left to right, ``sqrtf``, and a float32 running sum.

    Args:
        positions_m: (N, 3) camera centres, float64.
        precision: ``"devkit"`` or ``"float64"``.

    Returns:
        (N,) distances from the first frame (float32 for devkit, float64 otherwise).
    """
    if precision == "devkit":
        d = (positions_m[:-1] - positions_m[1:]).astype(np.float32)
        step = np.sqrt((d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2])
        # np.cumsum on float32 adds sequentially in float32, like the C++ loop.
        return np.concatenate([np.zeros(1, np.float32), np.cumsum(step, dtype=np.float32)])
    d = positions_m[:-1] - positions_m[1:]
    step = np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2 + d[:, 2] ** 2)
    return np.concatenate([[0.0], np.cumsum(step)])


def _float32_mean(values: np.ndarray) -> float:
    """``sum / n`` with a sequential float32 sum, as the devkit's ``saveStats``."""
    if values.size == 0:
        return float("nan")
    total = np.cumsum(values.astype(np.float32), dtype=np.float32)[-1]
    return float(np.float32(total) / np.float32(values.size))


def _float64_mean(values: np.ndarray) -> float:
    return float(np.sum(values) / values.size) if values.size else float("nan")


def _segment_ends(dist: np.ndarray, lengths_m: tuple[float, ...], step: int) -> tuple[np.ndarray, ...]:
    """First frames, last frames and lengths of all segments (last = first frame with dist > dist[first] + len)."""
    firsts, lasts, lens = [], [], []
    for first in range(0, dist.size, step):
        for length in lengths_m:
            # Same dtype as dist: a float32 sum and comparison for the devkit, float64 otherwise.
            target = dist[first] + dist.dtype.type(length)
            last = int(np.searchsorted(dist, target, side="right"))
            if last < dist.size:
                firsts.append(first)
                lasts.append(last)
                lens.append(length)
    return np.asarray(firsts, dtype=np.int64), np.asarray(lasts, dtype=np.int64), np.asarray(lens, dtype=dist.dtype)


def _errors_devkit(err: np.ndarray, length: np.ndarray, n_frames: np.ndarray) -> tuple[np.ndarray, ...]:
    """The devkit's ``rotationError`` / ``translationError`` / speed, in C float arithmetic."""
    a, b, c = (err[:, k, k].astype(np.float32) for k in range(3))
    d = (0.5 * (((a + b) + c).astype(np.float64) - 1.0)).astype(np.float32)
    r_err = np.arccos(np.clip(d, np.float32(-1.0), np.float32(1.0))).astype(np.float32)
    t = err[:, :3, 3].astype(np.float32)
    t_err = np.sqrt((t[:, 0] * t[:, 0] + t[:, 1] * t[:, 1]) + t[:, 2] * t[:, 2])
    speed = (length.astype(np.float64) / (0.1 * n_frames.astype(np.float32).astype(np.float64))).astype(np.float32)
    return r_err / length, t_err / length, speed


def _errors_float64(err: np.ndarray, length: np.ndarray, n_frames: np.ndarray) -> tuple[np.ndarray, ...]:
    d = 0.5 * (err[:, 0, 0] + err[:, 1, 1] + err[:, 2, 2] - 1.0)
    r_err = np.arccos(np.clip(d, -1.0, 1.0))
    t_err = np.sqrt(err[:, 0, 3] ** 2 + err[:, 1, 3] ** 2 + err[:, 2, 3] ** 2)
    return r_err / length, t_err / length, length / (0.1 * n_frames.astype(np.float64))


def kitti_segment_errors(
    gt_world_from_cam: PoseInput,
    est_world_from_cam: PoseInput,
    lengths_m: tuple[float, ...] = KITTI_LENGTHS_M,
    step_frames: int = 10,
    precision: Precision = "devkit",
) -> KittiSegmentErrors:
    """KITTI odometry segment errors (``t_err`` %, ``r_err`` deg/100 m).

    Args:
        gt_world_from_cam: ground truth ``world_from_cam`` (KITTI: left camera, frame 0 at identity), as SE(3)
            ``[t, q_xyzw]`` or as the (N, 3, 4) rows of a KITTI file (pass these for bit-level devkit agreement).
        est_world_from_cam: estimate, one pose per ground-truth frame.
        lengths_m: segment lengths, metres.
        step_frames: distance between first frames (devkit: 10).
        precision: ``"devkit"`` (emulate the C++ float arithmetic) or ``"float64"`` (kitti-odom-eval).

    Returns:
        Per-segment and averaged errors.

    Raises:
        VokitError: mismatched lengths, bad shapes, or a path shorter than the shortest segment.

    Example:
        >>> poses = torch.zeros(200, 7, dtype=torch.float64)
        >>> poses[:, 2], poses[:, 6] = torch.arange(200.0), 1.0  # straight along z, 1 m per frame
        >>> drift = poses.clone()
        >>> drift[:, 2] *= 1.01  # 1 % too long
        >>> round(kitti_segment_errors(poses, drift).t_err_pct, 4)  # segments end past 100 m: 1 % of 101 m / 100 m
        1.01
    """
    if precision not in ("devkit", "float64"):
        raise VokitError(f"unknown precision {precision!r} (use 'devkit' or 'float64')")
    gt = pose_matrices(gt_world_from_cam, "kitti_segment_errors").cpu().numpy()
    est = pose_matrices(est_world_from_cam, "kitti_segment_errors").cpu().numpy()
    if gt.shape[0] != est.shape[0]:
        raise VokitError(f"KITTI evaluation needs as many estimated as ground-truth poses ({est.shape[0]} vs "
                         f"{gt.shape[0]})")
    devkit = precision == "devkit"
    dist = path_distances(gt[:, :3, 3], precision)
    f, ll, length = _segment_ends(dist, tuple(lengths_m), step_frames)
    if f.size == 0:
        raise VokitError(f"the ground-truth path ({float(dist[-1]):.1f} m) is shorter than the shortest KITTI "
                         f"segment ({min(lengths_m):.0f} m); use ATE/RPE instead")
    inv = np.linalg.inv
    err = inv(inv(est[f]) @ est[ll]) @ (inv(gt[f]) @ gt[ll])
    errors = _errors_devkit if devkit else _errors_float64
    r_per_m, t_per_m, speed = errors(err, length, ll - f + 1)
    mean = _float32_mean if devkit else _float64_mean
    min_count = 3 if devkit else 1
    per_t, per_r, counts = [], [], []
    for length_value in lengths_m:
        sel = np.abs(length - length.dtype.type(length_value)) < 1.0
        counts.append(int(sel.sum()))
        ok = counts[-1] >= min_count
        per_t.append(mean(t_per_m[sel]) * 100.0 if ok else float("nan"))
        per_r.append(mean(r_per_m[sel]) * RAD_PER_M_TO_DEG_PER_100M if ok else float("nan"))
    return KittiSegmentErrors(
        first_frame=torch.from_numpy(f),
        last_frame=torch.from_numpy(ll),
        length_m=torch.from_numpy(length.astype(np.float64)),
        r_err_rad_per_m=torch.from_numpy(r_per_m.astype(np.float64)),
        t_err_m_per_m=torch.from_numpy(t_per_m.astype(np.float64)),
        speed_mps=torch.from_numpy(np.asarray(speed, dtype=np.float64)),
        t_err_pct=mean(t_per_m) * 100.0,
        r_err_deg_per_100m=mean(r_per_m) * RAD_PER_M_TO_DEG_PER_100M,
        lengths_m=tuple(float(v) for v in lengths_m),
        per_length_t_err_pct=tuple(per_t),
        per_length_r_err_deg_per_100m=tuple(per_r),
        per_length_count=tuple(counts),
        precision=precision,
        step_frames=step_frames,
    )


def _trace_angle(E: np.ndarray) -> np.ndarray:
    """``arccos(clip((tr R - 1) / 2))`` of 4x4 matrices, float64 (kitti-odom-eval's ``rotation_error``)."""
    return np.arccos(np.clip(0.5 * (E[:, 0, 0] + E[:, 1, 1] + E[:, 2, 2] - 1.0), -1.0, 1.0))


def kitti_odom_eval(
    gt_world_from_cam: PoseInput,
    est_world_from_cam: PoseInput,
    alignment: KittiOdomAlignment = "7dof",
) -> KittiOdomEvalResult:
    """Huangying-Zhan/kitti-odom-eval's evaluation of one sequence (METHODS.md section 9.3).

    Both trajectories are re-anchored to the first frame (``T <- T_0^-1 T``, general 4x4 inverses); the
    estimate is then aligned with ``alignment``: ``"none"``; ``"scale"`` (least squares ``s = sum y.x / sum x.x``
    on the centres); ``"scale_7dof"`` (only the Umeyama Sim(3) scale); ``"6dof"``; ``"7dof"`` (monocular
    results). Segment errors (float64), ATE (RMSE of the centre differences) and the *mean* consecutive-frame RPE
    (``E = (Q_i^-1 Q_i+1)^-1 P_i^-1 P_i+1``, rotation from the trace) follow on the aligned estimate, all in
    float64 on 4x4 matrices as the tool does.

    Args:
        gt_world_from_cam: ground-truth poses ``[t, q_xyzw]`` or (N, 3|4, 4) matrices from a KITTI file.
        est_world_from_cam: estimated poses, one per ground-truth frame.
        alignment: see above.

    Returns:
        t_err (%), r_err (deg/100 m), ATE (m), RPE (m, deg) and the alignment used.

    Raises:
        VokitError: unknown alignment, mismatched lengths or a degenerate alignment.
    """
    if alignment not in ("none", "scale", "scale_7dof", "6dof", "7dof"):
        raise VokitError(f"unknown kitti-odom-eval alignment {alignment!r}")
    if gt_world_from_cam.shape[0] != est_world_from_cam.shape[0]:
        raise VokitError(f"kitti-odom-eval needs one estimated pose per ground-truth pose "
                         f"({est_world_from_cam.shape[0]} vs {gt_world_from_cam.shape[0]})")
    gt = pose_matrices(gt_world_from_cam, "kitti_odom_eval").cpu().numpy()
    est = pose_matrices(est_world_from_cam, "kitti_odom_eval").cpu().numpy()
    inv = np.linalg.inv
    gt = inv(gt[0]) @ gt
    est = inv(est[0]) @ est
    fit: Alignment | None = None
    scale = 1.0
    if alignment == "scale":
        x, y = est[:, :3, 3], gt[:, :3, 3]
        scale = float(np.sum(x * y) / np.sum(x**2))
    elif alignment != "none":
        fit = align_trajectory(torch.from_numpy(gt), torch.from_numpy(est), "se3" if alignment == "6dof" else "sim3")
        scale = fit.scale
    est = est.copy()
    est[:, :3, 3] *= scale
    if fit is not None and alignment in ("6dof", "7dof"):
        T_a = np.eye(4)
        T_a[:3, :3] = se3_to_matrix(torch.cat([fit.ref_from_est[:3], fit.ref_from_est[3:7]]))[:3, :3].numpy()
        T_a[:3, 3] = fit.ref_from_est[:3].numpy()
        est = T_a @ est
    segments = kitti_segment_errors(torch.from_numpy(gt), torch.from_numpy(est), precision="float64")
    ate = float(np.sqrt(np.mean(np.sum((gt[:, :3, 3] - est[:, :3, 3]) ** 2, axis=1))))
    rel = inv(inv(gt[:-1]) @ gt[1:]) @ (inv(est[:-1]) @ est[1:])
    rpe_t = np.sqrt(np.sum(rel[:, :3, 3] ** 2, axis=1))
    rpe_r = _trace_angle(rel)
    return KittiOdomEvalResult(
        segments=segments, ate_m=ate, rpe_trans_m=float(np.mean(rpe_t)), rpe_rot_deg=float(np.rad2deg(np.mean(rpe_r))),
        alignment=alignment, scale=scale, sim3=fit,
        est_aligned=matrices_to_se3(torch.from_numpy(est)), ref_anchored=matrices_to_se3(torch.from_numpy(gt)),
    )
