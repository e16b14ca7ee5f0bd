"""Softmax cross-entropy: scores -> probabilities -> mean negative log-probability.

Shapes used throughout (batch first, classes last):

- ``X``: (N, D) inputs, one example per row;
- ``W``: (D, C) weights, ``b``: (1, C) biases, one column per class;
- ``scores = X @ W + b``: (N, C);
- ``y``: (N,) integer labels, ``0 <= y[i] < C``;
- ``P``: (N, C) probabilities, each row sums to 1.

The loss is ``L = (1/N) * sum_i -log P[i, y[i]]`` and its gradient on the
scores is ``dscores = (P - onehot(y)) / N``. Every function here is stable for
scores of any size: each row's maximum is subtracted before ``exp``, which
leaves P unchanged (the factor ``exp(-max)`` cancels between the top and the
bottom of the fraction) but keeps every exponent <= 0, so nothing overflows.
"""

from __future__ import annotations

import numpy as np

from course.compute.layers import add_bias_backward, add_bias_forward, fc_backward, fc_forward


def stable_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores`` (N, C) -> P (N, C), without overflow."""
    shifted = scores - scores.max(axis=1, keepdims=True)  # every row's largest entry becomes 0
    exp_shifted = np.exp(shifted)
    return exp_shifted / exp_shifted.sum(axis=1, keepdims=True)


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise ``log P`` (N, C), computed as ``shifted - log(rowsum)``.

    Taking the log of P itself would give -inf when an entry of P underflows
    to 0; this form stays finite for finite scores.
    """
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) labels -> (N, C) float array with a 1 at each row's correct class."""
    y = np.asarray(y)
    out = np.zeros((y.shape[0], num_classes))
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def softmax_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient, in one call.

    Inputs: ``scores`` (N, C) float, ``y`` (N,) int labels.
    Returns ``(loss, dscores)``: ``loss`` a float, ``dscores`` (N, C),
    the gradient d loss / d scores.
    """
    loss, cache = softmax_loss_forward(scores, y)
    return loss, softmax_loss_backward(1.0, cache)


def softmax_loss_forward(scores: np.ndarray, y: np.ndarray) -> tuple[float, tuple]:
    """Forward pass. ``scores`` (N, C), ``y`` (N,) -> ``(loss, cache)``.

    ``loss`` is a float; ``cache`` holds (P (N, C), y (N,)) for the backward pass.
    """
    n = scores.shape[0]
    log_p = log_softmax(scores)
    loss = float(-log_p[np.arange(n), y].mean())
    return loss, (np.exp(log_p), np.asarray(y))


def softmax_loss_backward(dloss: float, cache: tuple) -> np.ndarray:
    """Backward pass. ``dloss`` (a float, 1.0 when the loss is the last stage)
    and the forward cache -> ``dscores`` (N, C).

    Two paths lead from a score to the loss: ``-score[y]`` gives the -1 at the
    correct class, ``log(rowsum)`` gives ``exp(score) / rowsum = P``; they add
    up at the fork, and the mean divides by N.
    """
    p, y = cache
    n = p.shape[0]
    dscores = p.copy()
    dscores[np.arange(n), y] -= 1.0
    return dloss * dscores / n


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Scores of a linear classifier: the fully connected and add-bias layers.

    ``x`` (N, D), ``w`` (D, C), ``b`` (1, C) or (C,) -> ``(scores (N, C), cache)``.
    """
    product, fc_cache = fc_forward(x, w)
    scores, bias_cache = add_bias_forward(product, b)
    return scores, (fc_cache, bias_cache)


def affine_backward(dscores: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``scores = x @ w + b`` from ``dscores`` (N, C), the layers in reverse.

    Returns ``(dx (N, D), dw (D, C), db)`` with ``db`` the shape of ``b``:
    every row of the batch used the same bias, so its gradient is the sum of
    the rows of dscores.
    """
    fc_cache, bias_cache = cache
    dproduct, db = add_bias_backward(dscores, bias_cache)
    dx, dw = fc_backward(dproduct, fc_cache)
    return dx, dw, db


def softmax_classifier_loss(x, w, b, y):
    """Scores, loss and every gradient of a linear softmax classifier.

    ``x`` (N, D), ``w`` (D, C), ``b`` (1, C), ``y`` (N,) ->
    ``(loss, dx (N, D), dw (D, C), db (1, C))``.
    """
    scores, affine_cache = affine_forward(x, w, b)
    loss, dscores = softmax_loss(scores, y)
    dx, dw, db = affine_backward(dscores, affine_cache)
    return loss, dx, dw, db
