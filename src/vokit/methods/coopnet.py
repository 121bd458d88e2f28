"""CoopNet-style co-training of depth, pose and optical flow (METHODS.md section 8).

The bundle adds a PWC-style :class:`~vokit.nets.flow_net.FlowNet` to the Monodepth2 depth and pose networks.
:func:`training_step` applies the hybrid loss :func:`vokit.losses.coopnet.coopnet_loss` (rigid and flow
reconstructions, the per-image error mixture and its soft motion mask, the flow-rigid consistency term) and, every
K steps, the gradient apportionment of section 8.4, whose state (``lambda_R`` and its history) lives in the
bundle's buffers so that it is checkpointed and shared by all DDP processes. :func:`infer_sequence` returns depth,
chained poses, forward flow and motion masks for a `Sequence`.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vokit.data.sequence import Sequence as FrameSequence
from vokit.losses.coopnet import (
    FlowPhotometric,
    GradientApportionment,
    coopnet_loss,
    fit_error_mixture,
    flow_reconstruction_errors,
    rms_gradient,
)
from vokit.losses.monodepth2 import disp_to_depth, rigid_reconstruction_errors
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import FrameResult, SequencePrediction, run_inference
from vokit.methods.interface import NoOperatorChoice, Output
from vokit.methods.monodepth2 import INPUT_STRIDE, Monodepth2Model, fp32_losses, predict_src_from_tgt, source_indices
from vokit.methods.panels import error_panel, flow_panel, inv_depth_panel, mask_panel
from vokit.nets.flow_net import FlowNet


def default_flow_levels(height: int) -> int:
    """Pyramid levels for an input height: the most (up to 6) that keep the coarsest level >= 2 pixels high."""
    return max(2, min(6, int(math.floor(math.log2(max(height, 4)))) - 1))


class CoopNetModel(Monodepth2Model):
    """Depth + pose + flow networks, plus the gradient-apportionment state (in buffers, so it is checkpointed).

    Args:
        num_layers: ResNet depth (18 or 34) of the depth and pose encoders.
        width: channel multiplier of the depth and pose networks.
        flow_width: channel multiplier of the flow network.
        flow_levels: flow pyramid levels (2-6); default from the input height (:func:`default_flow_levels`).
        num_scales: depth decoder output scales 0 .. num_scales - 1.
        min_depth: depth of the sigmoid's 1, in training-scale units.
        max_depth: depth of the sigmoid's 0, in training-scale units.
        input_size: (H, W) the networks are trained at.
        apportion_history: number of past ratios averaged into ``lambda_R``.
        pose_rotation_scale: the pose decoder's factor on its axis-angle outputs (Monodepth2: 0.01).
        flow_normalize_cost: cosine-similarity cost volume in the flow network (see :class:`FlowNet`).
    """

    lambda_rigid: Tensor
    apportion_history: Tensor
    apportion_count: Tensor
    apportion_gradients: Tensor

    def __init__(
        self,
        num_layers: int = 18,
        width: float = 1.0,
        flow_width: float = 1.0,
        flow_levels: int | None = None,
        num_scales: int = 4,
        min_depth: float = 0.1,
        max_depth: float = 100.0,
        input_size: tuple[int, int] = (192, 640),
        apportion_history: int = 50,
        pose_rotation_scale: float = 0.01,
        flow_normalize_cost: bool = True,
    ) -> None:
        super().__init__(num_layers, width, num_scales, min_depth, max_depth, input_size, pose_rotation_scale)
        levels = default_flow_levels(self.input_size[0]) if flow_levels is None else flow_levels
        self.flow_net = FlowNet(width=flow_width, num_levels=levels, normalize_cost=flow_normalize_cost)
        self.apportion_history_size = int(apportion_history)
        self.register_buffer("lambda_rigid", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("apportion_history", torch.zeros(apportion_history, dtype=torch.float64))
        self.register_buffer("apportion_count", torch.tensor(0, dtype=torch.long))
        self.register_buffer("apportion_gradients", torch.zeros(3, dtype=torch.float64))

    def apportionment(self, interval: int) -> GradientApportionment:
        """A :class:`GradientApportionment` holding this bundle's current state."""
        app = GradientApportionment(interval=interval, history_size=self.apportion_history_size,
                                    initial=min(max(float(self.lambda_rigid), 0.01), 100.0))
        count = int(self.apportion_count)
        app.load_state_dict({
            "lambda_rigid": float(self.lambda_rigid),
            "history": self.apportion_history[:count].tolist(),
            "last_gradients": tuple(self.apportion_gradients.tolist()) if count else None,
        })
        return app

    def store_apportionment(self, app: GradientApportionment) -> None:
        """Write a :class:`GradientApportionment`'s state back into the buffers."""
        history = list(app.history)
        with torch.no_grad():
            self.lambda_rigid.fill_(app.lambda_rigid)
            self.apportion_history.zero_()
            if history:
                self.apportion_history[: len(history)] = torch.tensor(history, dtype=torch.float64)
            self.apportion_count.fill_(len(history))
            if app.last_gradients is not None:
                self.apportion_gradients.copy_(torch.tensor(app.last_gradients, dtype=torch.float64))


@dataclass(frozen=True)
class CoopNetLossParams:
    """Weights and switches of the hybrid loss and the apportionment (METHODS.md sections 8.3 and 8.4)."""

    smoothness_weight: float = 1e-3
    consistency_weight: float = 0.01
    flow_smoothness_weight: float = 0.1
    use_automask: bool = True
    use_ssim: bool = True
    consistency_two_way: bool = False
    use_apportionment: bool = True
    apportion_every: int = 20
    rigid_warmup: int = 0
    flow_photometric: FlowPhotometric = "ssim_l1"
    flow_occlusion_mask: bool = False
    flow_occlusion_start: int = 0


def _last_conv_weight(module: nn.Module) -> Tensor:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(module).__name__} has no convolution")
    return convs[-1].weight


def last_layers(model: CoopNetModel) -> tuple[Tensor, Tensor, Tensor]:
    """The weights whose gradients the apportionment measures (METHODS.md section 8.4).

    They are the scale-0 depth head, the final pose convolution, and the last convolution of the finest flow
    estimator.
    """
    return (
        _last_conv_weight(model.depth_net.decoder.heads["0"]),
        _last_conv_weight(model.pose_net.decoder),
        _last_conv_weight(model.flow_net.estimators[0]),
    )


def training_step(
    model: CoopNetModel,
    batch: ClipBatch,
    step: int = 0,
    want_images: bool = False,
    params: CoopNetLossParams | None = None,
) -> StepOutput:
    """One CoopNet forward pass and hybrid loss on a batch of clips (the target is the middle frame).

    Args:
        model: the depth + pose + flow bundle.
        batch: clips; ``net_images`` feed the networks, the un-jittered ``images`` the loss.
        step: the 0-based training step (the apportionment runs when ``step % apportion_every == 0``, step > 0, and
            not during the first ``params.rigid_warmup`` steps, when the rigid term is unmasked and ``lambda_R = 1``).
        want_images: also return panels of the first clip (inverse depth, flow, motion mask, error maps).
        params: loss weights and switches (default :class:`CoopNetLossParams`). With ``flow_occlusion_mask`` the
            flow network also runs, without gradient, on the swapped pairs (source, target) for the backward flows
            of the forward-backward occlusion check: one more flow forward pass per step, no backward pass; from
            step ``flow_occlusion_start`` on.

    Returns:
        The loss, its terms and the apportionment state as scalars, and optional panels.
    """
    params = CoopNetLossParams() if params is None else params
    t = batch.target_index
    sources = source_indices(batch.images.shape[1])
    sigmoid_outs = [s.float() for s in model.depth_net(batch.net_images[:, t])]
    src_from_tgt = predict_src_from_tgt(model.pose_net, batch.net_images).float()
    targets = batch.net_images[:, t].repeat(len(sources), 1, 1, 1)
    source_images = torch.cat([batch.net_images[:, s] for s in sources])
    flows = model.flow_net(targets, source_images).flow.float()
    flows = flows.unflatten(0, (len(sources), -1)).transpose(0, 1)
    flows_backward = None
    if params.flow_occlusion_mask and step >= params.flow_occlusion_start:
        with torch.no_grad():
            backward = model.flow_net(source_images, targets).flow.float()
        flows_backward = backward.unflatten(0, (len(sources), -1)).transpose(0, 1)
    app = model.apportionment(params.apportion_every)
    warming_up = step < params.rigid_warmup
    with fp32_losses(batch.images):
        result = coopnet_loss(
            batch.images[:, t], batch.images[:, sources], sigmoid_outs, src_from_tgt, flows, batch.intrinsics[:, t],
            lambda_rigid=1.0 if warming_up else app.lambda_rigid, consistency_weight=params.consistency_weight,
            flow_smoothness_weight=params.flow_smoothness_weight, smoothness_weight=params.smoothness_weight,
            min_depth=model.min_depth, max_depth=model.max_depth, use_automask=params.use_automask,
            use_ssim=params.use_ssim, detach_rigid_flow=not params.consistency_two_way, mask_rigid=not warming_up,
            flow_photometric=params.flow_photometric, flows_backward=flows_backward,
        )
    if params.use_apportionment and model.training and not warming_up and app.should_update(step):
        w_depth, w_pose, w_flow = last_layers(model)
        app.update(rms_gradient(result.rigid, w_depth), rms_gradient(result.rigid, w_pose),
                   rms_gradient(result.flow_task, w_flow))
        model.store_apportionment(app)
    with torch.no_grad():
        motion = result.mixture.motion_mask
        scalars = {
            "loss/total": result.total.detach(),
            "loss/rigid": result.rigid.detach(),
            "loss/flow_photometric": result.flow_photometric.detach(),
            "loss/consistency": result.consistency.detach(),
            "loss/depth_smoothness": result.depth_smoothness.detach(),
            "loss/flow_smoothness": result.flow_smoothness.detach(),
            "apportion/lambda_rigid": model.lambda_rigid.detach().clone(),
            "apportion/g_depth": model.apportion_gradients[0].clone(),
            "apportion/g_pose": model.apportion_gradients[1].clone(),
            "apportion/g_flow": model.apportion_gradients[2].clone(),
            "stats/motion_fraction": (motion > 0.5).float().mean(),
            "stats/automask_fraction": result.automask.float().mean(),
            "stats/mean_flow_px": flows.detach().norm(dim=-1).mean(),
            "stats/flow_excluded_fraction": 1.0 - result.flow_valid.float().mean(),
        }
        if batch.motion_mask is not None:
            hit, truth = motion > 0.5, batch.motion_mask[:, t]
            union = (hit | truth).sum()
            scalars["stats/motion_iou"] = torch.where(union > 0, (hit & truth).sum() / union.clamp(min=1),
                                                      torch.ones_like(union, dtype=motion.dtype))
    images = {}
    if want_images:
        depth0 = disp_to_depth(sigmoid_outs[0][0, 0].detach().float(), model.min_depth, model.max_depth)
        images = {
            "image/target": batch.images[0, t].detach().float().clamp(0, 1),
            "image/inv_depth": inv_depth_panel(depth0),
            "image/flow": flow_panel(flows[0, -1].detach()),
            "image/motion_mask": mask_panel(motion[0], batch.images[0, t]),
            "image/rigid_error": error_panel(result.rigid_error[0].detach()),
            "image/flow_error": error_panel(result.flow_error[0].detach()),
        }
        if batch.motion_mask is not None:
            images["image/motion_mask_gt"] = mask_panel(batch.motion_mask[0, t], batch.images[0, t])
    return StepOutput(loss=result.total, scalars=scalars, images=images)


def infer_sequence(
    model: CoopNetModel,
    sequence: FrameSequence,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    frames: Sequence[int] | None = None,
    show_progress: bool = True,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> SequencePrediction:
    """Depth, chained poses, forward flow and motion masks for every frame of a sequence.

    Frames keep their aspect ratio at the training pixel budget (:func:`~vokit.methods.inference.network_geometry`);
    outputs come back at the sequence's image size. Each frame's motion mask is the mixture posterior of its
    rigid-minus-flow error difference against its neighbours (METHODS.md section 8.2); the flow of frame k is
    ``F_{k->k+1}`` in pixels.

    Args:
        model: a trained bundle (put in eval mode here).
        sequence: the frames (only their images are decoded).
        device: where to run.
        batch_size: frames per network call (>= 1).
        frames: optional subset of frame indices, in order (default: all).
        show_progress: show a progress bar with frames/s.
        on_frame: called with each finished frame (see :func:`~vokit.methods.inference.run_inference`).

    Returns:
        :class:`SequencePrediction` with depth, trajectory, flow and motion masks.
    """
    return run_inference(model, sequence, device, batch_size, frames, flow_net=model.flow_net,
                         motion_mask_fn=mixture_motion_mask, show_progress=show_progress, stride=INPUT_STRIDE,
                         on_frame=on_frame)


def mixture_motion_mask(target: Tensor, sources: Tensor, src_from_tgt: Tensor, flow_to_sources: Tensor,
                        depth: Tensor, intrinsics: Tensor) -> Tensor:
    """CoopNet's motion mask at inference (`vokit.methods.inference.MotionMaskFn`).

    The mixture posterior (METHODS.md section 8.2) fitted to the per-pixel minimum over sources of rigid minus flow
    reconstruction error.
    """
    e_rigid = rigid_reconstruction_errors(target, sources, depth, src_from_tgt, intrinsics).min(dim=1).values
    e_flow = flow_reconstruction_errors(target, sources, flow_to_sources).min(dim=1).values
    return fit_error_mixture(e_rigid - e_flow).motion_mask


@dataclass(frozen=True)
class CoopNetSettings:
    """Model and loss settings of CoopNet (the experiment config's ``model`` / ``loss`` fields of these names)."""

    num_layers: int = 18
    width: float = 1.0
    flow_width: float = 1.0
    flow_levels: int | None = None
    flow_normalize_cost: bool = True
    num_scales: int = 4
    min_depth: float = 0.1
    max_depth: float = 100.0
    pose_rotation_scale: float = 0.01
    apportion_history: int = 50
    smoothness_weight: float = 1e-3
    consistency_weight: float = 0.01
    flow_smoothness_weight: float = 0.1
    use_automask: bool = True
    use_ssim: bool = True
    consistency_two_way: bool = False
    use_apportionment: bool = True
    apportion_every: int = 20
    rigid_warmup: int = 0
    flow_photometric: FlowPhotometric = "ssim_l1"
    flow_occlusion_mask: bool = False
    flow_occlusion_start: int = 0

    def loss_params(self) -> CoopNetLossParams:
        """The loss part."""
        return CoopNetLossParams(
            smoothness_weight=self.smoothness_weight, consistency_weight=self.consistency_weight,
            flow_smoothness_weight=self.flow_smoothness_weight, use_automask=self.use_automask,
            use_ssim=self.use_ssim, consistency_two_way=self.consistency_two_way,
            use_apportionment=self.use_apportionment, apportion_every=self.apportion_every,
            rigid_warmup=self.rigid_warmup, flow_photometric=self.flow_photometric,
            flow_occlusion_mask=self.flow_occlusion_mask, flow_occlusion_start=self.flow_occlusion_start,
        )


class CoopNet(NoOperatorChoice):
    """The CoopNet :class:`~vokit.methods.interface.Method`: depth + pose + flow co-training (METHODS.md section 8)."""

    name = "coopnet"
    description = "depth + pose + flow co-training with motion masks, hybrid loss (METHODS.md section 8)"
    settings_type = CoopNetSettings
    outputs: frozenset[Output] = frozenset({"depth", "flow", "motion_mask"})
    input_stride = INPUT_STRIDE

    def build_model(self, settings: CoopNetSettings, input_size: tuple[int, int]) -> CoopNetModel:
        """A fresh :class:`CoopNetModel`."""
        return CoopNetModel(
            num_layers=settings.num_layers, width=settings.width, flow_width=settings.flow_width,
            flow_levels=settings.flow_levels, num_scales=settings.num_scales, min_depth=settings.min_depth,
            max_depth=settings.max_depth, input_size=input_size, apportion_history=settings.apportion_history,
            pose_rotation_scale=settings.pose_rotation_scale, flow_normalize_cost=settings.flow_normalize_cost,
        )

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: CoopNetSettings) -> StepOutput:
        """:func:`training_step` with the settings' loss part."""
        assert isinstance(model, CoopNetModel)
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
        assert isinstance(model, CoopNetModel)
        return infer_sequence(model, sequence, device, batch_size, frames, show_progress, on_frame)


METHOD = CoopNet()
"""The registered method object (see :mod:`vokit.methods.registry`)."""
