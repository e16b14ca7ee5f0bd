"""Layer normalisation: the stages of batch normalisation, along the other axis.

For a batch ``x`` of shape (N, D), each **example** (a row) is normalised
over its own D features::

    mu    = mean of x over the features          (N, 1)
    var   = mean of (x - mu)**2 over the features (N, 1)   biased: 1/D
    x_hat = (x - mu) / sqrt(var + eps)           (N, D)
    out   = gamma * x_hat + beta                 (N, D)   gamma, beta: (1, D), one entry per feature

The statistics are the example's own, so nothing depends on the other
examples of the batch: training and test time compute the same thing, a
batch of one is fine, and there are no running statistics to keep. The
backward pass is batch normalisation's staged backward with every sum over
axis 1 instead of axis 0 (a mean over the features becomes a broadcast
along them); gamma and beta are still broadcast over the rows, so their
gradients are still sums over axis 0.

``MistakenLayerNorm`` is the module with one mistake a learner makes (the
batch axis, running statistics kept as in batch normalisation, the
statistics held constant in the backward pass): the wrong answers of
exercise ``07.layernorm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.layers import Module

DEFAULT_EPS = 1e-5


@dataclass(frozen=True)
class LayerNormCache:
    x: np.ndarray
    xmu: np.ndarray
    std: np.ndarray
    istd: np.ndarray
    x_hat: np.ndarray
    gamma: np.ndarray


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      eps: float = DEFAULT_EPS) -> tuple[np.ndarray, LayerNormCache]:
    """x (N, D), gamma and beta (1, D) -> out (N, D) and the cache. Any N >= 1, in any mode."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D array (N, D): one row per example, one column per feature")
    d = x.shape[1]
    mu = x.sum(axis=1, keepdims=True) / d      # a sum over the features: (N, D) -> (N, 1)
    xmu = x - mu                               # mu broadcast along the features
    var = (xmu**2).sum(axis=1, keepdims=True) / d
    std = np.sqrt(var + eps)
    istd = 1.0 / std
    x_hat = xmu * istd
    return gamma * x_hat + beta, LayerNormCache(x, xmu, std, istd, x_hat, gamma)


def layernorm_backward(dout: np.ndarray, cache: LayerNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The staged backward, batch normalisation's with axis 1: returns dx (N, D), dgamma, dbeta (1, D)."""
    d = dout.shape[1]
    dbeta = dout.sum(axis=0, keepdims=True)                      # beta broadcast over the rows: sum them
    dgamma = (dout * cache.x_hat).sum(axis=0, keepdims=True)
    dx_hat = dout * cache.gamma
    dxmu = dx_hat * cache.istd                                   # the direct path
    distd = (dx_hat * cache.xmu).sum(axis=1, keepdims=True)     # istd broadcast along the features: sum
    dvar = -distd / cache.std**2 / (2.0 * cache.std)             # istd = 1/std, std = sqrt(var + eps)
    dxmu = dxmu + 2.0 * cache.xmu * dvar / d                     # var = mean(xmu**2): the second path adds
    dmu = -dxmu.sum(axis=1, keepdims=True)
    dx = dxmu + dmu / d                                          # mu = mean(x) over the features: adds at x
    return dx, dgamma, dbeta


class LayerNorm(Module):
    """Layer normalisation as a module of lesson 06's network: gamma (ones) and beta (zeros), (1, D).

    The same in training and in evaluation (``training`` is ignored): no running statistics.
    """

    def __init__(self, features: int, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        self.params["gamma"] = np.ones((1, features))
        self.params["beta"] = np.zeros((1, features))
        self.eps = eps
        self.training = True

    def forward(self, x):
        out, self.cache = layernorm_forward(x, self.params["gamma"], self.params["beta"], self.eps)
        return out

    def backward(self, dout):
        dx, self.grads["gamma"], self.grads["beta"] = layernorm_backward(dout, self.cache)
        return dx


LAYERNORM_MISTAKES = ("batch_axis", "running", "constants")


class MistakenLayerNorm(LayerNorm):
    """``LayerNorm`` with one mistake:

    - "batch_axis": the statistics over the batch (axis 0), in training and at test, as batchnorm
      without running statistics: the example's output depends on the other examples;
    - "running": right in training, but it keeps running averages of the batch's per-feature
      statistics (momentum 0.9, from 0 and 1, as batchnorm does) and normalises with them in evaluation;
    - "constants": the backward pass treats mu and var as constants (the direct path only).
    """

    def __init__(self, features: int, mistake: str, eps: float = DEFAULT_EPS) -> None:
        if mistake not in LAYERNORM_MISTAKES:
            raise ValueError(f"mistake must be one of {LAYERNORM_MISTAKES}, got {mistake!r}")
        super().__init__(features, eps)
        self.mistake = mistake
        self.running_mean, self.running_var = np.zeros((1, features)), np.ones((1, features))

    def forward(self, x):
        gamma, beta = self.params["gamma"], self.params["beta"]
        if self.mistake == "batch_axis":
            out, cache = layernorm_forward(x.T, np.ones((1, x.shape[0])), np.zeros((1, x.shape[0])), self.eps)
            self.cache = cache
            return gamma * cache.x_hat.T + beta
        if self.mistake == "running":
            if not self.training:
                return gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + beta
            self.running_mean = 0.9 * self.running_mean + 0.1 * x.mean(axis=0, keepdims=True)
            self.running_var = 0.9 * self.running_var + 0.1 * x.var(axis=0, keepdims=True)
        return super().forward(x)

    def backward(self, dout):
        if self.mistake == "batch_axis":  # the same stages on the transpose: sums over the batch
            gamma = self.params["gamma"]
            self.grads["beta"] = dout.sum(axis=0, keepdims=True)
            self.grads["gamma"] = (dout * self.cache.x_hat.T).sum(axis=0, keepdims=True)
            dx_t, _, _ = layernorm_backward((dout * gamma).T, self.cache)
            return dx_t.T
        dx = super().backward(dout)
        if self.mistake == "constants":
            return dout * self.params["gamma"] * self.cache.istd
        return dx
