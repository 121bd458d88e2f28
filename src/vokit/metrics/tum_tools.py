"""The TUM RGB-D benchmark's fixed-delta relative pose error (``evaluate_rpe.py --fixed_delta``).

The TUM tool differs from evo (`vokit.metrics.trajectory.relative_pose_error`) in three ways, reproduced here:

1. No prior association: pairs (i, j) are chosen on the *estimate's* own index (frames, seconds, metres or
   radians/degrees of accumulated motion) as the element closest to ``index[i] + delta``, found by the tool's
   binary search; a pair whose j is the last pose is dropped.
2. Each estimated stamp (plus ``offset``) is matched to the closest ground-truth stamp, and a pair is skipped when
   either match is further than twice the median ground-truth interval.
3. The error pose is ``E = (s(P_j^-1 P_i))^-1 (Q_j^-1 Q_i)`` (motion from j back to i, estimate translation scaled
   by ``scale``), with the translation norm and the rotation angle.

Trajectories are keyed by timestamp as in the tool (a repeated stamp keeps its last pose) and sorted by time.
The tool's random subsampling to ``--max_pairs`` (10000) pairs is not reproduced: vokit uses all pairs.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from vokit.errors import VokitError
from vokit.geometry.lie import se3_compose, se3_inverse
from vokit.metrics.stats import ErrorStats, error_stats
from vokit.metrics.trajectory import quat_angle_rad

TumDeltaUnit = Literal["f", "s", "m", "rad", "deg"]


@dataclass(frozen=True)
class TumRpeResult:
    """Fixed-delta RPE as the TUM tool computes it.

    Attributes:
        trans_m: translation error per pair, metres.
        rot_deg: rotation error per pair, degrees.
        ref_motion_m: translation norm of the reference motion ``Q_j^-1 Q_i`` per pair, metres (the py3 port's
            ``translational_relative_pose_gt``).
        trans: statistics of ``trans_m``.
        rot: statistics of ``rot_deg``.
        ref_motion: statistics of ``ref_motion_m``.
        est_pairs: (i, j) indices into the time-sorted, de-duplicated estimate.
        ref_pairs: matched (i, j) indices into the time-sorted, de-duplicated reference.
        delta: the delta, in ``delta_unit``.
        delta_unit: ``"f"``, ``"s"``, ``"m"``, ``"rad"`` or ``"deg"``.
        offset_s: time offset added to the estimated stamps.
        scale: scale applied to the estimated motion.
        max_time_diff_s: the stamp-matching limit (twice the median reference interval).
    """

    trans_m: Float[Tensor, " K"]
    rot_deg: Float[Tensor, " K"]
    ref_motion_m: Float[Tensor, " K"]
    trans: ErrorStats
    rot: ErrorStats
    ref_motion: ErrorStats
    est_pairs: Int[Tensor, "K 2"]
    ref_pairs: Int[Tensor, "K 2"]
    delta: float
    delta_unit: str
    offset_s: float
    scale: float
    max_time_diff_s: float


def tum_closest_index(values: list[float], target: float) -> int:
    """The TUM tools' ``find_closest_index``: a binary search that remembers the closest element it visited.

    On sorted input this is the nearest element except for rare ties; reproduced exactly so that pair selection
    matches the tool.

    Args:
        values: ascending values.
        target: the value to look for.

    Returns:
        Index of the element chosen.
    """
    lo, hi = 0, len(values)
    best, best_diff = 0, abs(values[0] - target)
    while lo < hi:
        mid = (lo + hi) // 2
        diff = abs(values[mid] - target)
        if diff < best_diff:
            best, best_diff = mid, diff
        if values[mid] == target:
            return mid
        if values[mid] > target:
            hi = mid
        else:
            lo = mid + 1
    return best


def _by_stamp(stamps: Tensor, poses: Tensor) -> tuple[list[float], Tensor]:
    """Time-sorted unique stamps, each with the pose of its last occurrence (dict semantics)."""
    s = stamps.detach().cpu().to(torch.float64).numpy()
    uniq, first_in_reversed = np.unique(s[::-1], return_index=True)
    last = s.size - 1 - first_in_reversed
    return uniq.tolist(), poses.detach().to(torch.float64)[torch.from_numpy(last.astype(np.int64))]


def _motion_index(est: Tensor, unit: str) -> list[float]:
    """The estimate's accumulated motion per pose, in the delta unit (the tool's ``index_est``)."""
    step = se3_compose(se3_inverse(est[1:]), est[:-1])
    if unit == "m":
        amounts = torch.linalg.vector_norm(step[:, :3], dim=-1)
    else:
        amounts = quat_angle_rad(step[:, 3:])
        if unit == "deg":
            amounts = amounts * (180.0 / np.pi)
    total, out = 0.0, [0.0]
    for value in amounts.tolist():
        total += value
        out.append(total)
    return out


def relative_pose_error_tum(
    ref_stamps_s: Float[Tensor, " M"],
    ref_world_from_cam: Float[Tensor, "M 7"],
    est_stamps_s: Float[Tensor, " N"],
    est_world_from_cam: Float[Tensor, "N 7"],
    delta: float = 1.0,
    delta_unit: TumDeltaUnit = "f",
    offset_s: float = 0.0,
    scale: float = 1.0,
) -> TumRpeResult:
    """Relative pose error exactly as ``evaluate_rpe.py --fixed_delta`` (TUM RGB-D tools) computes it.

    Args:
        ref_stamps_s: reference timestamps, seconds (float64).
        ref_world_from_cam: reference poses ``[t, q_xyzw]``, un-associated.
        est_stamps_s: estimated timestamps, seconds.
        est_world_from_cam: estimated poses, un-associated.
        delta: pair distance in ``delta_unit``.
        delta_unit: ``"f"`` frames, ``"s"`` seconds, ``"m"`` metres, ``"rad"`` or ``"deg"`` of accumulated
            estimated motion.
        offset_s: added to the estimated stamps when matching them to reference stamps.
        scale: multiplies the estimated relative translation.

    Returns:
        Per-pair translation (m) and rotation (deg) errors, statistics and the pairs used.

    Raises:
        VokitError: unknown unit, fewer than two poses, or fewer than two usable pairs.
    """
    if delta_unit not in ("f", "s", "m", "rad", "deg"):
        raise VokitError(f"unknown TUM delta unit {delta_unit!r} (use f, s, m, rad or deg)")
    ref_t, ref = _by_stamp(ref_stamps_s, ref_world_from_cam)
    est_t, est = _by_stamp(est_stamps_s, est_world_from_cam)
    if len(ref_t) < 2 or len(est_t) < 2:
        raise VokitError("the TUM RPE needs at least two poses in each trajectory")
    n = len(est_t)
    if delta_unit == "f":
        index: list[float] = [float(i) for i in range(n)]
    elif delta_unit == "s":
        index = est_t
    else:
        index = _motion_index(est, delta_unit)
    max_dt = 2.0 * float(np.median(np.diff(np.asarray(ref_t))))
    closest_ref = [tum_closest_index(ref_t, t + offset_s) for t in est_t]
    ok = [abs(ref_t[k] - (t + offset_s)) <= max_dt for k, t in zip(closest_ref, est_t, strict=True)]
    est_pairs, ref_pairs = [], []
    for i in range(n):
        j = tum_closest_index(index, index[i] + delta)
        if j != n - 1 and ok[i] and ok[j]:
            est_pairs.append((i, j))
            ref_pairs.append((closest_ref[i], closest_ref[j]))
    if len(est_pairs) < 2:
        raise VokitError("couldn't find matching timestamp pairs between ground truth and estimate (TUM RPE)")
    ep = torch.tensor(est_pairs, dtype=torch.int64)
    rp = torch.tensor(ref_pairs, dtype=torch.int64)
    est_motion = se3_compose(se3_inverse(est[ep[:, 1]]), est[ep[:, 0]])
    est_motion = torch.cat([scale * est_motion[:, :3], est_motion[:, 3:]], dim=-1)
    ref_motion = se3_compose(se3_inverse(ref[rp[:, 1]]), ref[rp[:, 0]])
    E = se3_compose(se3_inverse(est_motion), ref_motion)
    trans = torch.linalg.vector_norm(E[:, :3], dim=-1)
    rot = torch.rad2deg(quat_angle_rad(E[:, 3:]))
    motion = torch.linalg.vector_norm(ref_motion[:, :3], dim=-1)
    return TumRpeResult(
        trans_m=trans, rot_deg=rot, ref_motion_m=motion,
        trans=error_stats(trans), rot=error_stats(rot), ref_motion=error_stats(motion),
        est_pairs=ep, ref_pairs=rp, delta=float(delta), delta_unit=delta_unit,
        offset_s=float(offset_s), scale=float(scale), max_time_diff_s=max_dt,
    )
