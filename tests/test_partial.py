"""Partial credit: the judge's count of cases passed, and the score it gives; the verdict stays the same."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from course.assess.diagnose import evaluate, hidden_cases
from course.assess.registry import all_exercises, get_exercise
from course.safe_run import client
from course.safe_run.judge import JudgeService
from course.safe_run.sandbox import JUDGE_SOCKET
from course.safe_run.verdicts import INFRASTRUCTURE_CODE, Row, rows_for, scored

SEED = 2024
EXERCISES = sorted(all_exercises().values(), key=lambda e: e.id)
# One misconception per category and exercise: the paths through the evaluation differ by category
# (a malformed result, an error, wrong values a known mistake explains), and 02's graph cases are slow.
MISCONCEPTIONS = list({(e.id, m.code): (e, m) for e in EXERCISES for m in reversed(e.misconceptions)}.values())


def cases(exercise):
    return list(exercise.public) + hidden_cases(exercise, SEED)


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_the_reference_passes_every_case_it_is_counted_on(exercise):
    verdict = evaluate(exercise, exercise.reference, SEED, count_all=True)
    assert verdict.passed
    assert verdict.cases_passed == verdict.cases_total == verdict.public_cases + verdict.hidden_cases


@pytest.mark.parametrize("exercise,misconception", MISCONCEPTIONS,
                         ids=[f"{e.id}:{m.code}:{i}" for i, (e, m) in enumerate(MISCONCEPTIONS)])
def test_counting_every_case_changes_no_verdict_and_no_hint(exercise, misconception):
    once = evaluate(exercise, misconception.wrong, SEED)
    counted = evaluate(exercise, misconception.wrong, SEED, count_all=True)
    assert (counted.passed, counted.code, counted.message) == (once.passed, once.code, once.message)
    assert once.cases_total is None
    assert counted.cases_total == len(cases(exercise)) and 0 <= counted.cases_passed < counted.cases_total


def right_unless_x_is_negative(x, y, dout):
    """01.mul_gate, wrong (both gradients zero) whenever x < 0."""
    return (0.0, 0.0) if np.any(np.asarray(x) < 0) else (y * dout, x * dout)


def test_a_function_right_on_some_cases_is_counted_case_by_case():
    exercise = get_exercise("01.mul_gate")
    all_cases = cases(exercise)
    # The oracle: each case's own comparison with the reference, made here.
    right = sum(np.allclose(right_unless_x_is_negative(*c.args), exercise.reference(*c.args)) for c in all_cases)
    assert 0 < right < len(all_cases)  # the test means something only if the function is right on some
    verdict = evaluate(exercise, right_unless_x_is_negative, SEED, count_all=True)
    assert not verdict.passed and (verdict.cases_passed, verdict.cases_total) == (right, len(all_cases))
    assert verdict.message == evaluate(exercise, right_unless_x_is_negative, SEED).message


def test_a_problem_that_stops_the_verdict_still_lets_the_other_cases_count():
    exercise = get_exercise("01.mul_gate")
    first = exercise.public[0].args

    def breaks_on_the_first_example(x, y, dout):
        if (x, y, dout) == first:
            raise ZeroDivisionError("division by zero")
        return y * dout, x * dout

    once = evaluate(exercise, breaks_on_the_first_example, SEED)
    counted = evaluate(exercise, breaks_on_the_first_example, SEED, count_all=True)
    assert once.code == counted.code == "error" and once.message == counted.message
    assert (counted.cases_passed, counted.cases_total) == (len(cases(exercise)) - 1, len(cases(exercise)))


def test_whatever_ends_the_counting_leaves_the_verdict_as_it_was():
    exercise = get_exercise("01.mul_gate")
    first = exercise.public[0].args
    calls = []

    class Gone(BaseException):
        """As the judge's NotebookGone: the notebook's side went away mid-call."""

    def wrong_then_gone(x, y, dout):
        calls.append(1)
        if (x, y, dout) == first:
            return 0.0  # one value where two belong: the verdict
        if len(calls) > 3:
            raise Gone()
        return y * dout, x * dout

    once = evaluate(exercise, wrong_then_gone, SEED)
    calls.clear()
    counted = evaluate(exercise, wrong_then_gone, SEED, count_all=True)
    assert (counted.code, counted.message) == (once.code, once.message) and once.code == "count"
    assert (counted.cases_passed, counted.cases_total) == (2, len(cases(exercise)))


def test_a_function_that_does_not_finish_scores_nothing():
    exercise = dataclasses.replace(get_exercise("01.mul_gate"), time_limit=0.2)

    def endless(x, y, dout):
        while True:
            pass

    verdict = evaluate(exercise, endless, SEED, count_all=True)
    assert verdict.code == "timeout" and (verdict.cases_passed, verdict.cases_total) == (0, len(cases(exercise)))


def test_the_judge_counts_across_the_wall(monkeypatch, socket_dir):
    """The judge and the thin client over a real socket, in this process (no kernel, no sandbox)."""
    folder = socket_dir  # short: a unix socket's path is limited
    judge = JudgeService(SEED, partial=True)
    judge.open("nb", folder, ["01.mul_gate"])
    monkeypatch.setenv(client.SOCKET_VARIABLE, str(folder / JUDGE_SOCKET))
    failed = []
    worker = threading.Thread(target=lambda: _check(failed))
    worker.start()
    worker.join(60)
    judge.close()
    verdict = judge.verdicts["nb"]["01.mul_gate"]
    local = evaluate(get_exercise("01.mul_gate"), right_unless_x_is_negative, SEED, count_all=True)
    assert failed and not verdict["passed"] and verdict["message"] == local.message
    assert (verdict["cases_passed"], verdict["cases_total"]) == (local.cases_passed, local.cases_total)
    row = rows_for("ann", "01.ipynb", "nb", [("exercise", "01.mul_gate"), ("check", "01.mul_gate")], ["", ""],
                   ["01.mul_gate"], {("nb", 0): (True, ""), ("nb", 1): (False, "CheckFailed")},
                   judge.verdicts["nb"], 60)[0]
    assert (row.cases_passed, row.cases_total) == (local.cases_passed, local.cases_total)
    os.environ.pop(client.SOCKET_VARIABLE, None)


def _check(failed: list) -> None:
    from course.assess.check import CheckFailed
    try:
        client.remote_check("01.mul_gate", right_unless_x_is_negative)
    except CheckFailed:
        failed.append(True)


def test_scores_all_or_nothing_by_default_and_by_share_with_partial():
    some = Row("ann", "01.ipynb", "01.a", False, "sign", "The sign is wrong.", cases_passed=3, cases_total=12)
    assert scored(some, 2).score == 0.0
    assert scored(some, 2, partial=True).score == pytest.approx(0.5)
    ok = Row("ann", "01.ipynb", "01.a", True, "ok", "", cases_passed=12, cases_total=12)
    assert scored(ok, 2, partial=True).score == 2
    # A failure the judge did not count (a crash, a cell's timeout) earns nothing; infrastructure no score.
    crash = Row("ann", "01.ipynb", "01.a", False, "crash", "The kernel died.")
    lost = Row("ann", "01.ipynb", "01.a", False, INFRASTRUCTURE_CODE, "could not be graded")
    assert scored(crash, 2, partial=True).score == 0.0 and scored(lost, 2, partial=True).score is None
    # A failed row never earns all the points, whatever its count says.
    odd = Row("ann", "01.ipynb", "01.a", False, "sign", "", cases_passed=12, cases_total=12)
    assert scored(odd, 2, partial=True).score == 0.0


def test_rows_take_the_count_only_from_the_judges_verdict():
    roles = [("exercise", "01.a"), ("check", "01.a")]
    verdict = {"01.a": {"passed": False, "code": "sign", "message": "m", "cases_passed": 4, "cases_total": 9}}
    ran = {("k", 0): (True, ""), ("k", 1): (False, "CheckFailed")}
    row = rows_for("ann", "n", "k", roles, ["def f(): pass", "check()"], ["01.a"], ran, verdict, 60)[0]
    assert (row.code, row.cases_passed, row.cases_total) == ("sign", 4, 9)
    # The exercise cell itself failed under nbval: the row is that failure, with no count.
    broken = {("k", 0): (False, "MemoryError"), ("k", 1): (False, "CheckFailed")}
    row = rows_for("ann", "n", "k", roles, ["def f(): pass", "check()"], ["01.a"], broken, verdict, 60)[0]
    assert row.cases_total is None and scored(row, 1, partial=True).score == 0.0
