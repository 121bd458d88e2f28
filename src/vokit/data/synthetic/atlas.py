"""A mip-mapped texture atlas sampled per pixel with one ``grid_sample`` call (trilinear filtering).

All materials of a scene are square, seamlessly tiling ``(4, S, S)`` textures. Level l of material m (side
``S / 2**l``) is stored with a one-texel wrapped border (a gutter) at row ``m * (S + 2)`` and column
``sum_{k<l} (S / 2**k + 2)`` of one atlas image, so bilinear lookups of wrapped coordinates never read another
texture. Sampling picks the two mip levels around the pixel's footprint and blends them (trilinear filtering),
which prefilters distant texture so it does not flicker from frame to frame.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor


class TextureAtlas:
    """Mip-mapped atlas of equally sized tiling textures.

    Args:
        textures: ``(M, C, S, S)`` textures, S a power of two; they must tile (period S).
    """

    def __init__(self, textures: Float[Tensor, "M C S S"]) -> None:
        n_mat, channels, size, size_w = textures.shape
        if size != size_w or size & (size - 1):
            raise ValueError(f"TextureAtlas: textures must be square with a power-of-two side, got {size}x{size_w}")
        self.size = size
        self.n_levels = int(math.log2(size)) + 1
        self.channels = channels
        row_h = size + 2
        widths = [(size >> lvl) + 2 for lvl in range(self.n_levels)]
        self.level_x0 = torch.tensor([sum(widths[:lvl]) for lvl in range(self.n_levels)], dtype=torch.float32)
        self.level_size = torch.tensor([size >> lvl for lvl in range(self.n_levels)], dtype=torch.float32)
        # built with NumPy (single-threaded, once per scene); materials stacked vertically, levels side by side
        layout = np.zeros((channels, n_mat, row_h, sum(widths)), dtype=np.float32)
        level = textures.detach().cpu().float().numpy().transpose(1, 0, 2, 3)
        for lvl in range(self.n_levels):
            side = size >> lvl
            x0 = int(self.level_x0[lvl])
            layout[:, :, : side + 2, x0 : x0 + side + 2] = np.pad(level, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="wrap")
            if side > 1:
                level = level.reshape(channels, n_mat, side // 2, 2, side // 2, 2).mean(axis=(3, 5))
        atlas = torch.from_numpy(layout.reshape(channels, n_mat * row_h, -1))
        self.image = atlas[None].contiguous()
        self.row_h = row_h
        self.height = atlas.shape[1]
        self.width = atlas.shape[2]

    def sample(
        self,
        material: Int[Tensor, " P"],
        tex_u: Float[Tensor, " P"],
        tex_v: Float[Tensor, " P"],
        footprint: Float[Tensor, " P"],
    ) -> Float[Tensor, "C P"]:
        """Trilinear lookup of wrapped texture coordinates.

        Args:
            material: material (atlas row) of each sample.
            tex_u: horizontal texture coordinate in tiles (any real number; the texture repeats every 1).
            tex_v: vertical texture coordinate in tiles.
            footprint: pixel footprint in tiles (the side of the surface patch one pixel sees, in tile units).

        Returns:
            The filtered texture values, channels first.
        """
        size = float(self.size)
        top = float(self.n_levels - 1)
        lod = torch.log2((footprint * size).clamp_min(1e-6)).clamp(0.0, top)
        lo = lod.floor().clamp(max=max(top - 1.0, 0.0))
        frac = lod - lo
        levels = torch.stack([lo, (lo + 1.0).clamp(max=top)])
        side = size * torch.exp2(-levels)
        # level l starts at column sum_{k<l} (S / 2^k + 2) = 2 S - 2 side + 2 l; texel i has its centre at i + 1
        x = 2.0 * size - 2.0 * side + 2.0 * levels + 0.5 + (tex_u - tex_u.floor()) * side
        y = (material * self.row_h).float() + 0.5 + (tex_v - tex_v.floor()) * side
        grid = torch.stack([x * (2.0 / (self.width - 1)) - 1.0, y * (2.0 / (self.height - 1)) - 1.0], dim=-1)
        both = F.grid_sample(self.image, grid[None], mode="bilinear", padding_mode="border", align_corners=True)[0]
        return both[:, 0] + frac * (both[:, 1] - both[:, 0])
