"""Private numerics for the Lie-group core: input checks, Taylor-series branches, coefficient tables.

Every trigonometric coefficient function used by ``so3``, ``se3`` and ``sim3`` (``sin(t)/t``,
``(1 - cos t)/t^2``, ...) is evaluated with an explicit branch: a truncated Taylor series in ``t^2`` below a
dtype-dependent switch and the closed form above it. Both branches are evaluated on *safe* inputs (the
unselected entries are replaced by a harmless constant) so that ``torch.where`` never propagates ``inf`` or
``NaN`` gradients from the branch it discards.

Switch points balance truncation against cancellation. The closed forms of the SO(3)/SE(3) coefficients lose
about ``c * eps`` relative accuracy, where ``c`` is the ratio of the largest term to the result (for
``(2t - 3 sin t + t cos t) / (2 t^5)``, ``c ~ 10 / t^4``; their derivatives lose about ``1 / t^2`` more). The
series (12 terms, convergent everywhere except ``cot``'s, radius ``2 pi``) lose ``~t^24 / 25!``. So these switch
late: at ``t^2 < 1`` in float64 and ``t^2 < 4`` in float32 and lower precisions (``trig_sq_threshold``).
Measured against 100-digit mpmath on both sides of the switch: relative error <= 3.3e-15 for values and
<= 2e-13 for derivatives in float64; <= 5e-7 and <= 1e-5 in float32. ``atan(x)/x`` and ``expm1(x)/x``, whose
closed forms only divide a well-conditioned value by ``x``, switch at ``x^2 < 0.04`` / ``0.25``
(``small_sq_threshold``). The Sim(3) coefficients have their own switch (``sim3.py``).
"""

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import torch
from torch import Tensor

SMALL_SQ_FLOAT64 = 0.04
SMALL_SQ_OTHER = 0.25
TRIG_SQ_FLOAT64 = 1.0
TRIG_SQ_OTHER = 4.0


def small_sq_threshold(dtype: torch.dtype) -> float:
    """Series/closed-form switch on a squared argument for ``atan(x)/x``, ``expm1(x)/x`` and Sim(3)."""
    return SMALL_SQ_FLOAT64 if dtype == torch.float64 else SMALL_SQ_OTHER


def trig_sq_threshold(dtype: torch.dtype) -> float:
    """Series/closed-form switch on a squared angle (radians^2) for the SO(3)/SE(3) coefficient functions."""
    return TRIG_SQ_FLOAT64 if dtype == torch.float64 else TRIG_SQ_OTHER


def check_last_dim(x: Tensor, size: int, func: str, what: str) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is a floating tensor whose last dimension is ``size``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected {what} as a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{func}: expected {what} with last dimension {size}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{func}: expected a floating-point {what}, got dtype {x.dtype}")


def check_matrix(x: Tensor, rows: Sequence[int], cols: int, func: str, what: str) -> None:
    """Raise a clear ``ValueError`` unless ``x`` has trailing shape ``(r, cols)`` with ``r`` in ``rows``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected {what} as a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[-2] not in rows or x.shape[-1] != cols:
        expected = " or ".join(f"({r}, {cols})" for r in rows)
        raise ValueError(f"{func}: expected {what} with trailing shape {expected}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{func}: expected a floating-point {what}, got dtype {x.dtype}")


def horner(x: Tensor, coeffs: Sequence[float]) -> Tensor:
    """Evaluate ``sum_k coeffs[k] * x**k``."""
    out = torch.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out = out * x + c
    return out


def branch(
    small: Tensor,
    x: Tensor,
    series: Callable[[Tensor], Tensor],
    direct: Callable[[Tensor], Tensor],
    safe_direct: float = 9.0,
) -> Tensor:
    """``where(small, series(x), direct(x))`` with each branch fed safe inputs (finite values and gradients)."""
    x_series = torch.where(small, x, torch.zeros_like(x))
    x_direct = torch.where(small, torch.full_like(x, safe_direct), x)
    return torch.where(small, series(x_series), direct(x_direct))


def _coeffs(terms: Callable[[int], Fraction], n: int) -> tuple[float, ...]:
    return tuple(float(terms(k)) for k in range(n))


def _fact(n: int) -> Fraction:
    return Fraction(math.factorial(n))


# Coefficients of power series in t^2 (t an angle in radians).
SINC = _coeffs(lambda k: (-1) ** k / _fact(2 * k + 1), 12)  # sin(t) / t
ONE_MINUS_COS = _coeffs(lambda k: (-1) ** k / _fact(2 * k + 2), 12)  # (1 - cos t) / t^2
T_MINUS_SIN = _coeffs(lambda k: (-1) ** k / _fact(2 * k + 3), 12)  # (t - sin t) / t^3
Q_COEFF2 = _coeffs(lambda k: (-1) ** k / _fact(2 * k + 4), 12)  # (t^2 + 2 cos t - 2) / (2 t^4)
Q_COEFF3 = _coeffs(lambda k: (-1) ** k * (k + 1) / _fact(2 * k + 5), 12)  # (2t - 3 sin t + t cos t) / (2 t^5)
HALF_COS = _coeffs(lambda k: (-1) ** k / (2 ** (2 * k) * _fact(2 * k)), 12)  # cos(t / 2)
HALF_SINC = _coeffs(lambda k: (-1) ** k / (2 ** (2 * k + 1) * _fact(2 * k + 1)), 12)  # sin(t / 2) / t
ATAN_OVER_X = _coeffs(lambda k: Fraction((-1) ** k, 2 * k + 1), 16)  # atan(x) / x, in x^2
EXPM1_OVER_X = tuple(float(1 / _fact(m + 1)) for m in range(16))  # (exp(x) - 1) / x, in x (not x^2)
_BERNOULLI = (
    Fraction(1, 6),
    Fraction(-1, 30),
    Fraction(1, 42),
    Fraction(-1, 30),
    Fraction(5, 66),
    Fraction(-691, 2730),
    Fraction(7, 6),
    Fraction(-3617, 510),
    Fraction(43867, 798),
    Fraction(-174611, 330),
    Fraction(854513, 138),
    Fraction(-236364091, 2730),
)
# (1/t^2) (1 - (t sin t) / (2 (1 - cos t))) = 1/t^2 - cot(t/2) / (2t) = -sum_n (-1)^n B_2n t^(2n-2) / (2n)!
JL_INV_COEFF = tuple(float(-((-1) ** (n + 1)) * b / _fact(2 * n + 2)) for n, b in enumerate(_BERNOULLI))


def sinc(theta_sq: Tensor) -> Tensor:
    """``sin(t) / t`` as a function of ``t^2``."""

    def direct(t2: Tensor) -> Tensor:
        t = torch.sqrt(t2)
        return torch.sin(t) / t

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, SINC), direct)


def one_minus_cos(theta_sq: Tensor) -> Tensor:
    """``(1 - cos t) / t^2`` as a function of ``t^2`` (computed as ``2 sin^2(t/2) / t^2``, no cancellation)."""

    def direct(t2: Tensor) -> Tensor:
        s = torch.sin(0.5 * torch.sqrt(t2))
        return 2.0 * s * s / t2

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, ONE_MINUS_COS), direct)


def t_minus_sin(theta_sq: Tensor) -> Tensor:
    """``(t - sin t) / t^3`` as a function of ``t^2``."""

    def direct(t2: Tensor) -> Tensor:
        t = torch.sqrt(t2)
        return (t - torch.sin(t)) / (t2 * t)

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, T_MINUS_SIN), direct)


def q_coeff2(theta_sq: Tensor) -> Tensor:
    """``(t^2 + 2 cos t - 2) / (2 t^4)`` as a function of ``t^2`` (Barfoot's Q, third term)."""

    def direct(t2: Tensor) -> Tensor:
        return (t2 + 2.0 * torch.cos(torch.sqrt(t2)) - 2.0) / (2.0 * t2 * t2)

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, Q_COEFF2), direct)


def q_coeff3(theta_sq: Tensor) -> Tensor:
    """``(2t - 3 sin t + t cos t) / (2 t^5)`` as a function of ``t^2`` (Barfoot's Q, fourth term)."""

    def direct(t2: Tensor) -> Tensor:
        t = torch.sqrt(t2)
        return (2.0 * t - 3.0 * torch.sin(t) + t * torch.cos(t)) / (2.0 * t2 * t2 * t)

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, Q_COEFF3), direct)


def half_sinc(theta_sq: Tensor) -> Tensor:
    """``sin(t/2) / t`` as a function of ``t^2``."""

    def direct(t2: Tensor) -> Tensor:
        t = torch.sqrt(t2)
        return torch.sin(0.5 * t) / t

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, HALF_SINC), direct)


def half_cos(theta_sq: Tensor) -> Tensor:
    """``cos(t/2)`` as a function of ``t^2`` (series near 0 keeps the gradient finite at ``t = 0``)."""
    return branch(
        theta_sq < trig_sq_threshold(theta_sq.dtype),
        theta_sq,
        lambda t2: horner(t2, HALF_COS),
        lambda t2: torch.cos(0.5 * torch.sqrt(t2)),
    )


def jl_inv_coeff(theta_sq: Tensor) -> Tensor:
    """``1/t^2 - cot(t/2) / (2t)``: the ``[phi]x^2`` coefficient of the inverse SO(3) left Jacobian.

    Finite on ``[0, 2 pi)``; singular at ``t = 2 pi`` where the Jacobian itself is singular.
    """

    def direct(t2: Tensor) -> Tensor:
        t = torch.sqrt(t2)
        half = 0.5 * t
        return 1.0 / t2 - torch.cos(half) / (2.0 * t * torch.sin(half))

    return branch(theta_sq < trig_sq_threshold(theta_sq.dtype), theta_sq, lambda t2: horner(t2, JL_INV_COEFF), direct)


def expm1_over(x: Tensor) -> Tensor:
    """``(exp(x) - 1) / x`` (1 at x = 0)."""
    small = x * x < small_sq_threshold(x.dtype)
    return branch(small, x, lambda s: horner(s, EXPM1_OVER_X), lambda s: torch.expm1(s) / s)
