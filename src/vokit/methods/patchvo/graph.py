"""The patch graph of patchvo: keyframe buffers, patches, edges and the bookkeeping of removed frames.

METHODS.md section 4.4 (princeton-vl/DPVO ``dpvo/dpvo.py``). The graph holds, per **buffer slot** (a kept
keyframe, in temporal order), its pose ``cam_from_world``, its input frame index, its M patches (centres in
1/4-resolution pixels, one inverse depth each, an RGB colour) and an opaque per-frame payload of the operator
(image pyramids, feature maps, ground truth). Patch ``m`` of slot ``s`` has the global index ``s * M + m``.

An **edge** ``(src, dst, patch)`` observes a patch hosted in slot ``src`` in slot ``dst``; edges also carry a
dict of per-edge tensors (the learned operator's hidden state, the LK operator's cached tracks) that follows
every removal. Removing a keyframe shifts the later slots down by one and renumbers the edges.

Frames that never enter the buffer (skipped by the motion probe) or leave it (keyframe removal) are recorded as a
pose relative to another input frame, ``cam_f_from_cam_ref``, and re-inserted by composition at the end
(:meth:`PatchGraph.trajectory`).
"""

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from vokit.geometry.lie import se3_act, se3_compose, se3_identity, se3_inverse


@dataclass(frozen=True)
class RelativePose:
    """A frame outside the buffer: its pose relative to another input frame.

    Attributes:
        ref_frame: input index of the reference frame (a kept keyframe or another recorded frame).
        cam_from_ref: ``cam_f_from_cam_ref`` = ``T_f T_ref^-1`` with T = ``cam_from_world``.
    """

    ref_frame: int
    cam_from_ref: Float[Tensor, "7"]


class PatchGraph:
    """Keyframe slots, their patches and the edges between them (mutable; see the module docstring).

    Args:
        patches_per_frame: M.
        dtype: float dtype of poses and patch state.
        device: where the tensors live.
    """

    def __init__(self, patches_per_frame: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> None:
        if patches_per_frame < 1:
            raise ValueError(f"patches_per_frame must be >= 1, got {patches_per_frame}")
        self.M = patches_per_frame
        self.dtype = dtype
        self.device = torch.device(device)
        self.cam_from_world = torch.zeros(0, 7, dtype=dtype, device=self.device)
        self.frame_ids: list[int] = []
        self.timestamps: list[float] = []
        self.patch_uv = torch.zeros(0, self.M, 2, dtype=dtype, device=self.device)
        self.inv_depth = torch.zeros(0, self.M, dtype=dtype, device=self.device)
        self.colors = torch.zeros(0, self.M, 3, dtype=dtype, device=self.device)
        self.payload: list[Any] = []
        self.src_idx = torch.zeros(0, dtype=torch.long, device=self.device)
        self.dst_idx = torch.zeros(0, dtype=torch.long, device=self.device)
        self.patch_idx = torch.zeros(0, dtype=torch.long, device=self.device)
        self.edge_state: dict[str, Tensor] = {}
        self.relative: dict[int, RelativePose] = {}

    # ------------------------------------------------------------------ frames
    @property
    def n(self) -> int:
        """Number of buffer slots (kept keyframes)."""
        return len(self.frame_ids)

    @property
    def n_edges(self) -> int:
        """Number of edges E."""
        return int(self.src_idx.shape[0])

    def append_frame(
        self,
        frame_id: int,
        timestamp: float,
        cam_from_world: Float[Tensor, "7"],
        patch_uv: Float[Tensor, "M 2"],
        inv_depth: Float[Tensor, " M"],
        colors: Float[Tensor, "M 3"],
        payload: Any = None,
    ) -> int:
        """Add a keyframe slot at the end and return its index.

        Args:
            frame_id: input index of the frame.
            timestamp: capture time, seconds.
            cam_from_world: initial pose ``[t, q_xyzw]``.
            patch_uv: patch centres, 1/4-resolution pixels.
            inv_depth: initial patch inverse depths (host frame).
            colors: RGB in [0, 1] per patch (for point clouds).
            payload: the operator's per-frame data.
        """
        if patch_uv.shape != (self.M, 2) or inv_depth.shape != (self.M,):
            raise ValueError(f"expected {self.M} patches, got uv {tuple(patch_uv.shape)}, d {tuple(inv_depth.shape)}")
        self.cam_from_world = torch.cat([self.cam_from_world, self._cast(cam_from_world)[None]])
        self.patch_uv = torch.cat([self.patch_uv, self._cast(patch_uv)[None]])
        self.inv_depth = torch.cat([self.inv_depth, self._cast(inv_depth)[None]])
        self.colors = torch.cat([self.colors, self._cast(colors)[None]])
        self.frame_ids.append(int(frame_id))
        self.timestamps.append(float(timestamp))
        self.payload.append(payload)
        return self.n - 1

    def _cast(self, x: Tensor) -> Tensor:
        return x.to(device=self.device, dtype=self.dtype)

    def pop_last_frame(self) -> None:
        """Drop the newest slot (a frame rejected by the motion probe) and every edge touching it."""
        if self.n == 0:
            raise ValueError("pop_last_frame: the graph is empty")
        last = self.n - 1
        self.remove_edges((self.src_idx == last) | (self.dst_idx == last))
        self._drop_slot(last)

    def _drop_slot(self, k: int) -> None:
        keep = torch.arange(self.n, device=self.device) != k
        self.cam_from_world = self.cam_from_world[keep]
        self.patch_uv = self.patch_uv[keep]
        self.inv_depth = self.inv_depth[keep]
        self.colors = self.colors[keep]
        del self.frame_ids[k], self.timestamps[k], self.payload[k]

    def record_skipped(self, frame_id: int, ref_frame: int) -> None:
        """Record an input frame that never entered the buffer as a copy of ``ref_frame``'s pose."""
        self.relative[int(frame_id)] = RelativePose(int(ref_frame), se3_identity(dtype=self.dtype, device=self.device))

    def remove_keyframe(self, k: int) -> None:
        """Remove slot ``k`` (0 < k < n): store its pose relative to slot k-1, drop its edges, shift later slots.

        Raises:
            ValueError: if ``k`` is the first slot or out of range.
        """
        if not 0 < k < self.n:
            raise ValueError(f"remove_keyframe: slot {k} is not in 1..{self.n - 1}")
        rel = se3_compose(self.cam_from_world[k], se3_inverse(self.cam_from_world[k - 1]))
        self.relative[self.frame_ids[k]] = RelativePose(self.frame_ids[k - 1], rel)
        self.remove_edges((self.src_idx == k) | (self.dst_idx == k))
        later_src = self.src_idx > k
        self.patch_idx = torch.where(later_src, self.patch_idx - self.M, self.patch_idx)
        self.src_idx = torch.where(later_src, self.src_idx - 1, self.src_idx)
        self.dst_idx = torch.where(self.dst_idx > k, self.dst_idx - 1, self.dst_idx)
        self._drop_slot(k)

    # ------------------------------------------------------------------ edges
    def add_edges(self, src_idx: Int[Tensor, " E"], dst_idx: Int[Tensor, " E"], patch_idx: Int[Tensor, " E"],
                  **state: Tensor) -> None:
        """Append edges; ``state`` gives their initial per-edge tensors (keys absent here are zero-filled)."""
        e_new = int(src_idx.shape[0])
        if not e_new:
            return
        if bool(((patch_idx // self.M) != src_idx).any()):
            raise ValueError("add_edges: a patch's host slot must be its src slot")
        self.src_idx = torch.cat([self.src_idx, src_idx.to(self.device)])
        self.dst_idx = torch.cat([self.dst_idx, dst_idx.to(self.device)])
        self.patch_idx = torch.cat([self.patch_idx, patch_idx.to(self.device)])
        for key in set(self.edge_state) | set(state):
            old = self.edge_state.get(key)
            new = state.get(key)
            if new is None:
                assert old is not None
                new = old.new_zeros((e_new, *old.shape[1:]))
            if old is None:
                old = new.new_zeros((self.n_edges - e_new, *new.shape[1:]))
            self.edge_state[key] = torch.cat([old, new])

    def remove_edges(self, remove: Bool[Tensor, " E"]) -> None:
        """Drop the edges where ``remove`` is True (with their per-edge state)."""
        keep = ~remove
        self.src_idx, self.dst_idx, self.patch_idx = self.src_idx[keep], self.dst_idx[keep], self.patch_idx[keep]
        self.edge_state = {key: value[keep] for key, value in self.edge_state.items()}

    def forward_edges(self, lifetime: int) -> tuple[Tensor, Tensor, Tensor]:
        """Edges from every patch of slots ``n-r .. n-2`` to the newest slot ``n-1`` (r = ``lifetime``)."""
        t = self.n - 1
        patches = torch.arange(self.M * max(t - lifetime + 1, 0), self.M * t, device=self.device)
        return patches // self.M, torch.full_like(patches, t), patches

    def backward_edges(self, lifetime: int) -> tuple[Tensor, Tensor, Tensor]:
        """Edges from every patch of the newest slot to slots ``n-r .. n-1`` (itself included)."""
        t = self.n - 1
        patches = torch.arange(self.M * t, self.M * (t + 1), device=self.device)
        targets = torch.arange(max(t - lifetime + 1, 0), t + 1, device=self.device)
        pp, tt = torch.meshgrid(patches, targets, indexing="ij")
        return pp.reshape(-1) // self.M, tt.reshape(-1), pp.reshape(-1)

    def remove_old_edges(self, removal_window: int) -> None:
        """Drop edges whose host slot is older than ``n - removal_window``."""
        self.remove_edges(self.src_idx < self.n - removal_window)

    # ------------------------------------------------------------------ outputs
    def trajectory(self, n_frames: int) -> Float[Tensor, "N 7"]:
        """``cam_from_world`` of every input frame ``0..n_frames-1``, re-inserting recorded frames.

        Raises:
            ValueError: if a frame is neither in the buffer nor recorded.
        """
        poses: dict[int, Tensor] = {f: self.cam_from_world[s] for s, f in enumerate(self.frame_ids)}

        def resolve(f: int) -> Tensor:
            chain = []
            while f not in poses:
                if f not in self.relative:
                    raise ValueError(f"trajectory: frame {f} is neither a keyframe nor recorded")
                chain.append(f)
                f = self.relative[f].ref_frame
            pose = poses[f]
            for g in reversed(chain):
                pose = se3_compose(self.relative[g].cam_from_ref, pose)
                poses[g] = pose
            return pose

        return torch.stack([resolve(f) for f in range(n_frames)])

    def patch_points_world(self, intrinsics: Float[Tensor, "4"]) -> Float[Tensor, "P 3"]:
        """Patch centres back-projected at their inverse depths, in world coordinates (all slots).

        Args:
            intrinsics: ``(fx, fy, cx, cy)`` of the 1/4-resolution patch coordinates.
        """
        fx, fy, cx, cy = intrinsics.to(self.patch_uv).unbind(-1)
        u, v = self.patch_uv.unbind(-1)
        z = 1.0 / self.inv_depth.clamp_min(1e-6)
        pts_cam = torch.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], dim=-1)
        world_from_cam = se3_inverse(self.cam_from_world)[:, None].expand(-1, self.M, 7)
        return se3_act(world_from_cam, pts_cam).reshape(-1, 3)


__all__ = ["PatchGraph", "RelativePose"]
