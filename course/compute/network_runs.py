"""Runs of lesson 06's network whose results a check compares, for answers that are not plain functions.

- A training loop is judged by what it does, not by its numbers:
  ``run_and_report(loop, args, validation, accuracy)`` trains with it and
  returns a ``Behaviour`` (one loss per step? network changed? loss fell?
  accurate on held-out points?), which a right loop makes ``GOOD_RUN``.
- A normalisation module is judged inside the network:
  ``module_in_network(make_module, ...)`` puts ``make_module(width)`` between
  fc1 and bias1 and returns the loss, every gradient and test-time scores.
  ``module_or_run(make_module)`` is one callable that is both the module's
  class and those results, because a check calls its reference and its wrong
  answers with a case's arguments, while the learner hands in a class.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from course.compute.network import two_layer_network


# ----- a training loop, judged by what it does -------------------------------------

class Behaviour(tuple):
    """A training run's report: (one loss per step, network changed, loss fell, accurate)."""


GOOD_RUN = (True, True, True, True)


def training_report(net, initial: dict, losses, x, y, epochs: int, batch_size: int,
                    validation: tuple[np.ndarray, np.ndarray], accuracy: float) -> Behaviour:
    """What a grader can see of a training run that started from the parameters ``initial``."""
    steps = epochs * -(-len(y) // batch_size)
    try:
        values = [float(v) for v in losses]
    except (TypeError, ValueError):
        values = []
    per_epoch = max(1, len(values) // epochs)
    fell = (len(values) >= 2 * per_epoch and all(np.isfinite(values))
            and np.mean(values[-per_epoch:]) < 0.8 * np.mean(values[:per_epoch]))
    changed = any(not np.array_equal(v, initial[k]) for k, v in net.params.items())
    with np.errstate(all="ignore"):
        accurate = net.accuracy(*validation) >= accuracy
    return Behaviour((len(values) == steps, bool(changed), bool(fell), bool(accurate)))


def run_and_report(loop: Callable, args: tuple, validation: tuple[np.ndarray, np.ndarray],
                   accuracy: float) -> Behaviour | None:
    """Train with ``loop(net, x, y, lr, epochs, batch_size, rng)`` (``args``), then report its behaviour.

    None when the loop returned nothing. A loop that returns a ``Behaviour``
    has reported its own run already (a known wrong loop, run by the
    diagnosis or handed in as an answer by the course's tests): it is passed on.
    """
    net, x, y, lr, epochs, batch_size, rng = args
    initial = {k: v.copy() for k, v in net.params.items()}
    losses = loop(*args)
    if isinstance(losses, Behaviour):
        return losses
    return None if losses is None else training_report(net, initial, losses, x, y, epochs, batch_size,
                                                       validation, accuracy)


# ----- a normalisation module, judged inside the network ---------------------------

def module_in_network(make_module: Callable, sizes: tuple[int, int, int], seed: int, x: np.ndarray,
                      y: np.ndarray, x_test: np.ndarray, dead_unit: int | None) -> tuple:
    """Build lesson 06's network with ``make_module(width)`` between fc1 and bias1, set the module's
    γ and β to values drawn from ``seed`` (some γ negative), then: one training forward and backward
    pass on (x, y), and scores at test time on x_test.

    ``dead_unit``: a hidden unit whose incoming weights are 0, so it is 0 for
    every example (variance 0), or None. Returns (loss, the gradients of fc1.w,
    norm1.gamma, norm1.beta, bias1.b, fc2.w and bias2.b, test scores).
    """
    net = two_layer_network(sizes, np.random.default_rng(seed), normalize=make_module)
    # A learned γ and β, not the initial 1 and 0: a dx that leaves γ out, or a β that goes nowhere, shows.
    scale_rng = np.random.default_rng([seed, 7])
    for key, low, high in (("norm1.gamma", 0.5, 2.0), ("norm1.beta", -1.0, 1.0)):
        param = net.params.get(key)
        if isinstance(param, np.ndarray) and param.dtype.kind == "f":
            drawn = np.round(scale_rng.uniform(low, high, size=param.shape), 2)
            param[...] = drawn * (np.where(scale_rng.random(param.shape) < 0.3, -1.0, 1.0) if key.endswith("gamma")
                                  else 1.0)
    if dead_unit is not None:  # (fc1.w[:, None] would be every column: the whole layer zeroed)
        net.params["fc1.w"][:, dead_unit] = 0.0
    loss, grads = net.loss_and_grads(x, y, train=True)
    grads = {k: np.array(g, dtype=np.float64, copy=True) if isinstance(g, np.ndarray) else g
             for k, g in grads.items()}
    test_scores = net.forward(x_test, train=False)
    return (loss, *(grads[k] for k in ("fc1.w", "norm1.gamma", "norm1.beta", "bias1.b", "fc2.w", "bias2.b")),
            test_scores)


def module_or_run(make_module: Callable) -> Callable:
    """One callable that is both a module class and the results of the network.

    The learner's answer is a class, ``Module(width)``; the checker runs it
    inside the network (``module_in_network``). But it calls a reference or a
    wrong answer with a case's arguments and expects the results directly,
    and the course's tests also hand those in as answers. So each of them is
    this callable: with one argument (a width) it builds a module, with a
    case's arguments it runs the network with such modules.
    """
    def module_or_run(*args):
        if len(args) == 1:
            return make_module(args[0])
        return module_in_network(make_module, *args)
    return module_or_run
