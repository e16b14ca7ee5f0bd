"""Showing a matplotlib figure inside a widget, fast and without printing.

The figure is rendered to PNG and handed to an ``ipywidgets.Image``: nothing
reaches the cell's output stream (nbval would compare it), and an update
costs one PNG render instead of a new figure.

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


class FigureView:
    """An Image widget that shows a figure; call ``refresh()`` after changing it."""

    def __init__(self, figure, dpi: int = 96):
        import ipywidgets as widgets
        import matplotlib.pyplot as plt

        self.figure = figure
        self.dpi = dpi
        # The figure lives only in this widget: keep pyplot from also showing
        # it as a static picture at the end of the cell.
        plt.close(figure)
        # Shown at its natural size (never stretched), shrunk on narrow screens.
        width = int(figure.get_figwidth() * dpi)
        self.widget = widgets.Image(format="png", layout=widgets.Layout(width=f"{width}px", max_width="100%",
                                                                          height="auto"))
        self.refresh()

    def refresh(self) -> None:
        self.widget.value = figure_png(self.figure, self.dpi)
