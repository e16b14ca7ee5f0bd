"""The inputs of exercise cases, drawn in one place for every concept module.

A concept module says only what is specific to its exercises: which
arguments, which sizes, which edges. The draws below keep the habits every
check relies on: two decimals, so that a hint can quote the numbers; no exact
zero unless a case asks for one, because a zero hides a missing factor; sizes
that all differ, so that a missing transpose shows as a wrong shape.

The API (concept modules rely on it; keep it stable):

- ``number(rng, low=-3.0, high=3.0) -> float``: one number with two decimals,
  never exactly 0 (a drawn 0 becomes 0.5).
- ``array(rng, shape, low=-3.0, high=3.0) -> np.ndarray``: float64 entries with
  two decimals, none exactly 0 (a matrix is ``array(rng, (n, d))``).
- ``sizes(rng, k, count=3) -> tuple[int, ...]``: ``count`` different sizes,
  batch first; the batch is 1 in the first set (``k == 0``), from 2 to 5
  otherwise, and the other sizes are from 2 to 6.
- ``note(**named) -> str`` and ``case(**named) -> Case``: a case whose
  arguments are the keyword values in order, described by name: ``x of shape
  (2, 3)`` for an array, ``x = 1.5`` for a number, ``x = <repr>`` otherwise.
- ``remark(made, text) -> Case``: ``made`` with ``text`` added to its note
  (``", "`` between; nothing added when ``text`` is empty), for what the
  shapes do not say: a tie, a constant column.
- ``many(n, make, edges=()) -> hidden``: the ``hidden`` generator of an
  ``Exercise``: the fixed ``edges`` cases first, then ``make(rng, k)`` for
  ``k = 0 .. n-1``, each returning one ``Case``.

Example::

    hidden=many(12, lambda rng, k: case(x=array(rng, sizes(rng, k)[:2]), dout=...),
                edges=(case(x=np.zeros((1, 3)), dout=np.ones((1, 3))),))
"""

from __future__ import annotations

import numbers
from typing import Callable, Iterable

import numpy as np

from course.assess.exercise import Case

Hidden = Callable[[np.random.Generator], list[Case]]


def number(rng: np.random.Generator, low: float = -3.0, high: float = 3.0) -> float:
    """A number in [low, high) with two decimals; never exactly 0, which hides a missing factor."""
    v = round(float(rng.uniform(low, high)), 2)
    return v if v != 0.0 else 0.5


def array(rng: np.random.Generator, shape: tuple[int, ...], low: float = -3.0, high: float = 3.0) -> np.ndarray:
    """An array of ``shape`` with two-decimal entries in [low, high), none exactly 0.

    No zeros: relu's kink and a wrongly dropped unit both hide behind a 0.
    A case that wants zeros puts them in on purpose (an edge case).
    """
    a = np.round(rng.uniform(low, high, size=shape), 2)
    return np.where(a == 0.0, 0.5, a)


def sizes(rng: np.random.Generator, k: int, count: int = 3) -> tuple[int, ...]:
    """``count`` different sizes (N, D, F, ...), batch first; the first set (k == 0) has N = 1."""
    while True:
        n = 1 if k == 0 else int(rng.integers(2, 6))
        rest = [int(v) for v in rng.integers(2, 7, size=count - 1)]
        if len({n, *rest}) == count:
            return (n, *rest)


def _describe(name: str, value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{name} of shape {value.shape}"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{name} = {value:g}"
    return f"{name} = {value!r}"


def note(**named: object) -> str:
    """How a case is described in hints: arrays by their shape, numbers by their value."""
    return ", ".join(_describe(name, value) for name, value in named.items())


def case(**named: object) -> Case:
    """A case whose arguments are ``named``'s values in order, described by ``note``."""
    return Case(tuple(named.values()), note(**named))


def remark(made: Case, text: str) -> Case:
    """``made``, its note followed by ``text``: what sets this case apart, which its shapes do not show."""
    return Case(made.args, f"{made.note}, {text}") if text else made


def many(n: int, make: Callable[[np.random.Generator, int], Case], edges: Iterable[Case] = ()) -> Hidden:
    """The ``hidden`` generator of an exercise: the fixed ``edges`` first, then ``n`` drawn cases."""
    fixed = tuple(edges)

    def hidden(rng: np.random.Generator) -> list[Case]:
        return [*fixed, *(make(rng, k) for k in range(n))]
    return hidden
