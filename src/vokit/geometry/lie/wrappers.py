"""Thin frozen-dataclass wrappers ``SE3`` and ``Sim3`` over one tensor each.

They only bundle a tensor and dispatch to the functional core: ``a @ b`` composes (``c_from_a = c_from_b @
b_from_a``) and ``.act(pts)`` transforms points; nothing else is overloaded. They are not ``nn.Module``s and
not ``Tensor`` subclasses, so they never silently fall back to tensor algebra. Optimised parameters stay raw
tensors (``T.data``).
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import _numerics as num
from vokit.geometry.lie.quaternion import quat_to_matrix
from vokit.geometry.lie.se3 import (
    se3_act,
    se3_adjoint,
    se3_compose,
    se3_exp,
    se3_from_matrix,
    se3_identity,
    se3_inverse,
    se3_log,
    se3_to_matrix,
)
from vokit.geometry.lie.sim3 import (
    sim3_act,
    sim3_adjoint,
    sim3_compose,
    sim3_exp,
    sim3_from_matrix,
    sim3_identity,
    sim3_inverse,
    sim3_log,
    sim3_to_matrix,
)


@dataclass(frozen=True, eq=False)
class SE3:
    """Rigid transforms ``b_from_a`` stored as ``data = [t, q_xyzw]`` of shape ``(..., 7)``.

    Example:
        >>> T = SE3.exp(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
        >>> (T @ T).act(torch.zeros(3))
        tensor([2., 0., 0.])
        >>> (T @ T.inverse()).log().abs().max().item()
        0.0
    """

    data: Float[Tensor, "*batch 7"]
    """Pose tensor ``[tx, ty, tz, qx, qy, qz, qw]``."""

    def __post_init__(self) -> None:
        num.check_last_dim(self.data, 7, "SE3", "SE3 data [t, q_xyzw]")

    @classmethod
    def identity(
        cls,
        batch_shape: tuple[int, ...] = (),
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> "SE3":
        """Identity transforms of batch shape ``batch_shape``."""
        return cls(se3_identity(batch_shape, dtype=dtype, device=device))

    @classmethod
    def exp(cls, xi: Float[Tensor, "*batch 6"]) -> "SE3":
        """Exponential of a tangent ``[rho, phi]`` of shape ``(..., 6)``."""
        return cls(se3_exp(xi))

    @classmethod
    def from_matrix(cls, M: Float[Tensor, "*batch rows 4"]) -> "SE3":
        """From a ``(..., 4, 4)`` or ``(..., 3, 4)`` matrix ``[R | t]``."""
        return cls(se3_from_matrix(M))

    def __matmul__(self, other: "SE3") -> "SE3":
        """Compose ``self @ other`` (``other`` applied first)."""
        if not isinstance(other, SE3):
            return NotImplemented
        return SE3(se3_compose(self.data, other.data))

    def act(self, pts: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*#batch 3"]:
        """Transform points ``R p + t``; ``pts`` of shape ``(..., 3)`` broadcast against the batch."""
        return se3_act(self.data, pts)

    def inverse(self) -> "SE3":
        """Inverse transform ``a_from_b``."""
        return SE3(se3_inverse(self.data))

    def log(self) -> Float[Tensor, "*batch 6"]:
        """Tangent ``[rho, phi]`` of shape ``(..., 6)``."""
        return se3_log(self.data)

    def matrix(self) -> Float[Tensor, "*batch 4 4"]:
        """Homogeneous ``(..., 4, 4)`` matrix."""
        return se3_to_matrix(self.data)

    def adjoint(self) -> Float[Tensor, "*batch 6 6"]:
        """Adjoint ``[[R, [t]x R], [0, R]]`` of shape ``(..., 6, 6)``."""
        return se3_adjoint(self.data)

    @property
    def translation(self) -> Float[Tensor, "*batch 3"]:
        """Translation ``t`` of shape ``(..., 3)``."""
        return self.data[..., :3]

    @property
    def quaternion(self) -> Float[Tensor, "*batch 4"]:
        """Rotation as an xyzw quaternion of shape ``(..., 4)``."""
        return self.data[..., 3:]

    @property
    def rotation_matrix(self) -> Float[Tensor, "*batch 3 3"]:
        """Rotation matrix of shape ``(..., 3, 3)``."""
        return quat_to_matrix(self.quaternion)

    @property
    def batch_shape(self) -> torch.Size:
        """Leading shape (without the trailing 7)."""
        return self.data.shape[:-1]


@dataclass(frozen=True, eq=False)
class Sim3:
    """Similarity transforms ``b_from_a`` stored as ``data = [t, q_xyzw, s]`` of shape ``(..., 8)``.

    Example:
        >>> import math
        >>> S = Sim3.exp(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.log(2.0)]))
        >>> (S @ S).act(torch.ones(3))
        tensor([4., 4., 4.])
    """

    data: Float[Tensor, "*batch 8"]
    """Similarity tensor ``[tx, ty, tz, qx, qy, qz, qw, s]``."""

    def __post_init__(self) -> None:
        num.check_last_dim(self.data, 8, "Sim3", "Sim3 data [t, q_xyzw, s]")

    @classmethod
    def identity(
        cls,
        batch_shape: tuple[int, ...] = (),
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> "Sim3":
        """Identity similarities of batch shape ``batch_shape``."""
        return cls(sim3_identity(batch_shape, dtype=dtype, device=device))

    @classmethod
    def exp(cls, xi: Float[Tensor, "*batch 7"]) -> "Sim3":
        """Exponential of a tangent ``[rho, phi, sigma]`` of shape ``(..., 7)``."""
        return cls(sim3_exp(xi))

    @classmethod
    def from_matrix(cls, M: Float[Tensor, "*batch rows 4"]) -> "Sim3":
        """From a ``(..., 4, 4)`` or ``(..., 3, 4)`` matrix ``[s R | t]``."""
        return cls(sim3_from_matrix(M))

    def __matmul__(self, other: "Sim3") -> "Sim3":
        """Compose ``self @ other`` (``other`` applied first)."""
        if not isinstance(other, Sim3):
            return NotImplemented
        return Sim3(sim3_compose(self.data, other.data))

    def act(self, pts: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*#batch 3"]:
        """Transform points ``s R p + t``; ``pts`` of shape ``(..., 3)`` broadcast against the batch."""
        return sim3_act(self.data, pts)

    def inverse(self) -> "Sim3":
        """Inverse similarity ``a_from_b``."""
        return Sim3(sim3_inverse(self.data))

    def log(self) -> Float[Tensor, "*batch 7"]:
        """Tangent ``[rho, phi, sigma]`` of shape ``(..., 7)``."""
        return sim3_log(self.data)

    def matrix(self) -> Float[Tensor, "*batch 4 4"]:
        """Homogeneous ``(..., 4, 4)`` matrix ``[[s R, t], [0, 1]]``."""
        return sim3_to_matrix(self.data)

    def adjoint(self) -> Float[Tensor, "*batch 7 7"]:
        """Adjoint of shape ``(..., 7, 7)``."""
        return sim3_adjoint(self.data)

    @property
    def translation(self) -> Float[Tensor, "*batch 3"]:
        """Translation ``t`` of shape ``(..., 3)``."""
        return self.data[..., :3]

    @property
    def quaternion(self) -> Float[Tensor, "*batch 4"]:
        """Rotation as an xyzw quaternion of shape ``(..., 4)``."""
        return self.data[..., 3:7]

    @property
    def rotation_matrix(self) -> Float[Tensor, "*batch 3 3"]:
        """Rotation matrix of shape ``(..., 3, 3)``."""
        return quat_to_matrix(self.quaternion)

    @property
    def scale(self) -> Float[Tensor, "*batch"]:
        """Scale ``s`` of shape ``(...)``."""
        return self.data[..., 7]

    @property
    def batch_shape(self) -> torch.Size:
        """Leading shape (without the trailing 8)."""
        return self.data.shape[:-1]

    def to_se3(self) -> SE3:
        """The rigid part ``[t, q]``, dropping the scale."""
        return SE3(self.data[..., :7])

    @classmethod
    def from_se3(cls, T: SE3, scale: Float[Tensor, "*#batch"] | float = 1.0) -> "Sim3":
        """Similarity ``[t, q, s]`` from a rigid transform and a scale (broadcast over the batch)."""
        s = torch.as_tensor(scale, dtype=T.data.dtype, device=T.data.device).expand(T.batch_shape)
        return cls(torch.cat([T.data, s[..., None]], dim=-1))
