"""CoopNet with the census flow photometric term and the forward-backward occlusion mask switched on."""

import torch
from tests.methods.sequences import sliding_plane_sequence

from vokit.methods.batch import collate_clips
from vokit.methods.coopnet import CoopNetLossParams, CoopNetModel, CoopNetSettings, training_step


def test_training_step_with_census_and_occlusion_mask_trains_all_three_networks() -> None:
    torch.manual_seed(0)
    model = CoopNetModel(width=0.25, flow_width=0.25, input_size=(64, 96))
    model.train()
    batch = collate_clips([sliding_plane_sequence(n_frames=5, seed=s).clip([1, 2, 3]) for s in range(2)])
    params = CoopNetLossParams(flow_photometric="census", flow_occlusion_mask=True)
    out = training_step(model, batch, step=1, params=params)
    out.loss.backward()
    for net in (model.depth_net, model.pose_net, model.flow_net):
        assert sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None) > 0
    # the census border alone leaves out 1 - (58 * 90) / (64 * 96) = 15% of the pixels
    assert 0.15 <= float(out.scalars["stats/flow_excluded_fraction"]) < 1.0
    default = training_step(model, batch, step=1)
    assert float(default.scalars["stats/flow_excluded_fraction"]) == 0.0


def test_settings_carry_the_flow_options_to_the_loss() -> None:
    params = CoopNetSettings(flow_photometric="census", flow_occlusion_mask=True).loss_params()
    assert params.flow_photometric == "census" and params.flow_occlusion_mask
    assert CoopNetSettings().loss_params().flow_photometric == "ssim_l1"  # defaults unchanged


def test_occlusion_mask_waits_for_its_start_step() -> None:
    torch.manual_seed(0)
    model = CoopNetModel(width=0.25, flow_width=0.25, input_size=(64, 96))
    batch = collate_clips([sliding_plane_sequence(n_frames=5, seed=s).clip([1, 2, 3]) for s in range(2)])
    params = CoopNetLossParams(flow_photometric="census", flow_occlusion_mask=True, flow_occlusion_start=10)
    census_only = CoopNetLossParams(flow_photometric="census")
    with torch.no_grad():
        before = training_step(model, batch, step=9, params=params).scalars["stats/flow_excluded_fraction"]
        plain = training_step(model, batch, step=9, params=census_only).scalars["stats/flow_excluded_fraction"]
        after = training_step(model, batch, step=10, params=params).scalars["stats/flow_excluded_fraction"]
    assert float(before) == float(plain)  # the census border only
    assert float(after) > float(before)  # the untrained flows fail the forward-backward test somewhere
    assert CoopNetSettings(flow_occlusion_start=7).loss_params().flow_occlusion_start == 7
