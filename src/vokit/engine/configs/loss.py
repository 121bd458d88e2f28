"""Loss weights and switches (METHODS.md sections 2.3 and 8.3-8.4)."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and switches of the Monodepth2 base and the CoopNet hybrid loss."""

    smoothness_weight: float = 1e-3
    """Weight of the edge-aware inverse-depth smoothness term (divided by 2^scale per scale); >= 0."""

    num_scales: int = 4
    """Decoder scales that enter the loss (1..4; scale s has resolution 1/2^s)."""

    use_ssim: bool = True
    """Photometric error = 0.85 SSIM + 0.15 L1 (otherwise L1 only)."""

    use_min_reprojection: bool = True
    """Per-pixel minimum over source frames (otherwise their average)."""

    use_automask: bool = True
    """Monodepth2 auto-masking of pixels that the unwarped source explains better."""

    use_full_res_multiscale: bool = True
    """Compare every scale at the input resolution (otherwise each scale against a downsampled target)."""

    consistency_weight: float = 0.01
    """CoopNet lambda_c: weight of the flow-rigid consistency term, flow in pixels; >= 0."""

    flow_smoothness_weight: float = 0.1
    """CoopNet lambda_fs: weight of the edge-aware flow smoothness (flow divided by the image width); >= 0."""

    consistency_two_way: bool = False
    """Let the consistency term also push rigid flow towards flow (default: rigid flow is detached)."""

    use_apportionment: bool = True
    """Adapt lambda_R so rigid and flow networks receive comparable gradients (METHODS.md section 8.4)."""

    apportion_every: int = 20
    """Steps between gradient-apportionment updates of lambda_R; >= 1."""

    apportion_history: int = 50
    """Number of past ratios averaged into lambda_R; >= 1."""

    structure_warmup_steps: int = 1000
    """patchvo: steps at the start with poses held at the ground truth and no pose loss (structure-only warm-up,
    METHODS.md section 4.5; 1000 in the reference's 240k steps, 0 in the V2V recipe); >= 0."""

    rigid_warmup: int = 0
    """CoopNet: steps at the start during which the rigid term is Monodepth2's (no motion mask, lambda_R held at 1,
    no apportionment updates) while flow already trains; >= 0 (vokit addition, see docs/training.md)."""

    flow_photometric: Literal["ssim_l1", "census"] = "ssim_l1"
    """CoopNet: the flow network's photometric error, Monodepth2's SSIM + L1 or UFlow's census (7x7 soft ternary,
    robust to brightness changes); the motion-mask mixture always compares SSIM + L1 errors."""

    flow_occlusion_mask: bool = False
    """CoopNet: leave forward-backward occluded pixels (UnFlow/UFlow test, plus pixels leaving the frame) out of the
    flow photometric term; costs one more flow-network forward pass per step (the swapped pairs, no gradient)."""

    flow_occlusion_start: int = 0
    """CoopNet: the first step at which ``flow_occlusion_mask`` applies; >= 0. An untrained flow network's forward
    and backward flows disagree everywhere, and the test then marks almost every pixel occluded (measured: 70-100 %
    of the pixels left out over the first 1,600 steps of a CPU run), which starves the flow term."""

    weighted_flow_loss: bool = False
    """patchvo (V2V, METHODS.md section 5.2): weight the flow loss by the BA's detached per-axis confidences."""

    flow_loss_edges: Literal["near", "all"] = "near"
    """patchvo: edges of the flow loss, `near` (spanning 1-2 frames, DPVO) or `all` (self-edges included, V2V)."""

    loss_balancing: bool = False
    """patchvo (V2V, METHODS.md section 5.3): balance the flow vs pose and rotation vs translation terms by their
    gradient norms (the balancing state is saved with the model)."""

    balance_every: int = 20
    """patchvo: steps between loss-balancing updates; >= 1."""

    dro_supervision: Literal["supervised", "self-supervised"] = "supervised"
    """DRO: ground-truth inverse-depth + pose-grid L1 (needs depth and poses), or the photometric loss per iterate."""

    dro_gamma: float = 0.85
    """DRO: iterate i of n weighs gamma^(n - i - 1) in the loss; in (0, 1]."""
