"""patchvo as a :class:`~vokit.methods.interface.Method`: settings, model, training step, sequence inference.

The model (:class:`PatchVOModel`) holds the learned operator's network and the run settings (operator, preset);
``infer`` runs the VO loop of :mod:`vokit.methods.patchvo.system` and returns poses, the patch centres of the
keyframes and the patch point cloud in world coordinates (no dense depth). ``operator="lk"`` needs no trained
weights: :func:`untrained_model` builds a model whose network is never used.

Training (METHODS.md section 4.5, scaled to a CPU; :func:`training_loss`): per clip, patches are drawn in every
frame and connected densely to every frame (self-edges included); poses start at the identity (at the ground truth
in the structure-only warm-up) and inverse depths uniform in (0, 1]; each of ``train_iters`` update calls runs
the update operator on the correlation features of the current reprojections, then 2 BA iterations of the
``train`` preset with unrolled gradients; geometry is detached at every call. The loss sums over calls
``0.1 * flow loss + 10 * pose loss`` (pose loss from call 2 on, outside the warm-up): the flow loss is the mean
over edges spanning 1-2 frames of the smallest distance, over the 3x3 patch pixels, between the post-BA and the
ground-truth reprojections; the pose loss compares all relative poses after a detached, clamped scale fit.
The V2V options (METHODS.md section 5, :mod:`vokit.losses.v2v`) weight the flow loss by the BA confidences, widen
it to all edges, and balance the flow, translation and rotation terms by their gradient norms.
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from vokit.data.sequence import Sequence as FrameSequence
from vokit.geometry.lie import se3_compose, se3_identity, se3_inverse, se3_log
from vokit.losses.v2v import LossBalancer, balanced_loss, flow_loss
from vokit.methods.batch import ClipBatch, StepOutput
from vokit.methods.inference import FrameResult, SequencePrediction
from vokit.methods.interface import Output
from vokit.methods.patchvo.learned import PatchVONet
from vokit.methods.patchvo.operators import pool_depth4
from vokit.methods.patchvo.run import OPERATORS, run_patchvo
from vokit.methods.patchvo.system import PatchVOResult
from vokit.nets.correlation import CORR_GRAD_FRACTION, correlation_pyramid, correlation_volume, volume_correlation
from vokit.nets.patch_encoder import extract_patches, patch_grid, random_patch_centres
from vokit.nets.update_operator import DEFAULT_HIDDEN_DIM, GatedResidual
from vokit.solvers import build_ba_graph, bundle_adjust, reproject_patch

FLOW_WEIGHT = 0.1  # [ref]
POSE_WEIGHT = 10.0  # [ref]
POSE_SCALE_MAX = 10.0  # [ref]


@dataclass(frozen=True)
class PatchVOSettings:
    """Model, run and loss settings of patchvo.

    Attributes:
        operator: ``"lk"`` (classical, no training), ``"learned"`` or ``"oracle"`` (needs ground truth).
        preset: VO-loop preset, ``"default"`` or ``"fast"``.
        hidden_dim: update-operator hidden size D (128 vokit default, 384 reference).
        width: encoder channel multiplier (the config's ``model.width``): ``32 * width`` base channels (1.0 is
            the reference encoder).
        train_patches: patches per frame in training (80 reference; fewer on a CPU).
        train_iters: update calls per training step (18 reference).
        structure_warmup_steps: structure-only warm-up steps (poses fixed to the ground truth, no pose loss; 1000
            reference; the config's ``loss.structure_warmup_steps``).
        weighted_flow_loss: V2V: weight the flow loss by the detached BA confidences (METHODS.md section 5.2).
        flow_loss_edges: edges of the flow loss, ``"near"`` (spanning 1-2 frames, reference DPVO) or ``"all"``
            (self-edges included, the V2V code).
        loss_balancing: V2V: balance the flow, translation and rotation terms by their gradient norms on the
            transition's first gated-residual layer (section 5.3; the state is on the model, so checkpointed).
        balance_every: steps between balancing updates (20 reference).
        flow_only: the loss is the flow loss alone (no pose loss; the gradient-variance protocol, section 5.4).
    """

    operator: str = "lk"
    preset: str = "default"
    hidden_dim: int = DEFAULT_HIDDEN_DIM
    width: float = 1.0
    train_patches: int = 24
    train_iters: int = 8
    structure_warmup_steps: int = 1000
    weighted_flow_loss: bool = False
    flow_loss_edges: str = "near"
    loss_balancing: bool = False
    balance_every: int = 20
    flow_only: bool = False


class PatchVOModel(nn.Module):
    """The network of the learned operator plus the run settings (what a checkpoint holds).

    Args:
        settings: the method settings.
        input_size: training image size (H, W).
    """

    def __init__(self, settings: PatchVOSettings, input_size: tuple[int, int]) -> None:
        super().__init__()
        if settings.operator not in OPERATORS:
            raise ValueError(f"unknown patchvo operator {settings.operator!r}; choose one of {OPERATORS}")
        self.net = PatchVONet(settings.hidden_dim, max(4, round(32 * settings.width)))
        self.operator = settings.operator
        self.preset = settings.preset
        self.input_size = input_size
        if settings.flow_loss_edges not in ("near", "all"):
            raise ValueError(f"flow_loss_edges must be 'near' or 'all', got {settings.flow_loss_edges!r}")
        self.balancer = LossBalancer() if settings.loss_balancing else None


def untrained_model(operator: str = "lk", preset: str = "default") -> PatchVOModel:
    """A model for the operators that need no weights (``lk``, ``oracle``)."""
    return PatchVOModel(PatchVOSettings(operator=operator, preset=preset, hidden_dim=8, width=0.125), (0, 0))


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------


def _intrinsics4(intrinsics: Tensor) -> Tensor:
    fx, fy, cx, cy = intrinsics.unbind(-1)
    return torch.stack([fx / 4, fy / 4, (cx + 0.5) / 4 - 0.5, (cy + 0.5) / 4 - 0.5], dim=-1)


def _gt_reprojection(uv: Tensor, z: Tensor, gt_cfw: Tensor, src: Tensor, dst: Tensor, k4: Tensor) -> Tensor:
    """Ground-truth reprojection of patch pixels ``uv`` (E, 3, 3, 2) with depth ``z`` (E, 3, 3)."""
    inv = torch.where(z > 0, 1.0 / z.clamp_min(1e-6), torch.zeros_like(z))
    return reproject_patch(gt_cfw[src][:, None, None], gt_cfw[dst][:, None, None], uv, inv, k4)


def _pose_loss(est_cfw: Tensor, gt_cfw: Tensor) -> tuple[Tensor, Tensor]:
    """Mean relative translation and rotation errors over all ordered frame pairs after a detached scale fit."""
    est_wfc, gt_wfc = se3_inverse(est_cfw), se3_inverse(gt_cfw)
    p_est, p_gt = est_wfc[:, :3], gt_wfc[:, :3]
    var_gt = (p_gt - p_gt.mean(0)).square().sum(-1).mean()
    cov = (p_gt - p_gt.mean(0)).T @ (p_est - p_est.mean(0)) / p_gt.shape[0]
    s = (var_gt / torch.linalg.svdvals(cov).sum().clamp_min(1e-9)).detach().clamp(max=POSE_SCALE_MAX)
    est_wfc = torch.cat([est_wfc[:, :3] * s, est_wfc[:, 3:]], -1)
    n = est_cfw.shape[0]
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = a != b
    a, b = a[keep], b[keep]
    rel_est = se3_compose(se3_inverse(est_wfc[a]), est_wfc[b])
    rel_gt = se3_compose(se3_inverse(gt_wfc[a]), gt_wfc[b])
    e = se3_log(se3_compose(rel_est, se3_inverse(rel_gt)))
    return e[:, :3].norm(dim=-1).mean(), e[:, 3:].norm(dim=-1).mean()


def balance_parameter(net: PatchVONet) -> Tensor:
    """theta_0 of the loss balancing: the first linear weight of the transition's first gated residual [ref]."""
    gated = next(m for m in net.update.transition if isinstance(m, GatedResidual))
    first = gated.res[0]
    assert isinstance(first, nn.Linear)
    return first.weight


def training_loss(model: PatchVOModel, images: Tensor, intrinsics: Tensor, world_from_cam: Tensor, depth: Tensor,
                  step: int, settings: PatchVOSettings, generator: torch.Generator | None = None
                  ) -> tuple[Tensor, dict[str, Tensor]]:
    """The §4.5 loss of one clip (see the module docstring).

    Args:
        model: the model (its ``net`` is trained).
        images: RGB in [0, 1], ``(N, 3, H, W)``, H and W multiples of 4.
        intrinsics: ``(fx, fy, cx, cy)`` of the images, pixels (frame 0's are used).
        world_from_cam: ground-truth poses ``[t, q_xyzw]``, ``(N, 7)``.
        depth: ground-truth z-depth, ``(N, H, W)``, 0 = invalid.
        step: the training step (warm-up below ``settings.structure_warmup_steps``).
        settings: the method settings.
        generator: CPU generator of patch draws and initial depths.

    Returns:
        The loss and its terms (detached).
    """
    net, dev = model.net, images.device
    n, m = images.shape[0], settings.train_patches
    fmap, imap_dense = net.encode(images)
    h4, w4 = fmap.shape[-2:]
    frame_idx, centres = random_patch_centres(n, m, int(h4), int(w4), generator)
    frame_idx, centres = frame_idx.to(dev), centres.to(dev, fmap.dtype)
    gmap = extract_patches(fmap, frame_idx, centres, radius=1)
    imap = extract_patches(imap_dense, frame_idx, centres, radius=0)[:, :, 0, 0]
    volume = correlation_volume(gmap, correlation_pyramid(fmap))
    k4 = _intrinsics4(intrinsics[0].to(fmap.dtype))
    depth4 = torch.stack([pool_depth4(d) for d in depth.float()])
    # scale-normalise the ground truth: median patch depth 1 (monocular BA has no metric scale)
    scale = depth4[depth4 > 0].median().clamp_min(1e-6) if bool((depth4 > 0).any()) else depth4.new_ones(())
    gt_cfw = se3_inverse(world_from_cam.to(fmap.dtype))
    gt_cfw = torch.cat([gt_cfw[:, :3] / scale, gt_cfw[:, 3:]], -1)
    gt_cfw = se3_compose(gt_cfw, se3_inverse(gt_cfw[:1]))  # frame 0 at the identity, as the estimate
    patch_uv = patch_grid(centres)
    col = patch_uv[..., 0].round().long().clamp(0, w4 - 1)
    row = patch_uv[..., 1].round().long().clamp(0, h4 - 1)
    z_gt = depth4[frame_idx[:, None, None], row, col] / scale
    # dense graph: every patch to every frame
    patch, dst = torch.meshgrid(torch.arange(n * m, device=dev), torch.arange(n, device=dev), indexing="ij")
    patch, dst = patch.reshape(-1), dst.reshape(-1)
    src = frame_idx[patch]
    warmup = step < settings.structure_warmup_steps
    free = torch.arange(n, device=dev) > 0
    graph = build_ba_graph(src, dst, patch, free, n * m)
    poses = gt_cfw.clone() if warmup else se3_identity((n,), dtype=fmap.dtype, device=dev)
    inv_depth = 1.0 - torch.rand(n * m, generator=generator).to(dev, fmap.dtype)
    hidden = torch.zeros(patch.shape[0], net.hidden_dim, device=dev, dtype=fmap.dtype)
    x_gt = _gt_reprojection(patch_uv[patch], z_gt[patch], gt_cfw, src, dst, k4)
    near = ((dst - src).abs() >= 1) & ((dst - src).abs() <= 2) & (z_gt[patch] > 0).all(-1).all(-1)
    if settings.flow_loss_edges == "all":
        near = (z_gt[patch] > 0).all(-1).all(-1)
    flow_total, tr_total, ro_total = fmap.new_zeros(()), fmap.new_zeros(()), fmap.new_zeros(())
    for call in range(settings.train_iters):
        poses, inv_depth = poses.detach(), inv_depth.detach()
        pix = reproject_patch(poses[src][:, None, None], poses[dst][:, None, None], patch_uv[patch],
                              inv_depth[patch][:, None, None].expand(-1, 3, 3), k4)
        corr = volume_correlation(volume, patch, dst, pix.detach(), grad_fraction=CORR_GRAD_FRACTION,
                                  generator=generator)
        out = net.update(hidden, imap[patch], corr, src, dst, patch)
        hidden = out.hidden
        target = pix[:, 1, 1].detach() + out.delta
        ba = bundle_adjust(poses[None], inv_depth[None], centres[None], k4[None], target[None], out.weight[None],
                           graph, options="train", mode="structure" if warmup else "full",
                           image_size=(int(h4), int(w4)))
        poses, inv_depth = ba.cam_from_world[0], ba.inv_depth[0]
        x_est = reproject_patch(poses[src][:, None, None], poses[dst][:, None, None], patch_uv[patch],
                                inv_depth[patch][:, None, None].expand(-1, 3, 3), k4)
        if bool(near.any()):
            flow_total = flow_total + flow_loss(x_est, x_gt, near, out.weight if settings.weighted_flow_loss else None)
        if call >= 2 and not warmup and not settings.flow_only:
            tr, ro = _pose_loss(poses, gt_cfw)
            tr_total, ro_total = tr_total + tr, ro_total + ro
    balancer = model.balancer if isinstance(model.balancer, LossBalancer) else None
    update = model.training and not warmup and step > 0 and step % settings.balance_every == 0
    combined = balanced_loss(flow_total, tr_total, ro_total, FLOW_WEIGHT, POSE_WEIGHT, balancer,
                             balance_parameter(net), update)
    # zero-weighted network outputs keep the loss a function of the parameters when no edge has ground truth
    loss = combined.total + 0.0 * (out.delta.sum() + out.weight.sum())
    pose_total = (tr_total + ro_total).detach()
    scalars = {"loss/flow": flow_total.detach(), "loss/pose": pose_total, "loss/total": loss.detach()}
    return loss, scalars | (balancer.scalars() if balancer is not None else {})


# ---------------------------------------------------------------------------------------------------------------
# The method
# ---------------------------------------------------------------------------------------------------------------


class PatchVOMethod:
    """The patchvo :class:`~vokit.methods.interface.Method` (METHODS.md section 4)."""

    name = "patchvo"
    description = "patch-based VO, the DPVO design: patch graph + BA with an LK or learned update (METHODS.md 4)"
    settings_type = PatchVOSettings
    outputs: frozenset[Output] = frozenset({"patches"})
    input_stride = 4
    operators: tuple[str, ...] = ("lk", "learned")

    def model_without_weights(self, operator: str | None) -> nn.Module | None:
        """An untrained model for ``lk`` (the default without weights), None for ``learned``."""
        return None if operator == "learned" else untrained_model(operator or "lk")

    def set_operator(self, model: nn.Module, operator: str) -> None:
        """Run ``model`` with ``operator`` (``lk`` ignores the network; ``learned`` uses it)."""
        assert isinstance(model, PatchVOModel)
        if operator not in OPERATORS:
            raise ValueError(f"unknown patchvo operator {operator!r}; choose one of {OPERATORS}")
        model.operator = operator

    def build_model(self, settings: PatchVOSettings, input_size: tuple[int, int]) -> nn.Module:
        """The :class:`PatchVOModel` for training images of ``input_size``."""
        return PatchVOModel(settings, input_size)

    def training_step(self, model: nn.Module, batch: ClipBatch, step: int, want_images: bool,
                      settings: PatchVOSettings) -> StepOutput:
        """The §4.5 loss (:func:`training_loss`) averaged over the clips of the batch."""
        assert isinstance(model, PatchVOModel)
        if batch.world_from_cam is None or batch.depth is None:
            raise ValueError("patchvo training needs ground-truth poses and depth (the synthetic world has both)")
        h, w = batch.net_images.shape[-2:]
        h4, w4 = h // 4 * 4, w // 4 * 4
        terms: dict[str, Tensor] = {}
        total = batch.net_images.new_zeros(())
        for b in range(batch.batch_size):
            loss, scalars = training_loss(model, batch.net_images[b, :, :, :h4, :w4], batch.intrinsics[b],
                                          batch.world_from_cam[b], batch.depth[b, :, :h4, :w4], step, settings)
            total = total + loss / batch.batch_size
            for key, value in scalars.items():
                terms[key] = terms.get(key, value.new_zeros(())) + value / batch.batch_size
        return StepOutput(loss=total, scalars=terms, images={})

    def probe_heads(self, model: nn.Module) -> dict[str, Tensor]:
        """The final linear weights of ``delta_head`` and ``weight_head`` (METHODS.md section 5.4)."""
        assert isinstance(model, PatchVOModel)
        return {f"net.update.{head}.1.weight": getattr(model.net.update, head)[1].weight
                for head in ("delta_head", "weight_head")}

    def probe_loss(self, model: nn.Module, batch: ClipBatch, settings: PatchVOSettings, weighted: bool,
                   update_calls: int, generator: torch.Generator) -> Tensor:
        """:func:`training_loss` of the first clip with the flow term alone, ``update_calls`` calls, no warm-up."""
        assert isinstance(model, PatchVOModel)
        if batch.world_from_cam is None or batch.depth is None:
            raise ValueError("the patchvo flow loss needs ground-truth poses and depth")
        st = replace(settings, flow_only=True, weighted_flow_loss=weighted, structure_warmup_steps=0,
                     train_iters=update_calls)
        h, w = batch.net_images.shape[-2:]
        h4, w4 = h // 4 * 4, w // 4 * 4
        loss, _ = training_loss(model, batch.net_images[0, :, :, :h4, :w4], batch.intrinsics[0],
                                batch.world_from_cam[0], batch.depth[0, :, :h4, :w4], 0, st, generator)
        return loss

    def infer(
        self,
        model: nn.Module,
        sequence: FrameSequence,
        device: torch.device | str = "cpu",
        batch_size: int = 8,
        frames: Sequence[int] | None = None,
        show_progress: bool = True,
        on_frame: Callable[[FrameResult], None] | None = None,
    ) -> SequencePrediction:
        """Run the VO loop; poses, keyframe patch centres (sequence pixels; NaN on other frames), patch points."""
        assert isinstance(model, PatchVOModel)
        indices = list(range(len(sequence))) if frames is None else list(frames)
        start = time.perf_counter()
        net = model.net.to(device) if model.operator == "learned" else None
        res = run_patchvo(sequence, model.operator, model.preset, model=net, frames=indices)
        fps = len(indices) / max(time.perf_counter() - start, 1e-9)
        world_from_cam = res.world_from_cam.double()
        rel = se3_compose(se3_inverse(world_from_cam[1:]), world_from_cam[:-1])
        patches = _patch_pixels(res, sequence, indices)
        if on_frame is not None:
            for k, i in enumerate(indices):
                on_frame(FrameResult(position=k, index=i, image=sequence.image(i), depth=None, flow_to_next=None,
                                     motion_mask=None))
        return SequencePrediction(
            indices=torch.tensor(indices), timestamps=sequence.timestamps[indices].clone(), depth=None,
            cam_next_from_cam=rel, world_from_cam=world_from_cam, flow=None, motion_mask=None,
            frames_per_second=fps, network_input_size=res.working_size, patches=patches,
            points_world=res.points_world.double(), point_colors=res.point_colors,
        )


def _patch_pixels(res: PatchVOResult, sequence: FrameSequence, indices: list[int]) -> Tensor:
    """Keyframe patch centres in the sequence's pixels (exact pooling rule back from 1/4 resolution), NaN else."""
    h, w = sequence.image_size
    wh, ww = res.working_size
    out = torch.full((len(indices), res.patch_uv.shape[1], 2), math.nan)
    sx, sy = w / ww, h / wh
    for slot, k in enumerate(res.keyframes):
        uv_work = (res.patch_uv[slot].float() + 0.5) * 4 - 0.5
        out[k, :, 0] = (uv_work[:, 0] + 0.5) * sx - 0.5
        out[k, :, 1] = (uv_work[:, 1] + 0.5) * sy - 0.5
    return out


METHOD = PatchVOMethod()

__all__ = ["METHOD", "PatchVOMethod", "PatchVOModel", "PatchVOSettings", "training_loss", "untrained_model"]
