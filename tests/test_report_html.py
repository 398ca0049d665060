"""report.html as users see it: rendered by headless Chromium, every image loaded, the
page not blank, and the same formatting as summary.md (n/a, 1.00x), no 'None'."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from reports.report import write_report
from tests.test_reports import fixture_results  # noqa: F401 - the fixture, reused

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def rendered(fixture_results, tmp_path_factory):  # noqa: F811
    if CHROMIUM is None:
        pytest.skip("no chromium (Debian: apt-get install chromium; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    out = tmp_path_factory.mktemp("html-report")
    report = write_report([fixture_results / "results", fixture_results / "pi-results"], out)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu"])
        # a laptop's screen: the page must fit it without scrolling sideways
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(report.html.as_uri())
        page.wait_for_load_state("load")
        widths = page.evaluate("[document.documentElement.scrollWidth, "
                               "document.documentElement.clientWidth]")
        images = page.evaluate("Array.from(document.images).map(i => "
                               "[i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        text = page.inner_text("body")
        page.screenshot(path=str(out / "screenshot.png"), full_page=True)
        browser.close()
    return report, images, text, out / "screenshot.png", widths


def test_the_page_fits_a_1366_px_screen_without_scrolling_sideways(rendered):
    scroll_width, client_width = rendered[4]
    assert client_width <= 1366 and scroll_width <= client_width, (scroll_width, client_width)


def test_every_image_loads_and_the_page_is_not_blank(rendered):
    report, images, _, screenshot, _ = rendered
    assert images and all(loaded for _, loaded in images), images
    assert {src for src, _ in images} == set(report.figures)
    with Image.open(screenshot) as shot:
        pixels = np.asarray(shot.convert("L"), dtype=float)
    assert pixels.shape[0] > 2000  # a long page: tables and figures
    assert pixels.std() > 20  # not one colour


def test_the_page_reads_like_summary_md(rendered):
    report, _, text, _, _ = rendered
    summary = report.markdown.read_text()
    assert "None" not in text and "nan" not in text.split()
    for phrase in ("n/a", "Contents:", "Speed-up over FP32 per backend and scenario",
                   "Published INT8 speed-ups beside ours"):
        assert phrase in text and phrase in summary, phrase
    speedups = [cell for cell in text.split() if cell.endswith("x") and cell[:-1]
                .replace(".", "", 1).isdigit()]
    assert speedups and all("." in cell for cell in speedups)  # 1.00x, never 1
