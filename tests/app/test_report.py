import base64
import html.parser
from pathlib import Path

import numpy as np
from PIL import Image

from vokit.app.report import Figure, Report, Table, render_report, write_report


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.images: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_cell = tag in ("td", "th")
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)


def test_report_embeds_tables_and_figures(tmp_path: Path) -> None:
    png = tmp_path / "panel.png"
    pixels = (np.arange(12 * 16 * 3) % 255).astype(np.uint8).reshape(12, 16, 3)
    Image.fromarray(pixels).save(png)
    report = Report(
        title="run <1>",
        summary=["32 frames"],
        tables=[Table("Trajectory", {"coopnet": {"ate_m": 0.123456, "frames": 32}}, note="Sim3-aligned")],
        figures=[Figure(png, "depth & flow")],
        config={"method": "coopnet"},
    )
    out = write_report(report, tmp_path / "report.html")
    text = out.read_text()
    parser = _Collector()
    parser.feed(text)
    assert "run &lt;1&gt;" in text, "titles must be escaped"
    assert ["ate_m", "frames", "coopnet", "0.1235", "32"] == [c for c in parser.cells if c.strip()]
    assert len(parser.images) == 1
    decoded = base64.b64decode(parser.images[0].split(",", 1)[1])
    assert decoded == png.read_bytes()
    assert not (tmp_path / "report.html.tmp").exists()
    assert render_report(report) == text
