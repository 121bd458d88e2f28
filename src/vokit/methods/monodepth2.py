"""The Monodepth2 baseline: depth + pose networks trained with the Monodepth2 losses (METHODS.md section 2).

The model bundle holds a :class:`~vokit.nets.depth_decoder.DepthNet` and a :class:`~vokit.nets.pose_net.PoseNet`;
:func:`training_step` runs them on a :class:`ClipBatch` and applies
:func:`vokit.losses.monodepth2.monodepth2_loss`; :func:`infer_sequence` predicts depth for every frame of a
`Sequence` and chains frame-to-frame poses into a trajectory.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.data.sequence import Sequence as FrameSequence
from vokit.geometry import lie
from vokit.losses.monodepth2 import Monodepth2LossParams, disp_to_depth, monodepth2_loss
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import FrameResult, SequencePrediction, run_inference
from vokit.methods.interface import NoOperatorChoice, Output
from vokit.methods.panels import inv_depth_panel, mask_panel
from vokit.nets.depth_decoder import DepthNet
from vokit.nets.pose_net import PoseNet

INPUT_STRIDE = 32
"""Network input sides are multiples of this (the ResNet encoders' output stride)."""


class Monodepth2Model(nn.Module):
    """Depth network + pose network (the Monodepth2 "separate_resnet" layout).

    Args:
        num_layers: ResNet depth (18 or 34) of both encoders.
        width: channel multiplier of both networks.
        num_scales: depth decoder output scales 0 .. num_scales - 1 (1-4).
        min_depth: depth of the sigmoid's 1, in training-scale units.
        max_depth: depth of the sigmoid's 0, in training-scale units.
        input_size: (H, W) the networks are trained at; inference keeps its pixel budget at the frames' aspect.
        pose_rotation_scale: the pose decoder's factor on its axis-angle outputs (Monodepth2: 0.01).
    """

    def __init__(
        self,
        num_layers: int = 18,
        width: float = 1.0,
        num_scales: int = 4,
        min_depth: float = 0.1,
        max_depth: float = 100.0,
        input_size: tuple[int, int] = (192, 640),
        pose_rotation_scale: float = 0.01,
    ) -> None:
        super().__init__()
        if not 1 <= num_scales <= 4:
            raise ValueError(f"num_scales must be in 1..4, got {num_scales}")
        if input_size[0] % INPUT_STRIDE or input_size[1] % INPUT_STRIDE:
            raise ValueError(f"input_size {input_size} must be multiples of 32 (ResNet encoder strides)")
        self.depth_net = DepthNet(num_layers=num_layers, width=width, scales=tuple(range(num_scales)))
        self.pose_net = PoseNet(num_layers=num_layers, width=width, rotation_scale=pose_rotation_scale)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def depth(self, images: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B H W"]:
        """Scale-0 z-depth (training-scale units) of images at the network input size.

        Args:
            images: RGB in [0, 1].

        Returns:
            Depth at the input resolution.
        """
        return disp_to_depth(self.depth_net(images)[0][:, 0], self.min_depth, self.max_depth)


def fp32_losses(like: Tensor) -> torch.autocast:
    """A context that switches autocast off, so losses run in float32 even when the networks ran in bf16/fp16."""
    return torch.autocast(like.device.type, enabled=False)


def source_indices(n_frames: int) -> list[int]:
    """Clip indices of the source frames around the middle target (e.g. [0, 2] for 3 frames)."""
    target = n_frames // 2
    return [k for k in range(n_frames) if k != target]


def predict_src_from_tgt(pose_net: PoseNet, net_images: Float[Tensor, "B N 3 H W"]) -> Float[Tensor, "B S 7"]:
    """``cam_s_from_cam_t`` for every source of every clip, with Monodepth2's input ordering.

    Earlier sources are fed as (source, target) and the output is inverted exactly; later sources are fed as
    (target, source). All pairs of the batch run through the pose network in one call.

    Args:
        pose_net: the pose network.
        net_images: network inputs, RGB in [0, 1]; the target is frame ``N // 2``.

    Returns:
        SE(3) ``[t, q_xyzw]`` per source (sources in clip order, the target skipped).
    """
    n = net_images.shape[1]
    t = n // 2
    sources = source_indices(n)
    first = torch.cat([net_images[:, s] if s < t else net_images[:, t] for s in sources])
    second = torch.cat([net_images[:, t] if s < t else net_images[:, s] for s in sources])
    poses = pose_net(first, second).unflatten(0, (len(sources), -1))
    out = [lie.se3_inverse(poses[k]) if s < t else poses[k] for k, s in enumerate(sources)]
    return torch.stack(out, dim=1)


def training_step(
    model: Monodepth2Model,
    batch: ClipBatch,
    step: int = 0,
    want_images: bool = False,
    params: Monodepth2LossParams | None = None,
) -> StepOutput:
    """One Monodepth2 forward pass and loss on a batch of clips (the target is the middle frame).

    Args:
        model: the depth + pose bundle.
        batch: clips; ``net_images`` feed the networks, the un-jittered ``images`` the loss.
        step: the 0-based training step (unused by this method; part of the common signature).
        want_images: also return image panels (target, inverse depth, auto-mask of the first clip).
        params: loss switches and weights (default :class:`Monodepth2LossParams`).

    Returns:
        The loss, its terms as scalars, and optional panels.
    """
    del step
    params = Monodepth2LossParams() if params is None else params
    t = batch.target_index
    sources = source_indices(batch.images.shape[1])
    sigmoid_outs = [s.float() for s in model.depth_net(batch.net_images[:, t])]
    src_from_tgt = predict_src_from_tgt(model.pose_net, batch.net_images).float()
    with fp32_losses(batch.images):
        result = monodepth2_loss(
            batch.images[:, t],
            batch.images[:, sources],
            sigmoid_outs,
            src_from_tgt,
            batch.intrinsics[:, t],
            min_depth=model.min_depth,
            max_depth=model.max_depth,
            use_automask=params.use_automask,
            use_min_reprojection=params.use_min_reprojection,
            use_ssim=params.use_ssim,
            use_full_res_multiscale=params.use_full_res_multiscale,
            smoothness_weight=params.smoothness_weight,
        )
    with torch.no_grad():
        depth0 = disp_to_depth(sigmoid_outs[0][:, 0].detach().float(), model.min_depth, model.max_depth)
        scalars = {
            "loss/total": result.total.detach(),
            "loss/photometric": result.photometric.detach().mean(),
            "loss/smoothness": result.smoothness.detach().mean(),
            "stats/automask_fraction": result.automask.float().mean(),
            "stats/mean_depth": depth0.mean(),
            "stats/translation_norm": src_from_tgt[..., :3].detach().norm(dim=-1).mean(),
        }
    images = {}
    if want_images:
        images = {
            "image/target": batch.images[0, t].detach().float().clamp(0, 1),
            "image/inv_depth": inv_depth_panel(depth0[0]),
            "image/automask": mask_panel(result.automask[0], batch.images[0, t]),
        }
    return StepOutput(loss=result.total, scalars=scalars, images=images)


def infer_sequence(
    model: Monodepth2Model,
    sequence: FrameSequence,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    frames: Sequence[int] | None = None,
    show_progress: bool = True,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> SequencePrediction:
    """Depth for every frame and frame-to-frame poses chained into a trajectory (no flow, no motion masks).

    Frames keep their aspect ratio at the training pixel budget (:func:`~vokit.methods.inference.network_geometry`);
    depth comes back at the sequence's image size.

    Args:
        model: a trained bundle (put in eval mode here).
        sequence: the frames (any size; only their images are decoded).
        device: where to run.
        batch_size: frames per network call (>= 1).
        frames: optional subset of frame indices, in order (default: all).
        show_progress: show a progress bar with frames/s.
        on_frame: called with each finished frame (see :func:`~vokit.methods.inference.run_inference`).

    Returns:
        :class:`SequencePrediction` with depth and the chained ``world_from_cam`` (frame 0 at the identity).
    """
    return run_inference(model, sequence, device, batch_size, frames, flow_net=None, show_progress=show_progress,
                         stride=INPUT_STRIDE, on_frame=on_frame)


@dataclass(frozen=True)
class Monodepth2Settings:
    """Model and loss settings of Monodepth2 (the experiment config's ``model`` / ``loss`` fields of these names)."""

    num_layers: int = 18
    width: float = 1.0
    num_scales: int = 4
    min_depth: float = 0.1
    max_depth: float = 100.0
    pose_rotation_scale: float = 0.01
    smoothness_weight: float = 1e-3
    use_automask: bool = True
    use_min_reprojection: bool = True
    use_ssim: bool = True
    use_full_res_multiscale: bool = True

    def loss_params(self) -> Monodepth2LossParams:
        """The loss part."""
        return Monodepth2LossParams(
            smoothness_weight=self.smoothness_weight, use_automask=self.use_automask,
            use_min_reprojection=self.use_min_reprojection, use_ssim=self.use_ssim,
            use_full_res_multiscale=self.use_full_res_multiscale,
        )


class Monodepth2(NoOperatorChoice):
    """The Monodepth2 :class:`~vokit.methods.interface.Method`: depth + pose, self-supervised (METHODS.md section 2)."""

    name = "monodepth2"
    description = "depth + pose networks, Monodepth2 losses (METHODS.md section 2)"
    settings_type = Monodepth2Settings
    outputs: frozenset[Output] = frozenset({"depth"})
    input_stride = INPUT_STRIDE

    def build_model(self, settings: Monodepth2Settings, input_size: tuple[int, int]) -> Monodepth2Model:
        """A fresh :class:`Monodepth2Model`."""
        return Monodepth2Model(
            num_layers=settings.num_layers, width=settings.width, num_scales=settings.num_scales,
            min_depth=settings.min_depth, max_depth=settings.max_depth, input_size=input_size,
            pose_rotation_scale=settings.pose_rotation_scale,
        )

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: Monodepth2Settings) -> StepOutput:
        """:func:`training_step` with the settings' loss part."""
        assert isinstance(model, Monodepth2Model)
        return training_step(model, batch, step=step, want_images=want_images, params=settings.loss_params())

    def infer(
        self,
        model: nn.Module,
        sequence: FrameSequence,
        device: torch.device | str = "cpu",
        batch_size: int = 8,
        frames: Sequence[int] | None = None,
        show_progress: bool = True,
        on_frame: Callable[[FrameResult], None] | None = None,
    ) -> SequencePrediction:
        """:func:`infer_sequence`."""
        assert isinstance(model, Monodepth2Model)
        return infer_sequence(model, sequence, device, batch_size, frames, show_progress, on_frame)


METHOD = Monodepth2()
"""The registered method object (see :mod:`vokit.methods.registry`)."""
