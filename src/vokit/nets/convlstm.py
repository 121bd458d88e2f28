"""ConvLSTM memory at the depth and pose bottlenecks (METHODS.md section 7.1).

:class:`ConvLSTMCell` is the convolutional LSTM of "Convolutional LSTM Network" (Shi et al., arXiv 1506.04214)
without peepholes: one 3x3 convolution of ``[x, h]`` gives the gates i, f, o and the candidate g,
``c' = f * c + i * g`` and ``h' = o * tanh(c')``. The state ``(h, c)`` is zero at the start of a sequence and is
carried from frame to frame by the caller (:class:`LSTMState`).

:class:`RecurrentDepthNet` and :class:`RecurrentPoseNet` put one cell at the stride-32 bottleneck of the Monodepth2
depth and pose networks. [vokit] The decoder receives ``f + W h`` with a zero-initialised 1x1 convolution ``W``
instead of ``h`` alone (METHODS.md: ``h`` in place of ``f``): a freshly built recurrent network then computes exactly
what its plain counterpart computes, so a trained Monodepth2 checkpoint is a valid starting point
(:meth:`RecurrentDepthNet.load_plain`), and training decides how much memory to mix in.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.nets.depth_decoder import DepthDecoder, DepthNet
from vokit.nets.pose_net import POSE_SCALE, PoseDecoder, PoseNet, pose_params_to_se3
from vokit.nets.resnet import ResNetEncoder


@dataclass(frozen=True)
class LSTMState:
    """The hidden and cell state of a :class:`ConvLSTMCell`, each ``(B, C, h, w)``."""

    hidden: Float[Tensor, "B C h w"]
    cell: Float[Tensor, "B C h w"]

    def detach(self) -> "LSTMState":
        """The same state cut from the autograd graph (between online windows, METHODS.md section 7.5)."""
        return LSTMState(self.hidden.detach(), self.cell.detach())


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell: gates i, f, o, g from one ``kernel x kernel`` convolution of ``[x, h]``.

    The forget-gate bias starts at 1 (the usual LSTM choice), the others at 0.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel: int = 3) -> None:
        """Build the gate convolution.

        Args:
            in_channels: channels of the input feature.
            hidden_channels: channels of ``h`` and ``c``.
            kernel: odd kernel size of the gate convolution (zero padding keeps the size).
        """
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel, padding=kernel // 2)
        bias = self.gates.bias
        assert bias is not None
        with torch.no_grad():
            bias.zero_()
            bias[hidden_channels : 2 * hidden_channels] = 1.0

    def zero_state(self, x: Float[Tensor, "B C h w"]) -> LSTMState:
        """The start-of-sequence state for inputs shaped like ``x`` (zeros, same dtype and device)."""
        zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
        return LSTMState(zeros, zeros)

    def forward(self, x: Float[Tensor, "B Cin h w"], state: LSTMState | None = None) -> LSTMState:
        """One time step.

        Args:
            x: the input feature of this frame.
            state: the state after the previous frame (None: zeros, the start of a sequence).

        Returns:
            The new state; its ``hidden`` is the cell's output.

        Raises:
            ValueError: a state whose batch or spatial size does not match ``x``.
        """
        state = self.zero_state(x) if state is None else state
        if state.hidden.shape[0] != x.shape[0] or state.hidden.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"state {tuple(state.hidden.shape)} does not fit input {tuple(x.shape)}")
        i, f, o, g = self.gates(torch.cat([x, state.hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f) * state.cell + torch.sigmoid(i) * torch.tanh(g)
        return LSTMState(torch.sigmoid(o) * torch.tanh(cell), cell)


class RecurrentBottleneck(nn.Module):
    """A :class:`ConvLSTMCell` on a bottleneck feature ``f`` whose output is ``f + W h`` (``W`` zero at start)."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.lstm = ConvLSTMCell(channels, channels, kernel)
        self.mix = nn.Conv2d(channels, channels, 1)
        with torch.no_grad():
            for tensor in self.mix.parameters():
                tensor.zero_()

    def forward(self, feature: Float[Tensor, "B C h w"], state: LSTMState | None) -> tuple[Tensor, LSTMState]:
        """The feature with memory mixed in, and the new state.

        Args:
            feature: this frame's bottleneck feature.
            state: the state after the previous frame (None: zeros).

        Returns:
            ``(f + W h', (h', c'))``.
        """
        new_state = self.lstm(feature, state)
        return feature + self.mix(new_state.hidden), new_state


class RecurrentDepthNet(nn.Module):
    """ResNet encoder, ConvLSTM bottleneck and Monodepth2 decoder: (image, state) -> (multi-scale sigmoid, state)."""

    def __init__(self, num_layers: int = 18, width: float = 1.0, scales: Sequence[int] = (0, 1, 2, 3)) -> None:
        """Build the networks (same arguments as :class:`~vokit.nets.depth_decoder.DepthNet`)."""
        super().__init__()
        self.encoder = ResNetEncoder(num_layers=num_layers, width=width, num_input_images=1)
        self.memory = RecurrentBottleneck(self.encoder.num_ch_enc[-1])
        self.decoder = DepthDecoder(self.encoder.num_ch_enc, width=width, scales=scales)
        self.scales = self.decoder.scales

    def forward(self, image: Float[Tensor, "B 3 H W"], state: LSTMState | None = None
                ) -> tuple[list[Tensor], LSTMState]:
        """Predict one frame's multi-scale ``sigmoid_out`` (see :meth:`DepthNet.forward`) and the new state.

        Args:
            image: RGB in [0, 1], sides multiples of 32.
            state: the depth memory after the previous frame (None: start of a sequence).

        Returns:
            One ``(B, 1, H / 2^s, W / 2^s)`` map per scale, and the state after this frame.
        """
        features = self.encoder(image)
        bottleneck, state = self.memory(features[-1], state)
        return self.decoder([*features[:-1], bottleneck]), state

    def load_plain(self, plain: DepthNet) -> None:
        """Copy a trained :class:`DepthNet`'s encoder and decoder (the memory keeps its initialisation)."""
        self.encoder.load_state_dict(plain.encoder.state_dict())
        self.decoder.load_state_dict(plain.decoder.state_dict())


class RecurrentPoseNet(nn.Module):
    """Pair encoder, ConvLSTM bottleneck and pose decoder: (frame a, frame b, state) -> (``cam_b_from_cam_a``, state).

    The memory runs over consecutive pairs (t-1, t) in temporal order (METHODS.md section 7.1).
    """

    def __init__(self, num_layers: int = 18, width: float = 1.0, rotation_scale: float = POSE_SCALE) -> None:
        """Build the networks (same arguments as :class:`~vokit.nets.pose_net.PoseNet`)."""
        super().__init__()
        self.encoder = ResNetEncoder(num_layers=num_layers, width=width, num_input_images=2)
        self.memory = RecurrentBottleneck(self.encoder.num_ch_enc[-1])
        self.decoder = PoseDecoder(self.encoder.num_ch_enc[-1], width=width, rotation_scale=rotation_scale)

    def forward(self, image_a: Float[Tensor, "B 3 H W"], image_b: Float[Tensor, "B 3 H W"],
                state: LSTMState | None = None) -> tuple[Float[Tensor, "B 7"], LSTMState]:
        """Predict ``cam_b_from_cam_a`` of a consecutive pair and the new state.

        Args:
            image_a: earlier frame, RGB in [0, 1].
            image_b: later frame, RGB in [0, 1].
            state: the pose memory after the previous pair (None: start of a sequence).

        Returns:
            SE(3) ``[t, q_xyzw]`` (translation in training-scale units) and the state after this pair.
        """
        bottleneck = self.encoder(torch.cat([image_a, image_b], dim=1))[-1]
        bottleneck, state = self.memory(bottleneck, state)
        return pose_params_to_se3(self.decoder(bottleneck)), state

    def load_plain(self, plain: PoseNet) -> None:
        """Copy a trained :class:`PoseNet`'s encoder and decoder (the memory keeps its initialisation)."""
        self.encoder.load_state_dict(plain.encoder.state_dict())
        self.decoder.load_state_dict(plain.decoder.state_dict())
