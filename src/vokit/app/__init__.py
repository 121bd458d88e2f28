"""vokit.app: the ``vokit run`` / ``vokit demo`` application above the methods (docs/architecture.md).

- `vokit.app.pipeline`: open a source, load a trained model, run it, write and evaluate in one pass;
- `vokit.app.outputs`: evaluation (typed results), frame files, plots and the report page of a run folder;
- `vokit.app.visualize` / `vokit.app.report`: figure grids and the self-contained HTML report.
"""
