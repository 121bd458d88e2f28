"""Frozen dataclass configs of a training experiment; only ``engine`` and ``cli`` see them (STYLE.md section 7)."""

from vokit.engine.configs.data import DataConfig
from vokit.engine.configs.experiment import ExperimentConfig
from vokit.engine.configs.log import LogConfig
from vokit.engine.configs.loss import LossConfig
from vokit.engine.configs.model import ModelConfig
from vokit.engine.configs.optim import OptimConfig
from vokit.engine.configs.train import TrainConfig

__all__ = ["DataConfig", "ExperimentConfig", "LogConfig", "LossConfig", "ModelConfig", "OptimConfig", "TrainConfig"]
