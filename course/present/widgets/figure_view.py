"""Showing a matplotlib figure inside a widget, fast and without printing.

The figure is rendered to PNG and handed to an ``ipywidgets.Image``: nothing
reaches the cell's output stream (nbval would compare it), and an update
costs one PNG render instead of a new figure.
"""

from __future__ import annotations

import io


def figure_png(figure, dpi: int = 96) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


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
