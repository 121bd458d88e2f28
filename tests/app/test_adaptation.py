"""``vokit run --adapt``: the weights file never changes, the adapted weights can be saved, times are recorded."""

import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from tests.app.test_pipeline import write_tiny_checkpoint, write_tiny_street

from vokit.adapt.online import AdaptSettings
from vokit.app.adaptation import ADAPTED_WEIGHTS
from vokit.app.pipeline import run_sequence
from vokit.cli import run as run_cli
from vokit.engine.checkpoint import load_checkpoint
from vokit.errors import VokitError


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("preset", ["monodepth2-synthetic", "coopnet-synthetic"])
def test_adapt_leaves_the_weights_file_untouched_and_saves_the_adapted_copy(preset: str, tmp_path: Path) -> None:
    weights = write_tiny_checkpoint(preset, tmp_path / "model.pt")
    street = write_tiny_street(tmp_path / "street", n_frames=5)
    before = _sha256(weights)
    settings = AdaptSettings(steps=1, lr=1e-3, window=3, every=1)
    result = run_sequence(street, method=None, weights=weights, out=tmp_path / "run", progress=False,
                          adapt=settings, save_adapted=True)
    assert _sha256(weights) == before
    assert result.n_frames == 5 and result.metrics is not None and "depth" in result.metrics
    info = yaml.safe_load((result.out / "config.yaml").read_text())
    adaptation = info["adaptation"]
    assert adaptation["adapted_frames"] == 3 and adaptation["window"] == 3
    assert [x is None for x in adaptation["window_loss"]] == [True, True, False, False, False]
    assert adaptation["seconds_per_frame"] > 0 and info["seconds_per_frame"] > 0
    assert "Online adaptation" in (result.out / "report.html").read_text()
    # the saved copy loads, and differs from the original in the adapted networks only
    original, _ = load_checkpoint(weights)
    adapted, _ = load_checkpoint(result.out / ADAPTED_WEIGHTS)
    changed = {k for k, v in adapted.state_dict().items() if not torch.equal(v, original.state_dict()[k])}
    assert changed and all(k.startswith(("depth_net.", "pose_net.")) for k in changed)


def test_cli_options_need_adapt_and_valid_values() -> None:
    parser = run_cli._parser()
    assert run_cli.adapt_settings(parser.parse_args(["x"])) is None
    with pytest.raises(VokitError, match="--adapt-steps need --adapt"):
        run_cli.adapt_settings(parser.parse_args(["x", "--adapt-steps", "2"]))
    with pytest.raises(VokitError, match="--save-adapted need --adapt"):
        run_cli.adapt_settings(parser.parse_args(["x", "--save-adapted"]))
    with pytest.raises(VokitError, match="--adapt-lr > 0"):
        run_cli.adapt_settings(parser.parse_args(["x", "--adapt", "--adapt-lr", "0"]))
    got = run_cli.adapt_settings(parser.parse_args(["x", "--adapt", "--adapt-steps", "3", "--adapt-lr", "2e-4"]))
    assert got == AdaptSettings(steps=3, lr=2e-4)
    defaults = AdaptSettings()
    cli = run_cli.ADAPT_DEFAULTS
    assert (cli.steps, cli.lr, cli.window, cli.every) == (defaults.steps, defaults.lr, defaults.window,
                                                          defaults.every)
    with pytest.raises(VokitError, match="--adapt-window >= 3"):
        run_cli.adapt_settings(parser.parse_args(["x", "--adapt", "--adapt-window", "2"]))
