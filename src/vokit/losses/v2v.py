"""Variance-reduced training of a differentiable-BA model (V2V, METHODS.md sections 5.2 and 5.3).

- :func:`flow_loss`: one update call's correspondence loss, the mean over the selected edges of the smallest
  distance, over the 3x3 patch pixels, between estimated and ground-truth reprojections; with confidences, each
  pixel error is first multiplied elementwise (x and y axes) by the edge's **detached** BA confidence (section 5.2;
  no normalisation by the weights' sum). Confidences of 1 give the plain loss of section 4.5.
- :class:`LossBalancer`: the two scalars beta (flow vs pose) and gamma (rotation vs translation) of section 5.3,
  kept in buffers so that they are checkpointed with the model.
- :func:`balanced_loss`: ``beta * flow_weight * L_flow + pose_weight * (L_tr + gamma * L_ro)``, measuring the
  gradient norms on a named parameter and updating the balancer first when asked.

The history-mean rule is the one :class:`vokit.losses.coopnet.GradientApportionment` applies across networks
(section 8.4); here it balances terms of one network, with the reference's constants (history 51, ratio clip
10, gradient-norm floor 1e-6, no bounds on the scalars).
"""

import math
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

GRAD_NORM_FLOOR = 1e-6  # [ref]
RATIO_CLIP = 10.0  # [ref]
HISTORY = 51  # [ref]: the reference keeps the last 50 ratios plus the new one


def flow_loss(
    x_est: Float[Tensor, "E 3 3 2"],
    x_gt: Float[Tensor, "E 3 3 2"],
    edges: Bool[Tensor, " E"],
    weight: Float[Tensor, "E 2"] | None = None,
) -> Float[Tensor, ""]:
    """Mean over the selected edges of ``min_p ||sg(w_e) * (x_est - x_gt)||_2`` (pixels).

    Args:
        x_est: the 3x3 patch pixels of each edge reprojected with the estimated (post-BA) poses and depths.
        x_gt: the same pixels reprojected with the ground truth.
        edges: which edges count (e.g. those spanning 1-2 frames with valid ground truth).
        weight: per-axis BA confidences of each edge, detached here; None is the unweighted loss.

    Returns:
        The loss; NaN when no edge is selected (callers check ``edges.any()``).
    """
    err = x_est - x_gt
    if weight is not None:
        err = err * weight.detach()[:, None, None, :]
    return err[edges].norm(dim=-1).flatten(1).amin(1).mean()


def gradient_norm(loss: Float[Tensor, ""], parameter: Tensor) -> float:
    """``max(||d loss / d parameter||, 1e-6)``, keeping the graph for the real backward pass (0 if unused)."""
    if not loss.requires_grad:
        return GRAD_NORM_FLOOR
    (grad,) = torch.autograd.grad(loss, parameter, retain_graph=True, allow_unused=True)
    value = 0.0 if grad is None else float(grad.norm())
    return max(value, GRAD_NORM_FLOOR) if math.isfinite(value) else value


class LossBalancer(nn.Module):
    """beta (flow vs pose) and gamma (rotation vs translation), both starting at 1 (section 5.3).

    :meth:`update` appends ``clip(g_P / g_F, beta / 10, 10 beta)`` to beta's history and
    ``clip(g_tr / g_ro, gamma / 10, 10 gamma)`` to gamma's, keeps the last ``history`` entries of each and sets
    beta and gamma to the history means. The state lives in float64 buffers (part of ``state_dict``).

    Args:
        history: number of ratios kept per scalar (51).
    """

    beta: Tensor
    gamma: Tensor
    beta_history: Tensor
    gamma_history: Tensor
    count: Tensor
    last_gradients: Tensor

    def __init__(self, history: int = HISTORY) -> None:
        super().__init__()
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.history = int(history)
        self.register_buffer("beta", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("gamma", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("beta_history", torch.zeros(history, dtype=torch.float64))
        self.register_buffer("gamma_history", torch.zeros(history, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(0, dtype=torch.long))
        self.register_buffer("last_gradients", torch.zeros(4, dtype=torch.float64))

    def update(self, g_flow: float, g_pose: float, g_tr: float, g_ro: float) -> None:
        """Record one measurement of the four gradient norms (non-finite measurements are ignored)."""
        grads = (g_flow, g_pose, g_tr, g_ro)
        if not all(math.isfinite(g) for g in grads):
            return
        g_flow, g_pose, g_tr, g_ro = (max(g, GRAD_NORM_FLOOR) for g in grads)
        beta, gamma = float(self.beta), float(self.gamma)
        n = min(int(self.count) + 1, self.history)
        with torch.no_grad():
            self.last_gradients.copy_(torch.tensor([g_flow, g_pose, g_tr, g_ro], dtype=torch.float64))
            for hist, value, ratio in ((self.beta_history, self.beta, _clip(g_pose / g_flow, beta)),
                                       (self.gamma_history, self.gamma, _clip(g_tr / g_ro, gamma))):
                hist.copy_(torch.roll(hist, -1))  # oldest first; the newest entry is the last of the n in use
                hist[-1] = ratio
                value.fill_(float(hist[-n:].mean()))
            self.count.fill_(n)

    def scalars(self) -> dict[str, Tensor]:
        """beta, gamma and the last measured gradient norms, for logging."""
        g = self.last_gradients
        return {"balance/beta": self.beta.float().clone(), "balance/gamma": self.gamma.float().clone(),
                "balance/g_flow": g[0].float().clone(), "balance/g_pose": g[1].float().clone(),
                "balance/g_tr": g[2].float().clone(), "balance/g_ro": g[3].float().clone()}


def _clip(ratio: float, current: float) -> float:
    return min(max(ratio, current / RATIO_CLIP), current * RATIO_CLIP)


@dataclass(frozen=True)
class BalancedLoss:
    """The total loss and the scalars it used.

    Attributes:
        total: ``beta * flow_weight * flow + pose_weight * (translation + gamma * rotation)``.
        beta: the flow factor used.
        gamma: the rotation factor used.
    """

    total: Float[Tensor, ""]
    beta: float
    gamma: float


def balanced_loss(
    flow: Float[Tensor, ""],
    translation: Float[Tensor, ""],
    rotation: Float[Tensor, ""],
    flow_weight: float,
    pose_weight: float,
    balancer: LossBalancer | None = None,
    parameter: Tensor | None = None,
    update: bool = False,
) -> BalancedLoss:
    """Combine the summed-over-calls flow, translation and rotation losses, balancing them (section 5.3).

    When ``update`` (every 20 steps, outside the structure-only phase), the gradient norms with respect to
    ``parameter`` of ``flow_weight * flow``, ``pose_weight * (translation + gamma * rotation)``, ``translation``
    and ``rotation`` go to :meth:`LossBalancer.update` first; the returned total uses the updated beta and gamma.
    Without a balancer beta = gamma = 1 (the plain section 4.5 total).

    Args:
        flow: sum over update calls of the flow loss.
        translation: sum over the pose-loss calls of the mean relative-translation error.
        rotation: the same for the rotation error (radians).
        flow_weight: 0.1 [ref].
        pose_weight: 10 [ref].
        balancer: the balancing state, or None.
        parameter: the parameter whose gradient norms are compared (needed when ``update``).
        update: measure the gradient norms and update the balancer.
    """
    if balancer is not None and update:
        if parameter is None:
            raise ValueError("balanced_loss: updating the balancer needs the parameter to measure gradients on")
        gamma = float(balancer.gamma)
        balancer.update(gradient_norm(flow_weight * flow, parameter),
                        gradient_norm(pose_weight * (translation + gamma * rotation), parameter),
                        gradient_norm(translation, parameter), gradient_norm(rotation, parameter))
    beta, gamma = (float(balancer.beta), float(balancer.gamma)) if balancer is not None else (1.0, 1.0)
    total = beta * flow_weight * flow + pose_weight * (translation + gamma * rotation)
    return BalancedLoss(total=total, beta=beta, gamma=gamma)


__all__ = ["BalancedLoss", "LossBalancer", "balanced_loss", "flow_loss", "gradient_norm"]
