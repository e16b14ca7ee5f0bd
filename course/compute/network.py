"""A network as an ordered list of modules, trained end to end with mini-batch SGD.

The network of lesson 06 is the layer template of lesson 03 twice, with a
dropout after the hidden activation and the softmax loss of lesson 04 at the
end::

    fc1 -> bias1 -> relu1 -> (drop1) -> fc2 -> bias2 -> softmax cross-entropy

Every step is a module of ``course.compute.layers`` (``FullyConnected``,
``AddBias``, ``Activation``) or the ``Dropout`` module below, each holding its
own parameters and their gradients in one place (``module.params``,
``module.grads``). Nothing here writes a forward or backward pass again.

The API (stable: lesson 07 inserts a batchnorm module into this network)
------------------------------------------------------------------------
- ``Network(layers, l2=0.0)``: ``layers`` is an ordered list of
  ``(name, module)`` pairs. A module is any object with ``params`` and
  ``grads`` (dicts of arrays), ``forward(x) -> out`` and ``backward(dout) ->
  dx``; ``backward`` overwrites ``grads`` (no accumulation, so there is no
  ``zero_grad``). Before each forward pass the network sets
  ``module.training`` (True or False): a module that behaves differently in
  training and evaluation (dropout, batchnorm) reads it; the others ignore it.
  A module whose class attribute ``decayed`` names parameters (``("w",)`` for
  ``FullyConnected``) gets L2 weight decay on them; biases and any other
  parameters are not decayed.
- ``net.forward(x, train)`` -> scores (N, C); ``net.backward(dscores)`` runs
  the modules in reverse with ``reversed(...)``, adds ``l2 * W`` to each
  decayed gradient and returns dx.
- ``net.loss_and_grads(x, y, train=True)`` -> ``(loss, grads)``: data loss
  (mean cross-entropy) plus ``(l2 / 2) * sum ||W||^2``, and the gradient of
  that total for every parameter.
- ``net.params`` / ``net.grads``: dicts ``"fc1.w" -> array`` in layer order.
  The arrays *are* the modules' arrays: an in-place update
  (``p -= lr * g``) changes the network.
- ``net.predict(x)``, ``net.accuracy(x, y)``: evaluation mode (no dropout).
- ``net.insert_after(name, new_name, module)``: add a module behind another.
- ``with net.fixed_masks():`` every dropout module reuses one mask, so the
  loss is a deterministic function of the parameters (gradient checks).
- ``two_layer_network(sizes, rng, keep_prob=1.0, l2=0.0, normalize=None)``:
  the lesson's network; ``normalize(width) -> module`` puts a module between
  the signature and the bias of the hidden layer (the template's place for
  batchnorm: signature -> batchnorm -> add biases -> activation).
- ``sgd_step(net, lr)``; ``train(net, x, y, rng, *, lr, epochs,
  batch_size=64, lr_decay=1.0, x_val=None, y_val=None) -> History`` (losses
  per step, accuracies and validation loss per epoch; ``History.summary()``
  prints it the same on every machine): the trainer takes any such network. ``network_gradcheck(net, x, y, rng, samples=20)`` checks
  every parameter against central differences of the total loss.
- ``DIGITS_RECIPE`` and ``train_digits(split, seed=0, **overrides)``: the
  lesson's digits network (scripts/bench_training.py times it).

Everything is float64 and every random draw comes from a generator passed in
(initial weights, dropout masks, the order of the mini-batches): the same
seed gives the same network, the same curve and the same accuracy.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from course.compute.dropout import _check_keep_prob, dropout_backward, dropout_forward
from course.compute.gradcheck import GradCheckResult, relative_error
from course.compute.layers import Activation, AddBias, FullyConnected, Module
from course.compute.portable import diverged_at, diverged_text, loss_text
from course.compute.softmax import softmax_loss
from course.compute.threads import one_blas_thread


class Dropout(Module):
    """Inverted dropout as a module: ``course.compute.dropout``'s pair, plus a mode.

    In training (``self.training``) each unit is kept with probability
    ``keep_prob`` and scaled by ``1 / keep_prob``; in evaluation it is the
    identity. The masks come from ``rng``. While ``hold`` is True the module
    reuses the mask of its previous training forward pass instead of drawing
    a new one (``Network.fixed_masks``).
    """

    def __init__(self, keep_prob: float, rng: np.random.Generator) -> None:
        super().__init__()
        _check_keep_prob(keep_prob)
        self.keep_prob = keep_prob
        self.rng = rng
        self.training = True
        self.hold = False
        self._held = None

    def forward(self, x):
        if not self.training:
            out, self.cache = dropout_forward(x, self.keep_prob, self.rng, train=False)
            return out
        if self.hold and self._held is not None and self._held.mask.shape == x.shape:
            self.cache = self._held
            return x * self.cache.mask * self.cache.scale
        out, self.cache = dropout_forward(x, self.keep_prob, self.rng)
        self._held = self.cache
        return out

    def backward(self, dout):
        return dropout_backward(dout, self.cache)


class Network:
    """Modules in order; forward runs them in order, backward in reverse (see the module's doc)."""

    def __init__(self, layers: list[tuple[str, Module]], l2: float = 0.0) -> None:
        names = [name for name, _ in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"every module needs its own name; got {names}")
        if l2 < 0:
            raise ValueError(f"the L2 strength must be >= 0, got {l2}")
        self.layers: list[tuple[str, Module]] = list(layers)
        self.l2 = float(l2)

    # ----- the passes ---------------------------------------------------------------

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x (N, D) -> scores (N, C). ``train`` selects the mode of dropout (and batchnorm)."""
        for _, module in self.layers:
            module.training = train
            x = module.forward(x)
        return x

    def backward(self, dscores: np.ndarray) -> np.ndarray:
        """dscores (N, C) -> dx (N, D); fills every module's ``grads`` (L2 term included).

        ``reversed(...)`` walks the list backwards without changing it;
        ``self.layers.reverse()`` would reverse the list in place and return
        None, and the next forward pass would run in the wrong order.
        """
        grad = dscores
        for _, module in reversed(self.layers):
            grad = module.backward(grad)
        if self.l2:
            for _, module in self.layers:
                for key in getattr(module, "decayed", ()):
                    # d/dW of (l2/2)·||W||² is l2·W: the penalty's own branch, added at the fork.
                    module.grads[key] = module.grads[key] + self.l2 * module.params[key]
        return grad

    def l2_penalty(self) -> float:
        """``(l2 / 2) * sum of ||W||²`` over the decayed parameters (the weights, not the biases)."""
        if not self.l2:
            return 0.0
        total = sum(float(np.sum(module.params[key] ** 2))
                    for _, module in self.layers for key in getattr(module, "decayed", ()))
        return 0.5 * self.l2 * total

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, train: bool = True) -> tuple[float, dict]:
        """Total loss (mean cross-entropy + L2 penalty) on (x, y) and its gradient for every parameter."""
        scores = self.forward(x, train)
        data_loss, dscores = softmax_loss(scores, y)
        self.backward(dscores)
        return data_loss + self.l2_penalty(), self.grads

    # ----- parameters ----------------------------------------------------------------

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``"name.key" -> array`` for every parameter, in layer order (the modules' own arrays)."""
        return {f"{name}.{key}": value for name, module in self.layers for key, value in module.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """``"name.key" -> gradient`` after a backward pass, same keys and shapes as ``params``."""
        return {f"{name}.{key}": module.grads[key] for name, module in self.layers for key in module.params}

    def module(self, name: str) -> Module:
        for layer_name, module in self.layers:
            if layer_name == name:
                return module
        raise KeyError(f"no module {name!r}; the network has {[n for n, _ in self.layers]}")

    def insert_after(self, name: str, new_name: str, module: Module) -> None:
        """Put ``module`` (called ``new_name``) right behind the module ``name``."""
        self.module(name)  # a clear KeyError when there is no such module
        index = [n for n, _ in self.layers].index(name)
        if new_name in (n for n, _ in self.layers):
            raise ValueError(f"the network already has a module called {new_name!r}")
        self.layers.insert(index + 1, (new_name, module))

    # ----- evaluation ----------------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The class with the highest score for each row of x (evaluation mode: no dropout)."""
        return np.argmax(self.forward(x, train=False), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == y))

    @contextmanager
    def fixed_masks(self) -> Iterator[None]:
        """Inside the block every dropout module keeps the first mask it draws.

        A gradient check evaluates the loss many times; a new mask each time
        would make the loss a different function at every evaluation, and the
        differences would measure the noise, not the slope.
        """
        drops = [m for _, m in self.layers if isinstance(m, Dropout)]
        for m in drops:
            m.hold, m._held = True, None
        try:
            yield
        finally:
            for m in drops:
                m.hold, m._held = False, None

    def describe(self) -> str:
        """One line per module: name, kind and parameter shapes."""
        lines = []
        for name, module in self.layers:
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in module.params.items())
            kind = getattr(module, "name", type(module).__name__)
            if isinstance(module, Dropout):
                kind = f"Dropout(keep_prob={module.keep_prob:g})"
            lines.append(f"{name:<7} {kind:<24} {shapes}".rstrip())
        return "\n".join(lines)


def he_weights(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian weights with variance 2 / fan_in: relu halves the variance, this doubles it back,
    so the scores neither vanish nor explode at the start of training."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def two_layer_network(sizes: tuple[int, int, int], rng: np.random.Generator, keep_prob: float = 1.0,
                      l2: float = 0.0, normalize: Callable[[int], Module] | None = None) -> Network:
    """affine -> relu -> (dropout) -> affine, for softmax cross-entropy on top.

    - ``sizes``: (D, H, C): input features, hidden units, classes.
    - ``rng``: draws the initial weights (He), then the dropout masks.
    - ``keep_prob``: below 1 puts a ``Dropout`` module (``drop1``) after the relu.
    - ``normalize``: ``normalize(H) -> module`` is inserted as ``norm1``
      between ``fc1`` and ``bias1``.
    Biases start at zero: the random weights already make the units differ.
    """
    d, h, c = sizes
    layers: list[tuple[str, Module]] = [("fc1", FullyConnected(he_weights(d, h, rng)))]
    if normalize is not None:
        layers.append(("norm1", normalize(h)))
    layers += [("bias1", AddBias(np.zeros((1, h)))), ("relu1", Activation("relu"))]
    if keep_prob < 1.0:
        layers.append(("drop1", Dropout(keep_prob, rng.spawn(1)[0])))
    layers += [("fc2", FullyConnected(he_weights(h, c, rng))), ("bias2", AddBias(np.zeros((1, c))))]
    return Network(layers, l2=l2)


# ----- gradient check -------------------------------------------------------------------

GRADCHECK_STEP = 1e-5
# A correct float64 gradient checked with central differences of step 1e-5
# typically shows relative errors of 1e-8 or less. Round-off costs an entry
# whose gradient is tiny next to the loss more digits (the error of the
# difference is about 1e-16 * loss / h, whatever the entry's size), hence
# the pass line at 1e-6. A bug gives 1e-4 and more, usually 1e-2 to 1; so
# does a step that straddles a kink (relu at 0), on that entry alone.
GRADCHECK_TOLERANCE = 1e-6


def network_gradcheck(net: Network, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                      samples: int | None = 20, h: float = GRADCHECK_STEP,
                      tolerance: float = GRADCHECK_TOLERANCE) -> list[GradCheckResult]:
    """Compare every parameter's analytic gradient with central differences of the total loss.

    - ``samples``: how many entries of each parameter to check, drawn at
      random by ``rng`` (None: every entry). A large matrix has many entries
      and each costs two forward passes; a bug in a backward pass shows up in
      most entries, so a random subset finds it.
    - Dropout masks are held fixed for the whole check (``fixed_masks``).
    - A batchnorm module's running statistics, moved by every training-mode
      evaluation, are put back afterwards: a check leaves the network as it found it.
    Returns one ``GradCheckResult`` per parameter, in layer order, with the
    worst entry's index in the parameter's own shape.
    """
    results = []
    with net.fixed_masks(), _kept_state(net):
        _, grads = net.loss_and_grads(x, y, train=True)
        grads = {k: g.copy() for k, g in grads.items()}

        def total_loss() -> float:
            scores = net.forward(x, train=True)
            return softmax_loss(scores, y)[0] + net.l2_penalty()

        for key, param in net.params.items():
            count = param.size if samples is None else min(samples, param.size)
            flat = rng.choice(param.size, size=count, replace=False) if count < param.size else np.arange(param.size)
            numeric = np.empty(count)
            for k, f in enumerate(flat):
                index = np.unravel_index(f, param.shape)
                saved = param[index]
                param[index] = saved + h
                plus = total_loss()
                param[index] = saved - h
                minus = total_loss()
                param[index] = saved  # restore: the next entry must see the original network
                numeric[k] = (plus - minus) / (2.0 * h)
            analytic = grads[key].reshape(-1)[flat]
            errors = relative_error(analytic, numeric)
            worst = int(np.argmax(errors))
            results.append(GradCheckResult(
                name=key, passed=bool(errors[worst] <= tolerance), max_relative_error=float(errors[worst]),
                tolerance=tolerance, worst_index=tuple(int(i) for i in np.unravel_index(flat[worst], param.shape)),
                numeric=float(numeric[worst]), analytic=float(analytic[worst])))
    return results


@contextmanager
def _kept_state(net: Network) -> Iterator[None]:
    """Put back every module's attributes named ``running*`` when the block ends (measured without it:
    lesson 07's check moved norm1's running mean by up to 0.62 and its running variance by 2.5)."""
    saved = [(module, {k: copy.deepcopy(v) for k, v in vars(module).items() if k.startswith("running")})
             for _, module in net.layers]
    try:
        yield
    finally:
        for module, state in saved:
            vars(module).update(state)


# ----- training -------------------------------------------------------------------------


def sgd_step(net: Network, lr: float) -> None:
    """One step down the gradient of the last backward pass, in place: ``p -= lr * grad``."""
    grads = net.grads
    for key, param in net.params.items():
        param -= lr * grads[key]


def minibatches(n: int, batch_size: int, rng: np.random.Generator, merge_single: bool = False) -> Iterator[np.ndarray]:
    """Indices of one epoch: a fresh shuffle, cut into batches (the last one may be smaller; with
    ``merge_single`` a last batch of one example joins the batch before it, see ``train``)."""
    order = rng.permutation(n)
    starts = list(range(0, n, batch_size))
    if merge_single and len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for k, start in enumerate(starts):
        yield order[start:starts[k + 1] if k + 1 < len(starts) else n]


@dataclass
class History:
    """What a training run measured: the loss of every step, accuracies after every epoch."""

    losses: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # data loss on the validation set, evaluation mode
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)

    @property
    def diverged_at(self) -> int | None:
        """After how many steps the loss first passed ``DIVERGED_LOSS`` (or was not finite); None if never."""
        return diverged_at(self.losses)

    def summary(self) -> str:
        """The run in one line that every machine prints alike (``course.compute.portable``).

        ``loss 2.303 at the first step, 0.4391 at step 900; validation accuracy 0.961``,
        or, once the loss passed ``DIVERGED_LOSS``, ``diverged: loss > 1e3 after 84 steps``
        and nothing else: the later digits and accuracies of such a run are round-off's.
        """
        if not self.losses:
            return "no steps"
        if self.diverged_at is not None:
            return diverged_text(self.diverged_at)
        text = f"loss {loss_text(self.losses[0])} at the first step, {loss_text(self.losses[-1])} at step {self.steps}"
        return text + (f"; validation accuracy {self.val_accuracy[-1]:.3f}" if self.val_accuracy else "")

    def epoch_losses(self, steps_per_epoch: int) -> np.ndarray:
        """The mean loss of each epoch (a smoother curve than the per-step losses)."""
        full = len(self.losses) // steps_per_epoch * steps_per_epoch
        return np.asarray(self.losses[:full]).reshape(-1, steps_per_epoch).mean(axis=1)


def train(net: Network, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, lr: float, epochs: int,
          batch_size: int = 64, lr_decay: float = 1.0, x_val: np.ndarray | None = None,
          y_val: np.ndarray | None = None) -> History:
    """Mini-batch SGD on (x, y) for ``epochs`` passes over the data; any ``Network`` will do.

    ``rng`` shuffles the examples each epoch; the learning rate is multiplied
    by ``lr_decay`` after every epoch. Accuracies on the training set (and on
    (x_val, y_val), when given) are measured in evaluation mode after each epoch.
    A last mini-batch of one example joins the batch before it (an epoch then has one step fewer):
    batchnorm cannot train on one example (variance 0); frameworks merge or drop it (PyTorch's
    ``drop_last=True``), and merging keeps every example in every epoch.
    Runs with one BLAS thread (``course.compute.threads``).
    """
    with one_blas_thread():
        return _train(net, x, y, rng, lr, epochs, batch_size, lr_decay, x_val, y_val)


def _train(net, x, y, rng, lr, epochs, batch_size, lr_decay, x_val, y_val) -> History:
    history = History()
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in minibatches(len(x), batch_size, rng, merge_single=True):
            loss, _ = net.loss_and_grads(x[batch], y[batch], train=True)
            if not np.isfinite(loss):
                history.losses.append(float(loss))
                history.seconds = time.perf_counter() - start
                return history  # diverged: stepping on would only spread NaN
            sgd_step(net, lr)
            history.losses.append(loss)
        history.train_accuracy.append(net.accuracy(x, y))
        if x_val is not None:
            scores = net.forward(x_val, train=False)
            history.val_accuracy.append(float(np.mean(np.argmax(scores, axis=1) == y_val)))
            history.val_loss.append(softmax_loss(scores, y_val)[0])
        lr *= lr_decay
    history.seconds = time.perf_counter() - start
    return history


# ----- the lesson's digits network ------------------------------------------------------

# Chosen on the validation set (never on the test set) among a few hidden
# sizes, keep probabilities and L2 strengths; lesson 06 and
# scripts/bench_training.py train exactly this.
DIGITS_RECIPE = {"hidden": 128, "keep_prob": 0.8, "l2": 1e-3, "lr": 0.2, "epochs": 15, "batch_size": 100,
                 "lr_decay": 0.95}


def train_digits(split, seed: int = 0, **overrides) -> tuple[Network, History]:
    """Build and train the digits network of ``DIGITS_RECIPE`` (any entry overridden) on ``split``.

    ``split`` is a ``course.compute.data.Split``; ``seed`` draws the initial
    weights and dropout masks (``default_rng(seed)``) and the order of the
    mini-batches (``default_rng(seed + 1)``).
    """
    unknown = set(overrides) - set(DIGITS_RECIPE)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; the recipe has {sorted(DIGITS_RECIPE)}")
    r = {**DIGITS_RECIPE, **overrides}
    net = two_layer_network((split.num_features, r["hidden"], split.num_classes), np.random.default_rng(seed),
                            keep_prob=r["keep_prob"], l2=r["l2"])
    history = train(net, split.x_train, split.y_train, np.random.default_rng(seed + 1), lr=r["lr"],
                    epochs=r["epochs"], batch_size=r["batch_size"], lr_decay=r["lr_decay"],
                    x_val=split.x_val, y_val=split.y_val)
    return net, history
