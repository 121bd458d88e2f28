"""UFlow's ternary census photometric error (robust to brightness changes) for flow reconstruction.

Reference: "What Matters in Unsupervised Optical Flow" (Jonschkowski et al., ECCV 2020), google-research ``uflow``
``uflow_utils.py`` (``census_transform``, ``soft_hamming``, ``census_loss``); the census idea is Zabih and Woodfill
(1994), the soft ternary form Meister et al. "UnFlow" (AAAI 2018).
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

CENSUS_PATCH = 7
TERNARY_EPS = 0.81  # soft sign d / sqrt(0.81 + d^2), d in grey levels of 0..255
HAMMING_THRESH = 0.1
ROBUST_EPS = 0.01
ROBUST_POWER = 0.4
_LUMA = (0.2989, 0.5870, 0.1140)  # rgb_to_grayscale weights (ITU-R 601)


def census_transform(image: Float[Tensor, "B 3 H W"], patch_size: int = CENSUS_PATCH) -> Float[Tensor, "B K H W"]:
    """Soft ternary census signature of every pixel: ``t_k(u) = d_k / sqrt(0.81 + d_k^2)``.

    ``d_k = I(u + o_k) - I(u)`` is the grey-level difference (0..255 scale, ITU-R 601 luma) between the k-th
    neighbour of a ``patch_size`` x ``patch_size`` window (row-major offsets, the centre included, where it is 0)
    and the centre pixel; neighbours outside the image read 0.

    Args:
        image: RGB in [0, 1].
        patch_size: odd window side (7).

    Returns:
        ``t`` in (-1, 1) with ``K = patch_size^2`` channels.
    """
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be odd and positive, got {patch_size}")
    luma = torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    grey = 255.0 * (image * luma).sum(dim=1, keepdim=True)
    height, width = grey.shape[-2:]
    neighbours = F.unfold(grey, patch_size, padding=patch_size // 2).view(-1, patch_size**2, height, width)
    diff = neighbours - grey
    return diff / torch.sqrt(TERNARY_EPS + diff * diff)


def soft_hamming(census_a: Float[Tensor, "B K H W"], census_b: Float[Tensor, "B K H W"]) -> Float[Tensor, "B H W"]:
    """Soft Hamming distance ``sum_k (a_k - b_k)^2 / (0.1 + (a_k - b_k)^2)`` between census signatures.

    Args:
        census_a: signatures from :func:`census_transform`.
        census_b: signatures of the same shape.

    Returns:
        The distance per pixel, in [0, K) (about 1 per disagreeing neighbour).
    """
    sq = (census_a - census_b) ** 2
    return (sq / (HAMMING_THRESH + sq)).sum(dim=1)


def census_border_mask(
    height: int, width: int, patch_size: int = CENSUS_PATCH, device: torch.device | str | None = None
) -> Float[Tensor, "H W"]:
    """1 where the whole census window lies inside the image, 0 on the ``patch_size // 2``-pixel border."""
    r = patch_size // 2
    mask = torch.zeros(height, width, device=device)
    mask[r : height - r, r : width - r] = 1.0
    return mask


def census_error(
    image_a: Float[Tensor, "B 3 H W"], image_b: Float[Tensor, "B 3 H W"], patch_size: int = CENSUS_PATCH
) -> Float[Tensor, "B H W"]:
    """UFlow's census photometric error ``(hamming + 0.01)^0.4 - 0.01^0.4`` per pixel, 0 on the census border.

    The soft Hamming distance between the two images' census signatures (:func:`soft_hamming`) goes through
    UFlow's robust penalty ``(|x| + 0.01)^0.4``, less its floor ``0.01^0.4`` (a constant, so the gradients are
    UFlow's and a perfect match scores 0); pixels within ``patch_size // 2`` of the border (whose window
    reads the zero padding) are set to 0, so callers average over :func:`census_border_mask` (and any other mask).
    Adding a constant to an image leaves the error unchanged; scaling it changes the error only where grey-level
    differences are below about one level (the soft ternary saturates).

    Args:
        image_a: first image (e.g. the target), RGB in [0, 1].
        image_b: second image (e.g. the warped source), same shape.
        patch_size: census window side (7).

    Returns:
        The per-pixel error (unitless; about ``n^0.4`` for n disagreeing neighbours).
    """
    hamming = soft_hamming(census_transform(image_a, patch_size), census_transform(image_b, patch_size))
    height, width = hamming.shape[-2:]
    border = census_border_mask(height, width, patch_size, hamming.device)
    penalty = (hamming + ROBUST_EPS) ** ROBUST_POWER - ROBUST_EPS**ROBUST_POWER
    return penalty * border.to(hamming.dtype)
