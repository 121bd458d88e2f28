"""vokit.geometry: the pure-torch geometry core (a leaf: imports nothing else from vokit).

Modules: ``conventions`` (frames, orders, units), ``lie`` (SO3, SE3, Sim3), ``camera`` (pinhole and
radial-tangential), ``warp`` (backproject, rigid flow, inverse warping), ``align`` (Umeyama).
"""
