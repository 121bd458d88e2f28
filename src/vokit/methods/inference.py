"""Running a trained depth + pose (+ flow) bundle over a `Sequence`, batched, on any device.

Frames are resized to the networks' input size; depth, flow and motion masks are resized back to the sequence's
image size (inverse depth bilinearly, flow bilinearly with its values rescaled). Frame-to-frame poses
``cam_{k+1}_from_cam_k`` from the pose network are chained in float64 into ``world_from_cam`` with frame 0 at the
identity. With a flow network, each frame's motion mask is the CoopNet mixture posterior (METHODS.md section 8.2)
fitted to the difference of its rigid and flow reconstruction errors against its neighbours.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from vokit.data.sequence import Sequence as FrameSequence
from vokit.errors import VokitError
from vokit.geometry import camera, lie
from vokit.losses.coopnet import fit_error_mixture, flow_reconstruction_errors
from vokit.losses.monodepth2 import rigid_reconstruction_errors
from vokit.nets.flow_net import resize_flow


@dataclass(frozen=True)
class SequencePrediction:
    """Per-frame predictions over a sequence (N frames, M = N - 1 consecutive pairs).

    Monocular predictions are up to one unknown scale: depth and translations are in the training-scale units.

    Attributes:
        indices: the frames' indices in the sequence.
        timestamps: capture times in seconds (float64).
        depth: z-depth at the sequence's image size.
        cam_next_from_cam: ``cam_{k+1}_from_cam_k`` for each consecutive pair, SE(3) ``[t, q_xyzw]`` (float64).
        world_from_cam: chained trajectory, frame 0 at the identity, SE(3) ``[t, q_xyzw]`` (float64).
        flow: forward flow of frame k to frame k + 1 in pixels of the sequence's images (with a flow network).
        motion_mask: soft moving-object mask in [0, 1] per frame (with a flow network).
        frames_per_second: throughput of the whole run, including image loading.
    """

    indices: Int[Tensor, " N"]
    timestamps: Float[Tensor, " N"]
    depth: Float[Tensor, "N H W"]
    cam_next_from_cam: Float[Tensor, "M 7"]
    world_from_cam: Float[Tensor, "N 7"]
    flow: Float[Tensor, "M H W 2"] | None
    motion_mask: Float[Tensor, "N H W"] | None
    frames_per_second: float


def chain_poses(cam_next_from_cam: Float[Tensor, "M 7"]) -> Float[Tensor, "N 7"]:
    """Chain relative poses into ``world_from_cam`` with frame 0 at the identity (computed in float64).

    ``world_from_cam[k+1] = world_from_cam[k] @ inverse(cam_next_from_cam[k])``.

    Args:
        cam_next_from_cam: ``cam_{k+1}_from_cam_k`` per consecutive pair.

    Returns:
        The N = M + 1 poses.
    """
    rel = cam_next_from_cam.to(torch.float64)
    out = [lie.se3_identity(dtype=torch.float64, device=rel.device)]
    for k in range(rel.shape[0]):
        out.append(lie.se3_compose(out[-1], lie.se3_inverse(rel[k])))
    return torch.stack(out)


@dataclass
class _Record:
    """Network-resolution data of one frame, kept until its motion mask is computed."""

    image: Tensor
    depth: Tensor
    intrinsics: Tensor
    pose_from_prev: Tensor | None = None  # cam_k_from_cam_{k-1}
    flow_to_prev: Tensor | None = None  # F_{k->k-1}
    pose_to_next: Tensor | None = None  # cam_{k+1}_from_cam_k
    flow_to_next: Tensor | None = None  # F_{k->k+1}


def _resize_inv_depth(depth: Tensor, size: tuple[int, int]) -> Tensor:
    inv = F.interpolate((1.0 / depth).unsqueeze(1), size=size, mode="bilinear", align_corners=False)
    return 1.0 / inv[:, 0]


_Neighbourhood = tuple[_Record, _Record | None, _Record | None]
"""A frame's record with its previous and next frames' records (None at the sequence ends)."""


def _motion_masks(items: list[_Neighbourhood]) -> Tensor:
    """Mixture motion masks of frames that all have the same neighbours present (same number of sources)."""
    targets, sources, src_from_tgt, flows, depth, intrinsics = [], [], [], [], [], []
    for rec, prev, nxt in items:
        srcs: list[Tensor] = []
        poses: list[Tensor] = []
        fl: list[Tensor] = []
        if prev is not None:
            assert rec.pose_from_prev is not None and rec.flow_to_prev is not None
            srcs.append(prev.image)
            poses.append(lie.se3_inverse(rec.pose_from_prev))
            fl.append(rec.flow_to_prev)
        if nxt is not None:
            assert rec.pose_to_next is not None and rec.flow_to_next is not None
            srcs.append(nxt.image)
            poses.append(rec.pose_to_next)
            fl.append(rec.flow_to_next)
        targets.append(rec.image)
        sources.append(torch.stack(srcs))
        src_from_tgt.append(torch.stack(poses))
        flows.append(torch.stack(fl))
        depth.append(rec.depth)
        intrinsics.append(rec.intrinsics)
    target = torch.stack(targets)
    source = torch.stack(sources)
    e_rigid = rigid_reconstruction_errors(target, source, torch.stack(depth), torch.stack(src_from_tgt),
                                          torch.stack(intrinsics)).min(dim=1).values
    e_flow = flow_reconstruction_errors(target, source, torch.stack(flows)).min(dim=1).values
    return fit_error_mixture(e_rigid - e_flow).motion_mask


def run_inference(
    model: nn.Module,
    sequence: FrameSequence,
    device: torch.device | str,
    batch_size: int,
    frames: Sequence[int] | None,
    with_flow: bool,
    show_progress: bool = True,
) -> SequencePrediction:
    """Shared implementation of the methods' ``infer_sequence`` (see :class:`SequencePrediction`).

    Args:
        model: a bundle with ``depth(images)``, ``pose_net``, ``input_size`` (and ``flow_net`` when ``with_flow``).
        sequence: the frames.
        device: where to run.
        batch_size: frames per network call.
        frames: frame indices to use, in order (default: all).
        with_flow: predict forward flow and motion masks too.
        show_progress: show a progress bar with frames/s.

    Returns:
        The predictions.
    """
    if batch_size < 1:
        raise VokitError(f"batch_size must be >= 1, got {batch_size}")
    idx = list(range(len(sequence))) if frames is None else [int(i) for i in frames]
    if not idx:
        raise VokitError(f"no frames to run on in sequence {sequence.name!r}", sequence.source)
    device = torch.device(device)
    bundle: Any = model.to(device).eval()  # duck-typed: depth(), pose_net, flow_net, input_size
    n = len(idx)
    size = sequence.image_size
    net_h, net_w = bundle.input_size
    depth_out = torch.empty(n, *size)
    rel = torch.empty(max(n - 1, 0), 7, dtype=torch.float64)
    flow_out = torch.empty(max(n - 1, 0), *size, 2) if with_flow else None
    mask_out = torch.empty(n, *size) if with_flow else None
    records: dict[int, _Record] = {}
    masked = 0
    start = time.perf_counter()
    bar = tqdm(total=n, unit="frame", desc=f"{sequence.name}", disable=not show_progress, dynamic_ncols=True)
    with torch.inference_mode():
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            loaded = [sequence[idx[k]] for k in range(a, b)]
            raw = torch.stack([f.image for f in loaded]).to(device)
            images = F.interpolate(raw, size=(net_h, net_w), mode="bilinear", align_corners=False, antialias=True)
            intr = camera.scale_intrinsics(torch.stack([f.intrinsics for f in loaded]).to(device).float(),
                                           net_w / size[1], net_h / size[0])
            depth = bundle.depth(images)
            depth_out[a:b] = _resize_inv_depth(depth.float(), size).cpu()
            for k in range(a, b):
                records[k] = _Record(images[k - a], depth[k - a], intr[k - a])
            pair_targets = [k for k in range(max(a, 1), b)]
            if pair_targets:
                firsts = torch.stack([records[k - 1].image for k in pair_targets])
                seconds = torch.stack([records[k].image for k in pair_targets])
                poses = bundle.pose_net(firsts, seconds)
                rel[pair_targets[0] - 1 : b - 1] = poses.double().cpu()
                fwd = bundle.flow_net(firsts, seconds).flow if with_flow else None
                bwd = bundle.flow_net(seconds, firsts).flow if with_flow else None
                for j, k in enumerate(pair_targets):
                    records[k].pose_from_prev = poses[j]
                    records[k - 1].pose_to_next = poses[j]
                    if fwd is not None and bwd is not None and flow_out is not None:
                        records[k].flow_to_prev = bwd[j]
                        records[k - 1].flow_to_next = fwd[j]
                if fwd is not None and flow_out is not None:
                    full = resize_flow(fwd.permute(0, 3, 1, 2).float(), size).permute(0, 2, 3, 1)
                    flow_out[pair_targets[0] - 1 : b - 1] = full.cpu()
            if with_flow and mask_out is not None:
                ready = b if b == n else b - 1
                masked = _masks_for(records, masked, ready, n, mask_out, size)
            bar.update(b - a)
            bar.set_postfix(fps=f"{b / max(time.perf_counter() - start, 1e-9):.1f}", refresh=False)
    bar.close()
    elapsed = max(time.perf_counter() - start, 1e-9)
    return SequencePrediction(
        indices=torch.tensor(idx, dtype=torch.long),
        timestamps=sequence.timestamps[torch.tensor(idx, dtype=torch.long)].clone(),
        depth=depth_out,
        cam_next_from_cam=rel,
        world_from_cam=chain_poses(rel),
        flow=flow_out,
        motion_mask=mask_out,
        frames_per_second=n / elapsed,
    )


def _masks_for(records: dict[int, _Record], start: int, stop: int, n: int, out: Tensor, size: tuple[int, int]) -> int:
    """Compute motion masks of frames ``start .. stop - 1`` (their neighbours are known); returns ``stop``."""
    if n == 1:
        out[0] = 0.0
        return stop
    groups: dict[tuple[bool, bool], list[int]] = {}
    for k in range(start, stop):
        groups.setdefault((k > 0, k < n - 1), []).append(k)
    for (has_prev, has_next), ks in groups.items():
        items = [(records[k], records[k - 1] if has_prev else None, records[k + 1] if has_next else None) for k in ks]
        masks = _motion_masks(items)
        resized = F.interpolate(masks.unsqueeze(1).float(), size=size, mode="bilinear", align_corners=False)[:, 0]
        out[ks[0] : ks[-1] + 1] = resized.clamp(0.0, 1.0).cpu()
    for k in [k for k in records if k < stop - 1]:
        del records[k]
    return stop
