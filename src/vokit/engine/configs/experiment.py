"""The whole experiment: one config composed of the component configs."""

from dataclasses import dataclass, field

import tyro

from vokit.engine.configs.data import DataConfig
from vokit.engine.configs.log import LogConfig
from vokit.engine.configs.loss import LossConfig
from vokit.engine.configs.model import ModelConfig
from vokit.engine.configs.optim import OptimConfig
from vokit.engine.configs.train import TrainConfig


@dataclass(frozen=True)
class ExperimentConfig:
    """A complete training experiment."""

    preset: tyro.conf.Suppress[str] = "custom"
    """Name of the preset this config started from (recorded in the saved YAML)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
