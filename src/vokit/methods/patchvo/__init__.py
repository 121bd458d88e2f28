"""patchvo: patch-based visual odometry, the DPVO design (METHODS.md section 4), with learned and LK operators.

``run_patchvo(sequence, operator="lk", preset="default")`` returns one ``world_from_cam`` per frame, the patch
point cloud and per-stage timings. The pieces: :mod:`.graph` (patch graph bookkeeping), :mod:`.motion` (damped
constant velocity), :mod:`.operators` (LK, oracle; the learned one in :mod:`.learned`), :mod:`.system` (the loop),
:mod:`.presets` (``default`` / ``fast``). See docs/patchvo.md.
"""

from vokit.methods.patchvo.graph import PatchGraph, RelativePose
from vokit.methods.patchvo.motion import predict_pose
from vokit.methods.patchvo.operators import LKOperator, OperatorOutput, OracleOperator, PatchOperator, PreparedFrame
from vokit.methods.patchvo.presets import PRESETS, PatchVOConfig, patchvo_config
from vokit.methods.patchvo.run import OPERATORS, make_operator, run_patchvo
from vokit.methods.patchvo.system import PatchVO, PatchVOResult, prepare_frame, working_size

__all__ = [
    "OPERATORS",
    "PRESETS",
    "LKOperator",
    "OperatorOutput",
    "OracleOperator",
    "PatchGraph",
    "PatchOperator",
    "PatchVO",
    "PatchVOConfig",
    "PatchVOResult",
    "PreparedFrame",
    "RelativePose",
    "make_operator",
    "patchvo_config",
    "predict_pose",
    "prepare_frame",
    "run_patchvo",
    "working_size",
]
