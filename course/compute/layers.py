"""Vectorized layers as forward/backward pairs, and a layer made of modules.

Layout: batch first, features last. A batch of N examples with F features is
an array of shape (N, F); a volume (batch, height, width, F) is flattened to
(N * height * width, F) before it reaches these functions. That array is
still 2-D: one row per (example, position), one column per feature.

Every pair follows one pattern::

    out, cache = thing_forward(inputs...)
    grads = thing_backward(dout, cache)

``dout`` is the gradient of the loss with respect to ``out`` (same shape as
``out``); the backward function returns the gradient of the loss with respect
to each input, in the order the forward function took them, each with the
shape of its input. Single-input modules return that one gradient alone.

The bias is a row of shape (1, F) throughout: it broadcasts over the N rows
in the forward pass, and its gradient, a sum over those rows, keeps that
shape (``keepdims=True``).
"""

from __future__ import annotations

import numpy as np

# ----- fully connected: out = x · w -------------------------------------------------


def fc_forward(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Fully connected signature, ``out = x @ w``.

    x: (N, D) inputs, one row per example.  w: (D, F) weights.
    Returns out: (N, F) and the cache (x, w).
    """
    return x @ w, (x, w)


def fc_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the fully connected signature.

    dout: (N, F).  Returns dx: (N, D) = dout · wᵀ and dw: (D, F) = xᵀ · dout.
    Each is the only product of dout with the other factor whose shape is the
    shape of the variable (dimension analysis).
    """
    x, w = cache
    return dout @ w.T, x.T @ dout


# ----- add biases: out = x + b (b broadcast over the rows) --------------------------


def add_bias_forward(x: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """``out = x + b``, one bias per feature.

    x: (N, F).  b: (1, F), added to every row.  Returns out: (N, F) and the
    cache, b's shape (the backward pass needs no values).
    """
    return x + b, b.shape


def add_bias_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the bias addition.

    dout: (N, F).  Returns dx: (N, F), which is dout itself (the local
    derivative of an addition is 1), and db: (1, F), the sum of dout over the
    N rows, because each bias entry was used once in every row.
    """
    db = dout.sum(axis=0, keepdims=True)
    return dout.copy(), db.reshape(cache)


# ----- element-wise activations -------------------------------------------------------


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s = 1 / (1 + exp(-x))`` element-wise; x and s have any shape (the same).

    The cache is the *output* s: the local derivative is s(1 - s).
    """
    # exp of a large positive number overflows; written this way, each branch
    # only ever takes exp of a non-positive number.
    z = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    return s, s


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout ⊙ s(1 - s), same shape as x (s is the cached output)."""
    s = cache
    return dout * s * (1.0 - s)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max(0, x)`` element-wise, with ``np.maximum`` (Python's ``max`` compares
    whole arrays, not entries). Any shape; the cache is the input x."""
    return np.maximum(0.0, x), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout where x > 0, 0 where x < 0; same shape as x.

    At exactly x = 0, relu is the max gate max(0, x) at a tie, and the course
    treats it as lesson 01 treats the max gate: half the gradient, which is
    also what a central difference measures there. (Frameworks often use 0;
    any share between 0 and 1 is a valid subgradient at the kink.)
    """
    x = cache
    share = np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5))
    return dout * share


def identity_forward(x: np.ndarray) -> tuple[np.ndarray, None]:
    """The linear (identity) activation: out = x, any shape."""
    return x.copy(), None


def identity_backward(dout: np.ndarray, cache: None) -> np.ndarray:
    """dx = dout: the local derivative is 1 everywhere."""
    return dout.copy()


def exp_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``exp(x)`` element-wise, any shape; the cache is the output exp(x)."""
    out = np.exp(x)
    return out, out


def exp_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout ⊙ exp(x): exp is its own derivative, so the cached output is
    the local derivative."""
    return dout * cache


ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "relu": (relu_forward, relu_backward),
    "identity": (identity_forward, identity_backward),
    "exp": (exp_forward, exp_backward),
}


# ----- modules and the layer template ------------------------------------------------


class Module:
    """One step of a layer: ``forward(x)`` keeps its cache, ``backward(dout)``
    stores parameter gradients in ``grads`` and returns the input's gradient.

    ``decayed`` names the parameters that L2 weight decay applies to (the
    weights, never the biases); ``training`` is set by a network before each
    forward pass, for modules that behave differently in training.
    """

    decayed: tuple[str, ...] = ()
    training: bool = True

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class FullyConnected(Module):
    """x (N, D) -> x · w (N, F); parameter w (D, F)."""

    decayed = ("w",)

    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.params["w"] = w

    def forward(self, x):
        out, self.cache = fc_forward(x, self.params["w"])
        return out

    def backward(self, dout):
        dx, self.grads["w"] = fc_backward(dout, self.cache)
        return dx


class AddBias(Module):
    """x (N, F) -> x + b (N, F); parameter b (1, F)."""

    def __init__(self, b: np.ndarray) -> None:
        super().__init__()
        self.params["b"] = b

    def forward(self, x):
        out, self.cache = add_bias_forward(x, self.params["b"])
        return out

    def backward(self, dout):
        dx, self.grads["b"] = add_bias_backward(dout, self.cache)
        return dx


class Activation(Module):
    """An element-wise activation by name: sigmoid, relu, identity or exp."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in ACTIVATIONS:
            raise KeyError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
        self.name = name
        self._forward, self._backward = ACTIVATIONS[name]

    def forward(self, x):
        out, self.cache = self._forward(x)
        return out

    def backward(self, dout):
        return self._backward(dout, self.cache)


class Layer:
    """The layer template: signature (fully connected) -> add biases -> activation.

    ``forward`` runs the modules in order; ``backward`` runs them in reverse,
    each one turning the gradient of its output into the gradient of its
    input. ``reversed(...)`` gives a reversed view; ``list.reverse()`` would
    reverse the list in place and return None, and the loop would fail.
    """

    def __init__(self, w: np.ndarray, b: np.ndarray, activation: str = "relu") -> None:
        self.modules: list[Module] = [FullyConnected(w), AddBias(b), Activation(activation)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self.modules:
            x = module.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        grad = dout
        for module in reversed(self.modules):
            grad = module.backward(grad)
        return grad

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Every parameter gradient of the layer by name (w, b), after backward."""
        out: dict[str, np.ndarray] = {}
        for module in self.modules:
            out.update(module.grads)
        return out
