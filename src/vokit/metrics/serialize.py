"""Metric results as strict JSON: the one cleaner ``vokit eval`` and ``vokit run`` write ``metrics.json`` with."""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor


def json_ready(value: Any) -> Any:
    """JSON-ready copy of nested results: NaN / inf become None (strict JSON has no NaN).

    Mappings get string keys, tuples become lists, tensors and numpy scalars Python numbers.

    >>> json_ready({"a": (1.0, float("nan")), 2: float("inf")})
    {'a': [1.0, None], '2': None}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Tensor):
        return json_ready(value.tolist())
    if isinstance(value, bool):
        return value
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
