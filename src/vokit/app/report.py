"""A one-page, self-contained HTML report: metric tables and figures, images embedded as base64 PNG.

The report has no external assets (no CSS or JS downloads), so it opens offline and can be mailed as one file.
"""

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """A PNG file shown in the report with a caption."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Table:
    """A metric table: one row per name, one column per key of the row dicts."""

    title: str
    rows: Mapping[str, Mapping[str, float | int | str]]
    note: str = ""


@dataclass(frozen=True)
class Report:
    """Everything a report page shows, in order: summary lines, tables, figures."""

    title: str
    summary: Sequence[str] = field(default_factory=tuple)
    tables: Sequence[Table] = field(default_factory=tuple)
    figures: Sequence[Figure] = field(default_factory=tuple)
    config: Mapping[str, object] = field(default_factory=dict)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
figure{display:inline-block;margin:.6em;vertical-align:top;max-width:100%}figure img{max-width:100%;
border:1px solid #ddd}figcaption{font-size:.85em;color:#555}.note{font-size:.85em;color:#666}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
"""


def _format(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table_html(table: Table) -> str:
    columns: list[str] = []
    for row in table.rows.values():
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *columns])
    body = "".join(
        "<tr><td>" + html.escape(name) + "</td>" + "".join(f"<td>{_format(row.get(c, ''))}</td>" for c in columns)
        + "</tr>"
        for name, row in table.rows.items()
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f"<h2>{html.escape(table.title)}</h2><table><tr>{head}</tr>{body}</table>{note}"


def _figure_html(figure: Figure) -> str:
    data = base64.b64encode(Path(figure.path).read_bytes()).decode("ascii")
    caption = html.escape(figure.caption)
    img = f'<img alt="{caption}" src="data:image/png;base64,{data}">'
    return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"


def render_report(report: Report) -> str:
    """The report as one HTML string (figures read from disk and embedded)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(report.title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in report.summary]
    parts += [_table_html(t) for t in report.tables]
    if report.figures:
        parts.append("<h2>Figures</h2>" + "".join(_figure_html(f) for f in report.figures))
    if report.config:
        parts.append("<h2>Run configuration</h2><pre>" + html.escape(json.dumps(report.config, indent=2, default=str))
                     + "</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(report: Report, path: Path) -> Path:
    """Write ``render_report(report)`` to ``path`` atomically; returns the path."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_report(report), encoding="utf-8")
    tmp.replace(path)
    return path
