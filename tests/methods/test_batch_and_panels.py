import pytest
import torch
from tests.methods.sequences import sliding_plane_sequence

from vokit.data.sequence import Clip
from vokit.methods.batch import collate_clips
from vokit.methods.panels import colorize, error_panel, flow_panel, inv_depth_panel, mask_panel


def test_collate_keeps_ground_truth_only_when_every_clip_has_it() -> None:
    seq = sliding_plane_sequence(n_frames=6)
    a, b = seq.clip([0, 1, 2]), seq.clip([2, 3, 4])
    batch = collate_clips([a, b])
    assert batch.images.shape == (2, 3, 3, 64, 96) and batch.net_images is batch.images
    assert batch.intrinsics.shape == (2, 3, 4)
    assert batch.world_from_cam is not None and batch.world_from_cam.dtype == torch.float32
    assert batch.motion_mask is not None and batch.depth is None and batch.flow is None
    assert batch.target_index == 1 and batch.batch_size == 2
    bare = Clip(a.images, a.intrinsics, a.timestamps, a.indices)
    mixed = collate_clips([bare, b])
    assert mixed.world_from_cam is None and mixed.motion_mask is None
    moved = batch.to("cpu")
    assert torch.equal(moved.images, batch.images)
    with pytest.raises(ValueError):
        collate_clips([])
    with pytest.raises(ValueError):
        collate_clips([a, b], [a.images])


def test_panels_are_rgb_in_unit_range() -> None:
    gen = torch.Generator().manual_seed(0)
    depth = 1 + 10 * torch.rand(16, 24, generator=gen)
    flow = torch.randn(16, 24, 2, generator=gen)
    for panel in (inv_depth_panel(depth), flow_panel(flow), mask_panel(torch.rand(16, 24, generator=gen)),
                  mask_panel(torch.rand(16, 24, generator=gen) > 0.5, torch.rand(3, 16, 24, generator=gen)),
                  error_panel(torch.rand(16, 24, generator=gen)), colorize(torch.full((16, 24), float("nan")))):
        assert panel.shape == (3, 16, 24)
        assert float(panel.min()) >= 0 and float(panel.max()) <= 1


def test_panels_encode_their_values() -> None:
    ramp = torch.linspace(0, 1, 50).expand(4, 50)
    lum = colorize(ramp, 0.0, 1.0).sum(0)[0]
    assert torch.all(lum[1:] >= lum[:-1] - 1e-6)  # brighter for larger values
    near_far = inv_depth_panel(torch.tensor([[1.0, 50.0]])).sum(0)[0]
    assert near_far[0] > near_far[1]  # near is bright
    assert torch.allclose(flow_panel(torch.zeros(4, 4, 2)), torch.ones(3, 4, 4))  # no motion is white
    right = flow_panel(torch.tensor([[[3.0, 0.0]]]))[:, 0, 0]
    left = flow_panel(torch.tensor([[[-3.0, 0.0]]]))[:, 0, 0]
    assert not torch.allclose(right, left)
    red = mask_panel(torch.ones(2, 2))[:, 0, 0]
    assert red[0] > 0.5 and red[0] > 5 * red[1] and red[0] > 5 * red[2]  # the mask is red
