"""The clutter scene and the camera motion variety: kinds, speeds, frame rates and intrinsics."""

import numpy as np
import pytest
import torch

from vokit.cli.synth import main as synth_main
from vokit.data.readers import open_sequence
from vokit.data.synthetic import SyntheticWorld
from vokit.data.synthetic.clutter import CLUTTER_SIZES, build_clutter, clutter_camera, clutter_image_size
from vokit.data.synthetic.domain import get_domain
from vokit.data.synthetic.path import MOTION_KINDS, motion_path

FPS = 20.0


def _kinematics(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step: translation in the first camera's frame ``(F-1, 3)`` and rotation angle in degrees ``(F-1,)``."""
    rot, pos = poses[:, :3, :3], poses[:, :3, 3]
    step_cam = np.einsum("fji,fj->fi", rot[:-1], pos[1:] - pos[:-1])  # R_k^T (p_{k+1} - p_k)
    rel = np.einsum("fji,fjk->fik", rot[:-1], rot[1:])
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)))
    return step_cam, angle


@pytest.mark.parametrize("kind", MOTION_KINDS)
def test_motion_kinds_move_as_named(kind: str) -> None:
    times = np.arange(101) / FPS
    poses = motion_path(np.random.default_rng(3), kind, times, 1.5, 1.6)
    step, angle = _kinematics(poses)
    speed = np.linalg.norm(step, axis=1) * FPS
    deg_per_s = angle * FPS
    along = np.abs(step) / np.linalg.norm(step, axis=1, keepdims=True).clip(1e-12)
    # every motion is smooth: no step jumps (a 10x jump between neighbouring steps would be a glitch)
    assert np.abs(np.diff(deg_per_s)).max() < 20.0
    if kind == "rotation":
        assert np.abs(poses[:, :3, 3] - poses[0, :3, 3]).max() == 0.0
        assert deg_per_s.mean() > 20.0 and deg_per_s.max() > 30.0
        return
    assert speed.mean() == pytest.approx(1.5, rel=0.35)
    if kind == "forward":
        assert np.median(along[:, 2]) > 0.98 and deg_per_s.max() < 15.0
    if kind == "sideways":
        assert np.median(along[:, 0]) > 0.98 and deg_per_s.max() < 15.0
    if kind == "handheld":
        assert deg_per_s.mean() > 30.0  # strong rotation, like a hand-held camera swung around
    if kind == "drive":
        heading = np.degrees(np.arctan2(poses[:, 0, 2], poses[:, 2, 2]))
        assert np.ptp(np.unwrap(np.radians(heading))) > np.radians(5.0)  # it turns
        assert np.median(along[:, 2]) > 0.95  # and drives along the optical axis


def test_clutter_seeds_cover_motions_frame_rates_and_cameras() -> None:
    cameras = [clutter_camera(seed) for seed in range(40)]
    assert {c[0] for c in cameras} == set(MOTION_KINDS)
    assert {c[1] for c in cameras} == {10.0, 15.0, 20.0, 30.0}
    speeds = np.array([c[2] for c in cameras if c[0] == "forward"])
    assert speeds.max() > 1.5 * speeds.min()
    hfov = np.array([c[3] for c in cameras])
    assert hfov.min() < 55.0 and hfov.max() > 90.0
    offsets = np.array([c[4] for c in cameras])
    assert np.abs(offsets).max() > 0.03 and np.abs(offsets).max() <= 0.04
    scene = build_clutter(7, 2, get_domain("clutter"))  # the scene uses its seed's camera
    motion, fps, _, hfov7, offset = cameras[7]
    assert (scene.motion, scene.hfov_deg, scene.principal_offset) == (motion, hfov7, offset)
    torch.testing.assert_close(scene.timestamps, torch.arange(3, dtype=torch.float64) / fps)
    assert {clutter_image_size(seed) for seed in range(40)} == set(CLUTTER_SIZES)
    aspects = sorted(w / h for h, w in CLUTTER_SIZES)
    assert aspects == pytest.approx([4 / 3, 16 / 9, 416 / 128])


def test_clutter_scene_holds_many_shapes_at_many_depths_some_moving() -> None:
    world = SyntheticWorld("clutter", n_frames=3, seed=4, height=48, width=64)
    boxes = world.scene.boxes
    half = boxes.half
    thin = half.amin(1) < 0.045
    assert len(boxes) >= 40 and int(thin.sum()) >= 5 and int((~thin).sum()) >= 20  # slabs and boxes
    assert boxes.sphere is not None and int(boxes.sphere.sum()) >= 3
    torch.testing.assert_close(half[boxes.sphere], half[boxes.sphere, :1].expand(-1, 3), atol=0, rtol=0)
    moving = boxes.obj >= 0
    assert 5 <= int(moving.sum()) < len(boxes)
    # intrinsics follow the scene's field of view and principal point
    fx, _, cx, cy = world.intrinsics.tolist()
    assert fx == pytest.approx(32.0 / np.tan(np.radians(world.scene.hfov_deg) / 2.0), rel=1e-5)
    ox, oy = world.scene.principal_offset
    assert (cx, cy) == pytest.approx((31.5 + 64 * ox, 23.5 + 48 * oy), abs=1e-4)
    depth = world.frame(1).depth
    assert float(depth.min()) > 0.0 and float(depth.max()) / float(depth.min()) > 5.0


def test_longer_clutter_sequences_extend_shorter_ones() -> None:
    short = SyntheticWorld("clutter", n_frames=3, seed=2, height=24, width=32)
    longer = SyntheticWorld("clutter", n_frames=7, seed=2, height=24, width=32)
    torch.testing.assert_close(short.world_from_cam, longer.world_from_cam[:3], atol=1e-6, rtol=0)
    for k in range(3):
        a, b = short.frame(k), longer.frame(k)
        assert torch.equal(a.image, b.image) and torch.equal(a.flow, b.flow)


def test_synth_writes_a_clutter_sequence_at_its_seed_size(tmp_path) -> None:
    out = tmp_path / "clutter"
    assert synth_main(["--scene", "clutter", "--frames", "2", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    back = open_sequence(out)
    assert back.image_size == clutter_image_size(3) and len(back) == 2
