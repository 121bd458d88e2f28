"""The synthetic world: a vectorised torch ray-caster of street and room scenes with full ground truth.

``make_sequence("street", n_frames=100, seed=0)`` returns a lazy `vokit.data.sequence.Sequence` with RGB,
z-depth (0 on the sky), ``world_from_cam`` poses, intrinsics, forward optical flow and motion masks. Domains
(`DOMAINS`, e.g. ``"street-night"``, ``"room-dim"``) switch lighting, colour, textures, fog and camera height;
`split_seed` gives the disjoint seed ranges of the train / val / test splits. See docs/synthetic.md.
"""

from vokit.data.synthetic.domain import (
    DOMAINS,
    SCENES,
    SPLIT_SEED_OFFSET,
    Domain,
    get_domain,
    register_domain,
    seed_split,
    split_seed,
)
from vokit.data.synthetic.render import RenderedFrame, Renderer, intrinsics_for
from vokit.data.synthetic.world import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_SEED,
    SyntheticWorld,
    check_image_size,
    check_seed,
    make_sequence,
)

__all__ = [
    "DOMAINS",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_SEED",
    "SCENES",
    "SPLIT_SEED_OFFSET",
    "Domain",
    "RenderedFrame",
    "Renderer",
    "SyntheticWorld",
    "check_image_size",
    "check_seed",
    "get_domain",
    "intrinsics_for",
    "make_sequence",
    "register_domain",
    "seed_split",
    "split_seed",
]
