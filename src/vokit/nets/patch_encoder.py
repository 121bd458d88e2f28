"""Patch-based VO encoders and patch extraction (METHODS.md section 4.1).

``BasicEncoder4`` is the RAFT-style residual encoder of total stride 4 used by princeton-vl/DPVO
``dpvo/extractor.py``: a 7x7 stride-2 stem, two residual blocks at ``base_channels``, two at ``2 * base_channels``
(the first with stride 2) and a 1x1 output convolution. The matching encoder (``fnet``) uses InstanceNorm and 128
output channels; the context encoder (``inet``) uses no normalisation and as many channels as the update operator's
hidden state. Both apply the reference input normalisation ``2 x - 0.5`` and divide their output by 4.

Patches are 3x3 windows of the stride-4 feature map around integer centroids drawn uniformly in
``[1, w - 1) x [1, h - 1)`` (1/4-resolution pixels, integers at pixel centres); :func:`extract_patches` samples them
bilinearly, so it also accepts sub-pixel centres.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

NormKind = Literal["instance", "none"]

FEATURE_CHANNELS = 128  # fnet output width [ref]
OUTPUT_SCALE = 0.25  # both encoders divide their output by 4.0 [ref]
PATCH_SIZE = 3  # p [ref]


def normalize_image(image: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B 3 H W"]:
    """The reference input normalisation ``2 x - 0.5`` for RGB in [0, 1] (DPVO computes ``2 * (img / 255) - 0.5``).

    Args:
        image: RGB in [0, 1].

    Returns:
        The normalised image, in [-0.5, 1.5].
    """
    return 2.0 * image - 0.5


def _norm(kind: NormKind, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'instance' or 'none', got {kind!r}")


class ResidualBlock(nn.Module):
    """3x3 conv -> norm -> ReLU -> 3x3 conv -> norm -> ReLU plus a shortcut, then ReLU of the sum.

    The shortcut is the identity at stride 1 and a strided 1x1 convolution followed by a norm at stride 2.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: NormKind, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.norm1 = _norm(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(norm, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride), _norm(norm, out_channels)
            )

    def forward(self, x: Float[Tensor, "B Cin H W"]) -> Float[Tensor, "B Cout h w"]:
        """Apply the block.

        Args:
            x: input features.

        Returns:
            Output features, at half the resolution when the block has stride 2.
        """
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(shortcut + y)


class BasicEncoder4(nn.Module):
    """RAFT-style residual encoder of total stride 4 (METHODS.md section 4.1; DPVO ``dpvo/extractor.py``).

    Args:
        out_channels: output feature width (128 for ``fnet``, the hidden size for ``inet``).
        norm: ``"instance"`` (``fnet``) or ``"none"`` (``inet``).
        base_channels: width of the stem and first stage (32 in the reference); the second stage has twice as many.
            This is the encoder's width option: 16 halves the cost of the convolutions roughly fourfold.
    """

    def __init__(self, out_channels: int, norm: NormKind = "instance", base_channels: int = 32) -> None:
        super().__init__()
        if out_channels < 1 or base_channels < 1:
            raise ValueError(f"channel counts must be positive, got {out_channels}, {base_channels}")
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(3, base_channels, 7, stride=2, padding=3)
        self.norm1 = _norm(norm, base_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(
            ResidualBlock(base_channels, base_channels, norm), ResidualBlock(base_channels, base_channels, norm)
        )
        self.layer2 = nn.Sequential(
            ResidualBlock(base_channels, 2 * base_channels, norm, stride=2),
            ResidualBlock(2 * base_channels, 2 * base_channels, norm),
        )
        self.conv2 = nn.Conv2d(2 * base_channels, out_channels, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, image: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B C h w"]:
        """Encode RGB images in [0, 1] into stride-4 features (``h = ceil(H / 4)``), divided by 4.

        Args:
            image: RGB in [0, 1], channels first; the reference normalisation is applied here.

        Returns:
            The 1/4-resolution feature map times :data:`OUTPUT_SCALE`.
        """
        x = self.relu1(self.norm1(self.conv1(normalize_image(image))))
        x = self.layer2(self.layer1(x))
        return self.conv2(x) * OUTPUT_SCALE


def feature_encoder(out_channels: int = FEATURE_CHANNELS, base_channels: int = 32) -> BasicEncoder4:
    """The matching encoder ``fnet``: InstanceNorm, 128 output channels by default.

    Args:
        out_channels: feature width C used by the correlation.
        base_channels: encoder width option (32 in the reference).

    Returns:
        A freshly initialised encoder.
    """
    return BasicEncoder4(out_channels, norm="instance", base_channels=base_channels)


def context_encoder(out_channels: int, base_channels: int = 32) -> BasicEncoder4:
    """The context encoder ``inet``: no normalisation, as many channels as the update operator's hidden state.

    Args:
        out_channels: the update operator's hidden size (384 in the reference).
        base_channels: encoder width option (32 in the reference).

    Returns:
        A freshly initialised encoder.
    """
    return BasicEncoder4(out_channels, norm="none", base_channels=base_channels)


def random_patch_centres(
    num_frames: int, patches_per_frame: int, height: int, width: int, generator: torch.Generator | None = None
) -> tuple[Int[Tensor, " P"], Float[Tensor, "P 2"]]:
    """Draw integer patch centroids uniformly in ``[1, w - 1) x [1, h - 1)`` for every frame.

    Args:
        num_frames: N frames.
        patches_per_frame: M patches per frame (80 in training, 96 / 48 at inference).
        height: h of the 1/4-resolution feature map.
        width: w of the 1/4-resolution feature map.
        generator: optional CPU generator for reproducible draws.

    Returns:
        ``frame_idx`` of each patch (frame-major, ``P = N * M``) and its centre ``uv`` in 1/4-resolution pixels,
        on the CPU (drawn there so that a seeded CPU generator reproduces them on any device).
    """
    if height < 3 or width < 3:
        raise ValueError(f"the feature map must be at least 3x3, got {height}x{width}")
    count = num_frames * patches_per_frame
    u = torch.randint(1, width - 1, (count,), generator=generator)
    v = torch.randint(1, height - 1, (count,), generator=generator)
    frame_idx = torch.arange(num_frames).repeat_interleave(patches_per_frame)
    return frame_idx, torch.stack([u, v], dim=-1).float()


def gradient_biased_patch_centres(
    image: Float[Tensor, "N 3 H W"], patches_per_frame: int, generator: torch.Generator | None = None
) -> tuple[Int[Tensor, " P"], Float[Tensor, "P 2"]]:
    """The ``gradient_bias`` selector: draw 3M candidates per frame, keep the M with the strongest image gradient.

    The score is the 4 x 4 average-pooled magnitude of forward differences of the channel-summed image at the
    candidate's 1/4-resolution pixel (DPVO ``dpvo/net.py`` ``Patchifier``, ranked per frame here).

    Args:
        image: RGB in [0, 1] at full resolution (H and W at least 12).
        patches_per_frame: M.
        generator: optional CPU generator for reproducible draws.

    Returns:
        ``frame_idx`` (frame-major) and integer centres ``uv`` in 1/4-resolution pixels, as
        :func:`random_patch_centres`, on the image's device.
    """
    gray = image.sum(dim=1)
    grad_u = gray[:, :-1, 1:] - gray[:, :-1, :-1]
    grad_v = gray[:, 1:, :-1] - gray[:, :-1, :-1]
    score = F.avg_pool2d(torch.sqrt(grad_u**2 + grad_v**2)[:, None], 4, stride=4)[:, 0]
    num_frames, height, width = score.shape
    frame_idx, candidates = random_patch_centres(num_frames, 3 * patches_per_frame, height, width, generator)
    candidates = candidates.to(image.device)
    values = score[frame_idx.to(image.device), candidates[:, 1].long(), candidates[:, 0].long()]
    best = values.view(num_frames, -1).topk(patches_per_frame, dim=1).indices
    rows = (best + 3 * patches_per_frame * torch.arange(num_frames, device=best.device)[:, None]).reshape(-1)
    return torch.arange(num_frames, device=image.device).repeat_interleave(patches_per_frame), candidates[rows]


def patch_grid(centre_uv: Float[Tensor, "*batch 2"], radius: int = PATCH_SIZE // 2) -> Float[Tensor, "*batch p p 2"]:
    """Pixel coordinates of the ``p x p`` window (``p = 2 radius + 1``) around each centre, row-major.

    Args:
        centre_uv: window centres ``(u, v)``, pixels.
        radius: half-size of the window.

    Returns:
        ``grid[..., r, c, :] = centre_uv + (c - radius, r - radius)``.
    """
    offsets = torch.arange(-radius, radius + 1, dtype=centre_uv.dtype, device=centre_uv.device)
    du = offsets.view(1, -1).expand(2 * radius + 1, -1)
    dv = offsets.view(-1, 1).expand(-1, 2 * radius + 1)
    return centre_uv[..., None, None, :] + torch.stack([du, dv], dim=-1)


def bilinear_gather(
    fmap: Float[Tensor, "N C H W"], frame_idx: Int[Tensor, " P"], uv: Float[Tensor, "P *pts 2"]
) -> Float[Tensor, "P *pts C"]:
    """Bilinearly sample ``fmap[frame_idx[p]]`` at ``uv[p, ...]`` (zero outside the image), channels last.

    Equal to ``grid_sample(..., align_corners=True, padding_mode="zeros")`` under METHODS.md section 1's pixel
    convention, but gathers from a channels-last copy so that every sample reads one contiguous C-vector and points
    of different frames need no per-frame loop.

    Args:
        fmap: per-frame feature maps.
        frame_idx: frame of each row of ``uv``.
        uv: sample positions in pixels of ``fmap``.

    Returns:
        The sampled features.
    """
    num_frames, channels, height, width = fmap.shape
    table = torch.cat([fmap.permute(0, 2, 3, 1).reshape(-1, channels), fmap.new_zeros(1, channels)])
    pts_shape = uv.shape[:-1]
    frame = frame_idx.view(-1, *([1] * (len(pts_shape) - 1)))
    corner = uv.floor()
    frac = uv - corner
    corner_int = corner.long()
    out = uv.new_zeros(*pts_shape, channels)
    for dv in (0, 1):
        for du in (0, 1):
            u = corner_int[..., 0] + du
            v = corner_int[..., 1] + dv
            inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
            flat = torch.where(inside, (frame * height + v) * width + u, num_frames * height * width)
            weight = (frac[..., 0] if du else 1 - frac[..., 0]) * (frac[..., 1] if dv else 1 - frac[..., 1])
            out = out + weight[..., None] * table[flat]
    return out


def extract_patches(
    fmap: Float[Tensor, "N C H W"], frame_idx: Int[Tensor, " P"], centre_uv: Float[Tensor, "P 2"], radius: int = 1
) -> Float[Tensor, "P C p p"]:
    """Bilinearly sample the ``p x p`` feature patch (``p = 2 radius + 1``) around each centre.

    With integer centres (the patchify draw) this is an exact copy of the window, as DPVO's ``altcorr.patchify``;
    ``radius=0`` gives the centroid feature used for ``imap``.

    Args:
        fmap: 1/4-resolution feature maps of the N frames.
        frame_idx: host frame of each patch.
        centre_uv: patch centres in 1/4-resolution pixels.
        radius: half-size of the window (1 for ``gmap``, 0 for ``imap``).

    Returns:
        Patch features, channels first, rows then columns.
    """
    if frame_idx.shape[0] != centre_uv.shape[0]:
        raise ValueError(f"frame_idx {tuple(frame_idx.shape)} and centre_uv {tuple(centre_uv.shape)} disagree")
    samples = bilinear_gather(fmap, frame_idx, patch_grid(centre_uv, radius))
    return samples.permute(0, 3, 1, 2)
