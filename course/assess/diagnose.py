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
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from course.assess.casebook import CaseBook, FreshCases, hidden_cases  # noqa: F401  (hidden_cases re-exported)
from course.assess.exercise import Case, Exercise, refusal
from course.assess.form import Stop as _Stop
from course.assess.form import as_outputs as _as_outputs
from course.assess.form import check_form as _check_form
from course.assess.form import label as _label
from course.assess.form import plural as _plural
from course.assess.form import subject as _subject
from course.assess.limits import TimeLimitExceeded, time_limit
from course.assess.mutation import mutated_argument
from course.assess.some_outputs import restricted

# Form problems a known mistake can explain: its result has the same wrong shape, count, type or NaN.
_EXPLAINABLE = {"nan", "shape", "transpose", "sum_axis", "keepdims", "not_summed", "no_broadcast", "count", "order"}


@dataclass(frozen=True)
class Verdict:
    exercise: str
    passed: bool
    code: str  # "ok" or a category of course.assess.hints
    message: str
    public_cases: int = 0
    hidden_cases: int = 0
    # With ``count_all``: how many of all the cases (public and hidden) the function got right.
    cases_passed: int | None = None
    cases_total: int | None = None

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "passed": self.passed,
            "code": self.code,
            "message": self.message,
        }


class _FormProblem(_Stop):
    """Internal: the result is malformed or not finite; a known mistake may explain it."""

    def __init__(self, stop: _Stop, got: Any, expected: Any) -> None:
        super().__init__(stop.code, stop.message)
        self.got = got
        self.expected = expected


def evaluate(exercise: Exercise, answer: Callable[..., Any], seed: int, count_all: bool = False,
             book: CaseBook | None = None) -> Verdict:
    """Judge ``answer`` on the public cases, then on hidden cases from ``seed``.

    The verdict is about the first problem found. With ``count_all`` (partial credit) every case is
    still run after it, only to count how many the function gets right (``cases_passed`` of
    ``cases_total``); the verdict and its message stay those of the first problem. ``book`` keeps the
    cases and the reference's results from one evaluation to the next (the same verdicts, less work).
    """
    book = book or FreshCases()
    if answer is None or not callable(answer):
        kind = "None" if answer is None else type(answer).__name__
        return Verdict(exercise.id, False, "dtype",
                       f"check() needs your function `{exercise.function}` itself, but it was given {kind}."
                       f" Pass the function's name without calling it: check(\"{exercise.id}\", {exercise.function}).")
    public = list(exercise.public)
    try:
        hidden = book.hidden(exercise, seed)
    except Exception as exc:  # an exercise's own generator failing is our bug, not the learner's
        raise RuntimeError(f"the cases of {exercise.id} could not be made: {exc}") from exc
    counted = _Count(len(public) + len(hidden)) if count_all else None

    failures: list[tuple[Case, Any, Any, bool]] = []
    try:
        with time_limit(exercise.time_limit):
            for is_hidden, case in [(False, c) for c in public] + [(True, c) for c in hidden]:
                if counted and counted.stop:
                    try:
                        counted.passed += _passes(exercise, answer, case, book)
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except BaseException:
                        # Counting must never change the verdict: whatever ends it (the time limit, the
                        # grader's notebook gone, a case that cannot be sent), the cases left count as failed.
                        return counted.verdict(exercise, counted.stop.code, counted.stop.message)
                    continue
                try:
                    got, expected = _run_case(exercise, answer, case, book)
                except _FormProblem as bad:
                    # A known mistake that explains this case too; else one that explains the wrong values
                    # seen before it (fix those first); else the form problem itself.
                    known = (_known_mistake(exercise, failures + [(case, bad.got, bad.expected, is_hidden)])
                             or (_known_mistake(exercise, failures) if failures else None))
                    stop = _Stop(*known) if known else bad
                    if not counted:
                        raise stop from None
                    counted.stop = stop
                    continue
                except _Stop as stop:
                    if not counted:
                        raise
                    counted.stop = stop
                    continue
                if not _agrees(exercise, got, expected, case):
                    failures.append((case, got, expected, is_hidden))
                elif counted:
                    counted.passed += 1
    except TimeLimitExceeded as exc:
        if counted and counted.stop:  # the verdict was made before: the cases left count as failed
            return counted.verdict(exercise, counted.stop.code, counted.stop.message)
        # No credit for a function that did not finish: a score must not depend on the machine's speed.
        return Verdict(exercise.id, False, "timeout",
                       f"`{exercise.function}` did not finish within {exc.seconds:g} s. Look for a loop"
                       " that never ends (a `while` whose condition never becomes false), then run the cell"
                       " again.", cases_passed=0 if counted else None, cases_total=counted.total if counted else None)
    except _Stop as stop:
        return Verdict(exercise.id, False, stop.code, stop.message)
    if counted and counted.stop:
        return counted.verdict(exercise, counted.stop.code, counted.stop.message)

    total = {"cases_passed": counted.passed, "cases_total": counted.total} if counted else {}
    if not failures:
        return Verdict(exercise.id, True, "ok", "", len(public), len(hidden), **total)
    # Every failing case is tried again: on a small one, two draws from the global generator agree by chance
    # (two 8-unit masks at keep_prob = 0.8 are the same one time in 22).
    unrepeatable = None
    if "random" in exercise.tags:
        unrepeatable = next((f for f in failures if not _repeatable(exercise, answer, f)), None)
    if unrepeatable is not None:
        return Verdict(exercise.id, False, "global_rng",
                       f"`{exercise.function}` gives a different result each time for the same `rng` (seen on"
                       f" {unrepeatable[0].where}): it draws from numpy's global generator (np.random....)."
                       " Draw every random number from the `rng` it is given, e.g. rng.random(x.shape).",
                       len(public), len(hidden), **total)
    code, message = _explain(exercise, failures)
    return Verdict(exercise.id, False, code, message, len(public), len(hidden), **total)


class _Count:
    """Partial credit's tally: cases right so far, and the first problem (the verdict) once found."""

    def __init__(self, total: int) -> None:
        self.total, self.passed, self.stop = total, 0, None

    def verdict(self, exercise: Exercise, code: str, message: str) -> Verdict:
        return Verdict(exercise.id, False, code, message, cases_passed=self.passed, cases_total=self.total)


def _passes(exercise: Exercise, answer: Callable, case: Case, book) -> bool:
    """Is ``answer`` right on ``case`` (well formed, inputs left alone, right values)? Only counts."""
    try:
        got, expected = _run_case(exercise, answer, case, book)
    except _Stop:
        return False
    return _agrees(exercise, got, expected, case)


# ----- running one case ----------------------------------------------------------

def _run_case(exercise: Exercise, answer: Callable, case: Case, book) -> tuple[Any, Any]:
    try:
        # An overflow is reported by the verdict; numpy's warnings would only add noise above it.
        with np.errstate(all="ignore"):
            given, got = book.call(exercise, answer, case)
    except NotImplementedError as exc:
        callee = _unwritten_callee(exercise, exc)
        if callee:  # a composite exercise calls the learner's earlier functions
            raise _Stop("not_done", f"`{exercise.function}` calls `{callee}`, which is not written yet: write"
                                    f" `{callee}` first (its exercise is above), run its cell, then run this one.")
        raise _Stop("not_done", f"`{exercise.function}` is not written yet: replace the line"
                                " `raise NotImplementedError` with your code, run that cell, then run this one.")
    except TimeLimitExceeded:
        raise
    except Exception as exc:
        refused = refusal(exc)  # the exercise's adapter saw the answer do what the task rules out
        if refused:
            raise _Stop(refused[0], f"{refused[1]} (seen on {case.where})") from None
        known = _known_failure(exercise, case, exc)
        if known:
            raise _Stop(*known) from None
        if _is_product_mismatch(exc):
            raise _Stop("transpose", _describe_exception(exercise, exc, case) + _PRODUCT_HINT)
        raise _Stop("error", _describe_exception(exercise, exc, case))
    expected = book.expected(exercise, case)
    try:
        _check_form(exercise, got, expected, case)
    except _Stop as stop:
        if stop.code in _EXPLAINABLE or stop.explainable:
            raise _FormProblem(stop, got, expected) from None
        raise
    changed = mutated_argument(exercise.reference, case.args, given)
    if changed is not None:
        raise _Stop("mutated", f"`{exercise.function}` changed its input `{changed}` in place, on"
                               f" {case.where}. Leave the inputs as they were: whoever called the function may"
                               f" still need them. Compute into a new array (`{changed} - m`, `{changed}.copy()`)"
                               f" instead of changing `{changed}` itself (`{changed} -= m`, `{changed}[...] = ...`).")
    return got, expected


def _unwritten_callee(exercise: Exercise, exc: BaseException) -> str | None:
    """The learner's own function that raised NotImplementedError, when it is not the exercise's function."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/course/" not in f.filename.replace("\\", "/")]
    # The outermost of the learner's frames is the answer itself; the innermost raised.
    if len(frames) < 2 or frames[-1].name == frames[0].name or not frames[-1].name.isidentifier():
        return None
    return frames[-1].name


def _known_failure(exercise: Exercise, case: Case, exc: Exception) -> tuple[str, str] | None:
    """A known mistake that fails on this case with the very same error (a division by a zero input, ...)."""
    for m in exercise.misconceptions:
        try:
            with np.errstate(all="ignore"):
                m.wrong(*copy.deepcopy(case.args))
        except Exception as theirs:
            if type(theirs) is type(exc) and str(theirs) == str(exc):
                return m.code, f"{m.hint} (seen on {case.where}, where it raised {type(exc).__name__})"
    return None


def _describe_exception(exercise: Exercise, exc: Exception, case: Case) -> str:
    where = ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/course/" not in f.filename.replace("\\", "/")]
    if frames:
        last = frames[-1]
        code_line = f": `{last.line.strip()}`" if last.line else ""
        where = f" at line {last.lineno} of `{last.name}`{code_line}"
    return (f"`{exercise.function}` raised {type(exc).__name__}: {exc}{where}, on {case.where}."
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


def _matches_all(exercise: Exercise, wrong: Callable, failures, only: tuple[str, ...] = ()) -> bool:
    if only:  # these outputs alone (a forward mistake named by the forward output)
        exercise, wrong, failures = restricted(exercise, only, wrong, failures)
    for case, got, expected, _ in failures:
        try:
            with np.errstate(all="ignore"):  # some known mistakes overflow: that is the point
                variant = wrong(*copy.deepcopy(case.args))
        except Exception:
            return False
        try:
            if len(_as_outputs(exercise, got)) != len(_as_outputs(exercise, variant)):
                return False
        except TypeError:  # a single value where several belong (or the reverse)
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


def _repeatable(exercise: Exercise, answer: Callable, failure) -> bool:
    """Does the answer give the same result again on a fresh copy of the case (same generator state)?"""
    case, got = failure[0], failure[1]
    try:
        with time_limit(exercise.time_limit), np.errstate(all="ignore"):
            given = copy.deepcopy(case.args)
            again = exercise.run(answer, given) if exercise.run is not None else answer(*given)
    except Exception:
        return True  # it cannot be judged this way; the other diagnoses apply
    try:
        return all(np.array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), equal_nan=True)
                   for a, b in zip(_as_outputs(exercise, got), _as_outputs(exercise, again)))
    except (TypeError, ValueError):
        return True


def _known_mistake(exercise: Exercise, failures) -> tuple[str, str] | None:
    """The first of the exercise's misconceptions that explains every failure, with its hint."""
    case = failures[0][0]
    for m in exercise.misconceptions:
        if _matches_all(exercise, m.wrong, failures, m.outputs):
            return m.code, f"{m.hint} (seen on {case.where})"
    return None


def _partly_unchained(exercise: Exercise, failures) -> list[int]:
    """The outputs that lack the upstream factor while the others are right, the same in every failure."""
    if exercise.upstream is None or len(exercise.outputs) < 2 or exercise.agree is not None:
        return []
    unit = _with_unit_upstream(exercise)
    found = None
    for case, got, expected, _ in failures:
        local = _as_outputs(exercise, unit(*copy.deepcopy(case.args)))
        gots, exps = _as_outputs(exercise, got), _as_outputs(exercise, expected)
        if not all(_close(exercise, g, e) or _close(exercise, g, u) for g, e, u in zip(gots, exps, local)):
            return []
        these = [k for k in range(len(gots)) if not _close(exercise, gots[k], exps[k])]
        if found is not None and these != found:
            return []
        found = these
    return found or []


def _named(exercise: Exercise, failures) -> tuple[str, str] | None:
    """A specific mistake that explains every one of ``failures``: a known one, or a missing upstream factor."""
    case = failures[0][0]
    known = _known_mistake(exercise, failures)
    if known:
        return known
    if exercise.upstream is not None and _matches_all(exercise, _with_unit_upstream(exercise), failures):
        return "upstream", (f"Your gradients are the local derivatives alone (seen on {case.where})."
                            " Multiply each local derivative by the upstream gradient: that is the chain rule.")
    unchained = _partly_unchained(exercise, failures)
    if unchained:
        which = " and ".join(_label(exercise.outputs[k]) for k in unchained)
        return "upstream", (f"Your {which} {'is' if len(unchained) == 1 else 'are'} the local derivative alone"
                            f" (seen on {case.where}), while your other results carry the upstream"
                            " gradient. Multiply every local derivative by the upstream gradient.")
    return None


def _explain(exercise: Exercise, failures) -> tuple[str, str]:
    case, got, expected, is_hidden = failures[0]
    # Two mistakes at once (the edge cases show a second one): name the one the first example shows.
    named = _named(exercise, failures) or (_named(exercise, failures[:1]) if len(failures) > 1 else None)
    if named:
        return named
    names = exercise.outputs
    gots, exps = _as_outputs(exercise, got), _as_outputs(exercise, expected)
    if len(names) > 1 and exercise.agree is None:
        for i in range(len(names)):
            for j in range(len(names)):
                # A swap, both ways: one output that merely equals another's value (a 0) is no evidence.
                if (i != j and _close(exercise, gots[i], exps[j]) and _close(exercise, gots[j], exps[i])
                        and not _close(exercise, exps[i], exps[j])):
                    return "order", (f"Your {_label(names[i])} holds what belongs in {_label(names[j])} (seen on"
                                     f" {case.where}). Return the results in the order {', '.join(names)}.")
    wrong = [k for k in range(len(names)) if not _close(exercise, gots[k], exps[k])] if exercise.agree is None else []
    if wrong and all(_close(exercise, gots[k], -np.asarray(exps[k], dtype=np.float64)) for k in wrong):
        which = " and ".join(_label(names[k]) for k in wrong)
        return "sign", (f"{which} {'has' if len(wrong) == 1 else 'have'} the right size but the wrong sign"
                        f" (seen on {case.where}). Check the sign of each local derivative.")
    which = " and ".join(_label(names[k]) for k in wrong) if wrong else "the result"
    if len(wrong) == 1 and " " in names[wrong[0]]:
        which = _subject(names[wrong[0]])
    many = len(wrong) > 1 or (len(wrong) == 1 and _plural(names[wrong[0]]))
    where = (f"It passes the worked examples but not a hidden case: {case.note}. Make sure it computes from its"
             " inputs for any input, not only for the examples.") if is_hidden else f"Seen on {case.where}."
    return "wrong_value", (f"{which[0].upper()}{which[1:]} {'are' if many else 'is'} not right. {where}"
                           f" {_next_step(exercise)}")


def _next_step(exercise: Exercise) -> str:
    # A numerical derivative checks a gradient; it says nothing about a random mask, an index or a
    # numerical derivative itself.
    if "random" not in exercise.tags and any(name.startswith("d") for name in exercise.outputs):
        return "Work the example through by hand, one stage at a time, and compare with a numerical derivative."
    return "Work the example through by hand, one step at a time."
