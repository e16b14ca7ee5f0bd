"""The staged-computation widget: step through the forward and backward stages
of f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²).

Step 0 shows the inputs; steps 1-8 run the forward stages one by one; steps
9-16 run the backward stages in reverse. The circuit highlights the stage at
work and shows only the numbers known so far; a table lists every value and
gradient, with the shares a fork has received. A toggle replays the backward
pass with ``=`` instead of ``+=`` to show what overwriting at a fork does.
"""

from __future__ import annotations

from dataclasses import dataclass

from course.compute.staged import LESSON, BackwardStep, StagedComputation, lesson_graph

N_STAGES = len(LESSON.stages)
LAST_STEP = 2 * N_STAGES


def _fmt(v: float) -> str:
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text


@dataclass(frozen=True)
class StagedState:
    x: float
    y: float
    step: int
    overwrite: bool
    steps: tuple[str, ...]  # what each step does, in words and numbers (index 0 is step 1)
    phase: str  # "inputs", "forward" or "backward"
    stage: str | None  # the stage at work in this step (its value's name)
    values: dict[str, float]  # values known so far
    gradients: dict[str, float]  # gradients known so far
    shares: dict[str, tuple[float, ...]]  # for each name, the contributions received so far
    passed_back: tuple[str, ...]  # the stages whose backward step has run
    f: float  # the output, once all stages have run
    dx: float  # the final gradients in this mode (= or +=)
    dy: float
    correct_dx: float  # the true gradients (always +=)
    correct_dy: float

    @property
    def current(self) -> str:
        return "Inputs x and y are set." if self.step == 0 else self.steps[self.step - 1]

    @property
    def revealed(self) -> int:
        """How many stages this step has shown (forward ones, then backward ones)."""
        return self.step


def _backward_text(step: BackwardStep, overwrite: bool, forks: dict[str, int]) -> str:
    s = step.stage
    parts = []
    for (name, amount), local in zip(step.contributions, s.local_text):
        op = "=" if overwrite and name in forks else "+="
        parts.append(f"d{name} {op} ({local})·d{s.name} = {_fmt(amount)}")
    return f"Backward {s.name} = {s.formula}, with d{s.name} = {_fmt(step.upstream)}: " + ";  ".join(parts)


def staged_state(x: float, y: float, step: int, overwrite: bool = False,
                 computation: StagedComputation = LESSON) -> StagedState:
    """What the widget shows at ``step`` (0 to 16) for inputs (x, y)."""
    if not 0 <= step <= 2 * len(computation.stages):
        raise ValueError(f"step must be between 0 and {2 * len(computation.stages)}, got {step}")
    n = len(computation.stages)
    values = computation.forward(x, y)
    backward = computation.backward_steps(values, overwrite=overwrite)
    forks = computation.forks()
    texts = [f"Forward stage {k + 1} of {n}: {s.name} = {s.formula} = {_fmt(values[s.name])}"
             for k, s in enumerate(computation.stages)]
    texts += [f"Backward stage {n - k} of {n}. " + _backward_text(b, overwrite, forks)
              for k, b in enumerate(backward)]

    done_forward = min(step, n)
    known_values = {name: values[name] for name in computation.inputs}
    for s in computation.stages[:done_forward]:
        known_values[s.name] = values[s.name]

    done_backward = max(0, step - n)
    gradients: dict[str, float] = {}
    shares: dict[str, list[float]] = {}
    if done_backward:
        gradients[computation.output] = 1.0
        shares[computation.output] = [1.0]
        for b in backward[:done_backward]:
            for name, amount in b.contributions:
                gradients[name] = b.gradients[name]
                if overwrite and name in forks:
                    shares[name] = [amount]  # the earlier share is lost
                else:
                    shares.setdefault(name, []).append(amount)

    if step == 0:
        phase, stage = "inputs", None
    elif step <= n:
        phase, stage = "forward", computation.stages[step - 1].name
    else:
        phase, stage = "backward", backward[step - n - 1].stage.name
    final = backward[-1].gradients
    correct = computation.gradients(x, y)
    return StagedState(
        x=float(x), y=float(y), step=step, overwrite=overwrite, steps=tuple(texts), phase=phase, stage=stage,
        values=known_values, gradients=gradients, shares={k: tuple(v) for k, v in shares.items()},
        passed_back=tuple(b.stage.name for b in backward[:done_backward]),
        f=values[computation.output], dx=final["x"], dy=final["y"],
        correct_dx=correct[0], correct_dy=correct[1],
    )


def state_table_html(state: StagedState, computation: StagedComputation = LESSON) -> str:
    """The table under the circuit: each value and gradient known so far, the current stage marked ▶."""
    from course.present.palette import GRADIENT_TEXT, VALUE
    from course.present.widgets.figure_view import light_panel

    rows = [("x", "input"), ("y", "input")] + [(s.name, s.formula) for s in computation.stages]
    lines = ['<table style="border-collapse:collapse;font-family:monospace;font-size:13px">',
             "<tr><th style='text-align:left;padding:2px 10px'>name</th>"
             "<th style='text-align:left;padding:2px 10px'>computed as</th>"
             f"<th style='text-align:right;padding:2px 10px;color:{VALUE}'>value</th>"
             f"<th style='text-align:right;padding:2px 10px;color:{GRADIENT_TEXT}'>gradient d f / d name</th></tr>"]
    for name, formula in rows:
        # The current stage: a background and a ▶, so that colour is not the only clue.
        current = name == state.stage
        mark = "background:#FBE3B8;" if current else ""
        value = _fmt(state.values[name]) if name in state.values else ""
        grad = ""
        if name in state.gradients:
            received = state.shares.get(name, ())
            grad = _fmt(state.gradients[name])
            if len(received) > 1:
                grad = " + ".join(_fmt(v) for v in received).replace("+ -", "- ") + f" = {grad}"
        shown = f"▶ {name}" if current else name
        lines.append(f"<tr style='{mark}'><td style='padding:2px 10px'>{shown}</td>"
                     f"<td style='padding:2px 10px'>{formula}</td>"
                     f"<td style='text-align:right;padding:2px 10px'>{value}</td>"
                     f"<td style='text-align:right;padding:2px 10px'>{grad}</td></tr>")
    lines.append("</table>")
    return light_panel("".join(lines))


def _summary_html(state: StagedState) -> str:
    text = f"<b>Step {state.step} of {LAST_STEP}.</b> {state.current}"
    if state.step == LAST_STEP:
        if state.overwrite:
            text += (f"<br>With <code>=</code> at the forks: dx = {_fmt(state.dx)}, dy = {_fmt(state.dy)}."
                     f" The true gradient (<code>+=</code>) is dx = {_fmt(state.correct_dx)},"
                     f" dy = {_fmt(state.correct_dy)}: overwriting lost the earlier shares.")
        else:
            text += f"<br>Done: f = {_fmt(state.f)}, df/dx = {_fmt(state.dx)}, df/dy = {_fmt(state.dy)}."
    # The mode is always written out: toggling it during the forward pass
    # changes no number yet, and the reader should still see that it took.
    mode = ("Backward pass overwrites at the forks (<code>=</code>)." if state.overwrite
            else "Backward pass adds at the forks (<code>+=</code>).")
    return f"<div style='min-height:3.2em'>{text}<br><small>{mode}</small></div>"


def picture_alt(state: StagedState) -> str:
    """The picture in words: the step, then every number the circuit shows at this step."""
    from course.present.circuit import describe_circuit

    where = f" The ring marks stage {state.stage}." if state.stage else ""
    return (f"Step {state.step} of {LAST_STEP}: {state.current}{where} "
            + describe_circuit(_graph_with_gradients(state), "f = (x + σ(y)) / (σ(x) + (x + y)²)",
                               values_shown=set(state.values), gradients_shown=set(state.gradients)))


def _graph_with_gradients(state: StagedState):
    """The lesson's Node graph at (x, y), carrying the gradients known at this step."""
    root, _, _ = lesson_graph(state.x, state.y)
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            node.grad = state.gradients.get(node.label, 0.0)
            stack.extend(node.inputs)
    return root


class StagedPicture:
    """The circuit of the lesson's function, redrawn fast for each step.

    Everything that never changes (wires, gates, labels, legend) is drawn once
    and kept as a bitmap; a step only restores it and draws the wire numbers
    and a ring around the stage at work (blitting). A full redraw of this
    figure costs ~50-100 ms here; the blit about a third of that.
    """

    def __init__(self, state: StagedState, dpi: int = 80):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle

        from course.present.circuit import CircuitPicture
        from course.present.palette import HIGHLIGHT

        self.dpi = dpi
        # A plain axes, not a constrained layout, which would be recomputed on every draw.
        # Made without pyplot: it lives only in the widget's PNG, never in the cell's output.
        from course.present.circuit import circuit_layout

        xs, ys = zip(*circuit_layout(lesson_graph(state.x, state.y)[0]).positions)
        # The same inches per layout unit as CircuitPicture's own figures, so texts keep their room.
        inch = 0.95
        self.figure = Figure(figsize=(inch * (max(xs) + 2.9), inch * (max(ys) - min(ys) + 1.45) + 0.8), dpi=dpi)
        FigureCanvasAgg(self.figure)
        ax = self.figure.add_axes((0.0, 0.0, 1.0, 0.92))
        self.circuit = CircuitPicture(_graph_with_gradients(state), ax=ax,
                                      title="f = (x + σ(y)) / (σ(x) + (x + y)²)")
        self.positions = dict(zip(self.circuit.layout.names, self.circuit.layout.positions))
        self.ring = Circle((0.0, 0.0), CircuitPicture.RADIUS + 0.07, facecolor="none", edgecolor=HIGHLIGHT,
                           lw=3.0, zorder=5, visible=False)
        ax.add_patch(self.ring)
        from course.present.widgets.figure_view import Blitter

        moving = [*self.circuit.value_texts, *self.circuit.gradient_texts, self.ring]
        self.blitter = Blitter(self.figure, moving, dpi=dpi)
        self.show(state)

    def show(self, state: StagedState) -> None:
        self.circuit.update(_graph_with_gradients(state), values_shown=set(state.values),
                            gradients_shown=set(state.gradients), passed_back=set(state.passed_back))
        self.ring.set_visible(state.stage is not None)
        if state.stage is not None:
            self.ring.center = self.positions[state.stage]

    def png(self) -> bytes:
        return self.blitter.png()


def staged_widget(x: float = 3.0, y: float = -4.0, step: int = 0, overwrite: bool = False):
    """Sliders for x and y, a stepper over the 16 stages, and the overwrite toggle."""
    import ipywidgets as widgets

    def slider(name: str, value: float):
        return widgets.FloatSlider(value=value, min=-5.0, max=5.0, step=0.5, description=name,
                                   continuous_update=True, readout_format=".1f")

    xs, ys = slider("x", x), slider("y", y)
    stepper = widgets.IntSlider(value=step, min=0, max=LAST_STEP, description="step")
    play = widgets.Play(value=step, min=0, max=LAST_STEP, interval=1200, description="play")
    widgets.jslink((play, "value"), (stepper, "value"))
    back = widgets.Button(description="◀ back", layout=widgets.Layout(width="90px"))
    forward = widgets.Button(description="next ▶", layout=widgets.Layout(width="90px"))
    toggle = widgets.ToggleButton(value=overwrite, description="overwrite at forks (=)",
                                  tooltip="replay the backward pass with = instead of += at the forks",
                                  layout=widgets.Layout(width="210px"))
    summary, table = widgets.HTML(), widgets.HTML()

    from course.present.widgets.figure_view import picture_widget, show_picture

    picture = StagedPicture(staged_state(x, y, step, overwrite))
    view = picture_widget()

    def redraw(_change=None) -> None:
        s = staged_state(xs.value, ys.value, stepper.value, toggle.value)
        picture.show(s)
        show_picture(view, picture.png(), picture_alt(s))
        summary.value = _summary_html(s)
        table.value = state_table_html(s)

    def move(delta: int) -> None:
        stepper.value = min(LAST_STEP, max(0, stepper.value + delta))

    back.on_click(lambda _b: move(-1))
    forward.on_click(lambda _b: move(+1))
    for control in (xs, ys, stepper, toggle):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([
        widgets.HBox([xs, ys, toggle]),
        widgets.HBox([play, back, forward, stepper]),
        summary,
        view,
        table,
    ])
    box.add_class("gradflow-staged")
    return box
