"""Edge-aware first-order smoothness (METHODS.md sections 2.3 and 8.3).

Reference: nianticlabs/monodepth2 ``layers.py`` (``get_smooth_loss``) and ``trainer.py`` (mean normalisation of the
disparity, from "Unsupervised Learning of Depth and Ego-Motion from Monocular Video Using 3D Geometric Constraints",
Wang et al., arXiv 1712.00175).
"""

from einops import rearrange
from jaxtyping import Float
from torch import Tensor

MEAN_NORM_EPS = 1e-7


def edge_aware_smoothness(values: Float[Tensor, "B C H W"], image: Float[Tensor, "B 3 H W"]) -> Float[Tensor, ""]:
    """``mean |d_x v| exp(-mean_c |d_x I|) + mean |d_y v| exp(-mean_c |d_y I|)`` with forward differences.

    Args:
        values: the field to smooth (any channel count); the means run over all its elements.
        image: the guiding image at the same resolution, values in [0, 1].

    Returns:
        The scalar smoothness term.
    """
    if values.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"values {tuple(values.shape)} and image {tuple(image.shape)} differ in size")
    grad_v_x = (values[..., :, 1:] - values[..., :, :-1]).abs()
    grad_v_y = (values[..., 1:, :] - values[..., :-1, :]).abs()
    grad_i_x = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=1, keepdim=True)
    grad_i_y = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=1, keepdim=True)
    return (grad_v_x * (-grad_i_x).exp()).mean() + (grad_v_y * (-grad_i_y).exp()).mean()


def inv_depth_smoothness(sigmoid_out: Float[Tensor, "B 1 H W"], image: Float[Tensor, "B 3 H W"]) -> Float[Tensor, ""]:
    """Monodepth2's smoothness on the mean-normalised sigmoid output ``d / (mean(d) + 1e-7)`` (per image).

    The normalisation makes the term invariant to the scale of d (discouraging the shrinking of inverse depth).

    Args:
        sigmoid_out: one scale's decoder output (inverse-depth-like) at its own resolution.
        image: the un-augmented target image at the same resolution, values in [0, 1].

    Returns:
        The scalar smoothness term.
    """
    mean = sigmoid_out.mean(dim=(2, 3), keepdim=True)
    return edge_aware_smoothness(sigmoid_out / (mean + MEAN_NORM_EPS), image)


def flow_smoothness(flow: Float[Tensor, "B H W 2"], image: Float[Tensor, "B 3 H W"]) -> Float[Tensor, ""]:
    """First-order edge-aware smoothness of a flow field divided by the image width (METHODS.md section 8.3).

    Args:
        flow: flow in pixels, channels-last ``(u, v)``.
        image: the guiding (target) image at the flow's resolution, values in [0, 1].

    Returns:
        The scalar smoothness term (mean over both flow components).
    """
    width = flow.shape[2]
    return edge_aware_smoothness(rearrange(flow, "b h w c -> b c h w") / width, image)
