import numpy as np
import pytest
import torch

from vokit.cli import main as cli_main
from vokit.cli.synth import main as synth_main
from vokit.data.readers import open_sequence, read_kitti_odometry, read_tum_rgbd
from vokit.data.readers.files import load_depth_png
from vokit.data.synthetic import make_sequence, split_seed

H, W = 24, 64


@pytest.mark.parametrize(("scene", "layout"), [("street", "kitti"), ("room", "tum")])
def test_synth_writes_a_sequence_the_readers_read_back(tmp_path, scene: str, layout: str) -> None:
    out = tmp_path / f"{scene}-{layout}"
    argv = [
        "--scene",
        scene,
        "--frames",
        "4",
        "--seed",
        "3",
        "--layout",
        layout,
        "--out",
        str(out),
        "--height",
        str(H),
        "--width",
        str(W),
        "--quiet",
    ]
    assert synth_main(argv) == 0
    expected = make_sequence(scene, n_frames=4, seed=3, height=H, width=W)
    reader = read_kitti_odometry if layout == "kitti" else read_tum_rgbd
    for back in (reader(out), open_sequence(out)):
        assert len(back) == 4 and back.image_size == (H, W)
        torch.testing.assert_close(back.intrinsics, expected.intrinsics, atol=1e-5, rtol=0)
        torch.testing.assert_close(back.world_from_cam, expected.world_from_cam, atol=1e-6, rtol=0)
        if layout == "tum":
            torch.testing.assert_close(back.timestamps, expected.timestamps, atol=1e-6, rtol=0)
        for i in range(4):
            a, b = back[i], expected[i]
            torch.testing.assert_close(a.image, b.image, atol=0.5 / 255 + 1e-6, rtol=0)
            assert torch.equal(a.depth, b.depth)
            assert torch.equal(a.flow, b.flow)
            assert torch.equal(a.motion_mask, b.motion_mask)
    if layout == "tum":
        # the standard TUM depth PNGs hold the same depth to their quantisation (1/5000 m, up to 13.1 m)
        for i, name in enumerate(sorted((out / "depth").iterdir())):
            png = load_depth_png(name, 1.0 / 5000.0)
            gt = expected[i].depth
            near = gt < 13.0
            torch.testing.assert_close(png[near], gt[near], atol=0.5 / 5000 + 1e-6, rtol=0)


def test_synth_through_the_vokit_command(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "seq"
    argv = [
        "synth",
        "--scene",
        "room",
        "--frames",
        "2",
        "--split",
        "test",
        "--index",
        "1",
        "--out",
        str(out),
        "--height",
        str(H),
        "--width",
        str(W),
        "--domain",
        "dim",
        "--quiet",
    ]
    assert cli_main.main(argv) == 0
    assert f"seed {split_seed('test', 1)}" in capsys.readouterr().out
    back = read_kitti_odometry(out)
    expected = make_sequence("room", 2, split_seed("test", 1), H, W, domain="room-dim")
    torch.testing.assert_close(back[1].image, expected[1].image, atol=0.5 / 255 + 1e-6, rtol=0)
    assert np.isclose(float(back.timestamps[1]), 1 / 30)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frames", "0"], "--frames must be at least 1"),
        (["--seed", "1", "--split", "val"], "either --seed or --split"),
        (["--domain", "room-dim"], "belongs to scene 'room'"),
        (["--domain", "underwater"], "unknown synthetic domain"),
    ],
)
def test_synth_bad_arguments_exit_2(
    tmp_path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli_main.main(["synth", "--out", str(tmp_path / "x"), "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_synth_refuses_a_non_empty_folder(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert cli_main.main(["synth", "--out", str(tmp_path), "--frames", "1", "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"
