"""Concept 01's exercises: references against numerical differences and their cases.

The generic problems of a learner's answer (shape, dtype, NaN, mutation, ...)
and check() itself are tested in test_diagnose.py."""

import math

import numpy as np
import pytest

from course.assess.check import CheckFailed, check
from course.assess.concepts import c01_chain_rule as c01
from course.assess.diagnose import evaluate, hidden_cases
from course.assess.registry import get_exercise
from course.compute.gradcheck import numerical_gradient

SEED = 7


def numeric_partials(f, *values):
    return numerical_gradient(lambda v: f(*v), np.array(values, dtype=np.float64))


@pytest.mark.parametrize("exercise_id,forward", [
    ("01.mul_gate", lambda x, y: x * y),
    ("01.add_gate", lambda x, y: x + y),
    ("01.max_gate", lambda x, y: max(x, y)),
])
def test_gate_references_match_numerical_gradients(exercise_id, forward):
    exercise = get_exercise(exercise_id)
    for case in list(exercise.public) + hidden_cases(exercise, SEED):
        x, y, dout = case.args
        expected = dout * numeric_partials(forward, x, y)
        np.testing.assert_allclose(exercise.reference(x, y, dout), expected, rtol=1e-6, atol=1e-8,
                                   err_msg=case.note)


def test_max_gate_cases_include_ties():
    assert any("a tie" in c.note for c in hidden_cases(get_exercise("01.max_gate"), SEED))


def test_compound_reference_matches_numerical_gradient():
    exercise = get_exercise("01.compound")
    for case in list(exercise.public) + hidden_cases(exercise, SEED):
        expected = numeric_partials(lambda x, y, z: (x + y) * z, *case.args)
        np.testing.assert_allclose(exercise.reference(*case.args), expected, rtol=1e-6, atol=1e-8)


def test_neuron_reference_matches_numerical_gradient():
    exercise = get_exercise("01.sigmoid_neuron")
    for case in list(exercise.public) + hidden_cases(exercise, SEED):
        w, x = case.args
        numeric = numeric_partials(lambda w0, w1, w2, x0, x1: c01.sigmoid(w0 * x0 + w1 * x1 + w2), *w, *x)
        dw, dx = exercise.reference(w, x)
        np.testing.assert_allclose(np.concatenate([dw, dx]), numeric, rtol=1e-6, atol=1e-9)


def test_neuron_worked_example():
    dw, dx = c01.neuron_backward(np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]))
    np.testing.assert_allclose(dx, [0.393, -0.590], atol=5e-4)
    np.testing.assert_allclose(dw, [-0.197, -0.393, 0.197], atol=5e-4)


def test_numerical_derivative_reference_is_close_to_the_true_derivative():
    for name, f in c01.FUNCTIONS.items():
        assert c01.numerical_derivative(f, 0.7, 1e-5) == pytest.approx(c01.DERIVATIVES[name](0.7), rel=1e-8)


def test_best_step_is_neither_extreme():
    h = c01.best_step(math.sin, math.cos, 1.0, c01.STEPS)
    assert 1e-8 <= h <= 1e-3


def test_best_step_accepts_a_near_tie():
    exercise = get_exercise("01.best_step")
    case = exercise.public[0]
    errors = c01._step_errors(*case.args)
    order = np.argsort(errors)
    runner_up = c01.STEPS[int(order[1])]
    assert exercise.agree(runner_up, None, case) == (errors[order[1]] <= 3 * errors[order[0]])
    assert not exercise.agree(1e-14, None, case)
    assert not exercise.agree("tiny", None, case)
