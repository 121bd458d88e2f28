import dataclasses

import pytest

from vokit.engine.configs import ExperimentConfig
from vokit.engine.presets import PRESETS, get_preset, preset_description
from vokit.engine.validation import check_config
from vokit.errors import VokitError


def test_required_presets_are_registered() -> None:
    assert {"monodepth2-synthetic", "coopnet-synthetic", "coopnet-kitti"} <= set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_valid_and_named(name: str) -> None:
    config = get_preset(name)
    assert isinstance(config, ExperimentConfig)
    assert config.preset == name
    check_config(config)
    assert preset_description(name) and "\n" not in preset_description(name)
    assert get_preset(name) == config  # factories are pure


def test_preset_methods_and_data() -> None:
    assert get_preset("monodepth2-synthetic").model.method == "monodepth2"
    assert get_preset("coopnet-synthetic").model.method == "coopnet"
    kitti = get_preset("coopnet-kitti")
    assert kitti.model.method == "coopnet" and kitti.data.source == "kitti-raw" and kitti.data.split == "eigen_zhou"
    # the baseline and CoopNet share data, budget and the depth/pose networks
    md2, coop = get_preset("monodepth2-synthetic"), get_preset("coopnet-synthetic")
    assert md2.data == coop.data and md2.train == coop.train and md2.optim == coop.optim
    assert dataclasses.replace(coop.model, method="monodepth2", flow_width=md2.model.flow_width) == md2.model
    # the synthetic CoopNet preset lets rigid flow teach flow harder than METHODS.md's default; KITTI keeps it
    assert coop.loss.consistency_weight == 0.1 and kitti.loss.consistency_weight == 0.01
    assert dataclasses.replace(coop.loss, consistency_weight=md2.loss.consistency_weight) == md2.loss


def test_unknown_preset() -> None:
    with pytest.raises(VokitError, match="coopnet-synthetic"):
        get_preset("coopnet-synthetc")


@pytest.mark.parametrize(
    ("section", "field", "value", "flag"),
    [
        ("data", "height", 100, "--data.height"),
        ("data", "height", 32, "--data.height"),
        ("data", "clip_frames", 1, "--data.clip-frames"),
        ("data", "hflip_prob", 1.5, "--data.hflip-prob"),
        ("optim", "lr", 0.0, "--optim.lr"),
        ("optim", "milestones", (0.5, 1.5), "--optim.milestones"),
        ("model", "min_depth", 200.0, "--model.min-depth"),
        ("model", "pose_rotation_scale", 0.0, "--model.pose-rotation-scale"),
        ("loss", "num_scales", 5, "--loss.num-scales"),
        ("train", "steps", 0, "--train.steps"),
        ("log", "image_every", -1, "--log.image-every"),
    ],
)
def test_check_config_names_the_flag(section: str, field: str, value: object, flag: str) -> None:
    config = get_preset("coopnet-synthetic")
    bad = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **{field: value})})
    with pytest.raises(VokitError, match=flag):
        check_config(bad)
