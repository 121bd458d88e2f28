import pytest
import torch
from tests.methods.sequences import sliding_plane_sequence

from vokit.geometry import lie
from vokit.methods.batch import ClipBatch, collate_clips
from vokit.methods.monodepth2 import (
    Monodepth2Model,
    infer_sequence,
    predict_src_from_tgt,
    source_indices,
    training_step,
)


def _batch(n_frames: int = 3, batch: int = 2) -> ClipBatch:
    seqs = [sliding_plane_sequence(n_frames=6, seed=s) for s in range(batch)]
    clips = [seq.clip(list(range(1, 1 + n_frames))) for seq in seqs]
    jittered = [c.images * 0.9 for c in clips]
    return collate_clips(clips, jittered)


@pytest.fixture(scope="module")
def model() -> Monodepth2Model:
    torch.manual_seed(0)
    return Monodepth2Model(width=0.25, input_size=(64, 96))


def test_source_indices() -> None:
    assert source_indices(3) == [0, 2]
    assert source_indices(2) == [0]
    assert source_indices(5) == [0, 1, 3, 4]


def test_pose_inputs_follow_monodepth2_ordering(model: Monodepth2Model) -> None:
    model.eval()  # batch-norm running statistics: batched and separate calls agree
    images = _batch().net_images
    with torch.no_grad():
        poses = predict_src_from_tgt(model.pose_net, images)
        earlier = lie.se3_inverse(model.pose_net(images[:, 0], images[:, 1]))  # (source, target), inverted
        later = model.pose_net(images[:, 1], images[:, 2])  # (target, source)
    torch.testing.assert_close(poses[:, 0], earlier, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(poses[:, 1], later, rtol=1e-4, atol=1e-5)


def test_training_step_trains_both_networks(model: Monodepth2Model) -> None:
    model.train()
    model.zero_grad()
    out = training_step(model, _batch(), step=0, want_images=True)
    assert out.loss.shape == () and torch.isfinite(out.loss)
    out.loss.backward()
    for net in (model.depth_net, model.pose_net):
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert float(out.scalars["loss/total"]) == pytest.approx(out.loss.item())
    assert all(v.shape == () for v in out.scalars.values())
    for name, image in out.images.items():
        assert image.shape == (3, 64, 96), name
        assert float(image.min()) >= 0 and float(image.max()) <= 1
    assert training_step(model, _batch(), step=1, want_images=False).images == {}


def test_loss_uses_unjittered_images_and_network_uses_jittered(model: Monodepth2Model) -> None:
    model.eval()
    batch = _batch()
    with torch.no_grad():
        base = training_step(model, batch).loss
        same_inputs = training_step(model, ClipBatch(batch.images * 1.05, batch.net_images, batch.intrinsics)).loss
        same_targets = training_step(model, ClipBatch(batch.images, batch.net_images * 1.05, batch.intrinsics)).loss
    assert float(base) != float(same_inputs) and float(base) != float(same_targets)


def test_infer_sequence_shapes_and_resizing(model: Monodepth2Model) -> None:
    seq = sliding_plane_sequence(n_frames=5, height=80, width=120)  # not the network size
    pred = infer_sequence(model, seq, "cpu", batch_size=2, show_progress=False)
    assert pred.depth.shape == (5, 80, 120)
    assert float(pred.depth.min()) >= model.min_depth - 1e-4 and float(pred.depth.max()) <= model.max_depth + 1e-3
    assert pred.world_from_cam.shape == (5, 7) and pred.cam_next_from_cam.shape == (4, 7)
    assert pred.flow is None and pred.motion_mask is None
    other = infer_sequence(model, seq, "cpu", batch_size=5, show_progress=False)
    torch.testing.assert_close(pred.depth, other.depth, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pred.world_from_cam, other.world_from_cam, rtol=1e-4, atol=1e-6)
