"""The attention widget: a six-word sentence through one head; heat maps of the
attention P and of the gradient dS flowing back into the scores; sliders for
the temperature τ (the √d the scores are divided by), the query whose row is
followed, and a toggle for the causal mask.

``attention_state`` is the plain function the tests call; the widget only
wires the controls to it and draws. The upstream gradient on the head's
output is fixed, so what moves the dS map is the head itself: a low
temperature makes P one-hot and its gradient vanish, a high one makes P
uniform, and the mask zeroes both maps above the diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.attention import attention_forward, softmax_backward

TOKENS = ("the", "cat", "sat", "on", "the", "mat")
WIDTH = 4  # d: the head's width; the usual temperature is √d = 2
FEATURES = 5  # D


def _fmt(value: float) -> str:
    # Two decimals and no "-0.00" for a value that rounds to zero.
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _sentence(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Fixed embeddings (the two "the" share theirs), projections and upstream gradient, two decimals each.
    rng = np.random.default_rng([seed, 8])
    words = {w: np.round(rng.normal(size=FEATURES), 2) for w in dict.fromkeys(TOKENS)}
    x = np.array([words[w] for w in TOKENS])[None]  # (1, T, D)
    wq, wk, wv = (np.round(rng.normal(size=(FEATURES, WIDTH)), 2) for _ in range(3))
    dout = np.round(rng.uniform(-1.0, 1.0, size=(1, len(TOKENS), WIDTH)), 2)
    return x, wq, wk, wv, dout


@dataclass(frozen=True)
class AttentionState:
    temperature: float
    query: int  # 0-based position of the query whose row is followed
    causal: bool
    tokens: tuple[str, ...]
    P: np.ndarray  # (T, T) attention: row i is query i's weights over the keys
    dS: np.ndarray  # (T, T) gradient on the scores, after the softmax's backward and the mask's
    dP: np.ndarray  # (T, T) gradient on P, before the softmax's backward

    def row(self) -> tuple[np.ndarray, np.ndarray]:
        return self.P[self.query], self.dS[self.query]

    def summary(self) -> str:
        """The followed query's row of P and of dS, as the widget writes it."""
        p, ds = self.row()
        word = f'"{self.tokens[self.query]}" (position {self.query + 1})'
        return (f"query {word}, τ = {self.temperature:.2f}, mask {'on' if self.causal else 'off'}:"
                f" P = [{' '.join(_fmt(v) for v in p)}]  dS = [{' '.join(_fmt(v) for v in ds)}]")

    def strongest(self) -> str:
        """The key the query attends to most, and its weight."""
        p = self.P[self.query]
        j = int(np.argmax(p))
        return f'"{self.tokens[j]}" (position {j + 1}) with weight {_fmt(p[j])}'


def attention_state(temperature: float = 2.0, query: int = 3, causal: bool = True, seed: int = 0) -> AttentionState:
    """What the widget shows: the head on the fixed sentence, scores divided by ``temperature``.

    ``query`` counts from 1, as the slider does.
    """
    if temperature <= 0:
        raise ValueError("the temperature must be positive")
    t = len(TOKENS)
    if not 1 <= query <= t:
        raise ValueError(f"the query position must be between 1 and {t}")
    x, wq, wk, wv, dout = _sentence(seed)
    _, cache = attention_forward(x, wq, wk, wv, causal=causal, scale=1.0 / temperature)
    d_p = dout[0] @ cache.V[0].T
    p = cache.P[0]
    d_s = softmax_backward(d_p, p)  # 0 wherever the mask hid a key: P is 0 there
    return AttentionState(float(temperature), int(query) - 1, bool(causal), TOKENS, p, d_s, d_p)


class AttentionPicture:
    """Two heat maps, P and dS, each cell with its number; the followed query's row is framed.

    Hidden cells (above the diagonal, mask on) are drawn grey with a cross,
    so that the mask shows without colour. dS is coloured on a scale of ± its
    largest entry: its numbers give the size.
    """

    def __init__(self, state: AttentionState, dpi: int = 96):
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        from course.present.palette import INK
        from course.present.widgets.figure_view import Blitter

        t = len(state.tokens)
        self.figure = Figure(figsize=(9.0, 4.0), dpi=dpi)
        self.p_axes, self.ds_axes = self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88, wspace=0.3)
        self.p_image = self.p_axes.imshow(np.zeros((t, t)), cmap="Blues", vmin=0.0, vmax=1.0)
        self.ds_image = self.ds_axes.imshow(np.zeros((t, t)), cmap="PuOr", vmin=-1.0, vmax=1.0)
        for image in (self.p_image, self.ds_image):
            image.set_cmap(image.get_cmap().with_extremes(bad="#dddddd"))  # hidden cells: grey, and crossed
        self.texts, self.crosses, self.frames = [], [], []
        labels = [f"{k + 1} {w}" for k, w in enumerate(state.tokens)]
        for ax, title in ((self.p_axes, "attention P (rows: queries)"), (self.ds_axes, "gradient dS on the scores (colour: ± its largest)")):
            ax.set_title(title, fontsize=10)
            ax.set_xticks(range(t), labels, fontsize=8, rotation=45)
            ax.set_yticks(range(t), labels, fontsize=8)
            ax.set_xlabel("key", fontsize=8)
            ax.tick_params(length=0)
            cells = [[ax.text(j, i, "", ha="center", va="center", fontsize=7.5) for j in range(t)] for i in range(t)]
            self.texts.append(cells)
            self.crosses.append(ax.plot([], [], "x", color="#777777", markersize=9)[0])
            frame = Rectangle((-0.5, -0.5), t, 1.0, fill=False, edgecolor=INK, linewidth=2.2)
            ax.add_patch(frame)
            self.frames.append(frame)
        self.p_axes.set_ylabel("query", fontsize=8)
        self.update(state)
        moving = [self.p_image, self.ds_image, *self.crosses, *self.frames,
                  *(text for cells in self.texts for row in cells for text in row)]
        self.blitter = Blitter(self.figure, moving, dpi=dpi)

    def update(self, state: AttentionState) -> None:
        t = len(state.tokens)
        hidden = np.triu(np.ones((t, t), dtype=bool), 1) if state.causal else np.zeros((t, t), dtype=bool)
        largest = float(np.abs(state.dS).max())
        unit = largest if largest > 0 else 1.0
        shown = (np.where(hidden, np.nan, state.P), np.where(hidden, np.nan, state.dS / unit))
        for image, values in zip((self.p_image, self.ds_image), shown):
            image.set_data(values)
        for cells, values, scaled in zip(self.texts, (state.P, state.dS), shown):
            for i in range(t):
                for j in range(t):
                    dark = not hidden[i, j] and abs(scaled[i, j]) > 0.6
                    cells[i][j].set_visible(not hidden[i, j])  # an invisible text costs nothing to draw
                    cells[i][j].set_text(_fmt(values[i, j]))
                    cells[i][j].set_color("white" if dark else "#222222")
        rows, cols = np.nonzero(hidden)
        for cross in self.crosses:
            cross.set_data(cols, rows)
        for frame in self.frames:
            frame.set_y(state.query - 0.5)

    def png(self) -> bytes:
        return self.blitter.png()


def picture_alt(state: AttentionState) -> str:
    """The two heat maps in words: the mask, the followed row of each, and where the gradient is largest."""
    t = len(state.tokens)
    p, ds = state.row()
    hidden = "the cells above the diagonal are hidden by the causal mask (grey, crossed) and are 0 in both maps"
    i, j = np.unravel_index(int(np.argmax(np.abs(state.dS))), state.dS.shape)
    return (f"Two {t} × {t} heat maps over the sentence \"{' '.join(state.tokens)}\", queries as rows and keys as"
            f" columns, each cell with its number; temperature τ = {state.temperature:.2f};"
            f" {hidden if state.causal else 'no mask: every query sees every key'}. Left, the attention P"
            f" (white to dark blue, 0 to 1): the framed row of query {state.query + 1}"
            f" (\"{state.tokens[state.query]}\") is [{', '.join(_fmt(v) for v in p)}]; it attends most to"
            f" {state.strongest()}. Right, the gradient dS on the scores (orange negative, purple positive):"
            f" the framed row is [{', '.join(_fmt(v) for v in ds)}], summing to 0; the largest |dS| of the map is"
            f" {_fmt(float(state.dS[i, j]))} at query {i + 1}, key {j + 1}.")


def attention_widget(temperature: float = 2.0, query: int = 3, causal: bool = True, seed: int = 0):
    """Sliders for the temperature and the query position, a toggle for the causal mask, the two maps."""
    import html

    import ipywidgets as widgets

    from course.present.widgets.figure_view import light_panel, picture_widget, show_picture

    style = {"description_width": "initial"}
    tau = widgets.FloatSlider(value=temperature, min=0.25, max=8.0, step=0.25, description="temperature τ",
                              readout_format=".2f", style=style)
    position = widgets.IntSlider(value=query, min=1, max=len(TOKENS), step=1, description="query position",
                                 style=style)
    mask = widgets.ToggleButton(value=causal, description="causal mask", tooltip="hide the keys after each query")
    numbers = widgets.HTML()
    picture = AttentionPicture(attention_state(temperature, query, causal, seed))
    image = picture_widget()

    def redraw(_change=None) -> None:
        shown = float(f"{tau.value:.2f}")  # the value the readout shows
        state = attention_state(shown, position.value, mask.value, seed)
        picture.update(state)
        show_picture(image, picture.png(), picture_alt(state))
        numbers.value = light_panel(f"<code>{html.escape(state.summary())}</code>")

    for control in (tau, position, mask):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([tau, position, mask]), numbers, image])
    box.add_class("gradflow-attention")
    return box
