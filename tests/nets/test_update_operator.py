import torch

from vokit.nets.update_operator import (
    HEAD_GRAD_CLIP,
    UpdateOperator,
    head_grad_clip,
    segment_softmax,
    trajectory_neighbours,
)


def _graph(gen, num_frames=4, patches_per_frame=3):
    """Every patch of every frame connected to every frame (self-edges included)."""
    num_patches = num_frames * patches_per_frame
    patch_idx = torch.arange(num_patches).repeat_interleave(num_frames)
    dst_idx = torch.arange(num_frames).repeat(num_patches)
    src_idx = patch_idx // patches_per_frame
    return src_idx, dst_idx, patch_idx


def _inputs(gen, num_edges, dim, corr_dim=882):
    return (
        torch.randn(num_edges, dim, generator=gen),
        torch.randn(num_edges, dim, generator=gen),
        torch.randn(num_edges, corr_dim, generator=gen),
    )


def test_shapes_and_ranges(gen):
    torch.manual_seed(0)
    op = UpdateOperator(hidden_dim=32)
    src_idx, dst_idx, patch_idx = _graph(gen)
    out = op(*_inputs(gen, len(src_idx), 32), src_idx, dst_idx, patch_idx)
    assert out.hidden.shape == (48, 32)
    assert out.delta.shape == (48, 2) and out.weight.shape == (48, 2)
    assert ((out.weight > 0) & (out.weight < 1)).all()
    assert sum(p.numel() for p in UpdateOperator().parameters()) < 500_000
    assert UpdateOperator(hidden_dim=384).corr_mlp[0].weight.shape == (384, 882)


def test_permuting_edges_permutes_outputs(gen):
    torch.manual_seed(0)
    op = UpdateOperator(hidden_dim=32).double()
    src_idx, dst_idx, patch_idx = _graph(gen)
    hidden, context, corr = (x.double() for x in _inputs(gen, len(src_idx), 32))
    perm = torch.randperm(len(src_idx), generator=gen)
    out = op(hidden, context, corr, src_idx, dst_idx, patch_idx)
    out_perm = op(hidden[perm], context[perm], corr[perm], src_idx[perm], dst_idx[perm], patch_idx[perm])
    # float64: only summation order differs
    for a, b in ((out.hidden, out_perm.hidden), (out.delta, out_perm.delta), (out.weight, out_perm.weight)):
        torch.testing.assert_close(a[perm], b, rtol=1e-10, atol=1e-10)


def test_trajectory_neighbours_follow_target_frames_of_the_same_patch():
    patch_idx = torch.tensor([0, 1, 0, 0, 1, 2])
    dst_idx = torch.tensor([3, 0, 1, 2, 5, 4])
    prev_edge, next_edge = trajectory_neighbours(patch_idx, dst_idx)
    # patch 0: j = 1 (edge 2), 2 (edge 3), 3 (edge 0); patch 1: j = 0 (edge 1), 5 (edge 4); patch 2 alone
    assert prev_edge.tolist() == [3, -1, -1, 2, 1, -1]
    assert next_edge.tolist() == [-1, 4, 3, 0, -1, -1]


def test_segment_softmax_normalises_each_group_per_channel(gen):
    logits = torch.randn(7, 3, generator=gen) * 30
    group = torch.tensor([0, 2, 0, 1, 2, 2, 0])
    weights = segment_softmax(logits, group, 3)
    sums = torch.zeros(3, 3).index_add_(0, group, weights)
    torch.testing.assert_close(sums, torch.ones(3, 3))
    torch.testing.assert_close(weights[[0, 2, 6]], torch.softmax(logits[[0, 2, 6]], dim=0))


def test_head_gradient_clip_clamps_and_zeroes_nan():
    x = torch.zeros(4, requires_grad=True)
    y = head_grad_clip(x)
    torch.testing.assert_close(y, x)
    y.backward(torch.tensor([1.0, -1.0, 0.005, float("nan")]))
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.tensor([HEAD_GRAD_CLIP, -HEAD_GRAD_CLIP, 0.005, 0.0]))


def test_gradient_clip_is_active_in_the_operator_backward(gen):
    torch.manual_seed(0)
    op = UpdateOperator(hidden_dim=16)
    src_idx, dst_idx, patch_idx = _graph(gen, num_frames=2, patches_per_frame=2)
    out = op(*_inputs(gen, len(src_idx), 16), src_idx, dst_idx, patch_idx)
    # a huge loss gradient reaches the delta head's bias clipped to 0.01 per edge and axis
    (grad_bias,) = torch.autograd.grad(1e6 * out.delta.sum(), op.delta_head[1].bias)
    torch.testing.assert_close(grad_bias, torch.full((2,), HEAD_GRAD_CLIP * len(src_idx)))
    # the weight head's clip sits before the sigmoid: the pre-sigmoid gradient is clamped
    (grad_bias_w,) = torch.autograd.grad(1e6 * out.weight.sum(), op.weight_head[1].bias)
    torch.testing.assert_close(grad_bias_w, torch.full((2,), HEAD_GRAD_CLIP * len(src_idx)))


def test_training_step_reduces_a_toy_loss(gen):
    torch.manual_seed(0)
    op = UpdateOperator(hidden_dim=16)
    src_idx, dst_idx, patch_idx = _graph(gen, num_frames=2, patches_per_frame=2)
    inputs = _inputs(gen, len(src_idx), 16)
    target = torch.randn(len(src_idx), 2, generator=gen) * 0.1
    opt = torch.optim.Adam(op.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = (op(*inputs, src_idx, dst_idx, patch_idx).delta - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_empty_edge_set(gen):
    op = UpdateOperator(hidden_dim=8)
    empty = torch.zeros(0, dtype=torch.long)
    out = op(torch.zeros(0, 8), torch.zeros(0, 8), torch.zeros(0, 882), empty, empty, empty)
    assert out.delta.shape == (0, 2) and out.hidden.shape == (0, 8)


def test_blocks_compose_from_images_to_update_with_gradients_into_both_encoders(gen):
    from vokit.nets.correlation import CORR_GRAD_FRACTION, correlation_pyramid, patch_correlation
    from vokit.nets.patch_encoder import (
        context_encoder,
        extract_patches,
        feature_encoder,
        patch_grid,
        random_patch_centres,
    )

    torch.manual_seed(0)
    dim = 16
    fnet, inet, op = (
        feature_encoder(out_channels=32, base_channels=8),
        context_encoder(dim, base_channels=8),
        UpdateOperator(dim),
    )
    images = torch.rand(3, 3, 32, 48, generator=gen)
    fmap, imap = fnet(images), inet(images)
    frame_idx, centres = random_patch_centres(3, 4, fmap.shape[-2], fmap.shape[-1], gen)
    gmap = extract_patches(fmap, frame_idx, centres)
    context = extract_patches(imap, frame_idx, centres, radius=0)[:, :, 0, 0]
    patch_idx = torch.arange(12).repeat_interleave(3)
    dst_idx = torch.arange(3).repeat(12)
    src_idx = frame_idx[patch_idx]
    patch_uv = patch_grid(centres[patch_idx] + torch.randn(36, 2, generator=gen))
    corr = patch_correlation(
        gmap,
        correlation_pyramid(fmap),
        patch_idx,
        dst_idx,
        patch_uv,
        chunk_size=10,
        use_checkpoint=True,
        grad_fraction=CORR_GRAD_FRACTION,
        generator=gen,
    )
    out = op(torch.zeros(36, dim), context[patch_idx], corr, src_idx, dst_idx, patch_idx)
    (out.delta.square().sum() + out.weight.sum()).backward()
    for net in (fnet, inet):
        assert net.conv1.weight.grad is not None and net.conv1.weight.grad.abs().sum() > 0
