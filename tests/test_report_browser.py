"""The class report in a real headless chromium, for a class the size of the real course
(30 learners × every exercise of every concept, tests/report_class.py).

On a 1366 × 768 laptop screen nothing scrolls sideways; axe-core finds no serious or critical
violation; in print every hint list is shown (no hover in print) and nothing is wider than an A4
landscape page. Screenshots go to build/screenshots/report-*.png and the printed report to
build/screenshots/report.pdf, to look at.

Like tests/test_browser.py these run only when GRADFLOW_REQUIRE_BROWSER=1 (CI sets it, after
scripts/install-browser.sh); without the variable they are skipped.
"""

from __future__ import annotations


import pytest

from a11y import blocking, run_axe
from conftest import ROOT
from lab_browser import launch_browser, require_browser_or_skip
from report_class import LEARNERS, class_rows, exercises_by_notebook

from course.gradebook.report import write_all
from course.gradebook.roster import Roster, Student, match

require_browser_or_skip()

SCREENSHOTS = ROOT / "build" / "screenshots"
A4_LANDSCAPE_PX = 1032  # 297 mm less the page's 2 × 12 mm margins, at 96 px per inch


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    out = tmp_path_factory.mktemp("report")
    roster = Roster([Student(f"Learner {n}", str(1000 + n), f"S{n}", name) for n, name in enumerate(LEARNERS[:-3])])
    rows = class_rows()
    write_all(rows, out, partial=True, matching=match(sorted({r.learner for r in rows}), roster))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        tab = browser.new_page(viewport={"width": 1366, "height": 768})
        tab.goto((out / "report.html").as_uri())
        yield tab
        browser.close()


def overflowing(tab) -> list:
    """Elements wider than the page, and tables that scroll inside their box."""
    return tab.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                  || (e.classList.contains('wide') && e.scrollWidth > e.clientWidth + 1))
        .map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className).slice(0, 10)""")


def test_a_laptop_screen_needs_no_sideways_scrolling(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert overflowing(page) == []
    page.screenshot(path=str(SCREENSHOTS / "report-top.png"))
    for section in ("pass-rates", "mistakes", "concept-0"):
        page.evaluate(f"document.getElementById('{section}').scrollIntoView()")
        page.screenshot(path=str(SCREENSHOTS / f"report-{section}.png"))


def test_no_serious_accessibility_violation(page):
    assert blocking(run_axe(page)) == []


def test_print_shows_every_hint_and_fits_the_page(page):
    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_LANDSCAPE_PX, "height": 730})
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= A4_LANDSCAPE_PX
        assert overflowing(page) == []
        hidden = page.evaluate("""() => [...document.querySelectorAll('ol.hints')]
            .filter(list => list.getBoundingClientRect().height === 0).length""")
        assert page.locator("ol.hints").count() == len(exercises_by_notebook()) and hidden == 0  # one per concept
        page.evaluate("document.getElementById('concept-0').scrollIntoView()")
        page.screenshot(path=str(SCREENSHOTS / "report-print-concept-0.png"))
        page.pdf(path=str(SCREENSHOTS / "report.pdf"), format="A4", landscape=True, print_background=True)
    finally:
        page.emulate_media(media="screen")
        page.set_viewport_size({"width": 1366, "height": 768})
