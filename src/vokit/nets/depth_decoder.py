"""Monodepth2's depth decoder and a depth network (METHODS.md section 2.1).

Reference: nianticlabs/monodepth2 ``networks/depth_decoder.py`` ("Digging Into Self-Supervised Monocular Depth
Estimation", arXiv 1806.01260). Written for vokit; the decoder's channels scale with the encoder's width.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from vokit.losses.monodepth2 import disp_to_depth, sigmoid_to_inv_depth
from vokit.nets.resnet import ResNetEncoder, scaled_channels

__all__ = ["DepthDecoder", "DepthNet", "disp_to_depth", "sigmoid_to_inv_depth"]

BASE_DECODER_CHANNELS: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)


class ReflectConv3x3(nn.Module):
    """3x3 convolution after 1-pixel reflection padding."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x: Float[Tensor, "B Cin H W"]) -> Float[Tensor, "B Cout H W"]:
        """Pad by reflection and convolve.

        Args:
            x: input features.

        Returns:
            Output features of the same spatial size.
        """
        return self.conv(self.pad(x))


class ConvELU(nn.Module):
    """Reflection-padded 3x3 convolution followed by ELU (monodepth2's ``ConvBlock``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ReflectConv3x3(in_channels, out_channels)
        self.act = nn.ELU(inplace=True)

    def forward(self, x: Float[Tensor, "B Cin H W"]) -> Float[Tensor, "B Cout H W"]:
        """Convolve and apply ELU.

        Args:
            x: input features.

        Returns:
            Output features of the same spatial size.
        """
        return self.act(self.conv(x))


class DepthDecoder(nn.Module):
    """U-Net decoder producing multi-scale sigmoid outputs (inverse depth before :func:`disp_to_depth`).

    For i = 4 ... 0: ``upconv(i, 0)``, nearest x2 upsampling (to the skip feature's size), concatenation with encoder
    feature i-1 when i > 0, ``upconv(i, 1)``; at each requested scale s a head (reflection 3x3 conv -> 1 channel ->
    sigmoid) gives ``sigmoid_out`` at resolution 1/2^s of the input image.
    """

    def __init__(self, num_ch_enc: Sequence[int], width: float = 1.0, scales: Sequence[int] = (0, 1, 2, 3)) -> None:
        """Build the decoder.

        Args:
            num_ch_enc: the encoder's five channel counts (``ResNetEncoder.num_ch_enc``).
            width: multiplier on the decoder channels ``[16, 32, 64, 128, 256]``.
            scales: output scales, a subset of 0..3 (scale s is 1/2^s of the input resolution).
        """
        super().__init__()
        if len(num_ch_enc) != 5:
            raise ValueError(f"num_ch_enc must have 5 entries, got {len(num_ch_enc)}")
        if not scales or any(s not in (0, 1, 2, 3) for s in scales):
            raise ValueError(f"scales must be a non-empty subset of 0..3, got {tuple(scales)}")
        self.num_ch_enc = list(num_ch_enc)
        self.num_ch_dec = scaled_channels(BASE_DECODER_CHANNELS, width)
        self.scales = tuple(sorted(scales))
        self.upconv0 = nn.ModuleList()
        self.upconv1 = nn.ModuleList()
        for i in range(5):
            in_ch = self.num_ch_enc[4] if i == 4 else self.num_ch_dec[i + 1]
            self.upconv0.append(ConvELU(in_ch, self.num_ch_dec[i]))
            skip = self.num_ch_enc[i - 1] if i > 0 else 0
            self.upconv1.append(ConvELU(self.num_ch_dec[i] + skip, self.num_ch_dec[i]))
        self.heads = nn.ModuleDict({str(s): ReflectConv3x3(self.num_ch_dec[s], 1) for s in self.scales})

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        """Decode encoder features.

        Args:
            features: the encoder's five maps, strides 2, 4, 8, 16, 32.

        Returns:
            ``sigmoid_out`` maps in (0, 1), one per entry of ``self.scales`` in that order, each ``(B, 1, h_s, w_s)``
            with ``h_s = H / 2^s`` for an input of size ``H x W`` (multiples of 32 give exact sizes).
        """
        x = features[4]
        outputs: dict[int, Tensor] = {}
        for i in range(4, -1, -1):
            x = self.upconv0[i](x)
            if i > 0:
                x = F.interpolate(x, size=features[i - 1].shape[-2:], mode="nearest")
                x = torch.cat([x, features[i - 1]], dim=1)
            else:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.upconv1[i](x)
            if i in self.scales:
                outputs[i] = self.heads[str(i)](x).sigmoid()
        return [outputs[s] for s in self.scales]


class DepthNet(nn.Module):
    """ResNet encoder + Monodepth2 decoder: image -> multi-scale ``sigmoid_out``."""

    def __init__(self, num_layers: int = 18, width: float = 1.0, scales: Sequence[int] = (0, 1, 2, 3)) -> None:
        """Build encoder and decoder with matching widths.

        Args:
            num_layers: ResNet depth, 18 or 34.
            width: channel multiplier shared by encoder and decoder.
            scales: output scales (subset of 0..3).
        """
        super().__init__()
        self.encoder = ResNetEncoder(num_layers=num_layers, width=width, num_input_images=1)
        self.decoder = DepthDecoder(self.encoder.num_ch_enc, width=width, scales=scales)
        self.scales = self.decoder.scales

    def forward(self, image: Float[Tensor, "B 3 H W"]) -> list[Tensor]:
        """Predict multi-scale sigmoid outputs.

        Args:
            image: RGB in [0, 1].

        Returns:
            One ``(B, 1, H / 2^s, W / 2^s)`` ``sigmoid_out`` per scale in ``self.scales``; map them to depth with
            :func:`disp_to_depth`.
        """
        return self.decoder(self.encoder(image))
