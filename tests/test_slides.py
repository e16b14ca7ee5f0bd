"""`make slides`: a reveal.js deck per lesson that works offline, and the browser check of the decks.

The build test runs the command `make slides` runs (without fetching reveal.js
& co.: the decks only point at build/slides/vendor/). The browser test needs
playwright and Chromium, and runs only when GRADFLOW_REQUIRE_BROWSER=1 (set in CI),
which also turns a missing browser into a failure.
"""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from conftest import LESSONS, ROOT, notebooks_in, read

SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def load(script: str):
    spec = importlib.util.spec_from_file_location(script, ROOT / "scripts" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[script] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    done = subprocess.run([sys.executable, "scripts/build_slides.py", "--no-fetch", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_makefile_target_runs_the_build_script():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^slides: setup\n\t\$\(BIN\)/python scripts/build_slides.py", makefile, flags=re.M)


@pytest.mark.parametrize("lesson", notebooks_in(LESSONS), ids=lambda p: p.stem)
def test_every_cell_has_slide_metadata_and_widgets_get_their_own_slide(lesson):
    nb = read(lesson)
    assert nb.cells[0].metadata["slideshow"]["slide_type"] == "slide"
    for k, cell in enumerate(nb.cells):
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type")
        assert slide_type in SLIDE_TYPES, f"{lesson.name} cell {k}: slide_type {slide_type!r}"
        if "widget" in cell.metadata.get("gradflow", {}):
            assert slide_type in ("slide", "subslide"), f"{lesson.name} cell {k}: a widget shares a slide"


@pytest.mark.parametrize("lesson", notebooks_in(LESSONS), ids=lambda p: p.stem)
def test_every_lesson_yields_a_deck_with_its_headings(decks, lesson):
    deck = decks / f"{lesson.stem}.slides.html"
    assert deck.exists()
    page = deck.read_text()
    headings = [m for c in read(lesson).cells if c.cell_type == "markdown"
                for m in re.findall(r"^#{1,3} (.+)$", c.source, flags=re.M)]
    ids = set(re.findall(r'<h[123] id="([^"]+)"', page))
    assert len(ids) >= len(headings) > 0
    assert page.count("<section") >= sum(
        c.metadata["slideshow"]["slide_type"] in ("slide", "subslide") for c in read(lesson).cells)


def test_index_links_every_deck(decks):
    index = (decks / "index.html").read_text()
    for lesson in notebooks_in(LESSONS):
        assert f'href="{lesson.stem}.slides.html"' in index


def test_decks_load_nothing_from_the_network(decks):
    for deck in decks.glob("*.slides.html"):
        page = deck.read_text()
        remote = re.findall(r'(?:src|href)="(https?://[^"]+)"', page)
        remote += re.findall(r"""(?:from |require\(|Src = )['"](https?://[^'"]+)""", page)
        assert not remote, f"{deck.name} loads {remote}"
        assert 'src="vendor/requirejs/require.js"' in page
        assert "vendor/reveal.js/dist/reveal.js" in page


def test_decks_fit_the_frame_without_a_scroll_fallback(decks):
    # Every slide fits (measured in a browser below), so the template's scroll
    # bars stay off: they would also appear on a slide that fits but is a little
    # taller than 95 % of the window.
    for deck in decks.glob("*.slides.html"):
        page = deck.read_text()
        assert "var scroll = false" in page and "var scroll = true" not in page, deck.name


def test_decks_render_and_fit_the_frame_in_a_browser(decks):
    check = load("check_slides")
    if os.environ.get("GRADFLOW_REQUIRE_BROWSER") != "1":
        # Like the lesson browser suite: only on request, so `make test` stays fast.
        pytest.skip("browser check of the decks runs only with GRADFLOW_REQUIRE_BROWSER=1")
    missing = check.browser_missing()
    if missing:
        pytest.fail(f"GRADFLOW_REQUIRE_BROWSER=1 but {missing}")
    build = load("build_slides")
    vendor = ROOT / "build" / "slides" / "vendor"
    build.fetch_assets(vendor)  # once; later runs reuse build/slides/vendor
    # The decks `make slides` built above (the tests before read them), with the vendor files beside them:
    # not a second build of every deck.
    out = decks
    (out / "vendor").symlink_to(vendor, target_is_directory=True)
    # Two browsers, each in a thread of its own (check_decks): walking a deck mostly waits.
    results = check.check_decks(out, browsers=2)
    print(check.report(results))
    assert len(results) == len(notebooks_in(LESSONS))
    problems = []
    for deck in results:
        stem = deck.name.split(".")[0]
        problems += [f"{deck.name}: {e}" for e in deck.errors]
        assert deck.slides, f"{deck.name} has no slides"
        for s in deck.slides:
            where = f"{stem} slide {s.index[0]}.{s.index[1]}"
            if not s.rendered:
                problems.append(f"{where} did not render")
            if s.width > s.frame[0]:
                problems.append(f"{where} is {s.width}px wide, wider than the frame")
            if s.height > s.frame[1]:
                problems.append(f"{where} is {s.height}px tall in a {s.frame[1]}px frame")
    assert not problems, "\n".join(problems)
