"""vokit.losses: pure loss functions (DESIGN.md section 2; METHODS.md sections 2.3 and 8.2 - 8.4).

Modules: ``photometric`` (SSIM + L1), ``reprojection`` (minimum reprojection, auto-masking), ``smoothness``
(edge-aware), ``monodepth2`` (the full Monodepth2 loss), ``coopnet`` (error mixture, hybrid loss, gradient
apportionment). See docs/models.md.
"""
