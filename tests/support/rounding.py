"""Comparisons that allow floating-point round-off and nothing more.

The same formula evaluated on a batch of a different shape, on a broadcast (stride-0) view, or on another CPU
may take a different SIMD path: AVX-512 or AVX2 lanes versus a scalar tail, Sleef's vectorised sin/cos/atan2
versus libm's, fused multiply-adds or not. Each path rounds correctly to within about one ulp per operation, but
not identically, so such results agree to a few ulp of their magnitude, not bitwise. Bitwise equality is only
asserted where the identical computation is repeated (determinism, caching, exact file I/O, integer data).
"""

import torch

# A few ulp: one ulp per transcendental call plus the sums and products it feeds into.
ROUNDING_ULPS = 8


def assert_equal_up_to_rounding(actual: torch.Tensor, expected: torch.Tensor, ulps: int = ROUNDING_ULPS) -> None:
    """Assert ``actual`` equals ``expected`` to ``ulps`` units of round-off of their dtype.

    The relative tolerance is ``ulps * eps``; the absolute one is ``ulps * eps * max|expected|`` over the finite
    entries, because an entry that is a difference of O(|expected|) terms (e.g. a near-zero rotation-matrix entry)
    carries round-off of that size, not of its own. Infinities and NaNs must match exactly.
    """
    eps = torch.finfo(expected.dtype).eps
    finite = expected[torch.isfinite(expected)]
    scale = float(finite.abs().max()) if finite.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=ulps * eps, atol=ulps * eps * scale, equal_nan=True)
