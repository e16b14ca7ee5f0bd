"""What a training loop did, watched step by step: which rows each step saw, from which rng, how far it moved.

A loop's outcome (the loss fell, the network is accurate) hides most of the
ways to get mini-batch SGD wrong: a loop that never shuffles, shuffles once,
draws from another generator, drops the last smaller batch or divides the
step by the batch size again still trains a small network well. So a check
runs the learner's loop on a ``WatchedNetwork``, which records every
``loss_and_grads`` call (the rows it was given, the parameters and the
gradients at that moment), and ``audit`` reads the record:

- every epoch gives each training row to exactly one step, in batches of
  ``batch_size`` (the last one smaller when the size does not divide N);
- the epochs come in shuffled orders, a new one each epoch;
- the ``rng`` the loop was given is the one that drew them (it changed, and a
  second run from the same state gives every step the same rows: ``same_rows``);
- each step moves every parameter by ``lr · grad``, the gradient of that step.

``audit`` raises ``Refused`` with the first mistake it sees. It says nothing
when the loop does not call ``loss_and_grads`` (it trains some other way),
moves nothing, or moves up the gradient: the outcome check names those.
"""

from __future__ import annotations

import numpy as np

from course.assess.exercise import Refused


class WatchedNetwork:
    """``net`` as a training loop sees it, with a record of every ``loss_and_grads`` call.

    Everything else (``params``, ``grads``, ``forward``, ...) is the network's own: an in-place
    update of ``params`` changes the network.
    """

    def __init__(self, net, x: np.ndarray) -> None:
        self._net = net
        self._row = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(x))}
        # One entry per step: (the rows' indices or None when a row is not a training row,
        # the parameters before the step, the gradients the step was given).
        self.steps: list[tuple[np.ndarray | None, dict, dict]] = []

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_net", "_row", "steps"):  # copy and pickle look for these first
            raise AttributeError(name)
        return getattr(self._net, name)

    def loss_and_grads(self, x, y, *args, **kwargs):
        loss, grads = self._net.loss_and_grads(x, y, *args, **kwargs)
        rows = [self._row.get(np.ascontiguousarray(r).tobytes()) for r in np.asarray(x, dtype=np.float64)]
        indices = None if any(r is None for r in rows) else np.array(rows)
        self.steps.append((indices, {k: v.copy() for k, v in self._net.params.items()},
                           {k: np.array(g, dtype=np.float64) for k, g in grads.items()}))
        return loss, grads


def _epochs(rows: list[np.ndarray], epochs: int) -> list[list[np.ndarray]] | None:
    if epochs < 1 or len(rows) % epochs:
        return None
    per = len(rows) // epochs
    return [rows[e * per:(e + 1) * per] for e in range(epochs)]


def _rows_problem(rows: list[np.ndarray], n: int, epochs: int, batch_size: int) -> Refused | None:
    sizes = [len(r) for r in rows]
    if n % batch_size and len(rows) == epochs * (n // batch_size) and all(s == batch_size for s in sizes):
        left = n - batch_size * (n // batch_size)
        return Refused("last_batch", f"Your loop drops the last, smaller batch of every epoch: with {n} examples"
                                     f" and batches of {batch_size}, {left} examples never train. Cut the order"
                                     " with range(0, N, batch_size); the last slice is simply shorter.")
    split = _epochs(rows, epochs)
    if split is None:
        return None  # another number of steps: the outcome check says so
    for epoch in split:
        seen = np.concatenate(epoch) if epoch else np.array([], dtype=int)
        if len(seen) != n or len(np.unique(seen)) != n:
            return Refused("last_batch", f"An epoch of your loop does not give every one of the {n} examples to"
                                         " exactly one step: some come twice, others never (drawn with"
                                         " replacement, or slices that overlap or leave rows out). Shuffle with"
                                         " rng.permutation(N) and cut that order into consecutive batches.")
    orders = [np.concatenate(epoch) for epoch in split]
    if all(np.array_equal(order, np.arange(n)) for order in orders):
        return Refused("shuffle", "Your loop never shuffles: every epoch gives the examples in their stored order,"
                                  " so each step sees the same batch as in the epoch before. Draw a new order"
                                  " every epoch with rng.permutation(N).")
    if epochs > 1 and all(np.array_equal(order, orders[0]) for order in orders):
        return Refused("shuffle", "Your loop shuffles once and reuses that order in every epoch, so each step"
                                  " sees the same batch every time. Draw a new permutation inside the epoch"
                                  " loop, at the start of every epoch.")
    return None


def _step_problem(steps: list, final: dict, lr: float, batch_size: int) -> Refused | None:
    """A step that moves the parameters by another multiple of lr · grad than 1 (0 and up the gradient aside)."""
    for k, (rows, before, grads) in enumerate(steps):
        after = steps[k + 1][1] if k + 1 < len(steps) else final
        moved = sum(float(np.sum((before[key] - after[key]) * grads[key])) for key in before if key in grads)
        size = lr * sum(float(np.sum(g * g)) for key, g in grads.items() if key in before)
        if size <= 0.0:
            continue
        ratio = moved / size
        if ratio <= 1e-9 or abs(ratio - 1.0) <= 1e-6:
            continue  # nothing moved, or up the gradient (the outcome check names both), or right
        sizes = {len(rows) if rows is not None else 0, batch_size}
        n = next((s for s in sorted(sizes) if s > 1 and abs(ratio * s - 1.0) <= 1e-6), None)
        if n:
            return Refused("step_size", f"Your step is lr · grad / {n}, divided by the batch size: the loss of"
                                        " loss_and_grads is already the mean over the batch, and so is its"
                                        " gradient. Move every parameter by lr · grad, no more and no less.")
        return Refused("step_size", f"Your step moves the parameters by {ratio:.3g} × lr · grad. One SGD step is"
                                    " `param -= lr * grads[name]` for every parameter, with the gradient of that"
                                    " step's batch.")
    return None


def audit(watched: WatchedNetwork, n: int, epochs: int, batch_size: int, lr: float,
          rng_before: dict, rng_after: dict) -> None:
    """Raise ``Refused`` with the first mistake the record shows (see the module's docstring)."""
    steps = watched.steps
    if not steps:
        return
    rows = [r for r, _, _ in steps]
    if all(r is not None for r in rows):
        problem = _rows_problem(rows, n, epochs, batch_size)
        if problem:
            raise problem
    if rng_before == rng_after:
        raise Refused("global_rng", "Your loop never draws from the `rng` it is given: its shuffles come from"
                                    " np.random or a generator of its own, so the same seed does not give the"
                                    " same run. Shuffle with rng.permutation(N).")
    problem = _step_problem(steps, watched.params, lr, batch_size)
    if problem:
        raise problem


def same_rows(first: WatchedNetwork, second: WatchedNetwork) -> None:
    """Two runs from the same network and the same generator state must give each step the same rows."""
    rows = [[r for r, _, _ in run.steps] for run in (first, second)]
    if any(r is None for run in rows for r in run):
        return
    if len(rows[0]) != len(rows[1]) or not all(np.array_equal(a, b) for a, b in zip(*rows)):
        raise Refused("global_rng", "Your loop gives the steps other rows on a second run from the same `rng`:"
                                    " part of its shuffling comes from np.random or a generator of its own. Draw"
                                    " every order from the `rng` it is given, rng.permutation(N).")
