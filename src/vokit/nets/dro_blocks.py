"""Building blocks of the DRO networks (METHODS.md section 6.1; aliyun/dro-sfm ``networks/optim/``).

- :class:`Stride8Encoder`: ResNet-18 conv1 ... layer3 (vokit's :class:`~vokit.nets.resnet.ResNetEncoder`, layer4
  unused) with the layer3 output upsampled x2 and fused with layer2: a stride-8 feature map.
- :class:`SepConvGRU`: RAFT's separable ConvGRU (a 1x5 pass, then a 5x1 pass).
- :func:`convex_upsample`: RAFT's convex upsampling of a 1/8 map with a learned 3x3 blend per fine pixel.
- :class:`DepthInputEncoder` / :class:`PoseInputEncoder`: what the two GRUs read (cost and current estimate).

Widths are free parameters so that small models run on a CPU.
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from vokit.nets.resnet import ResNetEncoder, scaled_channels

UPSAMPLE_FACTOR = 8
"""Feature stride of every DRO map relative to the input image."""


class Stride8Encoder(nn.Module):
    """ResNet-18 trunk to 1/8 resolution (section 6.1 ``fnet`` / ``cnet``).

    ``layer3`` (1/16) is upsampled x2 bilinearly, 3x3 conv + ReLU, concatenated with ``layer2`` (1/8), then
    3x3 conv + ReLU and a final 3x3 conv to ``out_channels``.

    Args:
        out_channels: channels of the output map.
        width: ResNet channel multiplier (1.0: 128 / 256 channels at layer2 / layer3).
        num_input_images: RGB images stacked along channels (2 for the pose context net).
    """

    def __init__(self, out_channels: int, width: float = 1.0, num_input_images: int = 1) -> None:
        super().__init__()
        self.resnet = ResNetEncoder(18, width=width, num_input_images=num_input_images)
        self.resnet.layer4 = nn.Identity()  # type: ignore[assignment]  # the trunk stops at layer3
        c2, c3 = self.resnet.num_ch_enc[2], self.resnet.num_ch_enc[3]
        mid = scaled_channels([128], width)[0]
        self.up_conv = nn.Sequential(nn.Conv2d(c3, mid, 3, padding=1), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(
            nn.Conv2d(mid + c2, mid, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(mid, out_channels, 3, padding=1)
        )
        self.out_channels = out_channels

    def forward(self, images: Float[Tensor, "B C H W"]) -> Float[Tensor, "B D h w"]:
        """Encode RGB in [0, 1] (``C = 3 * num_input_images``, H and W multiples of 16) to a 1/8 map."""
        net = self.resnet
        x = (images - 0.45) / 0.225
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        f2 = net.layer2(net.layer1(x))
        f3 = net.layer3(f2)
        up = F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([self.up_conv(up), f2], dim=1))


class SepConvGRU(nn.Module):
    """Separable ConvGRU: one 1x5 pass then one 5x1 pass, each ``h <- (1 - z) h + z tanh(conv([r h, x]))``.

    Args:
        hidden: channels of the hidden state h.
        inputs: channels of the input x.
    """

    def __init__(self, hidden: int, inputs: int) -> None:
        super().__init__()
        shapes = (((1, 5), (0, 2)), ((5, 1), (2, 0)))
        self.convz, self.convr, self.convq = (
            nn.ModuleList([nn.Conv2d(hidden + inputs, hidden, k, padding=p) for k, p in shapes]) for _ in "zrq"
        )

    def forward(self, h: Float[Tensor, "B Hd h w"], x: Float[Tensor, "B Xd h w"]) -> Float[Tensor, "B Hd h w"]:
        """One GRU step (both passes) from hidden state ``h`` and input ``x``."""
        for convz, convr, convq in zip(self.convz, self.convr, self.convq, strict=True):
            hx = torch.cat([h, x], dim=1)
            z = torch.sigmoid(convz(hx))
            r = torch.sigmoid(convr(hx))
            q = torch.tanh(convq(torch.cat([r * h, x], dim=1)))
            h = (1 - z) * h + z * q
        return h


class UpsampleMask(nn.Module):
    """Mask net of convex upsampling: 3x3 conv -> 2 C + ReLU -> 1x1 -> 8 * 8 * 9 logits, times 0.25."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * channels, UPSAMPLE_FACTOR * UPSAMPLE_FACTOR * 9, 1),
        )

    def forward(self, features: Float[Tensor, "B C h w"]) -> Float[Tensor, "B 576 h w"]:
        """Blend logits for every fine pixel of every coarse cell."""
        return 0.25 * self.net(features)


def convex_upsample(
    coarse: Float[Tensor, "B 1 h w"], mask_logits: Float[Tensor, "B 576 h w"]
) -> Float[Tensor, "B 1 H W"]:
    """RAFT convex upsampling by 8: each fine pixel is a softmax-weighted mix of its cell's 3x3 coarse neighbours.

    Values are not rescaled (right for inverse depth; flow would be multiplied by 8). The border is padded by
    replication (RAFT pads flow with zeros, which would pull a border inverse depth towards zero) [vokit].

    Args:
        coarse: the 1/8 map.
        mask_logits: logits ``(9, 8, 8)`` per coarse cell, flattened to 576 channels in that order.

    Returns:
        The map at 8x the resolution, ``H = 8 h``, ``W = 8 w``.
    """
    b, _, h, w = coarse.shape
    f = UPSAMPLE_FACTOR
    weights = torch.softmax(mask_logits.view(b, 1, 9, f, f, h, w), dim=2)
    padded = F.pad(coarse, (1, 1, 1, 1), mode="replicate")
    neighbours = F.unfold(padded, kernel_size=3).view(b, 1, 9, 1, 1, h, w)
    fine = (weights * neighbours).sum(dim=2)  # B 1 f f h w
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(b, 1, f * h, f * w)


class DepthInputEncoder(nn.Module):
    """Depth-GRU input: cost -> 1x1 -> 3x3, inverse depth -> 7x7 -> 3x3, fused to ``hidden - 1`` + the depth.

    Args:
        cost_channels: channels of the feature cost.
        hidden: output channels (the GRU input's encoded part).
    """

    def __init__(self, cost_channels: int, hidden: int) -> None:
        super().__init__()
        mid = max(hidden // 2, 4)
        self.cost = nn.Sequential(nn.Conv2d(cost_channels, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.depth = nn.Sequential(nn.Conv2d(1, hidden, 7, padding=3), nn.ReLU(inplace=True),
                                   nn.Conv2d(hidden, mid, 3, padding=1), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Conv2d(hidden + mid, hidden - 1, 3, padding=1), nn.ReLU(inplace=True))

    def forward(
        self, cost: Float[Tensor, "B C h w"], depth_state: Float[Tensor, "B 1 h w"]
    ) -> Float[Tensor, "B D h w"]:
        """The encoded input (``hidden`` channels, the depth state appended last)."""
        fused = self.fuse(torch.cat([self.cost(cost), self.depth(depth_state)], dim=1))
        return torch.cat([fused, depth_state], dim=1)


class PoseInputEncoder(nn.Module):
    """Pose-GRU input: the 6-vector broadcast -> 7x7 -> 3x3, cost -> 1x1 -> 3x3, fused to ``hidden - 6`` + pose.

    Args:
        cost_channels: channels of the feature cost.
        hidden: output channels (the GRU input's encoded part); > 6.
    """

    def __init__(self, cost_channels: int, hidden: int) -> None:
        super().__init__()
        mid = max(hidden // 2, 4)
        self.pose = nn.Sequential(nn.Conv2d(6, hidden, 7, padding=3), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, mid, 3, padding=1), nn.ReLU(inplace=True))
        self.cost = nn.Sequential(nn.Conv2d(cost_channels, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Conv2d(hidden + mid, hidden - 6, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, cost: Float[Tensor, "B C h w"], pose_vec: Float[Tensor, "B 6"]) -> Float[Tensor, "B D h w"]:
        """The encoded input (``hidden`` channels, the broadcast pose appended last)."""
        pose_map = pose_vec[:, :, None, None].expand(-1, -1, *cost.shape[-2:])
        fused = self.fuse(torch.cat([self.pose(pose_map), self.cost(cost)], dim=1))
        return torch.cat([fused, pose_map], dim=1)


def head(in_channels: int, mid: int, out_channels: int) -> nn.Sequential:
    """3x3 conv + ReLU + 3x3 conv: the shape of every DRO output head."""
    return nn.Sequential(nn.Conv2d(in_channels, mid, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, out_channels, 3, padding=1))
