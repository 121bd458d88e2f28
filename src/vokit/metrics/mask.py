"""Motion-mask agreement: intersection over union of thresholded soft masks (METHODS.md section 8.5)."""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

MASK_THRESHOLD = 0.5
"""A soft mask pixel counts as moving when its value exceeds this."""


def mask_iou(
    predicted: Sequence[Tensor], ground_truth: Sequence[Tensor], threshold: float = MASK_THRESHOLD
) -> dict[str, float | int | None]:
    """Intersection over union of thresholded soft masks and boolean ground truth (METHODS.md section 8.5).

    Args:
        predicted: soft masks in [0, 1], one (H, W) per image.
        ground_truth: boolean masks of the same sizes.
        threshold: a pixel is predicted positive when its value exceeds this.

    Returns:
        ``iou_pooled`` (intersections and unions summed over images; None when every union is empty),
        ``iou_image_mean`` (mean over images with a non-empty union; None when there are none),
        ``n_images`` (images with a non-empty union) and ``threshold``.
    """
    inter_total, union_total, per_image = 0, 0, []
    for pred, gt in zip(predicted, ground_truth, strict=True):
        p = pred.detach().cpu() > threshold
        g = gt.detach().cpu().to(torch.bool)
        inter, union = int((p & g).sum()), int((p | g).sum())
        inter_total += inter
        union_total += union
        if union > 0:
            per_image.append(inter / union)
    return {
        "iou_pooled": inter_total / union_total if union_total else None,
        "iou_image_mean": float(np.mean(per_image)) if per_image else None,
        "n_images": len(per_image),
        "threshold": threshold,
    }
