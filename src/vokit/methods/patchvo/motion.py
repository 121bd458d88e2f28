"""The damped constant-velocity motion model of patchvo (METHODS.md section 4.4, step 1).

``T_t = Exp(damping * f * Log(T_{t-1} T_{t-2}^-1)) T_{t-1}`` with T = ``cam_from_world`` and f the ratio of the
current to the previous frame interval (1 at a constant rate); princeton-vl/DPVO ``dpvo/dpvo.py`` (damping 0.5).
"""

from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import se3_compose, se3_exp, se3_inverse, se3_log

MOTION_DAMPING = 0.5  # [ref]


def predict_pose(
    cam_from_world_prev: Float[Tensor, "7"],
    cam_from_world_prev2: Float[Tensor, "7"],
    damping: float = MOTION_DAMPING,
    interval_ratio: float = 1.0,
) -> Float[Tensor, "7"]:
    """Predict the next ``cam_from_world`` from the last two.

    Args:
        cam_from_world_prev: ``T_{t-1}``, ``[t, q_xyzw]``.
        cam_from_world_prev2: ``T_{t-2}``.
        damping: fraction of the last motion carried over (0.5).
        interval_ratio: f, the current frame interval over the previous one (seconds / seconds).

    Returns:
        ``T_t``.

    Example:
        >>> import torch
        >>> from vokit.geometry.lie import se3_identity
        >>> predict_pose(se3_identity(), se3_identity()).tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    """
    velocity = se3_log(se3_compose(cam_from_world_prev, se3_inverse(cam_from_world_prev2)))
    return se3_compose(se3_exp(damping * interval_ratio * velocity), cam_from_world_prev)


__all__ = ["MOTION_DAMPING", "predict_pose"]
