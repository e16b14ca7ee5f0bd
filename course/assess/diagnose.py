"""Run a learner's function on an exercise's cases and say what is wrong.

The verdict names the first problem found, in this order: the function does
not run (not written, raises, loops), what it returns is malformed (None,
count, type, dtype, shape), it changed its inputs, and finally its values
are wrong, in which case the known misconceptions are tried to say *why*.
A result with NaN or infinity is first compared with the exercise's known
mistakes (NaN equal to NaN: an unstable softmax is one of them), and only
when none fits does the verdict say "NaN" in general.
Messages describe the learner's result and the inputs; never the answer.
"""

from __future__ import annotations

import copy
import inspect
import numbers
import traceback
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from course.assess.exercise import Case, Exercise
from course.assess.limits import TimeLimitExceeded, time_limit


@dataclass(frozen=True)
class Verdict:
    exercise: str
    passed: bool
    code: str  # "ok" or a category of course.assess.hints
    message: str
    public_cases: int = 0
    hidden_cases: int = 0

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "passed": self.passed,
            "code": self.code,
            "message": self.message,
        }


class _Stop(Exception):
    """Internal: a problem was found; carries the verdict's code and text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _NotFinite(_Stop):
    """Internal: the result holds NaN or infinity where the reference's is finite."""

    def __init__(self, stop: _Stop, got: Any, expected: Any) -> None:
        super().__init__(stop.code, stop.message)
        self.got = got
        self.expected = expected


def hidden_cases(exercise: Exercise, seed: int) -> list[Case]:
    # Mix the exercise id into the seed so exercises do not share cases.
    rng = np.random.default_rng([seed, zlib.crc32(exercise.id.encode())])
    return list(exercise.hidden(rng))


def evaluate(exercise: Exercise, answer: Callable[..., Any], seed: int) -> Verdict:
    """Judge ``answer`` on the public cases, then on hidden cases from ``seed``."""
    if answer is None or not callable(answer):
        kind = "None" if answer is None else type(answer).__name__
        return Verdict(exercise.id, False, "dtype",
                       f"check() needs your function `{exercise.function}` itself, but it was given {kind}."
                       f" Pass the function's name without calling it: check(\"{exercise.id}\", {exercise.function}).")
    public = list(exercise.public)
    try:
        hidden = hidden_cases(exercise, seed)
    except Exception as exc:  # an exercise's own generator failing is our bug, not the learner's
        raise RuntimeError(f"the cases of {exercise.id} could not be made: {exc}") from exc

    failures: list[tuple[Case, Any, Any, bool]] = []
    try:
        with time_limit(exercise.time_limit):
            for is_hidden, case in [(False, c) for c in public] + [(True, c) for c in hidden]:
                try:
                    got, expected = _run_case(exercise, answer, case)
                except _NotFinite as bad:
                    failures.append((case, bad.got, bad.expected, is_hidden))
                    known = _known_mistake(exercise, failures)
                    raise _Stop(*known) if known else bad
                if not _agrees(exercise, got, expected, case):
                    failures.append((case, got, expected, is_hidden))
    except TimeLimitExceeded as exc:
        return Verdict(exercise.id, False, "timeout",
                       f"`{exercise.function}` did not finish within {exc.seconds:g} s. Look for a loop"
                       " that never ends (a `while` whose condition never becomes false), then run the cell"
                       " again.")
    except _Stop as stop:
        return Verdict(exercise.id, False, stop.code, stop.message)

    if not failures:
        return Verdict(exercise.id, True, "ok", "", len(public), len(hidden))
    code, message = _explain(exercise, failures)
    return Verdict(exercise.id, False, code, message, len(public), len(hidden))


# ----- running one case ----------------------------------------------------------

def _run_case(exercise: Exercise, answer: Callable, case: Case) -> tuple[Any, Any]:
    given = copy.deepcopy(case.args)
    try:
        # An overflow is reported by the verdict; numpy's warnings would only add noise above it.
        with np.errstate(all="ignore"):
            got = exercise.run(answer, given) if exercise.run is not None else answer(*given)
    except NotImplementedError:
        raise _Stop("not_done", f"`{exercise.function}` is not written yet: replace the line"
                                " `raise NotImplementedError` with your code, run that cell, then run this one.")
    except TimeLimitExceeded:
        raise
    except Exception as exc:
        if _is_product_mismatch(exc):
            raise _Stop("transpose", _describe_exception(exercise, exc, case) + _PRODUCT_HINT)
        raise _Stop("error", _describe_exception(exercise, exc, case))
    expected = exercise.reference(*copy.deepcopy(case.args))
    try:
        _check_form(exercise, got, expected, case)
    except _Stop as stop:
        if stop.code == "nan":
            raise _NotFinite(stop, got, expected) from None
        raise
    changed = _mutated_argument(exercise.reference, case.args, given)
    if changed is not None:
        raise _Stop("mutated", f"`{exercise.function}` changed its input `{changed}` in place ({case.note})."
                               " A backward function must leave its inputs as they were: the forward values"
                               " may be needed again. Work on new arrays (`x * 2`, `x.copy()`) instead of `x *= 2`"
                               " or `x[...] = ...`.")
    return got, expected


def _describe_exception(exercise: Exercise, exc: Exception, case: Case) -> str:
    where = ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/course/" not in f.filename.replace("\\", "/")]
    if frames:
        last = frames[-1]
        code_line = f": `{last.line.strip()}`" if last.line else ""
        where = f" at line {last.lineno} of `{last.name}`{code_line}"
    return (f"`{exercise.function}` raised {type(exc).__name__}: {exc}{where}, on the example {case.note}."
            " Read the error, fix the function, run its cell, then run this check again.")


_PRODUCT_HINT = (" The sizes of a matrix product do not line up: a transpose is missing or misplaced, or the"
                 " factors are in the wrong order. Write each factor's shape under it; exactly one arrangement"
                 " gives the shape of the variable.")


def _is_product_mismatch(exc: Exception) -> bool:
    """numpy's complaint that the inner sizes of ``a @ b`` or ``a.dot(b)`` differ."""
    text = str(exc)
    return isinstance(exc, ValueError) and (
        (text.startswith("matmul:") and "mismatch in its core dimension" in text)
        or ("shapes" in text and "not aligned" in text))


def _argument_names(reference: Callable, args: tuple) -> list[str]:
    try:
        names = list(inspect.signature(reference).parameters)
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"argument {i + 1}" for i in range(len(args))]


def _mutated_argument(reference: Callable, original: tuple, given: tuple) -> str | None:
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


# ----- the form of a result ---------------------------------------------------------

def _as_outputs(exercise: Exercise, value: Any) -> list[Any]:
    if len(exercise.outputs) == 1:
        return [value]
    return list(value)


def _check_form(exercise: Exercise, got: Any, expected: Any, case: Case) -> None:
    fn = f"`{exercise.function}`"
    if got is None:
        raise _Stop("none", f"{fn} returned None. Did you forget the `return` line?")
    n = len(exercise.outputs)
    names = ", ".join(exercise.outputs)
    if n > 1:
        if not isinstance(got, (tuple, list)):
            raise _Stop("count", f"{fn} should return {n} values ({names}), as `return {names}`;"
                                 f" it returned one {type(got).__name__}.")
        if len(got) != n:
            raise _Stop("count", f"{fn} should return {n} values ({names}); it returned {len(got)}.")
    for name, g, e in zip(exercise.outputs, _as_outputs(exercise, got), _as_outputs(exercise, expected)):
        _check_one(exercise, name, g, e, case)


def _is_real_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_one(exercise: Exercise, name: str, got: Any, expected: Any, case: Case) -> None:
    if got is None:
        raise _Stop("none", f"`{name}` is None. Every result must be computed and returned.")
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            if _is_real_number(got) and expected.ndim == 2 and expected.shape[0] == 1:
                raise _Stop("sum_axis", f"`{name}` is a single number, but it should have shape {expected.shape}:"
                                        " you summed over every entry. Sum over the batch rows only (axis 0).")
            kind = type(got).__name__
            raise _Stop("dtype", f"`{name}` should be a numpy array of shape {expected.shape}; it is a {kind}."
                                 " Build it with numpy operations (or wrap it in np.array).")
        if not np.issubdtype(got.dtype, np.floating):
            raise _Stop("dtype", f"`{name}` has dtype {got.dtype}, but gradients are real numbers (float64)."
                                 " An integer array (e.g. from np.zeros_like of integers, or `//`) drops"
                                 " the fractions.")
        if got.shape != expected.shape:
            raise _Stop(*_shape_problem(name, got.shape, expected.shape))
        if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
            raise _Stop("nan", f"`{name}` contains NaN or infinity on the example {case.note}. Look for a division"
                               " by zero, the log of 0, or the exp of a large number.")
        return
    if _is_real_number(expected) or (isinstance(expected, np.ndarray) and expected.ndim == 0):
        if isinstance(got, np.ndarray) and got.ndim == 0:
            got = got.item()
        if not _is_real_number(got):
            kind = f"an array of shape {got.shape}" if isinstance(got, np.ndarray) else f"a {type(got).__name__}"
            raise _Stop("dtype", f"`{name}` should be a single number; it is {kind}.")
        if not np.isfinite(got) and np.isfinite(expected):
            raise _Stop("nan", f"`{name}` is {got} on the example {case.note}. Look for a division by zero, the"
                               " log of 0, or the exp of a large number.")


def _shape_problem(name: str, got: tuple, want: tuple) -> tuple[str, str]:
    base = f"`{name}` has shape {got}, but it should have shape {want}: a gradient has the shape of its variable."
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
    if len(got) == len(want) and all(g in (w, 1) for g, w in zip(got, want)):
        return "no_broadcast", base + (" Yours has size 1 along an axis where the variable has more entries: a"
                                       " sum (or mean) over that axis in the forward pass hands every summed entry"
                                       " the same gradient, so broadcast it back to the variable's shape"
                                       " (np.broadcast_to(g, shape), or g * np.ones(shape)).")
    return "shape", base + " Write down the shapes of the factors and find the one product that fits."


# ----- comparing values ------------------------------------------------------------

def _close(exercise: Exercise, got: Any, expected: Any) -> bool:
    try:
        g = np.asarray(got, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return g.shape == e.shape and bool(np.allclose(g, e, rtol=exercise.rtol, atol=exercise.atol))


def _agrees(exercise: Exercise, got: Any, expected: Any, case: Case) -> bool:
    if exercise.agree is not None:
        return bool(exercise.agree(got, expected, case))
    return all(_close(exercise, g, e) for g, e in
               zip(_as_outputs(exercise, got), _as_outputs(exercise, expected)))


def _matches_all(exercise: Exercise, wrong: Callable, failures) -> bool:
    for case, got, expected, _ in failures:
        try:
            with np.errstate(all="ignore"):  # some known mistakes overflow: that is the point
                variant = wrong(*copy.deepcopy(case.args))
        except Exception:
            return False
        if _agrees(exercise, variant, expected, case):
            return False  # the misconception gives the right answer here: no evidence
        overflowed = _not_finite(exercise, got), _not_finite(exercise, variant)
        if any(overflowed):
            # NaN and inf count as one value: a result that breaks down on the case where a known
            # mistake breaks down is that mistake, wherever the NaN lands (inf/inf, 0/0, log 0).
            if not all(overflowed):
                return False
            continue
        if not all(_close(exercise, g, v) for g, v in
                   zip(_as_outputs(exercise, got), _as_outputs(exercise, variant))):
            return False
    return True


def _not_finite(exercise: Exercise, result: Any) -> bool:
    """Does any output of ``result`` hold NaN or infinity?"""
    for value in _as_outputs(exercise, result):
        try:
            if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
                return True
        except (TypeError, ValueError):
            pass
    return False


def _with_unit_upstream(exercise: Exercise) -> Callable:
    def wrong(*args):
        args = list(args)
        up = args[exercise.upstream]
        args[exercise.upstream] = np.ones_like(up) if isinstance(up, np.ndarray) else 1.0
        return exercise.reference(*args)
    return wrong


def _known_mistake(exercise: Exercise, failures) -> tuple[str, str] | None:
    """The first of the exercise's misconceptions that explains every failure, with its hint."""
    case = failures[0][0]
    for m in exercise.misconceptions:
        if _matches_all(exercise, m.wrong, failures):
            return m.code, f"{m.hint} (seen on the example {case.note})"
    return None


def _explain(exercise: Exercise, failures) -> tuple[str, str]:
    case, got, expected, is_hidden = failures[0]
    known = _known_mistake(exercise, failures)
    if known:
        return known
    if exercise.upstream is not None and _matches_all(exercise, _with_unit_upstream(exercise), failures):
        return "upstream", (f"Your gradients are the local derivatives alone (seen on the example {case.note})."
                            " Multiply each local derivative by the upstream gradient: that is the chain rule.")
    names = exercise.outputs
    gots, exps = _as_outputs(exercise, got), _as_outputs(exercise, expected)
    if len(names) > 1 and exercise.agree is None:
        for i in range(len(names)):
            for j in range(len(names)):
                if i != j and _close(exercise, gots[i], exps[j]) and not _close(exercise, exps[i], exps[j]):
                    return "order", (f"Your `{names[i]}` holds what belongs in `{names[j]}` (seen on the example"
                                     f" {case.note}). Return the results in the order {', '.join(names)}.")
    wrong = [k for k in range(len(names)) if not _close(exercise, gots[k], exps[k])] if exercise.agree is None else []
    if wrong and all(_close(exercise, gots[k], -np.asarray(exps[k], dtype=np.float64)) for k in wrong):
        which = " and ".join(f"`{names[k]}`" for k in wrong)
        return "sign", (f"{which} {'has' if len(wrong) == 1 else 'have'} the right size but the wrong sign"
                        f" (seen on the example {case.note}). Check the sign of each local derivative.")
    which = " and ".join(f"`{names[k]}`" for k in wrong) if wrong else "the result"
    where = (f"It passes the worked examples but not a hidden case: {case.note}. Make sure it computes from its"
             " inputs for any input, not only for the examples.") if is_hidden else f"Seen on the example {case.note}."
    return "wrong_value", (f"{which} {'is' if len(wrong) <= 1 else 'are'} not right. {where} Work the example"
                           " through by hand, one stage at a time, and compare with a numerical derivative.")
