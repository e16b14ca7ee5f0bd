"""What a result must look like before its values are compared: present, as many values as
asked, of the type the text asks for, the right shape and dtype, finite.

Each problem is raised as ``Stop(code, message)``; the message describes the
learner's result and never the expected values.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from course.assess.exercise import Case, Exercise


class Stop(Exception):
    """A problem was found; carries the verdict's code and text."""

    def __init__(self, code: str, message: str, explainable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # A known mistake with the same result explains it better (a float position from `/`).
        self.explainable = explainable


def label(name: str) -> str:
    """An output's name as a hint writes it: code in backticks, words as they are ("the step")."""
    return name if " " in name else f"`{name}`"


def subject(name: str) -> str:
    """An output's name at the start of a sentence: "`dx`", "The gamma gradient" (words get "the")."""
    if " " not in name:
        return label(name)
    words = name if name.startswith("the ") else f"the {name}"
    return words[0].upper() + words[1:]


def plural(name: str) -> bool:
    """Is this output's name a plural ("test scores", "leaf gradients")? Code names count as singular."""
    return " " in name and name.endswith("s") and not name.endswith("loss")


def as_outputs(exercise: Exercise, value: Any) -> list[Any]:
    if len(exercise.outputs) == 1:
        return [value]
    return list(value)


def check_form(exercise: Exercise, got: Any, expected: Any, case: Case) -> None:
    fn = f"`{exercise.function}`"
    if got is None:
        raise Stop("none", f"{fn} returned None. Did you forget the `return` line?")
    n = len(exercise.outputs)
    names = ", ".join(exercise.outputs)
    if n > 1:
        if not isinstance(got, (tuple, list)):
            raise Stop("count", f"{fn} should return {n} values ({names}), as `return {names}`;"
                                 f" it returned one {type(got).__name__}.")
        if len(got) != n:
            raise Stop("count", f"{fn} should return {n} values ({names}); it returned {len(got)}.")
        _check_order(exercise, got, expected)
    for name, g, e in zip(exercise.outputs, as_outputs(exercise, got), as_outputs(exercise, expected)):
        _check_type(name, exercise.returns.get(name), g)
        _check_one(exercise, name, g, e, case)


def _check_order(exercise: Exercise, got: Any, expected: Any) -> None:
    """Results whose shapes fit only in another order were returned in the wrong order."""
    shapes = [np.shape(v) for v in got]
    wanted = [np.shape(v) for v in as_outputs(exercise, expected)]
    if shapes == wanted or sorted(map(str, shapes)) != sorted(map(str, wanted)):
        return
    i = next(k for k in range(len(shapes)) if shapes[k] != wanted[k])
    j = next(k for k in range(len(wanted)) if wanted[k] == shapes[i])
    names = exercise.outputs
    raise Stop("order", f"Your {label(names[i])} has the shape of {label(names[j])}: the results are in the wrong"
                        f" order. Return them in the order {', '.join(names)}.")


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_type(name: str, wanted: str | None, got: Any) -> None:
    """The exact type the exercise's text asks for (``Exercise.returns``): "int", "tuple of int" or "bool"."""
    if wanted == "bool" and not isinstance(got, (bool, np.bool_)):
        shown = f" ({float(got):.3g})" if _is_real_number(got) else ""
        raise Stop("dtype", f"{subject(name)} should be True or False, as the text asks; yours is a"
                            f" {type(got).__name__}{shown}. Return the decision itself: whether the largest"
                            " error is within the tolerance, not the error.")
    if wanted == "int" and not _is_int(got):
        raise Stop("dtype", f"{subject(name)} should be an int, as the text asks; yours is a {type(got).__name__}"
                            f" ({got!r}). Compute it with whole numbers only (`*`, `+`, `//`), or convert it with"
                            " int(...) when it is a whole number.", explainable=True)
    if wanted == "tuple of int":
        if not isinstance(got, tuple):
            raise Stop("dtype", f"{subject(name)} should be a tuple of ints, as the text asks; yours is a"
                                f" {type(got).__name__}. Return tuple(...) of your values.", explainable=True)
        bad = [v for v in got if not _is_int(v)]
        if bad:
            raise Stop("dtype", f"{subject(name)} should hold ints, as the text asks; it holds a"
                                f" {type(bad[0]).__name__} ({bad[0]!r}). Positions are whole numbers: use `//`"
                                " and `%`, or int(...).", explainable=True)


def _is_real_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_one(exercise: Exercise, name: str, got: Any, expected: Any, case: Case) -> None:
    if got is None:
        raise Stop("none", f"{subject(name)} is None. Every result must be computed and returned.")
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            if _is_real_number(got) and expected.ndim == 2 and expected.shape[0] == 1:
                raise Stop("sum_axis", f"{subject(name)} is a single number, but it should have shape {expected.shape}:"
                                        " you summed over every entry. Sum over the batch rows only (axis 0).")
            kind = type(got).__name__
            raise Stop("dtype", f"{subject(name)} should be a numpy array of shape {expected.shape}; it is a {kind}."
                                 " Build it with numpy operations (or wrap it in np.array).")
        if not np.issubdtype(got.dtype, np.floating):
            if name.startswith("d"):
                raise Stop("dtype", f"{subject(name)} has dtype {got.dtype}, but gradients are real numbers"
                                    " (float64). An integer array (e.g. from np.zeros_like of integers, or `//`)"
                                    " drops the fractions.")
            raise Stop("dtype", f"{subject(name)} has dtype {got.dtype}; the text asks for floats (float64)."
                                " Convert it with .astype(float).")
        if got.shape != expected.shape:
            raise Stop(*_shape_problem(name, got.shape, expected.shape))
        if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
            raise Stop("nan", f"{subject(name)} contains NaN or infinity on {case.where}. Look for a division"
                               " by zero, the log of 0, or the exp of a large number.")
        return
    if _is_real_number(expected) or (isinstance(expected, np.ndarray) and expected.ndim == 0):
        if isinstance(got, np.ndarray) and got.ndim == 0:
            got = got.item()
        if not _is_real_number(got):
            kind = f"an array of shape {got.shape}" if isinstance(got, np.ndarray) else f"a {type(got).__name__}"
            raise Stop("dtype", f"{subject(name)} should be a single number; it is {kind}.")
        if not np.isfinite(got) and np.isfinite(expected):
            raise Stop("nan", f"{subject(name)} is {got} on {case.where}. Look for a division by zero, the"
                               " log of 0, or the exp of a large number.")


def _shape_problem(name: str, got: tuple, want: tuple) -> tuple[str, str]:
    has = "have" if plural(name) else "has"
    base = f"{subject(name)} {has} shape {got}, but it should have shape {want}: a gradient has the shape of its variable."
    if len(got) == 2 and got == want[::-1]:
        return "transpose", base + " Yours is the transpose: a transpose is missing or misplaced."
    if len(want) == 2 and want[0] == 1 and got == (want[1],):
        return "keepdims", base + " You summed over the rows without keepdims=True."
    if len(want) == 2 and want[0] == 1 and len(got) == 2 and got[1] == 1:
        return "sum_axis", base + " You summed over the wrong axis: sum over the batch (axis 0)."
    if len(want) == 2 and want[0] == 1 and len(got) == 1:
        return "sum_axis", base + " You summed over the wrong axis (and without keepdims)."
    if len(want) == 2 and want[0] == 1 and len(got) == 2 and got[1] == want[1] and got[0] > 1:
        return "not_summed", base + (" Yours has one row per example, but the variable is a single row that every"
                                     " example used (broadcast over the batch): its gradient is the sum of the"
                                     " rows' gradients, over axis 0 with keepdims=True.")
    # Collapsed along some axis but whole along another: a sum's gradient not broadcast back. (A lone
    # entry where a vector belongs is no such thing, and gets the general message below.)
    if (len(got) == len(want) and all(g in (w, 1) for g, w in zip(got, want))
            and any(g == w > 1 for g, w in zip(got, want))):
        return "no_broadcast", base + (" Yours has size 1 along an axis where the variable has more entries: a"
                                       " sum (or mean) over that axis in the forward pass hands every summed entry"
                                       " the same gradient, so broadcast it back to the variable's shape"
                                       " (np.broadcast_to(g, shape), or g * np.ones(shape)).")
    return "shape", base + " Write down the shapes of the factors and find the one product that fits."


