"""vokit.methods: see DESIGN.md section 2."""
