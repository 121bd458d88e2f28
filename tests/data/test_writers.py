import shutil

import numpy as np
import pytest
import torch
from tests.support.sequences import assert_same_sequence, make_sequence

from vokit.data.readers import open_sequence, read_kitti_odometry, read_tum_rgbd
from vokit.data.readers.files import load_depth_png
from vokit.data.trajectory_io import read_trajectory
from vokit.data.writers import write_depth_png, write_kitti_trajectory, write_ply, write_sequence, write_tum_trajectory
from vokit.errors import VokitError


@pytest.mark.parametrize("layout", ["kitti", "tum"])
def test_write_sequence_reads_back_identically(tmp_path, layout):
    seq = make_sequence(n=4)
    out = write_sequence(seq, tmp_path / layout, layout=layout)
    back = open_sequence(out)
    assert_same_sequence(seq, back)
    assert back[-1].flow is not None and bool(torch.isnan(back[-1].flow).all())
    reader = read_kitti_odometry if layout == "kitti" else read_tum_rgbd
    assert_same_sequence(seq, reader(out))


def test_write_sequence_without_ground_truth(tmp_path):
    seq = make_sequence(n=3, depth=False, flow=False, motion_mask=False, poses=False)
    for layout in ("kitti", "tum"):
        back = open_sequence(write_sequence(seq, tmp_path / layout, layout=layout))
        assert_same_sequence(seq, back)
        assert not (back.has_poses or back.has_depth or back.has_flow or back.has_motion_mask)


def test_tum_layout_standard_depth_pngs(tmp_path):
    """Without vokit's lossless extra, the TUM reader falls back to depth.txt PNGs at 5000 units per metre."""
    seq = make_sequence(n=3)
    out = write_sequence(seq, tmp_path / "tum", layout="tum")
    shutil.rmtree(out / "gt_depth")
    back = read_tum_rgbd(out)
    for i in range(3):
        d, e = back[i].depth, seq[i].depth
        encodable = e < 65535 / 5000
        assert float((d - e)[encodable].abs().max()) <= 0.5 / 5000 + 1e-6
        assert bool((d[~encodable] == 0).all())


def test_write_sequence_refuses_non_empty_folder(tmp_path):
    seq = make_sequence(n=2)
    write_sequence(seq, tmp_path / "o")
    with pytest.raises(VokitError, match="not empty"):
        write_sequence(seq, tmp_path / "o")
    write_sequence(seq, tmp_path / "o", overwrite=True)
    with pytest.raises(VokitError, match="unknown layout"):
        write_sequence(seq, tmp_path / "p", layout="colmap")


def test_depth_png_scale_and_range(tmp_path):
    depth = torch.tensor([[0.0, 1.0, 255.99, 300.0], [-1.0, float("nan"), 0.0039, 12.3456]])
    too_far = write_depth_png(tmp_path / "d.png", depth)
    assert too_far == 1
    back = load_depth_png(tmp_path / "d.png", 1 / 256)
    expected = torch.tensor([[0.0, 1.0, 255.99, 0.0], [0.0, 0.0, 0.0039, 12.3456]])
    assert float((back - expected).abs().max()) <= 0.5 / 256 + 1e-6
    assert bool((back[expected == 0] == 0).all()) and bool(back[0, 1] > 0)


def test_trajectory_writer_wrappers(tmp_path):
    seq = make_sequence(n=5)
    write_tum_trajectory(tmp_path / "a.txt", seq.timestamps, seq.world_from_cam)
    write_kitti_trajectory(tmp_path / "b.txt", seq.world_from_cam)
    t, p = read_trajectory(tmp_path / "a.txt", "tum")
    assert torch.equal(t, seq.timestamps)
    _, q = read_trajectory(tmp_path / "b.txt", "kitti")
    torch.testing.assert_close(p[:, :3], q[:, :3], rtol=0, atol=1e-12)


def _parse_ply(path):
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    assert header[0] == "ply"
    n = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    props = [h.split() for h in header if h.startswith("property")]
    dtype = [(p[2], "<f4" if p[1] == "float" else "u1") for p in props]
    if "format binary_little_endian 1.0" in header:
        return np.frombuffer(data[end:], dtype=dtype, count=n)
    rows = [line.split() for line in data[end:].decode().splitlines()]
    assert len(rows) == n
    out = np.zeros(n, dtype=dtype)
    for name, col in zip(out.dtype.names, zip(*rows, strict=True), strict=True):
        out[name] = np.array(col, dtype=float)
    return out


@pytest.mark.parametrize("binary", [True, False])
def test_ply_point_cloud(tmp_path, binary):
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(50, 3, generator=g)
    colors = torch.rand(50, 3, generator=g)
    write_ply(tmp_path / "c.ply", pts, colors, binary=binary)
    rows = _parse_ply(tmp_path / "c.ply")
    np.testing.assert_array_equal(np.stack([rows["x"], rows["y"], rows["z"]], 1), pts.numpy())
    np.testing.assert_array_equal(
        np.stack([rows["red"], rows["green"], rows["blue"]], 1), (colors * 255).round().to(torch.uint8).numpy()
    )
    write_ply(tmp_path / "p.ply", pts, binary=binary)
    assert _parse_ply(tmp_path / "p.ply").dtype.names == ("x", "y", "z")
