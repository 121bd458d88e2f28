import numpy as np
import torch
from PIL import Image
from tests.support.data import shared_data
from tests.support.sequences import smooth_poses

from vokit.data.image_io import write_png16
from vokit.data.readers import open_sequence, read_seven_scenes
from vokit.geometry.camera import project
from vokit.geometry.lie import se3_act, se3_compose, se3_identity, se3_inverse, se3_to_matrix
from vokit.geometry.warp import backproject_depth


def _reprojection_error(frame_a, frame_b, b_from_a):
    """|z| difference of frame a's depth moved into frame b against frame b's depth (nearest pixel), metres.

    Every 4th pixel of frame a in each direction, to stay fast.
    """
    k = frame_a.intrinsics.double()
    valid = torch.zeros_like(frame_a.depth, dtype=torch.bool)
    valid[::4, ::4] = frame_a.depth[::4, ::4] > 0
    pts = backproject_depth(frame_a.depth.double()[None], k[None])[0][valid]
    pts_b = se3_act(b_from_a, pts)
    uv = project(pts_b, k).round().long()
    h, w = frame_b.depth.shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h) & (pts_b[:, 2] > 0)
    z_b = frame_b.depth.double()[uv[inside, 1], uv[inside, 0]]
    seen = z_b > 0
    return (pts_b[inside][seen, 2] - z_b[seen]).abs()


def test_real_redkitchen_depth_reprojects_with_gt_poses():
    seq = read_seven_scenes(shared_data("7scenes_redkitchen_300f"))
    assert len(seq) == 300 and seq.image_size == (480, 640) and seq.has_depth
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([585.0, 585.0, 320.0, 240.0]))
    for i in (100, 250):
        a, b = seq[i], seq[i + 10]
        err = _reprojection_error(a, b, se3_compose(se3_inverse(b.world_from_cam), a.world_from_cam))
        static = _reprojection_error(a, b, se3_identity(dtype=torch.float64))
        assert len(err) > 10_000
        assert float(err.median()) < 0.012  # measured 6.5 and 6.8 mm
        assert float(err.median()) < 0.5 * float(static.median())


def test_written_layout_depth_units_and_invalid(tmp_path):
    folder = tmp_path / "chess" / "seq-01"
    folder.mkdir(parents=True)
    poses = smooth_poses(3, torch.Generator().manual_seed(0))
    mats = se3_to_matrix(poses).numpy()
    depth_mm = np.full((48, 64), 1500, np.uint16)
    depth_mm[0, 0] = 65535
    depth_mm[1, 1] = 0
    for i in range(3):
        Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(folder / f"frame-{i:06d}.color.png")
        write_png16(folder / f"frame-{i:06d}.depth.png", depth_mm)
        np.savetxt(folder / f"frame-{i:06d}.pose.txt", mats[i])
    (folder / "camera-intrinsics.txt").write_text("60 0 31.5\n0 61 23.5\n0 0 1\n")
    seq = open_sequence(tmp_path / "chess")  # the one sequence folder inside is found
    assert len(seq) == 3 and seq.name == "chess-seq-01"
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([60.0, 61.0, 31.5, 23.5]))
    torch.testing.assert_close(se3_to_matrix(seq.world_from_cam), torch.as_tensor(mats))
    depth = seq[1].depth
    assert depth[0, 0] == 0 and depth[1, 1] == 0 and float(depth[5, 5]) == 1.5
    assert seq.timestamps[2].item() == 2 / 30
