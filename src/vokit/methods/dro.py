"""DRO: depth and pose refined jointly by a learned recurrent optimiser (METHODS.md section 6).

The model is a :class:`~vokit.nets.dro.DRONet`. Training (:func:`training_step`) takes the clip's middle frame as
the target and the other frames as references; it is supervised by the clip's ground-truth depth and poses
(``supervision="supervised"``, the synthetic world has both) or self-supervised by the photometric loss on every
iterate. Inference (:func:`infer_sequence`) runs each frame as a target with its previous and next frames as
references, keeps the last iterate's depth, and chains the poses ``cam_{k+1}_from_cam_k`` into a trajectory.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vokit.data.sequence import Sequence as FrameSequence
from vokit.errors import VokitError
from vokit.geometry import camera, lie
from vokit.losses.dro import GAMMA, DROLoss, dro_selfsup_loss, dro_supervised_loss
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import (
    FrameResult,
    SequencePrediction,
    chain_poses,
    network_geometry,
    to_network,
)
from vokit.methods.interface import NoOperatorChoice, Output
from vokit.methods.panels import inv_depth_panel
from vokit.nets.dro import INPUT_STRIDE, DRONet, DROSchedule
from vokit.nets.dro_cost import PoseUpdate

Supervision = Literal["supervised", "self-supervised"]


@dataclass(frozen=True)
class DROSettings:
    """Model and loss settings of DRO (the experiment config's ``model`` / ``loss`` fields of these names).

    Attributes:
        width: ResNet channel multiplier of the encoders.
        min_depth: smallest depth (training-scale units).
        max_depth: largest depth.
        dro_version: schedule string ``it{N}[-seq{S}][-h][-inter][-out]`` (section 6.3).
        dro_hidden: GRU hidden channels; None: the version's (128 with ``h``, else 64).
        dro_feature_dim: feature channels of the cost (128 [ref]).
        dro_context_dim: context channels (32 [ref]).
        dro_pose_update: ``"additive"`` [ref] or ``"se3"`` [vokit].
        dro_supervision: ``"supervised"`` (ground-truth depth and poses) or ``"self-supervised"``.
        dro_gamma: iterate decay of the loss weights.
        smoothness_weight: self-supervised smoothness weight.
    """

    width: float = 1.0
    min_depth: float = 0.1
    max_depth: float = 100.0
    dro_version: str = "it12-h"
    dro_hidden: int | None = None
    dro_feature_dim: int = 128
    dro_context_dim: int = 32
    dro_pose_update: PoseUpdate = "additive"
    dro_supervision: Supervision = "supervised"
    dro_gamma: float = GAMMA
    smoothness_weight: float = 1e-3

    def schedule(self) -> DROSchedule:
        """The parsed :class:`DROSchedule`."""
        return DROSchedule.from_version(self.dro_version, self.dro_hidden)


def build_model(settings: DROSettings, input_size: tuple[int, int]) -> DRONet:
    """A fresh :class:`DRONet` of ``settings`` for training images of ``input_size``."""
    if input_size[0] % INPUT_STRIDE or input_size[1] % INPUT_STRIDE:
        raise VokitError(f"DRO input size {input_size} must be multiples of {INPUT_STRIDE}")
    try:
        schedule = settings.schedule()
    except ValueError as err:
        raise VokitError(f"model.dro_version: {err}") from None
    return DRONet(schedule, width=settings.width, feature_dim=settings.dro_feature_dim,
                  context_dim=settings.dro_context_dim, pose_update=settings.dro_pose_update,
                  min_depth=settings.min_depth, max_depth=settings.max_depth, input_size=input_size)


def reference_indices(n_frames: int) -> list[int]:
    """Clip indices of the references around the middle target (e.g. [0, 2] for 3 frames)."""
    return [k for k in range(n_frames) if k != n_frames // 2]


def ground_truth_ref_from_target(world_from_cam: Tensor) -> Tensor:
    """``cam_r_from_cam_t`` of every reference r of clips ``(B, N, 7)`` (target: the middle frame) -> (B, V, 7)."""
    t = world_from_cam.shape[1] // 2
    refs = world_from_cam[:, reference_indices(world_from_cam.shape[1])]
    return lie.se3_compose(lie.se3_inverse(refs), world_from_cam[:, t : t + 1])


def dro_loss(model: DRONet, batch: ClipBatch, settings: DROSettings) -> tuple[DROLoss, Tensor, Tensor]:
    """Forward pass and the loss of ``settings.dro_supervision``; returns (loss, final inv depth, final poses)."""
    t = batch.target_index
    refs = reference_indices(batch.images.shape[1])
    out = model(batch.net_images[:, t], batch.net_images[:, refs], batch.intrinsics[:, t])
    inv_depths = [d.float() for d in out.inv_depths]
    if settings.dro_supervision == "supervised":
        if batch.depth is None or batch.world_from_cam is None:
            raise VokitError("supervised DRO needs ground-truth depth and poses in every clip "
                             "(use the synthetic world, or loss.dro_supervision self-supervised)")
        loss = dro_supervised_loss(inv_depths, out.poses.float(), batch.depth[:, t].float(),
                                   ground_truth_ref_from_target(batch.world_from_cam), batch.intrinsics[:, t],
                                   model.min_depth, model.max_depth, settings.dro_gamma)
    else:
        loss = dro_selfsup_loss(batch.images[:, t], batch.images[:, refs], inv_depths, out.poses.float(),
                                batch.intrinsics[:, t], settings.dro_gamma, settings.smoothness_weight)
    return loss, inv_depths[-1], out.poses[:, :, -1]


def training_step(model: DRONet, batch: ClipBatch, step: int = 0, want_images: bool = False,
                  settings: DROSettings | None = None) -> StepOutput:
    """One DRO forward pass and loss on a batch of clips (target: the middle frame).

    Args:
        model: the network.
        batch: clips (``net_images`` feed the network, ``images`` the self-supervised loss).
        step: unused (common signature).
        want_images: also return the target and final inverse-depth panels of the first clip.
        settings: loss choice and weights (default :class:`DROSettings`).

    Returns:
        The loss, per-iterate terms (first and last) and optional panels.
    """
    del step
    settings = DROSettings() if settings is None else settings
    loss, inv_depth, poses = dro_loss(model, batch, settings)
    with torch.no_grad():
        scalars = {
            "loss/total": loss.total.detach(),
            "loss/depth_first": loss.depth[0].detach(),
            "loss/depth_last": loss.depth[-1].detach(),
            "loss/pose_first": loss.pose[0].detach(),
            "loss/pose_last": loss.pose[-1].detach(),
            "stats/mean_depth": (1.0 / inv_depth.detach()).mean(),
            "stats/translation_norm": poses[..., :3].detach().norm(dim=-1).mean(),
        }
    images = {}
    if want_images:
        t = batch.target_index
        images = {"image/target": batch.images[0, t].detach().float().clamp(0, 1),
                  "image/inv_depth": inv_depth_panel(1.0 / inv_depth[0].detach())}
    return StepOutput(loss=loss.total, scalars=scalars, images=images)


def _neighbours(position: int, n: int) -> list[int]:
    return [k for k in (position - 1, position + 1) if 0 <= k < n]


def infer_sequence(
    model: DRONet,
    sequence: FrameSequence,
    device: torch.device | str = "cpu",
    frames: Sequence[int] | None = None,
    show_progress: bool = True,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> SequencePrediction:
    """Depth of every frame (its neighbours as references) and chained poses ``cam_{k+1}_from_cam_k``.

    Each frame keeps its aspect at the training pixel budget, padded to multiples of 16; depth comes back at the
    sequence's image size (inverse depth resized bilinearly). Poses are in training-scale units.

    Args:
        model: a trained :class:`DRONet` (put in eval mode here).
        sequence: the frames (only images are decoded).
        device: where to run.
        frames: optional subset of frame indices, in order (default: all).
        show_progress: show a progress bar.
        on_frame: called with each finished frame, in order.

    Returns:
        :class:`SequencePrediction` with depth and the chained ``world_from_cam`` (frame 0 at the identity).
    """
    from tqdm.auto import tqdm

    idx = list(range(len(sequence))) if frames is None else [int(i) for i in frames]
    if not idx:
        raise VokitError(f"no frames to run on in sequence {sequence.name!r}", sequence.source)
    if len(idx) < 2:
        raise VokitError("DRO needs at least two frames (a target and a reference)", sequence.source)
    device = torch.device(device)
    model = model.to(device).eval()
    n, size = len(idx), sequence.image_size
    geometry = network_geometry(size, model.input_size, INPUT_STRIDE)
    h_r, w_r = geometry.resized_size
    depth_out = torch.empty(n, *size)
    rel = torch.empty(n - 1, 7, dtype=torch.float64)
    images: dict[int, Tensor] = {}
    raw: dict[int, Tensor] = {}
    busy = 0.0
    bar = tqdm(total=n, unit="frame", desc=sequence.name, disable=not show_progress, dynamic_ncols=True)
    with torch.inference_mode():
        for k in range(n):
            tick = time.perf_counter()
            for j in [k, *_neighbours(k, n)]:
                if j not in images:
                    raw[j] = sequence.image(idx[j])
                    images[j] = to_network(raw[j][None].to(device), geometry)[0]
            refs = _neighbours(k, n)
            intr = camera.scale_intrinsics(sequence.intrinsics[idx[k]].to(device).float(), *geometry.scale_xy)
            out = model(images[k][None], torch.stack([images[j] for j in refs])[None], intr[None])
            inv = out.inv_depths[-1][:, None, :h_r, :w_r].float()
            depth_out[k] = 1.0 / F.interpolate(inv, size=size, mode="bilinear", align_corners=False)[0, 0].cpu()
            if k + 1 < n:
                rel[k] = out.poses[0, refs.index(k + 1), -1].double().cpu()
            busy += time.perf_counter() - tick
            if on_frame is not None:
                on_frame(FrameResult(position=k, index=idx[k], image=raw[k], depth=depth_out[k],
                                     flow_to_next=None, motion_mask=None))
            for j in [j for j in images if j < k]:
                del images[j], raw[j]
            bar.update(1)
    bar.close()
    return SequencePrediction(
        indices=torch.tensor(idx, dtype=torch.long),
        timestamps=sequence.timestamps[torch.tensor(idx, dtype=torch.long)].clone(),
        depth=depth_out,
        cam_next_from_cam=rel,
        world_from_cam=chain_poses(rel),
        flow=None,
        motion_mask=None,
        frames_per_second=n / max(busy, 1e-9),
        network_input_size=geometry.input_size,
    )


class DRO(NoOperatorChoice):
    """The DRO :class:`~vokit.methods.interface.Method` (METHODS.md section 6)."""

    name = "dro"
    description = "deep recurrent optimizer: depth and pose refined jointly by ConvGRUs (METHODS.md section 6)"
    settings_type = DROSettings
    outputs: frozenset[Output] = frozenset({"depth"})
    input_stride = INPUT_STRIDE

    def build_model(self, settings: DROSettings, input_size: tuple[int, int]) -> DRONet:
        """:func:`build_model`."""
        return build_model(settings, input_size)

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: DROSettings) -> StepOutput:
        """:func:`training_step`."""
        assert isinstance(model, DRONet)
        return training_step(model, batch, step, want_images, settings)

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
        """:func:`infer_sequence` (one target frame per network call; ``batch_size`` is not used)."""
        assert isinstance(model, DRONet)
        del batch_size
        return infer_sequence(model, sequence, device, frames, show_progress, on_frame)


METHOD = DRO()
"""The registered method object (see :mod:`vokit.methods.registry`)."""
