"""Which method and which network sizes."""

from dataclasses import dataclass
from typing import Annotated, Literal

import tyro

from vokit.errors import VokitError
from vokit.methods.registry import DEFAULT_METHOD, builtin_method_names, method_names

_METHOD_CHOICES = "{" + ",".join(builtin_method_names()) + "}"


@dataclass(frozen=True)
class ModelConfig:
    """Method and network sizes."""

    method: Annotated[str, tyro.conf.arg(metavar=_METHOD_CHOICES)] = DEFAULT_METHOD
    """Method to train, a name in `vokit.methods.registry` (each method's module documents what it composes)."""

    num_layers: Literal[18, 34] = 18
    """ResNet depth of the depth and pose encoders."""

    width: float = 1.0
    """Channel multiplier of the depth and pose networks, > 0 (1.0 = ResNet-18 channels 64..512)."""

    flow_width: float = 1.0
    """Channel multiplier of the flow network, > 0 (methods with a flow network)."""

    flow_levels: int | None = None
    """Flow pyramid levels, 2-6 (flow network); unset = most with the coarsest level >= 2 px high (6 if H >= 128)."""

    flow_normalize_cost: bool = True
    """Correlate mean-centred unit-length features in the flow network's cost volume (UFlow; flow network only);
    False = raw features / channel count (PWC-Net, METHODS.md section 8.1)."""

    min_depth: float = 0.1
    """Smallest depth the depth head can output, in training-scale units (metres for the synthetic world)."""

    max_depth: float = 100.0
    """Largest depth the depth head can output, in training-scale units (metres for the synthetic world)."""

    pose_rotation_scale: float = 0.01
    """Factor on the pose decoder's axis-angle outputs, > 0 (Monodepth2: 0.01, as the translation's; the synthetic
    presets use 0.001, see docs/training.md)."""

    imagenet_weights: str | None = None
    """Local ResNet ImageNet state-dict file for the depth and pose encoders (width 1.0); unset = from scratch."""

    dro_version: str = "it12-h"
    """DRO schedule ``it{N}[-seq{S}][-h][-inter][-out]``: N/S stages of S depth + S pose steps (METHODS.md 6.3)."""

    dro_hidden: int | None = None
    """DRO GRU hidden channels, > 6; unset = the version's (128 with ``-h``, else 64)."""

    dro_feature_dim: int = 128
    """DRO feature channels entering the cost (128 in the reference)."""

    dro_context_dim: int = 32
    """DRO context channels entering the GRUs (32 in the reference)."""

    dro_pose_update: Literal["additive", "se3"] = "additive"
    """DRO pose update: the reference's additive [t, Euler] 6-vector, or an SE(3) left retraction."""

    def __post_init__(self) -> None:
        if self.method not in method_names():
            known = ", ".join(method_names())
            raise VokitError(f"model.method: unknown method {self.method!r}; known methods: {known}")
