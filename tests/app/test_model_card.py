"""`vokit eval model`: the model-card table of a checkpoint (vokit.app.model_card)."""

import json
from pathlib import Path

import pytest
import torch

from vokit.app.model_card import CARD_COLUMNS, CardRow, ModelCard, card_values, mean_values, zero_flow_epe
from vokit.cli import main as cli_main
from vokit.cli.synth import synth
from vokit.data.synthetic import make_sequence

WEIGHTS = Path(__file__).resolve().parents[2] / "src" / "vokit" / "weights" / "monodepth2-synthetic.pt"


def test_card_values_read_the_metrics_and_average_present_values() -> None:
    metrics = {"depth": {"mean": {"abs_rel": 0.3, "a1": 0.5}}, "depth_constant": {"mean": {"abs_rel": 0.7}},
               "trivial": {"static camera": {"ate_rmse_m": 2.0}}, "flow": {"epe_pooled": float("nan")}}
    values = card_values(metrics)
    assert values["abs_rel"] == 0.3 and values["abs_rel const. depth"] == 0.7 and values["ATE static (m)"] == 2.0
    assert values["flow EPE (px)"] is None and values["mask IoU"] is None
    assert set(values) == {name for name, _ in CARD_COLUMNS}
    mean = mean_values([values, {**values, "abs_rel": 0.5, "mask IoU": 0.4}])
    assert mean["abs_rel"] == pytest.approx(0.4) and mean["mask IoU"] == 0.4 and mean["ATE (m)"] is None
    table = ModelCard(WEIGHTS, "monodepth2", (CardRow("x", mean, 2),)).table()
    assert table.splitlines()[2].startswith("| x | 0.4 | 0.7 |") and " - |" in table


def test_zero_flow_epe_is_the_mean_flow_magnitude() -> None:
    seq = make_sequence("clutter", n_frames=3, seed=1, height=16, width=24)
    gts = torch.stack([seq.flow(i) for i in range(2)])
    assert zero_flow_epe(seq, 2) == pytest.approx(float(gts.norm(dim=-1).mean()), rel=1e-6)


def test_eval_model_on_the_shipped_weights(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    real = synth(tmp_path / "real", "street", frames=3, seed=5, height=64, width=224, progress=False)
    out = tmp_path / "card"
    argv = ["eval", "model", str(WEIGHTS), "--sequences", "1", "--frames", "3", "--height", "64", "--width", "224",
            "--real", str(real), "--out", str(out)]
    assert cli_main.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| synthetic test: street, 1 x 3 frames at 64x224 |" in printed and "| real (3 frames) |" in printed
    card = json.loads((out / "model_card.json").read_text())
    assert card["method"] == "monodepth2" and len(card["rows"]) == 2
    for row, run in zip(card["rows"], ("test-street-0", "real-real"), strict=True):
        metrics = json.loads((out / "runs" / run / "metrics.json").read_text())
        assert row["abs_rel"] == metrics["depth"]["mean"]["abs_rel"]
        assert row["abs_rel const. depth"] == metrics["depth_constant"]["mean"]["abs_rel"]
        assert row["ATE static (m)"] == metrics["trivial"]["static camera"]["ate_rmse_m"]
        assert row["flow EPE (px)"] is None and row["mask IoU"] is None  # monodepth2 predicts neither


def test_eval_model_bad_checkpoint_exits_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["eval", "model", str(tmp_path / "none.pt"), "--sequences", "0"]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_eval_model_missing_real_sequence_exits_2_naming_it(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "model", str(WEIGHTS), "--sequences", "0", "--real", str(tmp_path / "no-such-seq")]
    assert cli_main.main(argv) == 2
    err = capsys.readouterr().err
    assert "no-such-seq" in err and "Traceback" not in err
