"""`SyntheticWorld` (scene + renderer + poses) and `make_sequence`, the synthetic world as a lazy `Sequence`.

Poses: ``world_from_cam`` of frame i is ``inverse(scene_from_cam[0]) @ scene_from_cam[i]``, so the world frame
is the first camera's frame (x right, y down, z forward), as in KITTI; frame 0 has the identity pose.

Caching: rendered frames are kept in a small in-memory LRU cache (a `Sequence` asks for image, depth, flow and
mask of a frame one after the other, and this renders the frame once). With ``cache_dir`` each frame is also
stored as ``<cache_dir>/<key>/frame_NNNNNN.npz`` (image as 16-bit, depth and flow float32, masks) and later
read back instead of rendered; ``<key>`` is a hash of every argument that changes the pixels, so a stale
cache is never read.
"""

import hashlib
import json
import operator
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import SupportsIndex

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from vokit.data.sequence import Sequence
from vokit.data.synthetic.clutter import build_clutter
from vokit.data.synthetic.domain import Domain, get_domain
from vokit.data.synthetic.photo import PhotoBank, load_photo_textures, photo_materials
from vokit.data.synthetic.render import RenderedFrame, Renderer
from vokit.data.synthetic.room import build_room
from vokit.data.synthetic.scene import EMIT_ALWAYS, Scene
from vokit.data.synthetic.street import build_street
from vokit.errors import VokitError
from vokit.geometry.lie import se3_from_matrix

CACHE_VERSION = 1
"""Bumped whenever rendering changes, so that old on-disk caches are not reused."""

BUILDERS = {"street": build_street, "room": build_room, "clutter": build_clutter}

MAX_SEED = 2**32 - 1
"""Largest scene seed: seeds are 0 <= seed <= 2**32 - 1 (numpy's seed sequences take no negative numbers)."""
MAX_IMAGE_SIDE = 8192
"""Largest synthetic image side in pixels."""
MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest synthetic image area (16.8 Mpx): the renderer holds a few dozen float32 buffers per pixel, so this is
already several GB; larger sizes would try to allocate tens of GB."""


def check_seed(seed: object) -> int:
    """The seed as an int, or `VokitError` unless it is an integer in [0, `MAX_SEED`]."""
    if not isinstance(seed, SupportsIndex):  # int and numpy integers; not floats or strings
        raise VokitError(f"the synthetic scene seed must be an integer, got {seed!r}")
    value = operator.index(seed)
    if not 0 <= value <= MAX_SEED:
        raise VokitError(f"the synthetic scene seed must be in [0, {MAX_SEED}], got {value} (0 <= seed < 2**32)")
    return value


def check_image_size(height: int, width: int) -> None:
    """Raise `VokitError` unless a synthetic image of ``height`` x ``width`` is between 8x8 and the size limits.

    Checked before anything is allocated: each side at most `MAX_IMAGE_SIDE`, the area at most
    `MAX_IMAGE_PIXELS`.
    """
    if height < 8 or width < 8:
        raise VokitError(f"synthetic images must be at least 8x8 pixels, got {height}x{width}")
    if height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE or height * width > MAX_IMAGE_PIXELS:
        raise VokitError(
            f"synthetic image {height}x{width} is too large: each side must be at most {MAX_IMAGE_SIDE} and the "
            f"area at most {MAX_IMAGE_PIXELS} pixels (e.g. 4096x4096)"
        )


class SyntheticWorld:
    """One synthetic sequence: the scene of ``seed`` rendered in ``domain`` at ``height`` x ``width``.

    Args:
        scene: ``"street"``, ``"room"`` or ``"clutter"``.
        n_frames: number of frames (the scene also poses frame ``n_frames`` so the last frame has flow).
        seed: scene seed; use `split_seed` for the train / val / test ranges.
        height: image height in pixels.
        width: image width in pixels.
        domain: a registered domain name (``"street-night"`` or just ``"night"``), a `Domain`, or None for
            the scene's default domain.
        cache_dir: folder of the on-disk frame cache, or None.
        memory_cache: how many rendered frames to keep in memory.
        tile: screen tile side of the box binning (pixels; a speed knob, results do not depend on it).
        textures: a folder of images (or a loaded `PhotoBank`) whose photos replace the albedo of about
            three quarters of the materials (see `photo.photo_materials`); None keeps the procedural textures.

    Raises:
        VokitError: for an unreadable or empty texture folder, an unknown scene or domain, fewer than one
            frame, a seed outside [0, `MAX_SEED`], or an image smaller than 8x8 or larger than the limits of
            `check_image_size` (checked before rendering).
    """

    def __init__(
        self,
        scene: str = "street",
        n_frames: int = 100,
        seed: int = 0,
        height: int = 128,
        width: int = 416,
        domain: str | Domain | None = None,
        cache_dir: str | Path | None = None,
        memory_cache: int = 8,
        tile: int = 8,
        textures: str | Path | PhotoBank | None = None,
    ) -> None:
        self.domain = get_domain(scene, domain)
        if n_frames < 1:
            raise VokitError(f"a synthetic sequence needs at least one frame, got n_frames={n_frames}")
        check_image_size(height, width)
        self.scene_name = scene
        self.seed = check_seed(seed)
        self.n_frames = int(n_frames)
        self.height, self.width = int(height), int(width)
        self.photos = load_photo_textures(textures) if isinstance(textures, (str, Path)) else textures
        built = BUILDERS[scene](self.seed, self.n_frames, self.domain)
        self.scene: Scene = with_photo_textures(built, self.photos, self.seed)
        self.renderer = Renderer(self.scene, self.domain, self.height, self.width, tile=tile, noise_seed=self.seed)
        first_inv = torch.linalg.inv(self.scene.scene_from_cam[0])
        self.world_from_cam: Float[Tensor, "N 7"] = se3_from_matrix(first_inv @ self.scene.scene_from_cam)[:n_frames]
        self.scene_from_world: Float[Tensor, "4 4"] = self.scene.scene_from_cam[0].clone()
        self.timestamps: Float[Tensor, " N"] = self.scene.timestamps[:n_frames].clone()
        self.intrinsics: Float[Tensor, "4"] = self.renderer.intrinsics.clone()
        self.name = f"synthetic-{self.domain.name}-seed{self.seed}"
        self._memory: OrderedDict[int, RenderedFrame] = OrderedDict()
        self._memory_size = max(1, int(memory_cache))
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / self.cache_key()

    def __len__(self) -> int:
        return self.n_frames

    def cache_key(self) -> str:
        """Hash of everything that determines the rendered pixels (scene, seed, length, size, domain)."""
        spec = {
            "version": CACHE_VERSION,
            "scene": self.scene_name,
            "seed": self.seed,
            "n_frames": self.n_frames,
            "size": [self.height, self.width],
            "domain": asdict(self.domain),
        }
        if self.photos is not None:
            spec["textures"] = self.photos.digest
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.domain.name}-seed{self.seed}-{self.height}x{self.width}-{digest}"

    def frame(self, index: int) -> RenderedFrame:
        """Frame ``index`` with its ground truth: from memory, from the disk cache, or rendered now."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} out of range for a synthetic sequence of {self.n_frames} frames")
        if index in self._memory:
            self._memory.move_to_end(index)
            return self._memory[index]
        out = self._load_cached(index)
        if out is None:
            out = self.renderer.render(index)
            self._store_cached(index, out)
        self._memory[index] = out
        while len(self._memory) > self._memory_size:
            self._memory.popitem(last=False)
        return out

    def _cache_path(self, index: int) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"frame_{index:06d}.npz"

    def _load_cached(self, index: int) -> RenderedFrame | None:
        path = self._cache_path(index)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as data:
                h, w = self.height, self.width
                return RenderedFrame(
                    image=torch.from_numpy(data["image"].astype(np.float32) / 65535.0),
                    depth=torch.from_numpy(data["depth"]),
                    flow=torch.from_numpy(data["flow"]),
                    motion_mask=torch.from_numpy(np.unpackbits(data["motion_mask"])[: h * w].reshape(h, w) > 0),
                    object_id=torch.from_numpy(data["object_id"].astype(np.int64)),
                    box_id=torch.from_numpy(data["box_id"].astype(np.int64)),
                )
        except (OSError, KeyError, ValueError) as err:
            raise VokitError(f"unreadable synthetic cache file ({err}); delete it to re-render", path) from err

    def _store_cached(self, index: int, out: RenderedFrame) -> None:
        path = self._cache_path(index)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = path.parent / "meta.json"
        if not meta.exists():
            meta.write_text(
                json.dumps(
                    {
                        "scene": self.scene_name,
                        "seed": self.seed,
                        "n_frames": self.n_frames,
                        "size": [self.height, self.width],
                        "domain": asdict(self.domain),
                    },
                    indent=1,
                )
            )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                image=np.round(out.image.numpy() * 65535.0).astype(np.uint16),
                depth=out.depth.numpy(),
                flow=out.flow.numpy(),
                motion_mask=np.packbits(out.motion_mask.numpy().reshape(-1)),
                object_id=out.object_id.numpy().astype(np.int32),
                box_id=out.box_id.numpy().astype(np.int32),
            )
        os.replace(tmp, path)

    def as_sequence(self, on_frame: Callable[[int], None] | None = None) -> Sequence:
        """This world as a lazy `Sequence` with poses, depth, flow and motion masks.

        Args:
            on_frame: called with i each time the sequence loads frame i's image (e.g. to drive a progress bar).
        """

        def load_image(i: int) -> Tensor:
            image = self.frame(i).image
            if on_frame is not None:
                on_frame(i)
            return image

        return Sequence(
            name=self.name,
            timestamps=self.timestamps,
            intrinsics=self.intrinsics,
            image_size=(self.height, self.width),
            load_image=load_image,
            world_from_cam=self.world_from_cam,
            load_depth=lambda i: self.frame(i).depth,
            load_flow=lambda i: self.frame(i).flow,
            load_motion_mask=lambda i: self.frame(i).motion_mask,
            source=self.cache_dir,
            calibration_source="the synthetic world (exact)",
        )


def with_photo_textures(scene: Scene, photos: PhotoBank | None, seed: int) -> Scene:
    """``scene`` with photographic albedo on about 3/4 of its materials (emissive ones and the sky kept).

    The choice of materials, photos and colours is a function of ``seed`` and the bank; None returns ``scene``.
    """
    if photos is None:
        return scene
    keep = scene.material_emission == EMIT_ALWAYS
    if scene.sky_material >= 0:
        keep[scene.sky_material] = True
    rng = np.random.default_rng([check_seed(seed), 0x9E0705])
    return replace(scene, textures=photo_materials(scene.textures, keep, photos, rng))


def make_sequence(
    scene: str = "street",
    n_frames: int = 100,
    seed: int = 0,
    height: int = 128,
    width: int = 416,
    domain: str | Domain | None = None,
    cache_dir: str | Path | None = None,
    textures: str | Path | PhotoBank | None = None,
) -> Sequence:
    """A synthetic sequence with full ground truth, rendered lazily (frame i renders when first accessed).

    Args:
        scene: ``"street"`` (driving, 10 frames/s), ``"room"`` (hand-held, 30 frames/s) or ``"clutter"``.
        n_frames: number of frames.
        seed: scene seed; ``split_seed("train" | "val" | "test", i)`` gives disjoint ranges.
        height: image height in pixels.
        width: image width in pixels.
        domain: domain name (``"street-night"``, ``"night"``), a `Domain`, or None for the scene's default.
        cache_dir: if given, rendered frames are stored there and read back on later runs.
        textures: a folder of images for photographic textures (see `SyntheticWorld`), or None.

    Returns:
        The `Sequence` (``world_from_cam`` relative to frame 0, depth in metres with 0 on the sky, forward
        flow in pixels, motion masks).

    Example:
        >>> seq = make_sequence("room", n_frames=3, seed=1, height=24, width=32)
        >>> frame = seq[0]
        >>> frame.image.shape, frame.flow.shape, bool(frame.depth.min() > 0)
        (torch.Size([3, 24, 32]), torch.Size([24, 32, 2]), True)
    """
    return SyntheticWorld(scene, n_frames, seed, height, width, domain, cache_dir, textures=textures).as_sequence()
