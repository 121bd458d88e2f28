"""``vokit run --adapt --align``: online feature alignment from the checkpoint's source statistics (METHODS.md 7.4)."""

import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from tests.app.test_pipeline import HEIGHT, WIDTH, write_tiny_checkpoint

from vokit.adapt.online import AdaptSettings
from vokit.app.adaptation import ADAPTED_WEIGHTS
from vokit.app.pipeline import run_sequence
from vokit.cli import main as cli_main
from vokit.data.sequence import Sequence
from vokit.data.synthetic import make_sequence, split_seed
from vokit.engine.checkpoint import atomic_torch_save, read_checkpoint
from vokit.engine.source_statistics import SOURCE_STATISTICS_KEY, read_source_statistics, write_with_source_statistics
from vokit.errors import VokitError
from vokit.methods.inference import SequencePrediction

SETTINGS = AdaptSettings(steps=1, lr=1e-3, window=3, every=1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _night_street(n_frames: int = 5) -> Sequence:
    """A darker domain than the tiny model's source (the plain street): the street at night."""
    return make_sequence("street", n_frames=n_frames, seed=split_seed("test", 0), height=HEIGHT, width=WIDTH,
                         domain="street-night")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("align")
    plain = write_tiny_checkpoint("monodepth2-synthetic", root / "plain.pt")
    write_with_source_statistics(plain, root / "aligned.pt", n_clips=2)
    return {"plain": plain, "aligned": root / "aligned.pt", "root": root}


def test_align_changes_the_predictions_and_leaves_the_weights_file_untouched(weights: dict[str, Path]) -> None:
    path, root = weights["aligned"], weights["root"]
    before = _sha256(path)
    night = _night_street()
    runs = {}
    for label, align in (("plain", False), ("plain-again", False), ("aligned", True)):
        runs[label] = run_sequence(night, method=None, weights=path, out=root / f"run-{label}", progress=False,
                                   adapt=SETTINGS, align=align, save_adapted=True, overwrite=True)
    assert _sha256(path) == before
    plain, again, aligned = (runs[k].prediction for k in ("plain", "plain-again", "aligned"))
    # An untrained tiny model predicts near-constant depth, so changes are measured against what varies: the
    # depth's spatial spread and the size of the frame-to-frame translations. A repeated plain run differs by
    # little (first-call kernel choices, amplified by the adaptation step), the aligned run by much of the signal.
    depth_spread = float(plain.depth.std(dim=(1, 2)).mean())
    step_size = float(plain.cam_next_from_cam[:, :3].abs().mean())

    def changes(other: SequencePrediction) -> tuple[float, float]:
        return (float((other.depth - plain.depth).abs().mean()) / depth_spread,
                float((other.cam_next_from_cam[:, :3] - plain.cam_next_from_cam[:, :3]).abs().max()) / step_size)

    repeat, moved = changes(again), changes(aligned)
    # measured: repeat (0.001, 0.028), aligned (0.10, 1.9)
    assert repeat[0] < 0.01 and repeat[1] < 0.1, f"repeated plain run differs by {repeat}"
    assert moved[0] > 0.03 and moved[1] > 0.5, f"alignment changed depth and translation by only {moved}"
    info = yaml.safe_load((runs["aligned"].out / "config.yaml").read_text())
    assert info["adaptation"]["feature_alignment"]["source_clips"] == 1  # the tiny config has one 3-frame window
    assert len(info["adaptation"]["feature_alignment"]["layers"]) == 8
    assert "feature_alignment" not in yaml.safe_load((runs["plain"].out / "config.yaml").read_text())["adaptation"]
    assert "online feature alignment of 8 layers" in (runs["aligned"].out / "report.html").read_text()
    # the adapted copy of an aligned run keeps the statistics (so --align works on it), a plain run's has none
    saved = runs["aligned"].out / ADAPTED_WEIGHTS
    assert read_source_statistics(read_checkpoint(saved), saved) is not None
    assert SOURCE_STATISTICS_KEY not in read_checkpoint(runs["plain"].out / ADAPTED_WEIGHTS)


def test_align_without_statistics_is_a_clear_error(weights: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    plain, root = weights["plain"], weights["root"]
    with pytest.raises(VokitError, match="no source feature statistics") as err:
        run_sequence(_night_street(3), method=None, weights=plain, out=root / "run-none", progress=False,
                     adapt=SETTINGS, align=True)
    assert str(plain) in str(err.value) and "vokit adapt-stats" in str(err.value)
    with pytest.raises(VokitError, match="--align needs --adapt"):
        run_sequence(_night_street(3), method=None, weights=weights["aligned"], out=root / "run-frozen",
                     progress=False, align=True)
    argv = ["run", "synthetic:street", "--max-frames", "3", "--weights", str(plain), "--adapt", "--align", "--quiet",
            "--out", str(root / "run-cli")]
    assert cli_main.main(argv) == 2
    assert f"{plain}: --align: this checkpoint stores no source feature statistics" in capsys.readouterr().err
    assert cli_main.main(["run", "x", "--align"]) == 2
    assert "--align need --adapt" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["channels", "layer"])
def test_statistics_that_do_not_fit_the_model_are_refused_before_running(weights: dict[str, Path], damage: str
                                                                         ) -> None:
    state = read_checkpoint(weights["aligned"])
    layers = dict(state[SOURCE_STATISTICS_KEY]["layers"])
    if damage == "channels":
        layers["depth_net.encoder.layer1"] = {"mean": torch.zeros(3), "var": torch.ones(3)}
    else:
        layers["depth_net.encoder.layer9"] = layers.pop("depth_net.encoder.layer1")
    bad = atomic_torch_save({**state, SOURCE_STATISTICS_KEY: {**state[SOURCE_STATISTICS_KEY], "layers": layers}},
                            weights["root"] / f"bad-{damage}.pt")
    expected = "have 3 channels" if damage == "channels" else "layer9', which this model lacks"
    with pytest.raises(VokitError, match=expected) as err:
        run_sequence(_night_street(3), method=None, weights=bad, out=weights["root"] / f"run-{damage}",
                     progress=False, adapt=SETTINGS, align=True)
    assert str(bad) in str(err.value)
