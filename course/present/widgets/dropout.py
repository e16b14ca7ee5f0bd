"""The dropout widget: a keep_prob slider, the mask over a batch, and what
the output's statistics should be, for correct dropout and for the version
with keep and drop swapped.

For an input x, correct inverted dropout gives, per unit, ``E[out] = x`` and
``Var[out] = x**2 (1 - keep_prob) / keep_prob``; it keeps a fraction
``keep_prob`` of the units. The swapped version keeps a fraction
``1 - keep_prob`` and has variance ``x**2 keep_prob / (1 - keep_prob)``, but
the same mean: the slider shows the mean staying put while the kept fraction
and the variance give the swap away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.dropout import (
    dropout_forward,
    expected_statistics,
    measured_statistics,
    swapped_dropout_forward,
)

BATCH_SHAPE = (24, 48)  # examples x features: small enough to see each unit


@dataclass(frozen=True)
class DropoutState:
    keep_prob: float
    swapped: bool
    x: np.ndarray
    mask: np.ndarray
    out: np.ndarray
    measured: dict[str, float]
    expected: dict[str, float]  # what a *correct* dropout gives on average

    def rows(self) -> list[tuple[str, float, float]]:
        return [
            ("kept fraction", self.measured["kept"], self.expected["kept"]),
            ("mean of out", self.measured["mean"], self.expected["mean"]),
            ("variance of out", self.measured["variance"], self.expected["variance"]),
        ]

    def summary(self) -> str:
        return "   ".join(f"{name}: {got:.3f} (expected {want:.3f})" for name, got, want in self.rows())


def dropout_state(keep_prob: float, swapped: bool = False, seed: int = 0,
                  shape: tuple[int, int] = BATCH_SHAPE) -> DropoutState:
    """One dropout draw over a batch of positive activations.

    The activations come from ``seed``, and so do the uniform numbers behind
    the mask; both versions and every keep_prob use the same numbers, so
    moving the slider turns units on one by one instead of reshuffling them.
    """
    x = np.random.default_rng([seed, 0]).uniform(0.5, 1.5, size=shape)  # e.g. after a ReLU
    forward = swapped_dropout_forward if swapped else dropout_forward
    out, cache = forward(x, keep_prob, np.random.default_rng([seed, 1]))
    return DropoutState(keep_prob, swapped, x, cache.mask, out,
                        measured_statistics(x, out, cache.mask), expected_statistics(x, keep_prob))


class DropoutPicture:
    """The mask as an image, and kept fraction and mean against keep_prob.

    Drawing the axes, ticks and legend costs most of a render, and they never
    change; so they are drawn once, kept as a background bitmap, and an
    update only redraws the moving artists on top of it (blitting) and
    encodes the PNG. That keeps an update far below a full redraw.
    """

    def __init__(self, state: DropoutState, dpi: int = 96):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure

        from course.present.palette import GRADIENT, INK, MUTED, NODE_FACE, VALUE

        # A figure outside pyplot, on its own Agg canvas: it is never shown
        # below the cell, and the backend cannot swap its canvas away.
        self.figure = Figure(figsize=(9.0, 3.4), dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.mask_axes, self.stats_axes = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        self.figure.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.9, wspace=0.18)
        self.image = self.mask_axes.imshow(state.mask, cmap=ListedColormap([NODE_FACE, VALUE]), vmin=0, vmax=1,
                                           interpolation="nearest", aspect="auto")
        self.mask_axes.set_title("the mask over a batch (blue = kept)", fontsize=10)
        self.mask_axes.set_xlabel("feature")
        self.mask_axes.set_ylabel("example")

        p = np.linspace(0.0, 1.0, 101)
        ax = self.stats_axes
        ax.plot(p, p, color=VALUE, label="kept, correct")
        ax.plot(p, 1.0 - p, color=GRADIENT, linestyle="--", label="kept, swapped")
        ax.axhline(1.0, color=MUTED, linestyle=":", label="mean out / mean x")
        self.kept_marker, = ax.plot([], [], "o", color=INK, markersize=8, label="kept, measured")
        self.mean_marker, = ax.plot([], [], "s", color=INK, markerfacecolor="none", markersize=8,
                                    label="mean ratio, measured")
        self.cursor = ax.axvline(state.keep_prob, color=INK, linewidth=0.8)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.6)
        ax.set_xlabel("keep_prob")
        ax.set_title("measured against expected", fontsize=10)
        ax.legend(loc="upper center", fontsize=7, ncols=2, frameon=False, columnspacing=1.0)

        from course.present.widgets.figure_view import Blitter

        self.blitter = Blitter(self.figure, (self.image, self.kept_marker, self.mean_marker, self.cursor), dpi=dpi)
        self.update(state)

    def update(self, state: DropoutState) -> None:
        self.image.set_data(state.mask)
        p = state.keep_prob
        self.kept_marker.set_data([p], [state.measured["kept"]])
        self.mean_marker.set_data([p], [state.measured["mean"] / state.expected["mean"]])
        self.cursor.set_xdata([p, p])

    def png(self) -> bytes:
        """The current picture as PNG bytes: the background plus the moving artists."""
        return self.blitter.png()


def picture_alt(state: DropoutState) -> str:
    """The picture in words: the mask's count of kept units, then the measured points against the lines."""
    n, f = state.mask.shape
    kept = int(state.mask.sum())
    version = "swapped (the article's)" if state.swapped else "correct"
    return (f"Left: the dropout mask of the {version} version over a batch of {n} examples by {f} features,"
            f" kept units dark blue, dropped ones light grey: {kept} of {n * f} kept"
            f" ({state.measured['kept']:.3f}). Right: kept fraction and mean against keep_prob from 0 to 1,"
            f" with the lines kept = keep_prob (correct), kept = 1 - keep_prob (swapped) and mean ratio 1;"
            f" at keep_prob = {state.keep_prob:.2f} the measured kept fraction is {state.measured['kept']:.3f}"
            f" (correct dropout expects {state.expected['kept']:.3f}) and the measured mean ratio is"
            f" {state.measured['mean'] / state.expected['mean']:.3f}.")


def _table_html(state: DropoutState) -> str:
    rows = "".join(f"<tr><td>{name}</td><td>{got:.3f}</td><td>{want:.3f}</td></tr>"
                   for name, got, want in state.rows())
    # Spacing between the columns: without it the headers ran together.
    return ("<table style='border-spacing:14px 2px;margin-left:-14px'><tr><td></td><th>measured</th>"
            f"<th>expected (correct dropout)</th></tr>{rows}</table>"
            "<small>per unit: E[out] = x, Var[out] = x²(1 − p)/p with p = keep_prob</small>")



def dropout_widget(keep_prob: float = 0.8, swapped: bool = False, seed: int = 0):
    """A keep_prob slider and a correct/swapped switch above the mask and its statistics."""
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=keep_prob, min=0.05, max=0.95, step=0.05, description="keep_prob",
                                 continuous_update=True, readout_format=".2f")
    version = widgets.ToggleButtons(options=[("correct", False), ("swapped (article)", True)], value=swapped,
                                    description="version")
    table = widgets.HTML()
    from course.present.widgets.figure_view import picture_widget, show_picture

    picture = DropoutPicture(dropout_state(keep_prob, swapped, seed))
    image = picture_widget()

    def redraw(_change=None) -> None:
        state = dropout_state(slider.value, version.value, seed)
        picture.update(state)
        show_picture(image, picture.png(), picture_alt(state))
        table.value = _table_html(state)

    slider.observe(redraw, names="value")
    version.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([slider, version]), image, table])
    box.add_class("gradflow-dropout")
    return box
