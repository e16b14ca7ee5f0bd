"""Batch normalisation as a forward/backward pair, with running statistics.

For a batch ``x`` of shape (N, D) (batch first, one column per feature), in
training mode::

    mu    = mean of x over the batch           (1, D)
    var   = mean of (x - mu)**2 over the batch (1, D)   the *biased* variance: 1/N
    x_hat = (x - mu) / sqrt(var + eps)         (N, D)   eps inside the root
    out   = gamma * x_hat + beta               (N, D)   gamma, beta: (1, D), one entry per feature

The statistics are the batch's own, so every output depends on every input of
its column: x reaches the loss along three paths (directly through x_hat,
through mu and through var), and their gradients add. At test time the layer
uses *running* averages of the training batches' statistics instead, so an
example's output no longer depends on which other examples share its batch.

Running statistics follow the course's convention for momentum (the one of
most course notes; PyTorch's ``momentum`` argument is 1 minus this one)::

    running = momentum * running + (1 - momentum) * batch_statistic

so momentum close to 1 means a long memory. The running variance averages
the same biased variance that normalised the batch.

Shapes: gamma and beta may be given as (1, D) or (D,); their gradients come
back in the shape they were given (a gradient has the shape of its variable).

A batch of one (N = 1) in training mode is refused: its variance is 0, so
x_hat is 0 and the output is beta whatever x is, and no gradient reaches x.
Test mode is fine with N = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.layers import Module

DEFAULT_EPS = 1e-5
DEFAULT_MOMENTUM = 0.9
MODES = ("train", "test")


@dataclass
class RunningStats:
    """Running mean and variance, (1, D) each, and the momentum that updates them.

    ``update`` replaces the arrays (never writes into them), so an array that
    was read before an update keeps its value.
    """

    mean: np.ndarray
    var: np.ndarray
    momentum: float = DEFAULT_MOMENTUM

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}: it is the weight of the"
                             " running value (0.9 keeps 90 % of it and takes 10 % of the new batch)")

    @classmethod
    def start(cls, features: int, momentum: float = DEFAULT_MOMENTUM) -> "RunningStats":
        """Mean 0 and variance 1 per feature: test mode is the identity before any training."""
        return cls(np.zeros((1, features)), np.ones((1, features)), momentum)

    def update(self, batch_mean: np.ndarray, batch_var: np.ndarray) -> None:
        m = self.momentum
        self.mean = m * self.mean + (1.0 - m) * batch_mean
        self.var = m * self.var + (1.0 - m) * batch_var


@dataclass(frozen=True)
class BatchNormCache:
    """Every named intermediate of the forward pass, for the backward pass.

    In test mode ``mu`` and ``var`` are the running statistics (constants for
    this batch), and ``xmu`` and ``sq`` are None: no path runs through them.
    """

    mode: str
    x: np.ndarray
    mu: np.ndarray
    xmu: np.ndarray | None
    sq: np.ndarray | None
    var: np.ndarray
    std: np.ndarray
    istd: np.ndarray
    x_hat: np.ndarray
    gamma: np.ndarray
    eps: float
    gamma_shape: tuple[int, ...]


def _as_row(name: str, value, features: int) -> np.ndarray:
    row = np.asarray(value, dtype=np.float64)
    if row.shape not in ((features,), (1, features)):
        raise ValueError(f"{name} must have one entry per feature, shape (1, {features}) or ({features},);"
                         f" got shape {row.shape}")
    return row.reshape(1, features)


def _check_input(x: np.ndarray, mode: str, eps: float) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D array (N, D): one row per example, one column per feature;"
                         " flatten a volume to (N * height * width, D) first")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if mode == "train" and x.shape[0] < 2:
        raise ValueError("batch normalisation in training mode needs at least 2 examples: a batch of one has"
                         " variance 0, so every output would be beta and no gradient would reach x."
                         " Use a larger batch, or mode='test' (the running statistics).")


def batchnorm_forward(x: np.ndarray, gamma, beta, mode: str = "train", running: RunningStats | None = None,
                      eps: float = DEFAULT_EPS) -> tuple[np.ndarray, BatchNormCache]:
    """Batch normalisation, one named stage per line.

    - ``x``: (N, D); ``gamma``, ``beta``: (1, D) or (D,).
    - ``mode="train"``: normalise with the batch's mean and biased variance;
      when ``running`` is given, update it with them (momentum, see the
      module's doc). Needs N >= 2.
    - ``mode="test"``: normalise with ``running.mean`` and ``running.var``
      (required); ``running`` is not changed. Any N >= 1.
    - ``eps``: added to the variance inside the square root.
    Returns ``out`` (N, D) and a ``BatchNormCache``.
    """
    _check_input(x, mode, eps)
    n, d = x.shape
    gamma_shape = np.shape(gamma)
    gamma, beta = _as_row("gamma", gamma, d), _as_row("beta", beta, d)
    if mode == "test":
        if running is None:
            raise ValueError("mode='test' needs the running statistics (running=...): test time uses them,"
                             " not the batch's own")
        mu, var = running.mean, running.var
        std = np.sqrt(var + eps)
        istd = 1.0 / std
        x_hat = (x - mu) * istd
        out = gamma * x_hat + beta
        return out, BatchNormCache("test", x, mu, None, None, var, std, istd, x_hat, gamma, eps, gamma_shape)

    mu = x.sum(axis=0, keepdims=True) / n     # a sum over the batch: (N, D) -> (1, D)
    xmu = x - mu                              # mu broadcast over the N rows
    sq = xmu**2
    var = sq.sum(axis=0, keepdims=True) / n   # biased: 1/N, not 1/(N - 1)
    if eps == 0 and np.any(var == 0):
        constant = ", ".join(str(k + 1) for k in np.flatnonzero(var[0] == 0))
        raise ValueError(f"feature {constant} is constant in this batch: its variance is 0, and with eps = 0"
                         " x_hat would be 0 / 0. That is what eps is for: give eps > 0.")
    std = np.sqrt(var + eps)                  # eps inside the root
    istd = 1.0 / std
    x_hat = xmu * istd                        # istd broadcast over the rows
    out = gamma * x_hat + beta                # gamma, beta broadcast over the rows
    if running is not None:
        running.update(mu, var)
    return out, BatchNormCache("train", x, mu, xmu, sq, var, std, istd, x_hat, gamma, eps, gamma_shape)


def _parameter_grads(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray]:
    # gamma and beta were broadcast over the N rows, so their gradients are sums over the rows.
    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = (dout * cache.x_hat).sum(axis=0, keepdims=True)
    return dgamma.reshape(cache.gamma_shape), dbeta.reshape(cache.gamma_shape)


def batchnorm_backward_staged(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward pass stage by stage, in the reverse order of the forward pass.

    Each line is the local rule of one forward stage: a broadcast in the
    forward pass becomes a sum over the rows here, a sum (or mean) becomes a
    broadcast, and where a value fed two stages (x feeds xmu and mu; xmu
    feeds sq and x_hat) the two gradients are added.
    ``dout``: (N, D). Returns ``dx`` (N, D), ``dgamma`` and ``dbeta`` (shape of gamma).
    """
    dgamma, dbeta = _parameter_grads(dout, cache)
    dx_hat = dout * cache.gamma
    if cache.mode == "test":  # mu and var are constants: only the direct path
        return dx_hat * cache.istd, dgamma, dbeta
    n = dout.shape[0]
    dxmu = dx_hat * cache.istd                                    # x_hat = xmu * istd, first input
    distd = (dx_hat * cache.xmu).sum(axis=0, keepdims=True)      # second input, broadcast -> sum
    dstd = -distd / cache.std**2                                  # istd = 1 / std
    dvar = dstd / (2.0 * cache.std)                               # std = sqrt(var + eps)
    dsq = np.broadcast_to(dvar / n, dout.shape)                   # var = sum(sq) / n: sum -> broadcast
    dxmu = dxmu + 2.0 * cache.xmu * dsq                           # sq = xmu**2: xmu's second path adds
    dmu = -dxmu.sum(axis=0, keepdims=True)                        # xmu = x - mu: mu broadcast -> sum
    dx = dxmu + np.broadcast_to(dmu / n, dout.shape)              # x's two paths: xmu and mu = sum(x) / n
    return dx, dgamma, dbeta


def batchnorm_backward(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compact backward pass: the staged one simplified on paper.

    ``dx = gamma / (N sqrt(var + eps)) * (N dout - sum(dout) - x_hat * sum(dout * x_hat))``,
    sums over the batch (axis 0). In test mode mu and var are constants and
    ``dx = gamma * dout / sqrt(var + eps)``.
    ``dout``: (N, D). Returns ``dx`` (N, D), ``dgamma`` and ``dbeta`` (shape of gamma).
    """
    dgamma, dbeta = _parameter_grads(dout, cache)
    if cache.mode == "test":
        return cache.gamma * cache.istd * dout, dgamma, dbeta
    n = dout.shape[0]
    sum_dout = dout.sum(axis=0, keepdims=True)
    sum_dout_xhat = (dout * cache.x_hat).sum(axis=0, keepdims=True)
    dx = (cache.gamma * cache.istd / n) * (n * dout - sum_dout - cache.x_hat * sum_dout_xhat)
    return dx, dgamma, dbeta


def path_gradients(dout: np.ndarray, cache: BatchNormCache) -> dict[str, np.ndarray]:
    """dx split into the three paths from x to the loss (training mode), each (N, D).

    ``direct``: through x_hat with mu and var held fixed; ``mean``: through
    mu; ``variance``: through var. They add up to dx. Also the gradients on
    the statistics themselves: ``dmu`` and ``dvar``, (1, D) each.
    """
    if cache.mode != "train":
        raise ValueError("the paths through mu and var exist only in training mode")
    n = dout.shape[0]
    dx_hat = dout * cache.gamma
    dvar = (dx_hat * cache.xmu).sum(axis=0, keepdims=True) * -0.5 * cache.istd**3
    # mu's gradient collects the direct term only: its term through var is
    # dvar * (-2/N) * sum(x - mu), and the deviations from the mean sum to 0.
    dmu = -(dx_hat * cache.istd).sum(axis=0, keepdims=True)
    return {
        "direct": dx_hat * cache.istd,
        "variance": np.broadcast_to(dvar * 2.0 * cache.xmu / n, dout.shape).copy(),
        "mean": np.broadcast_to(dmu / n, dout.shape).copy(),
        "dmu": dmu,
        "dvar": dvar,
    }


class BatchNorm(Module):
    """Batch normalisation as a module of the layer template: parameters gamma and beta (1, D).

    ``training`` selects the mode (a ``course.compute.network.Network`` sets
    it before each forward pass); the running statistics live in ``running``
    and are updated by every forward pass in training mode. gamma and beta
    are not weight-decayed (``decayed`` stays empty), like biases.
    """

    def __init__(self, features: int, momentum: float = DEFAULT_MOMENTUM, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        self.params["gamma"] = np.ones((1, features))
        self.params["beta"] = np.zeros((1, features))
        self.running = RunningStats.start(features, momentum)
        self.eps = eps
        self.training = True

    def forward(self, x):
        mode = "train" if self.training else "test"
        out, self.cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"], mode, self.running,
                                            self.eps)
        return out

    def backward(self, dout):
        dx, self.grads["gamma"], self.grads["beta"] = batchnorm_backward(dout, self.cache)
        return dx
