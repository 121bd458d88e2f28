"""Bilinear sampling of images at pixel coordinates: the one place vokit calls ``grid_sample``.

Always ``align_corners=True`` with the normalisation ``u_n = 2 u / (W - 1) - 1``, ``v_n = 2 v / (H - 1) - 1``, so
that pixel centre 0 maps to -1 and W - 1 to +1 (METHODS.md section 1). `vokit.geometry.warp` (dense warping) and
`vokit.geometry.camera` (undistortion) both sample through :func:`inverse_warp`; neither imports the other for it.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

PaddingMode = Literal["zeros", "border", "reflection"]
"""What out-of-image samples read (``grid_sample``'s ``padding_mode``)."""


def pixels_to_grid(uv: Float[Tensor, "*batch 2"], height: int, width: int) -> Float[Tensor, "*batch 2"]:
    """Normalise pixel coordinates for ``grid_sample(..., align_corners=True)``: ``u_n = 2 u / (W - 1) - 1``.

    Args:
        uv: pixel coordinates (integers at pixel centres) in an image of ``height`` x ``width``.
        height: image height H.
        width: image width W.

    Returns:
        Normalised coordinates in [-1, 1] for points inside the image (a size-1 axis maps to 0).

    Example:
        >>> pixels_to_grid(torch.tensor([[0.0, 0.0], [4.0, 2.0], [2.0, 1.0]]), 3, 5)
        tensor([[-1., -1.],
                [ 1.,  1.],
                [ 0.,  0.]])
    """
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=uv.dtype, device=uv.device)
    offset = torch.tensor([-1.0 if width > 1 else 0.0, -1.0 if height > 1 else 0.0], dtype=uv.dtype, device=uv.device)
    return uv * scale + offset


def inverse_warp(
    image: Float[Tensor, "B C Hs Ws"],
    uv: Float[Tensor, "B H W 2"],
    padding_mode: PaddingMode = "border",
) -> tuple[Float[Tensor, "B C H W"], Bool[Tensor, "B H W"]]:
    """Sample ``image`` at pixel coordinates ``uv`` (bilinear ``grid_sample``, ``align_corners=True``).

    ``warped[b, :, v, u] = image[b, :, uv[b, v, u, 1], uv[b, v, u, 0]]`` with bilinear interpolation. The source
    image may have a different size from the output grid; ``uv`` is in pixels of the source image.

    Args:
        image: source image or feature map, channels first.
        uv: where to sample, in source pixels (integers at pixel centres).
        padding_mode: what out-of-image samples read: ``"border"`` (Monodepth2's choice, the default),
            ``"zeros"`` or ``"reflection"``.

    Returns:
        ``(warped, valid)``: the sampled image, and the mask of samples inside the source image
        (``0 <= u <= Ws - 1``, ``0 <= v <= Hs - 1``, finite).

    Example:
        >>> image = torch.arange(6.0).reshape(1, 1, 2, 3)
        >>> warped, valid = inverse_warp(image, torch.tensor([[[[0.5, 0.0], [2.0, 1.0], [3.5, 0.0]]]]))
        >>> warped, valid
        (tensor([[[[0.5000, 5.0000, 2.0000]]]]), tensor([[[ True,  True, False]]]))
    """
    height, width = image.shape[-2:]
    grid = pixels_to_grid(uv, height, width)
    warped = F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
    u, v = uv.unbind(-1)
    valid = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    return warped, valid
