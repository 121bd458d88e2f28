"""vokit.solvers: the differentiable bundle-adjustment layer (METHODS.md section 3, DESIGN.md section 2).

Main entry points: :func:`bundle_adjust` with :func:`build_ba_graph` and the ``train`` / ``infer`` presets in
:data:`BA_PRESETS`; :func:`cholesky_solve` (the ``CholeskySolve`` autograd function); the patch reprojection
Jacobians :func:`reproject_patch_with_jacobian`; pyramidal Lucas-Kanade patch tracking :func:`lk_track_fb` (the
classical patchvo operator, METHODS.md section 4.4a).
"""

from vokit.solvers.ba import BA_PRESETS, BAOptions, BAResult, ba_options, bundle_adjust
from vokit.solvers.cholesky import CholeskySolve, cholesky_solve, damp
from vokit.solvers.graph import BAGraph, build_ba_graph
from vokit.solvers.jacobians import PatchReprojection, reproject_patch, reproject_patch_with_jacobian
from vokit.solvers.lk import LKTrack, image_pyramid, lk_track, lk_track_fb

__all__ = [
    "BA_PRESETS",
    "BAGraph",
    "BAOptions",
    "BAResult",
    "CholeskySolve",
    "LKTrack",
    "PatchReprojection",
    "ba_options",
    "build_ba_graph",
    "bundle_adjust",
    "cholesky_solve",
    "damp",
    "image_pyramid",
    "lk_track",
    "lk_track_fb",
    "reproject_patch",
    "reproject_patch_with_jacobian",
]
