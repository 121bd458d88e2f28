"""vokit: learned visual odometry, monocular depth and optical flow in pure PyTorch.

Importing ``vokit`` has no side effects; subpackages are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
