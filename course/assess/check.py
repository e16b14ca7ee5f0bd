"""``check(exercise_id, answer)``: the call in every check cell of an exercise notebook.

On success it prints one line that is the same on every run (nbval compares
it). On failure it raises ``CheckFailed`` whose message names what is wrong;
in a notebook the message is shown on its own, without a long traceback.

A learner working alone gets the local check below (the references are in
the package). Under grading, inside the sandbox, the same call is a thin
client of the grader's judge: the grader plugs it in through
``course.assess.seams`` (``course.safe_run.client``), so this layer never
imports the grader.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from course.assess import own_work
from course.assess.diagnose import Verdict, evaluate
from course.assess.early_check import install as install_early_check
from course.assess.events import CheckEvent, publish
from course.assess.hints import describe
from course.assess.registry import get_exercise
from course.assess.seams import plugged_evaluator

# Public cases are fixed in each exercise; hidden cases come from this seed,
# which the grader replaces with one the learner's notebook cannot know.
DEFAULT_HIDDEN_SEED = 20240521
SEED_VARIABLE = "GRADFLOW_HIDDEN_SEED"
# When set (seconds), overrides every exercise's own time limit (the grader and tests use it).
TIME_LIMIT_VARIABLE = "GRADFLOW_TIME_LIMIT"
# When set, every verdict is appended to this file as one JSON line (the grader reads it).
RESULTS_VARIABLE = "GRADFLOW_RESULTS_FILE"


class CheckFailed(AssertionError):
    """An exercise's answer is not right yet; the message says why."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(format_failure(verdict))

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback into the course package.
        return format_failure(self.verdict).splitlines()


def format_failure(verdict: Verdict) -> str:
    return f"✘ {verdict.exercise} is not right yet ({describe(verdict.code)}).\n{verdict.message}"


def format_success(verdict: Verdict, title: str) -> str:
    return (f"✔ {verdict.exercise} {title}: passed {verdict.public_cases} worked"
            f" example{'s' if verdict.public_cases != 1 else ''} and {verdict.hidden_cases} hidden cases.")


def hidden_seed() -> int:
    value = os.environ.get(SEED_VARIABLE, "")
    return int(value) if value.strip().isdigit() else DEFAULT_HIDDEN_SEED


def _with_time_limit(exercise):
    value = os.environ.get(TIME_LIMIT_VARIABLE, "")
    try:
        seconds = float(value)
    except ValueError:
        return exercise
    return dataclasses.replace(exercise, time_limit=seconds) if seconds > 0 else exercise


def _record(verdict: Verdict) -> None:
    path = os.environ.get(RESULTS_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(verdict.to_dict()) + "\n")


def check(exercise_id: str, answer: Any) -> None:
    """Check ``answer`` (your function) for exercise ``exercise_id``."""
    evaluator = plugged_evaluator()
    if evaluator is not None:  # under grading, in the sandbox: the judge outside has the cases and references
        evaluator(exercise_id, answer)
        return
    exercise = _with_time_limit(get_exercise(exercise_id))
    with own_work.recording() as course_calls:
        verdict = evaluate(exercise, answer, hidden_seed())
    _record(verdict)
    publish(CheckEvent.of(verdict))  # to a live session, if the learner joined one (course.session)
    if not verdict.passed:
        raise CheckFailed(verdict)
    print(format_success(verdict, exercise.title))
    if course_calls:
        print(own_work.practice_note(course_calls, exercise.function))


# `from course import check` in a notebook also teaches the kernel to explain a
# check cell run before its exercise cell (course.assess.early_check).
install_early_check()
