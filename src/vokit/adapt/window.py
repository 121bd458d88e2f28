"""The self-supervised loss on a window of consecutive frames (METHODS.md section 7.2).

A window holds N consecutive frames. :func:`run_window` runs the depth network on every frame and the pose network on
every consecutive pair (t-1, t) in temporal order; with recurrent networks
(:class:`~vokit.nets.convlstm.RecurrentDepthNet`, :class:`~vokit.nets.convlstm.RecurrentPoseNet`) the frames go one
by one and the ConvLSTM states are carried through the window, plain networks see the whole window in one call.
:func:`window_loss` is the mean Monodepth2 loss (:func:`vokit.losses.monodepth2.monodepth2_loss`) over the interior
targets t = 1 .. N-2, each with its sources t-1 and t+1 and Monodepth2's pose ordering: ``cam_{t-1}_from_cam_t`` is
the exact inverse of the pair (t-1, t)'s output, ``cam_{t+1}_from_cam_t`` is the pair (t, t+1)'s output.

State bookkeeping: the *state after frame t* is the depth memory after frame t's depth and the pose memory after the
pair (t-1, t). A window starting at frame s therefore starts from the depth memory after frame s-1 and the pose memory
after frame s (:class:`VOState`).
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.geometry import lie
from vokit.losses.monodepth2 import Monodepth2LossParams, monodepth2_loss
from vokit.nets.convlstm import LSTMState, RecurrentDepthNet, RecurrentPoseNet


@runtime_checkable
class DepthPoseNets(Protocol):
    """What adaptation needs of a model: depth and pose networks and the depth range (Monodepth2, CoopNet, online)."""

    depth_net: nn.Module
    pose_net: nn.Module
    min_depth: float
    max_depth: float


@dataclass(frozen=True)
class VOState:
    """The ConvLSTM memories (None: zeros, or a plain network without memory).

    Attributes:
        depth: depth-network memory after the last frame it saw.
        pose: pose-network memory after the last pair it saw.
    """

    depth: LSTMState | None = None
    pose: LSTMState | None = None

    def detach(self) -> "VOState":
        """The same memories cut from the autograd graph."""
        return VOState(None if self.depth is None else self.depth.detach(),
                       None if self.pose is None else self.pose.detach())


@dataclass(frozen=True)
class WindowOutputs:
    """The networks' outputs on B windows of N frames.

    Attributes:
        sigmoid_outs: per decoder scale, ``(B, N, 1, H / 2^s, W / 2^s)`` maps in (0, 1).
        cam_next_from_cam: ``cam_{t+1}_from_cam_t`` per consecutive pair, SE(3) ``[t, q_xyzw]``, ``(B, N-1, 7)``.
        state: the memories after the window's last frame and last pair.
    """

    sigmoid_outs: list[Tensor]
    cam_next_from_cam: Float[Tensor, "B M 7"]
    state: VOState


def depth_step(depth_net: nn.Module, images: Float[Tensor, "B 3 H W"], state: LSTMState | None
               ) -> tuple[list[Tensor], LSTMState | None]:
    """One frame (per batch entry) through a plain or recurrent depth network.

    Args:
        depth_net: a :class:`~vokit.nets.depth_decoder.DepthNet` or :class:`RecurrentDepthNet`.
        images: RGB in [0, 1], sides multiples of 32.
        state: the memory after the previous frame (ignored by a plain network).

    Returns:
        The multi-scale ``sigmoid_out`` maps and the new memory (None for a plain network).
    """
    if isinstance(depth_net, RecurrentDepthNet):
        return depth_net(images, state)
    return depth_net(images), None


def pose_step(pose_net: nn.Module, image_a: Float[Tensor, "B 3 H W"], image_b: Float[Tensor, "B 3 H W"],
              state: LSTMState | None) -> tuple[Float[Tensor, "B 7"], LSTMState | None]:
    """One consecutive pair (a earlier, b later) through a plain or recurrent pose network.

    Args:
        pose_net: a :class:`~vokit.nets.pose_net.PoseNet` or :class:`RecurrentPoseNet`.
        image_a: the earlier frame, RGB in [0, 1].
        image_b: the later frame.
        state: the memory after the previous pair (ignored by a plain network).

    Returns:
        ``cam_b_from_cam_a`` as SE(3) ``[t, q_xyzw]`` and the new memory (None for a plain network).
    """
    if isinstance(pose_net, RecurrentPoseNet):
        return pose_net(image_a, image_b, state)
    return pose_net(image_a, image_b), None


def run_window(model: DepthPoseNets, images: Float[Tensor, "B N 3 H W"], state: VOState | None = None
               ) -> WindowOutputs:
    """Run the depth network on every frame and the pose network on every consecutive pair of B windows.

    Args:
        model: the networks.
        images: network inputs, RGB in [0, 1], frames in temporal order (N >= 2).
        state: the depth memory after the frame before the window and the pose memory after the window's first
            frame (None: zeros).

    Returns:
        :class:`WindowOutputs`.
    """
    n = images.shape[1]
    if n < 2:
        raise ValueError(f"a window needs at least 2 frames, got {n}")
    state = VOState() if state is None else state
    recurrent = isinstance(model.depth_net, RecurrentDepthNet) or isinstance(model.pose_net, RecurrentPoseNet)
    if not recurrent:
        outs = model.depth_net(images.flatten(0, 1))
        poses = model.pose_net(images[:, :-1].flatten(0, 1), images[:, 1:].flatten(0, 1))
        return WindowOutputs([o.unflatten(0, images.shape[:2]) for o in outs], poses.unflatten(0, (-1, n - 1)),
                             state)
    depth_state, pose_state = state.depth, state.pose
    per_frame: list[list[Tensor]] = []
    pairs: list[Tensor] = []
    for t in range(n):
        outs_t, depth_state = depth_step(model.depth_net, images[:, t], depth_state)
        per_frame.append(outs_t)
        if t > 0:
            pose, pose_state = pose_step(model.pose_net, images[:, t - 1], images[:, t], pose_state)
            pairs.append(pose)
    sigmoid_outs = [torch.stack([frame[s] for frame in per_frame], dim=1) for s in range(len(per_frame[0]))]
    return WindowOutputs(sigmoid_outs, torch.stack(pairs, dim=1), VOState(depth_state, pose_state))


def window_loss(
    model: DepthPoseNets,
    outputs: WindowOutputs,
    images: Float[Tensor, "B N 3 H W"],
    intrinsics: Float[Tensor, "B N 4"],
    params: Monodepth2LossParams | None = None,
    generator: torch.Generator | None = None,
) -> Float[Tensor, ""]:
    """The mean Monodepth2 loss over the interior targets of B windows (METHODS.md section 7.2).

    Args:
        model: the networks (for the depth range).
        outputs: :func:`run_window` on the same windows.
        images: the frames the loss compares (un-augmented), RGB in [0, 1], at the networks' input size (N >= 3).
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of ``images``.
        params: loss switches and weights (default :class:`Monodepth2LossParams`).
        generator: random generator of the auto-masking noise (None: torch's global one).

    Returns:
        The scalar loss, averaged over the ``B (N - 2)`` targets.
    """
    n = images.shape[1]
    if n < 3:
        raise ValueError(f"the window loss needs at least 3 frames (one interior target), got {n}")
    params = Monodepth2LossParams() if params is None else params
    rel = outputs.cam_next_from_cam
    # target t = 1 .. n-2: cam_{t-1}_from_cam_t = inverse(pair t-1), cam_{t+1}_from_cam_t = pair t
    src_from_tgt = torch.stack([lie.se3_inverse(rel[:, :-1]), rel[:, 1:]], dim=2).flatten(0, 1)
    sources = torch.stack([images[:, :-2], images[:, 2:]], dim=2).flatten(0, 1)
    sigmoid_outs = [s[:, 1:-1].flatten(0, 1) for s in outputs.sigmoid_outs]
    result = monodepth2_loss(
        images[:, 1:-1].flatten(0, 1), sources, sigmoid_outs, src_from_tgt, intrinsics[:, 1:-1].flatten(0, 1),
        min_depth=model.min_depth, max_depth=model.max_depth, use_automask=params.use_automask,
        use_min_reprojection=params.use_min_reprojection, use_ssim=params.use_ssim,
        use_full_res_multiscale=params.use_full_res_multiscale, smoothness_weight=params.smoothness_weight,
        generator=generator,
    )
    return result.total
