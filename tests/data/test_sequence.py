import numpy as np
import pytest
import torch
from tests.support.sequences import make_sequence

from vokit.data.sequence import Clip, ClipSampler, Frame, Sequence
from vokit.errors import VokitError


def test_frames_load_lazily_and_carry_ground_truth():
    calls = []
    images = [torch.full((3, 4, 5), i / 10.0) for i in range(3)]

    def load(i):
        calls.append(i)
        return images[i]

    seq = Sequence("s", [0.0, 0.1, 0.2], torch.tensor([5.0, 5.0, 2.0, 1.5]), (4, 5), load)
    assert calls == []
    frame = seq[-1]
    assert calls == [2]
    assert isinstance(frame, Frame)
    assert frame.index == 2 and frame.timestamp == pytest.approx(0.2)
    assert torch.equal(frame.image, images[2])
    assert frame.depth is None and frame.world_from_cam is None
    assert seq.intrinsics.shape == (3, 4)
    assert not (seq.has_poses or seq.has_depth or seq.has_flow or seq.has_motion_mask)
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(IndexError):
        seq[-4]


def test_full_ground_truth_frame():
    seq = make_sequence(n=3)
    assert seq.has_poses and seq.has_depth and seq.has_flow and seq.has_motion_mask
    f = seq[1]
    assert f.image.shape == (3, 24, 32) and f.depth.shape == (24, 32) and f.flow.shape == (24, 32, 2)
    assert f.motion_mask.dtype == torch.bool and f.world_from_cam.shape == (7,)
    assert seq.timestamps.dtype == torch.float64
    assert "tiny" in repr(seq)


def test_subsequence_matches_original_frames():
    seq = make_sequence(n=7)
    sub = seq.subsequence(1, 7, 2)
    assert len(sub) == 3
    for k, i in enumerate([1, 3, 5]):
        a, b = sub[k], seq[i]
        assert a.index == k
        assert torch.equal(a.image, b.image) and torch.equal(a.depth, b.depth)
        assert torch.equal(a.world_from_cam, b.world_from_cam) and a.timestamp == b.timestamp
    # Flow points to the next frame of the original sequence, so a strided subsequence cannot keep it.
    assert not sub.has_flow
    assert seq.subsequence(2, 5).has_flow
    assert torch.equal(seq.subsequence(2, 5)[0].flow, seq[2].flow)


def test_bad_construction_and_loader_shapes():
    with pytest.raises(VokitError, match="intrinsics"):
        Sequence("s", [0.0, 1.0], np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]), (2, 2), lambda i: None)
    with pytest.raises(VokitError, match="world_from_cam has shape"):
        Sequence("s", [0.0, 1.0], torch.ones(4), (2, 2), lambda i: None, world_from_cam=np.zeros((3, 7)))
    with pytest.raises(VokitError, match="non-finite"):
        poses = np.zeros((2, 7))
        poses[1, 0] = np.nan
        Sequence("s", [0.0, 1.0], torch.ones(4), (2, 2), lambda i: None, world_from_cam=poses)
    seq = Sequence("s", [0.0], torch.ones(4), (4, 4), lambda i: torch.zeros(3, 4, 5))
    with pytest.raises(VokitError, match="expected \\(3, 4, 4\\)"):
        seq[0]


def test_clip_stacks_frames():
    seq = make_sequence(n=5)
    clip = seq.clip([0, 2, 4])
    assert isinstance(clip, Clip) and len(clip) == 3
    assert clip.images.shape == (3, 3, 24, 32) and clip.depth.shape == (3, 24, 32)
    assert clip.flow.shape == (3, 24, 32, 2) and clip.motion_mask.shape == (3, 24, 32)
    assert torch.equal(clip.indices, torch.tensor([0, 2, 4]))
    assert torch.equal(clip.world_from_cam, seq.world_from_cam[[0, 2, 4]])
    assert torch.equal(clip.images[1], seq[2].image)


def test_clip_sampler_deterministic_and_in_range():
    seq = make_sequence(n=9, depth=False, flow=False, motion_mask=False)
    a = ClipSampler(seq, 3, stride=2, generator=torch.Generator().manual_seed(5))
    b = ClipSampler(seq, 3, stride=2, generator=torch.Generator().manual_seed(5))
    starts_seen = set()
    for _ in range(40):
        ca, cb = a.sample(), b.sample()
        assert torch.equal(ca.indices, cb.indices)
        first = int(ca.indices[0])
        assert torch.equal(ca.indices, torch.tensor([first, first + 2, first + 4]))
        starts_seen.add(first)
    assert starts_seen == set(range(5))  # every valid start 0..4 is drawn
    with pytest.raises(VokitError, match="too few"):
        ClipSampler(seq, 6, stride=2)


def test_clip_sampler_min_motion():
    # Camera static for frames 0..4, then moving 1 m per frame.
    x = np.concatenate([np.zeros(5), np.arange(1, 6, dtype=np.float64)])
    poses = np.zeros((10, 7))
    poses[:, 0] = x
    poses[:, 6] = 1.0
    seq = Sequence(
        "m",
        np.arange(10) * 0.1,
        torch.tensor([5.0, 5.0, 2.0, 2.0]),
        (4, 4),
        lambda i: torch.zeros(3, 4, 4),
        world_from_cam=poses,
    )
    sampler = ClipSampler(seq, 2, min_motion_m=0.5, generator=torch.Generator().manual_seed(0))
    expected = {s for s in range(9) if abs(x[s + 1] - x[s]) >= 0.5}
    assert set(sampler.starts.tolist()) == expected
    it = iter(sampler)
    for _ in range(20):
        clip = next(it)
        moved = (clip.world_from_cam[-1, :3] - clip.world_from_cam[0, :3]).norm()
        assert moved >= 0.5
    with pytest.raises(VokitError, match="moves at least"):
        ClipSampler(seq, 2, min_motion_m=2.0)
    no_poses = Sequence("n", [0.0, 1.0], torch.ones(4), (4, 4), lambda i: torch.zeros(3, 4, 4))
    with pytest.raises(VokitError, match="needs ground-truth poses"):
        ClipSampler(no_poses, 2, min_motion_m=0.1)
