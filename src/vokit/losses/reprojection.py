"""Per-pixel minimum reprojection and auto-masking (METHODS.md section 2.3).

Reference: nianticlabs/monodepth2 ``trainer.py`` (``compute_losses``); "Digging Into Self-Supervised Monocular Depth
Estimation" (arXiv 1806.01260), sections 3.3 and 3.4.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

IDENTITY_NOISE_STD = 1e-5


@dataclass(frozen=True)
class Reprojection:
    """Result of :func:`min_reprojection`.

    Attributes:
        loss: the mean of ``per_pixel`` over all pixels and the batch (a scalar).
        per_pixel: the per-pixel minimum that is optimised (identity errors included when auto-masking).
        automask: True where a warped error won, ``[min_s pe(I_t, I_s->t) < min_s pe(I_t, I_s)]``; all True
            without auto-masking.
        source_index: index of the winning warped source per pixel (among the warped errors only).
    """

    loss: Float[Tensor, ""]
    per_pixel: Float[Tensor, "B H W"]
    automask: Bool[Tensor, "B H W"]
    source_index: Int[Tensor, "B H W"]


def min_reprojection(
    warped_errors: Float[Tensor, "B S H W"],
    identity_errors: Float[Tensor, "B S H W"] | None = None,
    use_min_reprojection: bool = True,
    generator: torch.Generator | None = None,
) -> Reprojection:
    """Per-pixel minimum over sources, with optional auto-masking by the identity (unwarped) errors.

    With auto-masking the identity errors plus i.i.d. noise ``1e-5 N(0, 1)`` (which breaks ties, e.g. for static
    frames) are stacked in front of the warped errors and the minimum is taken over all maps; where an identity error
    wins the pixel contributes a constant without gradient. Without ``use_min_reprojection`` the warped errors (and
    the identity errors) are first averaged over sources, as monodepth2's ``--avg_reprojection``.

    Args:
        warped_errors: ``pe(I_t, I_{s->t})`` for each source s.
        identity_errors: ``pe(I_t, I_s)`` for each source s, or None for no auto-masking.
        use_min_reprojection: minimum over sources (True) or average (False).
        generator: random generator for the tie-breaking noise (drawn on the generator's device, then moved); None
            uses torch's global generator.

    Returns:
        :class:`Reprojection` with the scalar loss, the per-pixel minimum and the auto-mask.
    """
    if use_min_reprojection:
        warped_min, source_index = warped_errors.min(dim=1)
    else:
        warped_min = warped_errors.mean(dim=1)
        source_index = torch.zeros_like(warped_min, dtype=torch.long)
    if identity_errors is None:
        automask = torch.ones_like(warped_min, dtype=torch.bool)
        return Reprojection(warped_min.mean(), warped_min, automask, source_index)
    identity = identity_errors if use_min_reprojection else identity_errors.mean(dim=1, keepdim=True)
    noise_device = identity.device if generator is None else generator.device
    noise = torch.randn(identity.shape, generator=generator, dtype=identity.dtype, device=noise_device)
    noise = noise.to(identity.device)
    identity = identity.detach() + IDENTITY_NOISE_STD * noise
    identity_min = identity.min(dim=1).values
    per_pixel = torch.minimum(warped_min, identity_min)
    automask = warped_min < identity_min
    return Reprojection(per_pixel.mean(), per_pixel, automask, source_index)
