"""The chain-rule widget: sliders for x, y, z; the circuit redraws with new
values and gradients, for a choice of small expressions that show the three
gate patterns (add distributes, max routes, mul swaps and scales)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from course.compute.graph import Node

EXPRESSIONS: dict[str, Callable[[Node, Node, Node], Node]] = {
    "(x + y) · z": lambda x, y, z: ((x + y).named("q") * z).named("f"),
    "max(x, y) · z": lambda x, y, z: (x.max(y).named("m") * z).named("f"),
    "σ(x · y + z)": lambda x, y, z: ((x * y).named("p") + z).named("s").sigmoid().named("f"),
}


@dataclass(frozen=True)
class ChainRuleState:
    expression: str
    root: Node
    f: float
    grads: dict[str, float]  # d f / d input, for x, y, z

    def summary(self) -> str:
        parts = "   ".join(f"∂f/∂{k} = {v:.3f}" for k, v in self.grads.items())
        return f"f = {self.f:.3f}   {parts}"


def chain_rule_state(expression: str, x: float, y: float, z: float) -> ChainRuleState:
    """Build the expression's circuit at (x, y, z) and backpropagate through it."""
    if expression not in EXPRESSIONS:
        raise KeyError(f"unknown expression {expression!r}; choose one of {list(EXPRESSIONS)}")
    nodes = Node(x, "x"), Node(y, "y"), Node(z, "z")
    root = EXPRESSIONS[expression](*nodes)
    root.backward()
    return ChainRuleState(expression, root, root.value, {n.label: n.grad for n in nodes})


def summary_html(state: ChainRuleState) -> str:
    """The numbers line of the widget: f in blue, the gradients in vermillion."""
    from course.present.palette import GRADIENT, VALUE

    cells = [f'<span style="color:{VALUE}"><b>f</b> = {state.f:.3f}</span>']
    cells += [f'<span style="color:{GRADIENT}">∂f/∂{k} = {v:.3f}</span>' for k, v in state.grads.items()]
    return '<div style="font-family:monospace;display:flex;gap:2em">' + "".join(cells) + "</div>"


def chain_rule_widget(expression: str = "(x + y) · z", x: float = -2.0, y: float = 5.0, z: float = -4.0):
    """Sliders for x, y, z and a choice of expression above a live circuit."""
    import ipywidgets as widgets

    from course.present.circuit import CircuitPicture
    from course.present.widgets.figure_view import FigureView

    def slider(name: str, value: float):
        return widgets.FloatSlider(value=value, min=-5.0, max=5.0, step=0.5, description=name,
                                   continuous_update=True, readout_format=".1f")

    choice = widgets.Dropdown(options=list(EXPRESSIONS), value=expression, description="f =")
    sliders = {"x": slider("x", x), "y": slider("y", y), "z": slider("z", z)}
    numbers = widgets.HTML()
    state = chain_rule_state(expression, x, y, z)
    picture = CircuitPicture(state.root, title=f"f = {expression}")
    view = FigureView(picture.figure)
    pictures = {expression: picture}

    def redraw(_change=None) -> None:
        nonlocal picture
        s = chain_rule_state(choice.value, *(sliders[k].value for k in "xyz"))
        if choice.value not in pictures:
            pictures[choice.value] = CircuitPicture(s.root, title=f"f = {choice.value}")
        if pictures[choice.value] is not picture:
            picture = pictures[choice.value]
            view.figure = picture.figure
        picture.update(s.root)
        view.refresh()
        numbers.value = summary_html(s)

    for control in (choice, *sliders.values()):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([choice, widgets.HBox(list(sliders.values())), numbers, view.widget])
    box.add_class("gradflow-chain-rule")
    return box
