"""Gradient signal-to-noise ratio of per-sample gradients (METHODS.md sections 5.4 and 9.6).

With S per-sample gradients ``g_s`` of one parameter and their mean ``g_bar``:
``SNR = ||g_bar|| / ((1/S) sum_s ||g_s - g_bar||)``, reported in decibels as ``20 log10 SNR`` (the V2V protocol;
its ``var_analysis.py`` plots ``10 log10``, so the convention is recorded with every result).
:func:`per_sample_gradients` collects the ``g_s`` with one backward pass per sample.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.errors import VokitError


@dataclass(frozen=True)
class GradientSnr:
    """Gradient SNR of one parameter.

    Attributes:
        snr: ``||g_bar|| / mean_s ||g_s - g_bar||`` (linear; inf when all gradients agree).
        snr_db: ``20 log10(snr)``, dB.
        db_convention: ``"20log10"``.
        mean_grad_norm: ``||g_bar||``.
        mean_deviation: ``mean_s ||g_s - g_bar||``.
        n_samples: S.
        parameter: the parameter's name (e.g. ``"delta_head.2.weight"``).
        step: checkpoint step, if known.
        loss_arm: the loss the gradients come from (e.g. ``"weighted"``), if known.
        seed: the sampling seed, if known.
    """

    snr: float
    snr_db: float
    db_convention: str
    mean_grad_norm: float
    mean_deviation: float
    n_samples: int
    parameter: str
    step: int | None
    loss_arm: str
    seed: int | None


def gradient_snr(
    per_sample_grads: Float[Tensor, " S *param"],
    parameter: str = "",
    step: int | None = None,
    loss_arm: str = "",
    seed: int | None = None,
) -> GradientSnr:
    """Signal-to-noise ratio of per-sample gradients, in dB (``20 log10``).

    Args:
        per_sample_grads: one gradient per sample (first dimension), any parameter shape; at least 2 samples.
        parameter: parameter name, recorded in the result.
        step: checkpoint step, recorded.
        loss_arm: loss arm (weighted / unweighted ...), recorded.
        seed: sampling seed, recorded.

    Returns:
        The SNR, linear and in dB, with its ingredients and the recorded context.

    Example:
        >>> round(gradient_snr(torch.tensor([[1.0, 0.0], [3.0, 0.0]])).snr_db, 4)
        6.0206
    """
    g = per_sample_grads.detach().to(torch.float64).reshape(per_sample_grads.shape[0], -1)
    if g.shape[0] < 2:
        raise VokitError(f"gradient SNR needs at least 2 per-sample gradients, got {g.shape[0]}")
    if not bool(torch.isfinite(g).all()):
        raise VokitError("per-sample gradients contain NaN or infinite values")
    g_bar = g.mean(0)
    signal = float(torch.linalg.vector_norm(g_bar))
    noise = float(torch.linalg.vector_norm(g - g_bar, dim=-1).mean())
    snr = signal / noise if noise > 0 else math.inf
    snr_db = 20.0 * math.log10(snr) if 0 < snr < math.inf else (math.inf if snr == math.inf else -math.inf)
    return GradientSnr(
        snr=snr, snr_db=snr_db, db_convention="20log10", mean_grad_norm=signal, mean_deviation=noise,
        n_samples=int(g.shape[0]), parameter=parameter, step=step, loss_arm=loss_arm, seed=seed,
    )


@dataclass(frozen=True)
class PerSampleGradients:
    """Per-sample gradients of named parameters.

    Attributes:
        grads: parameter name -> ``(S, *param)`` gradients (float64, detached).
        losses: the S per-sample loss values.
    """

    grads: dict[str, Tensor]
    losses: Float[Tensor, " S"]


def per_sample_gradients(sample_loss: Callable[[int], Tensor], parameters: Mapping[str, Tensor],
                         n_samples: int) -> PerSampleGradients:
    """Gradients of each sample's loss with respect to ``parameters``, one backward pass per sample.

    A loop rather than ``torch.func.vmap``: the losses of a differentiable-optimiser layer go through custom
    autograd functions and in-place scatters that ``vmap`` does not batch, and one sample's graph is all the memory
    a CPU can spare.

    Args:
        sample_loss: ``s -> scalar loss`` of sample s (deterministic given s).
        parameters: the parameters, by name; a parameter the loss does not reach gets zero gradients.
        n_samples: S.

    Returns:
        The stacked gradients and the loss values.
    """
    names = list(parameters)
    grads: dict[str, list[Tensor]] = {name: [] for name in names}
    losses = []
    for s in range(n_samples):
        loss = sample_loss(s)
        found = torch.autograd.grad(loss, [parameters[n] for n in names], allow_unused=True)
        for name, g in zip(names, found, strict=True):
            g = torch.zeros_like(parameters[name]) if g is None else g
            grads[name].append(g.detach().to(torch.float64))
        losses.append(float(loss.detach()))
    return PerSampleGradients({n: torch.stack(v) for n, v in grads.items()}, torch.tensor(losses, dtype=torch.float64))
