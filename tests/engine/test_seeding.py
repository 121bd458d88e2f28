import random

import numpy as np
import torch

from vokit.engine.seeding import get_rng_state, seed_everything, set_rng_state


def _draw() -> tuple:
    return torch.rand(5).tolist(), np.random.rand(5).tolist(), [random.random() for _ in range(5)], np.random.randn()


def test_seed_everything_is_reproducible() -> None:
    seed_everything(123)
    a = _draw()
    seed_everything(123)
    assert _draw() == a
    seed_everything(124)
    assert _draw() != a


def test_rng_state_round_trip_through_a_weights_only_checkpoint(tmp_path) -> None:
    seed_everything(7)
    _draw()
    np.random.randn()  # leaves a cached gaussian in numpy's legacy state
    state = get_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = _draw()
    _draw()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draw() == expected
