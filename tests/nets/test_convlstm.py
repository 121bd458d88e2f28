"""ConvLSTM cell and the recurrent depth / pose networks (METHODS.md section 7.1)."""

import pytest
import torch

from vokit.nets.convlstm import ConvLSTMCell, LSTMState, RecurrentDepthNet, RecurrentPoseNet
from vokit.nets.depth_decoder import DepthNet
from vokit.nets.pose_net import PoseNet


def test_cell_state_shapes_and_zero_start() -> None:
    cell = ConvLSTMCell(6, 5)
    x = torch.randn(2, 6, 4, 7)
    state = cell(x)
    assert state.hidden.shape == state.cell.shape == (2, 5, 4, 7)
    # zero start: the same as passing the zero state explicitly
    again = cell(x, cell.zero_state(x))
    torch.testing.assert_close(state.hidden, again.hidden, rtol=0, atol=0)
    assert bool((state.hidden.abs() < 1).all())  # h = o * tanh(c)


def test_cell_matches_lstm_equations() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(2, 3, kernel=1).double()
    x = torch.randn(1, 2, 1, 1, dtype=torch.float64)
    prev = LSTMState(torch.randn(1, 3, 1, 1, dtype=torch.float64), torch.randn(1, 3, 1, 1, dtype=torch.float64))
    w = cell.gates.weight[:, :, 0, 0]
    z = w @ torch.cat([x, prev.hidden], 1).flatten() + cell.gates.bias
    i, f, o, g = z.split(3)
    c = torch.sigmoid(f) * prev.cell.flatten() + torch.sigmoid(i) * torch.tanh(g)
    out = cell(x, prev)
    torch.testing.assert_close(out.cell.flatten(), c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.hidden.flatten(), torch.sigmoid(o) * torch.tanh(c), rtol=1e-12, atol=1e-12)


def test_cell_gradcheck() -> None:
    torch.manual_seed(1)
    cell = ConvLSTMCell(2, 2).double()
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, d: cell(a, LSTMState(b, d)).hidden, (x, h, c))


def test_cell_rejects_mismatched_state() -> None:
    cell = ConvLSTMCell(3, 3)
    state = cell(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        cell(torch.randn(1, 3, 5, 4), state)


def test_fresh_recurrent_nets_equal_their_plain_counterparts() -> None:
    torch.manual_seed(2)
    plain_depth, plain_pose = DepthNet(width=0.0625).eval(), PoseNet(width=0.0625).eval()
    depth, pose = RecurrentDepthNet(width=0.0625).eval(), RecurrentPoseNet(width=0.0625).eval()
    depth.load_plain(plain_depth)
    pose.load_plain(plain_pose)
    a, b = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        outs, d_state = depth(a)
        rel, p_state = pose(a, b)
        for got, want in zip(outs, plain_depth(a), strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        torch.testing.assert_close(rel, plain_pose(a, b), rtol=0, atol=0)
    assert d_state.hidden.shape == (2, depth.encoder.num_ch_enc[-1], 2, 3)
    assert p_state.hidden.shape == (2, pose.encoder.num_ch_enc[-1], 2, 3)


def test_state_carries_over_frames() -> None:
    torch.manual_seed(3)
    depth = RecurrentDepthNet(width=0.0625, scales=(0,)).eval()
    torch.nn.init.normal_(depth.memory.mix.weight, std=3.0)  # trained memory: the decoder sees h
    first_a, first_b, second = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        _, state_a = depth(first_a)
        _, state_b = depth(first_b)
        out_a, next_a = depth(second, state_a)
        out_b, _ = depth(second, state_b)
        out_fresh, _ = depth(second)
    assert float((out_a[0] - out_b[0]).abs().max()) > 1e-5  # frame 2 depends on what frame 1 was
    assert float((out_a[0] - out_fresh[0]).abs().max()) > 1e-5
    assert not torch.equal(next_a.cell, state_a.cell)
    detached = next_a.detach()
    assert not detached.hidden.requires_grad and torch.equal(detached.hidden, next_a.hidden)


def test_state_keeps_gradient_until_detached() -> None:
    torch.manual_seed(4)
    pose = RecurrentPoseNet(width=0.0625)
    torch.nn.init.normal_(pose.memory.mix.weight, std=0.5)
    frames = torch.rand(3, 1, 3, 64, 64)
    _, state = pose(frames[0], frames[1])
    rel, _ = pose(frames[1], frames[2], state)
    rel[..., :3].sum().backward()
    assert pose.memory.lstm.gates.weight.grad is not None
    assert float(pose.memory.lstm.gates.weight.grad.abs().sum()) > 0
