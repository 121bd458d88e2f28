"""Summary statistics of a set of errors, computed the way evo and the TUM tools compute them.

``rmse = sqrt(mean(e^2))``, ``sse = sum(e^2)``, ``mean``, ``median`` (the mean of the two middle values for an
even count, like ``numpy.median``), population ``std`` (``ddof = 0``, like ``numpy.std``), ``min`` and ``max``
(MichaelGrupp/evo ``evo/core/metrics.py``, ``PE.get_statistic``).
"""

import math
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.errors import VokitError


@dataclass(frozen=True)
class ErrorStats:
    """Statistics of ``count`` errors, all in the unit of the errors.

    Attributes:
        rmse: root mean square.
        mean: arithmetic mean.
        median: median (mean of the two middle values when ``count`` is even).
        std: population standard deviation (``ddof = 0``).
        min: smallest error.
        max: largest error.
        sse: sum of squares.
        count: number of errors.
    """

    rmse: float
    mean: float
    median: float
    std: float
    min: float
    max: float
    sse: float
    count: int

    def as_dict(self) -> dict[str, float]:
        """The statistics as a plain dict (JSON-ready)."""
        return {k: float(v) if k != "count" else int(v) for k, v in asdict(self).items()}


def error_stats(errors: Float[Tensor, " K"]) -> ErrorStats:
    """Statistics of a 1-D set of errors, computed in float64.

    Args:
        errors: the errors (any unit, usually non-negative); at least one.

    Returns:
        The rmse, mean, median, std, min, max, sse and count.

    Raises:
        VokitError: ``errors`` is empty or not finite.
    """
    e = errors.detach().to(torch.float64)
    if e.numel() == 0:
        raise VokitError("no errors to summarise (empty selection: no matched poses or pairs)")
    if not bool(torch.isfinite(e).all()):
        raise VokitError("errors contain NaN or infinite values")
    sq = e.square()
    n = e.numel()
    ordered = torch.sort(e).values
    if n % 2:
        median = float(ordered[n // 2])
    else:
        median = float((ordered[n // 2 - 1] + ordered[n // 2]) / 2.0)
    return ErrorStats(
        rmse=math.sqrt(float(sq.mean())),
        mean=float(e.mean()),
        median=median,
        std=float(e.std(correction=0)) if n > 1 else 0.0,
        min=float(ordered[0]),
        max=float(ordered[-1]),
        sse=float(sq.sum()),
        count=n,
    )
