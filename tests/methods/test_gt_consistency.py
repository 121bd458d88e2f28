"""The self-supervised training path explains synthetic frames when fed the ground truth.

With ground-truth depth and relative pose, the rigid reconstruction error that the Monodepth2 and CoopNet losses
minimise must be far below the unwarped (identity) error on static pixels, with and without the horizontal-flip
augmentation. This pins the pose direction (``cam_s_from_cam_t``), the warp and the flip conventions end to end.
"""

import pytest
import torch

from vokit.data.augment import hflip_clip
from vokit.data.synthetic import SyntheticWorld, split_seed
from vokit.geometry import lie
from vokit.losses.monodepth2 import rigid_reconstruction_errors
from vokit.losses.photometric import photometric_error


@pytest.mark.parametrize("flip", [False, True])
def test_ground_truth_depth_and_pose_explain_the_target(flip: bool) -> None:
    sequence = SyntheticWorld("street", 12, split_seed("train", 2), 64, 224).as_sequence()
    clip = sequence.clip([9, 10, 11])
    clip = hflip_clip(clip) if flip else clip
    poses = clip.world_from_cam.double()
    src_from_tgt = torch.stack([lie.se3_compose(lie.se3_inverse(poses[s]), poses[1]) for s in (0, 2)])[None].float()
    depth = clip.depth[1][None].clone()
    depth[depth <= 0] = 1000.0  # sky: far away
    target, sources = clip.images[1][None], clip.images[[0, 2]][None]
    warped = rigid_reconstruction_errors(target, sources, depth, src_from_tgt, clip.intrinsics[1][None])
    identity = torch.stack([photometric_error(target, clip.images[s][None]) for s in (0, 2)], dim=1)
    static = ~clip.motion_mask[1][None]
    warped_err = warped.min(dim=1).values[static].mean()
    identity_err = identity.min(dim=1).values[static].mean()
    assert warped_err < 0.5 * identity_err, (warped_err, identity_err)
    # a forward-driving camera: the earlier frame sits behind the target (t_z > 0 in cam_{t-1} from cam_t)
    assert src_from_tgt[0, 0, 2] > 0.1 and src_from_tgt[0, 1, 2] < -0.1
