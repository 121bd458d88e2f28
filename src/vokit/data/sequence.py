"""One sequence type whatever the source: lazy frames, timestamps, intrinsics and optional ground truth.

A `Sequence` holds only light metadata (timestamps, intrinsics, poses) in memory and loads images, depth, flow
and motion masks on access through loader callables supplied by a reader or the synthetic world. `Clip`
stacks a few frames for training, and `ClipSampler` draws clips at random starts.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from vokit.errors import VokitError

ImageLoader = Callable[[int], Tensor]
"""Returns frame i's image as a float RGB tensor (3, H, W) in [0, 1]."""


@dataclass(frozen=True)
class Frame:
    """One frame of a sequence with its optional ground truth.

    Attributes:
        image: RGB image in [0, 1], channels first.
        intrinsics: (fx, fy, cx, cy) in pixels of ``image``.
        timestamp: capture time in seconds.
        index: position of the frame in its `Sequence`.
        world_from_cam: ground-truth camera pose [t, q_xyzw]; its translation is the camera centre in metres.
        depth: ground-truth z-depth in metres, 0 where invalid.
        flow: ground-truth forward optical flow to the next frame, destination minus source, in pixels; NaN where
            unknown (e.g. the last frame of a sequence).
        motion_mask: True on pixels of independently moving objects.
    """

    image: Float[Tensor, "3 H W"]
    intrinsics: Float[Tensor, "4"]
    timestamp: float
    index: int
    world_from_cam: Float[Tensor, "7"] | None = None
    depth: Float[Tensor, "H W"] | None = None
    flow: Float[Tensor, "H W 2"] | None = None
    motion_mask: Bool[Tensor, "H W"] | None = None


@dataclass(frozen=True)
class Clip:
    """A few frames of one sequence stacked for training (n frames, in the order they were sampled).

    Attributes:
        images: RGB images in [0, 1].
        intrinsics: (fx, fy, cx, cy) per frame, in pixels.
        timestamps: capture times in seconds (float64).
        indices: the frames' indices in their sequence.
        world_from_cam: ground-truth poses [t, q_xyzw], metres.
        depth: ground-truth z-depth in metres, 0 where invalid.
        flow: forward flow of each frame to the next frame of the *sequence* (not of the clip), pixels.
        motion_mask: True on independently moving pixels.
    """

    images: Float[Tensor, "n 3 H W"]
    intrinsics: Float[Tensor, "n 4"]
    timestamps: Float[Tensor, " n"]
    indices: Int[Tensor, " n"]
    world_from_cam: Float[Tensor, "n 7"] | None = None
    depth: Float[Tensor, "n H W"] | None = None
    flow: Float[Tensor, "n H W 2"] | None = None
    motion_mask: Bool[Tensor, "n H W"] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


class Sequence:
    """A sequence of frames with lazily loaded images and optional ground truth.

    Args:
        name: a short name (used in reports and output files).
        timestamps: capture times in seconds, shape (N,); stored as float64.
        intrinsics: (fx, fy, cx, cy) in pixels, shape (N, 4) or (4,) for all frames.
        image_size: (H, W) of every image.
        load_image: i -> float RGB (3, H, W) in [0, 1].
        world_from_cam: ground-truth poses (N, 7) [t, q_xyzw], metres; None when absent.
        load_depth: i -> z-depth (H, W) in metres, 0 = invalid; None when absent.
        load_flow: i -> forward flow (H, W, 2) in pixels to frame i + 1; None when absent.
        load_motion_mask: i -> bool (H, W); None when absent.
        source: the file or folder the sequence was read from, if any.
        calibration_source: where the intrinsics came from, in words (e.g. ``"calib.txt"``, ``"--calib"``), for
            run configs and reports; None when unknown.

    Raises:
        VokitError: on inconsistent lengths, non-finite or non-positive intrinsics, or non-finite poses.
    """

    def __init__(
        self,
        name: str,
        timestamps: Float[Tensor, " N"] | np.ndarray | list[float] | list[int],
        intrinsics: Float[Tensor, "N 4"] | Float[Tensor, "4"] | np.ndarray,
        image_size: tuple[int, int],
        load_image: ImageLoader,
        world_from_cam: Float[Tensor, "N 7"] | np.ndarray | None = None,
        load_depth: Callable[[int], Tensor] | None = None,
        load_flow: Callable[[int], Tensor] | None = None,
        load_motion_mask: Callable[[int], Tensor] | None = None,
        source: str | Path | None = None,
        calibration_source: str | None = None,
    ) -> None:
        self.name = name
        self.source = None if source is None else Path(source)
        self.calibration_source = calibration_source
        self.timestamps = torch.as_tensor(np.asarray(timestamps, dtype=np.float64)).reshape(-1)
        n = int(self.timestamps.shape[0])
        k = torch.as_tensor(intrinsics).to(torch.float32)
        if k.shape == (4,):
            k = k.expand(n, 4).clone()
        if k.shape != (n, 4):
            raise VokitError(f"intrinsics have shape {tuple(k.shape)}, expected ({n}, 4) or (4,)", self.source)
        if not bool(torch.isfinite(k).all()) or bool((k[:, :2] <= 0).any()):
            raise VokitError("intrinsics must be finite with positive focal lengths", self.source)
        self.intrinsics = k
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.world_from_cam: Tensor | None = None
        if world_from_cam is not None:
            poses = torch.as_tensor(np.asarray(world_from_cam)).to(torch.float64)
            if poses.shape != (n, 7):
                raise VokitError(f"world_from_cam has shape {tuple(poses.shape)}, expected ({n}, 7)", self.source)
            if not bool(torch.isfinite(poses).all()):
                raise VokitError("world_from_cam contains non-finite values", self.source)
            self.world_from_cam = poses
        self._load_image = load_image
        self._load_depth = load_depth
        self._load_flow = load_flow
        self._load_motion_mask = load_motion_mask

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def __repr__(self) -> str:
        extras = [
            n
            for n, f in (
                ("poses", self.has_poses),
                ("depth", self.has_depth),
                ("flow", self.has_flow),
                ("motion_mask", self.has_motion_mask),
            )
            if f
        ]
        h, w = self.image_size
        return f"Sequence({self.name!r}, {len(self)} frames, {h}x{w}, ground truth: {extras or 'none'})"

    @property
    def has_poses(self) -> bool:
        """Whether ground-truth ``world_from_cam`` poses are present."""
        return self.world_from_cam is not None

    @property
    def has_depth(self) -> bool:
        """Whether ground-truth depth is present."""
        return self._load_depth is not None

    @property
    def has_flow(self) -> bool:
        """Whether ground-truth forward flow is present."""
        return self._load_flow is not None

    @property
    def has_motion_mask(self) -> bool:
        """Whether ground-truth motion masks are present."""
        return self._load_motion_mask is not None

    def _check_index(self, index: int) -> int:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame index {index} out of range for sequence {self.name!r} of {n} frames")
        return i

    def _checked(self, what: str, value: Tensor, shape: tuple[int, ...], i: int) -> Tensor:
        if tuple(value.shape) != shape:
            raise VokitError(
                f"{what} of frame {i} has shape {tuple(value.shape)}, expected {shape} "
                f"(all frames of sequence {self.name!r} must have size {self.image_size[0]}x{self.image_size[1]})",
                self.source,
            )
        return value

    def image(self, index: int) -> Float[Tensor, "3 H W"]:
        """Frame ``index``'s image alone (RGB in [0, 1]); no ground truth is decoded."""
        i = self._check_index(index)
        return self._checked("image", self._load_image(i), (3, *self.image_size), i)

    def frame_intrinsics(self, index: int) -> Float[Tensor, "4"]:
        """Frame ``index``'s ``(fx, fy, cx, cy)`` in pixels."""
        return self.intrinsics[self._check_index(index)].clone()

    def pose(self, index: int) -> Float[Tensor, "7"] | None:
        """Frame ``index``'s ground-truth ``world_from_cam`` [t, q_xyzw] (metres), None when absent."""
        i = self._check_index(index)
        return None if self.world_from_cam is None else self.world_from_cam[i].clone()

    def depth(self, index: int) -> Float[Tensor, "H W"] | None:
        """Frame ``index``'s ground-truth z-depth (metres, 0 = invalid) alone, None when absent."""
        i = self._check_index(index)
        if self._load_depth is None:
            return None
        return self._checked("depth", self._load_depth(i), self.image_size, i)

    def flow(self, index: int) -> Float[Tensor, "H W 2"] | None:
        """Frame ``index``'s ground-truth forward flow (pixels) alone, None when absent."""
        i = self._check_index(index)
        if self._load_flow is None:
            return None
        return self._checked("flow", self._load_flow(i), (*self.image_size, 2), i)

    def motion_mask(self, index: int) -> Bool[Tensor, "H W"] | None:
        """Frame ``index``'s ground-truth moving-object mask alone, None when absent."""
        i = self._check_index(index)
        if self._load_motion_mask is None:
            return None
        return self._checked("motion mask", self._load_motion_mask(i), self.image_size, i).to(torch.bool)

    def __getitem__(self, index: int) -> Frame:
        """Load frame ``index`` (negative indices count from the end) with whatever ground truth exists.

        Decodes everything; :meth:`image`, :meth:`depth`, :meth:`flow`, :meth:`motion_mask` and :meth:`pose` load
        one field alone.
        """
        i = self._check_index(index)
        return Frame(
            image=self.image(i),
            intrinsics=self.frame_intrinsics(i),
            timestamp=float(self.timestamps[i]),
            index=i,
            world_from_cam=self.pose(i),
            depth=self.depth(i),
            flow=self.flow(i),
            motion_mask=self.motion_mask(i),
        )

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self[i]

    def subsequence(self, start: int = 0, stop: int | None = None, stride: int = 1) -> "Sequence":
        """Frames ``start:stop:stride`` as a new lazy `Sequence` (frame indices are renumbered from 0).

        Ground-truth flow is dropped when ``stride != 1``, because it points to the next frame of the
        original sequence, not of the subsequence.
        """
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        picked = list(range(len(self)))[start:stop:stride]

        def remap(fn: Callable[[int], Tensor] | None) -> Callable[[int], Tensor] | None:
            return None if fn is None else (lambda i: fn(picked[i]))

        idx = torch.as_tensor(picked, dtype=torch.long)
        return Sequence(
            name=self.name,
            timestamps=self.timestamps[idx],
            intrinsics=self.intrinsics[idx],
            image_size=self.image_size,
            load_image=lambda i: self._load_image(picked[i]),
            world_from_cam=None if self.world_from_cam is None else self.world_from_cam[idx],
            load_depth=remap(self._load_depth),
            load_flow=remap(self._load_flow) if stride == 1 else None,
            load_motion_mask=remap(self._load_motion_mask),
            source=self.source,
            calibration_source=self.calibration_source,
        )

    def with_calibration(
        self,
        intrinsics: Float[Tensor, "4"] | np.ndarray,
        calibration_source: str,
        image_transform: Callable[[Tensor], Tensor] | None = None,
    ) -> "Sequence":
        """The same frames with other intrinsics (a calibration override), all ground truth kept.

        Args:
            intrinsics: (fx, fy, cx, cy) in pixels of the (transformed) images, for every frame.
            calibration_source: where they came from, in words.
            image_transform: applied to every image after loading (e.g. undistortion with the new calibration);
                ground-truth depth, flow and masks are not resampled.
        """
        load = self._load_image if image_transform is None else (lambda i: image_transform(self._load_image(i)))
        return Sequence(
            name=self.name, timestamps=self.timestamps, intrinsics=torch.as_tensor(intrinsics),
            image_size=self.image_size, load_image=load, world_from_cam=self.world_from_cam,
            load_depth=self._load_depth, load_flow=self._load_flow, load_motion_mask=self._load_motion_mask,
            source=self.source, calibration_source=calibration_source,
        )

    def clip(self, indices: list[int]) -> Clip:
        """Load the frames ``indices`` and stack them into a `Clip`."""
        frames = [self[i] for i in indices]

        def stack(values: list[Tensor | None]) -> Tensor | None:
            present = [v for v in values if v is not None]
            return torch.stack(present) if len(present) == len(values) and present else None

        return Clip(
            images=torch.stack([f.image for f in frames]),
            intrinsics=torch.stack([f.intrinsics for f in frames]),
            timestamps=torch.tensor([f.timestamp for f in frames], dtype=torch.float64),
            indices=torch.tensor([f.index for f in frames], dtype=torch.long),
            world_from_cam=stack([f.world_from_cam for f in frames]),
            depth=stack([f.depth for f in frames]),
            flow=stack([f.flow for f in frames]),
            motion_mask=stack([f.motion_mask for f in frames]),
        )


class ClipSampler:
    """Draws clips of ``n_frames`` frames spaced by ``stride`` at uniformly random starts.

    Args:
        sequence: the sequence to sample from.
        n_frames: frames per clip (>= 1).
        stride: index step between consecutive clip frames (>= 1).
        min_motion_m: if > 0, only starts whose clip moves the camera centre by at least this many metres
            between its first and last frame are drawn (needs ground-truth poses).
        generator: the random generator; a fixed seed gives a fixed series of clips.

    Raises:
        VokitError: when the sequence is too short, or no start satisfies ``min_motion_m``.
    """

    def __init__(
        self,
        sequence: Sequence,
        n_frames: int,
        stride: int = 1,
        min_motion_m: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if n_frames < 1 or stride < 1:
            raise ValueError(f"n_frames and stride must be >= 1, got {n_frames} and {stride}")
        self.sequence = sequence
        self.n_frames = n_frames
        self.stride = stride
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        span = (n_frames - 1) * stride
        n_starts = len(sequence) - span
        if n_starts < 1:
            raise VokitError(
                f"sequence {sequence.name!r} has {len(sequence)} frames, too few for clips of {n_frames} frames "
                f"with stride {stride}",
                sequence.source,
            )
        starts = torch.arange(n_starts)
        if min_motion_m > 0:
            if sequence.world_from_cam is None:
                raise VokitError(
                    f"min_motion_m={min_motion_m} needs ground-truth poses; sequence {sequence.name!r} has none",
                    sequence.source,
                )
            centres = sequence.world_from_cam[:, :3]
            moved = (centres[starts + span] - centres[starts]).norm(dim=-1)
            starts = starts[moved >= min_motion_m]
            if starts.numel() == 0:
                raise VokitError(
                    f"no clip of sequence {sequence.name!r} moves at least {min_motion_m} m "
                    f"(largest motion {float(moved.max()):.3g} m)",
                    sequence.source,
                )
        self.starts = starts

    def clip_indices(self, start: int) -> list[int]:
        """Frame indices of the clip starting at ``start``."""
        return [start + k * self.stride for k in range(self.n_frames)]

    def sample(self) -> Clip:
        """Draw one clip at a random valid start."""
        pick = int(torch.randint(int(self.starts.numel()), (1,), generator=self.generator))
        return self.sequence.clip(self.clip_indices(int(self.starts[pick])))

    def __iter__(self) -> Iterator[Clip]:
        """Yield clips forever (the caller decides how many)."""
        while True:
            yield self.sample()
