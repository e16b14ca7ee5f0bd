"""`make site`: the course as a static website that works offline.

The build tests run the site build (without fetching MathJax & co.) and read
the pages. The browser test (only with GRADFLOW_REQUIRE_BROWSER=1, like the
other browser tests) puts the vendor files beside the pages the build tests read,
opens every page from file:// in headless chromium with every other request
blocked, and fails on any failed request, console error or page error, on a
widget that did not render, on an image without alt text, and on any serious
or critical axe-core violation.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import EXERCISES, LESSONS, ROOT, gradflow, notebooks_in, read


def load(script: str):
    if script not in sys.modules:
        spec = importlib.util.spec_from_file_location(script, ROOT / "scripts" / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[script] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[script]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    load("build_site").build_site(out)
    return out


def pages_of(site) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(site.glob("*.html"))}


def test_makefile_target_runs_the_build_script():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^site: setup\n\t\$\(BIN\)/python scripts/build_site.py", makefile, flags=re.M)


def test_every_lesson_and_exercise_notebook_on_disk_is_a_page(site):
    names = set(pages_of(site))
    expected = {f"{p.stem}.html" for p in notebooks_in(LESSONS)}
    expected |= {f"{p.stem}.exercises.html" for p in notebooks_in(EXERCISES)}
    assert expected and expected | {"index.html"} == names


def test_index_has_the_course_map_linking_every_page(site):
    index = (site / "index.html").read_text()
    assert 'id="course-map"' in index
    for lesson in notebooks_in(LESSONS):
        assert f'href="{lesson.stem}.html"' in index
        assert f'href="{lesson.stem}.exercises.html"' in index


def test_pages_follow_the_course_order_with_previous_and_next(site):
    order = [p.href for p in load("build_site").course_pages()]
    assert order[:2] == ["01_chain_rule.html", "01_chain_rule.exercises.html"]
    for k, name in enumerate(order):
        page = (site / name).read_text()
        if k > 0:
            assert f'href="{order[k - 1]}" rel="prev"' in page, name
        if k + 1 < len(order):
            assert f'href="{order[k + 1]}" rel="next"' in page, name


def test_every_page_has_a_table_of_contents_of_its_headings(site):
    for name, page in pages_of(site).items():
        if name == "index.html":
            continue
        toc = re.search(r'<nav class="gf-toc".*?</nav>', page, flags=re.S)
        assert toc, f"{name} has no table of contents"
        anchors = re.findall(r'href="#([^"]+)"', toc.group(0))
        assert len(anchors) >= 3, name
        for anchor in anchors:
            assert f'id="{anchor}"' in page, f"{name}: contents link #{anchor} leads nowhere"


@pytest.mark.parametrize("lesson", notebooks_in(LESSONS), ids=lambda p: p.stem)
def test_each_widget_has_its_saved_state_and_a_make_it_live_line(site, lesson):
    page = (site / f"{lesson.stem}.html").read_text()
    widgets = [c for c in read(lesson).cells if gradflow(c).get("widget")]
    assert widgets
    assert page.count('<script type="application/vnd.jupyter.widget-view+json">') == len(widgets)
    assert page.count("application/vnd.jupyter.widget-state+json") == 1
    assert page.count("To make it live") == len(widgets)
    assert f"<code>make lab</code> and open <code>notebooks/{lesson.name}</code>" in page


def test_pages_load_nothing_from_the_network(site):
    for name, page in pages_of(site).items():
        remote = re.findall(r'<(?:script|img|link|iframe|source)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]+)"', page)
        remote += re.findall(r"""(?:from |require\(|Src = )['"]((?:https?:)?//[^'"]+)""", page)
        assert not remote, f"{name} loads {remote}"
    lesson = (site / "01_chain_rule.html").read_text()
    for local in ("vendor/requirejs/require.js", "vendor/mathjax/MathJax.js", "vendor/html-manager/dist/embed-amd.js"):
        assert local in lesson


def test_every_static_image_has_alt_text(site):
    for name, page in pages_of(site).items():
        # (The widgets' pictures are in their saved state, a script; the browser test checks them.)
        page = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
        for tag in re.findall(r"<img\b[^>]*>", page):
            alt = re.search(r'\balt="([^"]*)"', tag)
            assert alt and len(html.unescape(alt.group(1)).strip()) > 20, f"{name}: {tag[:160]}"


def _visible_prose(page: str) -> str:
    """The text a reader sees outside code: scripts, styles, code and widget state removed, TeX kept."""
    page = re.sub(r"<(script|style|pre|code|textarea)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r'<div class="jp-InputArea.*?</div>\s*</div>\s*</div>', " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


MARKDOWN_LEFT = [
    (r"\*\*[^*\s][^*]*\*\*", "**bold**"),
    (r"(?<![\w*\\])\*[A-Za-z][^*\n$]*[A-Za-z.]\*(?![\w*])", "*emphasis*"),
    (r"`[^`\n]+`", "`code`"),
    (r"\]\([^)\s]+\)", "[link](target)"),
    (r"(?m)^\s*#{1,6} \S", "# heading"),
]


def test_no_page_shows_markdown_source_and_tex_is_typeset(site):
    """Markdown rendered everywhere (the index's summaries too), and every page with TeX loads MathJax."""
    for name, page in pages_of(site).items():
        prose = _visible_prose(page)
        without_tex = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", " ", prose, flags=re.S)
        for pattern, what in MARKDOWN_LEFT:
            found = re.findall(pattern, without_tex)
            assert not found, f"{name} shows Markdown source ({what}): {found[:3]}"
        if re.search(r"\$[^$\n]+\$|\\(?:frac|times|sum|mathrm)\b", prose):
            assert "vendor/mathjax/MathJax.js" in page, f"{name} shows TeX but loads no MathJax to typeset it"


def test_the_index_renders_each_lessons_summary_and_names_every_lesson(site):
    build = load("build_site")
    index = (site / "index.html").read_text()
    assert "<strong>stages</strong>" in index and "<em>Backpropagation</em>" in index
    assert "In this lesson you will" not in index  # a sentence that announces a list is not a summary
    intro = re.search(r"<p>An interactive course.*?</p>", index, flags=re.S).group(0)
    for page in build.course_pages():
        if page.kind == "lesson":
            topic = page.title.split("·", 1)[-1].strip()
            assert html.escape(topic[:1].lower() + topic[1:]) in intro, topic


# ----- in a browser ----------------------------------------------------------------------------

def _check_pages_in_browser(out, pages: list[str]) -> dict[str, dict]:
    """Open each page from file:// with every non-local request blocked; what went wrong, per page."""
    from a11y import blocking, run_axe
    from lab_browser import launch_browser
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        blocked: list[str] = []

        def gate(route):
            url = route.request.url
            if url.startswith(("file://", "data:", "blob:")):
                route.continue_()
            else:
                blocked.append(url)
                route.abort()

        context.route("**/*", gate)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))
        for name in pages:
            blocked.clear()
            problems.clear()
            page.goto((out / name).as_uri(), wait_until="load")
            stem = name.split(".")[0]
            lesson = LESSONS / f"{stem}.ipynb"
            widgets = [gradflow(c)["widget"] for c in read(lesson).cells if gradflow(c).get("widget")] \
                if name.endswith(".html") and not name.endswith(".exercises.html") and name != "index.html" else []
            for widget in widgets:
                selector = f".gradflow-{widget.replace('_', '-')} .gradflow-picture img"
                try:
                    page.wait_for_selector(selector, timeout=30_000)
                except Exception:  # noqa: BLE001 - reported as a problem below
                    problems.append(f"widget {widget} did not render")
            # MathJax has typeset the page once its queue is empty (the index too: its summaries hold TeX).
            page.wait_for_function(
                "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
                " && MathJax.Hub.queue.running === 0", timeout=60_000)
            no_alt = page.eval_on_selector_all(
                "img", "imgs => imgs.filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.outerHTML.slice(0, 120))")
            # TeX a reader would see as source: '$' or a backslash command left in text outside code.
            tex_left = page.evaluate("""() => {
                const found = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                while (walker.nextNode()) {
                    const node = walker.currentNode, parent = node.parentElement;
                    if (!parent || parent.closest('pre, code, script, style, textarea, .jp-InputArea')) continue;
                    if (/\\$[^$]+\\$|\\\\(frac|times|sum|hat|mathrm)\\b/.test(node.textContent))
                        found.push(node.textContent.trim().slice(0, 80));
                }
                return found;
            }""")
            violations = run_axe(page)
            results[name] = {
                "problems": list(problems) + [f"blocked request: {u}" for u in blocked],
                "images": page.eval_on_selector_all("img", "imgs => imgs.length"),
                "no_alt": no_alt,
                "tex_left": tex_left,
                "widgets": widgets,
                "violations": violations,
                "blocking": blocking(violations),
            }
        context.close()
        browser.close()
    return results


def test_site_pages_in_a_browser_offline(site):
    if os.environ.get("GRADFLOW_REQUIRE_BROWSER") != "1":
        pytest.skip("browser check of the site runs only with GRADFLOW_REQUIRE_BROWSER=1")
    from lab_browser import browser_missing

    if (missing := browser_missing()) is not None:
        pytest.fail(f"GRADFLOW_REQUIRE_BROWSER=1 but {missing}: run scripts/install-browser.sh", pytrace=False)
    build = load("build_site")
    vendor = ROOT / "build" / "site" / "vendor"
    build.fetch_assets(vendor, build.SITE_ASSETS)  # once; later runs reuse build/site/vendor
    # The pages the tests above read, with the vendor files beside them: the same build_site, not a second build
    # (nbconvert on every notebook again). What `make site` adds when the files are there: the widget fonts.
    out = site
    (out / "vendor").symlink_to(vendor, target_is_directory=True)
    build.place_widget_fonts(out)
    pages = ["index.html"] + [page.href for page in build.course_pages()]
    assert sorted(pages) == sorted(p.name for p in out.glob("*.html"))
    # Two browsers at once, each in a thread of its own with its own Playwright (the sync API keeps one per
    # thread), every other page in each: a page mostly waits for MathJax, which typesets in timed chunks.
    groups = [pages[0::2], pages[1::2]]
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        parts = list(pool.map(lambda group: _check_pages_in_browser(out, group), groups))
    checked = {name: r for part in parts for name, r in part.items()}
    results = {name: checked[name] for name in pages}
    report = []
    for name, r in results.items():
        counts = {}
        for v in r["violations"]:
            counts[v.impact] = counts.get(v.impact, 0) + 1
        report.append(f"{name}: {r['images']} images, widgets {r['widgets']}, axe violations by impact {counts}")
    print("\n".join(report))
    failures = []
    for name, r in results.items():
        failures += [f"{name}: {p}" for p in r["problems"]]
        failures += [f"{name}: image without alt text: {t}" for t in r["no_alt"]]
        failures += [f"{name}: TeX shown as source: {t}" for t in r["tex_left"]]
        failures += [f"{name}: axe: {v}" for v in r["blocking"]]
    assert not failures, "\n".join(failures)
