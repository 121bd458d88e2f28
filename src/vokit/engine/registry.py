"""The engine's view of the method registry: a config bound to a registered method (STYLE.md section 7).

Methods and their names live in :mod:`vokit.methods.registry`; this module holds no names. It is where a config
becomes explicit arguments for a method (settings, model, training step),
so no config object crosses below ``engine``. A method's ``settings_type`` fields are filled by name from the
config's ``model`` section, then its ``loss`` section; fields the config does not have keep the method's
defaults. The training image size (``data.height`` x ``data.width``) is the model's ``input_size``.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn

from vokit.engine.configs import ExperimentConfig
from vokit.errors import VokitError
from vokit.methods import registry
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.interface import Method

TrainingStep = Callable[[nn.Module, ClipBatch, int, bool], StepOutput]
"""``(model, batch, step, want_images) -> StepOutput``."""


def method_settings(method: Method, config: ExperimentConfig) -> Any:
    """``method.settings_type`` filled from ``config.model`` and ``config.loss`` (see the module docstring).

    Raises:
        VokitError: ``settings_type`` is not a dataclass.
    """
    cls = method.settings_type
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise VokitError(f"method {method.name!r}: settings_type must be a dataclass type")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        for section in (config.model, config.loss):
            if hasattr(section, f.name):
                values[f.name] = getattr(section, f.name)
                break
    return cls(**values)


def training_input_size(config: ExperimentConfig) -> tuple[int, int]:
    """(H, W) the model trains at: the data section's image size."""
    return (config.data.height, config.data.width)


@dataclass(frozen=True)
class BoundMethod:
    """A method with a config's settings bound.

    Attributes:
        method: the registered method.
        build_model: config -> fresh model (the thing checkpoints hold).
        make_training_step: config -> the training step with the config's settings bound.
    """

    method: Method
    build_model: Callable[[ExperimentConfig], nn.Module]
    make_training_step: Callable[[ExperimentConfig], TrainingStep]


def _build(method: Method, config: ExperimentConfig) -> nn.Module:
    return method.build_model(method_settings(method, config), training_input_size(config))


def _make_step(method: Method, config: ExperimentConfig) -> TrainingStep:
    return partial(_call_step, method, method_settings(method, config))


def _call_step(method: Method, settings: Any, model: nn.Module, batch: ClipBatch, step: int,
               want_images: bool) -> StepOutput:
    return method.training_step(model, batch, step, want_images, settings)


def get_method(name: str) -> BoundMethod:
    """The registered method ``name`` with config binders; raises :class:`VokitError` listing the known ones."""
    method = registry.get_method(name)
    return BoundMethod(method=method, build_model=partial(_build, method),
                       make_training_step=partial(_make_step, method))
