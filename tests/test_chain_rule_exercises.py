"""Concept 01's exercises: references against numerical differences, and the
generic problems of a learner's answer (shape, dtype, NaN, mutation, ...)."""

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


# ----- generic problems, on concrete exercises -------------------------------------

def neuron(w, x):
    return c01.neuron_backward(w, x)


def test_integer_arrays_are_a_dtype_problem():
    verdict = evaluate(get_exercise("01.sigmoid_neuron"),
                       lambda w, x: tuple(a.astype(int) for a in neuron(w, x)), SEED)
    assert verdict.code == "dtype" and "int64" in verdict.message


def test_a_list_instead_of_an_array_is_a_dtype_problem():
    verdict = evaluate(get_exercise("01.sigmoid_neuron"), lambda w, x: tuple(a.tolist() for a in neuron(w, x)), SEED)
    assert verdict.code == "dtype" and "numpy array" in verdict.message


def test_wrong_shape_names_the_shape_of_the_variable():
    verdict = evaluate(get_exercise("01.sigmoid_neuron"), lambda w, x: (neuron(w, x)[0][:2], neuron(w, x)[1]), SEED)
    assert verdict.code == "shape" and "(2,)" in verdict.message and "(3,)" in verdict.message


def test_nan_is_reported():
    verdict = evaluate(get_exercise("01.sigmoid_neuron"), lambda w, x: (neuron(w, x)[0] * np.nan, neuron(w, x)[1]),
                       SEED)
    assert verdict.code == "nan"


def test_mutating_an_input_is_reported_even_when_the_result_is_right():
    def mutating(w, x):
        result = neuron(w.copy(), x)
        w[0] = 99.0
        return result

    verdict = evaluate(get_exercise("01.sigmoid_neuron"), mutating, SEED)
    assert verdict.code == "mutated" and "`w`" in verdict.message


def test_wrong_count_of_results():
    verdict = evaluate(get_exercise("01.compound"), lambda x, y, z: (z, z), SEED)
    assert verdict.code == "count" and "3 values" in verdict.message


def test_hard_coded_worked_example_fails_on_hidden_cases():
    verdict = evaluate(get_exercise("01.compound"), lambda x, y, z: (-4.0, -4.0, 3.0), SEED)
    assert verdict.code == "wrong_value" and "hidden case" in verdict.message


def test_sign_flip_is_named():
    verdict = evaluate(get_exercise("01.compound"), lambda x, y, z: (-z, -z, -(x + y)), SEED)
    assert verdict.code == "sign"


def test_missing_upstream_factor_is_named():
    verdict = evaluate(get_exercise("01.mul_gate"), lambda x, y, dout: (y, x), SEED)
    assert verdict.code == "upstream"


def test_a_hint_never_contains_the_answer():
    # (x, y, z) = (-2, 5, -4): the answer is (-4, -4, 3); 3 is not among the inputs.
    for wrong in (lambda x, y, z: (z, z, 0.0), lambda x, y, z: (1.0, 1.0, x + y), lambda x, y, z: (z, z, x)):
        message = evaluate(get_exercise("01.compound"), wrong, SEED).message
        assert "3" not in message.replace("x = -2, y = 5, z = -4", "")


# ----- check(): the call in the notebooks ---------------------------------------

def test_check_prints_one_deterministic_line(capsys):
    check("01.mul_gate", c01.mul_backward)
    check("01.mul_gate", c01.mul_backward)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["✔ 01.mul_gate multiply gate, backward: passed 2 worked examples and 20 hidden cases."] * 2


def test_check_raises_with_a_short_message():
    with pytest.raises(CheckFailed) as info:
        check("01.mul_gate", lambda x, y, dout: (x * dout, y * dout))
    lines = info.value._render_traceback_()
    assert lines[0] == "✘ 01.mul_gate is not right yet (results returned in the wrong order)."
    assert "swaps" in lines[1]


def test_check_of_an_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="01.mul_gate"):
        check("01.nope", c01.mul_backward)


def test_grading_seed_and_results_file(monkeypatch, tmp_path, capsys):
    import json

    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("GRADFLOW_RESULTS_FILE", str(results))
    monkeypatch.setenv("GRADFLOW_HIDDEN_SEED", "99")
    check("01.add_gate", c01.add_backward)
    with pytest.raises(CheckFailed):
        check("01.add_gate", lambda x, y, dout: (1.0, 1.0))
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["exercise"], r["passed"], r["code"]) for r in rows] == [
        ("01.add_gate", True, "ok"), ("01.add_gate", False, "upstream")]


def test_time_limit_override(monkeypatch):
    import time

    monkeypatch.setenv("GRADFLOW_TIME_LIMIT", "0.2")

    def slow(x, y, dout):
        time.sleep(120)

    start = time.perf_counter()
    with pytest.raises(CheckFailed, match="did not finish within 0.2 s"):
        check("01.add_gate", slow)
    assert time.perf_counter() - start < 120  # stopped, not waited for (however busy the machine)
