"""In the real browser: how long from a slider key press to the page updated.

For every lesson: start JupyterLab (as the browser tests do), open the
lesson, run all cells, then press ArrowRight/ArrowLeft on the widget's first
slider ``--moves`` times. Times are taken inside the page: from the keydown
event to the last change in the widget (new picture and numbers from the
kernel), recorded by a MutationObserver. Prints p50 and p95 in ms per lesson
and over all moves; the target is p95 < 200 ms.

Needs chromium and playwright (scripts/install-browser.sh).

    .venv/bin/python scripts/bench_browser.py [--moves 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lab_browser import (  # noqa: E402
    browser_missing,
    launch_browser,
    open_notebook,
    run_all_cells,
    start_lab,
    widget_class,
    widget_names,
)

WATCH = """w => {
    const img = w.querySelector('img');
    window.__bench = {t0: 0, last: 0, src: img.src};
    new MutationObserver(() => { window.__bench.last = performance.now(); })
        .observe(w, {subtree: true, childList: true, attributes: true, characterData: true});
    document.addEventListener('keydown', () => { window.__bench.t0 = performance.now(); }, true);
}"""


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def measure(page, selector: str, moves: int, quiet_ms: int = 250) -> list[float]:
    widget = page.locator(selector)
    handle = widget.locator(".widget-slider .noUi-handle").first
    widget.evaluate(WATCH)
    image = f"{selector} img"
    times = []
    for k in range(moves):
        handle.focus()
        src = page.evaluate("sel => window.__bench.src = document.querySelector(sel).src", image)
        page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        page.wait_for_function("([sel, src]) => window.__bench.t0 > 0 && document.querySelector(sel).src !== src",
                               arg=[image, src], timeout=15_000)
        page.wait_for_timeout(quiet_ms)  # let the rest of the update (numbers, tables) arrive
        times.append(page.evaluate("() => window.__bench.last - window.__bench.t0"))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40)
    args = parser.parse_args()
    if (missing := browser_missing()) is not None:
        sys.exit(f"cannot run: {missing} (run scripts/install-browser.sh)")
    from playwright.sync_api import sync_playwright

    lessons = sorted((ROOT / "notebooks").glob("*.ipynb"))
    server = start_lab(lessons)
    everything = []
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            print(f"{'lesson':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   ({args.moves} key presses)")
            for path in lessons:
                open_notebook(page, server, path)
                run_all_cells(page)
                for name in widget_names(path):
                    selector = f".{widget_class(name)}"
                    page.locator(selector).scroll_into_view_if_needed()
                    times = measure(page, selector, args.moves)
                    everything += times
                    print(f"{path.stem:<26} {statistics.median(times):8.1f} {p95(times):8.1f} {max(times):8.1f}")
            browser.close()
    finally:
        server.stop()
    print(f"{'all lessons':<26} {statistics.median(everything):8.1f} {p95(everything):8.1f} {max(everything):8.1f}")


if __name__ == "__main__":
    main()
