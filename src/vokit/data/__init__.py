"""vokit.data: see DESIGN.md section 2."""
