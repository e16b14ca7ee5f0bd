"""Numerical gradients by central differences, and a gradient check that returns.

The central difference ``(f(x+h) - f(x-h)) / 2h`` is the independent oracle of
the whole course: every analytic gradient in a lesson, an exercise or a test
is compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

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
    gradient of ``sum(f(x))``. ``x`` must be a float64 array: each entry is
    nudged in place by +-h and restored, so f sees the same array object.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError("numerical_gradient needs x as a float64 numpy array")
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


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Entry-wise ``|a - b| / max(|a| + |b|, floor)``; the floor keeps 0 vs 0 at 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


@dataclass(frozen=True)
class GradCheckResult:
    """The outcome of comparing an analytic gradient with a numerical one."""

    name: str
    passed: bool
    max_relative_error: float
    tolerance: float
    worst_index: tuple[int, ...]
    numeric: float
    analytic: float

    def summary(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        where = "" if not self.worst_index else f" at {list(self.worst_index)}"
        return (
            f"{self.name}: {verdict}, max relative error {self.max_relative_error:.1e}"
            f" (tolerance {self.tolerance:.0e}){where}:"
            f" numeric {self.numeric:.6g}, analytic {self.analytic:.6g}"
        )

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
        }


def compare_gradients(
    analytic: np.ndarray,
    numeric: np.ndarray,
    name: str = "gradient",
    tolerance: float = DEFAULT_TOLERANCE,
) -> GradCheckResult:
    """Compare two gradients entry by entry and report the worst entry."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(
            f"{name}: the analytic gradient has shape {analytic.shape} but the"
            f" variable has shape {numeric.shape}; a gradient always has the"
            " shape of its variable"
        )
    if analytic.size == 0:
        return GradCheckResult(name, True, 0.0, tolerance, (), 0.0, 0.0)
    errors = relative_error(analytic, numeric)
    errors = np.where(np.isnan(errors), np.inf, errors)
    flat = int(np.argmax(errors))
    index = tuple(int(i) for i in np.unravel_index(flat, errors.shape))
    worst = float(errors.flat[flat])
    return GradCheckResult(
        name=name,
        passed=bool(worst <= tolerance),
        max_relative_error=worst,
        tolerance=tolerance,
        worst_index=index,
        numeric=float(numeric.flat[flat]),
        analytic=float(analytic.flat[flat]),
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
    """Check ``analytic`` (d sum(upstream * f(x)) / dx) against central differences."""
    numeric = numerical_gradient(f, x, upstream=upstream, h=h)
    return compare_gradients(analytic, numeric, name=name, tolerance=tolerance)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
