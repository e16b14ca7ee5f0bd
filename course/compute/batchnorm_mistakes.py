"""Batch normalisation computed wrong, in the ways the checks of lesson 07 recognise.

Each mistake is a knob of one computation (``batchnorm_variant``), so the
wrong answers of every exercise come from the same forward and backward pass:
statistics over the wrong axis, the variance with 1/(N - 1), eps outside the
root or forgotten, paths through mu and var left out, a fork overwritten
instead of added. Right by default: with no knob turned it is
``course.compute.batchnorm``'s pair (a test holds it to that).

Beside it: the running-statistics layer with a wrong training or test branch,
and ``MistakenBatchNorm``, the course's module with one mistake.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from course.compute.batchnorm import BatchNorm, batchnorm_forward

PATHS = ("direct", "mean", "variance")  # x's three paths to the loss


# ----- one batch normalisation with a knob per mistake -----------------------------

def batchnorm_variant(x, gamma, beta, eps, dout, *, axis=0, ddof=0, eps_at="inside", paths=PATHS,
                      overwrite=False, dvar_by="root", with_gamma=True, back_axis=None, over_n=PATHS[1:],
                      mean_sign=-1.0, back_ddof=None):
    """Forward and backward of batch normalisation, right by default, wrong as asked.

    - ``axis``: the axis of the statistics (the batch is axis 0);
    - ``ddof``: 1 divides the variance by N - 1;
    - ``eps_at``: "inside" sqrt(var + eps), "outside" sqrt(var) + eps, "missing" sqrt(var);
    - ``paths``: which of x's paths reach dx (direct, mean, variance);
    - ``overwrite``: the path through the variance *replaces* the direct one at
      the fork of xmu instead of adding to it;
    - ``dvar_by``: "root" differentiates the root the forward pass took; "std"
      keeps the lesson's line ``dvar = dstd / (2 * std)`` whatever std is (with
      eps outside the root, that line no longer matches the forward pass);
    - ``with_gamma``: False leaves γ out of dx (dx̂ = dout);
    - ``back_axis``: the axis the backward pass sums over (by default ``axis``);
    - ``over_n``: the paths whose gradient is divided by N (the mean's and the variance's);
    - ``mean_sign``: +1 forgets the minus of x − μ on the path through μ;
    - ``back_ddof``: the ddof of the variance's backward (by default ``ddof``; 0 with ``ddof=1`` is a
      forward with N − 1 whose backward still divides by N).
    Returns (out, dx, dgamma, dbeta).
    """
    n = x.shape[axis]
    with np.errstate(divide="ignore", invalid="ignore"):  # a wrong eps divides by 0 on a constant column
        mu = x.sum(axis=axis, keepdims=True) / n
        xmu = x - mu
        var = (xmu**2).sum(axis=axis, keepdims=True) / (n - ddof)
        root = np.sqrt(var + eps) if eps_at == "inside" else np.sqrt(var)
        std = root + eps if eps_at == "outside" else root
        x_hat = xmu / std
        out = gamma * x_hat + beta
        dbeta = dout.sum(axis=0, keepdims=True)
        dgamma = (dout * x_hat).sum(axis=0, keepdims=True)
        dx_hat = dout * gamma if with_gamma else dout
        back = axis if back_axis is None else back_axis
        direct = dx_hat / std
        dstd = -(dx_hat * xmu).sum(axis=back, keepdims=True) / std**2
        dvar = dstd / (2.0 * (root if dvar_by == "root" else std))
        var_n = n - (ddof if back_ddof is None else back_ddof)
        through_var = 2.0 * xmu * dvar / (var_n if "variance" in over_n else 1)
        dxmu = through_var if overwrite else direct * ("direct" in paths) + through_var * ("variance" in paths)
        through_mean = np.broadcast_to(mean_sign * dxmu.sum(axis=back, keepdims=True) / (n if "mean" in over_n else 1),
                                       x.shape)
        dx = dxmu + through_mean * ("mean" in paths)
    return out, dx, dgamma, dbeta


def staged_variant(**knobs) -> Callable:
    """``batchnorm_variant`` with these knobs, as ``(x, gamma, beta, eps, dout) -> (out, dx, dgamma, dbeta)``."""
    def wrong(x, gamma, beta, eps, dout):
        return batchnorm_variant(x, gamma, beta, eps, dout, **knobs)
    return wrong


def compact_variant(**knobs) -> Callable:
    """The backward alone, as ``(dout, x, gamma, eps) -> (dx, dgamma, dbeta)``: beta does not reach it."""
    def wrong(dout, x, gamma, eps):
        _, dx, dgamma, dbeta = batchnorm_variant(x, gamma, np.zeros_like(gamma), eps, dout, **knobs)
        return dx, dgamma, dbeta
    return wrong


def formula_on_wrong_statistics(*, axis=0, ddof=0, eps_at="inside") -> Callable:
    """The compact formula, right, applied to statistics computed wrong (knobs as in ``batchnorm_variant``).

    Someone who writes the formula from the lesson and slips in the
    statistics gets this, not the exact gradient of their own forward pass.
    Signature ``(dout, x, gamma, eps) -> (dx, dgamma, dbeta)``.
    """
    def wrong(dout, x, gamma, eps):
        n = x.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            var = x.var(axis=axis, ddof=ddof, keepdims=True)
            std = {"inside": np.sqrt(var + eps), "outside": np.sqrt(var) + eps, "missing": np.sqrt(var)}[eps_at]
            x_hat = (x - x.mean(axis=axis, keepdims=True)) / std
            dbeta = dout.sum(axis=0, keepdims=True)
            dgamma = (dout * x_hat).sum(axis=0, keepdims=True)
            dx = gamma / (n * std) * (n * dout - dbeta - x_hat * dgamma)
        return dx, dgamma, dbeta
    return wrong


def compact_formula_variant(*, sum_axis=0, with_gamma=True, n_dout=True, dgamma_of="x_hat") -> Callable:
    """The compact formula with one slip, as ``(dout, x, gamma, eps) -> (dx, dgamma, dbeta)``:

    - ``sum_axis``: the axis of the formula's two sums (the batch is axis 0);
    - ``with_gamma``: False leaves γ out of the factor in front;
    - ``n_dout``: False writes dy where the formula has N·dy;
    - ``dgamma_of``: "x" multiplies dout by x instead of x̂ in dgamma.
    """
    def wrong(dout, x, gamma, eps):
        n = x.shape[0]
        std = np.sqrt(x.var(axis=0, keepdims=True) + eps)
        x_hat = (x - x.mean(axis=0, keepdims=True)) / std
        dbeta = dout.sum(axis=0, keepdims=True)
        dgamma = (dout * (x if dgamma_of == "x" else x_hat)).sum(axis=0, keepdims=True)
        inner = (n if n_dout else 1) * dout - dout.sum(axis=sum_axis, keepdims=True) \
            - x_hat * (dout * x_hat).sum(axis=sum_axis, keepdims=True)
        return (gamma if with_gamma else 1.0) / (n * std) * inner, dgamma, dbeta
    return wrong


# ----- the layer with running statistics, one branch wrong -------------------------
# A step has the layer's signature without ``train``:
# (x, gamma, beta, running_mean, running_var, momentum, eps) -> (out, new_mean, new_var).

def with_wrong_branch(layer: Callable, train_step: Callable | None = None,
                      test_step: Callable | None = None) -> Callable:
    """``layer(x, gamma, beta, running_mean, running_var, momentum, eps, train)`` with its
    training or its test branch replaced by a wrong step."""
    def wrong(x, gamma, beta, running_mean, running_var, momentum, eps, train):
        step = train_step if train else test_step
        if step is None:
            return layer(x, gamma, beta, running_mean, running_var, momentum, eps, train)
        return step(x, gamma, beta, running_mean, running_var, momentum, eps)
    return wrong


def _normalise(x, gamma, beta, mu, var, eps):
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def _batch_statistics(x):
    return x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)


def at_test_with_batch_statistics(x, gamma, beta, rm, rv, m, eps):
    """Test mode that normalises with the test batch's own statistics (and leaves the running ones)."""
    return _normalise(x, gamma, beta, *_batch_statistics(x), eps), rm.copy(), rv.copy()


def at_test_updating_running(x, gamma, beta, rm, rv, m, eps):
    """Test mode that normalises right but updates the running statistics with the test batch."""
    mu, var = _batch_statistics(x)
    return _normalise(x, gamma, beta, rm, rv, eps), m * rm + (1 - m) * mu, m * rv + (1 - m) * var


def normalising_with(*, eps_at="inside", ddof=0) -> Callable:
    """The whole layer ``(x, gamma, beta, rm, rv, m, eps, train) -> (out, new_mean, new_var)`` whose
    normalisation (only: a check compares its ``out``) puts ε elsewhere or divides the variance by N − ddof."""
    def wrong(x, gamma, beta, rm, rv, m, eps, train):
        mu, var = (x.mean(axis=0, keepdims=True), x.var(axis=0, ddof=ddof, keepdims=True)) if train else (rm, rv)
        # The running statistics right: only the normalisation has the mistake.
        new = ((m * rm + (1 - m) * mu, m * rv + (1 - m) * x.var(axis=0, keepdims=True)) if train
               else (rm.copy(), rv.copy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            std = {"inside": np.sqrt(var + eps), "outside": np.sqrt(var) + eps, "missing": np.sqrt(var)}[eps_at]
            return (gamma * (x - mu) / std + beta, *new)
    return wrong


def training_with(mean_rule: Callable, var_of: Callable = lambda x: x.var(axis=0, keepdims=True)) -> Callable:
    """Training mode whose running statistics follow ``mean_rule(running, batch, momentum)``,
    the running variance averaging ``var_of(x)``."""
    def step(x, gamma, beta, rm, rv, m, eps):
        mu, var = _batch_statistics(x)
        return _normalise(x, gamma, beta, mu, var, eps), mean_rule(rm, mu, m), mean_rule(rv, var_of(x), m)
    return step


def training_normalising_with_running(x, gamma, beta, rm, rv, m, eps):
    """Training mode that updates the running statistics right, then normalises with them."""
    mu, var = _batch_statistics(x)
    new_mean, new_var = m * rm + (1 - m) * mu, m * rv + (1 - m) * var
    return _normalise(x, gamma, beta, new_mean, new_var, eps), new_mean, new_var


# ----- the course's module with one mistake ----------------------------------------

MODULE_MISTAKES = ("constants", "batch_at_test", "momentum", "no_gamma", "frozen", "times_n")


class MistakenBatchNorm(BatchNorm):
    """The course's ``BatchNorm`` module with one mistake (``MODULE_MISTAKES``):

    - "constants": the backward pass treats mu and var as constants (the direct path only);
    - "batch_at_test": evaluation mode normalises with the batch's own statistics;
    - "momentum": training updates the running statistics with the momentum reversed;
    - "no_gamma": the backward pass leaves γ out of dx;
    - "frozen": training never updates the running statistics;
    - "times_n": dx N times too large (the 1/N of the formula forgotten).
    """

    def __init__(self, features: int, mistake: str, **settings) -> None:
        if mistake not in MODULE_MISTAKES:
            raise ValueError(f"mistake must be one of {MODULE_MISTAKES}, got {mistake!r}")
        super().__init__(features, **settings)
        self.mistake = mistake

    def forward(self, x):
        if self.mistake == "batch_at_test" and not self.training:
            mu, var = _batch_statistics(x)
            return _normalise(x, self.params["gamma"], self.params["beta"], mu, var, self.eps)
        if self.mistake == "frozen" and self.training:
            out, self.cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"], "train", None, self.eps)
            return out
        if self.mistake == "momentum" and self.training:
            out, self.cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"], "train", None, self.eps)
            m = self.running.momentum
            self.running.mean = (1 - m) * self.running.mean + m * self.cache.mu
            self.running.var = (1 - m) * self.running.var + m * self.cache.var
            return out
        return super().forward(x)

    def backward(self, dout):
        dx = super().backward(dout)
        if self.mistake == "constants":
            return dout * self.params["gamma"] * self.cache.istd
        if self.mistake == "no_gamma":
            return dx / self.params["gamma"]
        if self.mistake == "times_n":
            return dx * dout.shape[0]
        return dx
