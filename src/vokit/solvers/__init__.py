"""vokit.solvers: see DESIGN.md section 2."""
