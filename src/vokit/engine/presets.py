"""Named training presets: a plain dict from name to config factory (STYLE.md section 7).

A factory's docstring's first line is the preset's one-line description in ``vokit train --help``. Later methods
register their presets by adding entries to :data:`PRESETS`; names are never ``eval``-ed.
"""

from collections.abc import Callable
from dataclasses import replace

from vokit.engine.configs import (
    DataConfig,
    ExperimentConfig,
    LogConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)
from vokit.errors import VokitError

_SYNTHETIC_DATA = DataConfig(
    source="synthetic", scene="street", n_sequences=16, sequence_frames=60, height=128, width=416, batch_size=8
)
_SYNTHETIC_OPTIM = OptimConfig(lr=1e-4, schedule="step", milestones=(0.75,), gamma=0.1, grad_clip_norm=10.0)
_SYNTHETIC_TRAIN = TrainConfig(steps=20000, checkpoint_every=1000)


def monodepth2_synthetic() -> ExperimentConfig:
    """Baseline depth + pose on the synthetic street, Monodepth2 losses (METHODS.md section 2)."""
    return ExperimentConfig(
        preset="monodepth2-synthetic",
        data=_SYNTHETIC_DATA,
        # Rotation outputs x0.001 (Monodepth2: x0.01): from scratch the 0.01 net explains forward motion by rotation.
        # min_depth 0.01 (Monodepth2: 0.1): the untrained pose net predicts ~1 mm per frame and the depth net starts
        # at ~2 min_depth; with 0.1 the initial rigid flow is 8-25x too small and both methods first settle on a
        # sideways translation (direction cosine ~0.65, docs/training.md).
        model=ModelConfig(
            method="monodepth2", num_layers=18, width=0.5, min_depth=0.01, max_depth=100.0, pose_rotation_scale=0.001
        ),
        loss=LossConfig(),
        optim=_SYNTHETIC_OPTIM,
        train=_SYNTHETIC_TRAIN,
        log=LogConfig(),
    )


def coopnet_synthetic() -> ExperimentConfig:
    """CoopNet depth + pose + flow co-training on the synthetic street, hybrid loss (METHODS.md section 8)."""
    base = monodepth2_synthetic()
    # lambda_c 0.1 (METHODS.md: 0.01): in 800 from-scratch steps at 64x224 the flow net's validation EPE is 3.40 px
    # with 0.01 (worse than zero flow, 2.90) and 2.62 px with 0.1; the rigid flow has to teach flow early on.
    return replace(
        base,
        preset="coopnet-synthetic",
        model=replace(base.model, method="coopnet", flow_width=0.5),
        loss=replace(base.loss, consistency_weight=0.1),
    )


def coopnet_kitti() -> ExperimentConfig:
    """CoopNet on KITTI raw, Eigen-Zhou split, 192x640 (needs the dataset: --data /path/to/kitti_raw)."""
    return ExperimentConfig(
        preset="coopnet-kitti",
        data=DataConfig(source="kitti-raw", split="eigen_zhou", height=192, width=640, batch_size=12, num_workers=4),
        model=ModelConfig(method="coopnet", num_layers=18, width=1.0, flow_width=1.0, min_depth=0.1, max_depth=100.0),
        loss=LossConfig(),
        # From scratch Monodepth2 trains 30 epochs of 39,810 triplets at batch 12 (~100k steps), x0.1 at 3/4.
        optim=OptimConfig(lr=1e-4, schedule="step", milestones=(0.75,), gamma=0.1, grad_clip_norm=10.0),
        train=TrainConfig(steps=100000, checkpoint_every=2000),
        log=LogConfig(),
    )


def patchvo_synthetic() -> ExperimentConfig:
    """Patchvo's learned update operator on the synthetic room, flow + pose losses (METHODS.md section 4.5)."""
    return ExperimentConfig(
        preset="patchvo-synthetic",
        # 7-frame hand-held clips with ground-truth depth and poses; no flips (they would mirror the geometry)
        data=replace(_SYNTHETIC_DATA, scene="room", height=96, width=128, clip_frames=7, batch_size=1,
                     hflip_prob=0.0),
        model=ModelConfig(method="patchvo", width=0.5),
        loss=LossConfig(),
        optim=replace(_SYNTHETIC_OPTIM, lr=8e-5),
        train=_SYNTHETIC_TRAIN,
        log=LogConfig(),
    )


def patchvo_tartanair() -> ExperimentConfig:
    """Patchvo's learned operator on TartanAir (needs the dataset: --data.root /path/to/tartanair), METHODS.md 4.5."""
    base = patchvo_synthetic()
    # a GPU preset: the reference trains at 480x640 with 15-frame clips, 80 patches, 18 updates for 240k steps
    return replace(
        base,
        preset="patchvo-tartanair",
        data=DataConfig(source="tartanair", height=480, width=640, clip_frames=7, batch_size=1, hflip_prob=0.0,
                        num_workers=2),
        model=replace(base.model, width=1.0),
        train=TrainConfig(steps=240000, checkpoint_every=2000),
    )


def patchvo_v2v_synthetic() -> ExperimentConfig:
    """patchvo-synthetic with V2V: confidence-weighted flow loss on all edges, loss balancing (METHODS.md 5)."""
    base = patchvo_synthetic()
    # the V2V recipe of section 5.3: no structure-only warm-up, 5x the baseline's learning rate
    return replace(
        base,
        preset="patchvo-v2v-synthetic",
        loss=replace(base.loss, weighted_flow_loss=True, flow_loss_edges="all", loss_balancing=True,
                     balance_every=20, structure_warmup_steps=0),
        optim=replace(base.optim, lr=5 * base.optim.lr),
    )


def online_meta_synthetic() -> ExperimentConfig:
    """Online meta-learning on the street: recurrent depth + pose, adapt on window i, score i+1 (METHODS.md 7)."""
    base = monodepth2_synthetic()
    # clips of two consecutive 5-frame windows (section 7.3); the outer step is Adam at 1e-4 (the synthetic optimiser)
    return replace(
        base,
        preset="online-meta-synthetic",
        data=replace(base.data, clip_frames=10, batch_size=2),
        model=replace(base.model, method="online-meta"),
    )


_DRO_MODEL = ModelConfig(method="dro", width=0.5, min_depth=0.1, max_depth=100.0, dro_version="it12-h",
                         dro_hidden=64, dro_feature_dim=64)
# DRO (METHODS.md 6.5): Adam, lr 2e-4, StepLR x0.5 every 30 epochs, no weight decay. The synthetic presets halve the
# encoders and the GRU / feature widths (hidden 64, features 64) so a 2-core CPU trains them [vokit].
_DRO_OPTIM = OptimConfig(lr=2e-4, schedule="step", milestones=(0.6,), gamma=0.5, grad_clip_norm=10.0)


def dro_synthetic() -> ExperimentConfig:
    """DRO on the synthetic street, supervised by ground-truth depth and poses (METHODS.md section 6)."""
    return ExperimentConfig(
        preset="dro-synthetic",
        data=_SYNTHETIC_DATA,
        model=_DRO_MODEL,
        loss=LossConfig(dro_supervision="supervised"),
        optim=_DRO_OPTIM,
        train=_SYNTHETIC_TRAIN,
        log=LogConfig(),
    )


def dro_selfsup_synthetic() -> ExperimentConfig:
    """DRO on the synthetic street, self-supervised: photometric loss on every iterate (METHODS.md section 6.4)."""
    base = dro_synthetic()
    return replace(base, preset="dro-selfsup-synthetic", model=replace(base.model, dro_version="it8-seq4-inter-out"),
                   loss=LossConfig(dro_supervision="self-supervised"))


def dro_kitti() -> ExperimentConfig:
    """DRO on KITTI raw, self-supervised, it8-seq4-inter-out, 320x960 (needs --data /path/to/kitti_raw)."""
    # METHODS.md 6.5: batch 2, 50 epochs of 39,810 Eigen-Zhou triplets (~995k steps), lr x0.5 at epoch 30.
    return ExperimentConfig(
        preset="dro-kitti",
        data=DataConfig(source="kitti-raw", split="eigen_zhou", height=320, width=960, batch_size=2, num_workers=4),
        model=ModelConfig(method="dro", width=1.0, min_depth=0.5, max_depth=80.0, dro_version="it8-seq4-inter-out"),
        loss=LossConfig(dro_supervision="self-supervised"),
        optim=_DRO_OPTIM,
        train=TrainConfig(steps=995250, checkpoint_every=5000),
        log=LogConfig(),
    )


def dro_scannet() -> ExperimentConfig:
    """DRO on ScanNet, supervised, it12-h-out, 256x320 (needs --data /path/to/scannet with exported scenes)."""
    # METHODS.md 6.5: 240x320, batch 8, 100 epochs, 0.2-10 m; vokit's trainer takes sides that are multiples of 32,
    # so 256x320. Steps assume ~100k training triplets (the ScanNet train split at stride 10).
    return ExperimentConfig(
        preset="dro-scannet",
        data=DataConfig(source="scannet", height=256, width=320, batch_size=8, num_workers=4, frame_stride=10),
        model=ModelConfig(method="dro", width=1.0, min_depth=0.2, max_depth=10.0, dro_version="it12-h-out"),
        loss=LossConfig(dro_supervision="supervised"),
        optim=_DRO_OPTIM,
        train=TrainConfig(steps=1250000, checkpoint_every=5000),
        log=LogConfig(),
    )


PRESETS: dict[str, Callable[[], ExperimentConfig]] = {
    "monodepth2-synthetic": monodepth2_synthetic,
    "coopnet-synthetic": coopnet_synthetic,
    "coopnet-kitti": coopnet_kitti,
    "patchvo-synthetic": patchvo_synthetic,
    "patchvo-tartanair": patchvo_tartanair,
    "patchvo-v2v-synthetic": patchvo_v2v_synthetic,
    "online-meta-synthetic": online_meta_synthetic,
    "dro-synthetic": dro_synthetic,
    "dro-selfsup-synthetic": dro_selfsup_synthetic,
    "dro-kitti": dro_kitti,
    "dro-scannet": dro_scannet,
}


def preset_description(name: str) -> str:
    """One-line description of a preset (its factory's docstring's first line)."""
    doc = get_preset_factory(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else name


def get_preset_factory(name: str) -> Callable[[], ExperimentConfig]:
    """The factory registered under ``name``; raises :class:`VokitError` listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise VokitError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}") from None


def get_preset(name: str) -> ExperimentConfig:
    """A fresh config of the preset ``name``."""
    return get_preset_factory(name)()
