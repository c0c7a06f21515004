"""The HTML report opened in headless Chromium (Debian's, via playwright; tests/browser/):
its three charts render, with JavaScript off as in a mail reader; a screenshot is kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from connector.report.render_html import render_html
from tests.browser.chromium import artifact_path, unavailable
from tests.connector.report import seed
from tests.connector.report.test_report import report_of

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def test_the_report_opens_in_chromium_and_its_charts_render(engine, chromium, tmp_path: Path):
    from PIL import Image

    seed.seed(engine)
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(report_of(engine)))
    shot = artifact_path(f"sla-report-{engine.dialect.name}.png")
    context = chromium.new_context(viewport={"width": 1100, "height": 900},
                                   java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(page_file.resolve().as_uri())
        charts = page.locator("div.chart > svg")
        assert charts.count() == 3
        for i in range(3):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 400 and box["height"] > 150, box
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    # Drawn, not blank: the charts' green (met) and red (missed) fill whole bars.
    image = Image.open(shot).convert("RGB")
    pixels = Counter(image.get_flattened_data() if hasattr(image, "get_flattened_data")
                     else image.getdata())
    assert pixels[(0x2E, 0x7D, 0x32)] > 500 and pixels[(0xC6, 0x28, 0x28)] > 500
