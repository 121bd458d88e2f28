"""Reference Gauss-Newton iterations for the BA benchmark: the full normal equations, dense torch or scipy sparse.

Both perform the iteration of :func:`vokit.solvers.bundle_adjust` on a
:class:`~vokit.solvers.synthetic.SyntheticBAProblem` (linearise all edges, build the damped normal equations, solve,
retract) but assemble and solve the full ``(6F + P)`` system instead of the Schur complement:

* :func:`dense_iteration`: the normal matrix assembled by ``scatter_add`` from per-edge 13x13 blocks, solved by a
  dense torch Cholesky (differentiable);
* :func:`scipy_iteration`: the sparse Jacobian in CSR form, ``H = J^T W J`` by scipy's sparse product, solved by
  ``scipy.sparse.linalg.spsolve`` (SuperLU with COLAMD ordering); forward only.

Both share vokit's linearisation code (residuals and per-edge Jacobians), so a comparison isolates how the normal
equations are assembled and solved. They damp the full system with ``eps`` and ``mu diag(B)`` on the pose block and
``lambda`` on the depth block (the Schur path damps ``diag(S)`` instead: the same ``eps``/``lambda``, a different
``mu`` term), so with ``mu = 0`` they solve exactly the layer's system; ``tests/solvers/test_benchmark.py`` checks
that to 1e-9. They live outside the library, beside the tests' jacrev oracle (``tests/solvers/reference.py``), and
are used by ``benchmarks/ba.py`` and the tests alike.
"""

import torch
from torch import Tensor

from vokit.geometry.lie import quat_normalize, se3_compose, se3_exp
from vokit.solvers.ba import BAOptions
from vokit.solvers.graph import BAGraph, build_ba_graph
from vokit.solvers.schur import gather_edge_data, linearize
from vokit.solvers.synthetic import SyntheticBAProblem


def _edge_jacobians(
    p: SyntheticBAProblem, graph: BAGraph, poses: Tensor, depth: Tensor, opts: BAOptions
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Full per-edge Jacobians for the reference solvers, from the same linearisation code as vokit.

    Returns ``J (B, S, 2, 13)`` (``[J_src | J_dst | J_d]``), ``W (B, S, 2)`` (zero on invalid and padding slots),
    ``r (B, S, 2)`` and the unknown index of each of the 13 columns, ``idx (S, 13)`` (-1 for fixed poses).
    """
    data = gather_edge_data(p.patch_uv, p.intrinsics, p.targets, p.weights, graph, None)
    lin = linearize(poses, depth, data, graph, opts.residual_gate_px, opts.margin_px, opts.min_z)
    b = poses.shape[0]
    J_dst = torch.stack([lin.J_u, lin.J_v], dim=-2)
    J_src = -(J_dst @ lin.adjoint[:, :, None])
    J_d = torch.stack([lin.Jd_u, lin.Jd_v], dim=-1)
    J = torch.cat([J_src, J_dst, J_d[..., None]], dim=-1).reshape(b, -1, 2, 13)
    width = graph.pair_width
    six = torch.arange(6, device=poses.device)

    def cols(frame: Tensor) -> Tensor:
        free = graph.free_index[frame]
        base = free.repeat_interleave(width)[:, None]
        return torch.where(base < graph.n_free, base * 6 + six, -1)

    idx = torch.cat([cols(graph.pair_src), cols(graph.pair_dst), (6 * graph.n_free + graph.pair_patch)[:, None]], 1)
    w = torch.stack([lin.wg_u, lin.wg_v], dim=-1).reshape(b, -1, 2)
    return J, w, torch.stack([lin.r_u, lin.r_v], dim=-1).reshape(b, -1, 2), idx


def _damping_diag(H_diag: Tensor, n_free: int, opts: BAOptions) -> Tensor:
    pose = opts.pose_damping + opts.rel_pose_damping * H_diag[..., : 6 * n_free]
    depth = torch.full_like(H_diag[..., 6 * n_free :], opts.depth_damping)
    return torch.cat([pose, depth], dim=-1)


def _retract(p: SyntheticBAProblem, poses: Tensor, depth: Tensor, x: Tensor, opts: BAOptions) -> tuple[Tensor, Tensor]:
    n_free = int(p.free_poses.sum())
    xi = x.new_zeros(x.shape[0], p.free_poses.shape[0], 6)
    xi = xi.index_copy(1, torch.nonzero(p.free_poses).squeeze(-1), x[:, : 6 * n_free].reshape(x.shape[0], n_free, 6))
    moved = se3_compose(se3_exp(xi), poses)
    moved = torch.cat([moved[..., :3], quat_normalize(moved[..., 3:])], dim=-1)
    new_depth = (depth + x[:, 6 * n_free :]).clamp(min=opts.inv_depth_min, max=opts.inv_depth_max)
    return torch.where(p.free_poses[:, None], moved, poses), new_depth


def dense_iteration(p: SyntheticBAProblem, poses: Tensor, depth: Tensor, opts: BAOptions) -> tuple[Tensor, Tensor]:
    """One GN iteration with the full normal matrix assembled densely and solved by torch Cholesky."""
    graph = build_ba_graph(p.src_idx, p.dst_idx, p.patch_idx, p.free_poses, p.inv_depth.shape[1])
    J, w, r, idx = _edge_jacobians(p, graph, poses, depth, opts)
    WJ = w[..., None] * J
    H_e = WJ.transpose(-1, -2) @ J
    g_e = (WJ * r[..., None]).sum(-2)
    b, n_free = J.shape[0], graph.n_free
    n = 6 * n_free + p.inv_depth.shape[1]
    ok = (idx >= 0) & graph.pair_valid[:, None]
    pair_ok = (ok[:, :, None] & ok[:, None, :]).reshape(-1)
    flat = (idx[:, :, None] * n + idx[:, None, :]).reshape(-1)[pair_ok]
    H = H_e.new_zeros(b, n * n).scatter_add(1, flat.expand(b, -1), H_e.reshape(b, -1)[:, pair_ok]).view(b, n, n)
    ok = ok.reshape(-1)
    g = g_e.new_zeros(b, n).scatter_add(1, idx.reshape(-1)[ok].expand(b, -1), g_e.reshape(b, -1)[:, ok])
    H = H + torch.diag_embed(_damping_diag(H.diagonal(dim1=-2, dim2=-1), n_free, opts))
    factor = torch.linalg.cholesky(H)
    x = torch.cholesky_solve(g[..., None], factor)[..., 0]
    return _retract(p, poses, depth, x, opts)


def scipy_iteration(p: SyntheticBAProblem, poses: Tensor, depth: Tensor, opts: BAOptions) -> tuple[Tensor, Tensor]:
    """One GN iteration solving the full normal equations with ``scipy.sparse.linalg.spsolve`` (SuperLU).

    The sparse Jacobian ``W^1/2 J`` (2 rows per edge, 13 entries per row) is built directly in CSR form and the
    normal matrix formed by scipy's sparse product ``J^T J``: the fastest assembly we found (COO triplets of the
    per-edge 13x13 blocks take ~10x longer to convert).
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    graph = build_ba_graph(p.src_idx, p.dst_idx, p.patch_idx, p.free_poses, p.inv_depth.shape[1])
    J, w, r, idx = _edge_jacobians(p, graph, poses, depth, opts)
    b, n_free = J.shape[0], graph.n_free
    n = 6 * n_free + p.inv_depth.shape[1]
    idx_rows = idx.repeat_interleave(2, dim=0).cpu().numpy()
    keep = idx_rows >= 0
    indptr = np.concatenate([[0], np.cumsum(keep.sum(1))])
    indices = idx_rows[keep]
    sw = w.sqrt()
    Jw = (J * sw[..., None]).detach().reshape(b, -1, 13).cpu().numpy()
    rw = (r * sw).detach().reshape(b, -1).cpu().numpy()
    xs = []
    for k in range(b):
        Js = sp.csr_matrix((Jw[k][keep], indices, indptr), shape=(Jw.shape[1], n))
        H = (Js.T @ Js).tocsc()
        g = Js.T @ rw[k]
        diag = _damping_diag(torch.from_numpy(H.diagonal().copy()), n_free, opts).numpy()
        xs.append(torch.from_numpy(spsolve(H + sp.diags(diag, format="csc"), g)))
    x = torch.stack(xs).to(device=poses.device, dtype=poses.dtype)
    return _retract(p, poses, depth, x, opts)
