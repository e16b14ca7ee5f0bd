"""Pictures with a text alternative: a figure, or a widget's PNG, as ``<img alt=…>``.

Why an HTML ``<img>`` and not the usual ``image/png`` output: JupyterLab 4.6
draws an ``image/png`` output as an ``<img>`` without any alt attribute (its
image renderer reads only width, height, unconfined and needs_background from
the output's metadata), so a screen reader there hears nothing useful.
A ``text/html`` output holding ``<img src="data:image/png;base64,…" alt="…">``
is what JupyterLab, nbconvert (the slides and the site), nbviewer and VS Code
all show first, and its alt survives JupyterLab's HTML sanitizer (which
leaves ``src`` alone and keeps ``alt``). The bundle still carries the
``image/png`` with ``metadata["image/png"]["alt"]`` (for exports that take
the PNG, such as nbconvert's PDF and Markdown) and the alt text as
``text/plain``, which is also what strict nbval compares instead of
``<Figure size …>``.

The PNG bytes are deterministic (same matplotlib, same fonts, no date in the
file), so the ``text/html`` compares exactly on a rerun.
"""

from __future__ import annotations

import base64
import html
import io
import struct


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def img_html(png: bytes, alt: str, css_class: str = "") -> str:
    """An ``<img>`` of ``png`` with ``alt``, at its natural size, shrinking to fit a narrow page."""
    if not alt.strip():
        raise ValueError("a picture needs a text alternative: say what it shows and its key numbers")
    width, height = png_size(png)
    data = base64.b64encode(png).decode("ascii")
    klass = f' class="{css_class}"' if css_class else ""
    return (f'<img{klass} src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}"'
            f' width="{width}" height="{height}" style="max-width:100%;height:auto">')


def figure_png(figure) -> bytes:
    """The figure as the inline backend would show it (tight bounding box), without a Software stamp."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def show_figure(figure, alt: str) -> None:
    """Show ``figure`` under the cell with ``alt`` as its text alternative, then close it.

    ``alt`` says what the picture shows and its key numbers, in words a
    screen reader can read out (no colour as the only clue). Use it as the
    last line of a figure cell, in place of ``plt.show()``.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    png = figure_png(figure)
    plt.close(figure)  # shown once, here; the inline backend must not show it again at the end of the cell
    bundle = {
        "text/html": img_html(png, alt, "gradflow-figure"),
        "image/png": base64.b64encode(png).decode("ascii"),
        "text/plain": alt,
    }
    display(bundle, raw=True, metadata={"image/png": {"alt": alt}})
