"""Batched Cholesky solve with the reference custom backward, and Levenberg-Marquardt style damping.

The backward follows princeton-vl/DPVO ``dpvo/ba.py`` and princeton-vl/DROID-SLAM ``droid_slam/geom/chol.py``
(METHODS.md section 3.4): for ``x = H^-1 b``, ``grad_b = H^-1 grad_x`` (one more triangular solve with the saved
factor) and ``grad_H = -x grad_b^T``. A batch element whose factorisation fails (``info > 0``, or non-finite
entries) returns a zero solution and zero gradients, so training never sees a NaN from the solve; the failure
mask is returned so callers can count failures.
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor


class CholeskySolve(torch.autograd.Function):
    """``x = H^-1 b`` for symmetric positive definite ``H`` with the reference backward.

    Forward: ``torch.linalg.cholesky_ex`` (reads the lower triangle of ``H``) and ``torch.cholesky_solve``.
    Backward: ``grad_b = H^-1 grad_x`` and ``grad_H = -x grad_b^T``. Because ``H`` is built symmetrically from
    its inputs, this has the same effect as the symmetric form ``-(grad_b x^T + x grad_b^T) / 2``. With
    ``create_graph=True`` the backward solves through this Function again, so second derivatives are exact.
    Use :func:`cholesky_solve`, which returns ``(x, failed)`` with shape checks.
    """

    @staticmethod
    def forward(ctx, H: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]  # noqa: D102
        factor, info = torch.linalg.cholesky_ex(H)
        failed = (info != 0) | ~torch.isfinite(H).flatten(-2).all(-1) | ~torch.isfinite(b).flatten(-2).all(-1)
        x = torch.cholesky_solve(b, factor)
        failed = failed | ~torch.isfinite(x).flatten(-2).all(-1)
        x = torch.where(failed[..., None, None], torch.zeros_like(x), x)
        ctx.save_for_backward(H, factor, x, failed)
        ctx.mark_non_differentiable(failed)
        return x, failed

    @staticmethod
    def backward(ctx, grad_x: Tensor, grad_failed: Tensor | None) -> tuple[Tensor, Tensor]:  # type: ignore[override]  # noqa: D102
        H, factor, x, failed = ctx.saved_tensors
        if torch.is_grad_enabled():
            # double backward (create_graph=True): solve through this Function again so that grad_b stays a
            # differentiable function of H; the saved factor is a constant to autograd
            grad_b, _ = CholeskySolve.apply(H, grad_x.contiguous())
        else:
            grad_b = torch.cholesky_solve(grad_x.contiguous(), factor)
        grad_b = torch.where(failed[..., None, None], torch.zeros_like(grad_b), grad_b)
        grad_H = -x @ grad_b.transpose(-1, -2)
        return grad_H, grad_b


def cholesky_solve(
    H: Float[Tensor, "*batch n n"], b: Float[Tensor, "*batch n k"]
) -> tuple[Float[Tensor, "*batch n k"], Bool[Tensor, "*batch"]]:
    """Solve ``H x = b`` by Cholesky with the reference backward (:class:`CholeskySolve`).

    Args:
        H: symmetric positive definite matrices (only the lower triangle is read).
        b: right-hand sides.

    Returns:
        ``(x, failed)``: the solutions, exactly zero (with zero gradients) where ``failed`` is True, i.e. where
        the factorisation failed or ``H``, ``b`` or ``x`` held non-finite values.

    Example:
        >>> H = torch.tensor([[4.0, 1.0], [1.0, 3.0]])
        >>> x, failed = cholesky_solve(H, torch.tensor([[1.0], [2.0]]))
        >>> torch.allclose(H @ x, torch.tensor([[1.0], [2.0]])), bool(failed)
        (True, False)
    """
    if H.shape[-1] != H.shape[-2]:
        raise ValueError(f"cholesky_solve: H must be square, got shape {tuple(H.shape)}")
    x, failed = CholeskySolve.apply(H, b)
    return x, failed


def damp(S: Float[Tensor, "*batch n n"], eps: float, mu: float) -> Float[Tensor, "*batch n n"]:
    """Damped system ``S + eps I + mu diag(S)`` (METHODS.md section 3.3, DPVO ``block_solve``).

    Args:
        S: square matrices, e.g. the reduced camera system.
        eps: absolute diagonal damping (``train`` 10, ``infer`` 1).
        mu: relative damping on the diagonal only (1e-4).

    Returns:
        The damped matrices; differentiable in ``S``.

    Example:
        >>> damp(torch.eye(2) * 2.0, eps=1.0, mu=0.5)
        tensor([[4., 0.],
                [0., 4.]])
    """
    diag = S.diagonal(dim1=-2, dim2=-1)
    return S + torch.diag_embed(eps + mu * diag)
