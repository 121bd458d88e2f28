"""The patchvo VO loop (METHODS.md section 4.4): frames in, a patch graph maintained, poses out.

Per incoming frame (princeton-vl/DPVO ``dpvo/dpvo.py``): resize to the working resolution, draw patches, predict
the pose with the damped constant-velocity model and initialise the patch inverse depths; before initialisation a
**motion probe** skips frames whose median correction is below 2 px; add forward and backward edges; at the 8th
keyframe run 12 update calls, afterwards one update call (the operator, then 2 Gauss-Newton iterations of
:func:`vokit.solvers.bundle_adjust` over the optimisation window) per frame; then **remove a keyframe** when the
flow between its neighbours is small and drop edges older than the removal window. At the end, skipped and removed
frames are re-inserted by composing their stored relative poses, so there is one pose per input frame.

All geometry runs at 1/4 of the working resolution; poses are ``cam_from_world`` inside and ``world_from_cam``
on output. Monocular: the trajectory and the patch points share one arbitrary scale.
"""

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import se3_compose, se3_identity, se3_inverse
from vokit.methods.patchvo.bootstrap import Bootstrap, PointChains, chain_bootstrap, two_view_bootstrap
from vokit.methods.patchvo.graph import PatchGraph
from vokit.methods.patchvo.motion import predict_pose
from vokit.methods.patchvo.operators import OperatorOutput, PatchOperator, PreparedFrame, pool_depth4
from vokit.methods.patchvo.presets import PatchVOConfig
from vokit.nets.patch_encoder import gradient_biased_patch_centres, random_patch_centres
from vokit.solvers import ba_options, build_ba_graph, bundle_adjust, reproject_patch

REFERENCE_WIDTH_PX = 640  # the image width the reference keyframe threshold refers to [vokit]
LUMA = (0.299, 0.587, 0.114)
CHAIN_SEED = 0  # seed of the point chains' corner candidates [vokit]
BOOTSTRAP_STRUCTURE_CALLS = 2  # structure-only BA calls (2 iterations each) after the two-view bootstrap [vokit]


def working_size(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """The working ``(H, W)``: the input scaled to at most ``max_pixels`` pixels, sides multiples of 4 (>= 16)."""
    s = min(1.0, math.sqrt(max_pixels / float(height * width)))
    return max(16, int(height * s) // 4 * 4), max(16, int(width * s) // 4 * 4)


def prepare_frame(
    image: Float[Tensor, "3 H0 W0"],
    intrinsics: Float[Tensor, "4"],
    size: tuple[int, int],
    depth: Float[Tensor, "H0 W0"] | None = None,
    world_from_cam: Float[Tensor, "7"] | None = None,
) -> PreparedFrame:
    """Resize an input frame to the working size and derive the 1/4-resolution grey image and intrinsics.

    Resizing maps pixel centres exactly (``u' = (u + 0.5) s - 0.5``), and so does 4x4 average pooling; the
    intrinsics follow the same rule (METHODS.md section 1 gives it as the exact alternative to the reference rule).

    Args:
        image: RGB in [0, 1].
        intrinsics: ``(fx, fy, cx, cy)`` of ``image``, pixels.
        size: working ``(H, W)``, multiples of 4.
        depth: optional ground-truth z-depth of ``image`` (metres, 0 = invalid), for the oracle.
        world_from_cam: optional ground-truth pose.
    """
    h0, w0 = image.shape[-2:]
    h, w = size
    img = image.float()
    if (h, w) != (h0, w0):
        img = F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    sx, sy = w / w0, h / h0
    fx, fy, cx, cy = intrinsics.double().unbind(-1)
    k = torch.stack([fx * sx / 4, fy * sy / 4, ((cx + 0.5) * sx) / 4 - 0.5, ((cy + 0.5) * sy) / 4 - 0.5])
    gray = (img * torch.tensor(LUMA, dtype=img.dtype)[:, None, None]).sum(0)
    gray4 = F.avg_pool2d(gray[None, None], 4)[0, 0]
    depth4 = None
    if depth is not None:
        d = depth.float()
        if (h, w) != (h0, w0):
            d = F.interpolate(d[None, None], size=(h, w), mode="nearest")[0, 0]
        depth4 = pool_depth4(d)
    return PreparedFrame(image=img.clamp(0, 1), gray4=gray4, intrinsics4=k.float(), world_from_cam=world_from_cam,
                         depth4=depth4)


def corner_score4(image: Float[Tensor, "3 H W"]) -> Float[Tensor, "h w"]:
    """Shi-Tomasi cornerness on the 1/4-resolution grid: the smaller eigenvalue of the structure tensor.

    The structure tensor sums products of central-difference gradients of the half-resolution grey image over
    5 x 5 windows (the LK window of the ``lk`` operator), then is average-pooled by 2 onto the patch grid. Large
    where a window is textured in two directions, i.e. where LK is well posed ("Good Features to Track", Shi and
    Tomasi, CVPR 1994).
    """
    gray = (image * torch.tensor(LUMA, dtype=image.dtype)[:, None, None]).sum(0)
    half = F.avg_pool2d(gray[None, None], 2)
    gu = F.pad(half[..., :, 2:] - half[..., :, :-2], (1, 1, 0, 0)) / 2
    gv = F.pad(half[..., 2:, :] - half[..., :-2, :], (0, 0, 1, 1)) / 2
    terms = F.avg_pool2d(torch.cat([gu * gu, gv * gv, gu * gv], 1), 5, stride=1, padding=2)
    a, c, b = terms[0, 0], terms[0, 1], terms[0, 2]
    min_eig = (a + c) / 2 - torch.sqrt(((a - c) / 2).square() + b.square())
    return F.avg_pool2d(min_eig[None, None], 2)[0, 0]


def corner_patch_centres(image: Float[Tensor, "3 H W"], patches_per_frame: int,
                         generator: torch.Generator | None = None, oversample: int = 3) -> Float[Tensor, "M 2"]:
    """The ``corner`` selector [vokit]: draw ``oversample * M`` random centres, keep the M most corner-like.

    Like §4.1's ``gradient_bias`` but ranked by :func:`corner_score4` instead of the gradient magnitude, which
    also rewards straight edges, where LK slides along the edge (the aperture problem) and still passes the
    forward-backward check.
    """
    score = corner_score4(image)
    h, w = score.shape
    _, cand = random_patch_centres(1, oversample * patches_per_frame, h, w, generator)
    values = score[cand[:, 1].long(), cand[:, 0].long()]
    return cand[values.topk(patches_per_frame).indices]


@dataclass(frozen=True)
class PatchVOResult:
    """Output of a patchvo run over a sequence.

    Attributes:
        world_from_cam: one pose per input frame ``[t, q_xyzw]`` (arbitrary monocular scale).
        timestamps: capture times, seconds.
        points_world: patch centres of the final keyframes back-projected in world coordinates.
        point_colors: RGB in [0, 1] of each point.
        keyframes: input indices of the keyframes left in the buffer.
        patch_uv: patch centres of each keyframe, 1/4-resolution pixels of the working size.
        working_size: ``(H, W)`` the frames were processed at.
        timings_s: seconds spent per stage (``prepare``, ``patchify``, ``operator``, ``ba``, ``graph``).
        wall_s: total wall time of the loop, seconds.
        initialised_after: ``(frames, seconds)``: input frames and loop wall time up to the end of the
            initialisation (the one-off cost: bootstrap and 12 update calls); None when it never ran before the end.
    """

    world_from_cam: Float[Tensor, "N 7"]
    timestamps: Float[Tensor, " N"]
    points_world: Float[Tensor, "P 3"]
    point_colors: Float[Tensor, "P 3"]
    keyframes: list[int]
    patch_uv: Float[Tensor, "K M 2"]
    working_size: tuple[int, int]
    timings_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    initialised_after: tuple[int, float] | None = None

    @property
    def frames_per_second(self) -> float:
        """Input frames per wall-clock second."""
        return self.world_from_cam.shape[0] / max(self.wall_s, 1e-9)

    @property
    def frames_per_second_after_init(self) -> float | None:
        """Input frames per wall-clock second after the initialisation (the rate on a long video).

        None when no frame came after it.
        """
        if self.initialised_after is None or self.world_from_cam.shape[0] <= self.initialised_after[0]:
            return None
        frames, seconds = self.initialised_after
        return (self.world_from_cam.shape[0] - frames) / max(self.wall_s - seconds, 1e-9)


class PatchVO:
    """The incremental VO loop; call it once per frame in order, then :meth:`finish`.

    Args:
        operator: the update operator (``LKOperator``, ``OracleOperator``, the learned one).
        config: loop constants (:func:`vokit.methods.patchvo.presets.patchvo_config`).
        generator: CPU generator of the patch draws and the initial depths.
    """

    def __init__(self, operator: PatchOperator, config: PatchVOConfig, generator: torch.Generator | None = None):
        self.op = operator
        self.cfg = config
        self.gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.graph = PatchGraph(config.patches_per_frame)
        self.initialized = False
        self.n_input = 0
        self.intrinsics4: Tensor | None = None
        self.image_hw4: tuple[int, int] = (0, 0)
        self.timings: dict[str, float] = defaultdict(float)
        self.ba_opts = ba_options("infer")
        self.probe_log: list[float] = []
        self.bootstrap: Bootstrap | None = None
        self.chains: PointChains | None = None

    @property
    def _px_scale(self) -> float:
        """Working width over the reference 640 px: the factor applied to the reference pixel thresholds."""
        return 4 * self.image_hw4[1] / REFERENCE_WIDTH_PX

    # ------------------------------------------------------------------ per frame
    def __call__(self, frame: PreparedFrame, timestamp: float) -> None:
        """Process the next input frame (already at the working resolution, see :func:`prepare_frame`)."""
        g, cfg = self.graph, self.cfg
        frame_id = self.n_input
        self.n_input += 1
        t0 = time.perf_counter()
        self.intrinsics4 = frame.intrinsics4
        self.image_hw4 = (int(frame.gray4.shape[0]), int(frame.gray4.shape[1]))
        uv, colors = self._patchify(frame)
        pose = self._predict_pose(timestamp)
        if self.initialized:
            inv_depth = g.inv_depth[-3:].median().expand(cfg.patches_per_frame).clone()
        else:
            inv_depth = 1.0 - torch.rand(cfg.patches_per_frame, generator=self.gen)  # uniform in (0, 1] [vokit]
        payload = self.op.frame_payload(frame, uv)
        g.append_frame(frame_id, timestamp, pose, uv, inv_depth, colors, payload)
        if g.n == 1 and not self.initialized:
            self._start_chains(frame, uv)
        self._forget_payloads()
        self.timings["patchify"] += time.perf_counter() - t0
        if g.n > 1 and not self.initialized and self._probe() < cfg.probe_thresh_px * self._px_scale:
            g.pop_last_frame()
            g.record_skipped(frame_id, frame_id - 1)
            return
        t0 = time.perf_counter()
        g.add_edges(*g.forward_edges(cfg.patch_lifetime))
        g.add_edges(*g.backward_edges(cfg.patch_lifetime))
        self.timings["graph"] += time.perf_counter() - t0
        if not self.initialized and g.n >= cfg.init_frames:
            self._initialize()
        elif self.initialized:
            self._update()
            self._keyframe()

    def _patchify(self, frame: PreparedFrame) -> tuple[Tensor, Tensor]:
        h4, w4 = frame.gray4.shape
        m = self.cfg.patches_per_frame
        selector = self.cfg.selector or ("corner" if getattr(self.op, "name", "") == "lk" else "random")
        if selector == "gradient":
            _, uv = gradient_biased_patch_centres(frame.image[None], m, self.gen)
        elif selector == "corner":
            uv = corner_patch_centres(frame.image, m, self.gen)
        else:
            _, uv = random_patch_centres(1, m, int(h4), int(w4), self.gen)
        h, w = frame.image.shape[-2:]
        col = (4 * uv[:, 0] + 2).long().clamp(0, w - 1)
        row = (4 * uv[:, 1] + 2).long().clamp(0, h - 1)
        return uv.float(), frame.image[:, row, col].T

    def _two_view(self) -> bool:
        """Whether the initialisation starts with the two-view bootstrap (``init_two_view``; None: for ``lk``)."""
        two_view = self.cfg.init_two_view
        return getattr(self.op, "name", "") == "lk" if two_view is None else two_view

    def _start_chains(self, frame: PreparedFrame, patch_uv: Tensor) -> None:
        """Start the bootstrap's point chains at the first keyframe.

        Its patches plus corners up to ``init_chain_points``; only for an operator with ``track_points``.
        """
        extra = self.cfg.init_chain_points - self.cfg.patches_per_frame
        if not (self._two_view() and hasattr(self.op, "track_points") and self.cfg.init_chain_points > 0):
            return
        # their own generator: the patch draws stay those of a run without chains
        chain_gen = torch.Generator().manual_seed(CHAIN_SEED)
        corners = corner_patch_centres(frame.image, extra, chain_gen) if extra > 0 else patch_uv[:0]
        self.chains = PointChains.start(patch_uv, corners)

    def _predict_pose(self, timestamp: float) -> Tensor:
        g = self.graph
        if g.n == 0:
            return se3_identity(dtype=g.dtype)
        if g.n == 1:
            return g.cam_from_world[-1].clone()
        dt_prev = g.timestamps[-1] - g.timestamps[-2]
        dt = timestamp - g.timestamps[-1]
        ratio = dt / dt_prev if dt_prev > 0 and dt > 0 else 1.0
        ratio = min(max(ratio, 0.0), 4.0)
        return predict_pose(g.cam_from_world[-1], g.cam_from_world[-2], self.cfg.motion_damping, ratio)

    def _forget_payloads(self) -> None:
        old = self.graph.n - self.cfg.memory - 1
        if old >= 0:
            self.graph.payload[old] = None

    def _coords(self, src: Tensor, dst: Tensor, patch: Tensor) -> Tensor:
        g = self.graph
        assert self.intrinsics4 is not None
        return reproject_patch(g.cam_from_world[src], g.cam_from_world[dst], g.patch_uv.reshape(-1, 2)[patch],
                               g.inv_depth.reshape(-1)[patch], self.intrinsics4)

    def _probe(self) -> float:
        """Median correction (1/4-res px) of the previous keyframe's patches observed in the new frame.

        Over the confident corrections (``w > 0.5`` on both axes) when at least half the patches have one; when
        fewer do, the operator could not follow the motion, which is then large, not small, and the probe
        returns infinity so that the frame is kept [vokit] (DPVO's median over all patches assumes an operator
        that always answers; LK's failed tracks would report no motion).
        """
        g = self.graph
        t0 = time.perf_counter()
        patch = torch.arange(g.M * (g.n - 2), g.M * (g.n - 1))
        src, dst = patch // g.M, torch.full_like(patch, g.n - 1)
        coords = self._coords(src, dst, patch)
        out = self.op.update(g, src, dst, patch, coords, {})
        delta = (out.target - coords).norm(dim=-1)
        confident = out.weight.amin(-1) > 0.5
        self.timings["operator"] += time.perf_counter() - t0
        value = float(delta[confident].median()) if 2 * int(confident.sum()) >= g.M else float("inf")
        self.probe_log.append(value)
        return value

    def _initialize(self, force: bool = False) -> None:
        """Run the initialisation's update calls.

        With ``init_two_view`` the two-view bootstrap runs first; when it finds too little parallax or too few
        inliers, initialisation waits for the next keyframe (unless ``force`` or ``init_max_frames`` keyframes are
        buffered, then it starts as the reference does), as classical monocular systems wait for a baseline.
        With ``init_growing_gap``, call c uses only edges spanning at most c + 1 frames, so that short, easy
        correspondences shape the first estimate before long ones are sought from it [vokit].
        """
        if self._two_view():
            self._bootstrap()
            assert self.bootstrap is not None
            if not (self.bootstrap.used or force or self.graph.n >= self.cfg.init_max_frames):
                return
        self.initialized = True
        grow = self.cfg.init_growing_gap
        if grow is None:
            grow = getattr(self.op, "name", "") == "lk"
        for c in range(self.cfg.init_updates):
            self._update(max_gap=c + 1 if grow else None, initializing=True)

    # ------------------------------------------------------------------ update and BA
    def _operate(self, max_gap: int | None = None) -> tuple[Tensor, Tensor, Tensor, OperatorOutput]:
        """One operator call over the graph's edges (those spanning <= ``max_gap`` frames); stores its state."""
        g = self.graph
        t0 = time.perf_counter()
        sel = None
        src, dst, patch, state = g.src_idx, g.dst_idx, g.patch_idx, g.edge_state
        if max_gap is not None:
            sel = torch.nonzero((src - dst).abs() <= max_gap).squeeze(-1)
            src, dst, patch = src[sel], dst[sel], patch[sel]
            state = {key: value[sel] for key, value in state.items()}
        coords = self._coords(src, dst, patch)
        out = self.op.update(g, src, dst, patch, coords, state)
        for key, value in out.state.items():
            if sel is None:
                g.edge_state[key] = value
            else:
                full = g.edge_state.get(key)
                if full is None:
                    full = value.new_zeros((g.n_edges, *value.shape[1:]))
                g.edge_state[key] = full.index_copy(0, sel, value)
        self.timings["operator"] += time.perf_counter() - t0
        return src, dst, patch, out

    def _update(self, max_gap: int | None = None, initializing: bool = False) -> None:
        """One operator call and one BA call over the graph's edges (those spanning <= ``max_gap`` frames).

        While ``initializing`` (and with ``init_match_weights``) BA weighs the edges by the operator's
        ``match_weight``: its geometry-dependent down-weighting assumes a geometry the initialisation has yet to find.
        """
        if self.graph.n_edges == 0:
            return
        src, dst, patch, out = self._operate(max_gap)
        weight = out.weight
        if initializing and self.cfg.init_match_weights and out.match_weight is not None:
            weight = out.match_weight
        t1 = time.perf_counter()
        self._bundle_adjust(src, dst, patch, out.target, weight)
        self.timings["ba"] += time.perf_counter() - t1

    def _bootstrap(self) -> None:
        """The two-view start of the initialisation (:mod:`vokit.methods.patchvo.bootstrap`), then depths by BA.

        First from the operator's answers on slot 0's edges at the identity poses (:func:`two_view_bootstrap`);
        when that finds too few tracks or too little parallax and there are point chains, from the chains
        (:func:`chain_bootstrap`; the operator's tracks are then redone from the bootstrap's poses).
        """
        assert self.intrinsics4 is not None
        thresh, parallax = self.cfg.init_two_view_px, self.cfg.init_min_parallax_px * self._px_scale
        src, dst, patch, out = self._operate()
        t1 = time.perf_counter()
        match = out.weight if out.match_weight is None else out.match_weight
        self.bootstrap = two_view_bootstrap(self.graph, self.intrinsics4, src, dst, patch, out.target, match,
                                            thresh, parallax, self.gen)
        if not self.bootstrap.used and self.chains is not None:
            self.timings["ba"] += time.perf_counter() - t1
            t0 = time.perf_counter()
            track = self.op.track_points  # type: ignore[attr-defined]
            self.chains.extend(self.graph, track)
            self.bootstrap = chain_bootstrap(self.graph, self.intrinsics4, self.chains, thresh, parallax, self.gen,
                                             refine=track)
            self.timings["operator"] += time.perf_counter() - t0
            if not self.bootstrap.used:
                return
            src, dst, patch, out = self._operate()
            t1 = time.perf_counter()
        if self.bootstrap.used:
            for _ in range(BOOTSTRAP_STRUCTURE_CALLS):
                self._bundle_adjust(src, dst, patch, out.target, out.weight, structure_only=True)
        self.timings["ba"] += time.perf_counter() - t1

    def _bundle_adjust(self, src: Tensor, dst: Tensor, patch: Tensor, target: Tensor, weight: Tensor,
                       structure_only: bool = False) -> None:
        """2 GN iterations over the poses from ``max(1, n - window)`` on, on the slots the edges touch.

        With ``structure_only`` no pose is free (depths only).

        The weights are divided by ``(W / 640)^2``: residuals then count as pixels of a 640-pixel-wide image, so
        the ``infer`` preset's absolute pose damping (1.0) weighs against the data as at the reference resolution
        instead of dominating it on small images [vokit].
        """
        g, m = self.graph, self.graph.M
        assert self.intrinsics4 is not None
        lo = int(torch.minimum(src.min(), dst.min()))
        first_free = max(1, g.n - self.cfg.optimization_window)
        free = (torch.arange(lo, g.n) >= first_free) & (not structure_only)
        graph = build_ba_graph(src - lo, dst - lo, patch - lo * m, free, (g.n - lo) * m)
        out = bundle_adjust(
            g.cam_from_world[lo:][None], g.inv_depth[lo:].reshape(1, -1), g.patch_uv[lo:].reshape(1, -1, 2),
            self.intrinsics4[None], target[None], weight[None], graph, options=self.ba_opts,
            mode="full" if bool(free.any()) else "structure", image_size=self.image_hw4,
        )
        g.cam_from_world[lo:] = out.cam_from_world[0]
        g.inv_depth[lo:] = out.inv_depth[0].view(-1, m)

    # ------------------------------------------------------------------ keyframes
    def _motion_magnitude(self, i: int, j: int) -> float | None:
        """Mean of 0.5 |full flow| + 0.5 |translation-only flow| of slot i's patches seen in slot j (1/4-res px)."""
        g = self.graph
        sel = (g.src_idx == i) & (g.dst_idx == j)
        if not bool(sel.any()):
            return None
        patch = g.patch_idx[sel]
        uv, d = g.patch_uv.reshape(-1, 2)[patch], g.inv_depth.reshape(-1)[patch]
        assert self.intrinsics4 is not None
        rel = se3_compose(g.cam_from_world[j], se3_inverse(g.cam_from_world[i]))
        rel_t = torch.cat([rel[:3], se3_identity(dtype=rel.dtype)[3:]])
        ident = se3_identity(dtype=rel.dtype)
        full = reproject_patch(ident, rel, uv, d, self.intrinsics4)
        trans = reproject_patch(ident, rel_t, uv, d, self.intrinsics4)
        flow = 0.5 * (full - uv).norm(dim=-1) + 0.5 * (trans - uv).norm(dim=-1)
        return float(flow.mean())

    def _keyframe(self) -> None:
        g, cfg = self.graph, self.cfg
        t0 = time.perf_counter()
        k = g.n - cfg.keyframe_index
        if k - 1 >= 1:
            a, b = self._motion_magnitude(k - 1, k + 1), self._motion_magnitude(k + 1, k - 1)
            thresh = cfg.keyframe_thresh_px * self._px_scale
            if a is not None and b is not None and (a + b) / 2 < thresh:
                g.remove_keyframe(k)
        g.remove_old_edges(cfg.removal_window)
        self.timings["graph"] += time.perf_counter() - t0

    # ------------------------------------------------------------------ output
    def finish(self) -> PatchVOResult:
        """Initialise if never done (short input), re-insert skipped and removed frames, and return the result."""
        g = self.graph
        if not self.initialized and g.n >= 2 and g.n_edges:
            self._initialize(force=True)
        cam_from_world = g.trajectory(self.n_input)
        assert self.intrinsics4 is not None
        return PatchVOResult(
            world_from_cam=se3_inverse(cam_from_world),
            timestamps=torch.zeros(self.n_input, dtype=torch.float64),
            points_world=g.patch_points_world(self.intrinsics4),
            point_colors=g.colors.reshape(-1, 3),
            keyframes=list(g.frame_ids),
            patch_uv=g.patch_uv.clone(),
            working_size=(4 * self.image_hw4[0], 4 * self.image_hw4[1]),
            timings_s=dict(self.timings),
        )


__all__ = ["PatchVO", "PatchVOResult", "prepare_frame", "working_size"]
