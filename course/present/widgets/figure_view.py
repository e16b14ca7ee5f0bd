"""Showing a matplotlib figure inside a widget, fast and without printing.

The figure is rendered to PNG and shown by an ``ipywidgets.HTML`` as an
``<img>`` with alt text (``picture_widget`` and ``show_picture``): nothing
reaches the cell's output stream (nbval would compare it), an update costs
one PNG render instead of a new figure, and every update also says in words
what the picture now shows. (``ipywidgets.Image`` has no alt attribute; its
only text hook, ``tooltip``, becomes a hover pop-up.) Chromium shows a
``data:`` image in the same frame it is inserted, so swapping the ``<img>``
does not flicker.

``Blitter`` is the fast path for pictures where only a few artists change:
everything else is drawn once and kept as a bitmap, and an update draws the
changing artists over it (blitting) and encodes the PNG with light
compression. That is several times cheaper than ``savefig``.
"""

from __future__ import annotations

import io


def figure_png(figure, dpi: int = 96) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def canvas_png(canvas) -> bytes:
    """The Agg canvas's current pixels as an RGB PNG (fast compression: sent on every slider move)."""
    from PIL import Image

    width, height = canvas.get_width_height()
    picture = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba()).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


class Blitter:
    """Render ``figure`` fast when only the artists in ``moving`` change.

    The figure gets its own Agg canvas at ``dpi``; a layout engine (such as
    constrained layout) runs once in the first draw and is then switched off,
    so later frames cost only the moving artists and the PNG encoding.
    """

    def __init__(self, figure, moving, dpi: int = 96):
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        plt.close(figure)  # lives only in a widget: never shown as a static picture under the cell
        FigureCanvasAgg(figure)
        figure.set_dpi(dpi)
        self.figure = figure
        self.moving = list(moving)
        for artist in self.moving:
            artist.set_animated(True)  # left out of the full draw: drawn per frame
        figure.canvas.draw()
        figure.set_layout_engine("none")  # keep the positions the first draw computed
        figure.canvas.draw()
        self.background = figure.canvas.copy_from_bbox(figure.bbox)

    def png(self) -> bytes:
        canvas = self.figure.canvas
        canvas.restore_region(self.background)
        for artist in self.moving:
            self.figure.draw_artist(artist)
        return canvas_png(canvas)


PICTURE_CLASS = "gradflow-picture"


def picture_widget():
    """An empty HTML widget for a widget's picture; fill it with ``show_picture``."""
    import ipywidgets as widgets

    picture = widgets.HTML(layout=widgets.Layout(max_width="100%"))
    picture.add_class(PICTURE_CLASS)
    return picture


def show_picture(picture, png: bytes, alt: str) -> None:
    """Put ``png`` into ``picture`` (natural size, shrunk on narrow screens), with ``alt`` as its text alternative.

    The pictures are drawn on white: in a dark theme they stay a light panel on purpose.
    """
    from course.present.figures import img_html

    picture.value = img_html(png, alt)


def light_panel(html: str) -> str:
    """Wrap a widget's HTML (numbers, tables) in a light panel with dark text.

    The numbers are coloured like the pictures (blue values, dark orange
    gradients), which is legible on white only; the panel keeps them that way
    in JupyterLab's dark theme too, next to the pictures' own white.
    """
    return (f'<div style="background:#ffffff;color:#222222;padding:4px 8px;border-radius:4px;'
            f'display:inline-block;max-width:100%">{html}</div>')


class FigureView:
    """A picture widget that shows a figure; call ``refresh(alt)`` after changing it."""

    def __init__(self, figure, dpi: int = 96):
        import matplotlib.pyplot as plt

        self.figure = figure
        self.dpi = dpi
        # The figure lives only in this widget: keep pyplot from also showing
        # it as a static picture at the end of the cell.
        plt.close(figure)
        self.widget = picture_widget()

    def refresh(self, alt: str) -> None:
        show_picture(self.widget, figure_png(self.figure, self.dpi), alt)
