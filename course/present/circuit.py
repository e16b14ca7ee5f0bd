"""Circuit diagrams of a scalar graph, drawn with matplotlib (no Graphviz).

Nodes are laid out left to right by depth (inputs of the circuit on the left,
the output on the right). Each wire carries its forward value above it and,
below it in a second colour, the gradient that flows back along it. Where a
node feeds several gates (a fork), each branch carries only its own share
(the consumer's gradient times its local partial) and the node's gradient,
the sum of the shares, is written under the node.
The layout is a plain function of the graph, so the same graph always gives
the same picture; tests call ``circuit_layout`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from course.compute.graph import Node, topological_order
from course.present.palette import GRADIENT, HIGHLIGHT, INK, NODE_FACE, VALUE

MIN_GAP = 1.25  # vertical distance between two nodes of one column: room for two wires' numbers between them
LEAF_GAP = 1.5  # vertical distance between two inputs: room for the numbers of wires that fan out from them
COLUMN = 2.0  # horizontal distance between two columns
RADIUS = 0.32  # a gate's circle
LEAF_HALF = (0.35, 0.2)  # half width and half height of an input's box
# The block of a wire's two numbers (value above, gradient below), in layout
# units: room for "-12.000" at 10 pt bold, with the halo.
LABEL_HALF = (0.36, 0.27)
# A gate's name sits this far above its circle: clear of a highlight ring
# drawn around the gate (the staged widget's, at RADIUS + 0.07, 3 pt wide).
NAME_GAP = 0.14
SLOT_SPREAD = 0.22  # vertical distance between the wires entering one gate
OP_SYMBOLS = {"*": "×"}  # how an operation is written inside its gate


@dataclass(frozen=True)
class Wire:
    source: int  # index into CircuitLayout.nodes
    target: int  # index of the consumer, or -1 for the circuit's output wire
    slot: int  # which input of the consumer this wire feeds


@dataclass
class CircuitLayout:
    nodes: list[Node]
    positions: list[tuple[float, float]]
    wires: list[Wire]
    names: list[str] = field(default_factory=list)
    segments: list[tuple[float, float, float, float]] = field(default_factory=list)  # per wire: x0, y0, x1, y1
    label_points: list[tuple[float, float]] = field(default_factory=list)  # per wire: centre of its numbers

    def fanout(self, source: int) -> int:
        """How many wires leave node ``source`` (more than one: a fork)."""
        return sum(1 for w in self.wires if w.source == source)

    def index(self, node: Node) -> int:
        return next(i for i, n in enumerate(self.nodes) if n is node)


def node_name(node: Node) -> str:
    """What a node is called in the picture: its label, else its operation."""
    return node.label or node.op or "?"


def circuit_layout(root: Node, place_labels: bool = True) -> CircuitLayout:
    """Place every node of the graph that ends at ``root``.

    x is the depth (longest path from an input of the circuit); leaves are
    spread top to bottom in the order the graph first meets them, and each
    gate sits at the mean height of its inputs, pushed apart from its
    neighbours in the column when they would overlap. ``place_labels=False``
    skips the search for the wires' number spots (the slow part), for
    updates of a picture whose spots are already placed.
    """
    order = topological_order(root)
    index = {id(n): i for i, n in enumerate(order)}
    depth = [0] * len(order)
    for i, node in enumerate(order):
        if node.inputs:
            depth[i] = 1 + max(depth[index[id(c)]] for c in node.inputs)

    y = [0.0] * len(order)
    leaves = [i for i, n in enumerate(order) if not n.inputs]
    for rank, i in enumerate(leaves):
        y[i] = -rank * LEAF_GAP
    for i, node in enumerate(order):
        if node.inputs:
            y[i] = sum(y[index[id(c)]] for c in node.inputs) / len(node.inputs)

    for column in range(1, max(depth) + 1):
        members = sorted((i for i in range(len(order)) if depth[i] == column), key=lambda i: (-y[i], i))
        for above, below in zip(members, members[1:]):
            if y[above] - y[below] < MIN_GAP:
                y[below] = y[above] - MIN_GAP

    wires = [
        Wire(index[id(child)], i, slot)
        for i, node in enumerate(order)
        for slot, child in enumerate(node.inputs)
    ]
    wires.append(Wire(len(order) - 1, -1, 0))
    positions = [(float(depth[i]) * COLUMN, y[i]) for i in range(len(order))]
    layout = CircuitLayout(order, positions, wires, [node_name(n) for n in order])
    layout.segments = _spread_forks([_segment(layout, w) for w in wires], wires)
    if place_labels:
        layout.label_points = _place_labels(layout)
    return layout


def _segment(layout: CircuitLayout, wire: Wire) -> tuple[float, float, float, float]:
    """Where a wire starts and ends: from its source's right edge to its target's left edge."""
    source = layout.nodes[wire.source]
    x0, y0 = layout.positions[wire.source]
    if wire.target == -1:
        x1, y1 = x0 + 1.6, y0
    else:
        x1, y1 = layout.positions[wire.target]
        n_in = len(layout.nodes[wire.target].inputs)
        # Spread the wires entering one gate so a node used twice (x * x)
        # shows two distinct wires.
        y1 += (0.5 * (n_in - 1) - wire.slot) * SLOT_SPREAD
    start = x0 + (RADIUS if source.inputs else LEAF_HALF[0])
    end = x1 - (RADIUS if wire.target != -1 else 0.0)
    return start, y0, end, y1


def _spread_forks(segments: list[tuple[float, float, float, float]], wires: list[Wire]):
    """Start the branches of a fork at different heights, steepest rising on top.

    Ordered by slope, the branches fan out from the node without crossing one
    another near it, which leaves room for each branch's numbers.
    """
    spread = list(segments)
    for source in {w.source for w in wires}:
        branches = [k for k, w in enumerate(wires) if w.source == source]
        if len(branches) < 2:
            continue
        slope = lambda k: (segments[k][3] - segments[k][1]) / (segments[k][2] - segments[k][0])  # noqa: E731
        for rank, k in enumerate(sorted(branches, key=lambda k: (-slope(k), k))):
            x0, y0, x1, y1 = segments[k]
            spread[k] = (x0, y0 + (0.5 * (len(branches) - 1) - rank) * SLOT_SPREAD, x1, y1)
    return spread


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _node_boxes(layout: CircuitLayout) -> list[Box]:
    """What a node covers: its gate or box, and the name written above a gate."""
    boxes = []
    for node, name, (x, y) in zip(layout.nodes, layout.names, layout.positions):
        if node.inputs:
            boxes.append((x - RADIUS, y - RADIUS, x + RADIUS, y + RADIUS))
            if node.label:
                half = 0.045 * len(node.label) + 0.05  # italic 10 pt, about 0.09 units a letter
                boxes.append((x - half, y + RADIUS + NAME_GAP - 0.04, x + half, y + RADIUS + NAME_GAP + 0.22))
        else:
            boxes.append((x - LEAF_HALF[0], y - LEAF_HALF[1], x + LEAF_HALF[0], y + LEAF_HALF[1]))
    for i, _ in enumerate(layout.nodes):
        if layout.fanout(i) > 1:
            boxes.append(_sum_box(layout, i))
    return boxes


def _sum_point(layout: CircuitLayout, i: int) -> tuple[float, float]:
    """Where a fork's total gradient is written: just under the node."""
    x, y = layout.positions[i]
    half = RADIUS if layout.nodes[i].inputs else LEAF_HALF[1]
    return x, y - half - 0.05


def _sum_box(layout: CircuitLayout, i: int) -> Box:
    x, y = _sum_point(layout, i)
    return (x - 0.36, y - 0.26, x + 0.36, y)


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _crosses(segment: tuple[float, float, float, float], box: Box) -> bool:
    """Does the segment pass through the box? (sampled: the boxes are small and the wires straight)"""
    x0, y0, x1, y1 = segment
    for k in range(21):
        t = k / 20
        x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        if box[0] < x < box[2] and box[1] < y < box[3]:
            return True
    return False


def _place_labels(layout: CircuitLayout) -> list[tuple[float, float]]:
    """Where each wire's numbers go: a spot on the wire where they cover nothing.

    A wire's candidate spots lie in the column gaps it crosses (never over a
    column, where the nodes are). Each wire takes its least crowded candidate:
    overlap with nodes, node names and the numbers already placed counts
    most, then other wires running through the numbers, then (as a tie-break)
    the distance from the middle of the last gap before its target. Wires
    with fewer choices are placed first. Deterministic: no randomness, fixed
    order.
    """
    hw, hh = LABEL_HALF
    obstacles = _node_boxes(layout)
    candidates: list[list[tuple[float, float, float]]] = []  # per wire: (x, y, preference cost)
    for wire, (x0, y0, x1, y1) in zip(layout.wires, layout.segments):
        def at(x: float) -> tuple[float, float]:
            return x, y0 + (y1 - y0) * (x - x0) / (x1 - x0)

        if wire.target == -1:
            candidates.append([(*at((x0 + x1) / 2), 0.0)])
            continue
        source_x = layout.positions[wire.source][0]
        target_x = layout.positions[wire.target][0]
        spots = []
        gaps = round((target_x - source_x) / COLUMN)
        for k in range(gaps):
            left = max(x0, source_x + k * COLUMN + RADIUS)
            right = min(x1, source_x + (k + 1) * COLUMN - RADIUS)
            middle = (left + right) / 2
            for f in (0.0, -0.1, 0.1, -0.2, 0.2, -0.3, 0.3, -0.4, 0.4, -0.5, 0.5):
                cx = middle + f * max(0.0, right - left - 2 * hw)
                preference = abs(cx - (target_x - COLUMN / 2)) * 0.01
                cy = at(cx)[1]
                # Slightly off the wire is allowed (a small extra cost) when the
                # spot on it is crossed by another wire.
                for dy in (0.0, -0.12, 0.12):
                    spots.append((cx, cy + dy, preference + abs(dy) * 0.5))
        candidates.append(spots)

    placed: dict[int, tuple[float, float]] = {}
    order = sorted(range(len(layout.wires)), key=lambda i: (len(candidates[i]), i))
    for i in order:
        def cost(spot: tuple[float, float, float]) -> float:
            x, y, preference = spot
            box = (x - hw, y - hh, x + hw, y + hh)
            covered = sum(_overlap(box, o) for o in obstacles)
            covered += sum(_overlap(box, (px - hw, py - hh, px + hw, py + hh)) for px, py in placed.values())
            crossing = sum(_crosses(seg, box) for j, seg in enumerate(layout.segments) if j != i)
            return 10.0 * covered + 1.0 * crossing + preference

        x, y, _ = min(candidates[i], key=cost)
        placed[i] = (x, y)
    return [placed[i] for i in range(len(layout.wires))]


def circuit_figsize(layout: CircuitLayout, scale: float = 1.0) -> tuple[float, float]:
    """The figure size (inches) that gives a circuit's texts their room.

    Inches per unit of the layout are the same on both axes so that gates stay round.
    """
    xs = [p[0] for p in layout.positions]
    ys = [p[1] for p in layout.positions]
    inch = 0.95 * scale
    return inch * (max(xs) + 2.9), inch * (max(ys) - min(ys) + 1.45) + 0.5 * scale


def _fmt(v: float) -> str:
    """Short, stable number text: 3 decimals, no '-0.000'."""
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text


class CircuitPicture:
    """A drawn circuit whose numbers can be updated without drawing it again.

    Build it once for a graph; call ``update`` with a graph of the same shape
    (same expression, new input values) to change only the texts and colours,
    which is what keeps the widgets responsive.
    """

    RADIUS = RADIUS

    def __init__(self, root: Node, ax=None, show_gradients: bool = True, title: str | None = None,
                 scale: float = 1.0):
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle, FancyBboxPatch

        self.layout = circuit_layout(root)
        self.show_gradients = show_gradients
        xs = [p[0] for p in self.layout.positions]
        ys = [p[1] for p in self.layout.positions]
        if ax is None:
            self.figure, ax = plt.subplots(figsize=circuit_figsize(self.layout, scale), layout="constrained")
        else:
            self.figure = ax.figure
            ax.clear()
        self.ax = ax
        ax.set_axis_off()
        ax.set_xlim(-1.0, max(xs) + 1.9)
        ax.set_ylim(min(ys) - 0.75, max(ys) + 0.7)
        ax.set_aspect("equal", adjustable="box")

        r = self.RADIUS
        self.value_texts, self.gradient_texts, self.sum_texts = [], [], {}
        for (start, y0, end, y1), (mx, my) in zip(self.layout.segments, self.layout.label_points):
            ax.annotate("", xy=(end, y1), xytext=(start, y0),
                        arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.1, shrinkA=0, shrinkB=0))
            # A white halo keeps the numbers readable where they cross a wire.
            halo = dict(facecolor="white", edgecolor="none", pad=0.6, alpha=0.85)
            self.value_texts.append(ax.text(mx, my + 0.03, "", color=VALUE, ha="center", va="bottom",
                                            fontsize=10, fontweight="bold", bbox=halo))
            self.gradient_texts.append(ax.text(mx, my - 0.03, "", color=GRADIENT, ha="center", va="top",
                                               fontsize=10, fontweight="bold", bbox=halo))

        for i, _ in enumerate(self.layout.nodes):
            if self.layout.fanout(i) > 1:
                sx, sy = _sum_point(self.layout, i)
                self.sum_texts[i] = ax.text(sx, sy, "", color=GRADIENT, ha="center", va="top", fontsize=10,
                                            fontweight="bold", zorder=4)

        self.shapes = []
        for node, name, (x, y) in zip(self.layout.nodes, self.layout.names, self.layout.positions):
            if node.inputs:
                shape = Circle((x, y), r, facecolor=NODE_FACE, edgecolor=INK, lw=1.2, zorder=3)
                ax.text(x, y, OP_SYMBOLS.get(node.op, node.op), ha="center", va="center", fontsize=12, zorder=4, color=INK)
                if node.label:
                    ax.text(x, y + r + NAME_GAP, node.label, ha="center", va="bottom", fontsize=10, color=INK,
                            style="italic")
            else:
                shape = FancyBboxPatch((x - 0.35, y - 0.2), 0.7, 0.4, boxstyle="round,pad=0.02",
                                       facecolor=NODE_FACE, edgecolor=INK, lw=1.2, zorder=3)
                ax.text(x, y, name, ha="center", va="center", fontsize=11, zorder=4, color=INK, style="italic")
            ax.add_patch(shape)
            self.shapes.append(shape)

        keys = [Line2D([], [], color=VALUE, marker="s", ls="", label="value (above a wire)")]
        if show_gradients:
            keys.append(Line2D([], [], color=GRADIENT, marker="s", ls="", label="gradient flowing back (below)"))
        ax.legend(handles=keys, loc="lower left", bbox_to_anchor=(0.0, -0.02), frameon=False, fontsize=8.5,
                  ncols=2)
        if title:
            ax.set_title(title, fontsize=11, color=INK)
        self.update(root)

    @property
    def number_texts(self) -> list:
        """The texts that ``update`` changes (for blitting: everything else stays)."""
        return [*self.value_texts, *self.gradient_texts, *self.sum_texts.values()]

    def update(self, root: Node, highlight: frozenset[str] | set[str] = frozenset(),
               values_shown: set[str] | None = None, gradients_shown: set[str] | None = None,
               passed_back: set[str] | None = None) -> None:
        """Show the numbers of ``root``'s graph (same shape as the drawn one).

        ``highlight``: names of nodes to emphasise. ``values_shown`` and
        ``gradients_shown``: names of the nodes whose wire numbers are shown
        (None: all), for pictures that reveal a computation step by step.
        ``passed_back``: names of the gates that have already sent their shares
        back (None: all); a branch of a fork shows its share only after that.
        """
        layout = circuit_layout(root, place_labels=False)
        if layout.names != self.layout.names:
            raise ValueError("update() needs a graph of the same shape as the one drawn")
        layout.label_points = self.layout.label_points  # the numbers stay where they were drawn
        self.layout = layout
        for wire, vtext, gtext in zip(layout.wires, self.value_texts, self.gradient_texts):
            node, name = layout.nodes[wire.source], layout.names[wire.source]
            vtext.set_text(_fmt(node.value) if values_shown is None or name in values_shown else "")
            show_grad = self.show_gradients and (gradients_shown is None or name in gradients_shown)
            if wire.target == -1 or layout.fanout(wire.source) == 1:
                gtext.set_text(_fmt(node.grad) if show_grad else "")
            else:
                consumer = layout.nodes[wire.target]
                sent = passed_back is None or layout.names[wire.target] in passed_back
                gtext.set_text(_fmt(consumer.shares()[wire.slot]) if show_grad and sent else "")
        for i, text in self.sum_texts.items():
            name = layout.names[i]
            show_sum = self.show_gradients and (gradients_shown is None or name in gradients_shown)
            text.set_text(f"Σ {_fmt(layout.nodes[i].grad)}" if show_sum else "")
        for name, shape in zip(layout.names, self.shapes):
            on = name in highlight
            shape.set_edgecolor(HIGHLIGHT if on else INK)
            shape.set_linewidth(3.0 if on else 1.2)


def _short(v: float) -> str:
    """A number for reading aloud: up to 3 decimals, no trailing zeros, no '-0'."""
    text = _fmt(v).rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def describe_circuit(root: Node, title: str | None = None, values_shown: set[str] | None = None,
                     gradients_shown: set[str] | None = None) -> str:
    """The circuit in words, for a screen reader: every value and gradient the picture shows.

    A gate without a name is spoken as its expression, e.g. ``(w0 × x0)``.
    ``values_shown`` and ``gradients_shown`` as in ``CircuitPicture.update``:
    a number the picture leaves out is left out here too.
    """
    order = topological_order(root)
    spoken: dict[int, str] = {}
    values, gradients = [], []
    for node in order:
        ins = [spoken[id(c)] for c in node.inputs]
        op = OP_SYMBOLS.get(node.op, node.op)
        if not node.inputs:
            expression = ""
        elif len(ins) == 2 and op in ("+", "×"):
            expression = f"{ins[0]} {op} {ins[1]}"
        elif op.startswith("**"):
            expression = f"{ins[0]} to the power {op[2:]}"
        else:
            expression = f"{op}({', '.join(ins)})"
        name = node.label or (f"({expression})" if expression else node_name(node))
        spoken[id(node)] = name
        if values_shown is None or node_name(node) in values_shown:
            if not node.inputs:
                values.append(f"{name} = {_short(node.value)}")
            elif node.label:
                values.append(f"{name} = {expression} = {_short(node.value)}")
            else:
                values.append(f"{expression} = {_short(node.value)}")
        if gradients_shown is None or node_name(node) in gradients_shown:
            gradients.append(f"on {name} {_short(node.grad)}")
    out = spoken[id(root)]
    text = f"Circuit{' of ' + title if title else ''}, drawn left to right, inputs on the left. "
    text += ("Values, written above the wires: " + "; ".join(values) + ". ") if values else "No values shown yet. "
    if gradients:
        text += f"Gradients of {out}, written below the wires: " + "; ".join(gradients) + "."
    else:
        text += "No gradients shown yet."
    return text


def draw_circuit(root: Node, ax=None, show_gradients: bool = True, title: str | None = None):
    """Draw the circuit that computes ``root``; returns the matplotlib Figure.

    Call ``root.backward()`` first for the gradients to mean anything.
    """
    return CircuitPicture(root, ax=ax, show_gradients=show_gradients, title=title).figure


def show_circuit(root: Node, title: str | None = None, show_gradients: bool = True) -> None:
    """Draw the circuit and show it under the cell, its numbers in words as the alt text."""
    from course.present.figures import show_figure

    figure = draw_circuit(root, show_gradients=show_gradients, title=title)
    show_figure(figure, alt=describe_circuit(root, title, gradients_shown=None if show_gradients else set()))
