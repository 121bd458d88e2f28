"""One-call trajectory evaluation (association, alignment, ATE, RPE, KITTI segments) and its text/JSON forms.

`evaluate_trajectory` is what ``vokit eval traj`` runs once the files are read; `format_trajectory_table` prints
the evo-like table and `TrajectoryEvaluation.as_dict` gives the JSON written next to it.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.errors import VokitError
from vokit.metrics.association import Association, associate
from vokit.metrics.kitti_odometry import KittiSegmentErrors, kitti_segment_errors
from vokit.metrics.stats import ErrorStats
from vokit.metrics.trajectory import (
    AlignMode,
    AteResult,
    DeltaUnit,
    PairsFrom,
    RpeResult,
    absolute_trajectory_error,
    apply_sim3_to_matrices,
    pose_matrices,
    relative_pose_error,
)

AssocMode = Literal["evo", "tum", "index"]


@dataclass(frozen=True)
class TrajectoryEvaluation:
    """Everything ``vokit eval traj`` reports.

    Attributes:
        association: matched indices (``method="index"`` when the trajectories were paired by position).
        ate: absolute trajectory error after alignment.
        rpe: relative pose error (on the same alignment).
        kitti: KITTI segment errors of the aligned estimate (``None`` unless requested and long enough).
        kitti_note: why KITTI segment errors are missing, if they are.
        ref_times_s: timestamps of the associated reference poses (frame indices without stamps).
        ref_positions_m: camera centres of the associated reference poses, metres.
    """

    association: Association
    ate: AteResult
    rpe: RpeResult
    kitti: KittiSegmentErrors | None
    kitti_note: str
    ref_times_s: Float[Tensor, " K"]
    ref_positions_m: Float[Tensor, "K 3"]

    def as_dict(self) -> dict:
        """JSON-ready summary: protocol settings and all statistics."""
        a = self.association
        out: dict = {
            "association": {"method": a.method, "max_diff_s": a.max_diff_s, "offset_s": a.offset_s,
                            "n_matched": a.n_matched},
            "alignment": self.ate.alignment.as_dict(),
            "ape": {"translation_m": self.ate.errors.trans.as_dict(), "rotation_deg": self.ate.errors.rot.as_dict(),
                    "full_transformation": self.ate.errors.full_stats.as_dict()},
            "rpe": {"delta": self.rpe.delta, "delta_unit": self.rpe.delta_unit, "all_pairs": self.rpe.all_pairs,
                    "pairs_from": self.rpe.pairs_from, "n_pairs": int(self.rpe.pairs.shape[0]),
                    "translation_m": self.rpe.errors.trans.as_dict(), "rotation_deg": self.rpe.errors.rot.as_dict()},
        }
        if self.kitti is not None:
            k = self.kitti
            out["kitti"] = {
                "precision": k.precision, "n_segments": k.n_segments, "t_err_pct": k.t_err_pct,
                "r_err_deg_per_100m": k.r_err_deg_per_100m, "lengths_m": list(k.lengths_m),
                "per_length_t_err_pct": _nan_to_none(k.per_length_t_err_pct),
                "per_length_r_err_deg_per_100m": _nan_to_none(k.per_length_r_err_deg_per_100m),
                "per_length_count": list(k.per_length_count),
            }
        elif self.kitti_note:
            out["kitti"] = {"skipped": self.kitti_note}
        return out


def _nan_to_none(values: tuple[float, ...]) -> list[float | None]:
    return [None if v != v else float(v) for v in values]


def _index_association(n_ref: int, n_est: int) -> Association:
    if n_ref != n_est:
        raise VokitError(f"index association needs equally long trajectories, got {n_ref} reference and {n_est} "
                         "estimated poses")
    idx = torch.arange(n_ref)
    return Association(ref_idx=idx, est_idx=idx, time_diff_s=torch.zeros(n_ref, dtype=torch.float64),
                       method="index", max_diff_s=0.0, offset_s=0.0)


def evaluate_trajectory(
    ref_world_from_cam: Float[Tensor, "M 7"] | Float[Tensor, "M R 4"],
    est_world_from_cam: Float[Tensor, "N 7"] | Float[Tensor, "N R 4"],
    ref_stamps_s: Float[Tensor, " M"] | None = None,
    est_stamps_s: Float[Tensor, " N"] | None = None,
    assoc: AssocMode = "evo",
    max_diff_s: float | None = None,
    offset_s: float = 0.0,
    align: AlignMode = "se3",
    n_align: int | None = None,
    rpe_delta: float | int = 1,
    rpe_unit: DeltaUnit = "frames",
    rpe_all_pairs: bool = False,
    pairs_from: PairsFrom = "estimate",
    kitti_segments: bool = False,
) -> TrajectoryEvaluation:
    """Associate, align and score an estimated trajectory against a reference (evo semantics).

    Args:
        ref_world_from_cam: reference ``world_from_cam`` poses (SE(3) or file matrices).
        est_world_from_cam: estimated poses.
        ref_stamps_s: reference timestamps in seconds (needed unless ``assoc="index"``; then only reported).
        est_stamps_s: estimated timestamps in seconds (unused with ``assoc="index"``).
        assoc: ``"evo"`` / ``"tum"`` timestamp association or ``"index"`` (KITTI: same length, row by row).
        max_diff_s: association tolerance (``None``: the protocol default).
        offset_s: added to the estimated stamps.
        align: ``"se3"``, ``"sim3"``, ``"scale"``, ``"none"``, or kitti-odom-eval's / rpg's modes (see
            `align_trajectory`).
        n_align: align on the first n associated poses only.
        rpe_delta: RPE delta in ``rpe_unit``.
        rpe_unit: ``"frames"`` or ``"m"``.
        rpe_all_pairs: all pairs instead of consecutive ones.
        pairs_from: select RPE pairs on the ``"estimate"`` (evo) or the ``"reference"``.
        kitti_segments: also compute KITTI segment errors (devkit precision) on the aligned estimate.

    Returns:
        Association, ATE, RPE and optional KITTI segment errors.
    """
    ref = pose_matrices(ref_world_from_cam, "reference trajectory")
    est = pose_matrices(est_world_from_cam, "estimated trajectory")
    if assoc == "index":
        association = _index_association(ref.shape[0], est.shape[0])
    elif ref_stamps_s is None or est_stamps_s is None:
        raise VokitError(f"{assoc} association needs timestamps for both trajectories")
    else:
        association = associate(ref_stamps_s, est_stamps_s, assoc, max_diff_s, offset_s)
    ref_a, est_a = ref[association.ref_idx], est[association.est_idx]
    ate = absolute_trajectory_error(ref_a, est_a, align, n_align)
    rpe = relative_pose_error(ref_a, est_a, rpe_delta, rpe_unit, rpe_all_pairs, align, n_align, pairs_from)
    kitti, note = None, ""
    if kitti_segments:
        try:
            kitti = kitti_segment_errors(ref_a, apply_sim3_to_matrices(ate.alignment.ref_from_est, est_a))
        except VokitError as err:
            note = str(err)
    if ref_stamps_s is not None:
        times = ref_stamps_s.detach().to(torch.float64)[association.ref_idx]
    else:
        times = association.ref_idx.to(torch.float64)
    return TrajectoryEvaluation(association=association, ate=ate, rpe=rpe, kitti=kitti, kitti_note=note,
                                ref_times_s=times, ref_positions_m=ref_a[:, :3, 3].clone())


def format_trajectory_table(result: TrajectoryEvaluation) -> str:
    """An evo-like plain-text table of the APE and RPE statistics, with the protocol in words.

    Args:
        result: a `TrajectoryEvaluation`.

    Returns:
        Multi-line text.
    """
    a, al, rpe = result.association, result.ate.alignment, result.rpe
    assoc = (f"{a.method} association, max diff {a.max_diff_s} s, offset {a.offset_s} s" if a.method != "index"
             else "index association")
    fit = "Umeyama alignment" if al.mode in ("se3", "sim3", "scale", "6dof", "7dof") else "alignment"
    align = "not aligned" if al.mode == "none" else f"{al.mode} {fit} on {al.n_used} poses"
    pairs = "all pairs" if rpe.all_pairs else "consecutive pairs"
    columns: list[tuple[str, ErrorStats]] = [
        ("APE trans (m)", result.ate.errors.trans), ("APE rot (deg)", result.ate.errors.rot),
        ("RPE trans (m)", rpe.errors.trans), ("RPE rot (deg)", rpe.errors.rot),
    ]
    lines = [
        f"matched {a.n_matched} poses ({assoc}); {align}, scale {al.scale:.6f}",
        f"RPE: delta {rpe.delta:g} {rpe.delta_unit}, {pairs} chosen on the {rpe.pairs_from}, "
        f"{rpe.pairs.shape[0]} pairs",
        "",
        f"{'':>8}" + "".join(f"{name:>16}" for name, _ in columns),
    ]
    for stat in ("max", "mean", "median", "min", "rmse", "sse", "std"):
        lines.append(f"{stat:>8}" + "".join(f"{getattr(s, stat):>16.6f}" for _, s in columns))
    if result.kitti is not None:
        k = result.kitti
        lines += ["", f"KITTI segments ({k.precision}, {k.n_segments} segments, 100-800 m): "
                      f"t_err {k.t_err_pct:.4f} %, r_err {k.r_err_deg_per_100m:.4f} deg/100 m"]
    elif result.kitti_note:
        lines += ["", f"KITTI segments skipped: {result.kitti_note}"]
    return "\n".join(lines)
