"""Running a trained depth + pose (+ flow) model over a `Sequence`, batched, on any device.

Frames keep their aspect ratio: each image is resized to the model's pixel budget (the area of its training size)
at the image's own aspect, then padded at the bottom and right to multiples of the network's stride
(:class:`NetworkGeometry`); the padding is cropped off every output before depth, flow and motion masks are
resized back to the sequence's image size (inverse depth bilinearly, flow bilinearly with its values rescaled).
Frame-to-frame poses ``cam_{k+1}_from_cam_k`` from the pose network (:meth:`PoseNet.src_from_tgt`) are chained in
float64 into ``world_from_cam`` with frame 0 at the identity. With a flow network and a method's
:data:`MotionMaskFn`, each frame's motion mask is computed from the frame, its neighbours, its depth, the poses and
flows to them (CoopNet: its mixture posterior, METHODS.md section 8.2).

Only images are decoded (``Sequence.image``), never ground truth; a caller that wants to write or evaluate each
frame as soon as it is complete passes ``on_frame`` and sees every decoded image exactly once.
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from vokit.data.sequence import Sequence as FrameSequence
from vokit.errors import VokitError
from vokit.geometry import camera, lie
from vokit.nets.flow_net import resize_flow
from vokit.nets.pose_net import PoseNet


@runtime_checkable
class DepthPoseModel(Protocol):
    """What :func:`run_inference` needs of a model: a depth head, a pose network and its training size."""

    pose_net: PoseNet
    input_size: tuple[int, int]

    def depth(self, images: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B H W"]:
        """Z-depth of images at the network input size."""
        ...

    def to(self, device: torch.device) -> "DepthPoseModel":
        """The model on ``device``."""
        ...

    def eval(self) -> "DepthPoseModel":
        """The model in eval mode."""
        ...


@dataclass(frozen=True)
class NetworkGeometry:
    """How an image of ``image_size`` becomes a network input, and back.

    The image is resized to ``resized_size`` (its own aspect, the training pixel budget), then padded at the bottom
    and right to ``input_size`` (multiples of the stride). Outputs are cropped to ``resized_size`` and resized back.

    Attributes:
        image_size: (H, W) of the sequence's images.
        resized_size: (h, w) the image is resized to.
        input_size: (H_net, W_net) the network sees (``resized_size`` plus padding).
    """

    image_size: tuple[int, int]
    resized_size: tuple[int, int]
    input_size: tuple[int, int]

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Resize factors (new / old) along x and y, for the intrinsics."""
        return self.resized_size[1] / self.image_size[1], self.resized_size[0] / self.image_size[0]


def network_geometry(image_size: tuple[int, int], train_size: tuple[int, int], stride: int = 32) -> NetworkGeometry:
    """The :class:`NetworkGeometry` of an image: training pixel budget, native aspect, padded to ``stride``.

    Args:
        image_size: (H, W) of the images.
        train_size: (H, W) the model was trained at; its area is the pixel budget.
        stride: the network's input stride (sides of the input are multiples of it).

    Returns:
        The geometry; e.g. 480x640 images with a 64x224 training size are resized to 104x138 and padded to
        128x160.
    """
    height, width = int(image_size[0]), int(image_size[1])
    if height < 1 or width < 1 or stride < 1:
        raise VokitError(f"bad image size {image_size} or stride {stride}")
    scale = math.sqrt(train_size[0] * train_size[1] / (height * width))
    h = max(1, round(height * scale))
    w = max(1, round(width * scale))
    padded = (math.ceil(h / stride) * stride, math.ceil(w / stride) * stride)
    return NetworkGeometry(image_size=(height, width), resized_size=(h, w), input_size=padded)


def to_network(images: Float[Tensor, "B 3 H W"], geometry: NetworkGeometry) -> Float[Tensor, "B 3 Hn Wn"]:
    """Images resized (antialiased) and edge-padded to ``geometry.input_size``."""
    resized = F.interpolate(images, size=geometry.resized_size, mode="bilinear", align_corners=False, antialias=True)
    pad_h = geometry.input_size[0] - geometry.resized_size[0]
    pad_w = geometry.input_size[1] - geometry.resized_size[1]
    if pad_h or pad_w:
        resized = F.pad(resized, (0, pad_w, 0, pad_h), mode="replicate")
    return resized


@dataclass(frozen=True)
class SequencePrediction:
    """Per-frame predictions over a sequence (N frames, M = N - 1 consecutive pairs).

    Monocular predictions are up to one unknown scale: depth and translations are in the training-scale units.

    Attributes:
        indices: the frames' indices in the sequence.
        timestamps: capture times in seconds (float64).
        depth: z-depth at the sequence's image size; None for methods without dense depth (patchvo).
        cam_next_from_cam: ``cam_{k+1}_from_cam_k`` for each consecutive pair, SE(3) ``[t, q_xyzw]`` (float64).
        world_from_cam: chained trajectory, frame 0 at the identity, SE(3) ``[t, q_xyzw]`` (float64).
        flow: forward flow of frame k to frame k + 1 in pixels of the sequence's images (with a flow network).
        motion_mask: soft moving-object mask in [0, 1] per frame (with a flow network).
        frames_per_second: inference throughput: wall time of image decoding and the networks, without the time
            spent in ``on_frame`` (work it hands to other threads still shares the CPU, so with a busy writer this
            is below the throughput of inference alone).
        network_input_size: (H, W) of the network inputs (padding included).
        patches: per-frame patch centres ``(x, y)`` in pixels of the sequence's images (patch-based methods).
        points_world: sparse 3-D points in the trajectory's world frame and units (patch-based methods).
        point_colors: RGB in [0, 1] of each point.
    """

    indices: Int[Tensor, " N"]
    timestamps: Float[Tensor, " N"]
    depth: Float[Tensor, "N H W"] | None
    cam_next_from_cam: Float[Tensor, "M 7"]
    world_from_cam: Float[Tensor, "N 7"]
    flow: Float[Tensor, "M H W 2"] | None
    motion_mask: Float[Tensor, "N H W"] | None
    frames_per_second: float
    network_input_size: tuple[int, int] = (0, 0)
    patches: Float[Tensor, "N P 2"] | None = None
    points_world: Float[Tensor, "Q 3"] | None = None
    point_colors: Float[Tensor, "Q 3"] | None = None


@dataclass(frozen=True)
class FrameResult:
    """One finished frame of a run, handed to ``on_frame`` as soon as all its outputs are known.

    Attributes:
        position: the frame's position in the run (0 .. N - 1).
        index: its index in the sequence.
        image: the decoded RGB image in [0, 1] at the sequence's image size (CPU).
        depth: predicted z-depth at the image size (None for methods without dense depth).
        flow_to_next: forward flow to the next frame in pixels (None for the last frame or without flow).
        motion_mask: soft moving-object mask in [0, 1] (None without flow).
    """

    position: int
    index: int
    image: Float[Tensor, "3 H W"]
    depth: Float[Tensor, "H W"] | None
    flow_to_next: Float[Tensor, "H W 2"] | None
    motion_mask: Float[Tensor, "H W"] | None


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
    """Network-resolution data of one frame (padding cropped off, but kept in ``net_image``), until it is done."""

    image: Tensor
    depth: Tensor
    intrinsics: Tensor
    net_image: Tensor
    pose_from_prev: Tensor | None = None  # cam_k_from_cam_{k-1}
    flow_to_prev: Tensor | None = None  # F_{k->k-1}
    pose_to_next: Tensor | None = None  # cam_{k+1}_from_cam_k
    flow_to_next: Tensor | None = None  # F_{k->k+1}


def resize_depth(depth: Float[Tensor, "B h w"], size: tuple[int, int]) -> Float[Tensor, "B H W"]:
    """Depth maps resized to ``size`` by bilinear interpolation of the inverse depth."""
    inv = F.interpolate((1.0 / depth).unsqueeze(1), size=size, mode="bilinear", align_corners=False)
    return 1.0 / inv[:, 0]


_Neighbourhood = tuple[_Record, _Record | None, _Record | None]
"""A frame's record with its previous and next frames' records (None at the sequence ends)."""


MotionMaskFn = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]
"""A method's motion masks: ``(target (B,3,h,w), sources (B,S,3,h,w), src_from_tgt (B,S,7), flow_to_sources
(B,S,h,w,2) in pixels, depth (B,h,w), intrinsics (B,4)) -> mask (B,h,w)`` in [0, 1], at network resolution."""


def _motion_masks(items: list[_Neighbourhood], mask_fn: MotionMaskFn) -> Tensor:
    """Motion masks of frames that all have the same neighbours present (same number of sources)."""
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
    return mask_fn(torch.stack(targets), torch.stack(sources), torch.stack(src_from_tgt), torch.stack(flows),
                   torch.stack(depth), torch.stack(intrinsics))


def run_inference(
    model: DepthPoseModel,
    sequence: FrameSequence,
    device: torch.device | str,
    batch_size: int,
    frames: Sequence[int] | None = None,
    flow_net: nn.Module | None = None,
    motion_mask_fn: MotionMaskFn | None = None,
    show_progress: bool = True,
    stride: int = 32,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> SequencePrediction:
    """The methods' shared inference (see the module docstring and :class:`SequencePrediction`).

    Args:
        model: depth head, pose network and training size (``flow_net`` may belong to it too).
        sequence: the frames; only their images are decoded.
        device: where to run.
        batch_size: frames per network call.
        frames: frame indices to use, in order (default: all).
        flow_net: a flow network (`vokit.nets.flow_net.FlowNet` interface) for forward flow (None: depth and poses
            only).
        motion_mask_fn: the method's motion masks from the flow (:data:`MotionMaskFn`; needs ``flow_net``).
        show_progress: show a progress bar with frames/s.
        stride: the networks' input stride (network input sides are multiples of it).
        on_frame: called with each finished frame, in order (its time is not counted in ``frames_per_second``).

    Returns:
        The predictions.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise VokitError(f"batch_size must be >= 1, got {batch_size}")
    idx = list(range(len(sequence))) if frames is None else [int(i) for i in frames]
    if not idx:
        raise VokitError(f"no frames to run on in sequence {sequence.name!r}", sequence.source)
    device = torch.device(device)
    model = model.to(device).eval()
    if flow_net is not None:
        flow_net = flow_net.to(device).eval()
    n = len(idx)
    size = sequence.image_size
    geometry = network_geometry(size, model.input_size, stride)
    h_r, w_r = geometry.resized_size
    scale_x, scale_y = geometry.scale_xy
    depth_out = torch.empty(n, *size)
    rel = torch.empty(max(n - 1, 0), 7, dtype=torch.float64)
    flow_out = torch.empty(max(n - 1, 0), *size, 2) if flow_net is not None else None
    if motion_mask_fn is not None and flow_net is None:
        raise VokitError("motion masks need a flow network")
    mask_out = torch.empty(n, *size) if motion_mask_fn is not None else None
    records: dict[int, _Record] = {}
    pending: dict[int, Tensor] = {}
    masked = emitted = 0
    callback_s = 0.0
    start = time.perf_counter()
    bar = tqdm(total=n, unit="frame", desc=f"{sequence.name}", disable=not show_progress, dynamic_ncols=True)
    with torch.inference_mode():
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            raw = torch.stack([sequence.image(idx[k]) for k in range(a, b)])
            if on_frame is not None:
                pending.update({k: raw[k - a] for k in range(a, b)})
            images = to_network(raw.to(device), geometry)
            intr = camera.scale_intrinsics(sequence.intrinsics[idx[a:b]].to(device).float(), scale_x, scale_y)
            depth = model.depth(images)[:, :h_r, :w_r]
            depth_out[a:b] = resize_depth(depth.float(), size).cpu()
            for k in range(a, b):
                records[k] = _Record(images[k - a, :, :h_r, :w_r], depth[k - a], intr[k - a], images[k - a])
            pair_targets = list(range(max(a, 1), b))
            if pair_targets:
                net_firsts = torch.stack([records[k - 1].net_image for k in pair_targets])
                net_seconds = torch.stack([records[k].net_image for k in pair_targets])
                poses = model.pose_net.src_from_tgt(net_firsts, net_seconds, source_is_earlier=False)
                rel[pair_targets[0] - 1 : b - 1] = poses.double().cpu()
                fwd = bwd = None
                if flow_net is not None:
                    fwd = flow_net(net_firsts, net_seconds).flow[:, :h_r, :w_r]
                    bwd = flow_net(net_seconds, net_firsts).flow[:, :h_r, :w_r]
                for j, k in enumerate(pair_targets):
                    records[k].pose_from_prev = poses[j]
                    records[k - 1].pose_to_next = poses[j]
                    if fwd is not None and bwd is not None:
                        records[k].flow_to_prev = bwd[j]
                        records[k - 1].flow_to_next = fwd[j]
                if fwd is not None and flow_out is not None:
                    full = resize_flow(fwd.permute(0, 3, 1, 2).float(), size).permute(0, 2, 3, 1)
                    flow_out[pair_targets[0] - 1 : b - 1] = full.cpu()
            ready = b if b == n else b - 1
            if mask_out is not None and motion_mask_fn is not None:
                masked = _masks_for(records, masked, ready, n, mask_out, size, motion_mask_fn)
            else:
                for k in [k for k in records if k < ready - 1]:
                    del records[k]
            if on_frame is not None:
                tick = time.perf_counter()
                for k in range(emitted, ready):
                    on_frame(FrameResult(
                        position=k, index=idx[k], image=pending.pop(k), depth=depth_out[k],
                        flow_to_next=None if flow_out is None or k >= n - 1 else flow_out[k],
                        motion_mask=None if mask_out is None else mask_out[k],
                    ))
                emitted = ready
                callback_s += time.perf_counter() - tick
            bar.update(b - a)
            bar.set_postfix(fps=f"{b / max(time.perf_counter() - start - callback_s, 1e-9):.1f}", refresh=False)
    bar.close()
    elapsed = max(time.perf_counter() - start - callback_s, 1e-9)
    return SequencePrediction(
        indices=torch.tensor(idx, dtype=torch.long),
        timestamps=sequence.timestamps[torch.tensor(idx, dtype=torch.long)].clone(),
        depth=depth_out,
        cam_next_from_cam=rel,
        world_from_cam=chain_poses(rel),
        flow=flow_out,
        motion_mask=mask_out,
        frames_per_second=n / elapsed,
        network_input_size=geometry.input_size,
    )


def _masks_for(records: dict[int, _Record], start: int, stop: int, n: int, out: Tensor, size: tuple[int, int],
               mask_fn: MotionMaskFn) -> int:
    """Compute motion masks of frames ``start .. stop - 1`` (their neighbours are known); returns ``stop``."""
    if n == 1:
        out[0] = 0.0
        return stop
    groups: dict[tuple[bool, bool], list[int]] = {}
    for k in range(start, stop):
        groups.setdefault((k > 0, k < n - 1), []).append(k)
    for (has_prev, has_next), ks in groups.items():
        items = [(records[k], records[k - 1] if has_prev else None, records[k + 1] if has_next else None) for k in ks]
        masks = _motion_masks(items, mask_fn)
        resized = F.interpolate(masks.unsqueeze(1).float(), size=size, mode="bilinear", align_corners=False)[:, 0]
        out[ks[0] : ks[-1] + 1] = resized.clamp(0.0, 1.0).cpu()
    for k in [k for k in records if k < stop - 1]:
        del records[k]
    return stop
