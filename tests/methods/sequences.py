"""Small sequences with known motion for the methods' tests (no renderer needed)."""

import torch
import torch.nn.functional as F

from vokit.data.sequence import Sequence

FOCAL = 50.0
PLANE_DEPTH_M = 5.0


def sliding_plane_sequence(n_frames: int = 7, height: int = 64, width: int = 96, shift_px: float = 1.5,
                           seed: int = 0, patch: tuple[int, int, int, int] | None = None) -> Sequence:
    """A camera translating along +x in front of a textured fronto-parallel plane at 5 m.

    Every frame is the previous one shifted left by ``shift_px`` pixels (``shift_px = f * t_x / Z``), so the
    ground-truth flow is ``(-shift_px, 0)`` everywhere and the camera moves ``shift_px * Z / f`` metres per frame.
    ``patch = (row0, row1, col0, col1)`` pastes a textured square that stays put in the image (an object moving
    with the camera): its flow is 0 and it is the sequence's motion mask.
    """
    gen = torch.Generator().manual_seed(seed)
    extra = int(n_frames * shift_px) + 8
    texture = F.interpolate(torch.rand(1, 3, height // 4 + 1, (width + extra) // 4 + 1, generator=gen),
                            size=(height, width + extra), mode="bilinear", align_corners=False)[0]
    texture = (0.7 * texture + 0.3 * torch.rand(texture.shape, generator=gen)).clamp(0, 1)

    sticker = torch.rand(3, height, width, generator=gen)

    def load(i: int) -> torch.Tensor:
        x = torch.arange(width, dtype=torch.float32) + i * shift_px
        x0 = x.floor().long()
        frac = x - x0
        image = (texture[:, :, x0] * (1 - frac) + texture[:, :, x0 + 1] * frac).contiguous()
        if patch is not None:
            r0, r1, c0, c1 = patch
            image[:, r0:r1, c0:c1] = sticker[:, r0:r1, c0:c1]
        return image

    def mask(i: int) -> torch.Tensor:
        out = torch.zeros(height, width, dtype=torch.bool)
        if patch is not None:
            out[patch[0] : patch[1], patch[2] : patch[3]] = True
        return out

    poses = torch.zeros(n_frames, 7, dtype=torch.float64)
    poses[:, 6] = 1.0
    poses[:, 0] = torch.arange(n_frames, dtype=torch.float64) * shift_px * PLANE_DEPTH_M / FOCAL
    intrinsics = torch.tensor([FOCAL, FOCAL, (width - 1) / 2, (height - 1) / 2])
    return Sequence("sliding-plane", torch.arange(n_frames) / 10.0, intrinsics, (height, width), load,
                    world_from_cam=poses, load_motion_mask=mask)
