"""SSIM and the SSIM + L1 photometric error (METHODS.md section 2.3).

Reference: nianticlabs/monodepth2 ``layers.py`` (``SSIM``) and ``trainer.py`` (``compute_reprojection_loss``);
SSIM is from "Image Quality Assessment: From Error Visibility to Structural Similarity" (Wang et al., 2004).
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
SSIM_WEIGHT = 0.85


def ssim(image_a: Float[Tensor, "B C H W"], image_b: Float[Tensor, "B C H W"]) -> Float[Tensor, "B C H W"]:
    """Per-pixel, per-channel SSIM over 3x3 windows after 1-pixel reflection padding.

    Means, variances and covariance come from 3x3 average pooling, with ``C1 = 0.01^2`` and ``C2 = 0.03^2``
    (images in [0, 1]).

    Args:
        image_a: first image, values in [0, 1].
        image_b: second image, values in [0, 1].

    Returns:
        The SSIM map (1 where the two windows are identical).
    """
    a = F.pad(image_a, (1, 1, 1, 1), mode="reflect")
    b = F.pad(image_b, (1, 1, 1, 1), mode="reflect")
    # one pooling call over the five stacked moments
    pooled = F.avg_pool2d(torch.cat([a, b, a * a, b * b, a * b], dim=1), 3, stride=1)
    mu_a, mu_b, mom_aa, mom_bb, mom_ab = pooled.chunk(5, dim=1)
    var_a = mom_aa - mu_a * mu_a
    var_b = mom_bb - mu_b * mu_b
    cov_ab = mom_ab - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov_ab + SSIM_C2)
    denominator = (mu_a * mu_a + mu_b * mu_b + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return numerator / denominator


def photometric_error(
    image_a: Float[Tensor, "B C H W"], image_b: Float[Tensor, "B C H W"], use_ssim: bool = True
) -> Float[Tensor, "B H W"]:
    """Monodepth2's photometric error ``pe = 0.85 clip((1 - SSIM) / 2, 0, 1) + 0.15 |a - b|``, mean over channels.

    Args:
        image_a: first image (e.g. the target), values in [0, 1].
        image_b: second image (e.g. a reconstruction), values in [0, 1].
        use_ssim: with False the error is the plain L1 ``|a - b|`` averaged over channels (monodepth2's
            ``--no_ssim``).

    Returns:
        The per-pixel error.
    """
    l1 = (image_a - image_b).abs().mean(dim=1)
    if not use_ssim:
        return l1
    dssim = ((1.0 - ssim(image_a, image_b)) / 2.0).clamp(0.0, 1.0).mean(dim=1)
    return SSIM_WEIGHT * dssim + (1.0 - SSIM_WEIGHT) * l1
