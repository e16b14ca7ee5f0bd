"""Did a learner's function change its inputs in place? Each argument before and after the call, compared.

A function that changes its input (``x -= m``) may pass on its own, yet break whoever still needs
the input: the check names the argument (``course.assess.diagnose``).
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable

import numpy as np


def _argument_names(reference: Callable, args: tuple) -> list[str]:
    try:
        names = list(inspect.signature(reference).parameters)
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"argument {i + 1}" for i in range(len(args))]


def mutated_argument(reference: Callable, original: tuple, given: tuple) -> str | None:
    """The name of the first argument the call changed (named as in ``reference``), or None."""
    for name, before, after in zip(_argument_names(reference, original), original, given):
        if not _same(before, after):
            return name
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, numbers.Number):
        return a == b or (a != a and b != b)
    return True  # functions, graphs and other objects are not compared here
