"""What a training step consumes and returns: a batch of clips and the step's outputs."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.data.sequence import Clip


@dataclass(frozen=True)
class ClipBatch:
    """B clips of N frames each, stacked; frames in temporal order, the target is frame ``N // 2``.

    Attributes:
        images: RGB in [0, 1] for the losses (never colour-jittered).
        net_images: RGB in [0, 1] fed to the networks (colour-jittered during training, else ``images``).
        intrinsics: (fx, fy, cx, cy) per frame, pixels of ``images``.
        world_from_cam: ground-truth poses [t, q_xyzw], metres, when every clip has them.
        depth: ground-truth z-depth in metres (0 = invalid), when every clip has it.
        flow: ground-truth forward flow to the next sequence frame, pixels, when every clip has it.
        motion_mask: ground-truth moving-object masks, when every clip has them.
    """

    images: Float[Tensor, "B N 3 H W"]
    net_images: Float[Tensor, "B N 3 H W"]
    intrinsics: Float[Tensor, "B N 4"]
    world_from_cam: Float[Tensor, "B N 7"] | None = None
    depth: Float[Tensor, "B N H W"] | None = None
    flow: Float[Tensor, "B N H W 2"] | None = None
    motion_mask: Bool[Tensor, "B N H W"] | None = None

    @property
    def target_index(self) -> int:
        """Index of the target frame in each clip (the middle frame)."""
        return int(self.images.shape[1]) // 2

    @property
    def batch_size(self) -> int:
        """Number of clips B."""
        return int(self.images.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "ClipBatch":
        """The same batch on ``device`` (floating tensors keep their dtype)."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return replace(
            self,
            images=self.images.to(device, non_blocking=non_blocking),
            net_images=self.net_images.to(device, non_blocking=non_blocking),
            intrinsics=self.intrinsics.to(device, non_blocking=non_blocking),
            world_from_cam=move(self.world_from_cam),
            depth=move(self.depth),
            flow=move(self.flow),
            motion_mask=move(self.motion_mask),
        )


def collate_clips(clips: Sequence[Clip], net_images: Sequence[Tensor] | None = None) -> ClipBatch:
    """Stack clips of equal length and size into a :class:`ClipBatch`.

    Ground truth is kept only when every clip has it. Poses become float32.

    Args:
        clips: the clips, each (N, 3, H, W).
        net_images: per clip, the network inputs (N, 3, H, W) (e.g. colour-jittered); default the clips' images.

    Returns:
        The batch.
    """
    if not clips:
        raise ValueError("collate_clips needs at least one clip")
    if net_images is not None and len(net_images) != len(clips):
        raise ValueError(f"{len(net_images)} network inputs for {len(clips)} clips")

    def stack(values: list[Tensor | None]) -> Tensor | None:
        if any(v is None for v in values):
            return None
        return torch.stack([v for v in values if v is not None])

    images = torch.stack([c.images for c in clips])
    poses = stack([c.world_from_cam for c in clips])
    return ClipBatch(
        images=images,
        net_images=images if net_images is None else torch.stack(list(net_images)),
        intrinsics=torch.stack([c.intrinsics for c in clips]).to(torch.float32),
        world_from_cam=None if poses is None else poses.to(torch.float32),
        depth=stack([c.depth for c in clips]),
        flow=stack([c.flow for c in clips]),
        motion_mask=stack([c.motion_mask for c in clips]),
    )


@dataclass(frozen=True)
class StepOutput:
    """What one training step returns to the engine.

    Attributes:
        loss: the scalar to minimise (with gradient).
        scalars: named detached 0-d tensors to log, e.g. loss terms, ``lambda_R`` (the engine converts them to
            floats only when it logs, so a step does not wait for the device).
        images: named image panels to log, each (3, h, w) RGB in [0, 1]; empty unless asked for.
    """

    loss: Float[Tensor, ""]
    scalars: Mapping[str, Tensor] = field(default_factory=dict)
    images: Mapping[str, Float[Tensor, "3 h w"]] = field(default_factory=dict)
