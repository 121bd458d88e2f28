"""Relative pose of two calibrated views from point correspondences (the classical monocular bootstrap).

The linear 8-point estimate of the essential matrix on normalised coordinates (Hartley normalisation, projection
onto the essential manifold), hypotheses drawn by RANSAC and scored by the Sampson distance, a least-squares refit
on the inliers, and the choice among the four decompositions by cheirality (Hartley and Zisserman, "Multiple View
Geometry", 2nd ed., sections 9.6, 11.1-11.4 and 11.6). Used by patchvo's ``lk`` operator to start its bundle
adjustment from a geometric guess instead of random depths [vokit].

Conventions: ``x`` are normalised image coordinates ``K^-1 [u, v, 1]`` (first two entries); the essential matrix
satisfies ``x1h^T E x0h = 0`` with ``E = [t]_x R`` for ``cam1_from_cam0 = (R, t)``; the returned translation has unit
norm (the monocular scale is free).
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry.lie import matrix_to_quat

MIN_POINTS = 8  # the linear estimate's minimal sample
REFITS = 3  # inlier refits after RANSAC


@dataclass(frozen=True)
class TwoViewPose:
    """A relative pose from correspondences.

    Attributes:
        cam1_from_cam0: ``[t, q_xyzw]`` with ``|t| = 1``.
        inliers: correspondences within the Sampson threshold of the refitted essential matrix and in front of both
            cameras.
        depth0: z-depth of each correspondence in camera 0, in units of ``|t|`` (0 where not an inlier).
    """

    cam1_from_cam0: Float[Tensor, "7"]
    inliers: Bool[Tensor, " N"]
    depth0: Float[Tensor, " N"]


def _homogeneous(x: Tensor) -> Tensor:
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def _normalizer(x: Float[Tensor, "N 2"]) -> Float[Tensor, "3 3"]:
    """Hartley's similarity moving the centroid to 0 and the mean distance to sqrt(2)."""
    c = x.mean(0)
    s = (2.0**0.5) / (x - c).norm(dim=-1).mean().clamp_min(1e-12)
    T = torch.eye(3, dtype=x.dtype)
    T[0, 0] = T[1, 1] = s
    T[:2, 2] = -s * c
    return T


def essential_from_points(
    x0: Float[Tensor, "*batch N 2"], x1: Float[Tensor, "*batch N 2"], T0: Tensor, T1: Tensor,
    weights: Float[Tensor, "*batch N"] | None = None,
) -> Float[Tensor, "*batch 3 3"]:
    """Linear (weighted) least-squares essential matrix of N >= 8 correspondences, projected onto the manifold.

    Args:
        x0: normalised coordinates in view 0.
        x1: the same points' normalised coordinates in view 1.
        T0: Hartley normaliser ``(3, 3)`` applied to ``x0`` before the solve and undone after.
        T1: the same for ``x1``.
        weights: optional per-correspondence weights of the algebraic residuals (0 drops one).

    Returns:
        E with singular values ``(1, 1, 0)``.
    """
    p0 = _homogeneous(x0) @ T0.T
    p1 = _homogeneous(x1) @ T1.T
    A = (p1[..., :, None] * p0[..., None, :]).flatten(-2)  # rows p1_i p0_j: x1h^T E x0h = A . vec(E)
    if weights is not None:
        A = A * weights[..., None]
    E = torch.linalg.svd(A, full_matrices=True).Vh[..., -1, :].reshape(*A.shape[:-2], 3, 3)
    E = T1.T @ E @ T0
    u, _, v = torch.linalg.svd(E)
    diag = torch.tensor([1.0, 1.0, 0.0], dtype=E.dtype)
    return u @ torch.diag_embed(diag.expand(*E.shape[:-2], 3)) @ v


def _sampson_parts(E: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
    """The algebraic residual ``x1h^T E x0h`` and the Sampson normaliser ``sqrt(|E x0h|_12^2 + |E^T x1h|_12^2)``."""
    h0, h1 = _homogeneous(x0), _homogeneous(x1)
    Ex0 = torch.einsum("...ij,nj->...ni", E, h0)
    Etx1 = torch.einsum("...ji,nj->...ni", E, h1)
    den = Ex0[..., 0] ** 2 + Ex0[..., 1] ** 2 + Etx1[..., 0] ** 2 + Etx1[..., 1] ** 2
    return (h1 * Ex0).sum(-1), den.clamp_min(1e-30).sqrt()


def sampson_distance(E: Float[Tensor, "*batch 3 3"], x0: Float[Tensor, "N 2"], x1: Float[Tensor, "N 2"]
                     ) -> Float[Tensor, "*batch N"]:
    """First-order geometric (Sampson) distance of each correspondence to E, in normalised-coordinate units."""
    num, den = _sampson_parts(E, x0, x1)
    return num.abs() / den


def _msac(distance: Tensor, threshold: float) -> Tensor:
    """MSAC cost: squared distance truncated at the threshold, summed (lower is better)."""
    return distance.square().clamp_max(threshold**2).sum(-1)


def decompose_essential(E: Float[Tensor, "3 3"]) -> tuple[Float[Tensor, "4 3 3"], Float[Tensor, "4 3"]]:
    """The four ``(R, t)`` with ``[t]_x R ~ E`` and unit t (Hartley and Zisserman, result 9.19)."""
    u, _, vh = torch.linalg.svd(E)
    if torch.det(u) < 0:
        u = -u
    if torch.det(vh) < 0:
        vh = -vh
    W = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=E.dtype)
    Ra, Rb = u @ W @ vh, u @ W.T @ vh
    t = u[:, 2]
    return torch.stack([Ra, Ra, Rb, Rb]), torch.stack([t, -t, t, -t])


def triangulate_depths(R: Float[Tensor, "3 3"], t: Float[Tensor, "3"], x0: Float[Tensor, "N 2"],
                       x1: Float[Tensor, "N 2"]) -> tuple[Float[Tensor, " N"], Float[Tensor, " N"]]:
    """Depths ``(z0, z1)`` minimising ``|z0 R x0h + t - z1 x1h|`` (the midpoint method's linear system)."""
    a = _homogeneous(x0) @ R.T  # R x0h
    b = _homogeneous(x1)
    # normal equations of [a, -b] [z0, z1]^T = -t
    aa, bb, ab = (a * a).sum(-1), (b * b).sum(-1), (a * b).sum(-1)
    at, bt = (a * t).sum(-1), (b * t).sum(-1)
    det = aa * bb - ab * ab
    z0 = (-bb * at + ab * bt) / det.clamp_min(1e-30)
    z1 = (ab * at - aa * bt) / det.clamp_min(1e-30) * -1
    return z0, z1


def _choose_decomposition(E: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The decomposition with the most points in front of both cameras: ``(R, t, z0)``."""
    Rs, ts = decompose_essential(E)
    best = None
    for R, t in zip(Rs, ts, strict=True):
        z0, z1 = triangulate_depths(R, t, x0, x1)
        count = int(((z0 > 0) & (z1 > 0)).sum())
        if best is None or count > best[0]:
            best = (count, R, t, z0 * ((z0 > 0) & (z1 > 0)))
    assert best is not None
    return best[1], best[2], best[3]


def relative_pose_ransac(
    x0: Float[Tensor, "N 2"], x1: Float[Tensor, "N 2"], threshold: float, hypotheses: int = 256,
    generator: torch.Generator | None = None,
) -> TwoViewPose | None:
    """``cam1_from_cam0`` from normalised correspondences by 8-point RANSAC (float64 inside).

    Hypotheses are scored by MSAC (truncated squared Sampson distance); the best is refined by Sampson-weighted least
    squares on its inliers while that lowers the cost.

    Args:
        x0: normalised image coordinates of the points in view 0.
        x1: the same points' normalised coordinates in view 1.
        threshold: Sampson-distance inlier threshold in normalised units (pixels over the focal length).
        hypotheses: minimal samples drawn, all scored in one batch.
        generator: CPU generator of the samples.

    Returns:
        The pose, its inliers and their depths, or None with fewer than 8 correspondences or inliers.
    """
    n = x0.shape[0]
    if n < MIN_POINTS:
        return None
    x0, x1 = x0.double(), x1.double()
    T0, T1 = _normalizer(x0), _normalizer(x1)
    samples = torch.rand(hypotheses, n, generator=generator).argsort(dim=1)[:, :MIN_POINTS]
    hyp = essential_from_points(x0[samples], x1[samples], T0, T1)
    cost = _msac(sampson_distance(hyp, x0, x1), threshold)
    best_E, best_cost = hyp[cost.argmin()], cost.min()
    for _ in range(REFITS):  # Sampson-weighted least squares on the inliers, kept only when the cost drops
        inliers = sampson_distance(best_E, x0, x1) < threshold
        if int(inliers.sum()) < MIN_POINTS:
            return None
        _, den = _sampson_parts(best_E, x0[inliers], x1[inliers])
        refit = essential_from_points(x0[inliers], x1[inliers], T0, T1, weights=1.0 / den)
        refit_cost = _msac(sampson_distance(refit, x0, x1), threshold)
        if refit_cost >= best_cost:
            break
        best_E, best_cost = refit, refit_cost
    E1 = best_E
    inliers = sampson_distance(E1, x0, x1) < threshold
    R, t, z0 = _choose_decomposition(E1, x0, x1)
    front = inliers & (z0 > 0)
    if int(front.sum()) < MIN_POINTS:
        return None
    pose = torch.cat([t, matrix_to_quat(R)])
    return TwoViewPose(cam1_from_cam0=pose, inliers=front, depth0=torch.where(front, z0, torch.zeros_like(z0)))


__all__ = ["TwoViewPose", "decompose_essential", "essential_from_points", "relative_pose_ransac",
           "sampson_distance", "triangulate_depths"]
