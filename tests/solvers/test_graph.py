import torch

from vokit.solvers import build_ba_graph


def _irregular(gen, n_poses=6, n_patches=40, n_edges=150):
    host = torch.randint(0, n_poses, (n_patches,), generator=gen)
    patch = torch.randint(0, n_patches, (n_edges,), generator=gen)
    dst = torch.randint(0, n_poses, (n_edges,), generator=gen)
    free = torch.rand(n_poses, generator=gen) > 0.3
    free[0] = False
    return host[patch], dst, patch, free, n_patches


def test_pair_rows_hold_every_edge_once_with_its_frame_pair(gen):
    src, dst, patch, free, n_p = _irregular(gen)
    g = build_ba_graph(src, dst, patch, free, n_p)
    edges = g.pair_edge[g.pair_valid]
    assert sorted(edges.tolist()) == list(range(src.shape[0]))
    row = torch.arange(g.pair_edge.shape[0]) // g.pair_width
    assert torch.equal(src[g.pair_edge][g.pair_valid], g.pair_src[row][g.pair_valid])
    assert torch.equal(dst[g.pair_edge][g.pair_valid], g.pair_dst[row][g.pair_valid])
    assert torch.equal(g.pair_patch[g.pair_valid], patch[edges])
    assert g.pair_edge.shape[0] <= 2 * src.shape[0] + g.pair_width  # padding bounded


def test_patch_rows_and_local_frames_cover_each_patch(gen):
    src, dst, patch, free, n_p = _irregular(gen)
    g = build_ba_graph(src, dst, patch, free, n_p)
    observed = sorted(set(patch.tolist()))
    assert sorted(g.row_patch[g.row_patch_valid].tolist()) == observed
    slot_row = torch.arange(g.row_patch.shape[0]) // g.patch_width
    free_index = g.free_index
    for s in torch.nonzero(g.row_patch_valid).squeeze(-1).tolist():
        k = int(g.row_patch[s])
        mine = patch == k
        needed = {int(free_index[f]) for f in torch.cat([src[mine], dst[mine]]).tolist() if bool(free[f])}
        local = set(g.local_frames[slot_row[s], : g.n_local].tolist()) - {g.n_free}
        assert needed <= local
        assert len({int(h) for h in src[mine]}) == 1  # one host per row
    # local lists are free-pose numbers in increasing order, padded with the dummy F
    lf = g.local_frames[:, : g.n_local]
    assert bool((lf[:, 1:] >= lf[:, :-1]).all())
    assert g.n_free == int(free.sum())


def test_sorted_and_shuffled_edges_give_the_same_blocks(gen):
    src, dst, patch, free, n_p = _irregular(gen)
    perm = torch.randperm(src.shape[0], generator=gen)
    a = build_ba_graph(src, dst, patch, free, n_p)
    b = build_ba_graph(src[perm], dst[perm], patch[perm], free, n_p)
    pairs_a = sorted(zip(a.pair_src.tolist(), a.pair_dst.tolist(), strict=True))
    pairs_b = sorted(zip(b.pair_src.tolist(), b.pair_dst.tolist(), strict=True))
    assert pairs_a == pairs_b
    assert a.n_local == b.n_local
