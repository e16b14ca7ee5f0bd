"""A known mistake judged on some of an exercise's outputs only (``Misconception.outputs``).

A learner who divides the variance by N − 1 in the forward pass gets ``out``
wrong, and whatever their backward pass then does, ``dx`` is wrong in a way
no single known mistake reproduces. Judged on ``out`` alone, the forward
mistake is recognised and named. ``restricted`` turns the exercise, the wrong
answer and the failures into their views on those outputs, so that the
diagnosis compares them exactly as it compares whole results.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from course.assess.exercise import Exercise


def restricted(exercise: Exercise, only: tuple[str, ...], wrong: Callable, failures: list) -> tuple:
    keep = [i for i, name in enumerate(exercise.outputs) if name in only]

    def picked(value: Any) -> Any:
        if len(exercise.outputs) == 1:
            return value
        try:
            outs = list(value)
            chosen = [outs[i] for i in keep]
        except (TypeError, IndexError):
            return value  # malformed: the comparison says no
        return chosen[0] if len(chosen) == 1 else tuple(chosen)

    view = dataclasses.replace(exercise, outputs=tuple(exercise.outputs[i] for i in keep), agree=None)
    return (view, lambda *args: picked(wrong(*args)),
            [(case, picked(got), picked(expected), hidden) for case, got, expected, hidden in failures])
