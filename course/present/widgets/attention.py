"""The widget of concept 08, An attention head, backward by hand (draft made by `python -m course new`).

``attention_state`` is the plain function the tests call; ``attention_widget`` only
wires a slider to it and shows the result. The box carries the class
``gradflow-attention``, by which the browser tests find it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from course.compute.attention import scale_backward, scale_forward

X = np.array([[1.0, -2.0, 0.5]])


@dataclass(frozen=True)
class AttentionState:
    a: float
    out: np.ndarray
    dx: np.ndarray
    da: float

    def summary(self) -> str:
        return f"out = {np.round(self.out, 3).tolist()}   dx = {np.round(self.dx, 3).tolist()}   da = {self.da:.3f}"


def attention_state(a: float) -> AttentionState:
    """The example gate at ``a`` on the fixed input X, with an upstream gradient of ones."""
    out, cache = scale_forward(X, a)
    dx, da = scale_backward(np.ones_like(out), cache)
    return AttentionState(a, out, dx, da)


def attention_widget(a: float = 2.0):
    """A slider for a above the numbers of the gate."""
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=a, min=-3.0, max=3.0, step=0.5, description="a", continuous_update=True,
                                 readout_format=".1f")
    numbers = widgets.HTML()

    def redraw(_change=None) -> None:
        numbers.value = f"<pre>{html.escape(attention_state(slider.value).summary())}</pre>"

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, numbers])
    box.add_class("gradflow-attention")
    return box
