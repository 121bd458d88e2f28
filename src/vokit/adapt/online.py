"""The online procedure: per frame, predict, then adapt on the latest window (METHODS.md section 7.5).

:class:`OnlineAdapter` takes one frame at a time (network input and intrinsics) and

1. **predicts** its depth and ``cam_t_from_cam_t-1`` with the current parameters, the aligned features
   (:class:`~vokit.adapt.alignment.FeatureAlignment`, optional) and the carried ConvLSTM memories; these are the
   outputs to evaluate, computed before the frame takes part in any update;
2. **adapts**: once the latest window of N frames is full (and every ``every`` frames), takes ``steps`` gradient
   steps of the window loss (:func:`~vokit.adapt.window.window_loss`), re-running the window from the memories
   stored at its start, with an optimiser whose state is kept from window to window (SGD as the inner step of
   section 7.3, or Adam);
3. **carries** the memories after the frame, detached, to the next frame.

Only the depth and pose networks adapt (a CoopNet flow network stays as it is). Batch norm stays in evaluation
mode. The model given is changed in place: pass a copy to keep the original.
"""

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.adapt.alignment import FeatureAlignment
from vokit.adapt.window import DepthPoseNets, VOState, depth_step, pose_step, run_window, window_loss
from vokit.losses.monodepth2 import Monodepth2LossParams, disp_to_depth
from vokit.nets.convlstm import LSTMState

Optimizer = Literal["sgd", "adam"]


@dataclass(frozen=True)
class AdaptSettings:
    """How the online procedure adapts.

    Attributes:
        steps: gradient steps per adaptation (k; 0: predict only, the memories still carry).
        lr: step size (SGD's alpha or Adam's learning rate).
        optimizer: ``sgd`` or ``adam``.
        window: frames per window (N >= 3).
        every: adapt after every ``every``-th frame once the window is full (1: every frame).
        loss: switches and weights of the Monodepth2 loss.
    """

    steps: int = 1
    lr: float = 1e-4
    optimizer: Optimizer = "adam"
    # [vokit] METHODS.md 7.2 names N = 5; on the synthetic shifted domains (street-night, street-fog, street -> room;
    # docs/adaptation.md) N = 3 adapting every 2nd frame scored better than N = 5 every frame, at a third of the cost
    window: int = 3
    every: int = 2
    loss: Monodepth2LossParams = field(default_factory=Monodepth2LossParams)

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0 or self.window < 3 or self.every < 1:
            raise ValueError(f"need steps >= 0, lr > 0, window >= 3, every >= 1; got {self}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be sgd or adam, got {self.optimizer!r}")


@dataclass(frozen=True)
class OnlineStep:
    """What one frame produced.

    Attributes:
        depth: z-depth at the network input size, training-scale units (predicted before any update on the frame).
        cam_from_prev: ``cam_t_from_cam_t-1`` SE(3) ``[t, q_xyzw]`` (None for the first frame).
        window_loss: the window loss before this frame's first adaptation step (None when no step was taken).
        predict_seconds: wall time of the prediction.
        adapt_seconds: wall time of the adaptation steps.
    """

    depth: Float[Tensor, "H W"]
    cam_from_prev: Float[Tensor, "7"] | None
    window_loss: float | None
    predict_seconds: float
    adapt_seconds: float


@dataclass(frozen=True)
class _Memory:
    """One frame of the window: its input and intrinsics, the depth memory before it, the pose memory after it."""

    image: Tensor
    intrinsics: Tensor
    depth_before: LSTMState | None
    pose_after: LSTMState | None


def adapted_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters online adaptation changes: those of ``depth_net`` and ``pose_net``."""
    return [*model.get_submodule("depth_net").parameters(), *model.get_submodule("pose_net").parameters()]


class OnlineAdapter:
    """Predict-then-adapt over one sequence, frame by frame (see the module docstring).

    Args:
        model: depth + pose networks (:class:`~vokit.adapt.window.DepthPoseNets`), changed in place.
        settings: :class:`AdaptSettings`.
        alignment: online feature alignment, attached to ``model`` here (None: off).
    """

    def __init__(self, model: nn.Module, settings: AdaptSettings, alignment: FeatureAlignment | None = None) -> None:
        self.model = model.eval()
        self.nets: DepthPoseNets = model  # type: ignore[assignment]
        self.settings = settings
        self.alignment = alignment
        if alignment is not None:
            alignment.attach(model)
        params = adapted_parameters(model)
        self.optimizer: torch.optim.Optimizer = (
            torch.optim.SGD(params, lr=settings.lr) if settings.optimizer == "sgd"
            else torch.optim.Adam(params, lr=settings.lr)
        )
        self.reset()

    def reset(self) -> None:
        """Start a new sequence: zero memories, empty window, fresh target statistics.

        The parameters and the optimiser's state are kept.
        """
        self.state = VOState()
        self.window: deque[_Memory] = deque(maxlen=self.settings.window)
        self.frames_seen = 0
        if self.alignment is not None:
            self.alignment.reset()

    def step(self, image: Float[Tensor, "3 H W"], intrinsics: Float[Tensor, "4"]) -> OnlineStep:
        """Predict the frame, then adapt on the latest window (see the module docstring).

        Args:
            image: the network input, RGB in [0, 1], sides multiples of 32.
            intrinsics: ``(fx, fy, cx, cy)`` in pixels of ``image``.

        Returns:
            :class:`OnlineStep`.
        """
        start = time.perf_counter()
        depth, cam_from_prev = self._predict(image, intrinsics)
        predicted = time.perf_counter()
        loss = None
        self.frames_seen += 1
        full = len(self.window) == self.settings.window
        if full and self.settings.steps > 0 and (self.frames_seen - self.settings.window) % self.settings.every == 0:
            loss = self._adapt()
        return OnlineStep(depth, cam_from_prev, loss, predicted - start, time.perf_counter() - predicted)

    def _predict(self, image: Tensor, intrinsics: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.alignment is not None:
            self.alignment.updating = True
        with torch.no_grad():
            outs, depth_after = depth_step(self.nets.depth_net, image[None], self.state.depth)
            cam_from_prev, pose_after = None, self.state.pose
            if self.window:
                rel, pose_after = pose_step(self.nets.pose_net, self.window[-1].image[None], image[None],
                                            self.state.pose)
                cam_from_prev = rel[0]
        depth = disp_to_depth(outs[0][0, 0], self.nets.min_depth, self.nets.max_depth)
        self.window.append(_Memory(image, intrinsics, self.state.depth, pose_after))
        self.state = VOState(depth_after, pose_after).detach()
        return depth, cam_from_prev

    def _adapt(self) -> float:
        if self.alignment is not None:
            self.alignment.updating = False
        images = torch.stack([m.image for m in self.window])[None]
        intrinsics = torch.stack([m.intrinsics for m in self.window])[None]
        first = self.window[0]
        start = VOState(first.depth_before, first.pose_after)
        losses = []
        with torch.enable_grad():
            for _ in range(self.settings.steps):
                self.optimizer.zero_grad(set_to_none=True)
                outputs = run_window(self.nets, images, start)
                loss = window_loss(self.nets, outputs, images, intrinsics, self.settings.loss)
                loss.backward()
                self.optimizer.step()
                losses.append(float(loss.detach()))
        return losses[0]
