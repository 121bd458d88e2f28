"""Online feature alignment: target feature statistics pulled onto the source's (METHODS.md section 7.4).

Per chosen layer (default: the ResNet stages layer1-layer4 of both encoders, :data:`DEFAULT_LAYERS`) the source
statistics ``(mu_s, sigma_s^2)`` are per-channel means and variances over all pixels and images of source frames
(:func:`source_statistics`). Online, :class:`FeatureAlignment` keeps running target statistics, initialised from the
first frame and updated with momentum m before each frame is normalised, ``mu_t <- (1 - m) mu_t + m mu(f)`` (and
likewise the variance), and replaces the layer's output by ``f' = sigma_s (f - mu_t) / sigma_t + mu_s`` with
``sigma = sqrt(sigma^2 + eps)``. The statistics are buffers without gradient; the aligned features feed prediction
and the adaptation loss alike. Statistics are updated only while :attr:`FeatureAlignment.updating` is True (the
prediction pass), not when an adaptation step re-runs a window.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

DEFAULT_LAYERS: tuple[str, ...] = tuple(
    f"{net}.encoder.layer{k}" for net in ("depth_net", "pose_net") for k in range(1, 5)
)
"""Module paths of the aligned layers in a depth + pose model."""

MOMENTUM = 0.1
EPS = 1e-5


@dataclass(frozen=True)
class LayerStats:
    """Per-channel mean and (biased) variance of a feature map over images and pixels, ``(C,)`` each."""

    mean: Float[Tensor, " C"]
    var: Float[Tensor, " C"]


def feature_statistics(feature: Float[Tensor, "B C H W"]) -> LayerStats:
    """Per-channel mean and variance of ``feature`` over the batch and all pixels (no gradient)."""
    flat = feature.detach().transpose(0, 1).flatten(1).double()
    return LayerStats(flat.mean(dim=1).to(feature.dtype), flat.var(dim=1, unbiased=False).to(feature.dtype))


def align(feature: Float[Tensor, "B C H W"], source: LayerStats, target: LayerStats, eps: float = EPS
          ) -> Float[Tensor, "B C H W"]:
    """``sigma_s (f - mu_t) / sigma_t + mu_s`` per channel, ``sigma = sqrt(var + eps)``."""
    def per_channel(x: Tensor) -> Tensor:
        return x.to(feature.dtype).view(1, -1, 1, 1)

    scale = per_channel(torch.sqrt(source.var + eps) / torch.sqrt(target.var + eps))
    return (feature - per_channel(target.mean)) * scale + per_channel(source.mean)


class FeatureAlignment:
    """Running target statistics and the re-normalisation hooks on a model's layers.

    Args:
        source: source statistics per module path (e.g. ``depth_net.encoder.layer1``).
        momentum: m of the running update.
        eps: added to variances before the square root.
    """

    def __init__(self, source: Mapping[str, LayerStats], momentum: float = MOMENTUM, eps: float = EPS) -> None:
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.source = dict(source)
        self.momentum = momentum
        self.eps = eps
        self.target: dict[str, LayerStats] = {}
        self.updating = True
        self._handles: list[RemovableHandle] = []

    def reset(self) -> None:
        """Forget the target statistics (a new sequence starts)."""
        self.target = {}

    def update(self, name: str, feature: Tensor) -> LayerStats:
        """Fold one frame's statistics into the running target statistics of layer ``name``; returns them."""
        current = feature_statistics(feature)
        previous = self.target.get(name)
        if previous is None:
            self.target[name] = current
        else:
            m = self.momentum
            self.target[name] = LayerStats((1 - m) * previous.mean + m * current.mean,
                                           (1 - m) * previous.var + m * current.var)
        return self.target[name]

    def apply(self, name: str, feature: Tensor) -> Tensor:
        """The aligned feature of layer ``name`` (updating its statistics first when :attr:`updating`)."""
        if self.updating or name not in self.target:
            self.update(name, feature)
        return align(feature, self.source[name], self.target[name], self.eps)

    def attach(self, model: nn.Module) -> None:
        """Hook every layer of :attr:`source` in ``model`` (its output is replaced by the aligned one)."""
        self.detach()
        for name in self.source:
            module = model.get_submodule(name)
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def detach(self) -> None:
        """Remove the hooks (the model computes its plain features again)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
            del module, inputs
            return self.apply(name, output)

        return hook


def source_statistics(model: nn.Module, batches: Iterable[Sequence[Tensor]], layers: Sequence[str] = DEFAULT_LAYERS
                      ) -> dict[str, LayerStats]:
    """Per-channel statistics of ``layers`` over all pixels of all source frames.

    Args:
        model: a depth + pose model (plain or recurrent networks; memories start at zero for every batch).
        batches: ``(images, next_images)`` pairs of ``(B, 3, H, W)`` network inputs; the depth network sees
            ``images``, the pose network the pairs.
        layers: module paths to record.

    Returns:
        :class:`LayerStats` per layer (float64 accumulation).
    """
    sums: dict[str, list[Tensor]] = {}

    def recorder(name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            flat = output.detach().transpose(0, 1).flatten(1).double()
            acc = [flat.sum(1), (flat * flat).sum(1), torch.tensor(float(flat.shape[1]), dtype=torch.float64)]
            sums[name] = acc if name not in sums else [a + b for a, b in zip(sums[name], acc, strict=True)]
        return hook

    handles = [model.get_submodule(name).register_forward_hook(recorder(name)) for name in layers]
    try:
        with torch.no_grad():
            depth_net, pose_net = model.get_submodule("depth_net"), model.get_submodule("pose_net")
            for images, next_images in batches:
                depth_net(images)
                pose_net(images, next_images)
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in layers if name not in sums]
    if missing:
        raise ValueError(f"layers {missing} saw no data")
    stats = {}
    for name, (total, squares, count) in sums.items():
        mean = total / count
        stats[name] = LayerStats(mean.float(), (squares / count - mean * mean).clamp_min(0).float())
    return stats
