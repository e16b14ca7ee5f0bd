"""The shape explorer: dimension analysis for Y = X · W.

Sliders for N (batch), D (input features), C (outputs). The picture draws
X (N×D), W (D×C), Y = X·W (N×C) and, below, the two gradient products
dW = Xᵀ·dY and dX = dY·Wᵀ, every matrix a rectangle of its proportions. The
table lists every way of multiplying the two available factors (each one
transposed or not, in either order) and what numpy says when it is tried:
a shape error, a result of the wrong shape, or the variable's shape. With
three different sizes exactly one arrangement fits; when sizes coincide the
shapes alone cannot decide, and the state says which impostors fit too.

The product is called Y here, not D: D already names the number of input
features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np

MAX_SIZE = 6
T = "ᵀ"


@dataclass(frozen=True)
class Candidate:
    """One arrangement ``left · right`` of two factors, and numpy's verdict on it."""

    expression: str
    result_shape: tuple[int, ...] | None  # None: numpy refused to multiply
    error: str | None  # numpy's ValueError message, when it refused
    fits: bool  # the result has the variable's shape
    is_gradient: bool  # its values are the true gradient (checked on random arrays)

    def verdict(self, target: tuple[int, ...]) -> str:
        if self.error is not None:
            # numpy's own message, without the gufunc signature in the middle.
            head, _, tail = self.error.partition(", with gufunc signature")
            size = tail[tail.find("(size"):] if "(size" in tail else ""
            return f"ValueError: {head} {size}".strip()
        shape = "×".join(map(str, self.result_shape))
        if not self.fits:
            return f"gives {shape}, but the variable is {'×'.join(map(str, target))}"
        return f"gives {shape}: fits" + ("" if self.is_gradient else ", but its values are not the gradient")


@dataclass(frozen=True)
class GradientChoice:
    """All arrangements for one gradient (dW or dX) and which of them fit."""

    name: str
    target: tuple[int, ...]
    candidates: tuple[Candidate, ...]

    @property
    def fitting(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.fits)

    @property
    def unique(self) -> bool:
        return len(self.fitting) == 1

    @property
    def answer(self) -> Candidate:
        return next(c for c in self.candidates if c.is_gradient)


@dataclass(frozen=True)
class ShapeState:
    n: int
    d: int
    c: int
    shapes: dict[str, tuple[int, int]]  # X, W, Y, dY, dW, dX
    dW: GradientChoice
    dX: GradientChoice
    coincide: tuple[str, ...]  # e.g. ("N = D",): sizes that are equal

    @property
    def note(self) -> str:
        if not self.coincide:
            return "N, D and C all differ: for each gradient exactly one arrangement has the right shape."
        impostors = [c.expression for g in (self.dW, self.dX) for c in g.fitting if not c.is_gradient]
        if not impostors:  # 1×1 matrices: every product is the same number
            return (f"{' and '.join(self.coincide)}: every matrix is 1×1, so every arrangement that fits"
                    " gives the same number. Test with sizes that all differ.")
        return (f"{' and '.join(self.coincide)}: with equal sizes the shapes alone cannot decide;"
                f" {', '.join(impostors)} also {'fits' if len(impostors) == 1 else 'fit'} but"
                f" {'gives' if len(impostors) == 1 else 'give'} wrong values."
                " Test with sizes that all differ.")


def _matmul_outcome(left: tuple[int, int], right: tuple[int, int]) -> tuple[tuple[int, ...] | None, str | None]:
    # Really ask numpy (on zeros: only the shapes matter), so the message is
    # exactly the one a learner would see.
    try:
        return np.matmul(np.zeros(left), np.zeros(right)).shape, None
    except ValueError as exc:
        return None, str(exc)


def _choices(name: str, a: tuple[str, np.ndarray], b: tuple[str, np.ndarray],
             target: tuple[int, int], truth: np.ndarray) -> GradientChoice:
    """Every product of a or aᵀ with b or bᵀ, in both orders."""
    (a_name, a_val), (b_name, b_val) = a, b
    factors_a = [(a_name, a_val), (a_name + T, a_val.T)]
    factors_b = [(b_name, b_val), (b_name + T, b_val.T)]
    candidates = []
    for first_is_a in (True, False):
        for (na, va), (nb, vb) in product(factors_a, factors_b):
            (ln, lv), (rn, rv) = ((na, va), (nb, vb)) if first_is_a else ((nb, vb), (na, va))
            shape, error = _matmul_outcome(lv.shape, rv.shape)
            fits = shape == target
            is_gradient = fits and bool(np.allclose(lv @ rv, truth))
            candidates.append(Candidate(f"{ln}·{rn}", shape, error, fits, is_gradient))
    return GradientChoice(name, target, tuple(candidates))


@lru_cache(maxsize=512)
def shape_state(n: int, d: int, c: int) -> ShapeState:
    """Shapes of Y = X·W and of its gradients, and every candidate arrangement."""
    if min(n, d, c) < 1:
        raise ValueError("sizes must be at least 1")
    rng = np.random.default_rng([n, d, c])
    X, W, dY = rng.normal(size=(n, d)), rng.normal(size=(d, c)), rng.normal(size=(n, c))
    # The true gradients, from the definition (not from the formulas being
    # tested): d sum(dY ⊙ XW) / dW[i, j] = sum_k X[k, i] dY[k, j], and alike for X.
    true_dW = np.einsum("ki,kj->ij", X, dY)
    true_dX = np.einsum("kj,ij->ki", dY, W)
    sizes = {"N": n, "D": d, "C": c}
    coincide = tuple(f"{p} = {q}" for p, q in (("N", "D"), ("N", "C"), ("D", "C")) if sizes[p] == sizes[q])
    return ShapeState(
        n, d, c,
        shapes={"X": (n, d), "W": (d, c), "Y": (n, c), "dY": (n, c), "dW": (d, c), "dX": (n, d)},
        dW=_choices("dW", ("X", X), ("dY", dY), (d, c), true_dW),
        dX=_choices("dX", ("dY", dY), ("W", W), (n, d), true_dX),
        coincide=coincide,
    )


# ----- the picture -------------------------------------------------------------------------

# Three rows of "A op B = C"; each matrix sits in a slot MAX_SIZE wide.
_ROWS = (
    ("X", "·", "W", "=", "Y"),
    ("dW", "=", "Xᵀ", "·", "dY"),
    ("dX", "=", "dY", "·", "Wᵀ"),
)
_SLOT = MAX_SIZE + 0.6
_GAP = 1.8
_ROW_HEIGHT = MAX_SIZE + 2.4


_SYMBOLS = {"X": "N×D", "W": "D×C", "Y": "N×C", "dY": "N×C", "dW": "D×C", "dX": "N×D"}


def _symbols(name: str) -> str:
    if name.endswith(T):
        r, c = _SYMBOLS[name[:-1]].split("×")
        return f"{c}×{r}"
    return _SYMBOLS[name]


def _shape_of(name: str, state: ShapeState) -> tuple[int, int]:
    if name.endswith(T):
        r, c = state.shapes[name[:-1]]
        return c, r
    return state.shapes[name]


class ShapePicture:
    """A figure of the three products; ``update(state)`` moves the artists."""

    def __init__(self, state: ShapeState):
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        from course.present import palette

        self.figure, ax = plt.subplots(figsize=(5.6, 5.6))
        self.figure.subplots_adjust(0.01, 0.01, 0.99, 0.99)
        ax.set_xlim(-0.3, 3 * _SLOT + 2 * _GAP + 0.3)
        ax.set_ylim(-(2 * _ROW_HEIGHT + 1.4 + MAX_SIZE + 0.3), 0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        self.boxes, self.labels = [], []
        for r, row in enumerate(_ROWS):
            top = -r * _ROW_HEIGHT - 1.4
            for k, token in enumerate(row):
                if k % 2 == 1:  # an operator between two slots
                    x = (k // 2 + 1) * _SLOT + (k // 2) * _GAP + _GAP / 2 - 0.3
                    ax.text(x, top - 1.5, token, fontsize=18, ha="center", va="center", color=palette.INK)
                    continue
                colour = palette.GRADIENT if token.startswith("d") else palette.VALUE
                x0 = (k // 2) * (_SLOT + _GAP)
                box = Rectangle((x0, top), 1, 1, facecolor=colour, alpha=0.35, edgecolor=colour, linewidth=1.5)
                ax.add_patch(box)
                label = ax.text(x0, top + 0.3, "", fontsize=10, ha="left", va="bottom", color=palette.INK)
                self.boxes.append((token, box, top))
                self.labels.append(label)
        self.update(state)

    def update(self, state: ShapeState) -> None:
        for (name, box, top), label in zip(self.boxes, self.labels):
            rows, cols = _shape_of(name, state)
            # Height grows downward from the row's top line: rows down, columns across.
            box.set_bounds(box.get_x(), top - rows, cols, rows)
            label.set_text(f"{name}  ({_symbols(name)}) = {rows}×{cols}")


def picture_alt(state: ShapeState) -> str:
    """The picture in words: each of its three rows with every matrix's shape."""
    rows = []
    for row in _ROWS:
        words = []
        for k, token in enumerate(row):
            if k % 2 == 1:
                words.append(token)
            else:
                r, c = _shape_of(token, state)
                words.append(f"{token} ({r}×{c})")
        rows.append(" ".join(words))
    return (f"Matrices drawn as boxes to scale, rows down and columns across, for N = {state.n}, D = {state.d},"
            f" C = {state.c}: " + "; ".join(rows) + ".")


def _table_html(state: ShapeState) -> str:
    parts = []
    for choice in (state.dW, state.dX):
        target = "×".join(map(str, choice.target))
        rows = []
        for cand in choice.candidates:
            mark = "✔" if cand.is_gradient else ("≈" if cand.fits else "✘")
            rows.append(f"<tr><td>{mark}</td><td><code>{choice.name} = {cand.expression}</code></td>"
                        f"<td>{_escape(cand.verdict(choice.target))}</td></tr>")
        parts.append(f"<b>{choice.name}</b> must be {target} (the shape of"
                     f" {choice.name[1:]}):<table>{''.join(rows)}</table>")
    # A fixed minimum height: the note is one or two lines, and the widget should not jump.
    parts.append(f"<p style='min-height:3em'>{_escape(state.note)}</p>")
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shapes_widget(n: int = 2, d: int = 4, c: int = 3):
    """Sliders for N, D, C above the picture and the table of arrangements."""
    import ipywidgets as widgets

    from course.present.widgets.figure_view import FigureView

    sliders = {name: widgets.IntSlider(value=v, min=1, max=MAX_SIZE, description=name, continuous_update=True)
               for name, v in (("N", n), ("D", d), ("C", c))}
    picture = ShapePicture(shape_state(n, d, c))
    view = FigureView(picture.figure)
    table = widgets.HTML()

    def redraw(_change=None) -> None:
        state = shape_state(*(sliders[k].value for k in "NDC"))
        picture.update(state)
        view.refresh(picture_alt(state))
        table.value = _table_html(state)

    for slider in sliders.values():
        slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox(list(sliders.values())), view.widget, table])
    box.add_class("gradflow-shapes")
    return box
