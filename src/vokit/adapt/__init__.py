"""vokit.adapt: online adaptation of self-supervised VO networks (METHODS.md section 7).

The window loss (:mod:`~vokit.adapt.window`), meta-training's inner / outer objective (:mod:`~vokit.adapt.meta`),
online feature alignment (:mod:`~vokit.adapt.alignment`) and the predict-then-adapt loop
(:mod:`~vokit.adapt.online`); docs/adaptation.md shows them at work.
"""

from vokit.adapt.alignment import DEFAULT_LAYERS, FeatureAlignment, LayerStats, source_statistics
from vokit.adapt.meta import MetaLoss, Window, meta_objective, window_pair_loss_fn
from vokit.adapt.online import AdaptSettings, OnlineAdapter, OnlineStep
from vokit.adapt.window import VOState, WindowOutputs, run_window, window_loss

__all__ = [
    "DEFAULT_LAYERS",
    "AdaptSettings",
    "FeatureAlignment",
    "LayerStats",
    "MetaLoss",
    "OnlineAdapter",
    "OnlineStep",
    "VOState",
    "Window",
    "WindowOutputs",
    "meta_objective",
    "run_window",
    "source_statistics",
    "window_loss",
    "window_pair_loss_fn",
]
