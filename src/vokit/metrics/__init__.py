"""vokit.metrics: see DESIGN.md section 2."""
