"""Occlusion masks for unsupervised flow from forward-backward consistency.

Reference: Meister, Hur and Roth, "UnFlow: Unsupervised Learning of Optical Flow with a Bidirectional Census Loss"
(AAAI 2018), eq. 2, as used by UFlow (Jonschkowski et al. 2020, ``uflow_utils.py``, occlusion estimation ``fb``).
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry import warp

FB_RELATIVE = 0.01
FB_ABSOLUTE = 0.5  # pixels^2


def forward_backward_occlusion(
    flow_fwd: Float[Tensor, "B H W 2"],
    flow_bwd: Float[Tensor, "B H W 2"],
    relative: float = FB_RELATIVE,
    absolute: float = FB_ABSOLUTE,
) -> Bool[Tensor, "B H W"]:
    """Pixels of the first frame that have no match in the second: inconsistent or leaving the image (no gradient).

    With ``F = flow_fwd`` (frame a to frame b) and ``B_w(u) = flow_bwd(u + F(u))`` (frame b to frame a, sampled
    bilinearly where F lands), a pixel is occluded when ``|F + B_w|^2 > relative (|F|^2 + |B_w|^2) + absolute``
    or when ``u + F(u)`` falls outside frame b (a pixel leaving the image has no match, although a smooth
    backward flow, read at the border, may agree with it).

    Args:
        flow_fwd: ``F_{a->b}`` in pixels, channels-last ``(du, dv)``.
        flow_bwd: ``F_{b->a}`` in pixels, same size.
        relative: ``alpha_1`` (0.01).
        absolute: ``alpha_2`` in pixels^2 (0.5).

    Returns:
        True where occluded (a constant mask: computed without gradient).
    """
    if flow_fwd.shape != flow_bwd.shape:
        raise ValueError(f"flow_fwd {tuple(flow_fwd.shape)} and flow_bwd {tuple(flow_bwd.shape)} differ")
    with torch.no_grad():
        bwd_warped, inside = warp.flow_warp(flow_bwd.detach().permute(0, 3, 1, 2), flow_fwd.detach())
        fwd, bwd = flow_fwd.detach(), bwd_warped.permute(0, 2, 3, 1)
        mismatch = (fwd + bwd).square().sum(dim=-1)
        bound = relative * (fwd.square().sum(dim=-1) + bwd.square().sum(dim=-1)) + absolute
        return (mismatch > bound) | ~inside
