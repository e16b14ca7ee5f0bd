"""The batch-normalisation widget: a batch of three features, sliders for the
batch's spread and shift, gamma, beta and eps; histograms before and after
normalisation, and the gradient flowing back to x along its three paths.

The raw batch is built so that its statistics are exactly what the sliders
say: each feature's column is standardised once (mean 0, biased variance 1),
then feature k gets mean ``shift + MEANS[k]`` and standard deviation
``spread * STDS[k]``. Moving ``shift`` or ``spread`` changes the "before"
histograms and leaves the "after" ones where they are, until ``eps`` is no
longer small against the variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.batchnorm import batchnorm_backward, batchnorm_forward, path_gradients

BATCH = 24
MEANS = (-1.5, 0.0, 1.5)  # each feature's own mean before the shift slider
STDS = (0.5, 1.0, 1.5)  # and its own standard deviation before the spread slider
BEFORE_RANGE = 13.0  # the "before" histograms span [-13, 13]: every slider setting fits
AFTER_RANGE = 10.0
FEATURE_SHOWN = 0  # the feature whose dx is split into its paths
LINE_STYLES = ("-", "--", ":")  # feature 1, 2, 3: the histograms differ by more than colour
PATH_MARKERS = ("o", "^", "s")  # direct, through μ, through σ²


def _fmt(value: float) -> str:
    # Three decimals, and no "-0.000" for a value that rounds to zero.
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def _base_batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    z = rng.normal(size=(BATCH, len(MEANS)))
    z = (z - z.mean(axis=0)) / z.std(axis=0)  # exactly mean 0 and (biased) variance 1 per column
    # A fixed upstream gradient that leans with x (as a loss that wants the feature smaller would
    # send) plus noise: its sum over the batch and its correlation with x̂ are both far from 0, so the
    # paths through μ and through σ² are both large enough to see at the default settings.
    dout = np.round(0.25 + 0.6 * z + rng.uniform(-0.6, 0.6, size=z.shape), 2)
    return z, dout


@dataclass(frozen=True)
class BatchNormState:
    spread: float
    shift: float
    gamma: float
    beta: float
    eps: float
    x: np.ndarray  # (N, D) the raw batch
    out: np.ndarray  # (N, D)
    mu: np.ndarray  # (D,)
    var: np.ndarray  # (D,)
    dout: np.ndarray  # (N, D) the fixed upstream gradient
    dx: np.ndarray  # (N, D)
    dgamma: np.ndarray  # (D,)
    dbeta: np.ndarray  # (D,)
    dmu: np.ndarray  # (D,) the gradient on the batch mean
    dvar: np.ndarray  # (D,) the gradient on the batch variance
    paths: dict[str, np.ndarray]  # feature FEATURE_SHOWN's dx along each path, (N,) each

    def rows(self) -> list[str]:
        """One line per feature, as the table shows it."""
        return [f"feature {k + 1} " + " ".join(_fmt(v) for v in self.numbers(k)) for k in range(self.mu.size)]

    def numbers(self, k: int) -> tuple[float, ...]:
        """Feature k's μ, σ², dμ, dσ², dγ and dβ: the table's row."""
        return (self.mu[k], self.var[k], self.dmu[k], self.dvar[k], self.dgamma[k], self.dbeta[k])

    def path_summary(self) -> str:
        """The size of each path's share of dx for the feature shown, and their sum."""
        share = {name: float(np.abs(v).sum()) for name, v in self.paths.items()}
        total = float(np.abs(self.dx[:, FEATURE_SHOWN]).sum())
        return (f"feature {FEATURE_SHOWN + 1}, Σ|dx| along each path: direct {_fmt(share['direct'])},"
                f" through μ {_fmt(share['mean'])}, through σ² {_fmt(share['variance'])};"
                f" Σ|dx| of their sum {_fmt(total)}")


def batchnorm_state(spread: float = 1.0, shift: float = 0.0, gamma: float = 1.0, beta: float = 0.0,
                    eps: float = 1e-5, seed: int = 0) -> BatchNormState:
    """What the widget shows for given slider values (training mode, one batch)."""
    if spread <= 0:
        raise ValueError("the spread must be positive")
    z, dout = _base_batch(seed)
    x = shift + np.asarray(MEANS) + spread * np.asarray(STDS) * z
    d = x.shape[1]
    g, b = np.full((1, d), float(gamma)), np.full((1, d), float(beta))
    out, cache = batchnorm_forward(x, g, b, "train", None, eps)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    paths = path_gradients(dout, cache)
    return BatchNormState(
        spread=float(spread), shift=float(shift), gamma=float(gamma), beta=float(beta), eps=float(eps),
        x=x, out=out, mu=cache.mu[0], var=cache.var[0], dout=dout, dx=dx, dgamma=dgamma[0], dbeta=dbeta[0],
        dmu=paths["dmu"][0], dvar=paths["dvar"][0],
        paths={name: paths[name][:, FEATURE_SHOWN] for name in ("direct", "mean", "variance")},
    )


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Values beyond the range land in the edge bins instead of vanishing.
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]


class BatchNormPicture:
    """Histograms before and after, and the three paths of dx for one feature.

    No axes ever changes, so everything but the step outlines, the points
    and one label is drawn once and kept as a bitmap (blitting). The gradient
    grows like gamma / sqrt(var + eps), over orders of magnitude as the
    sliders move, so the paths panel divides every value by the largest one
    it shows and writes that number in the corner; the table gives the values.
    """

    def __init__(self, state: BatchNormState, dpi: int = 96):
        from matplotlib.figure import Figure

        from course.present.palette import CORRECT, GRADIENT, HIGHLIGHT, INK, VALUE
        from course.present.widgets.figure_view import Blitter

        colours = (VALUE, HIGHLIGHT, CORRECT)
        self.figure = Figure(figsize=(10.0, 3.2), dpi=dpi)
        self.before_axes, self.after_axes, self.paths_axes = self.figure.subplots(1, 3)
        self.figure.subplots_adjust(left=0.04, right=0.99, bottom=0.16, top=0.86, wspace=0.22)
        self.before_edges = np.linspace(-BEFORE_RANGE, BEFORE_RANGE, 53)
        self.after_edges = np.linspace(-AFTER_RANGE, AFTER_RANGE, 41)
        self.before, self.after = [], []
        d = state.x.shape[1]
        for k in range(d):
            self.before.append(self.before_axes.stairs(np.zeros(52), self.before_edges, color=colours[k],
                                                       linestyle=LINE_STYLES[k], linewidth=1.6,
                                                       label=f"feature {k + 1}"))
            self.after.append(self.after_axes.stairs(np.zeros(40), self.after_edges, color=colours[k],
                                                     linestyle=LINE_STYLES[k], linewidth=1.6))
        for ax, title, top in ((self.before_axes, "before: x", BATCH), (self.after_axes, "after: γ·x̂ + β", BATCH)):
            ax.set_title(title, fontsize=10)
            ax.set_ylim(0, top / 2)  # a spike of a tiny spread runs off the top
            ax.set_yticks([])
            ax.spines[["top", "right", "left"]].set_visible(False)
        self.before_axes.legend(fontsize=7, frameon=False, loc="upper left")

        ax = self.paths_axes
        order = np.argsort(state.x[:, FEATURE_SHOWN])
        self.order = order  # shift and spread keep the order of the examples
        positions = np.arange(order.size)
        self.path_lines = [
            ax.plot(positions, np.zeros(order.size), marker, markersize=3.5, color=colour, label=label)[0]
            for colour, marker, label in zip((VALUE, HIGHLIGHT, CORRECT), PATH_MARKERS,
                                             ("direct", "through μ", "through σ²"))
        ]
        self.total_line, = ax.plot(positions, np.zeros(order.size), color=GRADIENT, linewidth=1.8, label="dx")
        ax.axhline(0.0, color=INK, linewidth=0.6)
        ax.set_ylim(-1.15, 1.6)  # room for the legend above the points
        ax.set_yticks([-1.0, 0.0, 1.0])
        self.scale_label = ax.text(0.98, 0.02, "", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
        ax.set_title(f"dx of feature {FEATURE_SHOWN + 1} by path (scaled)", fontsize=10)
        ax.set_xlabel("examples, by increasing x", fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False, ncols=2, loc="upper center")
        ax.spines[["top", "right"]].set_visible(False)
        self.update(state)
        self.blitter = Blitter(self.figure, (*self.before, *self.after, *self.path_lines, self.total_line,
                                             self.scale_label), dpi=dpi)

    def update(self, state: BatchNormState) -> None:
        for k, (before, after) in enumerate(zip(self.before, self.after)):
            before.set_data(_histogram(state.x[:, k], self.before_edges))
            after.set_data(_histogram(state.out[:, k], self.after_edges))
        total = state.dx[self.order, FEATURE_SHOWN]
        largest = max(float(np.abs(v).max()) for v in (total, *state.paths.values()))
        unit = largest if largest > 0 else 1.0  # gamma = 0: no gradient at all
        for line, name in zip(self.path_lines, ("direct", "mean", "variance")):
            line.set_ydata(state.paths[name][self.order] / unit)
        self.total_line.set_ydata(total / unit)
        self.scale_label.set_text(f"1 on this scale = {unit:.3g}")

    def png(self) -> bytes:
        return self.blitter.png()


def picture_alt(state: BatchNormState) -> str:
    """The picture in words: each feature's spread before and after, then the paths of dx and their sizes."""
    n, d = state.x.shape
    styles = ("solid", "dashed", "dotted")

    def columns(values: np.ndarray) -> str:
        return "; ".join(f"feature {k + 1} ({styles[k]}) mean {_fmt(values[:, k].mean())},"
                         f" standard deviation {_fmt(values[:, k].std())}" for k in range(d))

    share = {name: float(np.abs(v).sum()) for name, v in state.paths.items()}
    return (f"Left: histograms of a batch of {n} examples before normalisation, one outline per feature:"
            f" {columns(state.x)}. Middle: the same batch after, γ·x̂ + β with γ = {state.gamma:.1f},"
            f" β = {state.beta:.1f}, ε = {state.eps:.0e}: {columns(state.out)}. Right: the gradient dx of"
            f" feature {FEATURE_SHOWN + 1} for each example in order of increasing x, split into its three"
            f" paths (direct as circles, through μ as triangles, through σ² as squares) and their sum as a"
            f" line; Σ|dx| is {_fmt(share['direct'])} direct, {_fmt(share['mean'])} through μ,"
            f" {_fmt(share['variance'])} through σ², and {_fmt(float(np.abs(state.dx[:, FEATURE_SHOWN]).sum()))}"
            f" for the sum.")


def _table_html(state: BatchNormState) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("", "μ", "σ²", "dμ", "dσ²", "dγ", "dβ"))
    body = "".join(
        f"<tr><td>feature {k + 1}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in state.numbers(k)) + "</tr>"
        for k in range(state.mu.size))
    from course.present.widgets.figure_view import light_panel

    # A light panel like the picture above it, in JupyterLab's dark theme too (see light_panel).
    return light_panel(f"<table style='border-spacing:12px 1px;margin-left:-12px'><tr>{head}</tr>{body}</table>"
                       f"<small>{state.path_summary()}</small>")


def batchnorm_widget(spread: float = 1.0, shift: float = 0.0, gamma: float = 1.0, beta: float = 0.0,
                     eps: float = 1e-5, seed: int = 0):
    """Sliders for spread, shift, gamma, beta and eps above the histograms, the paths and a table."""
    import ipywidgets as widgets

    from course.present.widgets.figure_view import picture_widget, show_picture

    style = {"description_width": "initial"}
    sliders = {
        "spread": widgets.FloatSlider(value=spread, min=0.05, max=2.0, step=0.05, description="spread",
                                      readout_format=".2f", style=style),
        "shift": widgets.FloatSlider(value=shift, min=-4.0, max=4.0, step=0.5, description="shift",
                                     readout_format=".1f", style=style),
        "gamma": widgets.FloatSlider(value=gamma, min=0.0, max=3.0, step=0.1, description="γ",
                                     readout_format=".1f", style=style),
        "beta": widgets.FloatSlider(value=beta, min=-3.0, max=3.0, step=0.5, description="β",
                                    readout_format=".1f", style=style),
        # Whole powers of ten: the readout shows the exact value the state uses.
        "eps": widgets.FloatLogSlider(value=eps, base=10, min=-5, max=0, step=1, description="ε",
                                      readout_format=".0e", style=style),
    }
    table = widgets.HTML()
    picture = BatchNormPicture(batchnorm_state(spread, shift, gamma, beta, eps, seed))
    image = picture_widget()

    def redraw(_change=None) -> None:
        # The values the readouts show: a dragged slider may sit at 0.6500000000000001,
        # and the table must be what those readouts give, even at a rounding tie.
        shown = {name: float(f"{s.value:{s.readout_format}}") for name, s in sliders.items()}
        state = batchnorm_state(**shown, seed=seed)
        picture.update(state)
        show_picture(image, picture.png(), picture_alt(state))
        table.value = _table_html(state)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    controls = list(sliders.values())
    box = widgets.VBox([widgets.HBox(controls[:3]), widgets.HBox(controls[3:]), image, table])
    box.add_class("gradflow-batchnorm")
    return box
