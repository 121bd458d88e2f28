"""Dense float64 oracles for the BA tests: full normal equations from torch.func.jacrev of the residual.

The benchmark's reference solves (dense torch Cholesky and scipy sparse solve of the same normal equations, with
vokit's closed-form Jacobians) are in ``benchmarks/references.py``, beside this file's directory and outside the
library; ``tests/solvers/test_benchmark.py`` checks them against the BA layer.
"""

import torch
from torch import Tensor

from vokit.geometry.lie import quat_normalize, se3_compose, se3_exp
from vokit.solvers.jacobians import reproject_patch, reproject_patch_with_jacobian


def residual_fn(T0, d0, uv, intr, targets, src, dst, patch, free):
    """r(xi_free, dd) = targets - pi(...) for one problem, with left perturbations of the free poses."""
    n = T0.shape[0]

    def f(xi_free: Tensor, dd: Tensor) -> Tensor:
        xi = torch.zeros(n, 6, dtype=T0.dtype).index_copy(0, torch.nonzero(free).squeeze(-1), xi_free)
        T = se3_compose(se3_exp(xi), T0)
        d = d0 + dd
        return targets - reproject_patch(T[src], T[dst], uv[patch], d[patch], intr)

    return f


def dense_step(T0, d0, uv, intr, targets, weights, src, dst, patch, free, eps=0.0, lam=0.0, mode="full"):
    """Solve the full damped normal equations densely (eps on the pose diagonal, lam on the depth diagonal).

    Edges with Z <= 0.2 are dropped (validity); the caller makes sure no other gate is active.
    Returns (T_new, d_new, xi_free, dd).
    """
    nf, p = int(free.sum()), d0.shape[0]
    f = residual_fn(T0, d0, uv, intr, targets, src, dst, patch, free)
    xi0, dd0 = torch.zeros(nf, 6, dtype=T0.dtype), torch.zeros(p, dtype=T0.dtype)
    r = f(xi0, dd0).reshape(-1)
    J_xi, J_d = torch.func.jacrev(f, argnums=(0, 1))(xi0, dd0)
    J = -torch.cat([J_xi.reshape(r.shape[0], 6 * nf), J_d.reshape(r.shape[0], p)], dim=1)
    valid = reproject_patch_with_jacobian(T0[src], T0[dst], uv[patch], d0[patch], intr).valid
    W = (weights * valid[:, None]).reshape(-1)
    H = J.T @ (W[:, None] * J)
    g = J.T @ (W * r)
    if mode == "motion":
        H, g = H[: 6 * nf, : 6 * nf], g[: 6 * nf]
    elif mode == "structure":
        H, g = H[6 * nf :, 6 * nf :], g[6 * nf :]
    damping = torch.cat([torch.full((6 * nf,), eps), torch.full((p,), lam)]).to(H)
    if mode == "motion":
        damping = damping[: 6 * nf]
    elif mode == "structure":
        damping = damping[6 * nf :]
    x = torch.linalg.solve(H + torch.diag(damping), g)
    xi_free = x[: 6 * nf].view(nf, 6) if mode != "structure" else xi0
    dd = x[6 * nf :] if mode == "full" else (x if mode == "structure" else dd0)
    xi = torch.zeros(T0.shape[0], 6, dtype=T0.dtype).index_copy(0, torch.nonzero(free).squeeze(-1), xi_free)
    T = se3_compose(se3_exp(xi), T0)
    T = torch.cat([T[..., :3], quat_normalize(T[..., 3:])], -1)
    return T, d0 + dd, xi_free, dd
