"""Source feature statistics in a checkpoint copy (`vokit.engine.source_statistics`, ``vokit adapt-stats``)."""

import hashlib
import os
from pathlib import Path

import pytest
import torch
from tests.engine.tiny import tiny_config

from vokit.adapt.alignment import DEFAULT_LAYERS
from vokit.cli import main as cli_main
from vokit.data.synthetic import make_sequence, split_seed
from vokit.engine.checkpoint import atomic_torch_save, load_checkpoint, make_checkpoint, read_checkpoint
from vokit.engine.registry import get_method
from vokit.engine.source_statistics import (
    SOURCE_STATISTICS_KEY,
    evenly_spaced,
    read_source_statistics,
    write_with_source_statistics,
)
from vokit.errors import VokitError

SEQUENCE_FRAMES = 6  # one training sequence, 3-frame clips: windows start at frames 0 .. 3


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny_checkpoint(path: Path, preset: str = "monodepth2-synthetic") -> Path:
    config = tiny_config(preset, path.parent, data=dict(sequence_frames=SEQUENCE_FRAMES))
    torch.manual_seed(0)
    model = get_method(config.model.method).build_model(config)
    return atomic_torch_save(make_checkpoint(config, 7, model), path)


def _dense_statistics(model: torch.nn.Module, depth_images: torch.Tensor, prev: torch.Tensor, nxt: torch.Tensor
                      ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Oracle: every layer's output over all images at once, mean and biased variance in float64."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(name).register_forward_hook(
        lambda m, i, o, name=name: outputs.__setitem__(name, o.detach().double())) for name in DEFAULT_LAYERS]
    with torch.no_grad():
        model.depth_net(depth_images)
        model.pose_net(prev, nxt)
    for handle in handles:
        handle.remove()
    return {name: (f.mean(dim=(0, 2, 3)), f.var(dim=(0, 2, 3), unbiased=False)) for name, f in outputs.items()}


def test_evenly_spaced_windows_are_distinct_and_span_the_data() -> None:
    assert evenly_spaced(4, 2) == [0, 3]
    assert evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert evenly_spaced(3, 32) == [0, 1, 2]  # never more clips than windows
    with pytest.raises(VokitError, match="at least one clip"):
        evenly_spaced(4, 0)


def test_statistics_round_trip_through_a_checkpoint_and_match_a_dense_oracle(tmp_path: Path) -> None:
    source = _tiny_checkpoint(tmp_path / "model.pt")
    before = _sha256(source)
    stats = write_with_source_statistics(source, tmp_path / "aligned.pt", n_clips=2)
    assert _sha256(source) == before  # the input is only read
    assert (stats.clips, stats.clip_frames, stats.data) == (2, 3, "synthetic:street")

    # read back: the same tensors, and every other entry of the input kept
    state, original = read_checkpoint(tmp_path / "aligned.pt"), read_checkpoint(source)
    back = read_source_statistics(state, tmp_path / "aligned.pt")
    assert back is not None and list(back.layers) == list(DEFAULT_LAYERS)
    for name, layer in stats.layers.items():
        assert torch.equal(back.layers[name].mean, layer.mean) and torch.equal(back.layers[name].var, layer.var)
    assert set(state) == set(original) | {SOURCE_STATISTICS_KEY}
    assert state["step"] == 7 and state["config"] == original["config"]
    assert all(torch.equal(v, original["model"][k]) for k, v in state["model"].items())

    # oracle: clips at windows 0 and 3 of the one training sequence; the depth net sees frames 0, 1, 3, 4, the
    # pose net the pairs (0, 1), (1, 2), (3, 4), (4, 5)
    model, config = load_checkpoint(tmp_path / "aligned.pt")  # the extra entry does not disturb loading
    seq = make_sequence(config.data.scene, n_frames=SEQUENCE_FRAMES, seed=split_seed("train", 0),
                        height=config.data.height, width=config.data.width)
    image = [seq[i].image for i in range(SEQUENCE_FRAMES)]
    depth_images = torch.stack([image[i] for i in (0, 1, 3, 4)])
    dense = _dense_statistics(model, depth_images, depth_images, torch.stack([image[i] for i in (1, 2, 4, 5)]))
    for name, (mean, var) in dense.items():
        # float32 features accumulated in float64 both ways, stored as float32: float32 round-off only
        torch.testing.assert_close(back.layers[name].mean.double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(back.layers[name].var.double(), var, rtol=1e-5, atol=1e-6)


def test_old_checkpoints_load_and_have_no_statistics(tmp_path: Path) -> None:
    old = _tiny_checkpoint(tmp_path / "old.pt")
    state = read_checkpoint(old)
    assert SOURCE_STATISTICS_KEY not in state and read_source_statistics(state, old) is None
    model, _ = load_checkpoint(old)
    write_with_source_statistics(old, tmp_path / "new.pt", n_clips=1)
    new_model, _ = load_checkpoint(tmp_path / "new.pt")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in new_model.state_dict().items())


def test_shipped_weights_still_load_without_statistics() -> None:
    shipped = Path(__file__).resolve().parents[2] / "src" / "vokit" / "weights" / "monodepth2-synthetic.pt"
    if not shipped.is_file():
        pytest.skip(f"shipped weights absent: {shipped}")
    assert read_source_statistics(read_checkpoint(shipped), shipped) is None
    load_checkpoint(shipped)


def test_never_writes_over_the_input_and_needs_force_for_an_existing_output(tmp_path: Path) -> None:
    source = _tiny_checkpoint(tmp_path / "model.pt")
    before = _sha256(source)
    with pytest.raises(VokitError, match="over the input checkpoint") as err:
        write_with_source_statistics(source, source, n_clips=1, force=True)
    assert str(source) in str(err.value)
    os.link(source, tmp_path / "link.pt")  # a hard link (like checkpoints/last.pt) is the input too
    with pytest.raises(VokitError, match="over the input checkpoint"):
        write_with_source_statistics(source, tmp_path / "link.pt", n_clips=1, force=True)
    (tmp_path / "taken.pt").write_bytes(b"x")
    with pytest.raises(VokitError, match="pass --force"):
        write_with_source_statistics(source, tmp_path / "taken.pt", n_clips=1)
    write_with_source_statistics(source, tmp_path / "taken.pt", n_clips=1, force=True)
    assert read_source_statistics(read_checkpoint(tmp_path / "taken.pt")) is not None
    assert _sha256(source) == before


def test_malformed_statistics_name_the_file(tmp_path: Path) -> None:
    source = _tiny_checkpoint(tmp_path / "model.pt")
    state = read_checkpoint(source)
    bad = {"layers": {"depth_net.encoder.layer1": {"mean": torch.zeros(4), "var": torch.zeros(5)}}}
    with pytest.raises(VokitError, match="equal length") as err:
        read_source_statistics({**state, SOURCE_STATISTICS_KEY: bad}, source)
    assert str(source) in str(err.value)
    negative = {"layers": {"depth_net.encoder.layer1": {"mean": torch.zeros(4), "var": -torch.ones(4)}}}
    with pytest.raises(VokitError, match="negative variances"):
        read_source_statistics({**state, SOURCE_STATISTICS_KEY: negative}, source)
    with pytest.raises(VokitError, match="no per-layer statistics"):
        read_source_statistics({**state, SOURCE_STATISTICS_KEY: {"layers": {}}}, source)


def test_cli_writes_the_copy_and_exits_2_on_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _tiny_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "aligned.pt"
    assert cli_main.main(["adapt-stats", str(source), "--clips", "2", "--out", str(out)]) == 0
    assert "8 layers over 2 clips" in capsys.readouterr().out
    assert cli_main.main(["adapt-stats", str(source), "--clips", "2", "--out", str(out)]) == 2
    assert f"{out}: output file exists" in capsys.readouterr().err
    assert cli_main.main(["adapt-stats", str(source), "--clips", "0", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--clips must be >= 1" in capsys.readouterr().err


def test_a_model_without_depth_and_pose_networks_is_refused(tmp_path: Path) -> None:
    source = _tiny_checkpoint(tmp_path / "dro.pt", preset="dro-synthetic")
    with pytest.raises(VokitError, match="needs a self-supervised depth \\+ pose model") as err:
        write_with_source_statistics(source, tmp_path / "out.pt", n_clips=1)
    assert str(source) in str(err.value) and not (tmp_path / "out.pt").exists()
