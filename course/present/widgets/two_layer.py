"""The two-layer network widget: train the lesson's network on the spiral and watch it learn.

Sliders set the hidden size, the learning rate, the L2 strength and the keep
probability; *train* (a play button), *step* and *reset* drive mini-batch
SGD in chunks of ``STEPS_PER_CHUNK`` steps. After every chunk the loss curve
and the decision regions are redrawn.

What is shown is a pure function of the sliders and the number of chunks
(``two_layer_state``): the initial weights, the dropout masks and the order
of the mini-batches all come from fixed seeds, so moving a slider starts
training again from the *same* initial network and the runs compare fairly.
The widget itself keeps a ``SpiralTrainer`` and advances it chunk by chunk
instead of training from scratch, which gives the same numbers (a test
checks it). Training runs one chunk per message from the browser (the play
button ticks), so the page stays responsive and *pause* acts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from course.compute.data import spiral
from course.compute.network import Network, sgd_step, two_layer_network
from course.compute.softmax import softmax_loss
from course.compute.threads import one_blas_thread

STEPS_PER_CHUNK = 10
MAX_CHUNKS = 200  # 2,000 steps: enough for every setting to settle or visibly fail
BATCH_SIZE = 50
GRID = 60  # the decision regions are evaluated on GRID × GRID points
LIMIT = 1.1  # the picture shows [-LIMIT, LIMIT]²
MARKERS = ("o", "^", "s")  # class 1, 2, 3 in the picture
MARKER_NAMES = ("circles", "triangles", "squares")
DEFAULTS = {"hidden": 50, "lr": 1.0, "l2": 0.001, "keep_prob": 1.0}


@lru_cache(maxsize=1)
def spiral_data() -> tuple[np.ndarray, np.ndarray]:
    """The widget's data: three arms of 100 points (fixed seed)."""
    return spiral(100, 3, noise=0.2, rng=np.random.default_rng(0))


@lru_cache(maxsize=1)
def grid_points() -> np.ndarray:
    axis = np.linspace(-LIMIT, LIMIT, GRID)
    gx, gy = np.meshgrid(axis, axis)
    return np.column_stack([gx.ravel(), gy.ravel()])


class SpiralTrainer:
    """The network for one setting of the sliders, trained a chunk at a time."""

    def __init__(self, hidden: int, lr: float, l2: float, keep_prob: float) -> None:
        self.settings = (int(hidden), float(lr), float(l2), float(keep_prob))
        self.x, self.y = spiral_data()
        self.net: Network = two_layer_network((2, int(hidden), 3), np.random.default_rng(1),
                                              keep_prob=keep_prob, l2=l2)
        self.lr = float(lr)
        self.rng = np.random.default_rng(2)  # the order of the mini-batches
        self._order: list[np.ndarray] = []
        self.chunks = 0
        self.losses = [self.full_loss()]  # after 0, 1, 2, ... chunks

    def _next_batch(self) -> np.ndarray:
        if not self._order:
            order = self.rng.permutation(len(self.y))
            self._order = [order[i:i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)][::-1]
        return self._order.pop()

    def full_loss(self) -> float:
        """Data loss on all the points, in evaluation mode (no dropout): a smooth curve."""
        with np.errstate(all="ignore"):
            return softmax_loss(self.net.forward(self.x, train=False), self.y)[0]

    def advance(self, chunks: int = 1) -> None:
        with one_blas_thread():
            self._advance(chunks)

    def _advance(self, chunks: int) -> None:
        for _ in range(chunks):
            if not np.isfinite(self.losses[-1]):
                self.losses.append(self.losses[-1])  # diverged: nothing left to learn
            else:
                with np.errstate(all="ignore"):
                    for _ in range(STEPS_PER_CHUNK):
                        batch = self._next_batch()
                        self.net.loss_and_grads(self.x[batch], self.y[batch], train=True)
                        sgd_step(self.net, self.lr)
                self.losses.append(self.full_loss())
            self.chunks += 1

    def state(self) -> "TwoLayerState":
        with np.errstate(all="ignore"), one_blas_thread():
            regions = self.net.predict(grid_points()).reshape(GRID, GRID)
            accuracy = self.net.accuracy(self.x, self.y)
        return TwoLayerState(*self.settings, self.chunks * STEPS_PER_CHUNK, tuple(self.losses), accuracy, regions)


@dataclass(frozen=True)
class TwoLayerState:
    hidden: int
    lr: float
    l2: float
    keep_prob: float
    steps: int
    losses: tuple[float, ...]  # full-data loss after each chunk, starting at step 0
    accuracy: float  # on the spiral's points, evaluation mode
    regions: np.ndarray  # (GRID, GRID) predicted class on the grid

    @property
    def loss(self) -> float:
        return self.losses[-1]

    def summary(self) -> str:
        loss = f"{self.loss:.3f}" if np.isfinite(self.loss) else "diverged (not a number)"
        return f"step {self.steps}: loss {loss}, accuracy {100 * self.accuracy:.1f} %"


def two_layer_state(hidden: int = DEFAULTS["hidden"], lr: float = DEFAULTS["lr"], l2: float = DEFAULTS["l2"],
                    keep_prob: float = DEFAULTS["keep_prob"], chunks: int = 0) -> TwoLayerState:
    """What the widget shows after ``chunks`` chunks of training with these settings (from scratch)."""
    trainer = SpiralTrainer(hidden, lr, l2, keep_prob)
    trainer.advance(chunks)
    return trainer.state()


class TwoLayerPicture:
    """Decision regions with the points (left) and the loss curve (right), blitted."""

    def __init__(self, state: TwoLayerState, dpi: int = 96):
        from matplotlib.figure import Figure

        from course.present.palette import CORRECT, GRADIENT, VALUE
        from course.present.widgets.figure_view import Blitter

        from matplotlib.colors import to_rgb

        colours = [VALUE, GRADIENT, CORRECT]
        # Pale versions of the class colours, as an RGB lookup table: the
        # regions are drawn as a plain RGB image (no colour map, no alpha
        # blending per frame), the cheapest image matplotlib draws.
        self.pale = np.array([0.3 * np.array(to_rgb(c)) + 0.7 for c in colours])
        self.figure = Figure(figsize=(9.0, 3.6))
        self.regions_axes, self.loss_axes = self.figure.subplots(1, 2)
        self.figure.subplots_adjust(left=0.05, right=0.98, bottom=0.14, top=0.88, wspace=0.22)
        ax = self.regions_axes
        self.image = ax.imshow(self.pale[state.regions], origin="lower", extent=(-LIMIT, LIMIT, -LIMIT, LIMIT),
                               interpolation="nearest")
        x, y = spiral_data()
        # One marker shape per class, so the classes differ by more than colour.
        # Animated too, and after the image: the opaque regions are redrawn every frame and would cover them.
        points = [ax.scatter(x[y == k, 0], x[y == k, 1], color=colours[k], marker=MARKERS[k], s=12,
                             edgecolors="white", linewidths=0.3, label=f"class {k + 1}")
                  for k in range(len(colours))]
        ax.set_xlim(-LIMIT, LIMIT)
        ax.set_ylim(-LIMIT, LIMIT)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        # The key is in the title: a legend inside the axes would sit under the regions, redrawn every frame.
        ax.set_title("decision regions; points of class 1 ●, 2 ▲, 3 ■", fontsize=10)
        ax = self.loss_axes
        self.line, = ax.plot([], [], color=GRADIENT, linewidth=1.5)
        ax.set_xlim(0, MAX_CHUNKS * STEPS_PER_CHUNK)
        ax.set_ylim(0.0, 2.0)
        ax.set_xlabel("SGD step")
        ax.set_ylabel("loss on all points")
        ax.grid(alpha=0.3)
        ax.set_title("loss curve", fontsize=10)
        self.blitter = Blitter(self.figure, (self.image, *points, self.line), dpi=dpi)
        self.update(state)

    def update(self, state: TwoLayerState) -> None:
        self.image.set_data(self.pale[state.regions])
        steps = np.arange(len(state.losses)) * STEPS_PER_CHUNK
        # A diverged run has no finite loss to draw; the clip keeps huge losses at the top edge.
        losses = np.clip(np.nan_to_num(np.asarray(state.losses), nan=2.0, posinf=2.0), 0.0, 2.0)
        self.line.set_data(steps, losses)

    def png(self) -> bytes:
        return self.blitter.png()


def picture_alt(state: TwoLayerState) -> str:
    """The picture in words: what the regions cover and how many points they get right, then the loss curve."""
    counts = np.bincount(state.regions.ravel(), minlength=len(MARKERS))
    shares = ", ".join(f"class {k + 1} ({MARKER_NAMES[k]}) {100 * c / state.regions.size:.0f} %"
                       for k, c in enumerate(counts))
    x, _ = spiral_data()
    first = state.losses[0]

    def loss(value: float) -> str:
        return f"{value:.3f}" if np.isfinite(value) else "not a number (diverged)"

    curve = (f"the loss starts at {loss(first)} and is {loss(state.loss)} after {state.steps} steps"
             if state.steps else f"no training yet, the loss is {loss(first)} at step 0")
    return (f"Left: the decision regions of a network with {state.hidden} hidden units (learning rate"
            f" {state.lr:.2f}, L2 strength {state.l2:.3f}, keep_prob {state.keep_prob:.2f}), shaded by predicted"
            f" class over the square from -{LIMIT} to {LIMIT}: {shares} of the area. Over them the spiral's"
            f" {len(x)} points, three arms, one shape per class; {100 * state.accuracy:.1f} % of them lie in the"
            f" region of their own class. Right: the loss on all points against the SGD step, 0 to"
            f" {MAX_CHUNKS * STEPS_PER_CHUNK}: {curve}.")


def two_layer_widget(**settings):
    """Sliders for the settings, train / step / reset, and the live picture."""
    import ipywidgets as widgets

    from course.present.widgets.figure_view import picture_widget, show_picture

    values = {**DEFAULTS, **settings}
    style = {"description_width": "initial"}
    hidden = widgets.IntSlider(value=values["hidden"], min=5, max=100, step=5, description="hidden units",
                               style=style)
    lr = widgets.FloatSlider(value=values["lr"], min=0.05, max=3.0, step=0.05, description="learning rate",
                             readout_format=".2f", style=style)
    l2 = widgets.FloatSlider(value=values["l2"], min=0.0, max=0.02, step=0.001, description="L2 strength",
                             readout_format=".3f", style=style)
    keep = widgets.FloatSlider(value=values["keep_prob"], min=0.5, max=1.0, step=0.05, description="keep_prob",
                               readout_format=".2f", style=style)
    sliders = (hidden, lr, l2, keep)
    play = widgets.Play(value=0, min=0, max=MAX_CHUNKS, step=1, interval=120, description="train",
                        show_repeat=False)
    step_button = widgets.Button(description="step", tooltip=f"{STEPS_PER_CHUNK} SGD steps")
    reset_button = widgets.Button(description="reset", tooltip="back to the initial network")
    numbers = widgets.HTML()
    image = picture_widget()
    trainer = [SpiralTrainer(hidden.value, lr.value, l2.value, keep.value)]
    picture = TwoLayerPicture(trainer[0].state())

    def show() -> None:
        state = trainer[0].state()
        picture.update(state)
        show_picture(image, picture.png(), picture_alt(state))
        numbers.value = f"<code>{state.summary()}</code>"

    def new_trainer() -> None:
        trainer[0] = SpiralTrainer(hidden.value, lr.value, l2.value, keep.value)

    def on_chunks(change) -> None:
        target = int(change["new"])
        if target < trainer[0].chunks:
            new_trainer()  # the stop button, or reset: start again
        trainer[0].advance(target - trainer[0].chunks)
        show()

    def on_setting(_change) -> None:
        new_trainer()
        if play.value != 0:
            play.value = 0  # on_chunks draws
        else:
            show()

    play.observe(on_chunks, names="value")
    for slider in sliders:
        slider.observe(on_setting, names="value")
    step_button.on_click(lambda _b: setattr(play, "value", min(play.value + 1, MAX_CHUNKS)))
    reset_button.on_click(lambda _b: on_setting(None))
    show()
    box = widgets.VBox([
        widgets.HBox([hidden, lr]), widgets.HBox([l2, keep]),
        widgets.HBox([widgets.Label("train"), play, step_button, reset_button]), numbers, image,
    ])
    box.add_class("gradflow-two-layer")
    return box
