"""A graph of array stages: each stage a box with its name and shape, each arrow the
operation that makes it, and under each box (on request) the rule that gives its gradient.

Lesson 02 draws scalar circuits (``course.present.circuit``); a layer on arrays
has the same structure with a matrix at every node, and what the learner needs
at each node is its shape and its backward rule. The layout is given by hand
(a few stages), so the same graph always gives the same picture, and the alt
text is written from the same list of stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from course.present.palette import GRADIENT_TEXT, INK, NODE_FACE, VALUE


@dataclass(frozen=True)
class Stage:
    name: str
    shape: str
    at: tuple[float, float]  # (column, row) of the box's centre
    backward: str = ""  # the gradient's rule, written under the box


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    op: str  # written beside the arrow


def attention_graph() -> tuple[list[Stage], list[Edge]]:
    """The stages of one attention head (course.compute.attention), with each stage's backward rule."""
    stages = [
        Stage("X", "(B, T, D)", (0.0, 1.0), "dX = dQ·Wqᵀ\n+ dK·Wkᵀ + dV·Wvᵀ"),
        Stage("Q", "(B, T, d)", (1.8, 2.0), "dQ = dS·K / √d"),
        Stage("K", "(B, T, d)", (1.8, 1.0), "dK = dSᵀ·Q / √d"),
        Stage("V", "(B, T, d)", (1.8, 0.0), "dV = Pᵀ·dO"),
        Stage("S", "(B, T, T)", (3.6, 1.5), "dS = dZ, 0 where hidden"),
        Stage("Z", "(B, T, T)", (5.4, 1.5), "dZ = P ⊙ (dP − rowsum(dP ⊙ P))"),
        Stage("P", "(B, T, T)", (7.2, 1.5), "dP = dO·Vᵀ"),
        Stage("O", "(B, T, d)", (9.0, 0.75), "dO: from above"),
    ]
    edges = [
        Edge("X", "Q", "·Wq"), Edge("X", "K", "·Wk"), Edge("X", "V", "·Wv"),
        Edge("Q", "S", "Q·Kᵀ/√d"), Edge("K", "S", ""),
        Edge("S", "Z", "mask: −inf"), Edge("Z", "P", "softmax"),
        Edge("P", "O", "P·V"), Edge("V", "O", ""),
    ]
    return stages, edges


def draw_stage_graph(stages: list[Stage], edges: list[Edge], show_backward: bool = True, title: str = ""):
    """The graph as a matplotlib figure: boxes with name and shape, arrows with their operation,
    and the backward rule in the gradients' colour under each box when ``show_backward``."""
    import matplotlib.pyplot as plt

    at = {s.name: s.at for s in stages}
    width = max(x for x, _ in at.values()) + 1.6
    height = max(y for _, y in at.values()) + 1.2
    fig, ax = plt.subplots(figsize=(1.15 * width, 1.25 * height))
    ax.set_xlim(-0.8, width - 0.8)
    ax.set_ylim(-0.75, height - 0.55)
    ax.axis("off")
    half_w, half_h = 0.42, 0.24
    for e in edges:
        (x0, y0), (x1, y1) = at[e.source], at[e.target]
        ax.annotate("", xy=(x1 - half_w, y1), xytext=(x0 + half_w, y0),
                    arrowprops=dict(arrowstyle="-|>", color=VALUE, lw=1.4, shrinkA=0, shrinkB=0))
        if e.op:
            # Past the middle of the arrow: the three arrows that fork from one box keep their labels apart.
            t = 0.5 if y0 == y1 else 0.6
            ax.text((1 - t) * x0 + t * x1, (1 - t) * y0 + t * y1 + 0.1, e.op, ha="center", va="bottom", fontsize=8.5, color=VALUE)
    for s in stages:
        x, y = s.at
        ax.add_patch(plt.Rectangle((x - half_w, y - half_h), 2 * half_w, 2 * half_h, facecolor=NODE_FACE,
                                   edgecolor=INK, linewidth=1.2))
        ax.text(x, y + 0.05, s.name, ha="center", va="center", fontsize=12, fontweight="bold", color=INK)
        ax.text(x, y - 0.15, s.shape, ha="center", va="center", fontsize=7.5, color=INK)
        if show_backward and s.backward:
            ax.text(x, y - half_h - 0.06, s.backward, ha="center", va="top", fontsize=7.5, color=GRADIENT_TEXT)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def describe_stage_graph(stages: list[Stage], edges: list[Edge], show_backward: bool = True) -> str:
    """The graph in words (its alt text): every arrow with its operation, every stage with its shape and rule."""
    arrows = "; ".join(f"{e.source} to {e.target}" + (f" by {e.op}" if e.op else "") for e in edges)
    boxes = "; ".join(f"{s.name} {s.shape}" + (f", backward {' '.join(s.backward.split())}" if show_backward and s.backward else "")
                      for s in stages)
    kind = "with each stage's backward rule under its box" if show_backward else "forward only"
    return (f"A graph of {len(stages)} array stages joined by {len(edges)} arrows, {kind}, left to right."
            f" Arrows: {arrows}. Stages: {boxes}.")
