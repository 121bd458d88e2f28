"""vokit.nets: networks in pure torch (DESIGN.md section 2; METHODS.md sections 2.1 and 8.1).

ResNet encoders with a width multiplier, Monodepth2's depth decoder, the pair pose network and a compact PWC-style
flow network. See docs/models.md.
"""

from vokit.nets.depth_decoder import DepthDecoder, DepthNet, disp_to_depth, sigmoid_to_inv_depth
from vokit.nets.flow_net import FlowNet, FlowPrediction, local_correlation
from vokit.nets.pose_net import PoseDecoder, PoseNet, pose_params_to_se3
from vokit.nets.resnet import ResNetEncoder

__all__ = [
    "DepthDecoder",
    "DepthNet",
    "FlowNet",
    "FlowPrediction",
    "PoseDecoder",
    "PoseNet",
    "ResNetEncoder",
    "disp_to_depth",
    "local_correlation",
    "pose_params_to_se3",
    "sigmoid_to_inv_depth",
]
