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
    "σ(x · y + z)": lambda x, y, z: ((x * y).named("p") + z).named("u").sigmoid().named("f"),
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
    """The numbers line of the widget: f in blue, the gradients in (dark) vermillion, on a light panel."""
    from course.present.palette import GRADIENT_TEXT, VALUE
    from course.present.widgets.figure_view import light_panel

    cells = [f'<span style="color:{VALUE}"><b>f</b> = {state.f:.3f}</span>']
    cells += [f'<span style="color:{GRADIENT_TEXT}">∂f/∂{k} = {v:.3f}</span>' for k, v in state.grads.items()]
    return light_panel('<div style="font-family:monospace;display:flex;gap:2em">' + "".join(cells) + "</div>")


def picture_alt(state: ChainRuleState) -> str:
    """The picture in words: the circuit's values and gradients, then the summary."""
    from course.present.circuit import describe_circuit

    return describe_circuit(state.root, f"f = {state.expression}")


def _figure_size(expressions) -> tuple[float, float]:
    """One size for every expression's picture, so the widget keeps its size when the expression changes."""
    from course.present.circuit import circuit_figsize, circuit_layout

    sizes = [circuit_figsize(circuit_layout(chain_rule_state(e, 1.0, 1.0, 1.0).root)) for e in expressions]
    return max(w for w, _ in sizes), max(h for _, h in sizes)


def chain_rule_widget(expression: str = "(x + y) · z", x: float = -2.0, y: float = 5.0, z: float = -4.0):
    """Sliders for x, y, z and a choice of expression above a live circuit."""
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    from course.present.circuit import CircuitPicture
    from course.present.widgets.figure_view import Blitter, picture_widget, show_picture

    def slider(name: str, value: float):
        return widgets.FloatSlider(value=value, min=-6.0, max=6.0, step=0.5, description=name,
                                   continuous_update=True, readout_format=".1f")

    # Buttons, not a drop-down list: in JupyterLab the arrow keys on a focused
    # <select> move between cells instead, so a keyboard could not change it.
    choice = widgets.ToggleButtons(options=list(EXPRESSIONS), value=expression, description="f =",
                                   style={"button_width": "auto"})
    sliders = {"x": slider("x", x), "y": slider("y", y), "z": slider("z", z)}
    numbers = widgets.HTML()
    size = _figure_size(EXPRESSIONS)
    dpi = 96
    view = picture_widget()
    # One picture per expression, built when first chosen. Only the wire
    # numbers change with the sliders: they are blitted over a saved
    # background (a full redraw of the figure cost ~55 ms, the blit ~10 ms).
    pictures: dict[str, tuple[CircuitPicture, Blitter]] = {}

    def picture_for(name: str, root):
        if name not in pictures:
            figure = Figure(figsize=size, layout="constrained")
            picture = CircuitPicture(root, ax=figure.add_subplot(), title=f"f = {name}")
            pictures[name] = picture, Blitter(figure, picture.number_texts, dpi=dpi)
        return pictures[name]

    def redraw(_change=None) -> None:
        s = chain_rule_state(choice.value, *(sliders[k].value for k in "xyz"))
        picture, blitter = picture_for(choice.value, s.root)
        picture.update(s.root)
        show_picture(view, blitter.png(), picture_alt(s))
        numbers.value = summary_html(s)

    for control in (choice, *sliders.values()):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([choice, widgets.HBox(list(sliders.values())), numbers, view])
    box.add_class("gradflow-chain-rule")
    return box
