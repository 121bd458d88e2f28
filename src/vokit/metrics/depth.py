"""Monocular depth metrics with the Eigen protocol (METHODS.md section 9.1).

As nianticlabs/monodepth2 ``evaluate_depth.py``: the predicted *inverse* depth is resized to the ground-truth
size (bilinear, half-pixel centres, like ``cv2.resize``), inverted, restricted to the valid pixels, multiplied by a
fixed scale, median-scaled per image for monocular models, clamped to ``[min_depth_m, max_depth_m]``, and scored
with abs_rel, sq_rel, rmse, rmse_log and the threshold accuracies a1..a3; each metric is averaged over images.

Valid pixels: with ``crop="garg"`` (raw LiDAR, Eigen split) ``min_depth_m < gt < max_depth_m`` inside the Garg
crop; with ``crop="none"`` (improved ground truth, or other datasets) simply ``gt > 0``, as Monodepth2 does.
Everything is computed in float64.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.errors import VokitError

CropMode = Literal["garg", "none"]
PredKind = Literal["inv_depth", "depth"]

GARG_CROP: tuple[float, float, float, float] = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
"""Garg crop as fractions of the ground-truth size: rows [top, bottom), columns [left, right), truncated."""

DEPTH_METRIC_NAMES: tuple[str, ...] = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")

ABS_REL_HIST_EDGES = torch.linspace(0.0, 1.0, 51, dtype=torch.float64)
"""Bin edges of the pooled per-pixel abs-rel histogram; larger errors fall into the last bin."""


@dataclass(frozen=True)
class DepthErrors:
    """The seven Eigen metrics (unit-less except ``rmse``, metres of the ground truth).

    Attributes:
        abs_rel: ``mean(|gt - pred| / gt)``.
        sq_rel: ``mean((gt - pred)^2 / gt)``.
        rmse: ``sqrt(mean((gt - pred)^2))``.
        rmse_log: ``sqrt(mean((log gt - log pred)^2))``.
        a1: fraction with ``max(gt/pred, pred/gt) < 1.25``.
        a2: the same below ``1.25^2``.
        a3: the same below ``1.25^3``.
    """

    abs_rel: float
    sq_rel: float
    rmse: float
    rmse_log: float
    a1: float
    a2: float
    a3: float

    def as_dict(self) -> dict[str, float]:
        """The metrics by name."""
        return {name: float(getattr(self, name)) for name in DEPTH_METRIC_NAMES}


@dataclass(frozen=True)
class DepthMetrics:
    """Eigen depth metrics over a set of images, with the protocol used.

    Attributes:
        mean: each metric averaged over images.
        per_image: per-image metrics, columns in `DEPTH_METRIC_NAMES` order.
        n_valid: valid pixels per image.
        scale_ratios: per-image median-scaling ratios ``median(gt) / median(pred)`` (``None`` without median
            scaling).
        ratio_median: median of ``scale_ratios`` (NaN without median scaling).
        ratio_std: ``std(scale_ratios / ratio_median)``, as Monodepth2 prints it (NaN without median scaling).
        abs_rel_hist: pooled per-pixel abs-rel counts over `ABS_REL_HIST_EDGES` (last bin open-ended).
        crop: ``"garg"`` or ``"none"``.
        min_depth_m: lower depth cap, metres.
        max_depth_m: upper depth cap, metres.
        median_scaling: whether per-image median scaling was applied.
        fixed_scale: the fixed factor applied before median scaling.
        pred_kind: ``"inv_depth"`` or ``"depth"``: what the predictions were.
    """

    mean: DepthErrors
    per_image: Float[Tensor, "B 7"]
    n_valid: Float[Tensor, " B"]
    scale_ratios: Float[Tensor, " B"] | None
    ratio_median: float
    ratio_std: float
    abs_rel_hist: Float[Tensor, " bins"]
    crop: str
    min_depth_m: float
    max_depth_m: float
    median_scaling: bool
    fixed_scale: float
    pred_kind: str


def garg_crop_mask(height: int, width: int) -> Bool[Tensor, "H W"]:
    """The Garg crop for a ground-truth image of the given size (fractions truncated to integers).

    Args:
        height: ground-truth rows.
        width: ground-truth columns.

    Returns:
        True inside rows ``[0.40810811 H, 0.99189189 H)`` and columns ``[0.03594771 W, 0.96405229 W)``.
    """
    top, bottom, left, right = (int(f * n) for f, n in zip(GARG_CROP, (height, height, width, width), strict=True))
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


def resize_like_cv2(image: Float[Tensor, "h w"], height: int, width: int) -> Float[Tensor, "H W"]:
    """Bilinear resize with half-pixel centres (``cv2.resize`` INTER_LINEAR, no antialiasing), float64.

    Args:
        image: a single-channel map, e.g. predicted inverse depth.
        height: output rows.
        width: output columns.

    Returns:
        The resized map.
    """
    x = image.detach().to(torch.float64)
    if tuple(x.shape) == (height, width):
        return x.clone()
    return F.interpolate(x[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]


def depth_errors(gt_depth: Float[Tensor, " P"], pred_depth: Float[Tensor, " P"]) -> DepthErrors:
    """The seven Eigen metrics of matched valid pixels (Monodepth2 ``compute_errors``).

    Args:
        gt_depth: ground-truth depths, > 0, metres.
        pred_depth: predicted depths (already scaled and clamped), > 0, metres.

    Returns:
        abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3.
    """
    gt = gt_depth.detach().to(torch.float64)
    pred = pred_depth.detach().to(torch.float64)
    if gt.numel() == 0:
        raise VokitError("no valid depth pixels to evaluate")
    thresh = torch.maximum(gt / pred, pred / gt)
    diff = gt - pred
    return DepthErrors(
        abs_rel=float((diff.abs() / gt).mean()),
        sq_rel=float((diff.square() / gt).mean()),
        rmse=math.sqrt(float(diff.square().mean())),
        rmse_log=math.sqrt(float((torch.log(gt) - torch.log(pred)).square().mean())),
        a1=float((thresh < 1.25).double().mean()),
        a2=float((thresh < 1.25**2).double().mean()),
        a3=float((thresh < 1.25**3).double().mean()),
    )


def _median(x: Tensor) -> float:
    """``numpy.median``: the mean of the two middle values for an even count (selection, not a full sort)."""
    a = x.detach().reshape(-1).cpu().numpy()
    n = a.size
    k = n // 2
    if n % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2.0)


def eigen_depth_metrics(
    gt_depths: Sequence[Float[Tensor, "_ _"]],
    predictions: Sequence[Float[Tensor, "_ _"]],
    pred_kind: PredKind = "inv_depth",
    crop: CropMode = "garg",
    min_depth_m: float = 1e-3,
    max_depth_m: float = 80.0,
    median_scaling: bool = True,
    fixed_scale: float = 1.0,
) -> DepthMetrics:
    """Eigen-protocol depth metrics over images of possibly different sizes.

    Args:
        gt_depths: ground-truth z-depth per image, (H_k, W_k), metres, 0 (or out of range) where invalid.
        predictions: one prediction per image at any resolution: inverse depth (``pred_kind="inv_depth"``,
            Monodepth2's resized quantity) or depth; positive.
        pred_kind: ``"inv_depth"`` or ``"depth"`` (inverted, resized as inverse depth, inverted back).
        crop: ``"garg"`` (range filter ``min < gt < max`` and the Garg crop) or ``"none"`` (``gt > 0``).
        min_depth_m: lower cap (and range filter), metres.
        max_depth_m: upper cap (and range filter), metres.
        median_scaling: per-image median scaling (monocular models).
        fixed_scale: factor applied before median scaling (5.4 for Monodepth2 stereo models without median
            scaling).

    Returns:
        Per-image and mean metrics, the scaling ratios and the protocol.

    Raises:
        VokitError: mismatched counts, non-positive predictions, or an image without valid pixels.
    """
    if len(gt_depths) != len(predictions) or len(gt_depths) == 0:
        raise VokitError(f"need one prediction per ground-truth image, got {len(predictions)} and {len(gt_depths)}")
    if crop not in ("garg", "none") or pred_kind not in ("inv_depth", "depth"):
        raise VokitError(f"unknown crop {crop!r} or prediction kind {pred_kind!r}")
    rows, ratios, counts = [], [], []
    hist = torch.zeros(ABS_REL_HIST_EDGES.numel() - 1, dtype=torch.float64)
    for k, (gt_map, pred_map) in enumerate(zip(gt_depths, predictions, strict=True)):
        gt = gt_map.detach().to(torch.float64)
        pred = pred_map.detach().to(torch.float64)
        if not bool((pred > 0).all()) or not bool(torch.isfinite(pred).all()):
            raise VokitError(f"prediction {k} has non-positive or non-finite values")
        inv = pred if pred_kind == "inv_depth" else 1.0 / pred
        depth = 1.0 / resize_like_cv2(inv, gt.shape[0], gt.shape[1])
        if crop == "garg":
            valid = (gt > min_depth_m) & (gt < max_depth_m) & garg_crop_mask(gt.shape[0], gt.shape[1])
        else:
            valid = gt > 0
        if not bool(valid.any()):
            raise VokitError(f"ground-truth image {k} has no valid pixels")
        gt_v, pred_v = gt[valid], depth[valid] * fixed_scale
        if median_scaling:
            ratio = _median(gt_v) / _median(pred_v)
            ratios.append(ratio)
            pred_v = pred_v * ratio
        pred_v = pred_v.clamp(min_depth_m, max_depth_m)
        errs = depth_errors(gt_v, pred_v)
        rows.append([getattr(errs, n) for n in DEPTH_METRIC_NAMES])
        counts.append(float(gt_v.numel()))
        abs_rel = ((gt_v - pred_v).abs() / gt_v).clamp(max=float(ABS_REL_HIST_EDGES[-1]) - 1e-12)
        hist += torch.histc(abs_rel, bins=hist.numel(), min=0.0, max=float(ABS_REL_HIST_EDGES[-1]))
    per_image = torch.tensor(rows, dtype=torch.float64)
    mean = DepthErrors(*(float(v) for v in per_image.mean(0)))
    ratio_t = torch.tensor(ratios, dtype=torch.float64) if median_scaling else None
    med = _median(ratio_t) if ratio_t is not None else float("nan")
    std = float((ratio_t / med).std(correction=0)) if ratio_t is not None else float("nan")
    return DepthMetrics(
        mean=mean, per_image=per_image, n_valid=torch.tensor(counts, dtype=torch.float64), scale_ratios=ratio_t,
        ratio_median=med, ratio_std=std, abs_rel_hist=hist, crop=crop, min_depth_m=float(min_depth_m),
        max_depth_m=float(max_depth_m), median_scaling=median_scaling, fixed_scale=float(fixed_scale),
        pred_kind=pred_kind,
    )
