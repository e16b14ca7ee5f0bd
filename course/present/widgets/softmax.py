"""The softmax widget: one example's class scores, a temperature and the
correct class; bars show the probabilities and the gradient of the loss on
each score, and the loss is written above them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.softmax import log_softmax

CLASS_NAMES = ("cat", "dog", "ship", "frog")


@dataclass(frozen=True)
class SoftmaxState:
    scores: np.ndarray  # (C,) the raw class scores
    correct: int  # index of the correct class
    temperature: float
    probabilities: np.ndarray  # (C,) softmax(scores / temperature)
    loss: float  # -log probabilities[correct]
    gradient: np.ndarray  # (C,) d loss / d scores

    def summary(self) -> str:
        p = "  ".join(f"{v:.3f}" for v in self.probabilities)
        g = "  ".join(f"{v:+.3f}" for v in self.gradient)
        return f"loss = {self.loss:.3f}   P = [{p}]   dL/dscore = [{g}]"


def softmax_state(scores, correct: int, temperature: float = 1.0) -> SoftmaxState:
    """What the widget shows for one example.

    ``P = softmax(scores / T)``, ``loss = -log P[correct]`` and
    ``d loss / d scores = (P - onehot(correct)) / T``: the familiar
    ``P - onehot`` times the local derivative of ``scores / T``.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if temperature <= 0:
        raise ValueError("the temperature must be positive")
    if not 0 <= correct < scores.size:
        raise ValueError(f"the correct class must be between 0 and {scores.size - 1}")
    log_p = log_softmax((scores / temperature)[None, :])[0]
    p = np.exp(log_p)
    gradient = p.copy()
    gradient[correct] -= 1.0
    gradient /= temperature
    return SoftmaxState(scores, int(correct), float(temperature), p, float(-log_p[correct]), gradient)


class SoftmaxPicture:
    """Two bar charts (probabilities, gradients) whose bars are updated in place."""

    def __init__(self, state: SoftmaxState, names=CLASS_NAMES):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from course.present import palette

        self.palette = palette
        c = state.scores.size
        # A figure outside pyplot: it never shows up as a static picture under
        # the cell, and its Agg canvas can save and restore a background.
        self.figure = Figure(figsize=(8.0, 3.0), dpi=96)
        FigureCanvasAgg(self.figure)
        self.ax_p, self.ax_g = self.figure.subplots(1, 2)
        positions = np.arange(c)
        self.p_bars = self.ax_p.bar(positions, state.probabilities, color=palette.VALUE)
        self.g_bars = self.ax_g.bar(positions, state.gradient, color=palette.GRADIENT)
        for ax, title in ((self.ax_p, "probability P"), (self.ax_g, "gradient dL/dscore")):
            ax.set_xticks(positions, names[:c])
            ax.set_title(title)
            ax.spines[["top", "right"]].set_visible(False)
        self.ax_p.set_ylim(0.0, 1.0)
        self.ax_g.axhline(0.0, color=palette.INK, linewidth=0.8)
        self.p_labels = [self.ax_p.text(i, 0.0, "", ha="center", va="bottom", fontsize=9) for i in positions]
        self.g_labels = [self.ax_g.text(i, 0.0, "", ha="center", fontsize=9) for i in positions]
        self.figure.tight_layout(rect=(0, 0, 1, 0.9))
        self.title = self.figure.suptitle("")
        # Only the bars, their labels and the title change between slider
        # moves: they are drawn over a saved picture of everything else
        # (blitting), which is several times faster than a full redraw.
        self.dynamic = [*self.p_bars, *self.g_bars, *self.p_labels, *self.g_labels, self.title]
        for artist in self.dynamic:
            artist.set_animated(True)
        # One saved background per gradient-axis range (the range follows the
        # temperature): each temperature costs a full draw only the first time.
        self._backgrounds: dict[float, object] = {}
        self._bound = None
        self.update(state)

    def update(self, state: SoftmaxState) -> None:
        pal = self.palette
        # The gradient never leaves [-1/T, 1/T]; fixing the axis there lets the
        # eye compare bar heights between slider moves.
        # (1.25, not 1.0: room for the number under a bar that reaches -1/T.)
        bound = 1.25 / state.temperature
        if bound != self._bound:
            self.ax_g.set_ylim(-bound, bound)
            self._bound = bound
        # The correct class's bars are green *and* hatched: colour is not the only clue.
        for i, (bar, label, p) in enumerate(zip(self.p_bars, self.p_labels, state.probabilities)):
            bar.set_height(p)
            bar.set_color(pal.CORRECT if i == state.correct else pal.VALUE)
            bar.set_hatch("//" if i == state.correct else "")
            bar.set_edgecolor(pal.INK if i == state.correct else "none")
            bar.set_hatchcolor("white")  # set after the colour: set_color also sets the hatch colour
            label.set_position((i, p + 0.02))
            label.set_text(f"{p:.2f}")
        for i, (bar, label, g) in enumerate(zip(self.g_bars, self.g_labels, state.gradient)):
            bar.set_height(g)
            bar.set_color(pal.CORRECT if i == state.correct else pal.GRADIENT)
            bar.set_hatch("//" if i == state.correct else "")
            bar.set_edgecolor(pal.INK if i == state.correct else "none")
            bar.set_hatchcolor("white")  # set after the colour: set_color also sets the hatch colour
            label.set_position((i, g + (0.04 if g >= 0 else -0.04) * bound))
            label.set_va("bottom" if g >= 0 else "top")
            label.set_text(f"{g:+.2f}")
        self.title.set_text(f"loss = -log P[correct] = {state.loss:.3f}   (temperature {state.temperature:g})")

    def png(self) -> bytes:
        """The picture as PNG bytes: the saved background plus the changing artists."""
        from course.present.widgets.figure_view import canvas_png

        canvas = self.figure.canvas
        if self._bound not in self._backgrounds:
            canvas.draw()  # animated artists are left out of a full draw
            self._backgrounds[self._bound] = canvas.copy_from_bbox(self.figure.bbox)
        canvas.restore_region(self._backgrounds[self._bound])
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        return canvas_png(canvas)


def picture_alt(state: SoftmaxState, names=CLASS_NAMES) -> str:
    """The two bar charts in words, with every bar's number."""
    names = names[:state.scores.size]
    p = ", ".join(f"{n} {v:.2f}" for n, v in zip(names, state.probabilities))
    g = ", ".join(f"{n} {v:+.2f}" for n, v in zip(names, state.gradient))
    return (f"Two bar charts over the classes {', '.join(names)}; the correct class, {names[state.correct]},"
            f" has hatched bars. Left, probability P: {p}. Right, gradient dL/dscore: {g}."
            f" Loss = -log P[correct] = {state.loss:.3f} at temperature {state.temperature:g}.")


def softmax_widget(scores=(2.0, 1.0, -1.0, 0.5), correct: int = 0, temperature: float = 1.0):
    """Sliders for four class scores and the temperature, buttons for the correct class."""
    import ipywidgets as widgets

    score_sliders = [
        widgets.FloatSlider(value=float(v), min=-10.0, max=10.0, step=0.5, description=f"score {name}",
                            continuous_update=True, readout_format=".1f",
                            style={"description_width": "initial"})
        for v, name in zip(scores, CLASS_NAMES)
    ]
    temperature_slider = widgets.FloatSlider(value=temperature, min=0.25, max=5.0, step=0.25,
                                             description="temperature T", readout_format=".2f",
                                             style={"description_width": "initial"})
    correct_choice = widgets.ToggleButtons(options=[(n, i) for i, n in enumerate(CLASS_NAMES)], value=correct,
                                           description="correct class", style={"description_width": "initial"})
    numbers = widgets.HTML()
    state = softmax_state([s.value for s in score_sliders], correct, temperature)
    from course.present.widgets.figure_view import picture_widget, show_picture

    picture = SoftmaxPicture(state)
    image = picture_widget()

    def redraw(_change=None) -> None:
        s = softmax_state([w.value for w in score_sliders], correct_choice.value, temperature_slider.value)
        picture.update(s)
        show_picture(image, picture.png(), picture_alt(s))
        numbers.value = f"<code>{s.summary()}</code>"

    for control in (*score_sliders, temperature_slider, correct_choice):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([
        correct_choice,
        widgets.HBox(score_sliders[:2]), widgets.HBox(score_sliders[2:]),
        temperature_slider, numbers, image,
    ])
    box.add_class("gradflow-softmax")
    return box
