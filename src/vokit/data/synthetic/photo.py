"""Photographic textures for the synthetic world: any folder of images becomes tiling, colour-varied materials.

`load_photo_textures` reads every image of a folder (recursively; PNG, JPEG, BMP, TIFF, WebP, PPM), takes two
square crops of each (the centre square and a zoomed centre crop), resizes them to the atlas texture side,
converts sRGB to linear RGB (``value ** 2.2``, the inverse of the renderer's tone curve) and makes them tile
seamlessly by an offset blend (see `make_tileable`). The atlas mip-maps them like the procedural textures.

`photo_materials` then swaps the albedo of a random part of a scene's materials for random photos, each
rotated or mirrored at random and recoloured to the procedural material's mean colour (or to its brightness
with the photo's own colours), so asphalt stays dark and walls keep their palette while the texture detail is
photographic. Window glass (the glass mask), emissive materials and the sky's clouds are kept, so lit windows
and lamps still work. Everything is a deterministic function of the bank and the generator.
"""

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from vokit.errors import VokitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""File suffixes read as images (case-insensitive)."""

MAX_IMAGES = 512
"""At most this many images of a folder are used (the first in sorted path order)."""

DISPLAY_GAMMA = 2.2
"""sRGB-to-linear exponent; the renderer's tone curve applies the inverse."""


@dataclass(frozen=True)
class PhotoBank:
    """Tiling photographic textures loaded from a folder.

    Attributes:
        folder: the folder they were read from.
        textures: ``(N, 3, S, S)`` linear-RGB albedo in [0, 1], each tiling with period S.
        names: source file of each texture (relative to ``folder``; two crops per file).
        digest: hash of the files' relative paths, sizes and modification times (for cache keys).
    """

    folder: Path
    textures: Float[Tensor, "N 3 S S"]
    names: tuple[str, ...]
    digest: str

    def __len__(self) -> int:
        return int(self.textures.shape[0])


def make_tileable(image: np.ndarray) -> np.ndarray:
    """Blend an image with itself shifted by half a period, so it tiles seamlessly (separably, x then y).

    Along each axis, ``out = w * img + (1 - w) * roll(img, S / 2)`` with ``w = sin^2(pi (i + 0.5) / S)``: at the
    borders (w = 0) the shifted copy shows its continuous middle, and the shifted copy's own seam lies in the
    middle where w = 1. The blend is rescaled by ``1 / sqrt(w^2 + (1 - w)^2)`` around the mean so that it keeps
    the contrast of the photo (two uncorrelated images averaged would be flatter).

    Args:
        image: ``(C, S, S)`` float array.

    Returns:
        ``(C, S, S)`` float array with period S in both directions (not clipped).
    """
    out = image.astype(np.float64)
    size = out.shape[-1]
    w = np.sin(math.pi * (np.arange(size) + 0.5) / size) ** 2
    gain = 1.0 / np.sqrt(w**2 + (1.0 - w) ** 2)
    for axis, shape in ((-1, (1, 1, size)), (-2, (1, size, 1))):
        mean = out.mean(axis=(-2, -1), keepdims=True)
        wa, ga = w.reshape(shape), gain.reshape(shape)
        blend = wa * out + (1.0 - wa) * np.roll(out, size // 2, axis=axis)
        out = mean + (blend - mean) * ga
    return out


def _square_crops(image: np.ndarray) -> list[np.ndarray]:
    """The centre square of an ``(H, W, 3)`` image and a centre crop of half its side."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    full = image[top : top + side, left : left + side]
    q = side // 4
    return [full, full[q : q + side // 2, q : q + side // 2]] if side >= 16 else [full]


def _read_image(path: Path, size: int) -> np.ndarray | None:
    """``(H, W, 3)`` uint8 RGB of an image file (None when it does not decode).

    Large images are box-reduced by an integer factor that keeps their short side at least 2 ``size``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.seek(0)
            factor = max(1, min(img.size) // (2 * size))
            if hasattr(img, "draft") and factor > 1:
                img.draft("RGB", (img.size[0] // factor, img.size[1] // factor))  # JPEG: decode at lower scale
            rgb = img.convert("RGB")
            factor = max(1, min(rgb.size) // (2 * size))
            return np.asarray(rgb.reduce(factor) if factor > 1 else rgb)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def _texture_from_crop(crop: np.ndarray, size: int) -> np.ndarray:
    """A ``(3, S, S)`` linear-RGB tiling texture from a square uint8 crop."""
    from PIL import Image

    resized = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS), dtype=np.float64)
    linear = (resized / 255.0) ** DISPLAY_GAMMA
    return np.clip(make_tileable(linear.transpose(2, 0, 1)), 0.0, 1.0)


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def load_photo_textures(folder: str | Path, size: int = 128) -> PhotoBank:
    """Tiling linear-RGB textures from every readable image in ``folder`` (cached per folder and size).

    Args:
        folder: a folder of images (searched recursively); files that do not decode are skipped.
        size: texture side S in texels (the synthetic world's atlas uses 128).

    Returns:
        The `PhotoBank`, two textures per image.

    Raises:
        VokitError: naming the folder when it does not exist, is not a readable folder, or holds no image that
            decodes.
    """
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise VokitError("texture folder does not exist or is not a folder", path)
    try:
        files = image_files(path)[:MAX_IMAGES]
        stamp = [(str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    except OSError as err:
        raise VokitError(f"texture folder is not readable ({err})", path) from err
    digest = hashlib.sha1(repr((size, stamp)).encode()).hexdigest()[:16]
    return _load_cached(path, size, digest)


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path, size: int, digest: str) -> PhotoBank:
    textures, names = [], []
    for file in image_files(path)[:MAX_IMAGES]:
        image = _read_image(file, size)
        if image is None or min(image.shape[:2]) < 8:
            continue
        for crop in _square_crops(image):
            textures.append(_texture_from_crop(crop, size))
            names.append(str(file.relative_to(path)))
    if not textures:
        raise VokitError(
            f"texture folder holds no readable image (looked for {', '.join(IMAGE_SUFFIXES)}, at least 8x8 pixels)",
            path,
        )
    stack = torch.from_numpy(np.stack(textures).astype(np.float32))
    return PhotoBank(folder=path, textures=stack, names=tuple(names), digest=digest)


def photo_materials(
    textures: Float[Tensor, "M 4 S S"],
    keep: Tensor,
    bank: PhotoBank,
    rng: np.random.Generator,
    fraction: float = 0.75,
) -> Float[Tensor, "M 4 S S"]:
    """A scene's material textures with the albedo of about ``fraction`` of them replaced by photos.

    Args:
        textures: the procedural materials (linear RGB albedo and glass mask).
        keep: ``(M,)`` bool, materials never replaced (emissive surfaces, the sky's clouds).
        bank: the photographic textures (side S, as ``textures``).
        rng: random generator (which materials, which photo, orientation, colour).
        fraction: probability that a material is replaced.

    Returns:
        New ``(M, 4, S, S)`` textures: replaced materials show the photo, rotated by a multiple of 90 degrees
        and maybe mirrored, scaled per channel to the procedural material's mean colour (or, half the time, to
        its mean brightness with the photo's own colours, saturation jittered); glass pixels keep the
        procedural glass; the glass mask is unchanged.
    """
    if bank.textures.shape[-1] != textures.shape[-1]:
        raise ValueError(f"photo_materials: bank side {bank.textures.shape[-1]} != texture side {textures.shape[-1]}")
    out = textures.clone()
    for m in range(textures.shape[0]):
        if bool(keep[m]) or float(rng.random()) >= fraction:
            continue
        photo = bank.textures[int(rng.integers(len(bank)))]
        photo = torch.rot90(photo, int(rng.integers(4)), dims=(-2, -1))
        if float(rng.random()) < 0.5:
            photo = photo.flip(-1)
        out[m, :3] = _recolour(photo, textures[m], rng)
    return out


def _recolour(photo: Tensor, material: Tensor, rng: np.random.Generator) -> Tensor:
    """``photo`` (3, S, S) recoloured to the procedural ``material`` (4, S, S), glass pixels kept."""
    glass = material[3:4]
    solid = (1.0 - glass).clamp_min(0.0)
    if float(solid.sum()) > 0:
        target = (material[:3] * solid).sum(dim=(-2, -1)) / solid.sum()
    else:
        target = material[:3].mean((-2, -1))
    mean = photo.mean(dim=(-2, -1)).clamp_min(1e-3)
    if float(rng.random()) < 0.5:
        recoloured = photo * (target / mean)[:, None, None]
    else:
        grey = photo.mean(0, keepdim=True)
        saturation = float(rng.uniform(0.5, 1.3))
        coloured = grey + saturation * (photo - grey)
        recoloured = coloured * (target.mean() / mean.mean())
    return (glass * material[:3] + solid * recoloured).clamp(0.0, 1.0)
