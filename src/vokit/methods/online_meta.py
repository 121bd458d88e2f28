"""Online meta-learning VO: recurrent depth + pose networks meta-trained to adapt fast (METHODS.md section 7).

The model bundle holds a :class:`~vokit.nets.convlstm.RecurrentDepthNet` and a
:class:`~vokit.nets.convlstm.RecurrentPoseNet` (ConvLSTM memories at both bottlenecks, section 7.1). A training clip
of 2N frames is split into two consecutive windows D_i (the first N frames) and D_{i+1} (the next N); the training
step is the meta objective of section 7.3 (:func:`vokit.adapt.meta.meta_objective`): one inner SGD step on the window
loss of D_i, the outer loss on D_{i+1} at the adapted parameters, memories flowing from D_i into D_{i+1} and zero
at the start of each clip. Inference runs the frames in order with the memories carried (no adaptation); ``vokit run
--adapt`` adapts it online like any self-supervised model (:mod:`vokit.methods.online`).

A Monodepth2 checkpoint of the same size is a valid starting point (:func:`from_monodepth2`): the memories start as
identities (see :mod:`vokit.nets.convlstm`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from vokit.adapt.meta import Window, meta_objective, window_pair_loss_fn
from vokit.adapt.online import AdaptSettings
from vokit.data.sequence import Sequence as FrameSequence
from vokit.losses.monodepth2 import disp_to_depth
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import FrameResult, SequencePrediction
from vokit.methods.interface import NoOperatorChoice, Output
from vokit.methods.monodepth2 import INPUT_STRIDE, Monodepth2Model, Monodepth2Settings
from vokit.methods.online import infer_online
from vokit.nets.convlstm import RecurrentDepthNet, RecurrentPoseNet


class OnlineMetaModel(nn.Module):
    """Recurrent depth network + recurrent pose network (the section 7.1 networks).

    Args: as :class:`~vokit.methods.monodepth2.Monodepth2Model`.
    """

    def __init__(self, num_layers: int = 18, width: float = 1.0, num_scales: int = 4, min_depth: float = 0.1,
                 max_depth: float = 100.0, input_size: tuple[int, int] = (192, 640),
                 pose_rotation_scale: float = 0.01) -> None:
        super().__init__()
        if input_size[0] % INPUT_STRIDE or input_size[1] % INPUT_STRIDE:
            raise ValueError(f"input_size {input_size} must be multiples of 32 (ResNet encoder strides)")
        self.depth_net = RecurrentDepthNet(num_layers=num_layers, width=width, scales=tuple(range(num_scales)))
        self.pose_net = RecurrentPoseNet(num_layers=num_layers, width=width, rotation_scale=pose_rotation_scale)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.input_size = (int(input_size[0]), int(input_size[1]))


def from_monodepth2(model: OnlineMetaModel, plain: Monodepth2Model) -> OnlineMetaModel:
    """Copy a trained Monodepth2 bundle's encoders and decoders into ``model`` (memories keep their identity start)."""
    model.depth_net.load_plain(plain.depth_net)
    model.pose_net.load_plain(plain.pose_net)
    return model


@dataclass(frozen=True)
class OnlineMetaSettings(Monodepth2Settings):
    """Monodepth2's model and loss settings plus the meta-training ones (config fields of these names where they exist).

    Attributes:
        inner_lr: alpha of the inner SGD step (section 7.3: 1e-3).
        second_order: differentiate through the inner gradient (else first order).
    """

    inner_lr: float = 1e-3
    second_order: bool = True


def training_step(model: OnlineMetaModel, batch: ClipBatch, settings: OnlineMetaSettings) -> StepOutput:
    """The meta objective on clips of 2N frames: adapt on the first N, score the next N (section 7.3).

    Args:
        model: the recurrent bundle.
        batch: clips of an even number 2N >= 6 of frames.
        settings: loss and meta settings.

    Returns:
        The outer loss (what the optimiser minimises) and the inner and outer losses as scalars.
    """
    n_frames = batch.images.shape[1]
    if n_frames < 6 or n_frames % 2:
        raise ValueError(f"online-meta trains on clips of 2N >= 6 frames (two windows), got {n_frames}; set "
                         "--data.clip-frames")
    n = n_frames // 2
    inner = Window(batch.net_images[:, :n], batch.images[:, :n], batch.intrinsics[:, :n])
    outer = Window(batch.net_images[:, n:], batch.images[:, n:], batch.intrinsics[:, n:])
    params = dict(model.named_parameters())
    result = meta_objective(window_pair_loss_fn(model, settings.loss_params()), params, inner, outer,
                            settings.inner_lr, settings.second_order)
    scalars = {"loss/total": result.outer.detach(), "loss/outer": result.outer.detach(), "loss/inner": result.inner}
    with torch.no_grad():
        depth = disp_to_depth(model.depth_net(batch.net_images[:1, n])[0][0], model.min_depth, model.max_depth)
        scalars["stats/mean_depth"] = depth.mean()
    return StepOutput(loss=result.outer, scalars=scalars, images={})


class OnlineMeta(NoOperatorChoice):
    """The online-meta :class:`~vokit.methods.interface.Method` (METHODS.md section 7)."""

    name = "online-meta"
    description = "recurrent depth + pose networks meta-trained for online adaptation (METHODS.md section 7)"
    settings_type = OnlineMetaSettings
    outputs: frozenset[Output] = frozenset({"depth"})
    input_stride = INPUT_STRIDE

    def build_model(self, settings: OnlineMetaSettings, input_size: tuple[int, int]) -> OnlineMetaModel:
        """A fresh :class:`OnlineMetaModel`."""
        return OnlineMetaModel(
            num_layers=settings.num_layers, width=settings.width, num_scales=settings.num_scales,
            min_depth=settings.min_depth, max_depth=settings.max_depth, input_size=input_size,
            pose_rotation_scale=settings.pose_rotation_scale,
        )

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: OnlineMetaSettings) -> StepOutput:
        """:func:`training_step` (``step`` and ``want_images`` are unused)."""
        assert isinstance(model, OnlineMetaModel)
        del step, want_images
        return training_step(model, batch, settings)

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
        """Frames in order with the memories carried, no adaptation (``batch_size`` is unused: one frame a call)."""
        assert isinstance(model, OnlineMetaModel)
        del batch_size
        return infer_online(model.eval(), sequence, AdaptSettings(steps=0), device, frames, show_progress,
                            on_frame).prediction


METHOD = OnlineMeta()
"""The registered method object (see :mod:`vokit.methods.registry`)."""
