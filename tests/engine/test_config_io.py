import dataclasses

import pytest
import yaml

import vokit
from vokit.engine.config_io import (
    config_from_dict,
    config_from_yaml,
    config_to_dict,
    config_to_yaml,
    load_config,
    save_config,
)
from vokit.engine.configs import ExperimentConfig, OptimConfig, TrainConfig
from vokit.engine.presets import PRESETS, get_preset
from vokit.errors import VokitError


def _assert_primitives(value: object) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            _assert_primitives(v)
    elif isinstance(value, list):
        for v in value:
            _assert_primitives(v)
    else:
        assert value is None or type(value) in (bool, int, float, str), repr(value)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_yaml_round_trip_of_every_preset(name: str, tmp_path) -> None:
    config = get_preset(name)
    path = save_config(config, tmp_path / "config.yaml", {"world_size": 2})
    text = path.read_text()
    assert "!!python" not in text
    data = yaml.safe_load(text)
    _assert_primitives(data)
    assert data["preset"] == name
    assert data["meta"]["vokit_version"] == vokit.__version__
    assert isinstance(data["meta"]["git_sha"], str) and data["meta"]["git_sha"]
    assert data["meta"]["world_size"] == 2
    loaded = load_config(tmp_path)  # a run folder works too
    assert loaded == config
    assert isinstance(loaded.optim.betas, tuple) and isinstance(loaded.optim.milestones, tuple)


def test_round_trip_with_non_default_values() -> None:
    config = dataclasses.replace(
        get_preset("coopnet-synthetic"),
        optim=OptimConfig(lr=3e-4, milestones=(0.5, 0.8), schedule="cosine", grad_clip_norm=None, betas=(0.8, 0.99)),
        train=TrainConfig(steps=7, resume="/some/run", run_name="x"),
    )
    assert config_from_yaml(config_to_yaml(config)) == config


def test_integer_written_for_a_float_field_loads_as_float() -> None:
    data = config_to_dict(ExperimentConfig())
    data["optim"]["lr"] = 1
    config = config_from_dict(ExperimentConfig, data)
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)


def test_missing_keys_keep_defaults() -> None:
    config = config_from_dict(ExperimentConfig, {"preset": "p", "optim": {"lr": 0.5}})
    assert config.preset == "p" and config.optim.lr == 0.5 and config.data == ExperimentConfig().data


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"optim": {"lr_typo": 1.0}}, "optim.lr_typo"),
        ({"optim": {"lr": "fast"}}, "optim.lr"),
        ({"optim": {"schedule": "linear"}}, "optim.schedule"),
        ({"optim": {"betas": [0.9]}}, "optim.betas"),
        ({"train": {"steps": 1.5}}, "train.steps"),
        ({"train": {"steps": True}}, "train.steps"),
        ({"data": 3}, "data"),
    ],
)
def test_bad_values_name_the_key(patch: dict, message: str, tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(patch))
    with pytest.raises(VokitError, match=message) as err:
        load_config(path)
    assert err.value.path == path


def test_missing_and_unparsable_files(tmp_path) -> None:
    with pytest.raises(VokitError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    with pytest.raises(VokitError, match="YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(VokitError, match="mapping"):
        load_config(tmp_path / "list.yaml")
