"""What every method implements once: the :class:`Method` protocol (DESIGN.md section 2, docs/architecture.md).

A method is one module under ``vokit.methods`` holding one object that satisfies :class:`Method`, registered by
name in :mod:`vokit.methods.registry`. The engine (``vokit train``) and the run application (``vokit run``) only
talk to methods through this protocol:

- ``settings_type``: a frozen dataclass of the method's model and loss settings. The engine fills it field by field
  from the experiment config's ``model`` and ``loss`` sections (same field names; a field the config lacks keeps
  its default), so library code never sees a config object;
- ``build_model(settings, input_size)``: the ``nn.Module`` a checkpoint holds; ``input_size`` is the training
  image size, recorded on the model as ``input_size`` (inference keeps its pixel budget, not its aspect);
- ``training_step(model, batch, step, want_images, settings)``: the loss on a :class:`ClipBatch`;
- ``infer(model, sequence, ...)``: a typed :class:`SequencePrediction` (poses and depth; flow, motion masks and
  patches when the method has them, as listed in ``outputs``).
"""

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from vokit.data.sequence import Sequence as FrameSequence
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import FrameResult, SequencePrediction

Output = Literal["depth", "flow", "motion_mask", "patches"]
"""What a method's inference can produce besides the trajectory."""

OUTPUTS: tuple[Output, ...] = ("depth", "flow", "motion_mask", "patches")
"""Every :data:`Output`, in the order a run folder lists them."""


@runtime_checkable
class Method(Protocol):
    """One learned visual-odometry method: its name, settings, model, training step and inference.

    Attributes:
        name: the registry name (``model.method`` in configs, ``--method`` on the command line).
        description: one line for ``--help`` and reports.
        settings_type: frozen dataclass of the model and loss settings (every field has a default).
        outputs: the per-frame outputs :meth:`infer` fills (a subset of :data:`OUTPUTS`).
        input_stride: network inputs must have sides that are multiples of this (e.g. 32 for a ResNet encoder).
        operators: the update operators a run may choose (``vokit run --operator``); empty when there is no choice.
    """

    name: str
    description: str
    settings_type: type[Any]
    outputs: frozenset[Output]
    input_stride: int
    operators: tuple[str, ...]

    def model_without_weights(self, operator: str | None) -> nn.Module | None:
        """A ready model when ``operator`` (None: the method's default) needs no trained weights, else None."""
        ...

    def set_operator(self, model: nn.Module, operator: str) -> None:
        """Make ``model`` run with ``operator`` (one of :attr:`operators`)."""
        ...

    def build_model(self, settings: Any, input_size: tuple[int, int]) -> nn.Module:
        """The model (what a checkpoint holds), built from ``settings`` for training images of ``input_size``."""
        ...

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: Any) -> StepOutput:
        """The loss (and logged scalars, optional image panels) of one batch."""
        ...

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
        """Predictions at the sequence's image size (see :func:`vokit.methods.inference.run_inference`)."""
        ...


@runtime_checkable
class GradientProbe(Protocol):
    """Optional members of a method whose model has a differentiable-optimiser layer (``vokit gradvar``).

    The gradient signal-to-noise protocol (METHODS.md section 5.4) needs the parameters of the heads that feed the
    optimiser layer and the correspondence (flow) loss of one clip, alone, in its weighted or unweighted form.
    A method that has them implements both members; ``isinstance(method, GradientProbe)`` tells.
    """

    def probe_heads(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Qualified parameter name -> parameter, for each head whose gradient SNR is measured."""
        ...

    def probe_loss(self, model: nn.Module, batch: ClipBatch, settings: Any, weighted: bool, update_calls: int,
                   generator: torch.Generator) -> torch.Tensor:
        """The flow loss alone of the first clip of ``batch`` over ``update_calls`` calls, no structure-only phase."""
        ...


class NoOperatorChoice:
    """The :class:`Method` operator members of a method without an update-operator choice (mix in)."""

    name: str
    operators: tuple[str, ...] = ()

    def model_without_weights(self, operator: str | None) -> nn.Module | None:
        """None: every model of this method needs trained weights."""
        return None

    def set_operator(self, model: nn.Module, operator: str) -> None:
        """This method has no operator choice (:attr:`operators` is empty)."""
        raise ValueError(f"{self.name} has no update operator to choose")
