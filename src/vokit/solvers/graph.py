"""Index layouts of a bundle-adjustment graph, built once per solve and shared by the batch.

The solver never loops over edges or patches in Python. It works on two padded layouts computed here with sorts
and scatters:

* **pair rows** (pose-pose blocks): edges sorted by ``(src, dst)`` and cut into rows of ``pair_width`` slots that
  share one frame pair, so ``G_ij``, ``Ad(G_ij)`` and the 6x6 block ``sum_e J_j^T W J_j`` are per-row quantities
  (one small batched matmul per iteration);
* **patch rows** (pose-depth blocks): observed patches grouped by host frame into rows of ``patch_width``
  patches, each row with a short list of the free frames its patches touch (``local_frames``). The pose-depth
  matrix E is stored per row as a dense ``(patch_width, 6 * n_local)`` block, so ``E Q E^T`` is one batched
  matmul whose ``(n_local x n_local)`` 6x6 blocks are scattered into the reduced camera system. Each patch
  touches only its host and its targets (about 7 frames), so this costs ``O(P * (6 L)^2)`` instead of the
  ``O(P * (6 N)^2)`` of a dense E.

A row never holds more than about twice the entries of the graph: groups larger than the row width are split
into several rows.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor


@dataclass(frozen=True)
class BAGraph:
    """Edges, gauge and the precomputed layouts of a BA problem (shared by every batch element).

    Build it with :func:`build_ba_graph`. Index conventions: frames ``0..N-1``, patches ``0..P-1``; free poses
    are numbered ``0..F-1`` in frame order and ``F`` is a dummy slot for fixed poses and padding.

    Attributes:
        src_idx: host frame of each edge's patch.
        dst_idx: frame the patch is observed in.
        patch_idx: patch of each edge.
        free_poses: which poses are optimised; the others fix the gauge.
        n_patches: number of patches P (patches without edges are left unchanged by the solve).
        n_free: number of free poses F.
        free_index: free-pose number of each frame, ``F`` for fixed frames.
        pair_width: slots per pair row.
        pair_edge: edge stored in each pair slot (0 for padding).
        pair_valid: False for padding slots.
        pair_patch: patch of each pair slot.
        pair_src: host frame of each pair row.
        pair_dst: destination frame of each pair row.
        pair_block: flat block index ``a * (F + 1) + b`` of the blocks (src,src), (src,dst), (dst,src), (dst,dst).
        pair_vec: free-pose number of (src, dst) of each row.
        patch_width: patches per patch row.
        row_patch: patch stored in each patch slot (0 for padding).
        row_patch_valid: False for padding slots.
        n_local: free frames per patch row (``L``, padded).
        local_frames: free-pose number of each local slot of each patch row (``F`` for padding).
        local_block: flat block index of each (local a, local b) pair of each patch row.
        slot_e_src: flat ``(row, patch slot, local slot)`` index in E of each pair slot's host frame,
            pointing past the end (a discarded dummy entry) when that frame is fixed.
        slot_e_dst: the same for the destination frame.
    """

    src_idx: Int[Tensor, " E"]
    dst_idx: Int[Tensor, " E"]
    patch_idx: Int[Tensor, " E"]
    free_poses: Bool[Tensor, " N"]
    n_patches: int
    n_free: int
    free_index: Int[Tensor, " N"]
    pair_width: int
    pair_edge: Int[Tensor, " S"]
    pair_valid: Bool[Tensor, " S"]
    pair_patch: Int[Tensor, " S"]
    pair_src: Int[Tensor, " R"]
    pair_dst: Int[Tensor, " R"]
    pair_block: Int[Tensor, "R 4"]
    pair_vec: Int[Tensor, "R 2"]
    patch_width: int
    row_patch: Int[Tensor, " T"]
    row_patch_valid: Bool[Tensor, " T"]
    n_local: int
    local_frames: Int[Tensor, "Q L1"]
    local_block: Int[Tensor, "Q L L"]
    slot_e_src: Int[Tensor, " S"]
    slot_e_dst: Int[Tensor, " S"]

    @property
    def n_poses(self) -> int:
        """Number of poses N."""
        return int(self.free_poses.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of edges E."""
        return int(self.src_idx.shape[0])

    @property
    def n_pair_rows(self) -> int:
        """Number of pair rows R."""
        return int(self.pair_src.shape[0])

    @property
    def n_patch_rows(self) -> int:
        """Number of patch rows."""
        return int(self.local_frames.shape[0])


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """``x[idx]`` for 1-D tensors (``index_select`` is several times faster than advanced indexing on the CPU)."""
    return x.index_select(0, idx)


def _put(size: int, idx: Tensor, values: Tensor | int | bool, fill: int | bool, dtype: torch.dtype) -> Tensor:
    """A 1-D tensor of ``fill`` with ``out[idx] = values``."""
    out = torch.full((size,), fill, dtype=dtype, device=idx.device)
    if isinstance(values, Tensor):
        return out.scatter_(0, idx, values.to(dtype))
    return out.index_fill_(0, idx, values)


def _divmod(a: Tensor, b: int) -> tuple[Tensor, Tensor]:
    """Floor division and remainder of non-negative integers (< 2**52) by a positive int, through float64.

    Integer division is not vectorised on the CPU; the float quotient of integers this small is exact enough that
    its floor is the integer quotient.
    """
    q = torch.div(a.double(), b).floor_().long()
    return q, a - q * b


def _sort_order(keys: Tensor) -> Tensor:
    """Stable sort permutation of ``keys``; the identity when they are already sorted (the common layout)."""
    if keys.numel() < 2 or bool((keys[1:] >= keys[:-1]).all()):
        return torch.arange(keys.numel(), device=keys.device)
    return torch.argsort(keys, stable=True)


def _slots(sorted_keys: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
    """Row-and-slot placement of items sorted by group key, groups cut into rows of equal width.

    Returns ``(flat_slot, group_keys, rows_per_group, width)`` where ``flat_slot`` is ``row * width + slot``; the
    width is the mean group size, so padding never exceeds the number of items.
    """
    n = sorted_keys.shape[0]
    keys, counts = torch.unique_consecutive(sorted_keys, return_counts=True)
    n_groups = counts.shape[0]
    width = max(1, -(-n // max(n_groups, 1)))
    group = torch.repeat_interleave(torch.arange(n_groups, device=sorted_keys.device), counts)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n, device=sorted_keys.device) - _take(start, group)
    rows = _divmod(counts + width - 1, width)[0]
    first = torch.cumsum(rows, 0) - rows
    row_in_group, slot = _divmod(rank, width)
    return (_take(first, group) + row_in_group) * width + slot, keys, rows, width


def build_ba_graph(
    src_idx: Int[Tensor, " E"],
    dst_idx: Int[Tensor, " E"],
    patch_idx: Int[Tensor, " E"],
    free_poses: Bool[Tensor, " N"],
    n_patches: int,
) -> BAGraph:
    """Precompute the layouts of a BA graph (a few sorts and scatters, no Python loop over edges).

    Args:
        src_idx: host frame of each edge's patch (must be the same for all edges of one patch).
        dst_idx: frame each edge observes its patch in (``dst == src`` is allowed; it constrains nothing).
        patch_idx: patch of each edge, in ``0..n_patches-1``.
        free_poses: which of the N poses are optimised; fixed poses hold the gauge.
        n_patches: number of patches P.

    Returns:
        The graph with its layouts, on the device of the inputs.

    Raises:
        ValueError: on shape mismatches, indices out of range, or a patch whose edges name different hosts.
    """
    n_poses = int(free_poses.shape[0])
    _check_edges(src_idx, dst_idx, patch_idx, n_poses, n_patches)
    dev = src_idx.device
    src_idx, dst_idx, patch_idx = src_idx.long(), dst_idx.long(), patch_idx.long()
    free_poses = free_poses.to(device=dev, dtype=torch.bool)
    n_free = int(free_poses.sum())
    free_index = torch.where(free_poses, torch.cumsum(free_poses.long(), 0) - 1, n_free)

    # pair rows: edges sorted by frame pair
    pair_key = src_idx * n_poses + dst_idx
    order = _sort_order(pair_key)
    flat, keys, rows, pair_width = _slots(_take(pair_key, order))
    n_slots = int(rows.sum()) * pair_width
    pair_edge = _put(n_slots, flat, order, 0, torch.long)
    pair_valid = _put(n_slots, flat, True, False, torch.bool)
    key_src, key_dst = _divmod(keys, n_poses)
    pair_src = torch.repeat_interleave(key_src, rows)
    pair_dst = torch.repeat_interleave(key_dst, rows)
    fs, fd = _take(free_index, pair_src), _take(free_index, pair_dst)
    side = n_free + 1
    pair_block = torch.stack([fs * side + fs, fs * side + fd, fd * side + fs, fd * side + fd], dim=-1)

    # patch rows: observed patches grouped by host
    host = _put(n_patches, patch_idx, src_idx, -1, torch.long)
    if bool((_take(host, patch_idx) != src_idx).any()):
        raise ValueError("build_ba_graph: all edges of a patch must share its host frame (src_idx)")
    used = torch.nonzero(host >= 0).squeeze(-1)
    used_host = _take(host, used)
    porder = _take(used, _sort_order(used_host))
    pflat, _, prows, patch_width = _slots(_take(host, porder))
    n_prows = int(prows.sum())
    n_pslots = n_prows * patch_width
    row_patch = _put(n_pslots, pflat, porder, 0, torch.long)
    row_patch_valid = _put(n_pslots, pflat, True, False, torch.bool)
    slot_of_patch = _put(n_patches, porder, pflat, 0, torch.long)

    # local frame lists of patch rows: the free frames their edges touch, ranked in frame order through a small
    # (rows x frames) occupancy table (fixed frames go to a dummy column and get the dummy slot n_local)
    edge_pslot = _take(slot_of_patch, patch_idx)
    edge_prow = _divmod(edge_pslot, patch_width)[0]
    frames = torch.cat([src_idx, dst_idx])
    rows2 = torch.cat([edge_prow, edge_prow])
    is_free = _take(free_poses, frames)
    cell = rows2 * (n_poses + 1) + torch.where(is_free, frames, n_poses)
    table = _put(n_prows * (n_poses + 1), cell, True, False, torch.bool).view(n_prows, n_poses + 1)
    table[:, n_poses] = False
    n_local = int(table.sum(1).max()) if n_prows else 0
    rank = (torch.cumsum(table.long(), 1) - 1).flatten()
    lslot = torch.where(is_free, _take(rank, cell), n_local)
    local_frames = torch.full((n_prows, n_local + 1), n_free, dtype=torch.long, device=dev)
    occ_row, occ_frame = torch.nonzero(table, as_tuple=True)
    local_frames[occ_row, rank[occ_row * (n_poses + 1) + occ_frame]] = free_index[occ_frame]
    e_flat = torch.cat([edge_pslot, edge_pslot]) * n_local + lslot
    dummy = n_pslots * n_local
    e_flat = torch.where(lslot < n_local, e_flat, dummy)
    n_edges = src_idx.shape[0]
    lf = local_frames[:, :n_local]
    local_block = lf[:, :, None] * side + lf[:, None, :]
    return BAGraph(
        src_idx=src_idx,
        dst_idx=dst_idx,
        patch_idx=patch_idx,
        free_poses=free_poses,
        n_patches=n_patches,
        n_free=n_free,
        free_index=free_index,
        pair_width=pair_width,
        pair_edge=pair_edge,
        pair_valid=pair_valid,
        pair_patch=_take(patch_idx, pair_edge),
        pair_src=pair_src,
        pair_dst=pair_dst,
        pair_block=pair_block,
        pair_vec=torch.stack([fs, fd], dim=-1),
        patch_width=patch_width,
        row_patch=row_patch,
        row_patch_valid=row_patch_valid,
        n_local=n_local,
        local_frames=local_frames,
        local_block=local_block,
        slot_e_src=_take(e_flat[:n_edges], pair_edge),
        slot_e_dst=_take(e_flat[n_edges:], pair_edge),
    )


def _check_edges(src_idx: Tensor, dst_idx: Tensor, patch_idx: Tensor, n_poses: int, n_patches: int) -> None:
    if not (src_idx.shape == dst_idx.shape == patch_idx.shape) or src_idx.dim() != 1:
        raise ValueError(
            "build_ba_graph: src_idx, dst_idx and patch_idx must be 1-D with one entry per edge, got shapes "
            f"{tuple(src_idx.shape)}, {tuple(dst_idx.shape)}, {tuple(patch_idx.shape)}"
        )
    if src_idx.numel() == 0:
        raise ValueError("build_ba_graph: the graph has no edges")
    checks = (("src_idx", src_idx, n_poses), ("dst_idx", dst_idx, n_poses), ("patch_idx", patch_idx, n_patches))
    for name, idx, bound in checks:
        if idx.is_floating_point() or int(idx.min()) < 0 or int(idx.max()) >= bound:
            raise ValueError(
                f"build_ba_graph: {name} must hold integers in [0, {bound}), got range "
                f"[{idx.min().item()}, {idx.max().item()}]"
            )
