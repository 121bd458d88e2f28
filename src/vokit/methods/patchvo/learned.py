"""The learned patchvo operator: encoders, correlation and the update operator (METHODS.md sections 4.1-4.3).

:class:`PatchVONet` is the model a checkpoint holds: ``fnet`` (matching features, 128 channels, InstanceNorm),
``inet`` (context, ``hidden_dim`` channels) and the :class:`~vokit.nets.update_operator.UpdateOperator`.
:class:`LearnedOperator` adapts it to the VO loop: per frame it stores the two-level correlation pyramid of the
``fnet`` map and the ``gmap`` / ``imap`` features of the frame's patches; per update call it reprojects the 3x3
pixels of every edge's patch, looks up the 882 correlation features, runs the update operator with the edges'
hidden states (kept on the graph) and returns ``target = reprojected centre + delta`` with the predicted
confidence.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vokit.methods.patchvo.graph import PatchGraph
from vokit.methods.patchvo.operators import OperatorOutput, PreparedFrame
from vokit.nets.correlation import correlation_pyramid, patch_correlation
from vokit.nets.patch_encoder import context_encoder, extract_patches, feature_encoder, patch_grid
from vokit.nets.update_operator import DEFAULT_HIDDEN_DIM, UpdateOperator
from vokit.solvers import reproject_patch


class PatchVONet(nn.Module):
    """Encoders and update operator of patchvo.

    Args:
        hidden_dim: D, the update operator's hidden size and the context width (128 vokit default, 384 reference).
        base_channels: encoder width (32 reference; 16 quarters the convolution cost).
    """

    def __init__(self, hidden_dim: int = DEFAULT_HIDDEN_DIM, base_channels: int = 32) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fnet = feature_encoder(base_channels=base_channels)
        self.inet = context_encoder(hidden_dim, base_channels=base_channels)
        self.update = UpdateOperator(hidden_dim)

    def encode(self, images: Float[Tensor, "N 3 H W"]) -> tuple[Tensor, Tensor]:
        """``(fmap, imap_dense)`` at 1/4 resolution for RGB in [0, 1]."""
        return self.fnet(images), self.inet(images)


@dataclass(frozen=True)
class LearnedPayload:
    """Per-frame data of the learned operator.

    Attributes:
        pyramid: the two correlation levels of the frame's ``fnet`` map, ``(C, h, w)`` and ``(C, h/4, w/4)``.
        gmap: matching features of the frame's patches, ``(M, C, 3, 3)``.
        imap: context features at the patch centres, ``(M, D)``.
    """

    pyramid: tuple[Tensor, ...]
    gmap: Tensor
    imap: Tensor


def patch_pixels_reprojected(graph: PatchGraph, src_idx: Tensor, dst_idx: Tensor, patch_idx: Tensor,
                             intrinsics4: Tensor) -> Float[Tensor, "E 3 3 2"]:
    """The 3x3 pixels of each edge's patch (shared inverse depth) reprojected into its target frame."""
    uv = patch_grid(graph.patch_uv.reshape(-1, 2)[patch_idx])
    d = graph.inv_depth.reshape(-1)[patch_idx][:, None, None].expand(-1, 3, 3)
    src = graph.cam_from_world[src_idx][:, None, None]
    dst = graph.cam_from_world[dst_idx][:, None, None]
    return reproject_patch(src, dst, uv, d, intrinsics4)


class LearnedOperator:
    """The learned operator over a :class:`PatchVONet` (inference only; no gradients).

    Args:
        model: the network (its device is used).
    """

    name = "learned"

    def __init__(self, model: PatchVONet) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.intrinsics4: Tensor | None = None

    @torch.no_grad()
    def frame_payload(self, frame: PreparedFrame, patch_uv: Tensor | None = None) -> LearnedPayload:
        """Encode the frame and extract its patches' features (``patch_uv`` in 1/4-resolution pixels)."""
        if patch_uv is None:
            raise ValueError("the learned operator needs the frame's patch centres")
        self.intrinsics4 = frame.intrinsics4
        fmap, imap_dense = self.model.encode(frame.image[None].to(self.device))
        idx = torch.zeros(patch_uv.shape[0], dtype=torch.long, device=self.device)
        uv = patch_uv.to(self.device, fmap.dtype)
        gmap = extract_patches(fmap, idx, uv, radius=1)
        imap = extract_patches(imap_dense, idx, uv, radius=0)[:, :, 0, 0]
        pyramid = tuple(level[0] for level in correlation_pyramid(fmap))
        return LearnedPayload(pyramid, gmap, imap)

    @torch.no_grad()
    def update(self, graph: PatchGraph, src_idx: Tensor, dst_idx: Tensor, patch_idx: Tensor,
               coords: Tensor, state: dict[str, Tensor]) -> OperatorOutput:
        """One update call on the given edges; the hidden state travels in ``state["hidden"]``."""
        assert self.intrinsics4 is not None
        lo = int(torch.minimum(src_idx.min(), dst_idx.min()))
        m = graph.M
        payloads = graph.payload[lo:]
        gmap = torch.cat([p.gmap for p in payloads[: graph.n - lo]])
        imap = torch.cat([p.imap for p in payloads[: graph.n - lo]])
        pyramid = [torch.stack([p.pyramid[lvl] for p in payloads]) for lvl in range(len(payloads[0].pyramid))]
        pix = patch_pixels_reprojected(graph, src_idx, dst_idx, patch_idx, self.intrinsics4).to(self.device)
        local_patch = (patch_idx - lo * m).to(self.device)
        corr = patch_correlation(gmap, pyramid, local_patch, (dst_idx - lo).to(self.device), pix, form="dots")
        hidden = state.get("hidden")
        if hidden is None or hidden.shape[0] != src_idx.shape[0]:
            hidden = torch.zeros(src_idx.shape[0], self.model.hidden_dim, device=self.device)
        out = self.model.update(hidden.to(self.device), imap[local_patch], corr, (src_idx - lo).to(self.device),
                                (dst_idx - lo).to(self.device), local_patch)
        target = coords + out.delta.to(coords)
        return OperatorOutput(target, out.weight.to(coords), {"hidden": out.hidden.to(coords)})


__all__ = ["LearnedOperator", "LearnedPayload", "PatchVONet", "patch_pixels_reprojected"]
