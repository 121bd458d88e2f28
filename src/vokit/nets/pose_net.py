"""Monodepth2's "separate_resnet" pose network on frame pairs (METHODS.md section 2.1).

Reference: nianticlabs/monodepth2 ``networks/pose_decoder.py`` and ``trainer.py`` (``predict_poses``,
``transformation_from_parameters``). Written for vokit; channels scale with the encoder's width.
"""

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.geometry import lie
from vokit.nets.resnet import ResNetEncoder, scaled_channels

POSE_SCALE = 0.01
"""Monodepth2's output scale of both the axis-angle and the translation."""


class PoseDecoder(nn.Module):
    """Bottleneck features -> 6 numbers (axis-angle rotation, translation), averaged over space and scaled.

    Monodepth2 scales all six outputs by 0.01. ``rotation_scale`` sets the rotation's factor separately: between
    consecutive frames a small rotation and a translation shift the image alike, and a network trained from scratch
    can settle on explaining forward motion by rotation (measured on the synthetic street: translation direction
    cosine 0.38 after 600 steps on four clips with 0.01, 0.999 after 100 steps with 0.001).

    Layers: 1x1 conv C->256 + ReLU; 3x3 conv 256->256 + ReLU; 3x3 conv 256->256 + ReLU; 1x1 conv 256->6 (256 scaled
    by ``width``).
    """

    def __init__(self, in_channels: int, width: float = 1.0, rotation_scale: float = POSE_SCALE) -> None:
        """Build the decoder.

        Args:
            in_channels: channels of the encoder's bottleneck (stride-32) feature.
            width: multiplier on the 256 hidden channels.
            rotation_scale: factor on the axis-angle outputs (the translation's is :data:`POSE_SCALE`).
        """
        super().__init__()
        hidden = scaled_channels([256], width)[0]
        self.squeeze = nn.Conv2d(in_channels, hidden, 1)
        self.conv0 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.conv1 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv2d(hidden, 6, 1)
        self.relu = nn.ReLU()
        self.register_buffer("output_scale", torch.tensor([rotation_scale] * 3 + [POSE_SCALE] * 3), persistent=False)

    def forward(self, bottleneck: Float[Tensor, "B C h w"]) -> Float[Tensor, "B 6"]:
        """Regress the pose parameters.

        Args:
            bottleneck: the encoder's stride-32 feature.

        Returns:
            ``[axis_angle (3, radians), translation (3, training-scale units)]``, already scaled.
        """
        x = self.relu(self.squeeze(bottleneck))
        x = self.relu(self.conv0(x))
        x = self.relu(self.conv1(x))
        return self.output_scale * self.out(x).mean(dim=(2, 3))


def pose_params_to_se3(params: Float[Tensor, "*batch 6"]) -> Float[Tensor, "*batch 7"]:
    """Map ``[axis_angle, translation]`` to an SE(3) tensor ``[t, q_xyzw]`` with rotation ``R(axis_angle)``.

    Args:
        params: axis-angle rotation (radians) followed by translation.

    Returns:
        The transform ``[R(omega) | t]`` as ``(..., 7)`` with an xyzw unit quaternion.
    """
    quat = lie.axis_angle_to_quat(params[..., :3])
    return torch.cat([params[..., 3:], quat], dim=-1)


class PoseNet(nn.Module):
    """Separate ResNet on two frames stacked as 6 channels, plus :class:`PoseDecoder`.

    For inputs (a, b) in temporal order the output is ``cam_b_from_cam_a``.
    """

    def __init__(self, num_layers: int = 18, width: float = 1.0, rotation_scale: float = POSE_SCALE) -> None:
        """Build the encoder (two stacked images) and the decoder.

        Args:
            num_layers: ResNet depth, 18 or 34.
            width: channel multiplier for encoder and decoder.
            rotation_scale: factor on the decoder's axis-angle outputs (Monodepth2: 0.01, like the translation).
        """
        super().__init__()
        self.encoder = ResNetEncoder(num_layers=num_layers, width=width, num_input_images=2)
        self.decoder = PoseDecoder(self.encoder.num_ch_enc[-1], width=width, rotation_scale=rotation_scale)

    def forward(self, image_a: Float[Tensor, "B 3 H W"], image_b: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B 7"]:
        """Predict the relative pose of a frame pair.

        Args:
            image_a: earlier frame, RGB in [0, 1].
            image_b: later frame, RGB in [0, 1].

        Returns:
            ``cam_b_from_cam_a`` as SE(3) ``[t, q_xyzw]`` (translation in training-scale units).
        """
        params = self.decoder(self.encoder(torch.cat([image_a, image_b], dim=1))[-1])
        return pose_params_to_se3(params)

    def src_from_tgt(
        self, target: Float[Tensor, "B 3 H W"], source: Float[Tensor, "B 3 H W"], source_is_earlier: bool
    ) -> Float[Tensor, "B 7"]:
        """``cam_src_from_cam_tgt`` with monodepth2's input ordering.

        An earlier source is fed as (source, target) and the output ``cam_tgt_from_cam_src`` is inverted exactly; a
        later source is fed as (target, source) and the output is used directly.

        Args:
            target: target frame, RGB in [0, 1].
            source: source frame, RGB in [0, 1].
            source_is_earlier: whether the source precedes the target in time.

        Returns:
            ``cam_src_from_cam_tgt`` as SE(3) ``[t, q_xyzw]``.
        """
        if source_is_earlier:
            return lie.se3_inverse(self(source, target))
        return self(target, source)
