"""Optimiser, learning-rate schedule and gradient clipping."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with a per-step learning-rate schedule."""

    lr: float = 1e-4
    """Peak learning rate (per optimisation step); > 0."""

    weight_decay: float = 0.0
    """AdamW decoupled weight decay (0 makes it Adam, as in Monodepth2); >= 0."""

    betas: tuple[float, float] = (0.9, 0.999)
    """Adam moment decay rates, each in [0, 1)."""

    eps: float = 1e-8
    """Adam denominator epsilon; > 0."""

    schedule: Literal["constant", "step", "cosine"] = "step"
    """Learning-rate schedule after warm-up: constant, step decay at milestones, or cosine to ``min_lr_ratio``."""

    milestones: tuple[float, ...] = (0.75,)
    """Step schedule: fractions of the steps, in (0, 1], where the rate is multiplied by gamma (Monodepth2: 0.75)."""

    gamma: float = 0.1
    """Step schedule: factor applied at each milestone; in (0, 1]."""

    warmup_steps: int = 0
    """Linear warm-up from 0 to ``lr`` over this many steps; >= 0."""

    min_lr_ratio: float = 0.01
    """Cosine schedule: final rate as a fraction of ``lr``; in [0, 1]."""

    grad_clip_norm: float | None = None
    """Clip the global gradient L2 norm to this value before each update; None disables clipping."""
