"""Optical-flow metrics: end-point error and Fl outliers (METHODS.md section 9.4).

Per pixel, ``EPE = ||F - F_gt||_2`` in pixels; a pixel is an Fl outlier when ``EPE > 3`` px **and**
``EPE / ||F_gt|| > 0.05`` (the KITTI 2015 flow devkit; princeton-vl/RAFT ``evaluate.py``). Only valid
ground-truth pixels count.

Averaging conventions, both reported and named:

- ``epe_pooled`` / ``fl_all_pct``: pooled over the valid pixels of all images (the KITTI devkit; RAFT's KITTI
  Fl-all and its Sintel EPE);
- ``epe_image_mean`` / ``fl_image_mean_pct``: the mean of per-image means (RAFT's KITTI EPE).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.errors import VokitError

FL_ABS_THRESH_PX = 3.0
FL_REL_THRESH = 0.05


@dataclass(frozen=True)
class FlowMetrics:
    """Flow errors over a set of images.

    Attributes:
        epe_pooled: mean EPE over all valid pixels of all images, px.
        epe_image_mean: mean over images of the per-image mean EPE, px (images without valid pixels skipped).
        fl_all_pct: Fl outliers among all valid pixels, %.
        fl_image_mean_pct: mean over images of the per-image Fl outlier percentage, %.
        px1: fraction of valid pixels with EPE < 1 px (pooled).
        px3: fraction with EPE < 3 px (pooled).
        px5: fraction with EPE < 5 px (pooled).
        fl_bg_pct: pooled Fl outliers on valid background pixels (``fg_masks`` given; else NaN), %.
        fl_fg_pct: pooled Fl outliers on valid foreground pixels (``fg_masks`` given; else NaN), %.
        epe_bg: mean EPE over valid background pixels, pooled (``fg_masks`` given; else NaN), px.
        epe_fg: mean EPE over valid foreground pixels, pooled (``fg_masks`` given; else NaN), px.
        n_fg: valid foreground pixels over all images (0 without ``fg_masks``).
        per_image_epe: per-image mean EPE, px (NaN without valid pixels).
        per_image_fl_pct: per-image Fl outliers, % (NaN without valid pixels).
        n_valid: valid pixels per image.
    """

    epe_pooled: float
    epe_image_mean: float
    fl_all_pct: float
    fl_image_mean_pct: float
    px1: float
    px3: float
    px5: float
    fl_bg_pct: float
    fl_fg_pct: float
    per_image_epe: Float[Tensor, " B"]
    per_image_fl_pct: Float[Tensor, " B"]
    n_valid: Float[Tensor, " B"]
    epe_bg: float = float("nan")
    epe_fg: float = float("nan")
    n_fg: int = 0

    def as_dict(self) -> dict[str, float]:
        """Scalar metrics by name."""
        names = ("epe_pooled", "epe_image_mean", "fl_all_pct", "fl_image_mean_pct", "px1", "px3", "px5",
                 "fl_bg_pct", "fl_fg_pct", "epe_bg", "epe_fg")
        return {n: float(getattr(self, n)) for n in names}


def flow_epe(
    flow_pred: Float[Tensor, "*batch H W 2"], flow_gt: Float[Tensor, "*batch H W 2"]
) -> Float[Tensor, "*batch H W"]:
    """Per-pixel end-point error ``||F - F_gt||_2``, px.

    Args:
        flow_pred: predicted flow, destination minus source, px.
        flow_gt: ground-truth flow, px.

    Returns:
        The EPE map (float64).
    """
    return torch.linalg.vector_norm(flow_pred.detach().to(torch.float64) - flow_gt.detach().to(torch.float64), dim=-1)


def flow_outliers(
    flow_pred: Float[Tensor, "*batch H W 2"], flow_gt: Float[Tensor, "*batch H W 2"]
) -> Bool[Tensor, "*batch H W"]:
    """Fl outlier map: ``EPE > 3 px`` and ``EPE / ||F_gt|| > 0.05``.

    Args:
        flow_pred: predicted flow, px.
        flow_gt: ground-truth flow, px.

    Returns:
        True on outlier pixels (a zero ground-truth flow makes any EPE > 3 px an outlier).
    """
    epe = flow_epe(flow_pred, flow_gt)
    mag = torch.linalg.vector_norm(flow_gt.detach().to(torch.float64), dim=-1)
    # The devkit's form epe / mag > 0.05 (mag = 0 gives inf, or NaN when epe is 0 too).
    return (epe > FL_ABS_THRESH_PX) & (epe / mag > FL_REL_THRESH)


def flow_metrics(
    flow_preds: Sequence[Float[Tensor, "_ _ 2"]],
    flow_gts: Sequence[Float[Tensor, "_ _ 2"]],
    valids: Sequence[Bool[Tensor, "_ _"]] | None = None,
    fg_masks: Sequence[Bool[Tensor, "_ _"]] | None = None,
) -> FlowMetrics:
    """EPE and Fl over images (of possibly different sizes), pooled and per-image averaged.

    Args:
        flow_preds: predicted flow per image, (H_k, W_k, 2), px.
        flow_gts: ground-truth flow per image, same size as its prediction, px.
        valids: ground-truth validity per image (``None``: all valid, e.g. Sintel).
        fg_masks: foreground (moving object) masks for Fl-fg / Fl-bg (KITTI ``obj_map``); optional.

    Returns:
        Pooled and per-image-mean EPE and Fl, and the 1/3/5 px accuracies.

    Raises:
        VokitError: mismatched counts or sizes (masks included), or no valid pixel at all.
    """
    n = len(flow_gts)
    if (len(flow_preds) != n or n == 0 or (valids is not None and len(valids) != n)
            or (fg_masks is not None and len(fg_masks) != n)):
        raise VokitError(f"need one prediction (and mask) per ground-truth flow, got {len(flow_preds)} for {n}")
    epes, outs, fgs, per_epe, per_fl, counts = [], [], [], [], [], []
    for k in range(n):
        pred, gt = flow_preds[k], flow_gts[k]
        if pred.shape != gt.shape:
            raise VokitError(f"flow {k}: prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ")
        valid = torch.ones(gt.shape[:-1], dtype=torch.bool) if valids is None else valids[k].to(torch.bool)
        valid = valid & torch.isfinite(gt).all(-1)
        epe = flow_epe(pred, gt)[valid]
        out = flow_outliers(pred, gt)[valid]
        epes.append(epe)
        outs.append(out)
        if fg_masks is not None:
            if fg_masks[k].shape != gt.shape[:-1]:
                raise VokitError(f"flow {k}: foreground mask {tuple(fg_masks[k].shape)} and ground truth "
                                 f"{tuple(gt.shape[:-1])} differ in size")
            fgs.append(fg_masks[k].to(torch.bool)[valid])
        counts.append(float(epe.numel()))
        per_epe.append(float(epe.mean()) if epe.numel() else float("nan"))
        per_fl.append(100.0 * float(out.double().mean()) if out.numel() else float("nan"))
    all_epe, all_out = torch.cat(epes), torch.cat(outs)
    if all_epe.numel() == 0:
        raise VokitError("no valid ground-truth flow pixels")
    fl_bg = fl_fg = epe_bg = epe_fg = float("nan")
    n_fg = 0
    if fg_masks is not None:
        fg = torch.cat(fgs)
        n_fg = int(fg.sum())
        if bool((~fg).any()):
            fl_bg, epe_bg = 100.0 * float(all_out[~fg].double().mean()), float(all_epe[~fg].mean())
        if n_fg:
            fl_fg, epe_fg = 100.0 * float(all_out[fg].double().mean()), float(all_epe[fg].mean())
    per_epe_t = torch.tensor(per_epe, dtype=torch.float64)
    per_fl_t = torch.tensor(per_fl, dtype=torch.float64)
    has = torch.isfinite(per_epe_t)
    return FlowMetrics(
        epe_pooled=float(all_epe.mean()),
        epe_image_mean=float(per_epe_t[has].mean()),
        fl_all_pct=100.0 * float(all_out.double().mean()),
        fl_image_mean_pct=float(per_fl_t[has].mean()),
        px1=float((all_epe < 1.0).double().mean()),
        px3=float((all_epe < 3.0).double().mean()),
        px5=float((all_epe < 5.0).double().mean()),
        fl_bg_pct=fl_bg,
        fl_fg_pct=fl_fg,
        per_image_epe=per_epe_t,
        per_image_fl_pct=per_fl_t,
        n_valid=torch.tensor(counts, dtype=torch.float64),
        epe_bg=epe_bg,
        epe_fg=epe_fg,
        n_fg=n_fg,
    )
