"""A compact PWC-style coarse-to-fine optical-flow network in pure torch (METHODS.md section 8.1).

Design after "PWC-Net: CNNs for Optical Flow Using Pyramid, Warping, and Cost Volume" (Sun et al., arXiv
1709.02371): a shared feature pyramid, and at each level from the coarsest down to 1/4 resolution the source features
are warped with the upsampled flow, a local cost volume is built by shifted dot products, and an estimator predicts a
flow residual; a dilated context network refines the 1/4 flow, which is bilinearly upsampled to full resolution.
Channels scale with ``width`` and the pyramid depth with ``num_levels`` so that small CPU models are possible.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from vokit.geometry import warp
from vokit.nets.resnet import IMAGE_MEAN, IMAGE_STD, scaled_channels

BASE_PYRAMID_CHANNELS: tuple[int, ...] = (16, 32, 64, 96, 128, 192)
BASE_ESTIMATOR_CHANNELS: tuple[int, ...] = (128, 96, 64, 32)
BASE_CONTEXT_CHANNELS: tuple[int, ...] = (128, 128, 128, 96, 64, 32)
CONTEXT_DILATIONS: tuple[int, ...] = (1, 2, 4, 8, 16, 1)
OUTPUT_LEVEL = 2  # flow is estimated down to stride 4 and upsampled from there
FINAL_LAYER_GAIN = 0.1  # small initial flow residuals (vokit choice)
LEAKY_SLOPE = 0.1


def local_correlation(
    feat_a: Float[Tensor, "B C H W"], feat_b: Float[Tensor, "B C H W"], radius: int
) -> Float[Tensor, "B D H W"]:
    """Local cost volume: ``cost[k](u) = <feat_a(u), feat_b(u + d_k)> / C`` for displacements ``|d| <= radius``.

    Displacements ``d_k = (dx, dy)`` are enumerated with dy outer and dx inner, both from ``-radius`` to ``radius``
    (so ``k = (dy + r)(2r + 1) + (dx + r)``); ``feat_b`` is zero outside the image. Implemented as shifted products
    of a zero-padded copy, which keeps memory at one ``B C H W`` product at a time.

    Args:
        feat_a: features of the reference image.
        feat_b: features of the other image (usually already warped by the current flow).
        radius: search radius r in pixels of this resolution; ``D = (2r + 1)^2``.

    Returns:
        The cost volume, normalised by the channel count.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    height, width = feat_a.shape[-2:]
    padded = F.pad(feat_b, (radius, radius, radius, radius))
    costs = []
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            shifted = padded[:, :, dy : dy + height, dx : dx + width]
            costs.append((feat_a * shifted).sum(dim=1))
    return torch.stack(costs, dim=1) / feat_a.shape[1]


def normalize_features(
    feat_a: Float[Tensor, "B C H W"], feat_b: Float[Tensor, "B C H W"], eps: float = 1e-6
) -> tuple[Float[Tensor, "B C H W"], Float[Tensor, "B C H W"]]:
    """Centre two feature maps by their joint mean and scale every pixel's feature vector to unit length.

    The mean is taken per batch element over channels and pixels of both maps together, as UFlow's
    ``normalize_features`` (Jonschkowski et al., "What Matters in Unsupervised Optical Flow", ECCV 2020). A dot
    product of the results is a cosine similarity in [-1, 1], so the cost volume keeps the same scale as the other
    estimator inputs however small the raw features are (with PyTorch's default init at width 0.25 they are ~3e-2
    and the raw dot product / C ~1e-4).

    Args:
        feat_a: features of the reference image.
        feat_b: features of the other image, same shape.
        eps: floor on the norm.

    Returns:
        The two normalised maps.
    """
    mean = 0.5 * (feat_a.mean(dim=(1, 2, 3), keepdim=True) + feat_b.mean(dim=(1, 2, 3), keepdim=True))
    feat_a, feat_b = feat_a - mean, feat_b - mean
    return (
        feat_a / feat_a.norm(dim=1, keepdim=True).clamp(min=eps),
        feat_b / feat_b.norm(dim=1, keepdim=True).clamp(min=eps),
    )


def resize_flow(flow: Float[Tensor, "B 2 h w"], size: Sequence[int]) -> Float[Tensor, "B 2 H W"]:
    """Bilinearly resize a channels-first flow field and rescale its u and v values to the new resolution.

    Args:
        flow: flow in pixels of its own resolution, channels ``(u, v)``.
        size: target ``(H, W)``.

    Returns:
        Flow in pixels of the target resolution.
    """
    height, width = int(size[0]), int(size[1])
    scale = flow.new_tensor([width / flow.shape[-1], height / flow.shape[-2]]).view(1, 2, 1, 1)
    return F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False) * scale


def _conv(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, act: bool = True) -> nn.Module:
    """3x3 convolution with He (MSRA) initialisation for LeakyReLU(0.1), as PWC-Net initialises its layers.

    PyTorch's default convolution init scales activations by about 1/sqrt(3) per layer, so at width 0.25 the pyramid
    features are ~3e-2 and a from-scratch flow network ignores its cost volume for hundreds of steps.
    """
    conv = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=dilation, dilation=dilation)
    nn.init.kaiming_normal_(conv.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
    assert conv.bias is not None
    nn.init.zeros_(conv.bias)
    return nn.Sequential(conv, nn.LeakyReLU(LEAKY_SLOPE, inplace=True)) if act else conv


def _flow_head(in_ch: int) -> nn.Conv2d:
    head = nn.Conv2d(in_ch, 2, 3, padding=1)
    with torch.no_grad():
        head.weight.mul_(FINAL_LAYER_GAIN)
        if head.bias is not None:
            head.bias.zero_()
    return head


class FlowEstimator(nn.Module):
    """Five 3x3 convolutions (128, 96, 64, 32 channels scaled by width, LeakyReLU 0.1, then 2) -> flow residual."""

    def __init__(self, in_channels: int, width: float) -> None:
        super().__init__()
        chans = scaled_channels(BASE_ESTIMATOR_CHANNELS, width)
        layers, prev = [], in_channels
        for ch in chans:
            layers.append(_conv(prev, ch))
            prev = ch
        self.body = nn.Sequential(*layers)
        self.head = _flow_head(prev)
        self.out_channels: int = prev

    def forward(self, x: Float[Tensor, "B Cin h w"]) -> tuple[Float[Tensor, "B 2 h w"], Float[Tensor, "B Cf h w"]]:
        """Estimate a residual.

        Args:
            x: concatenated cost volume, reference features and current flow.

        Returns:
            The flow residual (pixels at this level) and the last hidden features.
        """
        hidden = self.body(x)
        return self.head(hidden), hidden


class ContextNet(nn.Module):
    """Dilated convolutions (dilations 1, 2, 4, 8, 16, 1) refining the 1/4-resolution flow."""

    def __init__(self, in_channels: int, width: float) -> None:
        super().__init__()
        chans = scaled_channels(BASE_CONTEXT_CHANNELS, width)
        layers, prev = [], in_channels
        for ch, dil in zip(chans, CONTEXT_DILATIONS, strict=True):
            layers.append(_conv(prev, ch, dilation=dil))
            prev = ch
        self.body = nn.Sequential(*layers)
        self.head = _flow_head(prev)

    def forward(self, x: Float[Tensor, "B Cin h w"]) -> Float[Tensor, "B 2 h w"]:
        """Predict a flow correction.

        Args:
            x: estimator features concatenated with the current flow.

        Returns:
            The correction in pixels at this level.
        """
        return self.head(self.body(x))


@dataclass(frozen=True)
class FlowPrediction:
    """Output of :class:`FlowNet`.

    Attributes:
        flow: full-resolution flow ``F_{t->s}`` in pixels, channels-last ``(u, v)``: ``I_s(u + flow(u))``
            reconstructs ``I_t``.
        flow_pyramid: the per-level flows from the coarsest level to 1/4 resolution (the last entry is the refined
            1/4 flow), each ``(B, h_l, w_l, 2)`` in pixels of its own resolution.
    """

    flow: Float[Tensor, "B H W 2"]
    flow_pyramid: list[Tensor]


class FlowNet(nn.Module):
    """PWC-style flow network: ``FlowNet(target, source).flow`` is the flow ``F_{t->s}`` that warps source onto target.

    Inputs are RGB in [0, 1]; the network applies ``(x - 0.45) / 0.225`` itself [vokit].
    """

    def __init__(self, width: float = 1.0, num_levels: int = 6, radius: int = 4, normalize_cost: bool = True) -> None:
        """Build the pyramid, per-level estimators and the context network.

        Args:
            width: channel multiplier on the pyramid ``[16, 32, 64, 96, 128, 192]``, estimators and context network.
            num_levels: pyramid depth (levels at strides 2 .. 2^num_levels), between 2 and 6; flow is estimated from
                the coarsest level down to stride 4. Use fewer levels for small inputs.
            radius: cost-volume search radius in pixels of each level ((2r + 1)^2 channels).
            normalize_cost: correlate :func:`normalize_features` outputs (cosine similarities, UFlow; the default)
                instead of the raw features divided by the channel count (PWC-Net). On a supervised shift toy at
                width 0.25 the normalised cost volume reaches 0.42 px EPE in 800 steps, the raw one 1.34 px.
        """
        super().__init__()
        if not 2 <= num_levels <= len(BASE_PYRAMID_CHANNELS):
            raise ValueError(f"num_levels must be in [2, {len(BASE_PYRAMID_CHANNELS)}], got {num_levels}")
        self.num_levels = num_levels
        self.radius = radius
        self.normalize_cost = normalize_cost
        chans = scaled_channels(BASE_PYRAMID_CHANNELS[:num_levels], width)
        self.pyramid = nn.ModuleList()
        prev = 3
        for ch in chans:
            self.pyramid.append(nn.Sequential(_conv(prev, ch, stride=2), _conv(ch, ch)))
            prev = ch
        cost_ch = (2 * radius + 1) ** 2
        # estimators[k] serves pyramid level index OUTPUT_LEVEL - 1 + k (0-based: index 1 is stride 4)
        estimators = [FlowEstimator(cost_ch + chans[i] + 2, width) for i in range(OUTPUT_LEVEL - 1, num_levels)]
        self.estimators = nn.ModuleList(estimators)
        self.context = ContextNet(estimators[0].out_channels + 2, width)

    def features(self, image: Float[Tensor, "B 3 H W"]) -> list[Tensor]:
        """Feature pyramid of one image.

        Args:
            image: RGB in [0, 1].

        Returns:
            ``num_levels`` maps at strides 2, 4, ..., 2^num_levels.
        """
        x = (image - IMAGE_MEAN) / IMAGE_STD
        out = []
        for level in self.pyramid:
            x = level(x)
            out.append(x)
        return out

    def cost_volume(
        self, feat_t: Float[Tensor, "B C h w"], feat_s: Float[Tensor, "B C h w"]
    ) -> Float[Tensor, "B D h w"]:
        """The local cost volume of one level (before the LeakyReLU).

        Args:
            feat_t: target features.
            feat_s: source features warped by the current flow.

        Returns:
            ``(2r + 1)^2`` correlations: cosine similarities with ``normalize_cost``, else dot products / C.
        """
        if not self.normalize_cost:
            return local_correlation(feat_t, feat_s, self.radius)
        feat_t, feat_s = normalize_features(feat_t, feat_s)
        return local_correlation(feat_t, feat_s, self.radius) * feat_t.shape[1]

    def forward(self, target: Float[Tensor, "B 3 H W"], source: Float[Tensor, "B 3 H W"]) -> FlowPrediction:
        """Estimate the flow from the target to the source frame.

        Args:
            target: frame t, RGB in [0, 1].
            source: frame s, RGB in [0, 1].

        Returns:
            :class:`FlowPrediction` with the full-resolution ``F_{t->s}`` in pixels and the per-level flows.
        """
        feats = self.features(torch.cat([target, source], dim=0))
        batch = target.shape[0]
        flow: Tensor | None = None
        pyramid: list[Tensor] = []
        hidden = feats[0]
        for index in range(self.num_levels - 1, OUTPUT_LEVEL - 2, -1):
            feat_t, feat_s = feats[index][:batch], feats[index][batch:]
            if flow is None:
                flow = feat_t.new_zeros(batch, 2, *feat_t.shape[-2:])
                warped = feat_s
            else:
                flow = resize_flow(flow, feat_t.shape[-2:])
                warped, _ = warp.flow_warp(feat_s, rearrange(flow, "b c h w -> b h w c"), padding_mode="zeros")
            cost = F.leaky_relu(self.cost_volume(feat_t, warped), LEAKY_SLOPE)
            residual, hidden = self.estimators[index - OUTPUT_LEVEL + 1](torch.cat([cost, feat_t, flow], dim=1))
            flow = flow + residual
            if index > OUTPUT_LEVEL - 1:
                pyramid.append(rearrange(flow, "b c h w -> b h w c"))
        assert flow is not None
        flow = flow + self.context(torch.cat([hidden, flow], dim=1))
        pyramid.append(rearrange(flow, "b c h w -> b h w c"))
        full = resize_flow(flow, target.shape[-2:])
        return FlowPrediction(flow=rearrange(full, "b c h w -> b h w c"), flow_pyramid=pyramid)
