"""Where training clips come from: the synthetic world or KITTI raw, image size, clip layout, augmentation."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DataConfig:
    """Training data: source, image size, clips and augmentation."""

    source: Literal["synthetic", "kitti-raw", "tartanair", "scannet"] = "synthetic"
    """Where clips come from: the embedded synthetic world (rendered on the fly), a KITTI raw tree, a TartanAir tree
    (every trajectory folder holding a ``pose_left.txt`` below the root), or exported ScanNet scenes
    (``<root>/scene*/color``; split = a file listing scene names, else every scene)."""

    root: str | None = None
    """Dataset root (KITTI raw: the folder of the date folders; TartanAir: the folder of the environments); unset =
    ``$VOKIT_DATA_ROOT/kitti_raw`` or ``$VOKIT_DATA_ROOT/tartanair``."""

    split: str = "eigen_zhou"
    """KITTI raw split: a name (``<root>/splits/<name>/train_files.txt``) or a monodepth2 train_files.txt path."""

    scene: Literal["street", "room", "clutter"] = "street"
    """Synthetic world scene (street canyon with moving cars, an indoor room, or flying clutter)."""

    domain: str | None = None
    """Named synthetic-world domain (lighting, colour, textures, camera height); unset = the scene's default."""

    scenes: tuple[Literal["street", "room", "clutter"], ...] = ()
    """Synthetic scene mix: sequence i renders ``scenes[i % len(scenes)]`` in its default domain (``domain`` must
    be unset); empty = every sequence renders ``scene``."""

    textures: str | None = None
    """Synthetic world: folder of images used as photographic textures; unset = procedural textures."""

    n_sequences: int = 8
    """Number of synthetic training sequences (train-split sequences ``first_sequence`` ...); >= 1."""

    sequence_frames: int = 60
    """Frames rendered per synthetic training sequence; >= ``clip_frames``."""

    first_sequence: int = 0
    """Index of the first synthetic sequence in the world's train split (disjoint from val/test seeds)."""

    height: int = 128
    """Network input height in pixels (a multiple of 32, >= 64)."""

    width: int = 416
    """Network input width in pixels (a multiple of 32, >= 64)."""

    clip_frames: int = 3
    """Frames per training clip, in temporal order; the middle one is the target (3 = frames [-1, 0, +1])."""

    frame_stride: int = 1
    """Step between consecutive clip frames, in source frames; >= 1."""

    batch_size: int = 4
    """Clips per optimisation step and process (the global batch is this times the number of processes)."""

    num_workers: int = 0
    """DataLoader worker processes (0 loads in the training process). Batches do not depend on it."""

    hflip_prob: float = 0.5
    """Probability, in [0, 1], of flipping a whole clip horizontally (images, intrinsics, ground truth)."""

    color_jitter_prob: float = 0.5
    """Probability, in [0, 1], of colour jitter on the network inputs (loss images are never jittered)."""

    cache_frames: bool = True
    """Keep loaded (decoded or rendered) training frames in memory after their first use."""

    cache_dir: str | None = None
    """Synthetic world: folder where rendered frames are stored and reused by later runs; unset = no disk cache."""
