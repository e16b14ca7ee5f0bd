"""Own work: an answer that calls the course's own implementation of itself (``Exercise.answer_of``).

A learner's own check passes it with a note that it will not count; under grading the judge gives it no
credit and the verdict, the row, the feedback and the CSV say which function it called. Found by running
the answer, not by reading it; lessons and other exercises use the same functions freely.
"""

from __future__ import annotations

import numpy as np
import pytest

from course.assess.check import check
from course.assess.diagnose import evaluate
from course.assess.registry import all_exercises, get_exercise
from course.compute import batchnorm as course_bn
from course.compute.batchnorm import BatchNorm, batchnorm_backward, batchnorm_forward

SEED = 31337


def copies_the_backward(dout, x, gamma, eps):
    _, cache = batchnorm_forward(x, gamma, np.zeros_like(gamma), "train", None, eps)
    return batchnorm_backward(dout, cache)


def under_another_name(dout, x, gamma, eps):
    backward = course_bn.batchnorm_backward  # an alias, then a call: still the course's function running
    _, cache = course_bn.batchnorm_forward(x, gamma, np.zeros_like(gamma), "train", None, eps)
    return backward(dout, cache)


def writes_it_out(dout, x, gamma, eps):
    # batchnorm_backward(dout, cache) would do this; written out here instead
    n = x.shape[0]
    std = np.sqrt(x.var(axis=0, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=0, keepdims=True)) / std
    dbeta, dgamma = dout.sum(axis=0, keepdims=True), (dout * x_hat).sum(axis=0, keepdims=True)
    return gamma / (n * std) * (n * dout - dbeta - x_hat * dgamma), dgamma, dbeta


class InheritsTheModule(BatchNorm):
    def __init__(self, width):
        super().__init__(width, momentum=0.9, eps=1e-5)


def test_every_declared_function_exists():
    from course.assess.own_work import _codes

    for exercise in all_exercises().values():
        for path in exercise.answer_of:
            assert _codes((path,)), f"{exercise.id}: {path} is not a function or class of the course"


def test_a_learner_s_own_check_passes_a_copy_with_a_note(capsys):
    check("07.batchnorm_compact", copies_the_backward)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✔ 07.batchnorm_compact")
    assert "calls the course's own `batchnorm_backward` and `batchnorm_forward`" in lines[1]
    assert "fine for practice" in lines[1] and "not credited" in lines[1]


@pytest.mark.parametrize("answer,noted", [(under_another_name, True), (writes_it_out, False)])
def test_the_call_is_seen_by_running_not_by_reading(capsys, answer, noted):
    check("07.batchnorm_compact", answer)
    out = capsys.readouterr().out
    assert out.startswith("✔") and (("calls the course's own `batchnorm_backward`" in out) == noted)


def test_a_subclass_of_the_course_s_module_is_the_course_s_module(capsys):
    check("07.network_batchnorm", InheritsTheModule)
    assert "calls the course's own `BatchNorm.__init__`" in capsys.readouterr().out


def test_other_exercises_and_plain_code_use_the_functions_freely(capsys):
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    batchnorm_forward(x, np.ones((1, 2)), np.zeros((1, 2)))  # a lesson's cell: nothing watches it

    def dx_via_the_course(x, v, dout):  # 07.broadcast_rule declares no batchnorm function
        batchnorm_forward(np.vstack([x, x + 1.0]), np.ones_like(v), np.zeros_like(v))
        r = x.sum(axis=1, keepdims=True)
        return np.broadcast_to((dout * v).sum(axis=1, keepdims=True), x.shape).copy(), (dout * r).sum(0, keepdims=True)

    check("07.broadcast_rule", dx_via_the_course)
    assert capsys.readouterr().out.count("\n") == 1  # the ✔ line alone


def test_evaluate_alone_judges_the_values():
    # The verdict on values is the same; credit is decided where the check runs (notebook or judge).
    assert evaluate(get_exercise("07.batchnorm_compact"), copies_the_backward, SEED).passed


@pytest.mark.parametrize("answer,passes", [(copies_the_backward, False), (writes_it_out, True)])
def test_under_grading_a_copy_is_not_credited_and_the_verdict_says_why(monkeypatch, socket_dir, answer, passes):
    from test_grading_units import _judged_remotely

    from course.safe_run.judge import JudgeService

    judge = JudgeService(SEED, partial=True)
    try:
        remote = _judged_remotely(judge, "07.batchnorm_compact", answer, monkeypatch, socket_dir)
    finally:
        judge.close()
    assert remote["passed"] is passes
    if not passes:
        assert remote["code"] == "not_own_work" and remote["cases_passed"] == 0
        assert "calls the course's own `batchnorm_backward` and `batchnorm_forward`" in remote["message"]


def test_the_row_the_feedback_and_the_csv_say_why():
    from course.assess.own_work import uncredited
    from course.gradebook.report import csv_text, feedback_text
    from course.safe_run.verdicts import Row, scored

    verdict = uncredited(evaluate(get_exercise("07.batchnorm_compact"), copies_the_backward, SEED),
                         {"batchnorm_backward"}, "batchnorm_backward_compact")
    assert (verdict.passed, verdict.code) == (False, "not_own_work")
    # The row the grader makes of a failed verdict: its code and its message (course.safe_run.verdicts).
    rows = [scored(Row("ada", "07_batchnorm", verdict.exercise, verdict.passed, verdict.code, verdict.message), 1.0)]
    why = "calls the course's own `batchnorm_backward`"
    assert why in rows[0].hint and not rows[0].passed
    assert why in feedback_text("ada", rows) and why in csv_text(rows)


def test_a_graph_walk_that_calls_the_course_s_own_walk_is_noted(capsys):
    from course.compute import local_graph

    def topological_order(root):
        return local_graph.reverse_topological(root)[::-1]

    check("02.topo_order", topological_order)
    out = capsys.readouterr().out
    assert out.startswith("✔ 02.topo_order") and "calls the course's own `reverse_topological`" in out
