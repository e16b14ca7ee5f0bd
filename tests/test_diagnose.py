"""Diagnosis and check(), the machinery every exercise shares (course.assess.diagnose, .check).

Concrete exercises serve as examples; what is asserted holds for any of them.
"""

import math

import numpy as np
import pytest

from course.assess.cases import many
from course.assess.check import CheckFailed, check
from course.assess.concepts import c01_chain_rule as c01
from course.assess.diagnose import evaluate
from course.assess.exercise import Case, Exercise, Misconception
from course.assess.registry import get_exercise

SEED = 7


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
    # dw[:2] is the neuron's missing bias gradient, which has its own hint (test_check_edges.py); one entry is not.
    verdict = evaluate(get_exercise("01.sigmoid_neuron"), lambda w, x: (neuron(w, x)[0][:1], neuron(w, x)[1]), SEED)
    assert verdict.code == "shape" and "(1,)" in verdict.message and "(3,)" in verdict.message


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
    assert lines == ["✔ 01.mul_gate multiply gate, backward: passed 2 worked examples and 22 hidden cases."] * 2


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

    def endless(x, y, dout):
        while True:
            pass

    start = time.process_time()
    with pytest.raises(CheckFailed, match="did not finish within 0.2 s"):
        check("01.add_gate", endless)
    assert time.process_time() - start < 60  # stopped, not waited for (CPU time: however busy the machine)


def test_time_limit_counts_computing_time_and_stops_waiting_code_by_the_clock(monkeypatch):
    import time

    from course.assess import limits
    from course.assess.limits import TimeLimitExceeded, time_limit, wall_backstop

    monkeypatch.setattr(limits, "WALL_MARGIN", 0.5)

    start = time.perf_counter()
    with time_limit(1.0):
        time.sleep(0.5)  # waiting is not computing, and well within the clock backstop
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.01):
            time.sleep(30)  # a wait alone is stopped by the clock backstop
    assert time.perf_counter() - start < wall_backstop(0.01) + 5


# ----- NaN and infinity: a known mistake first, the generic verdict after -------------

def _log_ratio(a, b):
    return math.log(a) - math.log(b)


LOG_RATIO = Exercise(
    id="99.log_ratio", title="log of a ratio", reference=_log_ratio,
    public=(Case((2.0, 1.0), "a = 2, b = 1"),),
    hidden=many(3, lambda rng, k: Case((1e-300 * (k + 1), 1e300), f"a tiny, b huge ({k})")),
    outputs=("value",),
    misconceptions=(Misconception("overflow", "The ratio underflows to 0: subtract the logs instead.",
                                  lambda a, b: math.log(a / b) if a / b > 0 else -math.inf),),
)


def test_a_result_that_breaks_down_like_a_known_mistake_gets_its_hint():
    verdict = evaluate(LOG_RATIO, lambda a, b: np.log(np.float64(a) / b), SEED)  # -inf on the tiny ratios
    assert verdict.code == "overflow" and "subtract the logs" in verdict.message


def test_a_nan_written_another_way_still_matches_the_known_mistake():
    verdict = evaluate(LOG_RATIO, lambda a, b: np.float64(a) / b * np.nan if a / b == 0 else math.log(a / b), SEED)
    assert verdict.code == "overflow"


def test_a_nan_that_no_known_mistake_explains_is_reported_as_nan():
    verdict = evaluate(LOG_RATIO, lambda a, b: float("nan"), SEED)
    assert verdict.code == "nan" and "`value` is nan" in verdict.message


def test_an_unstable_softmax_with_one_shared_maximum_is_told_to_use_each_row_s_own():
    def shared_max(scores, y):
        n = scores.shape[0]
        e = np.exp(scores - scores.max())
        p = e / e.sum(axis=1, keepdims=True)
        d = p.copy()
        d[np.arange(n), y] -= 1.0
        return float(-np.log(p[np.arange(n), y]).mean()), d / n

    verdict = evaluate(get_exercise("04.stable_loss"), shared_max, SEED)
    assert verdict.code == "overflow" and "row's own maximum" in verdict.message


def test_overflow_warnings_do_not_reach_the_learner(recwarn):
    evaluate(get_exercise("04.stable_loss"), lambda s, y: (float(np.exp(s).sum()), np.exp(s)), SEED)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_composite_that_calls_an_unwritten_function_names_that_function():
    def relu_backward(x, dout):
        raise NotImplementedError("write relu_backward")

    def layer_backward(x, w, b, dout, activation):
        ds = relu_backward(x @ w + b, dout)
        return ds @ w.T, x.T @ ds, ds.sum(axis=0, keepdims=True)

    verdict = evaluate(get_exercise("03.layer_backward"), layer_backward, seed=3)
    assert verdict.code == "not_done"
    assert verdict.message.startswith("`layer_backward` calls `relu_backward`, which is not written yet")

    def my_layer(x, w, b, dout, activation):  # passed under another name: it is still the exercise's function
        raise NotImplementedError
    verdict = evaluate(get_exercise("03.layer_backward"), my_layer, seed=3)
    assert verdict.message.startswith("`layer_backward` is not written yet")


def test_the_global_generator_is_named_even_when_one_case_repeats_by_chance():
    # On the small worked example two global draws may agree (one time in 22 for 8 units at 0.8): the
    # verdict must not hang on that one case. Here the first case repeats for sure, the others do not.
    def dropout_layer(x, keep_prob, rng, train, dout):
        if not train:
            return x.copy(), np.ones_like(x), dout.copy()
        u = np.full(x.shape, 0.9) if x.shape == (2, 4) else np.random.random(x.shape)
        mask = (u < keep_prob).astype(float)
        return x * mask / keep_prob, mask, dout * mask / keep_prob

    verdict = evaluate(get_exercise("05.dropout_layer"), dropout_layer, seed=3)
    assert verdict.code == "global_rng" and "np.random" in verdict.message
