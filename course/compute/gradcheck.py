"""Numerical gradients by central differences, and a gradient check that returns.

The central difference ``(f(x+h) - f(x-h)) / 2h`` is the independent oracle of
the whole course: every analytic gradient in a lesson, an exercise or a test
is compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from course.compute.portable import ROUND_OFF_SIZED, power_of_ten

DEFAULT_STEP = 1e-6
DEFAULT_TOLERANCE = 1e-6


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    upstream: np.ndarray | float | None = None,
    h: float = DEFAULT_STEP,
) -> np.ndarray:
    """The gradient of ``sum(upstream * f(x))`` with respect to ``x``.

    ``f`` may return a scalar or an array; ``upstream`` (the gradient flowing
    into f's output, same shape as it) defaults to ones, which gives the
    gradient of ``sum(f(x))``. ``x`` must be a float64 array. Each entry is
    nudged by +-h in place and restored, so ``f`` must compute from the array
    it is given (``lambda v: layer(v)``), never from a variable it closes over.
    """
    _require_float64(x, "numerical_gradient")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        plus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = saved - h
        minus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = saved
        diff = plus - minus
        weighted = diff if upstream is None else diff * upstream
        grad[i] = np.sum(weighted) / (2.0 * h)
    return grad


def _require_float64(x: object, who: str) -> None:
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{who} needs x in float64, got {x.dtype}: a {x.dtype} number keeps only about"
            f" {np.finfo(x.dtype).precision} digits, so a step of 1e-6 is lost in round-off."
            " Check with x.astype(np.float64) (and the layer's parameters in float64 too)"
        )
    kind = f"an array of {x.dtype}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
    raise TypeError(
        f"{who} needs x as a float64 numpy array, got {kind}:"
        " convert it with np.asarray(x, dtype=np.float64)"
    )


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Entry-wise ``|a - b| / max(|a| + |b|, floor)``; the floor keeps 0 vs 0 at 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


# An entry this small next to the gradient's largest entry (relative to it)
# is below what a central difference resolves: it is judged against that
# largest entry, not against itself.
SCALE_FLOOR = 1e-9
# Round-off in f(x+h) - f(x-h) is a few machine epsilons of the size of f's
# outputs; this factor leaves room for the sums and products inside f.
ROUND_OFF_FACTOR = 100.0


def round_off(f_value: np.ndarray | float, upstream: np.ndarray | float | None, h: float) -> float:
    """How far a central difference of ``sum(upstream * f)`` can be off by round-off alone."""
    weighted = np.asarray(f_value, dtype=np.float64)
    if upstream is not None:
        weighted = weighted * upstream
    size = float(np.sum(np.abs(weighted)))
    return ROUND_OFF_FACTOR * np.finfo(np.float64).eps * size / (2.0 * h)


@dataclass(frozen=True)
class GradCheckResult:
    """The outcome of comparing an analytic gradient with a numerical one.

    ``diagnosis`` says how a failing gradient is wrong (a constant factor,
    transposed, zeros, some rows or columns only); it is empty when it passed.
    """

    name: str
    passed: bool
    max_relative_error: float
    tolerance: float
    worst_index: tuple[int, ...]
    numeric: float
    analytic: float
    diagnosis: str = ""

    def summary(self) -> str:
        """One line, the same on every machine (``course.compute.portable``).

        A pass says its worst relative error is under the tolerance: which
        entry was worst, its digits and even its decade are round-off's. A
        clear failure (an error of ``ROUND_OFF_SIZED`` or more) says where,
        with both values, and how the gradient is wrong; a failure below that
        line gives only the band it lies in, since there the worst entry is
        round-off's choice too.
        """
        error, tolerance = self.max_relative_error, power_of_ten(self.tolerance)
        how = f". {self.diagnosis}" if self.diagnosis else ""
        if self.passed:
            return f"{self.name}: ok, max relative error < {tolerance} (the tolerance)"
        if error < ROUND_OFF_SIZED:  # nan and inf are clear failures
            return (f"{self.name}: MISMATCH, max relative error > {tolerance} (the tolerance),"
                    f" < {power_of_ten(ROUND_OFF_SIZED)}{how}")
        where = "" if not self.worst_index else f" at {list(self.worst_index)}"
        return (f"{self.name}: MISMATCH, max relative error {error:.1e} (tolerance {tolerance}){where}:"
                f" numeric {self.numeric:.4g}, analytic {self.analytic:.4g}{how}")

    __str__ = summary

    def __repr__(self) -> str:
        return f"GradCheckResult({self.summary()})"

    def _repr_html_(self) -> str:
        colour = "#1b7837" if self.passed else "#b2182b"
        return f'<code style="color:{colour}">{_html_escape(self.summary())}</code>'

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "max_relative_error": self.max_relative_error,
            "tolerance": self.tolerance,
            "worst_index": list(self.worst_index),
            "numeric": self.numeric,
            "analytic": self.analytic,
            "diagnosis": self.diagnosis,
        }


def compare_gradients(
    analytic: np.ndarray,
    numeric: np.ndarray,
    name: str = "gradient",
    tolerance: float = DEFAULT_TOLERANCE,
    noise: float = 0.0,
) -> GradCheckResult:
    """Compare two gradients entry by entry; report the worst entry and, if wrong, how.

    What it guarantees: an entry passes exactly when
    ``|a - n| <= tolerance * (|a| + |n|) + floor``, where the absolute floor is
    the larger of ``noise`` (the numerical gradient's own round-off, which
    ``gradcheck`` estimates) and ``SCALE_FLOOR * tolerance * max|n|``. So a
    gradient that is right to ``tolerance`` relative to each entry always
    passes, an entry of 1e-13 against a numerical 0 is not a false alarm, and
    any entry wrong by more than ``tolerance`` of its own size plus that floor
    fails. ``max_relative_error`` is ``|a - n| / (|a| + |n| + floor / tolerance)``
    at the worst entry, so ``passed`` is ``max_relative_error <= tolerance``.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(_shape_message(name, analytic, numeric))
    if analytic.size == 0:
        return GradCheckResult(name, True, 0.0, tolerance, (), 0.0, 0.0)
    scale = float(np.max(np.abs(numeric))) if np.all(np.isfinite(numeric)) else 0.0
    floor = max(noise, SCALE_FLOOR * tolerance * scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.abs(analytic - numeric) / (np.abs(analytic) + np.abs(numeric) + floor / tolerance)
    errors = np.where(np.isnan(errors), np.inf, errors)
    flat = int(np.argmax(errors))
    index = tuple(int(i) for i in np.unravel_index(flat, errors.shape))
    worst = float(errors.flat[flat])
    passed = bool(worst <= tolerance)
    return GradCheckResult(
        name=name,
        passed=passed,
        max_relative_error=worst,
        tolerance=tolerance,
        worst_index=index,
        numeric=float(numeric.flat[flat]),
        analytic=float(analytic.flat[flat]),
        diagnosis="" if passed else diagnose(analytic, numeric, errors > tolerance, tolerance),
    )


def gradcheck(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    analytic: np.ndarray,
    upstream: np.ndarray | float | None = None,
    name: str = "gradient",
    tolerance: float = DEFAULT_TOLERANCE,
    h: float = DEFAULT_STEP,
) -> GradCheckResult:
    """Check ``analytic`` (d sum(upstream * f(x)) / dx) against central differences.

    ``f`` must compute from its argument: ``lambda v: layer(v, w)``. The
    comparison forgives what round-off in ``f`` can explain and nothing more
    (see ``compare_gradients`` for the exact rule); a failing result says how
    the gradient is wrong.
    """
    _require_float64(x, "gradcheck")
    numeric = numerical_gradient(f, x, upstream=upstream, h=h)
    noise = round_off(f(x), upstream, h)
    return compare_gradients(analytic, numeric, name=name, tolerance=tolerance, noise=noise)


# ----- how a wrong gradient is wrong ---------------------------------------------

# Factors a learner's gradient is typically off by, with what usually causes them.
_FACTOR_CAUSES = {
    -1.0: "the sign is flipped",
    2.0: "it is twice the numerical gradient (a factor 2 too many)",
    0.5: "it is half the numerical gradient (a factor 2 missing, or an upstream split in two)",
}


def diagnose(analytic: np.ndarray, numeric: np.ndarray, wrong: np.ndarray, tolerance: float) -> str:
    """One sentence on how ``analytic`` differs from ``numeric`` (``wrong`` marks the bad entries)."""

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        # Looser than the check itself: a pattern only needs to explain the difference.
        return bool(np.allclose(a, b, rtol=max(tolerance, 1e-6) * 10, atol=1e-9 * (1 + np.max(np.abs(b)))))

    if not np.all(np.isfinite(analytic)):
        return "The analytic gradient has nan or inf entries."
    if not np.any(analytic) and np.any(numeric):
        return "The analytic gradient is all zeros: is the upstream gradient reaching this variable?"
    factor = _constant_factor(analytic, numeric)
    if factor is not None and close(analytic, factor * numeric):
        return f"Off by a constant factor: {_name_factor(factor, numeric.shape)}."
    if analytic.ndim == 2 and analytic.shape[0] == analytic.shape[1] > 1 and close(analytic, numeric.T):
        return "It is the transpose of the numerical gradient: swap the order of the product or transpose it."
    zeros = wrong & (analytic == 0) & (numeric != 0)
    if np.any(zeros) and not np.any(wrong & ~zeros):
        return f"Zero in {_count(zeros)} where the numerical gradient is not, first at {_first(zeros)}."
    if int(wrong.sum()) == 1:
        return f"Only the entry at {_first(wrong)} disagrees."
    if analytic.ndim == 2:
        rows, cols = np.flatnonzero(wrong.any(axis=1)), np.flatnonzero(wrong.any(axis=0))
        if analytic.shape[1] > 1 and np.all(wrong.sum(axis=1) == 1):
            picked = [int(np.flatnonzero(row)[0]) for row in wrong]
            return (
                f"Wrong in exactly one entry of every row (columns {picked}) and right elsewhere:"
                " look at what is chosen per row, such as each row's correct class."
            )
        if len(rows) < analytic.shape[0]:
            return f"Wrong only in rows {rows.tolist()}; the other rows agree."
        if len(cols) < analytic.shape[1]:
            return f"Wrong only in columns {cols.tolist()}; the other columns agree."
    return f"{_count(wrong)} disagree."


def _constant_factor(analytic: np.ndarray, numeric: np.ndarray) -> float | None:
    """The least-squares c in analytic ~ c * numeric, or None when numeric is all zero."""
    norm = float(np.sum(numeric * numeric))
    return None if norm == 0.0 else float(np.sum(analytic * numeric)) / norm


def _name_factor(factor: float, shape: tuple[int, ...]) -> str:
    for known, cause in _FACTOR_CAUSES.items():
        if np.isclose(factor, known, rtol=1e-4):
            return f"the analytic gradient is {known:g} x the numerical one: {cause}"
    for axis, size in enumerate(shape):
        if size > 2 and np.isclose(factor, size, rtol=1e-4):
            return (f"the analytic gradient is {size} x the numerical one, the size of axis {axis}:"
                    " a 1/N missing (a sum where the loss takes a mean)?")
        if size > 2 and np.isclose(factor, 1.0 / size, rtol=1e-4):
            return (f"the analytic gradient is 1/{size} of the numerical one, 1 over the size of axis"
                    f" {axis}: a 1/N too many (divided twice, or a mean where the loss takes a sum)?")
    return f"the analytic gradient is {factor:.4g} x the numerical one"


def _count(mask: np.ndarray) -> str:
    n = int(mask.sum())
    return f"{n} of {mask.size} entries" if n != 1 else f"1 of {mask.size} entries"


def _first(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape)]


def _shape_message(name: str, analytic: np.ndarray, numeric: np.ndarray) -> str:
    message = (
        f"{name}: the analytic gradient has shape {analytic.shape} but the variable has shape"
        f" {numeric.shape}; a gradient always has the shape of its variable"
    )
    if analytic.ndim == 2 and analytic.T.shape == numeric.shape:
        fits = np.allclose(analytic.T, numeric, rtol=1e-5, atol=1e-8)
        message += ". It is transposed" + (" (its transpose matches the numerical gradient)" if fits else "")
    return message


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
