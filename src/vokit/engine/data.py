"""Training clips: which sequences, which windows, and a step-keyed sampler that makes batches reproducible.

The batch of optimisation step k is a pure function of ``(train.seed, k)``: the sampler draws the global batch
(``batch_size x world_size`` clips: sequence window, horizontal flip, colour-jitter seed) from a numpy
``SeedSequence([seed, k])`` and each process takes its own contiguous slice, like a ``DistributedSampler``. So a
resumed run sees exactly the batches an uninterrupted run would have seen, whatever the number of DataLoader
workers, and the sampler's "generator state" is fully described by the step (which checkpoints record).
"""

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from vokit.data.augment import color_jitter, hflip_clip
from vokit.data.sequence import Clip, ClipSampler, Frame
from vokit.data.sequence import Sequence as FrameSequence
from vokit.engine.configs import DataConfig
from vokit.errors import VokitError
from vokit.geometry import camera
from vokit.methods.batch import ClipBatch, collate_clips


@dataclass(frozen=True)
class ClipSpec:
    """One training clip: a window (index into :attr:`TrainingData.windows`) and its augmentation draw."""

    window: int
    hflip: bool
    jitter_seed: int


@dataclass(frozen=True)
class TrainingData:
    """Sequences and the clip windows ``(sequence index, first frame index)`` that training samples from."""

    sequences: list[FrameSequence]
    windows: list[tuple[int, int]]


def data_root(config: DataConfig, default_subdir: str) -> Path:
    """The dataset root: ``config.root``, else ``$VOKIT_DATA_ROOT/<default_subdir>``.

    Raises:
        VokitError: neither is set, or the folder does not exist.
    """
    if config.root is not None:
        root = Path(config.root).expanduser()
    elif os.environ.get("VOKIT_DATA_ROOT"):
        root = Path(os.environ["VOKIT_DATA_ROOT"]).expanduser() / default_subdir
    else:
        raise VokitError(
            f"data source {config.source!r} needs a dataset folder: pass --data /path/to/{default_subdir} "
            "(or set VOKIT_DATA_ROOT)"
        )
    if not root.is_dir():
        raise VokitError(f"dataset folder for {config.source!r} does not exist", root)
    return root


def build_training_data(config: DataConfig) -> TrainingData:
    """Open the training sequences of a data config and list their clip windows.

    Args:
        config: the data section of the experiment.

    Returns:
        The sequences and windows.

    Raises:
        VokitError: missing dataset, or no window long enough for a clip.
    """
    if config.source == "synthetic":
        sequences = _synthetic_sequences(config)
        windows = _clip_windows(sequences, config)
        return TrainingData(sequences, windows)
    if config.source == "kitti-raw":
        return _kitti_raw_data(config)
    if config.source == "tartanair":
        return _tartanair_data(config)
    if config.source == "scannet":
        return _scannet_data(config)
    raise VokitError(f"unknown data source {config.source!r}")


def _clip_windows(sequences: list[FrameSequence], config: DataConfig) -> list[tuple[int, int]]:
    """Every ``(sequence, start)`` whose clip of ``config.clip_frames`` frames at ``config.frame_stride`` fits."""
    return [
        (k, int(start))
        for k, seq in enumerate(sequences)
        for start in ClipSampler(seq, config.clip_frames, config.frame_stride).starts.tolist()
    ]


def _synthetic_sequences(config: DataConfig) -> list[FrameSequence]:
    from vokit.data.synthetic import make_sequence
    from vokit.data.synthetic.domain import split_seed

    if config.scenes and config.domain is not None:
        raise VokitError(f"data.domain ({config.domain}) applies to one scene: leave it unset with data.scenes "
                         f"({', '.join(config.scenes)}), whose sequences use each scene's default domain")
    mix = config.scenes or (config.scene,)
    return [
        make_sequence(
            scene=mix[i % len(mix)],
            n_frames=config.sequence_frames,
            seed=split_seed("train", config.first_sequence + i),
            height=config.height,
            width=config.width,
            domain=config.domain,
            cache_dir=config.cache_dir,
            textures=config.textures,
        )
        for i in range(config.n_sequences)
    ]


def _tartanair_data(config: DataConfig) -> TrainingData:
    """Every TartanAir trajectory folder (one holding ``pose_left.txt``) below the root, sorted by path."""
    from vokit.data.readers.tartanair import read_tartanair

    root = data_root(config, "tartanair")
    folders = sorted(p.parent for p in root.rglob("pose_left.txt"))
    if not folders:
        raise VokitError("no TartanAir trajectory (a folder with pose_left.txt and image_left/) below", root)
    sequences = [read_tartanair(folder, name=str(folder.relative_to(root))) for folder in folders]
    windows = _clip_windows(sequences, config)
    if not windows:
        raise VokitError(f"no TartanAir trajectory has {config.clip_frames} frames for a clip", root)
    return TrainingData(sequences, windows)


def split_file_path(root: Path, split: str) -> Path:
    """The training file list of a KITTI raw split: ``split`` itself when it is a file, else a known location.

    Looked up, in order: ``<root>/splits/<split>/train_files.txt``, ``<root>/<split>/train_files.txt``.

    Raises:
        VokitError: naming where the file was expected.
    """
    given = Path(split).expanduser()
    if given.is_file():
        return given
    candidates = [root / "splits" / split / "train_files.txt", root / split / "train_files.txt"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise VokitError(
        f"no training file list for split {split!r}: put monodepth2's splits/{split}/train_files.txt at "
        f"{candidates[0]} or pass --data.split /path/to/train_files.txt"
    )


def _kitti_raw_data(config: DataConfig) -> TrainingData:
    from vokit.data.readers.kitti_raw import read_kitti_raw, read_split_file

    root = data_root(config, "kitti_raw")
    split_path = split_file_path(root, config.split)
    sequences: list[FrameSequence] = []
    first_frame: list[int] = []
    seq_of: dict[tuple[str, int], int] = {}
    half = config.clip_frames // 2
    windows = []
    for drive, frame, cam in read_split_file(split_path):
        if (drive, cam) not in seq_of:
            drive_dir = root / drive
            if not drive_dir.is_dir():
                raise VokitError(f"drive {drive} listed in the split file is not in the dataset", drive_dir)
            seq_of[drive, cam] = len(sequences)
            sequences.append(read_kitti_raw(drive_dir, camera=cam, use_depth=False, name=f"{drive}:image_0{cam}"))
            numbers = sorted(int(p.stem) for p in (drive_dir / f"image_0{cam}" / "data").iterdir()
                             if p.stem.isdigit())
            first_frame.append(numbers[0])
        k = seq_of[drive, cam]
        start = frame - first_frame[k] - half * config.frame_stride
        if start >= 0 and start + (config.clip_frames - 1) * config.frame_stride < len(sequences[k]):
            windows.append((k, start))
    if not windows:
        raise VokitError("no sample of the split has its neighbouring frames in the dataset", split_path)
    return TrainingData(sequences, windows)


def _scannet_data(config: DataConfig) -> TrainingData:
    """Exported ScanNet scenes under the root: those a split file lists (one scene name a line), else all."""
    from vokit.data.readers.scannet import is_scannet_scene, read_scannet

    root = data_root(config, "scannet")
    split = Path(config.split).expanduser()
    if split.is_file():
        names = [ln.strip() for ln in split.read_text().splitlines() if ln.strip()]
        missing = [n for n in names if not is_scannet_scene(root / n)]
        if missing:
            raise VokitError(f"scene {missing[0]} listed in the split file is not an exported scene under {root}",
                             split)
        scenes = [root / n for n in names]
    else:
        scenes = sorted(d for d in root.iterdir() if is_scannet_scene(d))
    if not scenes:
        raise VokitError("no exported ScanNet scene (color/, pose/, intrinsic/) in the dataset folder", root)
    sequences = [read_scannet(d) for d in scenes]
    windows = _clip_windows(sequences, config)
    if not windows:
        raise VokitError(f"no scene has {config.clip_frames} frames at stride {config.frame_stride}", root)
    return TrainingData(sequences, windows)


class ClipDataset(Dataset[tuple[Clip, Tensor]]):
    """Loads the clip of a :class:`ClipSpec`, resized to the network size, flipped and colour-jittered.

    Items are ``(clip, net_images)``: the clip's images are what the losses see; ``net_images`` are the
    colour-jittered network inputs.

    Args:
        data: sequences and windows.
        config: image size, clip layout, augmentation probabilities, caching.
    """

    def __init__(self, data: TrainingData, config: DataConfig) -> None:
        self.data = data
        self.config = config
        self._cache: dict[tuple[int, int], Frame] = {}

    def _frame(self, seq: int, index: int) -> Frame:
        key = (seq, index)
        frame = self._cache.get(key)
        if frame is None:
            full = self.data.sequences[seq][index]
            # flow is not needed for training; the motion mask (cheap) feeds the motion-mask IoU logged during
            # CoopNet training; depth (when the source has it) is patchvo's supervision (METHODS.md 4.5)
            frame = _resized(Frame(full.image, full.intrinsics, full.timestamp, full.index, full.world_from_cam,
                                   depth=full.depth, motion_mask=full.motion_mask), self.config.height,
                             self.config.width)
            if self.config.cache_frames:
                self._cache[key] = frame
        return frame

    def __getitem__(self, spec: ClipSpec) -> tuple[Clip, Tensor]:  # type: ignore[override]
        cfg = self.config
        seq, start = self.data.windows[spec.window]
        frames = [self._frame(seq, start + k * cfg.frame_stride) for k in range(cfg.clip_frames)]
        poses = [f.world_from_cam for f in frames if f.world_from_cam is not None]
        masks = [f.motion_mask for f in frames if f.motion_mask is not None]
        depths = [f.depth for f in frames if f.depth is not None]
        clip = Clip(
            images=torch.stack([f.image for f in frames]),
            intrinsics=torch.stack([f.intrinsics for f in frames]),
            timestamps=torch.tensor([f.timestamp for f in frames], dtype=torch.float64),
            indices=torch.tensor([f.index for f in frames], dtype=torch.long),
            world_from_cam=torch.stack(poses) if len(poses) == len(frames) else None,
            depth=torch.stack(depths) if len(depths) == len(frames) else None,
            motion_mask=torch.stack(masks) if len(masks) == len(frames) else None,
        )
        if spec.hflip:
            clip = hflip_clip(clip)
        generator = torch.Generator().manual_seed(spec.jitter_seed)
        return clip, color_jitter(clip.images, generator, p=cfg.color_jitter_prob)

    def __len__(self) -> int:
        return len(self.data.windows)


def _resized(frame: Frame, height: int, width: int) -> Frame:
    h, w = frame.image.shape[-2:]
    if (h, w) == (height, width):
        return frame
    image = F.interpolate(frame.image[None], size=(height, width), mode="bilinear", align_corners=False,
                          antialias=True)[0].clamp(0.0, 1.0)
    intrinsics = camera.scale_intrinsics(frame.intrinsics, width / w, height / h)
    mask = depth = None
    if frame.motion_mask is not None:
        mask = F.interpolate(frame.motion_mask[None, None].float(), size=(height, width), mode="nearest")[0, 0] > 0.5
    if frame.depth is not None:
        depth = F.interpolate(frame.depth[None, None].float(), size=(height, width), mode="nearest")[0, 0]
    return Frame(image, intrinsics, frame.timestamp, frame.index, frame.world_from_cam, depth=depth, motion_mask=mask)


class StepBatchSampler(Sampler[list[ClipSpec]]):
    """Yields this process's clip specs for steps ``start_step .. total_steps - 1`` (see the module docstring).

    Args:
        n_windows: number of clip windows to draw from (with replacement).
        batch_size: clips per step and process.
        seed: the run's seed.
        start_step: first step to yield (the resumed step).
        total_steps: one past the last step.
        rank: this process's rank.
        world_size: number of processes.
        hflip_prob: probability of flipping a clip.
    """

    def __init__(self, n_windows: int, batch_size: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world_size: int = 1, hflip_prob: float = 0.5) -> None:
        if n_windows < 1:
            raise VokitError("no training clips: every sequence is shorter than one clip")
        self.n_windows = n_windows
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.total_steps = total_steps
        self.rank = rank
        self.world_size = world_size
        self.hflip_prob = hflip_prob

    def specs_for_step(self, step: int) -> list[ClipSpec]:
        """This rank's clip specs of optimisation step ``step`` (a pure function of seed, step and rank)."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, step])))
        total = self.batch_size * self.world_size
        windows = rng.integers(0, self.n_windows, size=total)
        flips = rng.random(total) < self.hflip_prob
        seeds = rng.integers(0, 2**62, size=total)
        lo = self.rank * self.batch_size
        return [ClipSpec(int(windows[i]), bool(flips[i]), int(seeds[i])) for i in range(lo, lo + self.batch_size)]

    def __iter__(self) -> Iterator[list[ClipSpec]]:
        for step in range(self.start_step, self.total_steps):
            yield self.specs_for_step(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


def _worker_init(worker_id: int) -> None:
    """DataLoader workers ignore Ctrl-C: the training process stops cleanly after its current step."""
    del worker_id
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _collate(items: list[tuple[Clip, Tensor]]) -> ClipBatch:
    return collate_clips([c for c, _ in items], [n for _, n in items])


def make_loader(
    data: TrainingData, config: DataConfig, seed: int, start_step: int, total_steps: int, rank: int = 0,
    world_size: int = 1,
) -> DataLoader[ClipBatch]:
    """A DataLoader yielding one :class:`ClipBatch` per optimisation step, from ``start_step`` on.

    Args:
        data: sequences and windows.
        config: data settings (batch size, workers, augmentation).
        seed: the run's seed.
        start_step: the first step (0, or the resumed step).
        total_steps: one past the last step.
        rank: this process's rank.
        world_size: number of processes.

    Returns:
        The loader (its batches do not depend on ``config.num_workers``).
    """
    sampler = StepBatchSampler(len(data.windows), config.batch_size, seed, start_step, total_steps, rank,
                               world_size, config.hflip_prob)
    return DataLoader(
        ClipDataset(data, config),  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=_collate,
        num_workers=config.num_workers,
        worker_init_fn=_worker_init if config.num_workers > 0 else None,
        persistent_workers=False,
        # A private generator: creating the loader's iterator must not consume the global torch RNG, whose
        # state is part of what a checkpoint restores.
        generator=torch.Generator().manual_seed(seed),
    )
