"""A learner's gradient checker at work (exercise 06.grad_check), and checkers with one mistake each.

The checker is handed a ``Loss`` (a smooth function of a weight matrix) and
the matrix ``x`` itself. ``run_checker`` runs the learner's checker while the
loss watches which arrays it is called with, then looks at ``x``: the task
asks to nudge ``x`` in place and to put every entry back, and a checker that
works on copies, or leaves ``x`` changed, is ``Refused`` with that named.
``checker(...)`` is the course's checker with one knob per known mistake;
``off_by`` makes the candidate gradients whose verdict is close to the rule;
``check_cases`` draws the exercise's cases (a loss, x, a candidate gradient,
the entries to check), which hold no answer: the reference decides each.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import array, sizes
from course.assess.exercise import Case, Refused
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


# How each candidate gradient is made from the correct one, and what a right checker says.
def _candidates(rng: np.random.Generator, loss: Loss, w: np.ndarray, entries: list) -> list[tuple]:
    good = loss.gradient(w)
    flipped = good.copy()
    flipped[entries[0]] *= -1.0
    small = good * (1.0 + 3e-3)  # relative error 1.5e-3 on every entry: a forgotten small term
    slightly = good * (1.0 + 2e-5)  # relative error 1e-5: still a bug by the course's rule
    # One entry wrong by 3e-6, the others exact: the largest error fails, the mean (0.75e-6) would pass.
    one = off_by(loss, w, good, {entries[0]: 3e-6, **{e: 0.0 for e in entries[1:]}})
    # Every entry at 0.8e-6 by the course's denominator |a| + |n|: passes; by max(|a|, |n|) or |a| it is 1.6e-6.
    near = off_by(loss, w, good, {e: 0.8e-6 for e in entries})
    return [("the correct gradient", good, True), ("one entry with its sign flipped", flipped, False),
            ("a gradient a fraction of a percent off", small, False),
            ("a gradient off by a relative 1e-5", slightly, False),
            ("one entry off by a relative 3e-6, the others exact", one, False),
            ("every entry off by a relative 8e-7, within the tolerance", near, True)]


def check_cases(rng: np.random.Generator, scales=(1.0, 1e7, 1e-4)) -> list[Case]:
    cases = []
    for scale in scales:
        n, d, c = sizes(rng, 1)
        x, y = array(rng, (n, d)), rng.integers(0, c, n)
        w = array(rng, (d, c), -1.0, 1.0)
        loss = Loss(x, y, scale)
        entries = [tuple(int(i) for i in np.unravel_index(f, w.shape))
                   for f in rng.choice(w.size, size=min(4, w.size), replace=False)]
        for what, analytic, _ in _candidates(rng, loss, w, entries):
            cases.append(Case((loss, w, analytic, entries), f"{what}, x of shape {w.shape}, the loss scaled by"
                                                            f" {scale:g}, entries {entries} checked"))
    return cases


def public_check_cases() -> tuple[Case, ...]:
    return tuple(check_cases(np.random.default_rng(66), scales=(1.0,)))
