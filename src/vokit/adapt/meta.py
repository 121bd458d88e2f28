"""Online meta-learning: adapt on window i, be good on window i+1 (METHODS.md section 7.3).

:func:`meta_objective` is the outer loss ``L(theta', D_{i+1})`` of one inner SGD step
``theta' = theta - alpha grad L(theta, D_i)`` for any loss written as a function of a parameter dictionary.
Second order (default) keeps the graph of the inner gradient, so ``d/dtheta L(theta', D_{i+1})`` includes the
``-alpha H_i`` term; first order treats the inner gradient as a constant. The memories after ``D_i`` flow into
``D_{i+1}`` (the loss function returns them). :func:`window_pair_loss_fn` makes such a loss function of a model's
:func:`~vokit.adapt.window.window_loss` with ``torch.func.functional_call``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.adapt.window import DepthPoseNets, VOState, run_window, window_loss
from vokit.losses.monodepth2 import Monodepth2LossParams

LossFn = Callable[[Mapping[str, Tensor], Any, Any], tuple[Tensor, Any]]
"""``(params, batch, carried) -> (scalar loss, carried after the batch)``; ``carried`` is e.g. a :class:`VOState`."""


@dataclass(frozen=True)
class MetaLoss:
    """Result of :func:`meta_objective`.

    Attributes:
        outer: ``L(theta', D_{i+1})``, to minimise over theta.
        inner: ``L(theta, D_i)`` (detached).
    """

    outer: Float[Tensor, ""]
    inner: Float[Tensor, ""]


def inner_step(params: Mapping[str, Tensor], inner_loss: Tensor, inner_lr: float, second_order: bool
               ) -> dict[str, Tensor]:
    """``theta' = theta - alpha grad L(theta, D_i)`` as a new parameter dictionary.

    Args:
        params: theta (tensors that require gradients).
        inner_loss: ``L(theta, D_i)`` computed from ``params``.
        inner_lr: alpha.
        second_order: keep the graph of the gradient (else the gradient is a constant).

    Returns:
        theta' (entries the loss does not depend on are theta's own tensors).
    """
    names = [k for k, v in params.items() if v.requires_grad]
    # the graph stays (retain_graph) also at first order: the memories after D_i carry it into D_{i+1}
    grads = torch.autograd.grad(inner_loss, [params[k] for k in names], create_graph=second_order,
                                retain_graph=True, allow_unused=True)
    adapted = dict(params)
    for name, grad in zip(names, grads, strict=True):
        if grad is not None:
            adapted[name] = params[name] - inner_lr * (grad if second_order else grad.detach())
    return adapted


def meta_objective(loss_fn: LossFn, params: Mapping[str, Tensor], inner_batch: Any, outer_batch: Any,
                   inner_lr: float, second_order: bool = True, carried: Any = None) -> MetaLoss:
    """The outer loss after one inner SGD step (METHODS.md section 7.3).

    Args:
        loss_fn: the loss as a function of the parameters (see :data:`LossFn`).
        params: theta.
        inner_batch: ``D_i``.
        outer_batch: ``D_{i+1}``, the frames right after ``D_i``.
        inner_lr: alpha of the inner SGD step.
        second_order: differentiate through the inner gradient (default) or treat it as a constant.
        carried: what ``D_i`` starts from (None: zeros).

    Returns:
        :class:`MetaLoss`; ``outer.backward()`` gives the meta-gradient in ``params``' ``.grad``.
    """
    inner_loss, after_inner = loss_fn(params, inner_batch, carried)
    adapted = inner_step(params, inner_loss, inner_lr, second_order)
    outer_loss, _ = loss_fn(adapted, outer_batch, after_inner)
    return MetaLoss(outer=outer_loss, inner=inner_loss.detach())


@dataclass(frozen=True)
class Window:
    """B windows of N frames: network inputs, loss images and intrinsics (pixels of the images)."""

    net_images: Float[Tensor, "B N 3 H W"]
    images: Float[Tensor, "B N 3 H W"]
    intrinsics: Float[Tensor, "B N 4"]


class _WindowLoss(nn.Module):
    """``forward(window, state) -> (loss, state)`` of a model, so ``functional_call`` can swap its parameters."""

    def __init__(self, model: nn.Module, params: Monodepth2LossParams) -> None:
        super().__init__()
        self.model = model
        self.params = params

    def forward(self, window: Window, state: VOState | None) -> tuple[Tensor, VOState]:
        nets: DepthPoseNets = self.model  # type: ignore[assignment]
        outputs = run_window(nets, window.net_images, state)
        return window_loss(nets, outputs, window.images, window.intrinsics, self.params), outputs.state


def window_pair_loss_fn(model: nn.Module, params: Monodepth2LossParams | None = None) -> LossFn:
    """A :data:`LossFn` of the model's window loss, with its parameters replaced by the given dictionary.

    Args:
        model: depth + pose networks (:class:`~vokit.adapt.window.DepthPoseNets`); its buffers are used as they are.
        params: loss switches and weights.

    Returns:
        ``(params named as in model.named_parameters(), Window, VOState | None) -> (loss, VOState)``.
    """
    wrapper = _WindowLoss(model, Monodepth2LossParams() if params is None else params)
    buffers = {f"model.{k}": v for k, v in model.named_buffers()}

    def loss_fn(theta: Mapping[str, Tensor], window: Any, state: Any) -> tuple[Tensor, Any]:
        named = {f"model.{k}": v for k, v in theta.items()}
        loss, after = torch.func.functional_call(wrapper, {**named, **buffers}, (window, state))
        return loss, after

    return loss_fn
