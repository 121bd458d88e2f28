"""The two-view bootstrap of patchvo's initialisation [vokit] (METHODS.md 4.4a: the classical operator).

DPVO initialises its first 8 keyframes from identity poses and random patch depths and lets the learned operator
and BA find the geometry. With the classical ``lk`` operator that start can settle in a wrong solution when the
motion is mostly forward (the rotation/translation ambiguity of small fields of view), so the ``lk`` operator's
initialisation first estimates the relative pose of the first and the last keyframe from their tracked patches
(essential matrix by 8-point RANSAC, :func:`vokit.solvers.two_view.relative_pose_ransac`), the classical monocular
bootstrap, then places the keyframes in between on the geodesic, and gives the first keyframe's inlier patches
their triangulated depths and every other patch the inliers' median. The scale is fixed by that median
(:data:`MEDIAN_DEPTH`, the median depth of DPVO's random start). BA then refines everything as usual.

The correspondences come either from the operator's answers on the graph's edges (:func:`two_view_bootstrap`) or,
for an operator that can track arbitrary points (``lk``), from **point chains** (:class:`PointChains`,
:func:`chain_bootstrap`): slot 0's patch centres plus extra corners, tracked frame to frame with the template taken
anew in every keyframe, as a classical KLT front end does. Under fast forward motion few of slot 0's patches survive
a direct track into a keyframe far enough away for parallax; hundreds of chained points leave enough survivors.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from vokit.geometry.lie import quat_to_matrix, se3_exp, se3_log
from vokit.methods.patchvo.graph import PatchGraph
from vokit.solvers.jacobians import normalized_homogeneous
from vokit.solvers.two_view import relative_pose_ransac

MEDIAN_DEPTH = 2.0  # scene scale of the bootstrap: median depth of DPVO's start, inverse depths U(0, 1] [vokit]
MIN_INLIERS = 16  # fewer inliers: keep the DPVO start [vokit]


@dataclass(frozen=True)
class Bootstrap:
    """What the bootstrap found (kept on the loop for reports and tests).

    Attributes:
        used: whether the poses and depths were set.
        partner: the slot paired with slot 0.
        correspondences: confident tracks between slot 0 and the partner.
        inliers: of those, consistent with the essential matrix and in front of both cameras.
        parallax_px: median rotation-compensated flow of the inliers (1/4-resolution pixels).
        reason: why it was not used ("" when used).
        source: where the correspondences came from: ``"edges"`` (the operator's tracks of slot 0's patches) or
            ``"chains"`` (:class:`PointChains`).
    """

    used: bool
    partner: int
    correspondences: int
    inliers: int
    parallax_px: float
    reason: str = ""
    source: str = "edges"


PointTracker = Callable[[PatchGraph, int, int, Tensor, Tensor], tuple[Tensor, Tensor]]
"""``(graph, src_slot, dst_slot, uv4, start4) -> (uv4 in dst_slot, confident)``: an operator's point tracking."""


@dataclass
class PointChains:
    """Points of slot 0 tracked frame to frame through the following slots (mutable; grown by :meth:`extend`).

    Attributes:
        uv: per slot, ``(P, 2)`` positions in 1/4-resolution pixels; a lost point keeps its last position.
        alive: per slot, ``(P,)`` whether the point was tracked confidently in every step so far.
        patches: the first ``patches`` points are slot 0's patch centres, in patch order.
    """

    uv: list[Tensor]
    alive: list[Tensor]
    patches: int

    @classmethod
    def start(cls, patch_uv: Tensor, extra_uv: Tensor) -> "PointChains":
        """Chains of slot 0's patch centres ``(M, 2)`` followed by extra points ``(Q, 2)``."""
        uv = torch.cat([patch_uv, extra_uv.to(patch_uv)])
        return cls([uv], [torch.ones(uv.shape[0], dtype=torch.bool)], int(patch_uv.shape[0]))

    def extend(self, graph: PatchGraph, track: PointTracker) -> None:
        """Track the live points one slot further until every slot of ``graph`` has positions.

        Each step starts from the point's previous position plus its previous step (constant flow).
        """
        while len(self.uv) < graph.n:
            k = len(self.uv)
            prev, alive = self.uv[-1], self.alive[-1]
            step = prev - self.uv[-2] if k >= 2 else torch.zeros_like(prev)
            idx = torch.nonzero(alive).squeeze(-1)
            uv, ok = track(graph, k - 1, k, prev[idx], prev[idx] + step[idx])
            new_uv, new_alive = prev.clone(), torch.zeros_like(alive)
            new_uv[idx] = torch.where(ok[:, None], uv.to(prev), prev[idx])
            new_alive[idx] = ok
            self.uv.append(new_uv)
            self.alive.append(new_alive)


def _correspondences(graph: PatchGraph, src: Tensor, dst: Tensor, patch: Tensor, target: Tensor, weight: Tensor,
                     last: int) -> tuple[Tensor, Tensor, Tensor]:
    """Confident tracks slot 0 -> ``last`` (and ``last`` -> 0, swapped): ``(uv0, uv_last, patch of slot 0 or -1)``."""
    ok = weight.amin(-1) > 0.5
    uv = graph.patch_uv.reshape(-1, 2)[patch]
    fwd = ok & (src == 0) & (dst == last)
    bwd = ok & (src == last) & (dst == 0)
    uv0 = torch.cat([uv[fwd], target[bwd]])
    uv1 = torch.cat([target[fwd], uv[bwd]])
    host0 = torch.cat([patch[fwd], torch.full_like(patch[bwd], -1)])
    return uv0.double(), uv1.double(), host0


def two_view_bootstrap(graph: PatchGraph, intrinsics4: Tensor, src: Tensor, dst: Tensor, patch: Tensor,
                       target: Tensor, weight: Tensor, threshold_px: float, min_parallax_px: float,
                       generator: torch.Generator | None = None) -> Bootstrap:
    """Set the poses of slots ``1..n-1`` and all patch inverse depths from slot 0 and the farthest slot it sees.

    The partner of slot 0 is the last slot with at least ``2 MIN_INLIERS`` confident tracks to or from slot 0 (on
    fast forward motion, tracks over the whole initialisation window fail); the slots after it continue on the same
    geodesic (constant velocity per keyframe).

    Args:
        graph: the patch graph at initialisation (slot 0 at the identity).
        intrinsics4: ``(fx, fy, cx, cy)`` of the 1/4-resolution grid.
        src: host slot of each edge the operator answered.
        dst: target slot of each edge.
        patch: global patch index of each edge.
        target: the operator's target of each edge (1/4-res px).
        weight: its per-axis confidences.
        threshold_px: RANSAC inlier threshold (Sampson distance, 1/4-res px).
        min_parallax_px: the inliers' median rotation-compensated flow (1/4-res px) below which the essential
            matrix is not trusted (the translation is then too small to tell from a rotation).
        generator: RANSAC's sample generator.

    Returns:
        What was found; the graph is changed only when ``used``.
    """
    found = None
    for last in range(graph.n - 1, 1, -1):
        found = _correspondences(graph, src, dst, patch, target, weight, last)
        if found[0].shape[0] >= 2 * MIN_INLIERS:
            break
    if found is None:
        return Bootstrap(False, 0, 0, 0, 0.0, "too few keyframes")
    return _solve(graph, intrinsics4, *found, last, threshold_px, min_parallax_px, generator)


def chain_bootstrap(graph: PatchGraph, intrinsics4: Tensor, chains: PointChains, threshold_px: float,
                    min_parallax_px: float, generator: torch.Generator | None = None,
                    refine: PointTracker | None = None) -> Bootstrap:
    """:func:`two_view_bootstrap` from point chains.

    The partner of slot 0 is the last slot where at least ``2 MIN_INLIERS`` chains are alive; the chains of slot 0's
    patches that end as inliers give those patches their depths.

    Args:
        graph: the patch graph at initialisation (slot 0 at the identity); ``chains`` cover all its slots.
        intrinsics4: ``(fx, fy, cx, cy)`` of the 1/4-resolution grid.
        chains: slot 0's points tracked through the slots (:meth:`PointChains.extend`).
        threshold_px: RANSAC inlier threshold (Sampson distance, 1/4-res px).
        min_parallax_px: see :func:`two_view_bootstrap`.
        generator: RANSAC's sample generator.
        refine: if given, each live chain's end is tracked again directly from slot 0, starting at the chain's end,
            and replaced where that track is confident: a chain accumulates each step's error, a direct track has
            one (it fails where the view changed too much, and the chain's end is kept there).
    """
    if graph.n < 3 or len(chains.uv) < graph.n:
        return Bootstrap(False, 0, 0, 0, 0.0, "too few keyframes", "chains")
    last = graph.n - 1
    while last > 2 and int(chains.alive[last].sum()) < 2 * MIN_INLIERS:
        last -= 1
    alive = chains.alive[last]
    index = torch.nonzero(alive).squeeze(-1)
    host0 = torch.where(index < chains.patches, index, torch.full_like(index, -1))
    uv0, uv1 = chains.uv[0][index], chains.uv[last][index]
    if refine is not None and index.numel() > 0:
        direct, ok = refine(graph, 0, last, uv0, uv1)
        uv1 = torch.where(ok[:, None], direct.to(uv1), uv1)
    found = _solve(graph, intrinsics4, uv0.double(), uv1.double(), host0, last, threshold_px, min_parallax_px,
                   generator)
    return replace(found, source="chains")


def _solve(graph: PatchGraph, intrinsics4: Tensor, uv0: Tensor, uv1: Tensor, host0: Tensor, last: int,
           threshold_px: float, min_parallax_px: float, generator: torch.Generator | None) -> Bootstrap:
    """Essential matrix of slot 0 and ``last`` from correspondences, then poses and depths.

    As :func:`two_view_bootstrap` describes; ``uv0 -> uv1`` in 1/4-res px, ``host0`` the global patch index of slot
    0's patch behind each correspondence, or -1.
    """
    k = intrinsics4.double()
    h0, h1 = normalized_homogeneous(uv0, k), normalized_homogeneous(uv1, k)
    x0, x1 = h0[:, :2], h1[:, :2]
    n_corr = int(uv0.shape[0])
    est = relative_pose_ransac(x0, x1, threshold_px / float(k[0]), generator=generator)
    if est is None or int(est.inliers.sum()) < max(MIN_INLIERS, n_corr // 3):
        return Bootstrap(False, last, n_corr, 0 if est is None else int(est.inliers.sum()), 0.0, "too few inliers")
    R = quat_to_matrix(est.cam1_from_cam0[3:])
    ray = h0 @ R.T  # rotation-compensated: where x0 would be
    rot_only = ray[:, :2] / ray[:, 2:].clamp_min(1e-9)
    parallax = float(((rot_only - x1) * k[:2]).norm(dim=-1)[est.inliers].median())
    n_in = int(est.inliers.sum())
    if parallax < min_parallax_px:
        return Bootstrap(False, last, n_corr, n_in, parallax, "too little parallax")
    scale = MEDIAN_DEPTH / float(est.depth0[est.inliers].median())
    rel = est.cam1_from_cam0.clone()
    rel[:3] = rel[:3] * scale
    xi = se3_log(rel)
    steps = torch.arange(1, graph.n, dtype=xi.dtype)[:, None] / last  # > 1 after the partner: extrapolated
    graph.cam_from_world[1:] = se3_exp(steps * xi).to(graph.dtype)  # slot 0 = world
    graph.inv_depth[:] = 1.0 / MEDIAN_DEPTH
    fwd = est.inliers & (host0 >= 0)
    flat = graph.inv_depth.view(-1)
    flat[host0[fwd]] = (1.0 / (scale * est.depth0[fwd])).to(graph.dtype)
    return Bootstrap(True, last, n_corr, n_in, parallax)


__all__ = ["Bootstrap", "MEDIAN_DEPTH", "PointChains", "PointTracker", "chain_bootstrap", "two_view_bootstrap"]
