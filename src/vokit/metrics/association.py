"""Timestamp association of a reference and an estimated trajectory (METHODS.md section 9.2).

Two protocols, chosen with ``method``:

- ``"evo"`` (MichaelGrupp/evo ``evo/core/sync.py``, ``matching_time_indices``): for every stamp of the trajectory
  with fewer poses, the nearest stamp of the other one is taken when ``|dt| <= max_diff_s`` (default 0.01 s). A
  stamp of the longer trajectory may be matched more than once. Sorted stamps use evo's binary-search rule
  (ties go to the earlier stamp); unsorted ones its linear nearest search.
- ``"tum"`` (the TUM RGB-D tools, ``associate.py``): every pair with ``|t_ref - (t_est + offset)| < max_diff_s``
  (strict; default 0.02 s) is a candidate; candidates are sorted by (difference, t_ref, t_est) and accepted
  greedily one-to-one. The matches come back sorted by reference time.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from vokit.errors import VokitError

AssocMethod = Literal["evo", "tum"]

DEFAULT_MAX_DIFF_S: dict[str, float] = {"evo": 0.01, "tum": 0.02}
"""Default association tolerance of each protocol, in seconds."""


@dataclass(frozen=True)
class Association:
    """Matched pose indices of two trajectories.

    Attributes:
        ref_idx: indices into the reference trajectory.
        est_idx: indices into the estimated trajectory (same length as ``ref_idx``).
        time_diff_s: ``|t_ref - (t_est + offset_s)|`` of every match, seconds.
        method: ``"evo"`` or ``"tum"``.
        max_diff_s: the tolerance used, seconds.
        offset_s: the offset added to the estimated stamps, seconds.
    """

    ref_idx: Int[Tensor, " K"]
    est_idx: Int[Tensor, " K"]
    time_diff_s: Float[Tensor, " K"]
    method: str
    max_diff_s: float
    offset_s: float

    @property
    def n_matched(self) -> int:
        """Number of matched pairs."""
        return int(self.ref_idx.numel())


def _evo_matching(stamps_1: np.ndarray, stamps_2: np.ndarray, max_diff: float, offset_2: float) -> tuple:
    """Nearest (evo's ``matching_time_indices``): stamp of ``stamps_2 + offset_2`` for each of ``stamps_1``."""
    s2 = stamps_2 + offset_2
    s1 = stamps_1
    if len(s2) > 1 and not bool(np.all(np.diff(s2) >= 0)):
        idx_1, idx_2 = [], []
        for i, stamp in enumerate(s1):
            diffs = np.abs(s2 - stamp)
            j = int(np.argmin(diffs))
            if diffs[j] <= max_diff:
                idx_1.append(i)
                idx_2.append(j)
        return np.asarray(idx_1, dtype=np.int64), np.asarray(idx_2, dtype=np.int64)
    in_range = ~((s1 < s2[0] - max_diff) | (s1 > s2[-1] + max_diff))
    upper = np.minimum(np.searchsorted(s2, s1, side="right"), len(s2) - 1)
    diff_ub = s2[upper] - s1
    diff_lb = np.where(upper > 0, s1 - s2[np.maximum(upper - 1, 0)], np.inf)
    take_ub = (diff_ub <= max_diff) & (diff_ub < diff_lb)
    take_lb = ~take_ub & (diff_lb <= max_diff) & (diff_lb <= diff_ub)
    keep = in_range & (take_ub | take_lb)
    best = np.where(take_ub, upper, upper - 1)
    return np.nonzero(keep)[0].astype(np.int64), best[keep].astype(np.int64)


def _tum_matching(ref: np.ndarray, est: np.ndarray, max_diff: float, offset: float) -> tuple:
    """TUM ``associate.py``: greedy one-to-one over candidates sorted by (|dt|, t_ref, t_est)."""
    order = np.argsort(est + offset, kind="stable")
    shifted = (est + offset)[order]
    # Generous candidate window; the exact strict criterion is applied below on the original expression.
    lo = np.searchsorted(shifted, ref - 2.0 * max_diff, side="left")
    hi = np.searchsorted(shifted, ref + 2.0 * max_diff, side="right")
    counts = hi - lo
    cand_ref = np.repeat(np.arange(len(ref)), counts)
    starts = np.repeat(lo - np.cumsum(np.concatenate([[0], counts[:-1]])), counts)
    cand_est = order[starts + np.arange(counts.sum())] if counts.sum() else np.zeros(0, dtype=np.int64)
    diff = np.abs(ref[cand_ref] - (est[cand_est] + offset))
    ok = diff < max_diff
    cand_ref, cand_est, diff = cand_ref[ok], cand_est[ok], diff[ok]
    ranking = np.lexsort((cand_est, cand_ref, est[cand_est], ref[cand_ref], diff))
    used_ref = np.zeros(len(ref), dtype=bool)
    used_est = np.zeros(len(est), dtype=bool)
    pairs = []
    for k in ranking.tolist():
        i, j = int(cand_ref[k]), int(cand_est[k])
        if not used_ref[i] and not used_est[j]:
            used_ref[i] = used_est[j] = True
            pairs.append((ref[i], est[j], i, j))
    pairs.sort()
    idx_ref = np.asarray([p[2] for p in pairs], dtype=np.int64)
    idx_est = np.asarray([p[3] for p in pairs], dtype=np.int64)
    return idx_ref, idx_est


def associate(
    ref_stamps_s: Float[Tensor, " M"],
    est_stamps_s: Float[Tensor, " N"],
    method: AssocMethod = "evo",
    max_diff_s: float | None = None,
    offset_s: float = 0.0,
) -> Association:
    """Match the poses of two trajectories by timestamp.

    Args:
        ref_stamps_s: reference (ground-truth) timestamps, seconds; use float64 (float32 cannot hold Unix
            times to the millisecond).
        est_stamps_s: estimated-trajectory timestamps, seconds.
        method: ``"evo"`` (nearest stamp within ``max_diff_s``) or ``"tum"`` (greedy one-to-one, strict).
        max_diff_s: tolerance in seconds; ``None`` takes the protocol's default (evo 0.01, tum 0.02).
        offset_s: added to the estimated stamps before matching.

    Returns:
        The matched indices, their time differences and the protocol parameters.

    Raises:
        VokitError: unknown method, empty input or no match at all.
    """
    if method not in DEFAULT_MAX_DIFF_S:
        raise VokitError(f"unknown association method {method!r} (use 'evo' or 'tum')")
    tol = DEFAULT_MAX_DIFF_S[method] if max_diff_s is None else float(max_diff_s)
    ref = ref_stamps_s.detach().cpu().to(torch.float64).numpy()
    est = est_stamps_s.detach().cpu().to(torch.float64).numpy()
    if ref.size == 0 or est.size == 0:
        raise VokitError("cannot associate an empty trajectory")
    if method == "evo":
        if est.size > ref.size:
            idx_ref, idx_est = _evo_matching(ref, est, tol, offset_s)
        else:
            idx_est, idx_ref = _evo_matching(est, ref, tol, -offset_s)
    else:
        idx_ref, idx_est = _tum_matching(ref, est, tol, offset_s)
    if idx_ref.size == 0:
        raise VokitError(
            f"no matching timestamps ({method} association, max diff {tol} s, offset {offset_s} s): "
            f"reference spans [{ref.min():.3f}, {ref.max():.3f}] s, estimate [{est.min():.3f}, {est.max():.3f}] s"
        )
    diffs = np.abs(ref[idx_ref] - (est[idx_est] + offset_s))
    return Association(
        ref_idx=torch.from_numpy(idx_ref),
        est_idx=torch.from_numpy(idx_est),
        time_diff_s=torch.from_numpy(diffs),
        method=method,
        max_diff_s=tol,
        offset_s=float(offset_s),
    )
