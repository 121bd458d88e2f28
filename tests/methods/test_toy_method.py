"""Adding a method is one module plus its presets: a toy method defined here trains and runs end to end.

Nothing in engine, app or cli knows the toy: it is registered at runtime with `vokit.methods.registry.register`
(and its preset added to `vokit.engine.presets.PRESETS`), then driven through the library functions behind
``vokit train`` and ``vokit run`` and the command lines themselves.
"""

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch
from tests.app.test_pipeline import write_tiny_street
from tests.engine.tiny import tiny_config
from torch import nn

from vokit.app.pipeline import run_sequence
from vokit.cli import main as cli_main
from vokit.data.sequence import Sequence as FrameSequence
from vokit.engine import load_checkpoint, train
from vokit.engine.configs import ExperimentConfig
from vokit.engine.presets import PRESETS, get_preset
from vokit.errors import VokitError
from vokit.methods import registry
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import FrameResult, SequencePrediction, run_inference
from vokit.methods.interface import Method, NoOperatorChoice, Output
from vokit.nets.pose_net import PoseNet

TOY = "toy-depth"


@dataclasses.dataclass(frozen=True)
class ToySettings:
    """``width`` and ``min_depth`` come from the config's model section; ``target_depth`` is the toy's own."""

    width: float = 1.0
    min_depth: float = 0.1
    target_depth: float = 2.0


class ToyPose(nn.Module):
    """One learned translation for every frame pair."""

    src_from_tgt = PoseNet.src_from_tgt

    def __init__(self) -> None:
        super().__init__()
        self.translation = nn.Parameter(torch.full((3,), 0.5))

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(image_a.shape[0], 7, device=image_a.device)
        out[:, :3] = self.translation
        out[:, 6] = 1.0
        return out


class ToyModel(nn.Module):
    def __init__(self, input_size: tuple[int, int], min_depth: float) -> None:
        super().__init__()
        self.log_depth = nn.Parameter(torch.zeros(()))
        self.pose_net = ToyPose()
        self.input_size = input_size
        self.min_depth = min_depth

    def depth(self, images: torch.Tensor) -> torch.Tensor:
        return self.min_depth + self.log_depth.exp() * (1.0 + images.mean(dim=1))


class ToyMethod(NoOperatorChoice):
    name = TOY
    description = "a learned constant depth and translation (test only)"
    settings_type = ToySettings
    outputs: frozenset[Output] = frozenset({"depth"})
    input_stride = 32

    def __init__(self) -> None:
        self.settings_seen: list[ToySettings] = []

    def build_model(self, settings: ToySettings, input_size: tuple[int, int]) -> nn.Module:
        self.settings_seen.append(settings)
        return ToyModel(input_size, settings.min_depth)

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: ToySettings) -> StepOutput:
        assert isinstance(model, ToyModel)
        depth = model.depth(batch.net_images[:, batch.target_index])
        loss = (depth - settings.target_depth).square().mean() + model.pose_net.translation.square().sum()
        return StepOutput(loss=loss, scalars={"loss/total": loss.detach()}, images={})

    def infer(self, model: nn.Module, sequence: FrameSequence, device: torch.device | str = "cpu",
              batch_size: int = 8, frames: Sequence[int] | None = None, show_progress: bool = True,
              on_frame: Callable[[FrameResult], None] | None = None) -> SequencePrediction:
        assert isinstance(model, ToyModel)
        return run_inference(model, sequence, device, batch_size, frames, flow_net=None,
                             show_progress=show_progress, stride=self.input_stride, on_frame=on_frame)


def toy_preset() -> ExperimentConfig:
    """The toy on the synthetic street (test only)."""
    base = get_preset("monodepth2-synthetic")
    return dataclasses.replace(base, preset=f"{TOY}-synthetic", model=dataclasses.replace(base.model, method=TOY))


@pytest.fixture()
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToyMethod]:
    method = ToyMethod()
    registry.register(method)
    monkeypatch.setitem(PRESETS, f"{TOY}-synthetic", toy_preset)
    try:
        yield method
    finally:
        registry.unregister(TOY)
    assert TOY not in registry.method_names()


def test_toy_implements_the_interface(toy: ToyMethod) -> None:
    assert isinstance(toy, Method)
    assert TOY in registry.method_names() and registry.get_method(TOY) is toy
    with pytest.raises(VokitError, match="already registered"):
        registry.register(toy)
    with pytest.raises(VokitError, match="known methods"):
        registry.get_method("no-such-method")


def test_toy_trains_and_runs_without_engine_app_or_cli_changes(toy: ToyMethod, tmp_path: Path) -> None:
    config = tiny_config(f"{TOY}-synthetic", tmp_path / "runs", steps=3, model=dict(width=0.5))
    run_dir = train(config)
    # settings came from the config by field name; the toy's own field kept its default
    assert toy.settings_seen[0] == ToySettings(width=0.5, min_depth=config.model.min_depth, target_depth=2.0)
    model, loaded_config = load_checkpoint(run_dir)
    assert isinstance(model, ToyModel) and loaded_config.model.method == TOY
    assert model.input_size == (config.data.height, config.data.width)

    street = write_tiny_street(tmp_path / "street", n_frames=4)
    result = run_sequence(street, method=TOY, out=tmp_path / "run", weights=run_dir, progress=False)
    assert result.method == TOY and result.n_frames == 4
    assert result.prediction.flow is None and result.prediction.motion_mask is None
    assert len(list((result.out / "depth").glob("*.png"))) == 4
    assert not (result.out / "flow_preview").exists()
    metrics = json.loads((result.out / "metrics.json").read_text())
    assert metrics["method"] == TOY and "depth" in metrics
    assert "trajectory" in metrics or "trajectory" in metrics["notes"], metrics.get("notes")


def test_toy_through_the_command_lines(toy: ToyMethod, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main.main(["train", f"{TOY}-synthetic", "--train.steps", "2", "--train.out-dir", str(tmp_path / "r"),
                          "--train.device", "cpu", "--data.height", "64", "--data.width", "96",
                          "--data.n-sequences", "1", "--data.sequence-frames", "3", "--data.batch-size", "1",
                          "--log.no-use-progress-bar"])
    assert code == 0
    run_dir = next((tmp_path / "r").iterdir())
    street = write_tiny_street(tmp_path / "street", n_frames=3)
    code = cli_main.main(["run", str(street), "--method", TOY, "--weights", str(run_dir), "--out",
                          str(tmp_path / "run"), "--quiet"])
    assert code == 0
    assert f"vokit run: {TOY} on" in capsys.readouterr().out
