"""vokit.nets: networks in pure torch (DESIGN.md section 2; METHODS.md sections 2.1 and 8.1).

ResNet encoders with a width multiplier, Monodepth2's depth decoder, the pair pose network and a compact PWC-style
flow network (docs/models.md); the patchvo building blocks of METHODS.md section 4 (encoders, patch correlation,
update operator; docs/patchvo.md).
"""

from vokit.nets.convlstm import ConvLSTMCell, LSTMState, RecurrentDepthNet, RecurrentPoseNet
from vokit.nets.correlation import (
    CorrelationVolume,
    correlation_pyramid,
    correlation_volume,
    patch_correlation,
    volume_correlation,
)
from vokit.nets.depth_decoder import DepthDecoder, DepthNet, disp_to_depth, sigmoid_to_inv_depth
from vokit.nets.flow_net import FlowNet, FlowPrediction, local_correlation
from vokit.nets.patch_encoder import (
    BasicEncoder4,
    context_encoder,
    extract_patches,
    feature_encoder,
    gradient_biased_patch_centres,
    random_patch_centres,
)
from vokit.nets.pose_net import PoseDecoder, PoseNet, pose_params_to_se3
from vokit.nets.resnet import ResNetEncoder
from vokit.nets.update_operator import UpdateOperator, UpdateOutput

__all__ = [
    "BasicEncoder4",
    "ConvLSTMCell",
    "CorrelationVolume",
    "DepthDecoder",
    "DepthNet",
    "FlowNet",
    "FlowPrediction",
    "LSTMState",
    "PoseDecoder",
    "PoseNet",
    "RecurrentDepthNet",
    "RecurrentPoseNet",
    "ResNetEncoder",
    "UpdateOperator",
    "UpdateOutput",
    "context_encoder",
    "correlation_pyramid",
    "correlation_volume",
    "disp_to_depth",
    "extract_patches",
    "feature_encoder",
    "gradient_biased_patch_centres",
    "local_correlation",
    "patch_correlation",
    "pose_params_to_se3",
    "random_patch_centres",
    "sigmoid_to_inv_depth",
    "volume_correlation",
]
