"""Every registered exercise, whatever its concept: the reference passes, each
known misconception gets its own hint, and broken answers get clear messages."""

import dataclasses

import numpy as np
import pytest

from course.assess.diagnose import evaluate
from course.assess.hints import CATEGORIES
from course.assess.registry import all_exercises

SEED = 12345
EXERCISES = sorted(all_exercises().values(), key=lambda e: e.id)
IDS = [e.id for e in EXERCISES]
MISCONCEPTIONS = [(e, m) for e in EXERCISES for m in e.misconceptions]


def quick(exercise):
    return dataclasses.replace(exercise, time_limit=0.1)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_reference_passes(exercise):
    verdict = evaluate(exercise, exercise.reference, SEED)
    assert verdict.passed, verdict.message
    assert verdict.public_cases >= 1 and verdict.hidden_cases >= 5


@pytest.mark.parametrize("exercise,misconception", MISCONCEPTIONS,
                         ids=[f"{e.id}:{m.code}:{i}" for i, (e, m) in enumerate(MISCONCEPTIONS)])
def test_each_misconception_gets_its_hint(exercise, misconception):
    verdict = evaluate(exercise, misconception.wrong, SEED)
    assert not verdict.passed
    assert verdict.code == misconception.code
    assert misconception.hint in verdict.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_codes_are_known_categories(exercise):
    for m in exercise.misconceptions:
        assert m.code in CATEGORIES, f"{exercise.id}: add {m.code!r} to course.assess.hints.CATEGORIES"


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_unfinished_exercise(exercise):
    def stub(*args):
        raise NotImplementedError("Exercise: replace this line with your code.")

    verdict = evaluate(exercise, stub, SEED)
    assert (verdict.passed, verdict.code) == (False, "not_done")
    assert "raise NotImplementedError" in verdict.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_none_is_explained(exercise):
    if exercise.run is not None:
        pytest.skip("the answer is run through an adapter; its return value is not its result")
    verdict = evaluate(exercise, lambda *args: None, SEED)
    assert verdict.code == "none" and "return" in verdict.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_an_exception_is_reported_with_its_line(exercise):
    def broken(*args):
        values = [1, 2]
        return values[5]

    verdict = evaluate(exercise, broken, SEED)
    assert verdict.code == "error"
    assert "IndexError" in verdict.message and "values[5]" in verdict.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_an_endless_loop_ends_with_a_clear_message(exercise):
    def endless(*args):
        while True:
            try:
                pass
            except Exception:  # a learner's broad except must not swallow the time limit
                pass

    verdict = evaluate(quick(exercise), endless, SEED)
    assert verdict.code == "timeout"
    assert "did not finish within 0.1 s" in verdict.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_not_a_function(exercise):
    for value in (None, 3.0):
        verdict = evaluate(exercise, value, SEED)
        assert not verdict.passed and "Pass the function's name" in verdict.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_hidden_cases_depend_on_the_seed(exercise):
    from course.assess.diagnose import hidden_cases

    a, b = hidden_cases(exercise, 1), hidden_cases(exercise, 2)
    assert [c.note for c in a] != [c.note for c in b]
    assert [c.note for c in a] == [c.note for c in hidden_cases(exercise, 1)]
