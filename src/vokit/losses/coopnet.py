"""CoopNet-style co-training losses: error mixture, motion mask, hybrid loss, gradient apportionment.

This is *vokit's formulation following the paper's abstract* (METHODS.md section 8): "Rebalancing gradient to improve
self-supervised co-training of depth, odometry and optical flow predictions" (Hariat, Manzanera, Filliat; WACV 2023;
HAL hal-03964607). The reference repository mhariat/CoopNet holds no code, so the equations and defaults are vokit's.
"""

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry import warp
from vokit.losses.census import census_border_mask, census_error
from vokit.losses.monodepth2 import (
    MAX_DEPTH,
    MIN_DEPTH,
    SMOOTHNESS_WEIGHT,
    as_float32,
    disp_to_depth,
    downsample_image,
    identity_errors,
    rigid_reconstruction_errors,
    scale_of,
    upsample_to,
)
from vokit.losses.occlusion import forward_backward_occlusion
from vokit.losses.photometric import photometric_error
from vokit.losses.reprojection import min_reprojection
from vokit.losses.smoothness import flow_smoothness, inv_depth_smoothness

EM_ITERATIONS = 5
INITIAL_OUTLIER_WEIGHT = 0.1
OUTLIER_WEIGHT_RANGE = (0.01, 0.5)
MIN_LAPLACE_SCALE = 1e-4
MIN_UNIFORM_WIDTH = 1e-2  # photometric-error units; only binds when d is (nearly) constant [vokit]
CONSISTENCY_WEIGHT = 0.01
FLOW_SMOOTHNESS_WEIGHT = 0.1
FlowPhotometric = Literal["ssim_l1", "census"]


def weighted_median(values: Float[Tensor, "B N"], weights: Float[Tensor, "B N"]) -> Float[Tensor, " B"]:
    """Row-wise weighted median: the smallest value whose cumulative weight reaches half the row's total.

    This value minimises ``sum_i w_i |x_i - m|`` over m (the lower weighted median when two values tie). A row whose
    weights sum to zero falls back to the unweighted lower median.

    Args:
        values: samples per row.
        weights: non-negative weights per sample.

    Returns:
        The weighted median of each row.
    """
    if (weights < 0).any():
        raise ValueError("weighted_median: weights must be non-negative")
    empty = weights.sum(dim=1, keepdim=True) <= 0
    weights = torch.where(empty, torch.ones_like(weights), weights)
    sorted_values, order = values.sort(dim=1)
    cumulative = weights.gather(1, order).cumsum(dim=1)
    half = 0.5 * cumulative[:, -1:]
    index = torch.searchsorted(cumulative, half).clamp(max=values.shape[1] - 1)
    return sorted_values.gather(1, index)[:, 0]


@dataclass(frozen=True)
class ErrorMixture:
    """A fitted Laplace + uniform mixture of error differences per image, and the motion mask it implies.

    Attributes:
        mu: Laplace location per image (error units).
        scale: Laplace scale b per image.
        outlier_weight: the uniform component's weight ``pi_o`` per image.
        responsibility: posterior probability ``r`` of the uniform (outlier) component per pixel (0 off ``valid``).
        motion_mask: ``m = r * [d > mu]`` in [0, 1] (0 off ``valid``).
    """

    mu: Float[Tensor, " B"]
    scale: Float[Tensor, " B"]
    outlier_weight: Float[Tensor, " B"]
    responsibility: Float[Tensor, "B H W"]
    motion_mask: Float[Tensor, "B H W"]


def _outlier_responsibility(d: Tensor, mu: Tensor, scale: Tensor, pi_o: Tensor, log_uniform: Tensor) -> Tensor:
    """E-step in the log domain: ``r = pi U / ((1 - pi) Laplace + pi U)`` as a sigmoid of the log-odds."""
    log_laplace = -(d - mu[:, None]).abs() / scale[:, None] - torch.log(2 * scale[:, None])
    log_odds = torch.log(pi_o[:, None]) + log_uniform[:, None] - torch.log1p(-pi_o[:, None]) - log_laplace
    return torch.sigmoid(log_odds)


def fit_error_mixture(
    diff: Float[Tensor, "B H W"], valid: Bool[Tensor, "B H W"] | None = None, iterations: int = EM_ITERATIONS
) -> ErrorMixture:
    """Fit ``p(d) = (1 - pi_o) Laplace(d; mu, b) + pi_o U(d; d_min, d_max)`` per image by EM, without gradient.

    Initialisation: ``mu = median(d)``, ``b = MAD(d) / ln 2`` (a Laplace variable's median absolute deviation is
    ``b ln 2``), ``pi_o = 0.1``; the uniform spans the image's valid range of d, at least 0.01 wide (a vokit guard
    for nearly constant d, where a vanishing range would make every pixel an outlier). Each iteration: E-step
    responsibilities ``r``; M-step ``mu`` = the ``(1 - r)``-weighted median, ``b = sum (1 - r)|d - mu| / sum (1 - r)``
    floored at 1e-4, ``pi_o = mean(r)`` clipped to [0.01, 0.5]. A final E-step gives ``r`` for the returned
    parameters, and the motion mask is ``m = r [d > mu]`` (METHODS.md section 8.2).

    Args:
        diff: error difference ``d = e_R - e_F`` per pixel (detached internally).
        valid: pixels that take part (None: all); the others get ``r = m = 0``.
        iterations: number of EM iterations (5).

    Returns:
        :class:`ErrorMixture` with the per-image parameters, responsibilities and motion mask.
    """
    with torch.no_grad():
        d = diff.detach().flatten(1)
        w_valid = torch.ones_like(d) if valid is None else valid.flatten(1).to(d.dtype)
        n_valid = w_valid.sum(dim=1).clamp(min=1.0)
        d_min = torch.where(w_valid > 0, d, torch.full_like(d, math.inf)).min(dim=1).values
        d_max = torch.where(w_valid > 0, d, torch.full_like(d, -math.inf)).max(dim=1).values
        log_uniform = -torch.log((d_max - d_min).clamp(min=MIN_UNIFORM_WIDTH))
        mu = weighted_median(d, w_valid)
        scale = (weighted_median((d - mu[:, None]).abs(), w_valid) / math.log(2.0)).clamp(min=MIN_LAPLACE_SCALE)
        pi_o = torch.full_like(mu, INITIAL_OUTLIER_WEIGHT)
        for _ in range(iterations):
            r = _outlier_responsibility(d, mu, scale, pi_o, log_uniform) * w_valid
            inlier = (1.0 - r) * w_valid
            mu = weighted_median(d, inlier)
            spread = (inlier * (d - mu[:, None]).abs()).sum(dim=1) / inlier.sum(dim=1).clamp(min=1e-12)
            scale = spread.clamp(min=MIN_LAPLACE_SCALE)
            pi_o = (r.sum(dim=1) / n_valid).clamp(*OUTLIER_WEIGHT_RANGE)
        r = _outlier_responsibility(d, mu, scale, pi_o, log_uniform) * w_valid
        motion = r * (d > mu[:, None]).to(d.dtype)
        shape = diff.shape
        return ErrorMixture(mu, scale, pi_o, r.view(shape), motion.view(shape))


def flow_reconstruction_errors(
    target: Float[Tensor, "B 3 H W"],
    sources: Float[Tensor, "B S 3 H W"],
    flows: Float[Tensor, "B S H W 2"],
    use_ssim: bool = True,
) -> Float[Tensor, "B S H W"]:
    """``pe(I_t, I^F_{s->t})`` with ``I^F_{s->t}(u) = I_s(u + F_{t->s}(u))`` (border padding), per source.

    Args:
        target: target image, values in [0, 1].
        sources: source images, same size.
        flows: ``F_{t->s}`` per source, pixels, channels-last.
        use_ssim: SSIM + L1 (True) or L1 only.

    Returns:
        The photometric error map of each source.
    """
    errors = []
    for k in range(sources.shape[1]):
        warped, _ = warp.flow_warp(sources[:, k], flows[:, k])
        errors.append(photometric_error(target, warped, use_ssim=use_ssim))
    return torch.stack(errors, dim=1)


def census_flow_errors(
    target: Float[Tensor, "B 3 H W"], sources: Float[Tensor, "B S 3 H W"], flows: Float[Tensor, "B S H W 2"]
) -> Float[Tensor, "B S H W"]:
    """UFlow's census error (:func:`vokit.losses.census.census_error`) of each flow reconstruction of the target.

    Args:
        target: target image, values in [0, 1].
        sources: source images, same size.
        flows: ``F_{t->s}`` per source, pixels, channels-last.

    Returns:
        The census error map of each source (0 on the 3-pixel census border).
    """
    errors = []
    for k in range(sources.shape[1]):
        warped, _ = warp.flow_warp(sources[:, k], flows[:, k])
        errors.append(census_error(target, warped))
    return torch.stack(errors, dim=1)


def masked_min_flow_error(
    errors: Float[Tensor, "B S H W"], valid: Bool[Tensor, "B S H W"]
) -> tuple[Float[Tensor, ""], Bool[Tensor, "B H W"]]:
    """Mean over pixels of the per-pixel minimum over the sources where the pixel is valid (e.g. not occluded).

    Args:
        errors: photometric error of each source's flow reconstruction.
        valid: which (source, pixel) pairs count; a pixel valid in no source is left out of the mean.

    Returns:
        ``(loss, pixel_valid)``: the scalar mean, and the pixels that entered it.
    """
    masked = torch.where(valid, errors, torch.full_like(errors, math.inf))
    per_pixel = masked.min(dim=1).values
    pixel_valid = valid.any(dim=1)
    total = torch.where(pixel_valid, per_pixel, torch.zeros_like(per_pixel)).sum()
    return total / pixel_valid.sum().clamp(min=1), pixel_valid


def flow_photometric_term(
    target: Float[Tensor, "B 3 H W"],
    sources: Float[Tensor, "B S 3 H W"],
    flows: Float[Tensor, "B S H W 2"],
    ssim_l1_errors: Float[Tensor, "B S H W"],
    kind: FlowPhotometric = "ssim_l1",
    flows_backward: Float[Tensor, "B S H W 2"] | None = None,
) -> tuple[Float[Tensor, ""], Bool[Tensor, "B H W"]]:
    """The flow network's photometric loss: per-pixel minimum over sources, optionally occlusion-masked.

    ``kind="ssim_l1"`` reuses the given SSIM + L1 errors; ``"census"`` uses UFlow's census error, whose 3-pixel
    border is left out. With ``flows_backward`` (``F_{s->t}`` per source) the (source, pixel) pairs that
    :func:`vokit.losses.occlusion.forward_backward_occlusion` marks occluded are left out (the mask carries no
    gradient), and the loss is the mean over the remaining pixels.

    Args:
        target: target image, values in [0, 1].
        sources: source images.
        flows: ``F_{t->s}`` per source, pixels, channels-last.
        ssim_l1_errors: :func:`flow_reconstruction_errors` of these flows.
        kind: which photometric error.
        flows_backward: ``F_{s->t}`` per source for the occlusion mask, or None (no mask).

    Returns:
        ``(loss, pixel_valid)``: the scalar loss and the pixels that entered it.
    """
    if kind == "census":
        errors = census_flow_errors(target, sources, flows)
        height, width = errors.shape[-2:]
        border = census_border_mask(height, width, device=errors.device).bool()
        valid = border.expand(errors.shape).clone()
    elif kind == "ssim_l1":
        errors = ssim_l1_errors
        valid = torch.ones_like(errors, dtype=torch.bool)
    else:
        raise ValueError(f"unknown flow photometric error {kind!r} (ssim_l1 or census)")
    if flows_backward is not None:
        if flows_backward.shape != flows.shape:
            raise ValueError(f"flows_backward {tuple(flows_backward.shape)} do not match flows {tuple(flows.shape)}")
        occluded = forward_backward_occlusion(flows.flatten(0, 1), flows_backward.flatten(0, 1))
        valid = valid & ~occluded.view(errors.shape)
    return masked_min_flow_error(errors, valid)


@dataclass(frozen=True)
class CoopNetLoss:
    """Result of :func:`coopnet_loss` (all scalars except the maps).

    Attributes:
        total: ``lambda_R rigid + flow_photometric + lambda_c consistency + 1e-3 depth_smoothness
            + lambda_fs flow_smoothness``.
        rigid: ``mean((1 - m) e_R)`` averaged over the depth scales (the depth and pose networks' task loss).
        flow_photometric: ``mean(e_F)`` by default; with census and/or occlusion masking the mean of the chosen error's
            per-pixel minimum over the sources not occluded (:func:`flow_photometric_term`).
        consistency: ``mean((1 - m) |F_{t->s} - sg(R_{t->s})|_1)`` averaged over sources (rigid-flow-valid pixels).
        flow_task: ``flow_photometric + lambda_c consistency`` (the flow network's task loss).
        depth_smoothness: ``1/n sum_s L_sm,s / 2^s`` (section 2.3 term without the 1e-3).
        flow_smoothness: edge-aware flow smoothness (flow / width) averaged over sources.
        rigid_error: ``e_R = min_s pe(I_t, I^R_{s->t})`` at full resolution from the first scale (no auto-mask).
        flow_error: ``e_F = min_s pe(I_t, I^F_{s->t})``.
        automask: Monodepth2 auto-mask of the first scale (all True when auto-masking is off).
        mixture: the fitted error mixture; ``mixture.motion_mask`` is m.
        flow_valid: pixels that entered ``flow_photometric`` (all True by default).
    """

    total: Float[Tensor, ""]
    rigid: Float[Tensor, ""]
    flow_photometric: Float[Tensor, ""]
    consistency: Float[Tensor, ""]
    flow_task: Float[Tensor, ""]
    depth_smoothness: Float[Tensor, ""]
    flow_smoothness: Float[Tensor, ""]
    rigid_error: Float[Tensor, "B H W"]
    flow_error: Float[Tensor, "B H W"]
    automask: Bool[Tensor, "B H W"]
    mixture: ErrorMixture
    flow_valid: Bool[Tensor, "B H W"]


def rigid_flow_consistency(
    flows: Float[Tensor, "B S H W 2"],
    depth: Float[Tensor, "B H W"],
    src_from_tgt: Float[Tensor, "B S 7"],
    intrinsics: Float[Tensor, "B 4"],
    motion_mask: Float[Tensor, "B H W"],
    detach_rigid_flow: bool = True,
) -> Float[Tensor, ""]:
    """``mean((1 - m) |F_{t->s} - sg(R_{t->s})|_1)`` averaged over sources (METHODS.md section 8.3).

    The L1 norm sums the u and v components; pixels whose rigid flow is invalid (non-positive depth or behind the
    source camera) contribute 0, and the mean runs over all pixels.

    Args:
        flows: predicted ``F_{t->s}`` per source, pixels, channels-last.
        depth: target z-depth at the flows' resolution (training-scale units).
        src_from_tgt: ``cam_s_from_cam_t`` per source, SE(3) ``[t, q_xyzw]``.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the flows' resolution.
        motion_mask: m in [0, 1] (treated as a constant).
        detach_rigid_flow: stop the gradient into the rigid flow (geometry teaches flow); False makes it two-way.

    Returns:
        The scalar consistency term, in pixels.
    """
    static = 1.0 - motion_mask.detach()
    terms = []
    for k in range(flows.shape[1]):
        rigid, valid = warp.rigid_flow(depth, src_from_tgt[:, k], intrinsics)
        if detach_rigid_flow:
            rigid = rigid.detach()
        l1 = (flows[:, k] - rigid).abs().sum(dim=-1)
        terms.append((static * valid.to(l1.dtype) * l1).mean())
    return torch.stack(terms).mean()


def coopnet_loss(
    target: Float[Tensor, "B 3 H W"],
    sources: Float[Tensor, "B S 3 H W"],
    sigmoid_outs: Sequence[Tensor],
    src_from_tgt: Float[Tensor, "B S 7"],
    flows: Float[Tensor, "B S H W 2"],
    intrinsics: Float[Tensor, "B 4"],
    lambda_rigid: float = 1.0,
    consistency_weight: float = CONSISTENCY_WEIGHT,
    flow_smoothness_weight: float = FLOW_SMOOTHNESS_WEIGHT,
    smoothness_weight: float = SMOOTHNESS_WEIGHT,
    min_depth: float = MIN_DEPTH,
    max_depth: float = MAX_DEPTH,
    use_automask: bool = True,
    use_ssim: bool = True,
    detach_rigid_flow: bool = True,
    em_iterations: int = EM_ITERATIONS,
    generator: torch.Generator | None = None,
    mask_rigid: bool = True,
    flow_photometric: FlowPhotometric = "ssim_l1",
    flows_backward: Float[Tensor, "B S H W 2"] | None = None,
) -> CoopNetLoss:
    """The CoopNet hybrid loss (METHODS.md sections 8.2 and 8.3).

    Rigid errors ``e_R`` come from every depth scale upsampled to full resolution (section 2.2) with the per-pixel
    minimum over sources and, with ``use_automask``, Monodepth2 auto-masking. The mixture is fitted per image, without
    gradient, to ``d = e_R - e_F`` at full resolution, where ``e_R`` is the first scale's plain minimum-reprojection
    error (auto-masking would hide exactly the pixels the mixture must see) and ``e_F`` the flow reconstruction error.
    Half-precision network outputs (autocast) are upcast to float32.

    Args:
        target: target frame ``I_t``, RGB in [0, 1], un-augmented.
        sources: source frames, RGB in [0, 1], un-augmented.
        sigmoid_outs: depth decoder outputs ``(B, 1, H / 2^s, W / 2^s)``, scale 0 first.
        src_from_tgt: ``cam_s_from_cam_t`` per source, SE(3) ``[t, q_xyzw]``.
        flows: ``F_{t->s}`` per source at full resolution, pixels, channels-last.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the full-resolution images.
        lambda_rigid: ``lambda_R`` from :class:`GradientApportionment` (1 initially).
        consistency_weight: ``lambda_c`` (0.01, flow in pixels).
        flow_smoothness_weight: ``lambda_fs`` (0.1).
        smoothness_weight: weight of the depth smoothness (1e-3).
        min_depth: depth for sigmoid 1 (training-scale units).
        max_depth: depth for sigmoid 0 (training-scale units).
        use_automask: Monodepth2 auto-masking on ``e_R``.
        use_ssim: SSIM + L1 photometric error (else L1).
        detach_rigid_flow: one-way consistency (geometry teaches flow).
        em_iterations: EM iterations of the mixture fit (5).
        generator: random generator for the auto-masking noise.
        mask_rigid: weight the rigid term by ``1 - m`` (False: every pixel counts, as in Monodepth2; the mixture is
            still fitted and still masks the consistency term). vokit's rigid warm-up turns it off for the first
            steps.
        flow_photometric: the flow network's photometric error, ``"ssim_l1"`` (Monodepth2's ``pe``) or
            ``"census"`` (UFlow). The mixture always compares SSIM + L1 errors, so that ``d`` stays a difference
            of like errors.
        flows_backward: ``F_{s->t}`` per source (e.g. the flow network on the swapped pairs); when given, the flow
            photometric term leaves out forward-backward occluded pixels (UFlow / UnFlow).

    Returns:
        :class:`CoopNetLoss` with the total, every term, the error maps and the fitted mixture.
    """
    if flows.shape[:2] != sources.shape[:2] or flows.shape[2:4] != target.shape[-2:]:
        raise ValueError(f"flows {tuple(flows.shape)} do not match sources {tuple(sources.shape)}")
    if len(sigmoid_outs) == 0:
        raise ValueError("sigmoid_outs is empty")
    full_size = tuple(target.shape[-2:])
    sigmoid_outs = [as_float32(s) for s in sigmoid_outs]
    src_from_tgt, flows = as_float32(src_from_tgt), as_float32(flows)
    ident = identity_errors(target, sources, use_ssim) if use_automask else None
    flow_errors = flow_reconstruction_errors(target, sources, flows, use_ssim)
    flow_err = flow_errors.min(dim=1).values
    rigid_maps, depth_smooth, automask0, rigid_err0, depth0 = [], [], None, None, None
    for sigmoid_out in sigmoid_outs:
        scale = scale_of(sigmoid_out.shape[-2:], full_size)
        depth = disp_to_depth(upsample_to(sigmoid_out, full_size), min_depth, max_depth)[:, 0]
        errors = rigid_reconstruction_errors(target, sources, depth, src_from_tgt, intrinsics, use_ssim)
        reproj = min_reprojection(errors, ident, True, generator)
        rigid_maps.append(reproj.per_pixel)
        image_s = downsample_image(target, sigmoid_out.shape[-2:])
        depth_smooth.append(inv_depth_smoothness(sigmoid_out, image_s) / 2**scale)
        if depth0 is None:
            depth0, automask0, rigid_err0 = depth, reproj.automask, errors.min(dim=1).values
    assert depth0 is not None and automask0 is not None and rigid_err0 is not None
    mixture = fit_error_mixture(rigid_err0 - flow_err, iterations=em_iterations)
    static = 1.0 - mixture.motion_mask if mask_rigid else torch.ones_like(mixture.motion_mask)
    rigid = torch.stack([(static * e).mean() for e in rigid_maps]).mean()
    if flow_photometric == "ssim_l1" and flows_backward is None:
        flow_photo, flow_valid = flow_err.mean(), torch.ones_like(flow_err, dtype=torch.bool)
    else:
        if flows_backward is not None:
            flows_backward = as_float32(flows_backward)
        flow_photo, flow_valid = flow_photometric_term(
            target, sources, flows, flow_errors, flow_photometric, flows_backward
        )
    consistency = rigid_flow_consistency(
        flows, depth0, src_from_tgt, intrinsics, mixture.motion_mask, detach_rigid_flow
    )
    depth_sm = torch.stack(depth_smooth).mean()
    flow_sm = torch.stack([flow_smoothness(flows[:, k], target) for k in range(flows.shape[1])]).mean()
    flow_task = flow_photo + consistency_weight * consistency
    total = lambda_rigid * rigid + flow_task + smoothness_weight * depth_sm + flow_smoothness_weight * flow_sm
    return CoopNetLoss(
        total=total,
        rigid=rigid,
        flow_photometric=flow_photo,
        consistency=consistency,
        flow_task=flow_task,
        depth_smoothness=depth_sm,
        flow_smoothness=flow_sm,
        rigid_error=rigid_err0,
        flow_error=flow_err,
        automask=automask0,
        mixture=mixture,
        flow_valid=flow_valid,
    )


def rms_gradient(loss: Float[Tensor, ""], parameter: Tensor) -> float:
    """RMS of ``d loss / d parameter`` (``norm / sqrt(numel)``), keeping the graph for the real backward pass.

    Args:
        loss: a scalar task loss.
        parameter: the parameter to differentiate against (e.g. a network's last-layer weight).

    Returns:
        The RMS gradient (0 when the loss does not depend on the parameter).
    """
    (grad,) = torch.autograd.grad(loss, parameter, retain_graph=True, allow_unused=True)
    if grad is None:
        return 0.0
    return float(grad.norm() / math.sqrt(grad.numel()))


class GradientApportionment:
    """Adapts ``lambda_R`` so the rigid networks and the flow network get gradients of comparable size (section 8.4).

    Every ``interval`` steps the caller measures the RMS gradients ``g_D``, ``g_P`` (of the rigid task loss on the
    last layers of the depth and pose networks) and ``g_F`` (of the flow task loss on the flow network's last layer)
    and calls :meth:`update`, which appends ``rho = clip(g_F / ((g_D + g_P) / 2), 0.1 lambda_R, 10 lambda_R)`` to a
    history of the last ``history_size`` values and sets ``lambda_R`` to the history mean, bounded to
    ``[min_lambda, max_lambda]``. Non-finite measurements are ignored. This is V2V's beta mechanism (section 5.3)
    applied across networks.

    Attributes:
        lambda_rigid: the current ``lambda_R``.
        history: the retained ``rho`` values, oldest first.
        last_gradients: the last ``(g_D, g_P, g_F)`` passed to :meth:`update` (for logging).
    """

    def __init__(
        self,
        interval: int = 20,
        history_size: int = 50,
        initial: float = 1.0,
        min_lambda: float = 0.01,
        max_lambda: float = 100.0,
        ratio_clip: float = 10.0,
    ) -> None:
        """Start at ``lambda_R = initial`` with an empty history.

        Args:
            interval: K, steps between updates (20).
            history_size: number of ratios kept (50).
            initial: initial ``lambda_R`` (1).
            min_lambda: lower bound on ``lambda_R`` (0.01).
            max_lambda: upper bound on ``lambda_R`` (100).
            ratio_clip: each ratio is clipped to ``[lambda_R / ratio_clip, lambda_R * ratio_clip]`` (10).
        """
        if interval < 1 or history_size < 1 or not 0 < min_lambda <= initial <= max_lambda or ratio_clip < 1:
            raise ValueError("invalid GradientApportionment settings")
        self.interval = interval
        self.history_size = history_size
        self.min_lambda = min_lambda
        self.max_lambda = max_lambda
        self.ratio_clip = ratio_clip
        self.lambda_rigid = float(initial)
        self.history: deque[float] = deque(maxlen=history_size)
        self.last_gradients: tuple[float, float, float] | None = None

    def should_update(self, step: int) -> bool:
        """Whether ``step`` is an update step (every ``interval`` steps, from step ``interval`` on).

        Args:
            step: the 0-based training step.

        Returns:
            True when the gradients should be measured and :meth:`update` called.
        """
        return step > 0 and step % self.interval == 0

    def update(self, g_depth: float, g_pose: float, g_flow: float) -> float:
        """Record one measurement and return the new ``lambda_R``.

        Args:
            g_depth: RMS gradient of the rigid task loss on the depth network's last layer.
            g_pose: RMS gradient of the rigid task loss on the pose network's last layer.
            g_flow: RMS gradient of the flow task loss on the flow network's last layer.

        Returns:
            The updated ``lambda_R``.
        """
        self.last_gradients = (float(g_depth), float(g_pose), float(g_flow))
        if not all(math.isfinite(g) and g >= 0 for g in self.last_gradients):
            return self.lambda_rigid
        ratio = g_flow / max(0.5 * (g_depth + g_pose), 1e-12)
        low, high = self.lambda_rigid / self.ratio_clip, self.lambda_rigid * self.ratio_clip
        self.history.append(min(max(ratio, low), high))
        mean = sum(self.history) / len(self.history)
        self.lambda_rigid = min(max(mean, self.min_lambda), self.max_lambda)
        return self.lambda_rigid

    def state_dict(self) -> dict[str, object]:
        """Serialisable state (for checkpoints).

        Returns:
            ``lambda_rigid``, ``history`` and ``last_gradients``.
        """
        return {"lambda_rigid": self.lambda_rigid, "history": list(self.history), "last_gradients": self.last_gradients}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore :meth:`state_dict` output.

        Args:
            state: a dict from :meth:`state_dict`.
        """
        self.lambda_rigid = float(state["lambda_rigid"])  # type: ignore[arg-type]
        self.history = deque((float(v) for v in state["history"]), maxlen=self.history_size)  # type: ignore[attr-defined]
        last = state.get("last_gradients")
        self.last_gradients = None if last is None else tuple(float(v) for v in last)  # type: ignore[assignment,attr-defined]
