"""DRO, the deep recurrent zeroth-order optimiser of depth and pose (METHODS.md section 6).

Reference: aliyun/dro-sfm ``networks/depth_pose/DepthPoseNet.py``.

:class:`DRONet` refines the inverse depth of a target image and the poses ``cam_i_from_cam_0`` of V reference
images. A feature net gives stride-8 features of every image; initial heads give a first inverse depth and pose;
then m stages alternate n depth-GRU steps (cost averaged over views, poses held at their stage-start value) and n
pose-GRU steps per view (depth held at its stage-start value). Depth and poses are detached at every stage start
(truncated back-propagation); hidden states carry over. Depth iterates are convex-upsampled to full resolution.

The inverse-depth state is the "``out``" variant of section 6.1: a raw value clamped to [0, 1] and mapped by
Monodepth2's ``1/z_max + (1/z_min - 1/z_max) raw``, so depth stays in ``[min_depth, max_depth]`` [vokit: always on;
the clamp's gradient is the identity, see :meth:`DRONet.inv_depth_of`].
"""

import re
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.losses.monodepth2 import sigmoid_to_inv_depth
from vokit.nets.dro_blocks import (
    UPSAMPLE_FACTOR,
    DepthInputEncoder,
    PoseInputEncoder,
    SepConvGRU,
    Stride8Encoder,
    UpsampleMask,
    convex_upsample,
    head,
)
from vokit.nets.dro_cost import PoseUpdate, feature_cost, update_pose, vector_to_se3

INPUT_STRIDE = 16
"""Input sides must be multiples of this (the layer3 map is upsampled onto the layer2 map)."""

ROTATION_SCALE = 0.01
"""Factor on the pose heads' rotation outputs [ref]."""

_VERSION = re.compile(r"it(\d+)(?:-seq(\d+))?((?:-(?:h|inter|out))*)")


@dataclass(frozen=True)
class DROSchedule:
    """The alternation schedule (section 6.3): ``stages`` x (``steps`` depth steps + ``steps`` pose steps per view).

    Attributes:
        stages: m, number of stages (>= 1).
        steps: n, GRU steps of each variable per stage (>= 1).
        hidden: GRU hidden channels (128 for versions marked ``h``, else 64).
        inter: output (and supervise) every step, not only every stage end.
        detach_stages: detach depth and poses at every stage start (the reference; False back-propagates through
            the whole unrolled optimisation).
    """

    stages: int = 3
    steps: int = 4
    hidden: int = 128
    inter: bool = False
    detach_stages: bool = True

    def __post_init__(self) -> None:
        if self.stages < 1 or self.steps < 1:
            raise ValueError(f"need stages >= 1 and steps >= 1, got {self.stages}, {self.steps}")
        if self.hidden <= 6:
            raise ValueError(f"hidden must exceed 6 (the pose input appends the 6-vector), got {self.hidden}")

    @classmethod
    def from_version(cls, version: str, hidden: int | None = None) -> "DROSchedule":
        """Parse ``it{N}[-seq{S}][-h][-inter][-out]`` (``it12-h``: 3 stages of 4 steps, hidden 128).

        ``-out`` is accepted (the depth mapping is always on here). ``hidden`` overrides the version's width.

        Raises:
            ValueError: unparsable string, or N not a multiple of S.
        """
        match = _VERSION.fullmatch(version)
        if match is None:
            raise ValueError(f"bad DRO version {version!r}; expected it{{N}}[-seq{{S}}][-h][-inter][-out]")
        total, seq = int(match.group(1)), int(match.group(2) or 4)
        if seq < 1 or total % seq:
            raise ValueError(f"DRO version {version!r}: {total} iterations are not a multiple of seq{seq}")
        flags = set(match.group(3).split("-")) - {""}
        width = hidden if hidden is not None else (128 if "h" in flags else 64)
        return cls(stages=total // seq, steps=seq, hidden=width, inter="inter" in flags)

    @property
    def iterations(self) -> int:
        """Depth steps in total (``stages * steps``)."""
        return self.stages * self.steps

    @property
    def num_outputs(self) -> int:
        """Iterates returned: the initial estimate plus one per stage, or one per step with ``inter``."""
        return 1 + (self.iterations if self.inter else self.stages)


@dataclass(frozen=True)
class DROOutput:
    """What :meth:`DRONet.forward` returns (K = ``schedule.num_outputs`` iterates, initial first).

    Attributes:
        inv_depths: per iterate, the target's inverse depth at the input resolution (1 / training-scale units).
        pose_vecs: per view and iterate, the pose 6-vector (``[t, Euler]`` or an SE(3) tangent, see ``pose_update``).
        poses: the same as SE(3) ``cam_i_from_cam_0`` ``[t, q_xyzw]``.
    """

    inv_depths: tuple[Float[Tensor, "B H W"], ...]
    pose_vecs: Float[Tensor, "B V K 6"]
    poses: Float[Tensor, "B V K 7"]


class DRONet(nn.Module):
    """Feature and context encoders, initial heads, the two separable ConvGRUs and their update heads.

    Args:
        schedule: stages, steps, hidden size, outputs per step or stage, detaching.
        width: ResNet channel multiplier of every encoder (1.0: ResNet-18).
        feature_dim: channels of the features that enter the cost (128 [ref]).
        context_dim: channels of the context that enters the GRUs (32 [ref]).
        pose_update: ``"additive"`` Euler 6-vector [ref] or ``"se3"`` left retraction [vokit].
        min_depth: smallest depth, training-scale units.
        max_depth: largest depth, training-scale units.
        input_size: (H, W) the model trains at.
    """

    def __init__(
        self,
        schedule: DROSchedule | None = None,
        width: float = 1.0,
        feature_dim: int = 128,
        context_dim: int = 32,
        pose_update: PoseUpdate = "additive",
        min_depth: float = 0.1,
        max_depth: float = 100.0,
        input_size: tuple[int, int] = (128, 416),
    ) -> None:
        super().__init__()
        self.schedule = schedule or DROSchedule()
        hidden = self.schedule.hidden
        self.pose_update: PoseUpdate = pose_update
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.context_dim = context_dim
        self.fnet = Stride8Encoder(feature_dim, width)
        self.cnet_depth = Stride8Encoder(hidden + context_dim, width)
        self.cnet_pose = Stride8Encoder(hidden + context_dim, width, num_input_images=2)
        self.init_depth = head(feature_dim, feature_dim, 1)
        self.init_mask = UpsampleMask(feature_dim)
        self.init_pose = head(2 * feature_dim, feature_dim, 6)
        self.depth_encoder = DepthInputEncoder(feature_dim, hidden)
        self.pose_encoder = PoseInputEncoder(feature_dim, hidden)
        self.depth_gru = SepConvGRU(hidden, context_dim + hidden)
        self.pose_gru = SepConvGRU(hidden, context_dim + hidden)
        self.depth_head = head(hidden, hidden, 1)
        self.pose_head = head(hidden, hidden, 6)
        self.depth_mask = UpsampleMask(hidden)

    def inv_depth_of(self, raw: Tensor) -> Tensor:
        """Inverse depth of the raw depth state (clamped to [0, 1], then Monodepth2's mapping).

        The clamp passes gradients straight through [vokit]: with a plain clamp a state pushed past 0 or 1 gets no
        gradient and the depth stays stuck at ``max_depth`` or ``min_depth`` (measured: a 462-step supervised run
        on the synthetic street ended with a constant depth map).
        """
        clamped = raw + (raw.clamp(0.0, 1.0) - raw).detach()
        return sigmoid_to_inv_depth(clamped, self.min_depth, self.max_depth)

    def _split_context(self, context: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.schedule.hidden
        return torch.tanh(context[:, :hidden]), torch.relu(context[:, hidden:])

    def _scaled(self, out: Tensor) -> Tensor:
        scale = torch.tensor([1.0, 1.0, 1.0] + [ROTATION_SCALE] * 3, dtype=out.dtype, device=out.device)
        return out * scale

    def forward(
        self,
        target: Float[Tensor, "B 3 H W"],
        refs: Float[Tensor, "B V 3 H W"],
        intrinsics: Float[Tensor, "B 4"],
    ) -> DROOutput:
        """Run the encoders and the unrolled optimiser.

        Args:
            target: target image, RGB in [0, 1], H and W multiples of 16.
            refs: reference images (V >= 1), same size.
            intrinsics: ``(fx, fy, cx, cy)`` in pixels of the input images (shared by all views).

        Returns:
            :class:`DROOutput` with ``schedule.num_outputs`` iterates.
        """
        b, v = refs.shape[:2]
        if target.shape[-2] % INPUT_STRIDE or target.shape[-1] % INPUT_STRIDE:
            raise ValueError(f"input size {tuple(target.shape[-2:])} must be multiples of {INPUT_STRIDE}")
        feats = self.fnet(torch.cat([target[:, None], refs], dim=1).flatten(0, 1)).unflatten(0, (b, v + 1))
        f0 = feats[:, 0]
        f0_rep = f0[:, None].expand(-1, v, -1, -1, -1).flatten(0, 1)  # (B V) C h w
        f_refs = feats[:, 1:].flatten(0, 1)
        k8 = (intrinsics / UPSAMPLE_FACTOR).float()
        k8_rep = k8.repeat_interleave(v, dim=0)
        h_depth, c_depth = self._split_context(self.cnet_depth(target))
        pair = torch.cat([target[:, None].expand(-1, v, -1, -1, -1), refs], dim=2).flatten(0, 1)
        h_pose, c_pose = self._split_context(self.cnet_pose(pair))

        raw = torch.sigmoid(self.init_depth(f0))  # B 1 h w
        pose_vec = self._scaled(self.init_pose(torch.cat([f0_rep, f_refs], dim=1)).mean(dim=(2, 3)))  # (B V) 6
        inv_depths = [convex_upsample(self.inv_depth_of(raw), self.init_mask(f0))[:, 0]]
        pose_iterates = [pose_vec]

        def cost_of(raw_state: Tensor, vecs: Tensor) -> Tensor:
            inv = self.inv_depth_of(raw_state)[:, 0].repeat_interleave(v, dim=0)
            return feature_cost(f0_rep, f_refs, inv, vector_to_se3(vecs, self.pose_update), k8_rep)

        for _ in range(self.schedule.stages):
            if self.schedule.detach_stages:
                raw, pose_vec = raw.detach(), pose_vec.detach()
            raw_start, pose_start = raw, pose_vec
            for step in range(self.schedule.steps):
                cost = cost_of(raw, pose_start).unflatten(0, (b, v)).mean(dim=1)
                h_depth = self.depth_gru(h_depth, torch.cat([c_depth, self.depth_encoder(cost, raw)], dim=1))
                raw = raw + torch.tanh(self.depth_head(h_depth))
                if self.schedule.inter or step == self.schedule.steps - 1:
                    inv_depths.append(convex_upsample(self.inv_depth_of(raw), self.depth_mask(h_depth))[:, 0])
            for step in range(self.schedule.steps):
                cost = cost_of(raw_start, pose_vec)
                h_pose = self.pose_gru(h_pose, torch.cat([c_pose, self.pose_encoder(cost, pose_vec)], dim=1))
                delta = self._scaled(self.pose_head(h_pose).mean(dim=(2, 3)))
                pose_vec = update_pose(pose_vec, delta, self.pose_update)
                if self.schedule.inter or step == self.schedule.steps - 1:
                    pose_iterates.append(pose_vec)
        vecs = torch.stack(pose_iterates, dim=1).unflatten(0, (b, v))  # B V K 6
        return DROOutput(inv_depths=tuple(inv_depths), pose_vecs=vecs, poses=vector_to_se3(vecs, self.pose_update))
