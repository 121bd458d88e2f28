"""Update operators of the patchvo loop: what turns the current reprojections into BA targets and confidences.

Every operator maps the edges of the patch graph, with each patch centre reprojected into its target frame
(``coords``, 1/4-resolution pixels), to a target pixel and a per-axis confidence per edge (METHODS.md sections
3.1 and 4.3). The loop never looks inside: it asks an operator for a per-frame **payload** when a frame arrives
and for targets at each update call.

- :class:`LKOperator` (``lk``, METHODS.md 4.4a): pyramidal Lucas-Kanade of each patch's window on the grey image,
  initialised at the reprojection, optionally magnified by the patch's predicted scale change (``warp_scale``);
  confidence from the forward-backward check. It also tracks arbitrary points (:meth:`LKOperator.track_points`,
  the bootstrap's point chains). No training. An edge's track is cached and redone only when its reprojection has
  moved by more than ``retrack_px`` since the last track (LK's answer barely depends on its start once it
  converges).
- :class:`OracleOperator` (``oracle``, tests): the exact reprojection of each patch centre under ground-truth
  depth and poses; drives BA to the ground truth up to scale, which tests the whole loop without training.
- The learned operator (``learned``) lives in :mod:`vokit.methods.patchvo.learned`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import quat_to_matrix, se3_act, se3_compose, se3_inverse
from vokit.methods.patchvo.graph import PatchGraph
from vokit.solvers.jacobians import normalized_homogeneous
from vokit.solvers.lk import (
    Interpolation,
    LKTemplate,
    LKTrack,
    image_pyramid,
    lk_check,
    lk_templates,
    lk_track,
    pad_pyramid,
    sample_window,
    window_padding,
)

LUMA = (0.299, 0.587, 0.114)
MIN_WARP_SCALE = 0.03  # predicted scale changes below this are tracked without the scale warp [vokit]


@dataclass(frozen=True)
class PreparedFrame:
    """One input frame at the working resolution, as the loop and the operators see it.

    Attributes:
        image: RGB in [0, 1] at the working resolution ``(H, W)``, both multiples of 4.
        gray4: grey image average-pooled by 4, ``(H / 4, W / 4)``, in [0, 1].
        intrinsics4: ``(fx, fy, cx, cy)`` of the 1/4-resolution pixel grid (exact pooling rule
            ``c' = (c + 0.5) / 4 - 0.5``).
        world_from_cam: ground-truth pose ``[t, q_xyzw]`` (metres) when known.
        depth4: ground-truth z-depth at the 1/4-resolution pixel centres (metres, 0 = invalid) when known.
    """

    image: Float[Tensor, "3 H W"]
    gray4: Float[Tensor, "h w"]
    intrinsics4: Float[Tensor, "4"]
    world_from_cam: Float[Tensor, "7"] | None = None
    depth4: Float[Tensor, "h w"] | None = None


@dataclass(frozen=True)
class OperatorOutput:
    """Targets of one operator call.

    Attributes:
        target: target pixel of each edge's patch centre in its destination frame (1/4 resolution).
        weight: per-axis confidence in [0, 1].
        state: per-edge tensors to store on the graph (replacing those of the same key).
        match_weight: the confidence of the correspondence alone, before any weighting by its agreement with the
            current geometry (the ``lk`` operator's forward-backward and contrast terms without its robust term);
            None: ``weight``. The two-view bootstrap reads it, when poses are still at the identity.
    """

    target: Float[Tensor, "E 2"]
    weight: Float[Tensor, "E 2"]
    state: dict[str, Tensor]
    match_weight: Float[Tensor, "E 2"] | None = None


@runtime_checkable
class PatchOperator(Protocol):
    """What the VO loop needs from an operator."""

    name: str

    def frame_payload(self, frame: PreparedFrame, patch_uv: Tensor | None = None) -> Any:
        """Per-frame data kept on the graph with the frame (pyramids, features, ground truth).

        ``patch_uv`` holds the frame's patch centres (1/4-resolution pixels), for operators that keep per-patch
        features.
        """
        ...

    def update(self, graph: PatchGraph, src_idx: Tensor, dst_idx: Tensor, patch_idx: Tensor,
               coords: Tensor, state: dict[str, Tensor]) -> OperatorOutput:
        """Targets and confidences for the given edges, reprojected at ``coords``."""
        ...


class LKOperator:
    """The classical operator: pyramidal LK with a forward-backward confidence (METHODS.md 4.4a).

    LK runs on the grey image at ``1 / lk_scale`` of the working resolution (2: half, 4: the patch grid itself)
    with a ``(2 radius + 1)^2`` window (:func:`vokit.solvers.lk.lk_track`, then its forward-backward check
    :func:`vokit.solvers.lk.lk_check`); coordinates map between that grid
    and the 1/4-resolution patch grid by the exact pooling rule ``u' = (u + 0.5) s - 0.5``.

    Args:
        num_levels: pyramid levels.
        num_iters: Gauss-Newton iterations per level.
        fb_sigma_px: round-trip error (1/4-res pixels) at which the confidence is ``exp(-1)``.
        retrack_px: an edge is tracked when created and re-tracked only when its reprojection has moved more than
            this (1/4-res pixels) since its last track; 0 re-tracks every edge at every call.
        lk_scale: 2 or 4, the LK image's downsampling from the working resolution.
        interpolation: ``"bilinear"`` (4x cheaper) or ``"bicubic"`` (less biased), see :mod:`vokit.solvers.lk`.
        radius: LK window half-size at the LK resolution; 2 at half resolution covers the 3x3 patch's footprint
            on the 1/4-resolution grid (12 x 12 working pixels against 10 x 10).
        robust_px: if positive, the confidence is multiplied by the Cauchy weight ``1 / (1 + (r / robust_px)^2)``
            of the distance r between the track and the current reprojection (1/4-res pixels), so tracks that
            disagree with the current geometry count less (the learned operator learns this; LK cannot).
        max_gap: edges spanning more frames than this are not tracked (zero weight); None tracks all.
        fb_levels: pyramid levels of the backward (checking) track; None: all, as the forward one.
        warp_scale: track with the patch magnified by its predicted scale change ``z_src / z_dst`` (from the current
            poses and inverse depth; :func:`vokit.solvers.lk.lk_templates`), when that differs from 1 by more than
            :data:`MIN_WARP_SCALE` [vokit]: under forward motion a near surface grows by 10-30 % per frame, which a
            translation-only window cannot follow.
        ncc_sigma: if positive, the confidence is multiplied by ``exp(-(rho / ncc_sigma)^2)`` with rho the track's
            RMS photometric residual over the standard deviation of its template window.
    """

    name = "lk"

    def __init__(self, num_levels: int = 3, num_iters: int = 4, fb_sigma_px: float = 0.5,
                 retrack_px: float = 1.0, lk_scale: int = 2, interpolation: Interpolation = "bilinear",
                 radius: int = 2, robust_px: float = 0.0, max_gap: int | None = None, ncc_sigma: float = 0.0,
                 fb_levels: int | None = None, warp_scale: bool = False) -> None:
        if lk_scale not in (1, 2, 4):
            raise ValueError(f"lk_scale must be 1, 2 or 4, got {lk_scale}")
        self.num_levels = num_levels
        self.num_iters = num_iters
        self.fb_sigma_px = fb_sigma_px
        self.retrack_px = retrack_px
        self.lk_scale = lk_scale
        self.interpolation: Interpolation = interpolation
        self.radius = radius
        self.robust_px = robust_px
        self.max_gap = max_gap
        self.ncc_sigma = ncc_sigma
        self.fb_levels = fb_levels
        self.warp_scale = warp_scale
        self.intrinsics4: Tensor | None = None  # of the frames seen, for the predicted scale change
        self.tracked_edges = 0  # edges tracked so far (a cost counter for benchmarks)

    def frame_payload(self, frame: PreparedFrame,
                      patch_uv: Tensor | None = None) -> tuple[list[Tensor], list[LKTemplate] | None]:
        """The padded LK pyramid of the frame and the LK templates of its patches.

        The grey pyramid at ``1 / lk_scale``, finest first, each level padded for LK (:func:`pad_pyramid`); the
        templates (:func:`lk_templates`) serve every forward track of a patch.
        """
        self.intrinsics4 = frame.intrinsics4
        gray = (frame.image * torch.tensor(LUMA, dtype=frame.image.dtype)[:, None, None]).sum(0)
        if self.lk_scale > 1:
            gray = F.avg_pool2d(gray[None, None], self.lk_scale)[0, 0]
        levels = pad_pyramid(image_pyramid(gray[None], self.num_levels), self.radius)
        templates = None
        if patch_uv is not None:
            idx = torch.zeros(patch_uv.shape[0], dtype=torch.long)
            templates = lk_templates(levels, idx, self._to_lk(patch_uv), self.radius, self.interpolation, padded=True)
        return [level[0] for level in levels], templates

    def _to_lk(self, uv4: Tensor) -> Tensor:
        return (uv4 + 0.5) * (4 / self.lk_scale) - 0.5

    def _from_lk(self, uv: Tensor) -> Tensor:
        return (uv + 0.5) * (self.lk_scale / 4) - 0.5

    def _forward(self, pyramid: list[Tensor], lo: int, src: Tensor, dst: Tensor, uv: Tensor, start: Tensor,
                 templates: list[LKTemplate] | None, scale: Tensor | None = None) -> tuple[LKTrack, Tensor]:
        """Forward LK of the given edges and the contrast factor of their confidence.

        Coordinates in LK-resolution pixels, pyramids of slots ``lo..``; the factor is ones without ``ncc_sigma``.
        ``scale`` (predicted magnification) applies where ``templates`` are not given.
        """
        track = lk_track(pyramid, pyramid, src - lo, dst - lo, uv, start, self.radius, self.num_iters,
                         self.interpolation, padded=True, templates=templates, scale=scale)
        factor = torch.ones_like(track.residual)
        if self.ncc_sigma > 0:
            # residual relative to the template's own contrast: a track stuck on the wrong spot of a textured
            # window leaves a residual comparable to that contrast, a correct one a small fraction of it
            if templates is not None:  # the finest level's template is that window, already read
                window = templates[0].template
            else:
                window = sample_window(pyramid[0], window_padding(self.radius), src - lo, uv, self.radius,
                                       self.interpolation).flatten(1)
            ratio = track.residual / window.std(dim=1).clamp_min(1e-4)
            factor = torch.exp(-(ratio / self.ncc_sigma).square())
        return track, factor

    def _check(self, pyramid: list[Tensor], lo: int, src: Tensor, dst: Tensor, uv: Tensor, start: Tensor,
               forward: LKTrack, factor: Tensor, scale: Tensor | None = None) -> LKTrack:
        """The forward-backward check of forward tracks (LK-resolution pixels in), in 1/4-res pixels out."""
        track = lk_check(pyramid, pyramid, src - lo, dst - lo, uv, start, forward, self.radius, self.num_iters,
                         self.fb_sigma_px * 4 / self.lk_scale, self.interpolation, True, self.fb_levels, scale)
        return LKTrack(self._from_lk(track.dst_uv), track.valid, track.residual, track.fb_error * self.lk_scale / 4,
                       track.weight * factor[:, None])

    def _scale_change(self, graph: PatchGraph, src: Tensor, dst: Tensor, patch: Tensor) -> Tensor | None:
        """Predicted magnification ``z_src / z_dst`` of each edge's patch, from the current poses and inverse depths.

        Clamped to [1/2, 2] and set to exactly 1 within :data:`MIN_WARP_SCALE` of 1; None when every edge's is.
        """
        if self.intrinsics4 is None:
            return None
        rel = se3_compose(graph.cam_from_world[dst], se3_inverse(graph.cam_from_world[src]))
        ray = normalized_homogeneous(graph.patch_uv.reshape(-1, 2)[patch], self.intrinsics4.to(graph.dtype))
        inv_depth = graph.inv_depth.reshape(-1)[patch]
        # z_dst / z_src = (R ray + inv_depth t)_z for a point at unit depth along ``ray`` in the source
        ratio = ((quat_to_matrix(rel[:, 3:])[:, 2] * ray).sum(-1) + inv_depth * rel[:, 2]).clamp(0.5, 2.0)
        scale = 1.0 / ratio
        warped = (scale - 1).abs() > MIN_WARP_SCALE
        return torch.where(warped, scale, torch.ones_like(scale)) if bool(warped.any()) else None

    def _warped_templates(self, graph: PatchGraph, pyramid: list[Tensor], lo: int, src: Tensor, dst: Tensor,
                          patch: Tensor, redo: Tensor) -> tuple[Tensor, Tensor, list[LKTemplate]] | None:
        """Predicted scales of all edges and the magnified templates of the redone edges whose scale is not 1.

        Computed once per update call for all gaps (templates depend on the source patch and the scale only).

        Returns:
            ``(scale per edge (1 where not warped), row of each edge in the templates (-1: none), templates)``, or
            None when no redone edge needs a warp.
        """
        rows = torch.nonzero(redo).squeeze(-1)
        scale = self._scale_change(graph, src[rows], dst[rows], patch[rows])
        if scale is None:
            return None
        scale_of = torch.ones(src.shape[0], dtype=scale.dtype)
        scale_of[rows] = scale
        warped = torch.nonzero(scale_of != 1).squeeze(-1)
        row_of = torch.full_like(src, -1)
        row_of[warped] = torch.arange(warped.numel())
        uv = self._to_lk(graph.patch_uv.reshape(-1, 2)[patch[warped]])
        templates = lk_templates(pyramid, src[warped] - lo, uv, self.radius, self.interpolation, padded=True,
                                 scale=scale_of[warped])
        return scale_of, row_of, templates

    def track_points(self, graph: PatchGraph, src: int, dst: int, uv4: Tensor, start4: Tensor) -> tuple[Tensor, Tensor]:
        """Track arbitrary points of slot ``src`` into slot ``dst`` (frame-to-frame KLT; the bootstrap's chains).

        Args:
            graph: the patch graph, whose payloads of both slots are still kept.
            src: source slot.
            dst: target slot.
            uv4: ``(P, 2)`` points in ``src``, 1/4-resolution pixels.
            start4: ``(P, 2)`` where to start looking in ``dst``.

        Returns:
            ``(uv4 in dst, confident)``: the tracked points and whether both axes' confidence (forward-backward and
            contrast terms) exceeds 0.5.
        """
        pyramid = [torch.stack([graph.payload[src][0][lvl], graph.payload[dst][0][lvl]])
                   for lvl in range(self.num_levels)]
        zero = torch.zeros(uv4.shape[0], dtype=torch.long)
        uv, first = self._to_lk(uv4), self._to_lk(start4)
        forward, factor = self._forward(pyramid, 0, zero, zero + 1, uv, first, None)
        checked = self._check(pyramid, 0, zero, zero + 1, uv, first, forward, factor)
        return checked.dst_uv, checked.weight.amin(-1) > 0.5

    def _chained_start(self, graph: PatchGraph, src: Tensor, dst: Tensor, patch: Tensor, coords: Tensor,
                       target: Tensor, weight: Tensor, redo: Tensor) -> "Callable[[Tensor], Tensor]":
        """Where to start each edge's track: chained from the same patch's edge one frame nearer its host.

        For edge (k, j) with neighbour (k, j - s), s the sign of ``j - i``, whose track is confident, the start
        is that track plus the reprojection's step from j - s to j, so LK only searches the one-frame residual
        instead of the whole error of a reprojection that may be far off (a new patch's depth is a median guess).
        Otherwise the start is the reprojection. Tracks are done in order of increasing gap, so a neighbour
        re-tracked in this call is used with its new result (the returned function reads ``target`` live).
        """
        n = graph.n + 1
        key = patch * n + dst
        order = torch.argsort(key)
        sorted_key = key[order]
        nb_key = patch * n + (dst - torch.sign(dst - src))
        pos = torch.searchsorted(sorted_key, nb_key).clamp(max=key.numel() - 1)
        found = sorted_key[pos] == nb_key
        nb = order[pos]
        nb_self = dst - torch.sign(dst - src) == src

        def start(sel: Tensor) -> Tensor:
            e = nb[sel]
            usable = found[sel] & ~nb_self[sel] & (weight[e].amin(-1) > 0.5)
            chained = target[e] + coords[sel] - coords[e]
            return torch.where(usable[:, None], chained, coords[sel])

        return start

    def update(self, graph: PatchGraph, src_idx: Tensor, dst_idx: Tensor, patch_idx: Tensor,
               coords: Tensor, state: dict[str, Tensor]) -> OperatorOutput:
        """Track new (or moved) edges, reuse the cached tracks of the others; untracked edges get zero weight."""
        init = state.get("lk_init", torch.zeros_like(coords))
        target = state.get("lk_target", coords.clone())
        weight = state.get("lk_weight", torch.zeros_like(coords))
        residual = state.get("lk_residual", torch.zeros_like(coords[:, 0]))
        # new edges arrive with zero-filled state: "lk_done" False
        done = state.get("lk_done", torch.zeros_like(src_idx, dtype=torch.bool))
        redo = ~done
        if self.retrack_px > 0:
            redo = redo | ~((coords - init).abs().amax(-1) <= self.retrack_px)
        else:
            redo = torch.ones_like(done)
        tracked = src_idx != dst_idx
        if self.max_gap is not None:
            tracked = tracked & ((dst_idx - src_idx).abs() <= self.max_gap)
        redo = redo & tracked
        target, weight, init, residual = target.clone(), weight.clone(), init.clone(), residual.clone()
        if bool(redo.any()):
            start = self._chained_start(graph, src_idx, dst_idx, patch_idx, coords, target, weight, redo)
            lo = int(torch.minimum(src_idx[redo].min(), dst_idx[redo].min()))
            payloads = graph.payload[lo:]
            pyramid = [torch.stack([p[0][lvl] for p in payloads]) for lvl in range(self.num_levels)]
            templates = None
            if all(p[1] is not None for p in payloads):  # the host slots' patch templates, patch-major
                templates = [LKTemplate(*(torch.cat([getattr(p[1][lvl], f) for p in payloads])
                                          for f in ("template", "descent", "conditioned")))
                             for lvl in range(self.num_levels)]
            gaps = (dst_idx - src_idx).abs()
            patch_uv = graph.patch_uv.reshape(-1, 2)
            warp = None
            if self.warp_scale:
                warp = self._warped_templates(graph, pyramid, lo, src_idx, dst_idx, patch_idx, redo)
            for gap in torch.unique(gaps[redo]).tolist():
                sel = torch.nonzero(redo & (gaps == gap)).squeeze(-1)
                uv, first = self._to_lk(patch_uv[patch_idx[sel]]), self._to_lk(start(sel))
                own = None if templates is None else [t[patch_idx[sel] - lo * graph.M] for t in templates]
                scale = None
                if warp is not None and bool((warp[1][sel] >= 0).any()):
                    scale, row = warp[0][sel], warp[1][sel]
                    hit = torch.nonzero(row >= 0).squeeze(-1)
                    if own is not None:  # the cached templates, with the warped rows replaced
                        own = [c.replace_rows(hit, w[row[hit]]) for c, w in zip(own, warp[2], strict=True)]
                forward, factor = self._forward(pyramid, lo, src_idx[sel], dst_idx[sel], uv, first, own, scale)
                target[sel], init[sel], residual[sel] = self._from_lk(forward.dst_uv), coords[sel], forward.residual
                # checked before the next gap's edges chain on these tracks
                weight[sel] = self._check(pyramid, lo, src_idx[sel], dst_idx[sel], uv, first, forward, factor,
                                          scale).weight
                self.tracked_edges += int(sel.numel())
        target = torch.where(tracked[:, None], target, coords)
        weight = torch.where(tracked[:, None], weight, torch.zeros_like(weight))
        done = done | redo
        state = {"lk_init": init, "lk_target": target, "lk_weight": weight, "lk_done": done, "lk_residual": residual}
        match_weight = weight
        if self.robust_px > 0:
            dist = (target - coords).norm(dim=-1, keepdim=True)
            weight = weight / (1 + (dist / self.robust_px).square())
        return OperatorOutput(target, weight, state, match_weight)


class OracleOperator:
    """Ground-truth correspondences: each patch centre reprojected with true depth and poses (for tests).

    Args:
        noise_px: standard deviation of Gaussian noise added to the targets (1/4-res pixels).
        generator: generator for the noise.
    """

    name = "oracle"

    def __init__(self, noise_px: float = 0.0, generator: torch.Generator | None = None) -> None:
        self.noise_px = noise_px
        self.generator = generator

    def frame_payload(self, frame: PreparedFrame, patch_uv: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(world_from_cam, depth4, intrinsics4)`` of the frame."""
        if frame.world_from_cam is None or frame.depth4 is None:
            raise ValueError("the oracle operator needs ground-truth poses and depth")
        return frame.world_from_cam.double(), frame.depth4, frame.intrinsics4.double()

    def update(self, graph: PatchGraph, src_idx: Tensor, dst_idx: Tensor, patch_idx: Tensor,
               coords: Tensor, state: dict[str, Tensor]) -> OperatorOutput:
        """The true target of every edge; weight 1 where the true point is visible in front of the target."""
        uv = graph.patch_uv.reshape(-1, 2)[patch_idx].double()
        # only the slots these edges touch: the loop forgets the payloads of frames older than its memory
        slots, local = torch.unique(torch.cat([src_idx, dst_idx]), return_inverse=True)
        src_idx, dst_idx = local[: src_idx.numel()], local[src_idx.numel():]
        src_pose = torch.stack([graph.payload[int(s)][0] for s in slots])
        depth = torch.stack([graph.payload[int(s)][1] for s in slots])
        fx, fy, cx, cy = graph.payload[int(slots[0])][2].unbind(-1)
        h, w = depth.shape[-2:]
        col = uv[:, 0].round().long().clamp(0, w - 1)
        row = uv[:, 1].round().long().clamp(0, h - 1)
        z = depth[src_idx, row, col].double()
        pts_src = torch.stack([(uv[:, 0] - cx) / fx * z, (uv[:, 1] - cy) / fy * z, z], dim=-1)
        pts_world = se3_act(src_pose[src_idx], pts_src)
        pts_dst = se3_act(se3_inverse(src_pose[dst_idx]), pts_world)
        zd = pts_dst[:, 2]
        proj = torch.stack([fx * pts_dst[:, 0] / zd.clamp_min(1e-6) + cx, fy * pts_dst[:, 1] / zd.clamp_min(1e-6)
                            + cy], dim=-1)
        inside = (proj[:, 0] > -0.5) & (proj[:, 0] < w - 0.5) & (proj[:, 1] > -0.5) & (proj[:, 1] < h - 0.5)
        ok = (z > 0) & (zd > 0.2 * z) & inside & (src_idx != dst_idx)
        if self.noise_px > 0:
            proj = proj + self.noise_px * torch.randn(proj.shape, generator=self.generator, dtype=proj.dtype)
        target = torch.where(ok[:, None], proj.to(coords), coords)
        weight = ok[:, None].to(coords).expand(-1, 2).clone()
        return OperatorOutput(target, weight, {})


def pool_depth4(depth: Float[Tensor, "H W"], max_ratio: float = 1.1) -> Float[Tensor, "h w"]:
    """Ground-truth depth at the 1/4-resolution pixel centres (metres, 0 = invalid).

    1/4-resolution pixel u sits at working pixel ``4 u + 1.5``, the centre of the block's middle 2 x 2 pixels; the
    depth there is the inverse of their mean inverse depth (exact on a plane, where inverse depth is affine in the
    pixel coordinates). Invalid where one of them is invalid or where they span a depth edge (largest over
    smallest above ``max_ratio``).
    """
    h, w = depth.shape[0] // 4 * 4, depth.shape[1] // 4 * 4
    mid = depth[:h, :w].reshape(h // 4, 4, w // 4, 4)[:, 1:3, :, 1:3]
    near = mid.amin(dim=(1, 3))
    far = mid.amax(dim=(1, 3))
    inv = torch.where(mid > 0, 1.0 / mid.clamp_min(1e-9), torch.zeros_like(mid)).mean(dim=(1, 3))
    ok = (near > 0) & (far <= max_ratio * near)
    return torch.where(ok, 1.0 / inv.clamp_min(1e-9), torch.zeros_like(inv))


__all__ = ["LKOperator", "OperatorOutput", "OracleOperator", "PatchOperator", "PreparedFrame", "pool_depth4"]
