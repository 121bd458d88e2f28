"""vokit.metrics: depth, trajectory, flow, two-view pose and gradient-SNR metrics (METHODS.md section 9).

Pure functions that never modify their inputs and return frozen dataclasses recording the protocol they used
(association, alignment, averaging). Trajectory metrics follow evo and the TUM tools, KITTI segment errors the
official devkit (with its float32 arithmetic) and kitti-odom-eval, depth the Monodepth2 Eigen protocol, flow the
KITTI devkit and RAFT. Plotting helpers live in `vokit.metrics.plots`.
"""

from vokit.metrics.association import Association, associate
from vokit.metrics.depth import DepthErrors, DepthMetrics, depth_errors, eigen_depth_metrics, garg_crop_mask
from vokit.metrics.evaluate import TrajectoryEvaluation, evaluate_trajectory, format_trajectory_table
from vokit.metrics.flow import FlowMetrics, flow_epe, flow_metrics, flow_outliers
from vokit.metrics.gradient_snr import GradientSnr, gradient_snr
from vokit.metrics.kitti_odometry import KittiOdomEvalResult, KittiSegmentErrors, kitti_odom_eval, kitti_segment_errors
from vokit.metrics.stats import ErrorStats, error_stats
from vokit.metrics.trajectory import (
    Alignment,
    AteResult,
    PoseErrors,
    RpeResult,
    absolute_trajectory_error,
    align_trajectory,
    relative_pose_error,
)
from vokit.metrics.trivial import TrivialComparison, compare_with_trivial, constant_depth_metrics
from vokit.metrics.tum_tools import TumRpeResult, relative_pose_error_tum
from vokit.metrics.two_view import TwoViewErrors, pose_auc, relative_pose_errors

__all__ = [
    "Alignment",
    "Association",
    "AteResult",
    "DepthErrors",
    "DepthMetrics",
    "ErrorStats",
    "FlowMetrics",
    "GradientSnr",
    "KittiOdomEvalResult",
    "KittiSegmentErrors",
    "PoseErrors",
    "RpeResult",
    "TrajectoryEvaluation",
    "TrivialComparison",
    "TumRpeResult",
    "TwoViewErrors",
    "absolute_trajectory_error",
    "align_trajectory",
    "associate",
    "compare_with_trivial",
    "constant_depth_metrics",
    "depth_errors",
    "eigen_depth_metrics",
    "error_stats",
    "evaluate_trajectory",
    "flow_epe",
    "flow_metrics",
    "flow_outliers",
    "format_trajectory_table",
    "garg_crop_mask",
    "gradient_snr",
    "kitti_odom_eval",
    "kitti_segment_errors",
    "pose_auc",
    "relative_pose_error",
    "relative_pose_error_tum",
    "relative_pose_errors",
]
