"""Shared fixtures: device and dtype from the command line, per-dtype tolerances, seeded generators.

``pytest --device cuda`` runs the device-parametrised numerical tests (Lie batch/broadcast and Jacobian checks,
the warp, Cholesky solve and loss tests) on that device; ``--dtype float64`` runs the loss tests written for the
production float32 in float64, with ``tol`` from ``TOLERANCES``. Random data is drawn from ``gen`` (a seeded CPU
generator) and then moved, so every device sees the same numbers. Tests whose oracle needs float64 fix it.
"""

import pytest
import torch

# dtype -> (rtol, atol) used by numerical comparisons across the suite.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-9, 1e-10),
    torch.float32: (1e-4, 1e-5),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="torch device for tests (default cpu)")
    parser.addoption("--dtype", default="float32", choices=["float32", "float64"], help="default test dtype")


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.config.getoption("--device"))


@pytest.fixture
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return getattr(torch, request.config.getoption("--dtype"))


@pytest.fixture
def tol(dtype: torch.dtype) -> tuple[float, float]:
    return TOLERANCES[dtype]


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)
