import pytest
import torch
from tests.methods.sequences import sliding_plane_sequence

from vokit.losses.coopnet import GradientApportionment
from vokit.methods.batch import collate_clips
from vokit.methods.coopnet import CoopNetLossParams, CoopNetModel, default_flow_levels, infer_sequence, training_step


@pytest.fixture(scope="module")
def model() -> CoopNetModel:
    torch.manual_seed(0)
    return CoopNetModel(width=0.25, flow_width=0.25, input_size=(64, 96), apportion_history=4)


def _batch():
    clips = [sliding_plane_sequence(n_frames=5, seed=s).clip([1, 2, 3]) for s in range(2)]
    return collate_clips(clips)


def test_default_flow_levels() -> None:
    assert [default_flow_levels(h) for h in (64, 96, 128, 192, 384)] == [5, 5, 6, 6, 6]


def test_training_step_trains_all_three_networks(model: CoopNetModel) -> None:
    model.train()
    model.zero_grad()
    out = training_step(model, _batch(), step=1, want_images=True)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for net in (model.depth_net, model.pose_net, model.flow_net):
        assert sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None) > 0
    assert {"image/flow", "image/motion_mask", "image/inv_depth"} <= set(out.images)
    assert "image/motion_mask_gt" in out.images  # the clips carry ground-truth masks


def test_apportionment_runs_every_k_steps_and_lives_in_buffers(model: CoopNetModel) -> None:
    model.train()
    fresh = CoopNetModel(width=0.25, flow_width=0.25, input_size=(64, 96), apportion_history=4)
    model.load_state_dict(fresh.state_dict())
    params = CoopNetLossParams(apportion_every=3)
    training_step(model, _batch(), step=2, params=params)
    assert int(model.apportion_count) == 0 and float(model.lambda_rigid) == 1.0
    out = training_step(model, _batch(), step=3, params=params)
    assert int(model.apportion_count) == 1
    g_depth, g_pose, g_flow = model.apportion_gradients.tolist()
    assert min(g_depth, g_pose, g_flow) > 0
    # section 8.4 with an initial lambda_R of 1 and one ratio in the history
    rho = min(max(g_flow / (0.5 * (g_depth + g_pose)), 0.1), 10.0)
    assert float(model.lambda_rigid) == pytest.approx(min(max(rho, 0.01), 100.0))
    assert float(out.scalars["apportion/lambda_rigid"]) == pytest.approx(float(model.lambda_rigid))
    # the buffers round-trip the full GradientApportionment state
    app = model.apportionment(3)
    assert isinstance(app, GradientApportionment)
    assert list(app.history) == pytest.approx([rho]) and app.lambda_rigid == pytest.approx(float(model.lambda_rigid))
    for k in range(6):
        app.update(1.0 + k, 2.0, 3.0 * (k + 1))
    model.store_apportionment(app)
    again = model.apportionment(3)
    assert list(again.history) == pytest.approx(list(app.history)) and len(again.history) == 4
    assert again.lambda_rigid == pytest.approx(app.lambda_rigid)
    model.eval()
    before = model.lambda_rigid.clone()
    with torch.no_grad():
        training_step(model, _batch(), step=6, params=params)
    assert torch.equal(model.lambda_rigid, before)  # no apportionment outside training
    disabled = CoopNetLossParams(apportion_every=3, use_apportionment=False)
    model.train()
    training_step(model, _batch(), step=9, params=disabled)
    assert torch.equal(model.lambda_rigid, before)


def test_rigid_warmup_holds_lambda_and_unmasks_the_rigid_term(model: CoopNetModel) -> None:
    model.train()
    fresh = CoopNetModel(width=0.25, flow_width=0.25, input_size=(64, 96), apportion_history=4)
    model.load_state_dict(fresh.state_dict())
    model.lambda_rigid.fill_(5.0)
    warm = CoopNetLossParams(apportion_every=3, rigid_warmup=4, smoothness_weight=0.0, flow_smoothness_weight=0.0)
    torch.manual_seed(0)
    out = training_step(model, _batch(), step=3, params=warm)  # an apportionment step, but still warming up
    assert int(model.apportion_count) == 0 and float(model.lambda_rigid) == 5.0
    rigid, flow_task = out.scalars["loss/rigid"], out.scalars["loss/flow_photometric"]
    flow_task = flow_task + warm.consistency_weight * out.scalars["loss/consistency"]
    torch.testing.assert_close(out.loss.detach(), rigid + flow_task)  # lambda_R = 1 during the warm-up
    torch.manual_seed(0)
    training_step(model, _batch(), step=6, params=warm)  # warm-up over: apportionment resumes
    assert int(model.apportion_count) == 1 and float(model.lambda_rigid) != 5.0


def test_infer_sequence_outputs(model: CoopNetModel) -> None:
    seq = sliding_plane_sequence(n_frames=5)
    pred = infer_sequence(model, seq, "cpu", batch_size=2, show_progress=False)
    assert pred.depth.shape == (5, 64, 96)
    assert pred.flow is not None and pred.flow.shape == (4, 64, 96, 2) and torch.isfinite(pred.flow).all()
    assert pred.motion_mask is not None and pred.motion_mask.shape == (5, 64, 96)
    assert float(pred.motion_mask.min()) >= 0 and float(pred.motion_mask.max()) <= 1
    whole = infer_sequence(model, seq, "cpu", batch_size=8, show_progress=False)
    torch.testing.assert_close(pred.flow, whole.flow, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pred.depth, whole.depth, rtol=1e-4, atol=1e-4)
    assert whole.motion_mask is not None
    assert float((pred.motion_mask - whole.motion_mask).abs().mean()) < 1e-3


def test_motion_iou_is_logged_against_ground_truth_masks(model: CoopNetModel) -> None:
    model.eval()
    batch = _batch()
    assert batch.motion_mask is not None
    with torch.no_grad():
        out = training_step(model, batch)
    assert "stats/motion_iou" in out.scalars
    assert 0.0 <= float(out.scalars["stats/motion_iou"]) <= 1.0
