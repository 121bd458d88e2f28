"""One Gauss-Newton step of patch bundle adjustment: linearise, accumulate, Schur-reduce, solve, back-substitute.

Mathematics of METHODS.md sections 3.1-3.3 (after princeton-vl/DPVO ``dpvo/ba.py``) on the layouts of
:mod:`vokit.solvers.graph`. Per edge only ``J_j = d uv / d xi_dst`` (2x6) and ``J_d`` (2) are formed;
``J_i = -J_j Ad(G_ij)`` is never materialised, because ``G_ij`` is constant along a pair row:
``sum_e J_i^T W J_i = Ad^T H_jj Ad``, ``sum_e J_i^T W J_j = -Ad^T H_jj`` and ``J_i^T W J_d = -Ad^T (J_j^T W J_d)``.
All sums are batched matmuls or ``index_add`` scatters; nothing loops over edges or patches.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from vokit.geometry.lie import quat_to_matrix, se3_adjoint, se3_compose, se3_inverse
from vokit.solvers.cholesky import cholesky_solve, damp
from vokit.solvers.graph import BAGraph
from vokit.solvers.jacobians import normalized_homogeneous, projection_terms


def scatter_sum(src: Tensor, index: Tensor, size: int) -> Tensor:
    """``out[:, index[n]] += src[:, n]``: sums ``src (B, n, ...)`` into ``(B, size, ...)`` along dim 1.

    ``scatter_add`` with an expanded index; on the CPU it is several times faster than ``index_add`` along a
    non-leading dimension with trailing dimensions. Differentiable in ``src``.
    """
    b, n = src.shape[:2]
    flat = src.reshape(b, n, -1)
    idx = index.view(1, n, 1).expand(b, n, flat.shape[2])
    out = flat.new_zeros(b, size, flat.shape[2]).scatter_add(1, idx, flat)
    return out.view(b, size, *src.shape[2:])


@dataclass(frozen=True)
class EdgeData:
    """Per-solve constants gathered into the pair-row layout ``(B, R, W)`` (R rows of W slots).

    Attributes:
        x: ``(u - cx) / fx`` of each slot's patch centre in its host camera.
        y: ``(v - cy) / fy``.
        target_u: target pixel column.
        target_v: target pixel row.
        weight_u: confidence of the u residual; exactly zero on padding slots and dropped edges (a non-finite
            weight, or a non-finite pose at either end).
        weight_v: confidence of the v residual, zeroed with ``weight_u``.
        intrinsics: ``(fx, fy, cx, cy)``, each ``(B, 1, 1)``.
        image_size: ``(h, w)`` for the margin test, or None to skip it.
    """

    x: Tensor
    y: Tensor
    target_u: Tensor
    target_v: Tensor
    weight_u: Tensor
    weight_v: Tensor
    intrinsics: tuple[Tensor, Tensor, Tensor, Tensor]
    image_size: tuple[int, int] | None


def gather_edge_data(
    patch_uv: Tensor,
    intrinsics: Tensor,
    targets: Tensor,
    weights: Tensor,
    graph: BAGraph,
    image_size: tuple[int, int] | None,
    bad_poses: Tensor | None = None,
) -> EdgeData:
    """Gather the per-edge inputs of a solve into the pair-row layout (done once per solve).

    Both weights of an edge with a non-finite weight on either axis (NaN, +inf, -inf), of every edge whose host
    or destination pose is marked in ``bad_poses`` (``(B, N)``, optional) and of padding slots are set to exactly
    zero, which removes those edges from every sum of the solve (METHODS.md 3.1: ``v_e = 0``). Non-finite weights
    are replaced by zero with ``torch.where`` before anything multiplies them, so they reach neither the forward
    arithmetic nor the backward pass (``0 * NaN`` would be NaN): the gradient with respect to a dropped weight is
    exactly zero.
    """
    b = targets.shape[0]
    shape = (b, graph.n_pair_rows, graph.pair_width)
    xy = normalized_homogeneous(patch_uv, intrinsics[:, None, :])[:, graph.pair_patch, :2]
    tgt = targets[:, graph.pair_edge]
    # an edge with a non-finite weight is replaced (not multiplied) by 0, so that every product below, forward and
    # backward, is finite; the 0/1 slot mask (padding, bad poses) may then be multiplied in. The sum of the two
    # axes is non-finite iff either is NaN or inf (or they overflow, which the normal matrix would too), and is
    # cheaper than isfinite(...).all(-1)
    w = weights.detach()
    weights = torch.where((w[..., :1] + w[..., 1:]).isfinite(), weights, 0.0)
    keep = graph.pair_valid.view(1, *shape[1:])
    if bad_poses is not None:
        keep = keep & ~(bad_poses[:, graph.pair_src] | bad_poses[:, graph.pair_dst])[..., None]
    wgt = weights[:, graph.pair_edge] * keep.to(weights.dtype).view(keep.shape[0], -1, 1)
    intr = tuple(c.view(b, 1, 1) for c in intrinsics.unbind(-1))
    x, y = (c.reshape(shape) for c in xy.unbind(-1))
    tu, tv = (c.reshape(shape) for c in tgt.unbind(-1))
    wu, wv = (c.reshape(shape) for c in wgt.unbind(-1))
    return EdgeData(x, y, tu, tv, wu, wv, intr, image_size)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Linearization:
    """Residuals and Jacobians of every pair slot at one state, by component (all ``(B, R, W)`` unless noted).

    Attributes:
        r_u: ``target_u - u``, zero where invalid.
        r_v: ``target_v - v``, zero where invalid.
        wh_u: weight of the u residual in the normal matrix (``v_e w_e``).
        wh_v: the same for v.
        wg_u: weight of the u residual in the gradient ``J^T W r``; the same tensor as ``wh_u`` except in the
            implicit step, where ``wh_*`` are detached.
        wg_v: the same for v.
        J_u: first row of ``J_uv_xi_dst``, ``(B, R, W, 6)``.
        J_v: second row, ``(B, R, W, 6)``.
        Jd_u: ``d u / d inv_depth``.
        Jd_v: ``d v / d inv_depth``.
        adjoint: ``Ad(G_ij)`` per row, ``(B, R, 6, 6)``.
        valid: validity ``v_e``.
        cost: ``sum_e r^T W r`` per problem, ``(B,)``.
    """

    r_u: Tensor
    r_v: Tensor
    wh_u: Tensor
    wh_v: Tensor
    wg_u: Tensor
    wg_v: Tensor
    J_u: Tensor
    J_v: Tensor
    Jd_u: Tensor
    Jd_v: Tensor
    adjoint: Tensor
    valid: Tensor
    cost: Tensor


def linearize(
    cam_from_world: Tensor,
    inv_depth: Tensor,
    data: EdgeData,
    graph: BAGraph,
    residual_gate_px: float,
    margin_px: float,
    min_z: float,
    detach_hessian_weights: bool = False,
) -> Linearization:
    """Residuals, validity and Jacobians of all edges at ``(cam_from_world, inv_depth)`` (METHODS.md 3.1-3.2)."""
    b, rows, width = data.x.shape
    dst_from_src = se3_compose(cam_from_world[:, graph.pair_dst], se3_inverse(cam_from_world[:, graph.pair_src]))
    rot = quat_to_matrix(dst_from_src[..., 3:])[..., None, :, :]
    t = dst_from_src[..., None, :3]
    d = inv_depth[:, graph.pair_patch].view(b, rows, width)
    x, y = data.x, data.y
    pts = tuple(rot[..., i, 0] * x + rot[..., i, 1] * y + rot[..., i, 2] + t[..., i] * d for i in range(3))
    terms = projection_terms(pts, d, (t[..., 0], t[..., 1], t[..., 2]), data.intrinsics, min_z)  # type: ignore[arg-type]
    r_u, r_v = data.target_u - terms.u, data.target_v - terms.v
    valid = terms.valid & (r_u.square() + r_v.square() < residual_gate_px**2)
    if data.image_size is not None:
        h, w = data.image_size
        u, v = terms.u, terms.v
        valid = valid & (u > -margin_px) & (u < w + margin_px) & (v > -margin_px) & (v < h + margin_px)
    zero = torch.zeros_like(r_u)
    r_u, r_v = torch.where(valid, r_u, zero), torch.where(valid, r_v, zero)
    w_u, w_v = torch.where(valid, data.weight_u, zero), torch.where(valid, data.weight_v, zero)
    cost = (w_u * r_u.square() + w_v * r_v.square()).sum(dim=(1, 2))
    wh_u, wh_v = (w_u.detach(), w_v.detach()) if detach_hessian_weights else (w_u, w_v)
    return Linearization(
        r_u,
        r_v,
        wh_u,
        wh_v,
        w_u,
        w_v,
        torch.stack(terms.J_u, -1),
        torch.stack(terms.J_v, -1),
        terms.Jd_u,
        terms.Jd_v,
        se3_adjoint(dst_from_src),
        valid,
        cost,
    )


@dataclass(frozen=True)
class Step:
    """A Gauss-Newton step.

    Attributes:
        xi: tangent step per pose, zero for fixed poses, ``(B, N, 6)``.
        inv_depth: inverse-depth step per patch, ``(B, P)``.
        failed: the reduced camera system could not be factorised (the step is then zero), ``(B,)``.
    """

    xi: Tensor
    inv_depth: Tensor
    failed: Tensor


def _depth_terms(lin: Linearization, graph: BAGraph, n_patches: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``C_k``, ``w_k`` per patch, and the weighted residuals ``W r`` (u and v) per slot."""
    b = lin.r_u.shape[0]
    wr_u, wr_v = lin.wg_u * lin.r_u, lin.wg_v * lin.r_v
    c_slot = lin.wh_u * lin.Jd_u.square() + lin.wh_v * lin.Jd_v.square()
    w_slot = lin.Jd_u * wr_u + lin.Jd_v * wr_v
    zeros = c_slot.new_zeros(b, n_patches)
    C = zeros.index_add(1, graph.pair_patch, c_slot.reshape(b, -1))
    w = zeros.index_add(1, graph.pair_patch, w_slot.reshape(b, -1))
    return C, w, wr_u, wr_v


def _pose_terms(lin: Linearization, wr_u: Tensor, wr_v: Tensor, graph: BAGraph) -> tuple[Tensor, Tensor]:
    """Pose-pose blocks B and pose gradient v in the padded ``(F + 1)`` block layout."""
    b = lin.r_u.shape[0]
    side = graph.n_free + 1
    Ju_t, Jv_t = lin.J_u.transpose(-1, -2), lin.J_v.transpose(-1, -2)
    H_jj = Ju_t @ (lin.wh_u[..., None] * lin.J_u) + Jv_t @ (lin.wh_v[..., None] * lin.J_v)
    v_j = (Ju_t @ wr_u[..., None] + Jv_t @ wr_v[..., None]).squeeze(-1)
    adj_t = lin.adjoint.transpose(-1, -2)
    adj_t_H = adj_t @ H_jj
    blocks = torch.stack([adj_t_H @ lin.adjoint, -adj_t_H, -H_jj @ lin.adjoint, H_jj], dim=2)
    S = scatter_sum(blocks.reshape(b, -1, 36), graph.pair_block.flatten(), side * side)
    v_i = -(adj_t @ v_j[..., None]).squeeze(-1)
    v = scatter_sum(torch.stack([v_i, v_j], dim=2).reshape(b, -1, 6), graph.pair_vec.flatten(), side)
    return S, v


def _pose_depth_blocks(lin: Linearization, graph: BAGraph) -> Tensor:
    """E stored per patch row as ``(B, rows, patch_width, 6 L)`` (METHODS.md 3.3, never ``6F x P`` dense)."""
    b = lin.r_u.shape[0]
    E_dst = lin.J_u * (lin.wh_u * lin.Jd_u)[..., None] + lin.J_v * (lin.wh_v * lin.Jd_v)[..., None]
    E_src = -(E_dst @ lin.adjoint)
    n_rows, n_local = graph.n_patch_rows, graph.n_local
    n_flat = n_rows * graph.patch_width * n_local
    idx = torch.cat([graph.slot_e_src, graph.slot_e_dst])
    src = torch.cat([E_src.reshape(b, -1, 6), E_dst.reshape(b, -1, 6)], dim=1)
    E = scatter_sum(src, idx, n_flat + 1)
    return E[:, :n_flat].reshape(b, n_rows, graph.patch_width, 6 * n_local)


def _to_dense(S_blocks: Tensor, v: Tensor, n_free: int) -> tuple[Tensor, Tensor]:
    b, side = v.shape[:2]
    S = S_blocks.view(b, side, side, 6, 6)[:, :n_free, :n_free].permute(0, 1, 3, 2, 4)
    return S.reshape(b, 6 * n_free, 6 * n_free), v[:, :n_free].reshape(b, 6 * n_free, 1)


def gauss_newton_step(
    lin: Linearization,
    graph: BAGraph,
    mode: str,
    pose_damping: float,
    rel_pose_damping: float,
    depth_damping: float,
) -> Step:
    """Solve the damped normal equations of one linearisation (METHODS.md 3.3).

    ``mode`` is ``"full"`` (Schur complement onto the free poses, Cholesky, back-substitution), ``"motion"``
    (depths fixed: ``(B + damping) dxi = v``) or ``"structure"`` (poses fixed: ``dd = Q w``). With no free pose,
    ``"full"`` is ``"structure"``.
    """
    n_patches, n_free = graph.n_patches, graph.n_free
    b = lin.r_u.shape[0]
    C, w, wr_u, wr_v = _depth_terms(lin, graph, n_patches)
    denom = C + depth_damping
    Q = torch.where(denom > 0, 1.0 / torch.where(denom > 0, denom, torch.ones_like(denom)), torch.zeros_like(denom))
    xi = C.new_zeros(b, graph.n_poses, 6)
    failed = torch.zeros(b, dtype=torch.bool, device=xi.device)
    if mode == "structure" or n_free == 0:
        return Step(xi, Q * w, failed)
    S_blocks, v = _pose_terms(lin, wr_u, wr_v, graph)
    if mode == "full":
        E = _pose_depth_blocks(lin, graph)
        n_rows, n_local = E.shape[1], graph.n_local
        q_row = Q[:, graph.row_patch].view(b, n_rows, -1)
        qw_row = (Q * w)[:, graph.row_patch].view(b, n_rows, -1)
        EQE = (E * q_row[..., None]).transpose(-1, -2) @ E
        EQE = EQE.view(b, n_rows, n_local, 6, n_local, 6).permute(0, 1, 2, 4, 3, 5).reshape(b, -1, 36)
        S_blocks = S_blocks - scatter_sum(EQE, graph.local_block.flatten(), S_blocks.shape[1])
        EQw = (E.transpose(-1, -2) @ qw_row[..., None]).reshape(b, -1, 6)
        v = v - scatter_sum(EQw, graph.local_frames[:, :n_local].flatten(), v.shape[1])
    S, y = _to_dense(S_blocks, v, n_free)
    dx, failed = cholesky_solve(damp(S, pose_damping, rel_pose_damping), y)
    dx_pad = torch.cat([dx.view(b, n_free, 6), dx.new_zeros(b, 1, 6)], dim=1)
    xi = dx_pad[:, graph.free_index]
    if mode != "full":
        return Step(xi, torch.zeros_like(Q), failed)
    dx_local = dx_pad[:, graph.local_frames[:, : graph.n_local]].reshape(b, E.shape[1], -1, 1)
    Et_dx = (E @ dx_local).reshape(b, -1)
    Et_dx = scatter_sum(Et_dx, graph.row_patch, n_patches)
    return Step(xi, Q * (w - Et_dx), failed)
