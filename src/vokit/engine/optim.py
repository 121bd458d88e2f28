"""AdamW and per-step learning-rate schedules (constant, step decay, cosine), with linear warm-up."""

import math
from collections.abc import Iterable

import torch
from torch import nn

from vokit.engine.configs import OptimConfig


def lr_factor(step: int, config: OptimConfig, total_steps: int) -> float:
    """Multiplier of the peak learning rate at a 0-based optimisation step.

    Args:
        step: index of the step about to be taken (0 for the first).
        config: the schedule settings.
        total_steps: the run's total number of steps (milestones and the cosine period refer to it).

    Returns:
        The factor in [0, 1] applied to ``config.lr``.
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        passed = sum(1 for m in config.milestones if step >= int(round(m * total_steps)))
        return float(config.gamma**passed)
    span = max(1, total_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(params: Iterable[nn.Parameter], config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters.

    Args:
        params: the parameters to optimise (those with ``requires_grad``).
        config: learning rate, betas, epsilon and weight decay.

    Returns:
        The optimiser.
    """
    return torch.optim.AdamW(
        [p for p in params if p.requires_grad],
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler following :func:`lr_factor` (call ``scheduler.step()`` after every update)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config, total_steps))
