"""How the scale of the initial weights carries through a deep stack, with and without batchnorm.

A stack of ``depth`` layers ``fully connected -> (batchnorm) -> relu``, each
``width`` units wide, built from the course's own modules. The weights of
every layer are He's (``network.he_weights``: variance 2 / fan_in) times a
``gain``: gain 1 is He's scale, below 1 too small, above 1 too large. One
forward pass of a batch records the spread (standard deviation) of every
layer's output; one backward pass of an upstream gradient of spread 1 from
the top records the spread of the gradient arriving at every layer's output.

Why He's scale: a relu zeroes about half of its inputs, which halves the
mean square of what passes; weights of variance 2 / fan_in double it back,
so the spread stays the same from layer to layer. A gain g multiplies the
spread by about g at every layer, forward and backward: after L layers by
g**L, vanishing (g < 1) or exploding (g > 1). Batch normalisation divides
each layer's pre-activations by their own spread, so the gain cancels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.layers import Activation, FullyConnected, Module
from course.compute.network import he_weights

GAINS = {"too small (0.5 × He)": 0.5, "He (2 / fan-in)": 1.0, "too large (2 × He)": 2.0}


@dataclass(frozen=True)
class Spreads:
    """Standard deviations layer by layer, index 0 the first layer: (depth,) each."""

    gain: float
    normalized: bool
    activations: np.ndarray  # of each layer's relu output, forward
    gradients: np.ndarray  # of the gradient arriving at each layer's relu output, backward


def deep_stack(depth: int, width: int, gain: float, rng: np.random.Generator,
               normalize: bool = False) -> list[list[Module]]:
    """``depth`` layers, each [FullyConnected, (BatchNorm,) relu], weights He's times ``gain``."""
    from course.compute.batchnorm import BatchNorm

    layers = []
    for _ in range(depth):
        layer: list[Module] = [FullyConnected(gain * he_weights(width, width, rng))]
        if normalize:
            layer.append(BatchNorm(width))
        layer.append(Activation("relu"))
        layers.append(layer)
    return layers


def stack_spreads(gain: float, normalize: bool = False, depth: int = 10, width: int = 100, batch: int = 256,
                  seed: int = 0) -> Spreads:
    """One forward and one backward pass through a fresh ``deep_stack``; the spreads at every layer.

    The input and the upstream gradient are standard normal (spread 1), so
    each number says how much the stack has scaled the signal by that layer.
    """
    rng = np.random.default_rng(seed)
    layers = deep_stack(depth, width, gain, rng, normalize)
    h = rng.normal(size=(batch, width))
    activations = []
    for layer in layers:
        for module in layer:
            module.training = True
            h = module.forward(h)
        activations.append(float(h.std()))
    grad = rng.normal(size=h.shape)
    gradients = []
    for layer in reversed(layers):
        gradients.append(float(grad.std()))  # what arrives at this layer's output
        for module in reversed(layer):
            grad = module.backward(grad)
    return Spreads(gain, normalize, np.array(activations), np.array(gradients[::-1]))


def scale_variant(fan: str = "in", factor: float = 2.0, root: bool = True):
    """A rule for the initial spreads of a stack of ``widths`` (exercise 06.he_scales and its wrong answers).

    He's rule is ``fan="in", factor=2.0, root=True``: sqrt(2 / fan-in) per layer. ``factor=1.0`` is the
    scale for tanh or linear layers; ``fan="out"`` divides by the layer's outputs; ``root=False``
    returns the variances instead of the spreads.
    """
    def scales(widths):
        fans = np.asarray(widths[:-1] if fan == "in" else widths[1:], dtype=np.float64)
        variance = factor / fans
        return np.sqrt(variance) if root else variance
    return scales
