"""An attention head, backward by hand: the computations of concept 08 (draft made by `python -m course new`).

Pairs as in ``course.compute.layers``: ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients in input order``; every docstring gives
the shapes. Replace the example pair (a scale gate) with the concept's own.
"""

from __future__ import annotations

import numpy as np


def scale_forward(x: np.ndarray, a: float) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    """``out = a * x``. ``x``: (N, D); ``a``: a number. Returns ``out`` (N, D) and the cache (x, a)."""
    return a * x, (x, a)


def scale_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> tuple[np.ndarray, float]:
    """``dx = a * dout`` (N, D) and ``da = sum(x * dout)`` (a number): a fork of a into every entry."""
    x, a = cache
    return a * dout, float(np.sum(x * dout))
