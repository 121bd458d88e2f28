"""A ResNet encoder written from scratch, with a width multiplier (METHODS.md section 2.1).

The layout follows "Deep Residual Learning for Image Recognition" (He et al., arXiv 1512.03385) as used by
nianticlabs/monodepth2 ``networks/resnet_encoder.py``: a 7x7 stride-2 stem, 3x3 max-pooling and four stages of
BasicBlocks. The encoder returns the five feature maps at strides 2, 4, 8, 16 and 32 with channels
``[64, 64, 128, 256, 512]`` times ``width``. Parameter names mirror the usual ImageNet checkpoints
(``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0`` ...) so a local ImageNet state dict can be loaded
with :meth:`ResNetEncoder.load_imagenet_state_dict` when ``width == 1``; vokit never downloads weights.
"""

from collections.abc import Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn

BASE_CHANNELS: tuple[int, int, int, int, int] = (64, 64, 128, 256, 512)
BLOCKS_PER_STAGE: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
IMAGE_MEAN = 0.45
IMAGE_STD = 0.225


def scaled_channels(channels: Sequence[int], width: float) -> list[int]:
    """Channel counts multiplied by a width factor, rounded, and at least 4 each.

    Args:
        channels: base channel counts.
        width: multiplier (e.g. 0.25, 0.5, 1.0); must be positive.

    Returns:
        The scaled channel counts.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return [max(4, int(round(c * width))) for c in channels]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Float[Tensor, "B Cin H W"]) -> Float[Tensor, "B Cout h w"]:
        """Apply the block.

        Args:
            x: input features.

        Returns:
            Output features (spatially halved when the block's stride is 2).
        """
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNetEncoder(nn.Module):
    """ResNet-18/34 feature encoder on one image or several images stacked along channels.

    The input is RGB in [0, 1]; the encoder applies ``(x - 0.45) / 0.225`` itself (monodepth2's normalisation).
    With ``num_input_images = n`` the input has ``3 n`` channels (frames stacked in temporal order), as the pose
    network needs.

    Attributes:
        num_ch_enc: channels of the five returned feature maps (strides 2, 4, 8, 16, 32).
    """

    def __init__(self, num_layers: int = 18, width: float = 1.0, num_input_images: int = 1) -> None:
        """Build the encoder (weights from scratch: Kaiming-normal convolutions, unit batch norm).

        Args:
            num_layers: 18 or 34 (BasicBlock ResNets).
            width: channel multiplier on ``[64, 64, 128, 256, 512]``.
            num_input_images: number of RGB images stacked along channels.
        """
        super().__init__()
        if num_layers not in BLOCKS_PER_STAGE:
            raise ValueError(f"num_layers must be one of {sorted(BLOCKS_PER_STAGE)}, got {num_layers}")
        if num_input_images < 1:
            raise ValueError(f"num_input_images must be >= 1, got {num_input_images}")
        self.num_layers = num_layers
        self.width = width
        self.num_input_images = num_input_images
        self.num_ch_enc = scaled_channels(BASE_CHANNELS, width)
        stem = self.num_ch_enc[0]
        self.conv1 = nn.Conv2d(3 * num_input_images, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks = BLOCKS_PER_STAGE[num_layers]
        in_ch = stem
        stages = []
        for stage, (n_blocks, out_ch) in enumerate(zip(blocks, self.num_ch_enc[1:], strict=True)):
            stride = 1 if stage == 0 else 2
            layers = [BasicBlock(in_ch, out_ch, stride)] + [BasicBlock(out_ch, out_ch) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: Float[Tensor, "B C H W"]) -> list[Tensor]:
        """Encode.

        Args:
            images: RGB in [0, 1], ``C = 3 * num_input_images`` (frames stacked in temporal order).

        Returns:
            Five feature maps ``(B, num_ch_enc[i], H / 2^(i+1), W / 2^(i+1))`` (sizes rounded up) for i = 0..4.
        """
        if images.shape[1] != 3 * self.num_input_images:
            raise ValueError(f"expected {3 * self.num_input_images} input channels, got {images.shape[1]}")
        x = (images - IMAGE_MEAN) / IMAGE_STD
        f0 = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [f0, f1, f2, f3, f4]

    def load_imagenet_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load ImageNet ResNet weights from a local state dict (torchvision key names; ``fc.*`` is ignored).

        For ``num_input_images = n > 1`` the first filter is repeated over the n images and divided by n, as
        monodepth2 does. Only ``width == 1`` matches ImageNet shapes.

        Args:
            state_dict: mapping from torchvision-style parameter names to tensors.
        """
        if self.width != 1.0:
            raise ValueError("ImageNet weights only fit width == 1.0")
        weights = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
        if self.num_input_images > 1 and "conv1.weight" in weights:
            weights["conv1.weight"] = torch.cat([weights["conv1.weight"]] * self.num_input_images, 1)
            weights["conv1.weight"] = weights["conv1.weight"] / self.num_input_images
        missing, unexpected = self.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise ValueError(f"ImageNet state dict mismatch: missing {missing}, unexpected {unexpected}")
