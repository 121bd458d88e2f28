"""Settings of the patchvo VO loop and its ``default`` / ``fast`` presets (METHODS.md section 4.4 table).

Constants marked [ref] follow princeton-vl/DPVO ``config/default.yaml`` and ``config/fast.yaml``; [vokit] marks
vokit's own choices (the classical operator, the working resolution and the keyframe threshold's scaling).
"""

from dataclasses import dataclass, replace
from typing import Any, Literal

Selector = Literal["random", "gradient", "corner"]


@dataclass(frozen=True)
class PatchVOConfig:
    """Constants of the VO loop.

    Attributes:
        patches_per_frame: M, patches drawn per frame (96 default, 48 fast) [ref].
        patch_lifetime: r, frames an edge may span (13 / 11) [ref].
        removal_window: edges whose host is older than this many keyframes are dropped (22 / 16) [ref].
        optimization_window: free poses in the sliding BA (10 / 7) [ref].
        keyframe_index: the candidate for removal is slot ``n - keyframe_index`` (4) [ref].
        keyframe_thresh_px: remove the candidate when the mean flow between its neighbours is below this, in
            1/4-resolution pixels of a 640-pixel-wide image (15.0 [ref]); scaled by ``width / 640`` [vokit] so
            that it means the same field of view at any working resolution.
        motion_damping: damping of the constant-velocity model (0.5) [ref].
        init_frames: keyframes accepted before initialisation (8) [ref].
        init_updates: update calls at initialisation (12) [ref].
        init_growing_gap: initialisation call c uses only edges spanning <= c + 1 frames [vokit]; None: on for
            ``lk`` (its tracks fail from the poor first guesses of long edges), off otherwise (the reference).
        init_two_view: start the initialisation from the essential matrix of slot 0 and the farthest keyframe it
            sees, waiting for parallax (:mod:`vokit.methods.patchvo.bootstrap`) [vokit]; None: on for ``lk``, off
            otherwise (the reference starts from identity poses and random depths). For ``lk``, on against off on
            the synthetic test split (4 streets, 4 rooms, 60 frames at 240x320, 3 draws): median ATE better on 4
            sequences, worse on 3, equal on 1; mean of medians 0.136 m against 0.154 m; it removes the one failure
            (room 1, a sideways move read as a rotation: 0.030 m against 0.135 m, the line 0.047 m); the worst
            loss is room 3 (0.035 m against 0.019 m, the line 0.040 m).
        init_match_weights: BA weighs the initialisation's edges by the operator's ``match_weight`` (for ``lk``: without
            its robust term, which down-weights every track while all poses are still at the identity) [vokit].
        init_two_view_px: the bootstrap's RANSAC inlier threshold (Sampson distance, 1/4-res pixels) [vokit].
        init_min_parallax_px: the bootstrap waits while the median rotation-compensated flow of its inliers is below
            this (1/4-res pixels of a 640-pixel-wide image, scaled by ``width / 640`` like the other thresholds;
            2.0: 1 px at the default 320-pixel working width) [vokit].
        init_chain_points: with ``init_two_view`` and an operator that tracks arbitrary points (``lk``), when the
            bootstrap from the operator's direct tracks of slot 0's patches fails (too few, too little parallax), it
            retries from slot 0's patches plus corners up to this many points tracked frame to frame
            (:class:`vokit.methods.patchvo.bootstrap.PointChains`); 0: no retry [vokit]. Under fast forward motion
            few direct tracks survive to a keyframe with parallax and the bootstrap waited or gave up. It changes
            only the runs where that happens (the chains draw their corners with their own generator): e.g. the
            highway test clip 0, 30 frames, draw 0: 0.37 m against 0.77 m (``tests/methods/patchvo/``); with the
            warp, synthetic test split 0.068 m against 0.062 m without it, highway split 2.31 m against 2.43 m.
        init_max_frames: with ``init_two_view``, keyframes buffered while the bootstrap waits for parallax before
            initialising without it [vokit] (13: the patch lifetime, beyond which slot 0 has no edges).
        probe_thresh_px: the motion probe skips a frame whose median correction is below this (2.0 [ref]; 1/4-res
            pixels of a 640-pixel-wide image, scaled by ``width / 640`` like the keyframe threshold [vokit]).
        selector: patch centres ``"random"`` [ref], ``"gradient"`` (gradient-biased, §4.1) or ``"corner"``
            (Shi-Tomasi-ranked candidates) [vokit]; None takes the operator's choice (``corner`` for ``lk``, whose
            3x3 windows need texture in two directions, ``random`` otherwise).
        max_pixels: frames are resized (area) to at most this many pixels before processing [vokit].
        memory: frames whose operator payload is kept (36) [ref].
        lk_levels: pyramid levels of the LK operator [vokit].
        lk_iters: Gauss-Newton iterations per level of the LK operator [vokit]. 3 levels x 4 iterations against
            4 x 6 on the synthetic test split (2 streets, 2 rooms, 60 frames, 3 draws): mean of the median ATEs
            0.29 m against 0.50 m, better on all four sequences, and twice as fast (the chained starts leave LK a
            one-frame residual to find, which fewer levels do with fewer false minima).
        lk_fb_sigma_px: forward-backward error (1/4-res pixels) at which the LK confidence is exp(-1) [vokit].
        lk_retrack_px: the LK operator re-tracks an edge only when its reprojection moved more than this since its
            last track (1/4-res pixels; 0 re-tracks every edge on every call) [vokit].
        lk_scale: the LK image is the working image downsampled by this (2: half resolution) [vokit].
        lk_radius: LK window half-size at the LK resolution (2: 5x5 at half resolution, about the 3x3 patch's
            footprint) [vokit].
        lk_robust_px: Cauchy scale (1/4-res px) of the LK operator's down-weighting of tracks far from the current
            reprojection; 0 disables [vokit] (0.5: on the synthetic world it halved the ATE of both scenes).
        lk_max_gap: the LK operator leaves edges spanning more frames than this at zero weight; None: all [vokit].
        lk_ncc_sigma: scale of the LK operator's residual-over-contrast down-weighting; 0 disables [vokit]. 0.6
            against 0 on the synthetic test split (2 streets, 2 rooms, 60 frames, 3 draws): mean of the median
            ATEs 0.19 m against 0.29 m, better on three of the four sequences (0.3: 0.23 m).
        lk_fb_levels: pyramid levels of LK's backward (checking) track; None: all [vokit]. 1 is a stricter check (it
            cannot bridge a forward correction of more than ~2 px) and was better on every sequence of the synthetic
            test split (4 streets, 4 rooms, 60 frames at 240x320, 3 draws; mean of medians 0.092 m against 0.136 m),
            but it rejects correct tracks under fast motion: KITTI 01 went from 0.998 m to 5.6 m (median of 5 draws),
            and with the ``fast`` preset's 48 patches it starved the two-view bootstrap of long tracks. Off.
        lk_warp_scale: the LK operator tracks each patch magnified by its predicted scale change ``z_src / z_dst``
            (current poses and depths) where that is more than 3 % from 1 [vokit]; a translation-only 5x5 window
            misreads a surface that grows by 10-30 % per frame by 0.2-0.5 px. On the synthetic test split (4 streets,
            4 rooms, 60 frames, 3 draws) mean of medians 0.062 m against 0.133 m without (warp only, against the
            session-7 loop), on the ``street-highway`` split 2.43 m against 4.20 m. It costs speed where most edges
            need it (forward-driving streets at 240x320: ``default`` ~9 frames/s against ~15, ``fast`` ~11 against
            ~18; docs/patchvo.md).
        lk_interpolation: LK image sampling, ``"bilinear"`` (4x cheaper) or ``"bicubic"`` [vokit].
    """

    patches_per_frame: int = 96
    patch_lifetime: int = 13
    removal_window: int = 22
    optimization_window: int = 10
    keyframe_index: int = 4
    keyframe_thresh_px: float = 15.0
    motion_damping: float = 0.5
    init_frames: int = 8
    init_updates: int = 12
    init_growing_gap: bool | None = None
    init_two_view: bool | None = None
    init_two_view_px: float = 0.5
    init_max_frames: int = 13
    init_chain_points: int = 300
    init_min_parallax_px: float = 2.0
    init_match_weights: bool = False
    probe_thresh_px: float = 2.0
    selector: Selector | None = None
    max_pixels: int = 320 * 240
    memory: int = 36
    lk_levels: int = 3
    lk_iters: int = 4
    lk_fb_sigma_px: float = 0.5
    lk_retrack_px: float = 1.0
    lk_scale: int = 2
    lk_radius: int = 2
    lk_robust_px: float = 0.5
    lk_max_gap: int | None = None
    lk_ncc_sigma: float = 0.6
    lk_interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    lk_fb_levels: int | None = None
    lk_warp_scale: bool = True


PRESETS: dict[str, PatchVOConfig] = {
    "default": PatchVOConfig(),
    "fast": PatchVOConfig(patches_per_frame=48, patch_lifetime=11, removal_window=16, optimization_window=7),
}
"""The inference presets of METHODS.md section 4.4."""


def patchvo_config(preset: str | PatchVOConfig = "default", **overrides: Any) -> PatchVOConfig:
    """A preset of :data:`PRESETS` (or a given config) with some fields replaced.

    Example:
        >>> patchvo_config("fast").patches_per_frame
        48
    """
    if isinstance(preset, PatchVOConfig):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"unknown patchvo preset {preset!r}; choose one of {sorted(PRESETS)}")
    return replace(base, **overrides)


__all__ = ["PRESETS", "PatchVOConfig", "Selector", "patchvo_config"]
