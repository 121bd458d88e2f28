"""Methods the engine can train: a plain dict from ``model.method`` to builders (STYLE.md section 7).

Each entry turns an :class:`ExperimentConfig` into explicit arguments for the method's library code, so no config
object crosses below ``engine``. A new method registers a :class:`MethodSpec` in :data:`METHODS`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from vokit.engine.configs import ExperimentConfig
from vokit.errors import VokitError
from vokit.methods.batch import ClipBatch, StepOutput

TrainingStep = Callable[[nn.Module, ClipBatch, int, bool], StepOutput]
"""``(model, batch, step, want_images) -> StepOutput``."""


@dataclass(frozen=True)
class MethodSpec:
    """How to build and train one method.

    Attributes:
        build_model: config -> model bundle (an ``nn.Module``; the thing checkpoints hold).
        make_training_step: config -> the training step with the config's loss settings bound.
    """

    build_model: Callable[[ExperimentConfig], nn.Module]
    make_training_step: Callable[[ExperimentConfig], TrainingStep]


def _build_monodepth2(config: ExperimentConfig) -> nn.Module:
    from vokit.methods.monodepth2 import Monodepth2Model

    m = config.model
    return Monodepth2Model(
        num_layers=m.num_layers, width=m.width, num_scales=config.loss.num_scales, min_depth=m.min_depth,
        max_depth=m.max_depth, input_size=(config.data.height, config.data.width),
        pose_rotation_scale=m.pose_rotation_scale,
    )


def _step_monodepth2(config: ExperimentConfig) -> TrainingStep:
    from vokit.methods.monodepth2 import Monodepth2LossParams, training_step

    loss = config.loss
    params = Monodepth2LossParams(
        smoothness_weight=loss.smoothness_weight, use_automask=loss.use_automask,
        use_min_reprojection=loss.use_min_reprojection, use_ssim=loss.use_ssim,
        use_full_res_multiscale=loss.use_full_res_multiscale,
    )
    return partial(_call_step, training_step, params)


def _build_coopnet(config: ExperimentConfig) -> nn.Module:
    from vokit.methods.coopnet import CoopNetModel

    m = config.model
    return CoopNetModel(
        num_layers=m.num_layers, width=m.width, flow_width=m.flow_width, flow_levels=m.flow_levels,
        num_scales=config.loss.num_scales, min_depth=m.min_depth, max_depth=m.max_depth,
        input_size=(config.data.height, config.data.width), apportion_history=config.loss.apportion_history,
        pose_rotation_scale=m.pose_rotation_scale, flow_normalize_cost=m.flow_normalize_cost,
    )


def _step_coopnet(config: ExperimentConfig) -> TrainingStep:
    from vokit.methods.coopnet import CoopNetLossParams, training_step

    loss = config.loss
    params = CoopNetLossParams(
        smoothness_weight=loss.smoothness_weight, consistency_weight=loss.consistency_weight,
        flow_smoothness_weight=loss.flow_smoothness_weight, use_automask=loss.use_automask,
        use_ssim=loss.use_ssim, consistency_two_way=loss.consistency_two_way,
        use_apportionment=loss.use_apportionment, apportion_every=loss.apportion_every,
        rigid_warmup=loss.rigid_warmup,
    )
    return partial(_call_step, training_step, params)


def _call_step(fn: Callable[..., StepOutput], params: object, model: nn.Module, batch: ClipBatch, step: int,
               want_images: bool) -> StepOutput:
    return fn(model, batch, step=step, want_images=want_images, params=params)


METHODS: dict[str, MethodSpec] = {
    "monodepth2": MethodSpec(build_model=_build_monodepth2, make_training_step=_step_monodepth2),
    "coopnet": MethodSpec(build_model=_build_coopnet, make_training_step=_step_coopnet),
}


def get_method(name: str) -> MethodSpec:
    """The registered method ``name``; raises :class:`VokitError` listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise VokitError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}") from None
