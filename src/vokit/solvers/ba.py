"""Differentiable patch bundle adjustment: batched Schur-complement Gauss-Newton in pure PyTorch.

Implements METHODS.md section 3 (reference: princeton-vl/DPVO ``dpvo/ba.py`` and ``dpvo/projective_ops.py``):
free poses ``cam_from_world`` and one inverse depth per patch are refined so that reprojected patch centres
match per-edge target pixels under per-axis confidences. Every iteration recomputes validity (``Z > 0.2``, the
residual gate, the image margin), accumulates the normal equations by scatter, eliminates the depths (Schur
complement), solves the damped reduced camera system by Cholesky, back-substitutes the depths, retracts
``T <- Exp(dxi) T`` and clamps the inverse depths.

Non-finite inputs drop what they touch instead of poisoning the problem: an edge with a NaN or inf target or
weight is invalid, and so is every edge at a pose with a NaN or inf entry (that pose is returned as given). Dropped
inputs get exactly zero gradient and everything else stays finite (METHODS.md 3.4: "never NaN").

Gradients: ``backward="unroll"`` differentiates every iteration (the reference behaviour); ``"truncated"`` only
the last; ``"implicit"`` runs the iterations without a graph and differentiates one Gauss-Newton step at the
solution with the normal matrix held fixed, i.e. one adjoint solve with the same damped system (METHODS.md 3.4).

Example:
    >>> import torch
    >>> from vokit.solvers import bundle_adjust, build_ba_graph
    >>> graph = build_ba_graph(src_idx, dst_idx, patch_idx, free_poses, n_patches)  # doctest: +SKIP
    >>> out = bundle_adjust(cam_from_world, inv_depth, patch_uv, intrinsics, targets, weights, graph,
    ...                     options="train")  # doctest: +SKIP
    >>> out.cam_from_world.shape, out.inv_depth.shape, out.failures  # doctest: +SKIP
"""

from dataclasses import dataclass, replace
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from vokit.geometry.camera import MIN_Z_BA
from vokit.geometry.lie import quat_normalize, se3_compose, se3_exp
from vokit.solvers.graph import BAGraph
from vokit.solvers.schur import EdgeData, Step, gather_edge_data, gauss_newton_step, linearize

MODES = ("full", "motion", "structure")
BACKWARD_MODES = ("unroll", "truncated", "implicit")


@dataclass(frozen=True)
class BAOptions:
    """Constants of the BA layer (METHODS.md section 3.3 table); start from :data:`BA_PRESETS`.

    Attributes:
        pose_damping: ``eps``, added to the diagonal of the reduced camera system (``train`` 10, ``infer`` 1).
        rel_pose_damping: ``mu``, times the diagonal of the reduced camera system (1e-4).
        depth_damping: ``lambda``, added to each patch's ``C_k`` before inversion (1e-4).
        residual_gate_px: edges with ``|r| >=`` this many pixels are invalid (``train`` 250, ``infer`` 128).
        margin_px: edges whose reprojected centre leaves ``(-m, w + m) x (-m, h + m)`` are invalid (64); used only
            when an ``image_size`` is given.
        min_z: depth-ratio guard: ``Z <= min_z`` makes an edge invalid and zeroes its ``1/Z`` terms (0.2).
        inv_depth_min: lower clamp of the updated inverse depth (``train`` 1e-3, ``infer`` 1e-4).
        inv_depth_max: upper clamp, or None (``train`` 10).
        inv_depth_reset_above: ``infer`` resets inverse depths above this value (20) ...
        inv_depth_reset_value: ... to this value (1), before the lower clamp; None disables the reset.
        iterations: Gauss-Newton iterations per call (2).
        rel_tol: if set, a problem stops once an iteration lowers its cost by less than ``rel_tol`` times the
            previous cost; the loop ends when every problem of the batch has stopped.
    """

    pose_damping: float = 10.0
    rel_pose_damping: float = 1e-4
    depth_damping: float = 1e-4
    residual_gate_px: float = 250.0
    margin_px: float = 64.0
    min_z: float = MIN_Z_BA
    inv_depth_min: float = 1e-3
    inv_depth_max: float | None = 10.0
    inv_depth_reset_above: float | None = None
    inv_depth_reset_value: float = 1.0
    iterations: int = 2
    rel_tol: float | None = None


BA_PRESETS: dict[str, BAOptions] = {
    "train": BAOptions(),
    "infer": BAOptions(
        pose_damping=1.0,
        residual_gate_px=128.0,
        inv_depth_min=1e-4,
        inv_depth_max=None,
        inv_depth_reset_above=20.0,
        inv_depth_reset_value=1.0,
    ),
}
"""``train`` and ``infer`` presets of METHODS.md section 3.3; derive variants with ``dataclasses.replace``."""


@dataclass(frozen=True)
class BAResult:
    """Output of :func:`bundle_adjust`.

    Attributes:
        cam_from_world: refined poses ``[t, q_xyzw]`` (fixed poses unchanged).
        inv_depth: refined patch inverse depths.
        cost: ``sum_e r^T W r`` (valid edges, squared pixels) at each linearisation point, detached; column k is
            the cost after k steps.
        failures: how many reduced camera systems of each problem failed to factorise (their steps were zero).
        iterations: Gauss-Newton steps taken.
    """

    cam_from_world: Float[Tensor, "B N 7"]
    inv_depth: Float[Tensor, "B P"]
    cost: Float[Tensor, "B K"]
    failures: Int[Tensor, " B"]
    iterations: int


def _resolve_options(options: BAOptions | str) -> BAOptions:
    if isinstance(options, str):
        if options not in BA_PRESETS:
            raise ValueError(f"bundle_adjust: unknown preset {options!r}; choose one of {sorted(BA_PRESETS)}")
        return BA_PRESETS[options]
    return options


def _check_inputs(
    cam_from_world: Tensor,
    inv_depth: Tensor,
    targets: Tensor,
    graph: BAGraph,
    opts: BAOptions,
    mode: str,
    backward: str,
) -> None:
    if mode not in MODES:
        raise ValueError(f"bundle_adjust: mode must be one of {MODES}, got {mode!r}")
    if backward not in BACKWARD_MODES:
        raise ValueError(f"bundle_adjust: backward must be one of {BACKWARD_MODES}, got {backward!r}")
    if cam_from_world.shape[1] != graph.n_poses or inv_depth.shape[1] != graph.n_patches:
        raise ValueError(
            f"bundle_adjust: graph has {graph.n_poses} poses and {graph.n_patches} patches, inputs have "
            f"{cam_from_world.shape[1]} and {inv_depth.shape[1]}"
        )
    if targets.shape[1] != graph.n_edges:
        raise ValueError(f"bundle_adjust: graph has {graph.n_edges} edges, targets have {targets.shape[1]}")
    if opts.iterations < 1:
        raise ValueError(f"bundle_adjust: iterations must be >= 1, got {opts.iterations}")
    if not cam_from_world.is_floating_point():
        raise ValueError("bundle_adjust: poses must be floating point (float32 or float64)")


def _finite_poses(cam_from_world: Tensor) -> tuple[Tensor, Tensor]:
    """``(bad, start)``: which poses hold a non-finite entry, and the poses with those replaced by the identity.

    The solve runs on ``start`` with every edge that touches a bad pose dropped (zero weight), so a NaN or inf
    pose never enters the arithmetic (a zero gradient times a NaN would be NaN); the caller hands the bad poses
    back unchanged with ``torch.where``.
    """
    bad = ~torch.isfinite(cam_from_world).all(-1)
    identity = torch.zeros_like(cam_from_world[..., :1, :])
    identity[..., 6] = 1.0
    return bad, torch.where(bad[..., None], identity, cam_from_world)


def _retract(
    cam_from_world: Tensor, inv_depth: Tensor, step: Step, graph: BAGraph, opts: BAOptions, mode: str
) -> tuple[Tensor, Tensor]:
    """``T <- Exp(dxi) T`` on free poses and the preset's inverse-depth update rule."""
    poses = cam_from_world
    if mode != "structure":
        moved = se3_compose(se3_exp(step.xi), cam_from_world)
        moved = torch.cat([moved[..., :3], quat_normalize(moved[..., 3:])], dim=-1)
        poses = torch.where(graph.free_poses[:, None], moved, cam_from_world)
    if mode == "motion":
        return poses, inv_depth
    depth = inv_depth + step.inv_depth
    if opts.inv_depth_reset_above is not None:
        reset = torch.full_like(depth, opts.inv_depth_reset_value)
        depth = torch.where(depth > opts.inv_depth_reset_above, reset, depth)
    return poses, depth.clamp(min=opts.inv_depth_min, max=opts.inv_depth_max)


def _linearize(poses: Tensor, depth: Tensor, data: EdgeData, graph: BAGraph, opts: BAOptions, detach: bool = False):
    return linearize(poses, depth, data, graph, opts.residual_gate_px, opts.margin_px, opts.min_z, detach)


def _step(lin, graph: BAGraph, opts: BAOptions, mode: str) -> Step:
    if graph.n_local == 0 and mode == "full":
        mode = "structure"
    return gauss_newton_step(lin, graph, mode, opts.pose_damping, opts.rel_pose_damping, opts.depth_damping)


def _iterate(
    poses: Tensor, depth: Tensor, data: EdgeData, graph: BAGraph, opts: BAOptions, mode: str, truncate: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    b = poses.shape[0]
    failures = torch.zeros(b, dtype=torch.long, device=poses.device)
    active = torch.ones(b, dtype=torch.bool, device=poses.device)
    costs: list[Tensor] = []
    steps = 0
    for _ in range(opts.iterations):
        if truncate:
            poses, depth = poses.detach(), depth.detach()
        lin = _linearize(poses, depth, data, graph, opts)
        cost = lin.cost.detach()
        if opts.rel_tol is not None and costs:
            active = active & (costs[-1] - cost > opts.rel_tol * costs[-1])
            if not bool(active.any()):
                costs.append(cost)
                break
        costs.append(cost)
        step = _step(lin, graph, opts, mode)
        failures = failures + step.failed.long()
        new_poses, new_depth = _retract(poses, depth, step, graph, opts, mode)
        keep = active & ~step.failed
        poses = torch.where(keep[:, None, None], new_poses, poses)
        depth = torch.where(keep[:, None], new_depth, depth)
        steps += 1
    return poses, depth, torch.stack(costs, dim=1), failures, steps


def _implicit_output(
    poses: Tensor, depth: Tensor, data: EdgeData, graph: BAGraph, opts: BAOptions, mode: str
) -> tuple[Tensor, Tensor]:
    """Attach implicit-function gradients to a (detached) solution without changing its value.

    At a fixed point ``g(x*, theta) = J^T W r = 0``; one more step ``dx = H^-1 g(x*, theta)`` with ``J`` and the
    normal-matrix weights detached has value ~0 and derivative ``H^-1 dg/dtheta = dx*/dtheta`` (the implicit
    function theorem with ``dg/dx = -H``). Its backward is one adjoint solve with the same damped system.
    """
    lin = _linearize(poses, depth, data, graph, opts, detach=True)
    step = _step(lin, graph, opts, mode)
    zero_xi = step.xi - step.xi.detach()
    zero_d = step.inv_depth - step.inv_depth.detach()
    moved = se3_compose(se3_exp(zero_xi), poses)
    return torch.where(graph.free_poses[:, None], moved, poses), depth + zero_d


def bundle_adjust(
    cam_from_world: Float[Tensor, "B N 7"],
    inv_depth: Float[Tensor, "B P"],
    patch_uv: Float[Tensor, "B P 2"],
    intrinsics: Float[Tensor, "B 4"],
    targets: Float[Tensor, "B E 2"],
    weights: Float[Tensor, "B E 2"],
    graph: BAGraph,
    options: BAOptions | str = "train",
    mode: str = "full",
    backward: str = "unroll",
    image_size: tuple[int, int] | None = None,
) -> BAResult:
    """Refine poses and patch inverse depths by damped Gauss-Newton (METHODS.md section 3).

    Batched over B independent problems that share one graph (pad with zero weights to batch different graphs).

    Args:
        cam_from_world: poses ``T_i = cam_i_from_world``, ``[t, q_xyzw]``; those not free in ``graph`` stay fixed.
            A pose with a NaN or inf entry is returned unchanged and every edge at it is invalid; the rest of
            its problem is solved as if those edges were absent (no failure is counted).
        inv_depth: one inverse depth per patch, in its host frame (1 / z-depth).
        patch_uv: patch centres in their host images, pixels (1/4 resolution in patchvo).
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the same resolution, shared by all frames of a problem.
        targets: target pixel per edge in the destination image; an edge with a non-finite target is invalid.
        weights: per-axis confidences per edge (``(0, 1)`` from the network; any non-negative value works). An
            edge with a NaN, +inf or -inf weight on either axis is invalid (both axes are dropped), with exactly
            zero gradient on its weights and target.
        graph: edges and gauge from :func:`vokit.solvers.build_ba_graph`.
        options: a preset name (``"train"``, ``"infer"``) or :class:`BAOptions`.
        mode: ``"full"``, ``"motion"`` (depths fixed) or ``"structure"`` (poses fixed).
        backward: ``"unroll"`` (default), ``"truncated"`` (last iteration only) or ``"implicit"``.
        image_size: ``(h, w)`` of the image the pixels live in, for the margin test; None skips it.

    Returns:
        Refined state with the cost history and the failure count per problem. Gradients flow to
        ``targets``, ``weights``, ``cam_from_world``, ``inv_depth`` (initial state; not with ``"implicit"``,
        where the solution does not depend on it) and ``patch_uv`` / ``intrinsics``; they are finite when the
        only non-finite inputs are targets, weights or poses, and exactly zero on the dropped edges.

    Raises:
        ValueError: on an unknown preset, mode or backward mode, or inputs that do not match the graph.
    """
    opts = _resolve_options(options)
    _check_inputs(cam_from_world, inv_depth, targets, graph, opts, mode, backward)
    bad, start = _finite_poses(cam_from_world)
    if backward == "implicit":
        with torch.no_grad():
            data = gather_edge_data(patch_uv, intrinsics, targets, weights, graph, image_size, bad)
            poses, depth, costs, failures, steps = _iterate(start, inv_depth, data, graph, opts, mode, truncate=False)
        data = gather_edge_data(patch_uv, intrinsics, targets, weights, graph, image_size, bad)
        poses, depth = _implicit_output(poses, depth, data, graph, opts, mode)
    else:
        data = gather_edge_data(patch_uv, intrinsics, targets, weights, graph, image_size, bad)
        poses, depth, costs, failures, steps = _iterate(
            start, inv_depth, data, graph, opts, mode, truncate=backward == "truncated"
        )
    poses = torch.where(bad[..., None], cam_from_world, poses)
    return BAResult(cam_from_world=poses, inv_depth=depth, cost=costs, failures=failures, iterations=steps)


def ba_options(preset: str = "train", **overrides: Any) -> BAOptions:
    """A preset of :data:`BA_PRESETS` with some fields replaced.

    Args:
        preset: ``"train"`` or ``"infer"``.
        **overrides: :class:`BAOptions` fields to replace.

    Returns:
        The options.

    Example:
        >>> ba_options("infer", iterations=4).pose_damping
        1.0
    """
    return replace(_resolve_options(preset), **overrides)


__all__ = ["BAOptions", "BAResult", "BA_PRESETS", "ba_options", "bundle_adjust"]
