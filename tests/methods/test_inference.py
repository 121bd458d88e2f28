from dataclasses import dataclass

import numpy as np
import pytest
import torch
from tests.methods.sequences import FOCAL, PLANE_DEPTH_M, sliding_plane_sequence
from torch import nn

from vokit.errors import VokitError
from vokit.geometry import lie
from vokit.methods.inference import chain_poses, network_geometry, run_inference
from vokit.nets.pose_net import PoseNet

SHIFT = 2  # pixels per frame, an integer so the oracles below can compare images exactly
PATCH = (20, 44, 36, 60)


def test_chain_poses_matches_matrix_products() -> None:
    gen = torch.Generator().manual_seed(0)
    xi = 0.3 * torch.randn(5, 6, generator=gen, dtype=torch.float64)
    rel = lie.se3_exp(xi)
    chained = chain_poses(rel.float())
    assert chained.dtype == torch.float64 and chained.shape == (6, 7)
    world_from_cam = np.eye(4)
    torch.testing.assert_close(chained[0], lie.se3_identity(dtype=torch.float64))
    for k in range(5):
        world_from_cam = world_from_cam @ np.linalg.inv(lie.se3_to_matrix(rel[k].float().double()).numpy())
        torch.testing.assert_close(lie.se3_to_matrix(chained[k + 1]).numpy(), world_from_cam, rtol=1e-5, atol=1e-5)


def _later(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per batch item: is ``b`` the frame after ``a`` (content moved left by SHIFT), rather than the one before?"""
    err_later = (b[..., :-SHIFT] - a[..., SHIFT:]).abs().mean(dim=(1, 2, 3))
    err_earlier = (b[..., SHIFT:] - a[..., :-SHIFT]).abs().mean(dim=(1, 2, 3))
    return err_later < err_earlier


@dataclass
class _Flow:
    flow: torch.Tensor


class _OraclePose(nn.Module):
    src_from_tgt = PoseNet.src_from_tgt  # the path inference takes

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        step_m = SHIFT * PLANE_DEPTH_M / FOCAL
        sign = torch.where(_later(a, b), -1.0, 1.0)
        out = torch.zeros(a.shape[0], 7)
        out[:, 0] = sign * step_m
        out[:, 6] = 1.0
        return out


class _OracleFlow(nn.Module):
    def forward(self, target: torch.Tensor, source: torch.Tensor) -> _Flow:
        sign = torch.where(_later(target, source), -1.0, 1.0)
        flow = torch.zeros(target.shape[0], target.shape[2], target.shape[3], 2)
        flow[..., 0] = sign[:, None, None] * SHIFT
        flow[:, PATCH[0] : PATCH[1], PATCH[2] : PATCH[3]] = 0.0
        return _Flow(flow)


class _OracleBundle(nn.Module):
    """Ground-truth depth, pose and flow of the sliding-plane sequence, through the bundle interface."""

    input_size = (64, 96)

    def __init__(self) -> None:
        super().__init__()
        self.pose_net = _OraclePose()
        self.flow_net = _OracleFlow()

    def depth(self, images: torch.Tensor) -> torch.Tensor:
        return torch.full((images.shape[0], *images.shape[-2:]), PLANE_DEPTH_M)


ORACLE = _OracleBundle()


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_inference_assembles_depth_poses_flow_and_motion_masks(batch_size: int) -> None:
    seq = sliding_plane_sequence(n_frames=7, shift_px=SHIFT, patch=PATCH)
    pred = run_inference(ORACLE, seq, "cpu", batch_size, None, flow_net=ORACLE.flow_net, show_progress=False)
    assert pred.depth.shape == (7, 64, 96) and torch.allclose(pred.depth, torch.tensor(PLANE_DEPTH_M))
    assert pred.indices.tolist() == list(range(7))
    torch.testing.assert_close(pred.timestamps, seq.timestamps)
    # chained trajectory = ground truth (the camera moves SHIFT * Z / f metres along +x per frame)
    torch.testing.assert_close(pred.world_from_cam, seq.world_from_cam, rtol=0, atol=1e-6)
    assert pred.flow is not None and pred.flow.shape == (6, 64, 96, 2)
    outside = torch.ones(64, 96, dtype=torch.bool)
    outside[PATCH[0] : PATCH[1], PATCH[2] : PATCH[3]] = False
    assert torch.all(pred.flow[:, outside, 0] == -SHIFT) and torch.all(pred.flow[..., 1] == 0)
    # the sticker moves with the camera: rigid reconstruction fails there, flow does not -> motion
    assert pred.motion_mask is not None and pred.motion_mask.shape == (7, 64, 96)
    assert float(pred.motion_mask.min()) >= 0.0 and float(pred.motion_mask.max()) <= 1.0
    gt = torch.stack([seq[k].motion_mask for k in range(7)])
    hit = pred.motion_mask > 0.5
    iou = (hit & gt).sum() / (hit | gt).sum()
    assert iou > 0.8, f"motion-mask IoU {float(iou):.3f}"
    assert pred.frames_per_second > 0


def test_static_scene_has_no_motion_and_batches_agree() -> None:
    seq = sliding_plane_sequence(n_frames=5, shift_px=SHIFT)
    one = run_inference(ORACLE, seq, "cpu", 1, None, flow_net=ORACLE.flow_net, show_progress=False)
    assert one.motion_mask is not None and float((one.motion_mask > 0.5).float().mean()) < 0.02
    sub = run_inference(ORACLE, seq, "cpu", 2, [1, 2, 3], flow_net=None, show_progress=False)
    assert sub.indices.tolist() == [1, 2, 3] and sub.flow is None and sub.motion_mask is None
    torch.testing.assert_close(sub.cam_next_from_cam, one.cam_next_from_cam[1:3])


def test_single_frame_and_bad_arguments() -> None:
    seq = sliding_plane_sequence(n_frames=3, shift_px=SHIFT)
    pred = run_inference(ORACLE, seq, "cpu", 4, [2], flow_net=ORACLE.flow_net, show_progress=False)
    assert pred.world_from_cam.shape == (1, 7) and pred.cam_next_from_cam.shape == (0, 7)
    assert pred.flow is not None and pred.flow.shape[0] == 0
    with pytest.raises(VokitError, match="no frames"):
        run_inference(ORACLE, seq, "cpu", 4, [], flow_net=None)
    with pytest.raises(VokitError, match="batch_size"):
        run_inference(ORACLE, seq, "cpu", 0, None, flow_net=None)


def test_network_geometry_keeps_the_aspect_at_the_training_pixel_budget() -> None:
    kitchen = network_geometry((480, 640), (64, 224), stride=32)  # 7-Scenes frames, shipped models' size
    assert kitchen.resized_size == (104, 138) and kitchen.input_size == (128, 160)
    h, w = kitchen.resized_size
    assert abs(w / h - 640 / 480) < 0.01 and abs(h * w / (64 * 224) - 1) < 0.01
    euroc = network_geometry((480, 752), (64, 224), stride=32)
    assert abs(euroc.resized_size[1] / euroc.resized_size[0] - 752 / 480) < 0.01
    assert all(side % 32 == 0 for side in euroc.input_size)
    same = network_geometry((64, 96), (64, 96), stride=32)
    assert same.resized_size == same.input_size == (64, 96)


def test_inference_runs_the_network_at_the_image_aspect() -> None:
    seen: list[tuple[int, int]] = []

    class Recording(_OracleBundle):
        input_size = (32, 32)  # square training size; the 64x96 frames must still reach it at 2:3

        def depth(self, images: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(images.shape[-2:]))
            return super().depth(images)

    seq = sliding_plane_sequence(n_frames=3, shift_px=SHIFT)
    frames: list[int] = []
    pred = run_inference(Recording(), seq, "cpu", 2, None, flow_net=None, show_progress=False,
                         on_frame=lambda f: frames.append(f.position))
    assert seen[0] == (32, 64) and pred.network_input_size == (32, 64)  # 26x39 at 2:3, padded to the stride
    assert pred.depth.shape == (3, 64, 96) and frames == [0, 1, 2]
