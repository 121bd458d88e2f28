"""vokit.nets: see DESIGN.md section 2."""
