"""A learner's gradient checker at work (exercise 06.grad_check), and checkers with one mistake each.

The checker is handed a ``Loss`` (a smooth function of a weight matrix) and
the matrix ``x`` itself. ``run_checker`` runs the learner's checker while the
loss watches which arrays it is called with, then looks at ``x``: the task
asks to nudge ``x`` in place and to put every entry back, and a checker that
works on copies, or leaves ``x`` changed, is ``Refused`` with that named.
``checker(...)`` is the course's checker with one knob per known mistake;
``off_by`` makes the candidate gradients whose verdict is close to the rule.
"""

from __future__ import annotations

import numpy as np

from course.assess.exercise import Refused
from course.compute.softmax import softmax_loss

CHECK_STEP = 1e-5
CHECK_TOLERANCE = 1e-6


class Loss:
    """A smooth loss of a weight matrix: softmax cross-entropy of a linear classifier, scaled.

    While it ``watches`` an array (the checker's ``x``), it counts the calls made with any other
    array: the task asks to nudge ``x`` itself, in place.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, scale: float) -> None:
        self.x, self.y, self.scale = x, y, scale
        self.watched, self.elsewhere = None, 0

    def __call__(self, w: np.ndarray) -> float:
        if self.watched is not None and w is not self.watched:
            self.elsewhere += 1
        return self.scale * softmax_loss(self.x @ w, self.y)[0]

    def gradient(self, w: np.ndarray) -> np.ndarray:
        _, dscores = softmax_loss(self.x @ w, self.y)
        return self.scale * (self.x.T @ dscores)

    def __repr__(self) -> str:
        return f"<a softmax loss of a {self.x.shape[1]}×{int(self.y.max()) + 1} weight matrix, × {self.scale:g}>"


def numeric(loss: Loss, w: np.ndarray, index: tuple) -> float:
    """The central difference the task describes, as a right checker computes it."""
    x = w.copy()
    saved = x[index]
    x[index] = saved + CHECK_STEP
    plus = loss(x)
    x[index] = saved - CHECK_STEP
    return float((plus - loss(x)) / (2 * CHECK_STEP))


def off_by(loss: Loss, w: np.ndarray, good: np.ndarray, errors: dict) -> np.ndarray:
    """``good`` with the checked entries replaced so that their relative error is exactly ``errors[index]``."""
    made = good.copy()
    for index, error in errors.items():
        # |a − n| / (|a| + |n|) = e for a = n · (1 + d) with d = 2e / (1 − e)
        made[index] = numeric(loss, w, index) * (1.0 + 2.0 * error / (1.0 - error))
    return made


def run_checker(answer, args):
    """Run the learner's checker on ``x`` itself, watching that it nudges ``x`` in place and puts it back."""
    f, x, analytic, entries = args
    kept = x.copy()
    f.watched, f.elsewhere = x, 0
    try:
        decided = answer(f, x, analytic, entries)
    finally:
        f.watched = None
    if f.elsewhere:
        raise Refused("in_place", "Your check evaluates f on a copy of x. The task asks to nudge x itself, in"
                                  " place: x[index] = saved + h, f(x), then put the entry back. (On a large"
                                  " network a copy of every weight matrix per entry is what makes a check slow.)")
    if not np.array_equal(x, kept):
        rounded = bool(np.allclose(x, kept, rtol=1e-12, atol=1e-15))
        raise Refused("mutated", "Your check leaves x changed after it returns: put every entry back as it was"
                                 " once you have nudged it"
                                 + (". Adding h and subtracting it again does not give back the same float: save"
                                    " the entry first and assign it back (x[index] = saved)." if rounded else
                                    " (saved = x[index] first, x[index] = saved at the end), or every later entry"
                                    " is checked at the wrong point."))
    return decided


def checker(step=CHECK_STEP, tolerance=CHECK_TOLERANCE, central=True, relative=True, decide=max,
            denominator=lambda a, n: abs(a) + abs(n)):
    """The course's checker; each knob off its default is one known mistake (``decide``: max or mean)."""
    def check(f, x, analytic, entries):
        errors = []
        for index in entries:
            saved = x[index]
            x[index] = saved + step
            plus = f(x)
            if central:
                x[index] = saved - step
                minus, width = f(x), 2 * step
            else:
                x[index] = saved
                minus, width = f(x), step
            x[index] = saved
            numeric_ = (plus - minus) / width
            diff = abs(analytic[index] - numeric_)
            errors.append(diff / max(denominator(analytic[index], numeric_), 1e-8) if relative else diff)
        return bool(decide(errors) <= tolerance)
    return check
