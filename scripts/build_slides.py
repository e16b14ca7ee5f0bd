"""Build a reveal.js deck per lesson, and an index page, that work offline.

    python scripts/build_slides.py [--out build/slides] [--no-fetch] [LESSON.ipynb ...]

nbconvert's slides load reveal.js, require.js, jQuery, MathJax and the widget
renderer from CDNs. A projector room (and CI) may have no network, so the
decks point at copies in ``<out>/vendor/`` instead. The copies are the npm
packages listed in ASSETS, fetched once from the npm registry (a plain HTTPS
download, no npm needed), checked against their pinned sha512 and unpacked;
a later build reuses them. ``--no-fetch`` builds the decks without fetching.

The slide size is 1280 x 720 (16:9, a projector's shape): reveal.js scales the
whole slide to the window, so what fits at 1280 x 720 fits on any 16:9 screen.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import os
import re
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1280, 720


@dataclass(frozen=True)
class Asset:
    name: str        # npm package
    version: str     # reveal.js 4.0.2 is the version nbconvert 7's template is written for
    integrity: str   # npm's dist.integrity: the tarball's sha512
    folder: str      # under vendor/
    skip: tuple[str, ...] = ()  # path prefixes inside the package not needed by the decks

    @property
    def tarball(self) -> str:
        registry = os.environ.get("GRADFLOW_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")
        return f"{registry}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


ASSETS = (
    Asset("reveal.js", "4.0.2",
          "sha512-LWZSUenufF1gpD7npxJ7KfoQQFKgc1D6XrLTFgKlwWNP1BQ74hT48KONFWMAw+8R/QUeaScCLCLrBVHDfFIEiw==",
          "reveal.js", ("test/", "examples/", "demo.html")),
    Asset("requirejs", "2.3.7",
          "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
          "requirejs", ("bin/",)),
    Asset("jquery", "2.2.4",
          "sha512-lBHj60ezci2u1v2FqnZIraShGgEXq35qCzMv4lITyHGppTnA13rwR0MgwyNJh9TnDs3aXUvd1xjAotfraMHX/Q==",
          "jquery", ("src/",)),
    # MathJax 2, as nbconvert's templates call its MathJax.Hub API. The
    # uncompressed copy, the tests and all fonts but the TeX web fonts are
    # left out (the CommonHTML output uses only those).
    Asset("mathjax", "2.7.7",
          "sha512-OOl0B2/0tSJAtAZarXnQuLDBLgTNRqiI9VqHTQzPsxf4okT2iIpDrvaklK9x2QEMD1sDj4yRn11Ygci41DxMAQ==",
          "mathjax", ("unpacked/", "test/", "fonts/HTML-CSS/Asana", "fonts/HTML-CSS/Gyre", "fonts/HTML-CSS/Latin",
                      "fonts/HTML-CSS/Neo", "fonts/HTML-CSS/STIX", "fonts/HTML-CSS/TeX/png", "fonts/HTML-CSS/TeX/svg")),
    # Renders the widget state saved in the lessons (ipywidgets 8: html-manager 1.x).
    Asset("@jupyter-widgets/html-manager", "1.0.13",
          "sha512-NxJezzmgD+4aqYyEODuTtrNC6L7mA9JYPo5FOO0pWSkrLXgsadl342fdcCN5f0ZuI/OdzmRvz3QKxgk+vr0/7A==",
          "html-manager", ("lib/", "src/")),
    Asset("font-awesome", "4.7.0",
          "sha512-U6kGnykA/6bFmg1M/oT9EkFeIYv7JlX3bozwQJWiiLz6L0w3F5vBVPxHlwyX/vtNq1ckcpRKOB9f2Qal/VtFpg==",
          "font-awesome", ("less/", "scss/")),
)

# Where each script or style sheet of nbconvert's reveal template comes from,
# relative to a deck (the decks sit next to vendor/).
URLS = {
    "reveal_url_prefix": "vendor/reveal.js",
    "require_js_url": "vendor/requirejs/require.js",
    "jquery_url": "vendor/jquery/dist/jquery.min.js",
    "mathjax_url": "vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "widget_renderer_url": "vendor/html-manager/dist/embed-amd.js",
    "font_awesome_url": "vendor/font-awesome/css/font-awesome.min.css",
    # The lessons draw no mermaid diagrams; an inline stub module keeps the
    # template's import from reaching for a CDN (a module file would not load
    # from file:// in Chromium).
    "mermaid_js_url": "data:text/javascript,export default {initialize() {}};",
}


# Fitting a notebook's cells to a projected 1280 x 720 slide: code and its
# printed output a little smaller than in JupyterLab (14 px still reads from
# the back of a room), figures (also the ones inside widgets) no taller than
# about half the slide, so that a figure and the code that draws it share one
# slide. A widget (controls, picture, table) gets the whole slide below its two
# code lines: its picture is capped lower, its table set in a smaller font, and
# the two widgets with a tall table (the staged stepper, the shapes table) put
# the table beside the picture instead of below it.
PROJECTOR_CSS = """
<style id="gradflow-projector">
.reveal .jp-CodeMirrorEditor, .reveal .jp-InputArea-editor .highlight pre,
.reveal .jp-OutputArea-output pre, .reveal .jp-RenderedText pre { font-size: 14px !important; line-height: 1.25; }
.reveal .jp-OutputArea-output img { max-height: 400px; width: auto; height: auto; }
.reveal .jp-RenderedHTMLCommon { font-size: 19px; }
.reveal .jp-RenderedHTMLCommon :is(h1, h2, h3) { text-transform: none; }
.reveal .jp-RenderedHTMLCommon h1 { font-size: 44px; }
.reveal .jp-RenderedHTMLCommon h2 { font-size: 34px; }
.reveal .jp-RenderedHTMLCommon h3 { font-size: 26px; }
.reveal [class*="gradflow-"] .gradflow-picture img { max-height: 320px; width: auto !important; height: auto !important; }
.reveal [class*="gradflow-"] .widget-html-content { font-size: 15px; line-height: 1.3; }
.reveal [class*="gradflow-"] .widget-html-content :is(table, td, th, code) { font-size: inherit !important; }
.reveal [class*="gradflow-"] .widget-html-content :is(td, th) { padding: 2px 8px; }
.reveal :is(.gradflow-staged, .gradflow-shapes).widget-vbox { flex-flow: row wrap; align-items: flex-start; column-gap: 12px; }
.reveal :is(.gradflow-staged, .gradflow-shapes).widget-vbox > * { flex: 1 1 100%; }
.reveal .gradflow-staged.widget-vbox > .gradflow-picture { flex: 0 1 auto; max-width: 62% !important; }
.reveal .gradflow-staged.widget-vbox > .gradflow-picture img { max-height: 420px; }
.reveal .gradflow-shapes.widget-vbox > .gradflow-picture { flex: 0 1 auto; max-width: 30% !important; }
.reveal .gradflow-shapes.widget-vbox > .gradflow-picture img { max-height: 460px; }
.reveal :is(.gradflow-staged, .gradflow-shapes).widget-vbox > .gradflow-picture ~ .widget-html { flex: 1 1 0; min-width: 0; }
.reveal .gradflow-shapes .widget-html:not(.gradflow-picture) .widget-html-content { columns: 2; column-gap: 16px; font-size: 14px; line-height: 1.25; }
.reveal .gradflow-shapes .widget-html-content table { break-inside: avoid; }
.reveal .gradflow-shapes .widget-html-content table:first-of-type { break-after: column; }
.reveal .gradflow-staged .widget-html-content { font-size: 14px; }
</style>
<script type="text/x-mathjax-config">
// No automatic line breaks in formulas. The template re-renders a slide's
// formulas each time it is shown; breaking them then, against the width a
// table cell has while its formula is out, splits short formulas such as
// s = σ(x) over two lines and squeezes the table's other columns.
MathJax.Hub.Config({CommonHTML: {linebreaks: {automatic: false}}});
</script>
"""


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def fetch_assets(vendor: Path, assets: tuple[Asset, ...] = ASSETS) -> None:
    """Unpack every asset into vendor/<folder>, unless the same version is already there.

    The tarballs are kept in build/npm-cache/ (checked again on every use), so
    the slides and the site (scripts/build_site.py) download each package once.
    """
    vendor.mkdir(parents=True, exist_ok=True)
    cache = ROOT / "build" / "npm-cache"
    for asset in assets:
        target = vendor / asset.folder
        stamp = target / ".gradflow-integrity"
        if stamp.exists() and stamp.read_text() == asset.integrity:
            continue
        cached = cache / f"{asset.folder}-{asset.version}.tgz"
        data = cached.read_bytes() if cached.exists() else b""
        if _integrity(data) != asset.integrity:
            print(f"fetching {asset.name}@{asset.version} into {target}", file=sys.stderr)
            with urllib.request.urlopen(asset.tarball, timeout=120) as response:
                data = response.read()
            digest = _integrity(data)
            if digest != asset.integrity:
                raise RuntimeError(f"{asset.tarball}: sha512 {digest} is not the pinned {asset.integrity}")
            cache.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
        shutil.rmtree(target, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                inner = member.name.split("/", 1)[1] if "/" in member.name else ""
                if not inner or not (member.isfile() or member.isdir()) or inner.startswith(asset.skip):
                    continue
                member.name = inner
                tar.extract(member, target, filter="data")
        stamp.write_text(asset.integrity)


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def exporter():
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.SlidesExporter.update({k: v for k, v in URLS.items() if k != "mermaid_js_url"})
    config.SlidesExporter.reveal_width = str(WIDTH)
    config.SlidesExporter.reveal_height = str(HEIGHT)
    config.SlidesExporter.reveal_theme = "white"  # its fonts come with reveal.js; "simple" fetches Google fonts
    config.SlidesExporter.reveal_transition = "none"  # a projector shows the next slide at once
    config.SlidesExporter.reveal_number = "c/t"
    # Every slide fits the frame (tests/test_slides.py measures them), so no
    # scroll bars: the template's scroll fallback would also put one on a
    # slide that fits but is a little taller than 95 % of the window.
    config.SlidesExporter.reveal_scroll = False
    # No "In [7]:" column: the code gets the whole width of the slide.
    config.SlidesExporter.exclude_input_prompt = True
    config.SlidesExporter.exclude_output_prompt = True
    slides = SlidesExporter(config=config)
    slides.mermaid_js_url = URLS["mermaid_js_url"]  # not a configurable trait in nbconvert 7.17
    return slides


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, flags=re.M)
            if match:
                return match.group(1).strip()
    return ""


def build_decks(paths: list[Path], out: Path) -> list[Path]:
    """Write <out>/<stem>.slides.html for every lesson and <out>/index.html linking them."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    slides = exporter()
    written, rows = [], []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        body, _ = slides.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        deck = out / f"{path.stem}.slides.html"
        deck.write_text(body.replace("</head>", PROJECTOR_CSS + "</head>", 1), encoding="utf-8")
        written.append(deck)
        title = title_of(nb) or path.stem
        rows.append(f'  <li><a href="{deck.name}">{html.escape(title)}</a> <code>{path.stem}</code></li>')
    index = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Gradflow slides</title>',
        "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.6}"
        "code{color:#666;margin-left:.5em}</style></head><body>",
        "<h1>Gradflow: the lessons as slides</h1>",
        "<p>Arrow keys move, <kbd>Esc</kbd> shows the overview, <kbd>s</kbd> opens the speaker view. "
        "Widgets show their saved state; drive them live in JupyterLab.</p>",
        "<ol>", *rows, "</ol>", "</body></html>", "",
    ])
    (out / "index.html").write_text(index, encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", type=Path, help="lesson notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "slides")
    parser.add_argument("--no-fetch", action="store_true", help="do not fetch reveal.js & co. into <out>/vendor")
    args = parser.parse_args(argv)
    if not args.no_fetch:
        fetch_assets(args.out / "vendor")
    decks = build_decks(args.lessons or lessons(), args.out)
    print(f"built {len(decks)} decks in {args.out}; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
