"""Open every deck in a headless browser and measure every slide at 1280 x 720.

    python scripts/check_slides.py [build/slides] [--screenshots DIR] [--json]

Needs the Python package playwright and a Chromium (by default
/usr/bin/chromium, or $GRADFLOW_CHROMIUM). For each deck it walks every slide
with reveal.js's own API and reports, per slide:

- whether it rendered (reveal.js started, the slide has visible content, no
  formula was left as raw TeX, and every formula was drawn again after the
  template's re-rendering of the slide; it is measured only after that);
- its content size against the 16:9 frame (reveal's ``.slides`` box, 1280 x
  720): a slide whose content is taller or wider than the frame overflows;
- boxes inside the slide that scroll (a wide output clipped with a scroll
  bar cannot be read on a projector).

Exit status 1 when a deck fails to load or a slide does not render or
overflows. ``check_decks`` is what tests call.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# One probe and one launch recipe for every headless-browser check of the project.
from lab_browser import CHROMIUM, CHROMIUM_ARGS, browser_missing  # noqa: E402

WIDTH, HEIGHT = 1280, 720


@dataclass
class Slide:
    index: tuple[int, int]
    title: str
    height: int
    width: int
    frame: tuple[int, int]
    rendered: bool
    inner_scroll: list[str] = field(default_factory=list)

    @property
    def overflows(self) -> bool:
        return self.height > self.frame[1] or self.width > self.frame[0]


@dataclass
class Deck:
    name: str
    slides: list[Slide]
    errors: list[str]
    widgets: int

    def problems(self) -> list[str]:
        found = [f"{self.name}: {e}" for e in self.errors]
        for s in self.slides:
            where = f"{self.name} slide {s.index[0]}.{s.index[1]} ({s.title!r})"
            if not s.rendered:
                found.append(f"{where} did not render")
            if s.overflows:
                found.append(f"{where} overflows: {s.width} x {s.height} in a {s.frame[0]} x {s.frame[1]} frame")
        return found


MATHJAX_IDLE = ("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
                " && MathJax.Hub.queue.running === 0")

# The template re-renders a slide's formulas when it becomes current, with
# MathJax.Hub.Rerender called directly (not through MathJax's queue, so
# MATHJAX_IDLE does not see it): the formulas are taken out and put back a
# moment later. Measured before that, a slide looks shorter than it is. Done
# when every formula of the slide has its rendered frame again, with a size.
MATH_RENDERED = """() => Array.from(Reveal.getCurrentSlide().querySelectorAll('script[type^="math/tex"]'))
  .every(script => { const frame = document.getElementById(script.id + '-Frame');
                     return frame !== null && frame.getBoundingClientRect().width > 0; })"""

# Runs in the page: the current slide's measurements.
MEASURE = """() => {
  const frame = document.querySelector('.reveal .slides');
  const s = Reveal.getCurrentSlide();
  const heading = s.querySelector('h1, h2, h3');
  const raw = /(^|[^\\\\])\\$[^$]+\\$/.test(
      Array.from(s.querySelectorAll('.jp-MarkdownOutput p, .jp-MarkdownOutput li'))
           .map(e => e.innerText).join(' '));
  const inner = [];
  for (const e of s.querySelectorAll('*')) {
    const style = getComputedStyle(e);
    if (/(auto|scroll)/.test(style.overflowX + style.overflowY) &&
        (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) &&
        e.clientWidth > 0) {
      inner.push(e.className.toString().slice(0, 60) + ` ${e.scrollWidth}x${e.scrollHeight} in ${e.clientWidth}x${e.clientHeight}`);
    }
  }
  return {
    title: heading ? heading.innerText.trim() : (s.innerText || '').trim().slice(0, 50),
    height: s.scrollHeight, width: s.scrollWidth,
    frame: [frame.offsetWidth, frame.offsetHeight],
    visible: s.innerText.trim().length > 0 || s.querySelector('img, svg, canvas') !== null,
    raw_tex: raw, inner: inner,
  };
}"""


def _check_deck(page, path: Path, shots: Path | None, shoot: set[int]) -> Deck:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.goto(path.resolve().as_uri())
    # The template loads reveal.js through require.js, so Reveal is not a
    # global: take it from require.js once it has been initialised.
    page.wait_for_function(
        """() => { try { const R = require('vendor/reveal.js/dist/reveal.js');
                         if (R && R.isReady()) { window.Reveal = R; return true; } } catch (e) {}
                   return false; }""", timeout=30_000)
    page.wait_for_function(MATHJAX_IDLE, timeout=60_000)
    page.wait_for_timeout(500)  # let the widget manager render the saved widget state
    widgets = page.evaluate("() => document.querySelectorAll('.jupyter-widgets.widget-container,"
                            " .jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-box').length")
    total = page.evaluate("() => Reveal.getTotalSlides()")
    indices = page.evaluate("() => Reveal.getSlides().map(s => { const i = Reveal.getIndices(s);"
                            " return [i.h, i.v || 0]; })")
    slides = []
    for n, (h, v) in enumerate(indices):
        # Every fragment shown: the slide at its fullest.
        page.evaluate(f"() => Reveal.slide({h}, {v}, 1000)")
        page.wait_for_timeout(50)
        page.wait_for_function(MATHJAX_IDLE, timeout=30_000)
        try:
            page.wait_for_function(MATH_RENDERED, timeout=15_000)  # the template re-renders each new slide
            math_ok = True
        except PlaywrightTimeout:
            math_ok = False
        page.wait_for_timeout(100)  # let tables and paragraphs take the formulas' final size
        m = page.evaluate(MEASURE)
        slides.append(Slide((h, v), m["title"], m["height"], m["width"], tuple(m["frame"]),
                            math_ok and m["visible"] and not m["raw_tex"], m["inner"]))
        if shots is not None and n in shoot:
            page.screenshot(path=str(shots / f"{path.name.split('.')[0]}-{h:02d}-{v:02d}.png"))
    if len(slides) != total:
        errors.append(f"walked {len(slides)} of {total} slides")
    return Deck(path.name, slides, errors, widgets)


def _check_in_one_browser(decks: list[Path], screenshots: Path | None, every: bool) -> list[Deck]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for deck in decks:
                page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
                try:
                    shoot = set(range(1000)) if every else {0, 1, 2, 5, 8}
                    results.append(_check_deck(page, deck, screenshots, shoot))
                except Exception as exc:  # a deck that does not load is a finding, not a crash
                    results.append(Deck(deck.name, [], [f"did not load: {exc}".splitlines()[0]], 0))
                finally:
                    page.close()
        finally:
            browser.close()
    return results


def check_decks(folder: Path, screenshots: Path | None = None, every: bool = False, browsers: int = 1) -> list[Deck]:
    """Every deck of ``folder``, in name order; ``browsers`` > 1 checks that many decks at once.

    Walking a deck mostly waits (MathJax typesets in timed chunks, the checks
    let each slide settle), so two browsers take about half the time for
    little more CPU. Each browser runs in a thread of its own with its own
    Playwright (the sync API keeps one per thread), each deck in a page of its own.
    """
    decks = sorted(folder.glob("*.slides.html"))
    if not decks:
        raise FileNotFoundError(f"no *.slides.html in {folder}: run `make slides` first")
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    groups = [decks[k::browsers] for k in range(max(1, min(browsers, len(decks))))]
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        parts = list(pool.map(lambda group: _check_in_one_browser(group, screenshots, every), groups))
    checked = {deck.name: deck for part in parts for deck in part}
    return [checked[path.name] for path in decks]


def report(decks: list[Deck]) -> str:
    lines = []
    for deck in decks:
        worst = max((s.height for s in deck.slides), default=0)
        lines.append(f"{deck.name}: {len(deck.slides)} slides, {deck.widgets} widget boxes rendered,"
                     f" tallest slide {worst}px of {HEIGHT}")
        for s in deck.slides:
            flag = "OVERFLOW" if s.overflows else ("no render" if not s.rendered else "ok")
            lines.append(f"  {s.index[0]:2}.{s.index[1]} {s.width:5} x {s.height:4}  {flag:9} {s.title[:60]}")
            for box in s.inner_scroll:
                lines.append(f"        scrolls inside: {box}")
        lines.extend(f"  ! {e}" for e in deck.errors)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "build" / "slides")
    parser.add_argument("--screenshots", type=Path, help="save screenshots of a few slides of each deck here")
    parser.add_argument("--all", action="store_true", help="screenshot every slide")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    missing = browser_missing()
    if missing:
        print(f"cannot check the decks: {missing}", file=sys.stderr)
        return 2
    decks = check_decks(args.folder, args.screenshots, args.all)
    if args.json:
        print(json.dumps([asdict(d) for d in decks], indent=1))
    else:
        print(report(decks))
    problems = [p for d in decks for p in d.problems()]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
