"""Build the course as a static website that works offline, into build/site/.

    python scripts/build_site.py [--out build/site] [--no-fetch]

Every lesson in notebooks/ and every exercise notebook in exercises/ (found on
disk, so a new concept needs no change here) becomes a page, with its saved
outputs, formulas typeset by MathJax, code highlighted, and each widget drawn
from its saved state by the same offline widget renderer the slides use;
under each widget a line says how to make it live. ``index.html`` has the
course map; every page has a table of contents and previous/next links, in
course order (lesson 01, its exercises, lesson 02, ...).

Nothing is loaded from the network: require.js, MathJax and the widget
renderer are the pinned npm packages of scripts/build_slides.py,
unpacked into <out>/vendor/ (fetched once, checked against their sha512).
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_slides import ASSETS, fetch_assets, title_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# (The widget renderer brings its own icon font.)
SITE_ASSETS = tuple(a for a in ASSETS if a.folder in ("requirejs", "mathjax", "html-manager"))
URLS = {
    "require_js_url": "vendor/requirejs/require.js",
    "mathjax_url": "vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "widget_renderer_url": "vendor/html-manager/dist/embed-amd.js",
}
# The lessons draw no mermaid diagrams; an inline stub keeps the template from reaching for a CDN.
MERMAID_STUB = "data:text/javascript,export default {initialize() {}};"

LIVE_NOTE = ("<p class=\"gf-live\"><strong>This widget shows its saved state.</strong> To make it live, with the "
             "picture following the controls: run <code>make lab</code> and open <code>{path}</code> in JupyterLab.</p>")
EXERCISE_NOTE = ("<p class=\"gf-live\"><strong>Your notebook.</strong> Work in it in JupyterLab: run "
                 "<code>make lab</code>, open <code>{path}</code>, write each function where it says "
                 "<code>raise NotImplementedError</code> and run the check cell under it.</p>")

# The site's own frame: header, table of contents beside the page, previous/next.
# Colours are chosen for a contrast of at least 4.5 : 1 on their background;
# the code colours override the two of the template's that fall short on the
# grey code background (comments, and the input prompt).
SITE_CSS = """
<style id="gradflow-site">
:root { --jp-mirror-editor-comment-color: #2f6363; --jp-mirror-editor-keyword-color: #006b00;
  --jp-mirror-editor-builtin-color: #006b00; --jp-mirror-editor-number-color: #006b00;
  --jp-mirror-editor-operator-color: #7a1fd0; --jp-mirror-editor-meta-color: #7a1fd0;
  --jp-mirror-editor-variable-3-color: #006b44; --jp-mirror-editor-error-color: #c00000; }
body.jp-Notebook { padding: 0; }
.gf-header { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; align-items: baseline; padding: 10px 24px;
  border-bottom: 1px solid #d0d0d0; background: #f8f8f8; font-family: var(--jp-ui-font-family); }
.gf-header a { color: #1a56a0; }
.gf-header .gf-home { font-weight: bold; font-size: 1.1em; color: #222; text-decoration: none; }
.gf-layout { display: flex; align-items: flex-start; gap: 24px; padding: 0 24px; }
.gf-toc { position: sticky; top: 0; flex: 0 0 230px; max-height: 100vh; overflow-y: auto; padding: 16px 0;
  font-family: var(--jp-ui-font-family); font-size: 13px; line-height: 1.4; }
.gf-toc h2 { font-size: 14px; margin: 0 0 6px; }
.gf-toc ul { list-style: none; padding-left: 0; margin: 0; }
.gf-toc li { margin: 3px 0; }
.gf-toc li.gf-l3 { padding-left: 12px; }
.gf-toc a { color: #1a56a0; text-decoration: none; }
.gf-toc a:hover, .gf-toc a:focus { text-decoration: underline; }
.gf-page { flex: 1 1 auto; min-width: 0; padding: 16px 0 40px; }
.gf-live { margin: 4px 0 12px; padding: 6px 10px; border-left: 4px solid #1a56a0; background: #eef4fb; color: #222;
  font-family: var(--jp-ui-font-family); font-size: 13px; }
.gf-pager { display: flex; justify-content: space-between; gap: 1em; margin: 32px 0 0; padding-top: 12px;
  border-top: 1px solid #d0d0d0; font-family: var(--jp-ui-font-family); }
.gf-pager a { color: #1a56a0; }
a:focus-visible { outline: 2px solid #1a56a0; outline-offset: 2px; }
@media (max-width: 900px) { .gf-layout { display: block; } .gf-toc { position: static; max-height: none; } }
</style>
"""


# The widget renderer draws ipywidgets' own markup, which leaves two controls
# without a name a screen reader can say: a slider's handle (role="slider")
# and the icon-only buttons of a Play widget. Once the widgets are drawn, this
# names each handle after its slider's label and each button after its icon.
WIDGET_NAMES_JS = """
<script>
(function () {
  function name() {
    document.querySelectorAll('.widget-slider').forEach(function (s) {
      var handle = s.querySelector('.noUi-handle'), label = s.querySelector('.widget-label');
      if (handle && !handle.hasAttribute('aria-label')) {
        handle.setAttribute('aria-label', (label && label.textContent.trim()) || 'value');
      }
    });
    document.querySelectorAll('.widget-play button').forEach(function (b) {
      var icon = b.querySelector('i'), m = icon && /fa-(play|pause|stop|repeat|sync|redo)/.exec(icon.className);
      if (!b.hasAttribute('aria-label')) { b.setAttribute('aria-label', m ? m[1] : 'play control'); }
    });
  }
  new MutationObserver(name).observe(document.documentElement, {childList: true, subtree: true});
}());
</script>
"""


@dataclass(frozen=True)
class Page:
    source: Path  # the notebook
    href: str  # the page's file name in the site
    title: str
    kind: str  # "lesson" or "exercises"
    stem: str


def course_pages() -> list[Page]:
    """Every lesson and exercise notebook on disk, in course order: lesson NN, then its exercises."""
    import nbformat

    pages = []
    for lesson in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        title = title_of(nbformat.read(lesson, as_version=4)) or lesson.stem
        pages.append(Page(lesson, f"{lesson.stem}.html", title, "lesson", lesson.stem))
        exercises = ROOT / "exercises" / lesson.name
        if exercises.exists():
            ex_title = title_of(nbformat.read(exercises, as_version=4)) or f"Exercises: {title}"
            pages.append(Page(exercises, f"{lesson.stem}.exercises.html", ex_title, "exercises", lesson.stem))
    return pages


def summary_of(nb) -> str:
    """The first paragraph after the lesson's title, as Markdown: its pitch on the course map.

    A closing sentence that only announces a list ("In this lesson you will:")
    is left out: the list itself is not part of the pitch.
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(r"^# ", cell.source, flags=re.M):
            paragraphs = [p.strip() for p in re.split(r"\n\s*\n", cell.source) if p.strip()]
            for p in paragraphs:
                if not p.startswith("#"):
                    text = " ".join(p.split())
                    if text.endswith(":"):
                        text = re.sub(r"(?<=[.!?])\s+[^.!?]*:$", "", text)
                    return text
    return ""


def markdown_html(text: str) -> str:
    """Markdown to HTML as the lesson pages get it (nbconvert's renderer); TeX is left to MathJax."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def topics_sentence(pages: list[Page]) -> str:
    """Every lesson's title in order, so the introduction names them all (and stays true when one is added)."""
    titles = [p.title.split("·", 1)[-1].strip() for p in pages if p.kind == "lesson"]
    titles = [t[:1].lower() + t[1:] for t in titles]
    listed = "; ".join(titles[:-1]) + ("; and " if len(titles) > 1 else "") + titles[-1] if titles else ""
    return f"Its {len(titles)} lessons: {listed}." if titles else ""


def exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.update(URLS)
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    exporter = HTMLExporter(config=config, template_name="lab")
    exporter.mermaid_js_url = MERMAID_STUB
    return exporter


def with_live_notes(nb, path: str):
    """A copy of the notebook with the 'make it live' line as an output under each widget."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and "widget" in cell.metadata.get("gradflow", {}):
            cell.outputs.append(nbformat.v4.new_output(
                "display_data", data={"text/html": LIVE_NOTE.format(path=html.escape(path))}))
    return nb


def toc_html(body: str) -> str:
    """A list of the page's h1-h3 headings (nbconvert gives each an id)."""
    items = []
    for level, anchor, inner in re.findall(r'<h([123]) id="([^"]+)"[^>]*>(.*?)</h\1>', body, flags=re.S):
        text = re.sub(r"<a class=\"anchor-link\".*?</a>", "", inner, flags=re.S)
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())
        if text:
            items.append(f'<li class="gf-l{level}"><a href="#{anchor}">{html.escape(text)}</a></li>')
    return ('<nav class="gf-toc" aria-label="On this page"><h2>On this page</h2><ul>'
            + "".join(items) + "</ul></nav>")


def header_html(page: Page | None) -> str:
    where = ""
    if page is not None:
        folder = "notebooks" if page.kind == "lesson" else "exercises"
        where = f'<span>{html.escape(page.title)} <code>{folder}/{page.source.name}</code></span>'
    return (f'<header class="gf-header"><a class="gf-home" href="index.html">Gradflow: backpropagation by hand</a>'
            f'{where}<a href="index.html#course-map">Course map</a></header>')


def pager_html(previous: Page | None, following: Page | None) -> str:
    left = f'<a href="{previous.href}" rel="prev">← {html.escape(previous.title)}</a>' if previous else "<span></span>"
    right = f'<a href="{following.href}" rel="next">{html.escape(following.title)} →</a>' if following else "<span></span>"
    return f'<nav class="gf-pager" aria-label="Previous and next page">{left}{right}</nav>'


def frame(document: str, page: Page, previous: Page | None, following: Page | None) -> str:
    """Put the exported notebook into the site's frame: header, contents, the page, previous/next."""
    head, sep, rest = document.partition("</head>")
    assert sep, "the exported page has no </head>"
    document = head + SITE_CSS + WIDGET_NAMES_JS + sep + rest
    main_open = re.search(r"<main>", document)
    main_close = document.rfind("</main>")
    assert main_open and main_close > 0, "the exported page has no <main>"
    body = document[main_open.end():main_close]
    intro = ""
    if page.kind == "exercises":
        intro = EXERCISE_NOTE.format(path=html.escape(f"exercises/{page.source.name}"))
    return (document[:main_open.start()] + header_html(page) + '<div class="gf-layout">' + toc_html(body)
            + '<main class="gf-page">' + intro + body + pager_html(previous, following) + "</main></div>"
            + document[main_close + len("</main>"):])


def index_html(pages: list[Page]) -> str:
    import nbformat

    rows = []
    for page in pages:
        if page.kind != "lesson":
            continue
        nb = nbformat.read(page.source, as_version=4)
        number = page.stem.split("_", 1)[0]
        exercises = next((p for p in pages if p.kind == "exercises" and p.stem == page.stem), None)
        ex_link = f'<a href="{exercises.href}">exercises</a>' if exercises else ""
        rows.append(f"<tr><td>{number}</td><td><a href=\"{page.href}\">{html.escape(page.title)}</a></td>"
                    f"<td>{markdown_html(summary_of(nb))}</td><td>{ex_link}</td></tr>")
    first = pages[0].href if pages else "index.html"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
        "<title>Gradflow: backpropagation by hand</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:0 auto;padding:0 1em 3em;"
        "line-height:1.55;color:#222;background:#fff}a{color:#1a56a0}"
        "table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:8px;"
        "border-bottom:1px solid #d0d0d0}th{background:#f3f3f3}code{background:#f3f3f3;padding:0 3px}"
        "a:focus-visible{outline:2px solid #1a56a0;outline-offset:2px}td p{margin:0}</style>",
        # TeX in the lessons' summaries is typeset by the same offline MathJax as the pages'.
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["$", "$"],'
        ' ["\\\\(", "\\\\)"]], processEscapes: true}});</script>',
        f'<script src="{URLS["mathjax_url"]}"></script></head><body>',
        '<header><h1>Gradflow: backpropagation by hand</h1></header><main>',
        "<p>An interactive course that teaches you to derive, compute and check gradients yourself, from "
        f"single gates to a whole network. {html.escape(topics_sentence(pages))} These pages show every lesson "
        "with its saved outputs and widgets, and every exercise notebook. To run the code, move the widgets' "
        "controls and have your exercises checked, clone the course and run <code>make lab</code>.</p>",
        f'<p><a href="{first}">Start with the first lesson →</a></p>',
        '<h2 id="course-map">Course map</h2>',
        "<table><thead><tr><th scope=\"col\">#</th><th scope=\"col\">lesson</th><th scope=\"col\">what it teaches</th>"
        "<th scope=\"col\">your notebook</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
        "</main></body></html>", "",
    ])


def place_widget_fonts(out: Path) -> None:
    """Copy the widget renderer's icon fonts to where its style sheet looks for them.

    Loaded through require.js, the renderer resolves its fonts against the
    page, under @jupyter-widgets/ and @jupyter-widgets/html-manager/dist/.
    """
    dist = out / "vendor" / "html-manager" / "dist"
    if not dist.exists():
        return
    for folder in (out / "@jupyter-widgets", out / "@jupyter-widgets" / "html-manager" / "dist"):
        folder.mkdir(parents=True, exist_ok=True)
        for font in dist.iterdir():
            if font.suffix in (".woff2", ".woff", ".ttf", ".eot", ".svg"):
                shutil.copyfile(font, folder / font.name)


def build_site(out: Path) -> list[Path]:
    """Write every page and index.html into ``out``; returns the pages written (index first)."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    place_widget_fonts(out)
    pages = course_pages()
    html_exporter = exporter()
    written = []
    index = out / "index.html"
    index.write_text(index_html(pages), encoding="utf-8")
    written.append(index)
    for k, page in enumerate(pages):
        nb = nbformat.read(page.source, as_version=4)
        if page.kind == "lesson":
            nb = with_live_notes(nb, f"notebooks/{page.source.name}")
        nb.metadata["title"] = page.title
        body, _ = html_exporter.from_notebook_node(nb, resources={"metadata": {"name": page.stem}})
        previous = pages[k - 1] if k > 0 else None
        following = pages[k + 1] if k + 1 < len(pages) else None
        target = out / page.href
        target.write_text(frame(body, page, previous, following), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--no-fetch", action="store_true", help="do not fetch MathJax & co. into <out>/vendor")
    args = parser.parse_args(argv)
    if not args.no_fetch:
        fetch_assets(args.out / "vendor", SITE_ASSETS)
    pages = build_site(args.out)
    print(f"built {len(pages)} pages in {args.out}; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
