"""Patch-graph bookkeeping: edges added and removed, keyframe removal and re-insertion, one pose per frame."""

import torch

from vokit.geometry.lie import se3_compose, se3_exp, se3_identity, se3_inverse
from vokit.methods.patchvo import PatchGraph, predict_pose


def _graph(n: int, m: int = 4, lifetime: int = 3) -> PatchGraph:
    g = PatchGraph(m, dtype=torch.float64)
    for f in range(n):
        pose = se3_exp(torch.tensor([0.1 * f, 0.0, 0.02 * f, 0.0, 0.01 * f, 0.0], dtype=torch.float64))
        g.append_frame(f, 0.1 * f, pose, torch.rand(m, 2, dtype=torch.float64) * 10, torch.ones(m, dtype=torch.float64),
                       torch.zeros(m, 3), payload=f)
        g.add_edges(*g.forward_edges(lifetime))
        g.add_edges(*g.backward_edges(lifetime))
    return g


def test_edges_of_a_new_frame_follow_the_lifetime() -> None:
    m, r = 4, 3
    g = PatchGraph(m)
    for f in range(5):
        g.append_frame(f, float(f), se3_identity(), torch.zeros(m, 2), torch.ones(m), torch.zeros(m, 3))
    src, dst, patch = g.forward_edges(r)
    assert set(src.tolist()) == {2, 3} and set(dst.tolist()) == {4} and len(patch) == 2 * m
    src, dst, patch = g.backward_edges(r)
    assert set(src.tolist()) == {4} and set(dst.tolist()) == {2, 3, 4} and len(patch) == 3 * m
    assert bool((patch // m == src).all())


def test_edge_state_follows_additions_and_removals() -> None:
    g = PatchGraph(2)
    for f in range(3):
        g.append_frame(f, float(f), se3_identity(), torch.zeros(2, 2), torch.ones(2), torch.zeros(2, 3))
    g.add_edges(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([0, 2]), h=torch.tensor([[1.0], [2.0]]))
    g.add_edges(torch.tensor([2]), torch.tensor([0]), torch.tensor([4]))
    assert g.edge_state["h"].squeeze(-1).tolist() == [1.0, 2.0, 0.0]
    g.remove_edges(torch.tensor([True, False, False]))
    assert g.src_idx.tolist() == [1, 2] and g.edge_state["h"].squeeze(-1).tolist() == [2.0, 0.0]


def test_keyframe_removal_renumbers_edges_and_shifts_slots() -> None:
    m = 4
    g = _graph(6, m)
    before = {(g.frame_ids[s], g.frame_ids[d], int(p) % m)
              for s, d, p in zip(g.src_idx.tolist(), g.dst_idx.tolist(), g.patch_idx.tolist(), strict=True)}
    uv_before = g.patch_uv.clone()
    g.remove_keyframe(2)
    assert g.frame_ids == [0, 1, 3, 4, 5] and g.payload == [0, 1, 3, 4, 5] and g.n == 5
    assert torch.equal(g.patch_uv, uv_before[[0, 1, 3, 4, 5]])
    after = {(g.frame_ids[s], g.frame_ids[d], int(p) % m)
             for s, d, p in zip(g.src_idx.tolist(), g.dst_idx.tolist(), g.patch_idx.tolist(), strict=True)}
    assert after == {e for e in before if 2 not in e[:2]}
    assert bool((g.patch_idx // m == g.src_idx).all())
    g.remove_old_edges(2)
    assert int(g.src_idx.min()) >= g.n - 2


def test_trajectory_has_one_pose_per_frame_with_reinserted_frames() -> None:
    g = _graph(6)
    truth = g.cam_from_world.clone()
    g.remove_keyframe(2)
    g.remove_keyframe(3)  # frame 4 (slot 3 after the first removal)
    g.record_skipped(6, 5)
    traj = g.trajectory(7)
    assert traj.shape == (7, 7)
    torch.testing.assert_close(traj[:6], truth, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(traj[6], traj[5])
    # a removed frame follows its reference keyframe when that one moves later
    moved = se3_exp(torch.tensor([0.0, 0.5, 0.0, 0.0, 0.0, 0.2], dtype=torch.float64))
    g.cam_from_world[1] = se3_compose(moved, g.cam_from_world[1])
    rel = se3_compose(truth[2], se3_inverse(truth[1]))
    torch.testing.assert_close(g.trajectory(7)[2], se3_compose(rel, g.cam_from_world[1]), rtol=1e-9, atol=1e-9)


def test_pop_last_frame_drops_its_edges() -> None:
    g = _graph(4)
    g.pop_last_frame()
    assert g.n == 3 and int(g.src_idx.max()) <= 2 and int(g.dst_idx.max()) <= 2


def test_damped_constant_velocity() -> None:
    step = se3_exp(torch.tensor([0.2, 0.0, 0.0, 0.0, 0.1, 0.0], dtype=torch.float64))
    p0 = se3_identity(dtype=torch.float64)
    p1 = step
    pred = predict_pose(p1, p0, damping=1.0)
    torch.testing.assert_close(pred, se3_compose(step, step))
    half = predict_pose(p1, p0, damping=0.5, interval_ratio=2.0)
    torch.testing.assert_close(half, pred)
