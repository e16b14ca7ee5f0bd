"""The hidden edges and the specific messages of the checks, each proven by a learner's wrong answer
(written as a learner would, not by calling the misconception) and a right answer written another way."""

import math

import numpy as np
import pytest

from course.assess.diagnose import evaluate
from course.assess.registry import get_exercise

SEED = 11


def verdict(exercise_id, answer):
    return evaluate(get_exercise(exercise_id), answer, SEED)


def _relu_right(x, dout):
    dx = dout.copy()
    dx[x < 0] = 0.0
    dx[x == 0] = dout[x == 0] / 2
    return dx


def _loss_vectorized(scores, y, divide_loss=True, divide_grad=True, column=None, axis=1, log_of_p=False):
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / e.sum(axis=axis, keepdims=True)
    rows = np.arange(n)
    if log_of_p:
        loss = -np.log(p[rows, y]).sum()
    else:
        loss = -(shifted[rows, y] - np.log(e.sum(axis=1))).sum()
    d = p.copy()
    d[rows, y if column is None else column(y)] -= 1
    return (loss / n if divide_loss else loss), (d / n if divide_grad else d)


def _dropout(x, keep_prob, rng, keep=lambda u, p: u < p, per_feature=False, global_rng=False, scaled=False):
    u = np.random.random(x.shape) if global_rng else rng.random((1, x.shape[1]) if per_feature else x.shape)
    mask = keep(u, keep_prob).astype(float)
    out = x * mask / keep_prob
    return out, (mask / keep_prob if scaled else mask)


def _layer(x, w, b, dout, activation, tie=0.5, db=lambda ds: ds.sum(0, keepdims=True)):
    s = x @ w + b
    local = {"relu": np.where(s > 0, 1.0, np.where(s < 0, 0.0, tie)),
             "sigmoid": np.exp(-s) / (1 + np.exp(-s)) ** 2, "identity": np.ones_like(s)}[activation]
    ds = dout * local
    return ds @ w.T, x.T @ ds, db(ds)


def _layer05(x, keep_prob, rng, train, dout, **slip):
    """05's dropout layer written from `_dropout`: dx uses the same mask, unscaled, and the same scale as out."""
    if not train:
        return x.copy(), np.ones_like(x), dout.copy()
    out, mask = _dropout(x, keep_prob, rng, **slip)
    zero_one = mask * keep_prob if slip.get("scaled") else mask
    return out, mask, dout * zero_one / keep_prob


# (exercise, wrong answer, code, words the message must contain)
WRONG = [
    # item 1: edges
    ("01.mul_gate", lambda x, y, dout: ((x * y) / x * dout, (x * y) / y * dout), "output_for_input", "is 0"),
    ("01.max_gate", lambda x, y, dout: (float(x >= y) * dout, float(y >= x) * dout), "tie", "half"),
    ("03.relu_backward", lambda x, dout: dout * (x > 0), "tie", "x = 0 exactly"),
    ("03.relu_backward", lambda x, dout: dout * (x >= 0), "tie", "x = 0 exactly"),
    ("04.stable_loss", lambda s, y: _loss_vectorized(s, y, log_of_p=True), "overflow", "underflows to 0"),
    # item 2: the type the text asks for
    ("03.flat_index", lambda p, s: float(np.ravel_multi_index(p, s)), "dtype", "should be an int"),
    ("03.position_of", lambda i, s: list(np.unravel_index(i, s)), "dtype", "should be a tuple of ints"),
    ("03.position_of", lambda i, s: tuple(float(v) for v in np.unravel_index(i, s)), "dtype", "should hold ints"),
    # item 3: specific messages
    ("04.loss_vectorized", lambda s, y: _loss_vectorized(s, y, divide_loss=False), "one_over_n", "sum over"),
    ("04.loss_vectorized", lambda s, y: _loss_vectorized(s, y, column=lambda y: 0), "wrong_class", "same column"),
    ("04.loss_vectorized", lambda s, y: _loss_vectorized(s, y, column=lambda y: y[0]), "wrong_class",
     "same column"),
    ("04.loss_loop", lambda s, y: _loss_vectorized(s, y, axis=0), "sum_axis", "axis 0"),
    ("03.layer_backward", lambda x, w, b, dout, act: _layer(x, w, b, dout, act, db=lambda ds: ds.mean(0, keepdims=True)),
     "one_over_n", "the mean over the rows"),
    ("03.layer_backward", lambda x, w, b, dout, act: _layer(x, w, b, dout, act, tie=0.0), "tie", "S = 0 exactly"),
    ("03.layer_backward", lambda x, w, b, dout, act: _layer(x, w, b, dout, act, db=lambda ds: ds), "not_summed",
     "sum of the rows"),
    ("01.mul_gate", lambda x, y, dout: (y * dout, x), "upstream", "`dy` is the local derivative alone"),
    ("01.add_gate", lambda x, y, dout: (dout / 2, dout / 2), "wrong_value", "not half"),
    ("01.sigmoid_neuron", lambda w, x: (np.array([x[0], x[1]]) * _ds(w, x), w[:2] * _ds(w, x)), "shape",
     "bias w[2]"),
    ("01.best_step", lambda f, dfdx, x, steps: int(np.argmin([abs((f(x + h) - f(x - h)) / (2 * h) - dfdx(x))
                                                             for h in steps])), "wrong_value", "not its index"),
    ("01.best_step", lambda f, dfdx, x, steps: steps[int(np.argmin([(f(x + h) - f(x - h)) / (2 * h) - dfdx(x)
                                                                    for h in steps]))], "step", "abs(...)"),
    ("05.dropout_layer", lambda x, kp, rng, train, dout: _layer05(x, kp, rng, train, dout, keep=lambda u, p: u > p),
     "keep_prob_scale", "wrong way round"),
    ("05.dropout_layer", lambda x, kp, rng, train, dout: _layer05(x, kp, rng, train, dout, per_feature=True),
     "mask_convention", "one row shared"),
    ("05.dropout_layer", lambda x, kp, rng, train, dout: _layer05(x, kp, rng, train, dout, global_rng=True),
     "global_rng", "np.random"),
    ("05.dropout_layer", lambda x, kp, rng, train, dout: _layer05(x, kp, rng, train, dout, scaled=True),
     "keep_prob_scale", "scaled mask"),
    ("03.fc_backward", lambda x, w, dout: (dout * w.T, x.T * dout), "elementwise", "`@`"),
    ("03.fc_backward", lambda x, w, dout: (x.T @ dout, dout @ w.T), "order", "wrong order"),
    ("04.score_gradients", lambda ds, X, W, b: (X.T @ ds, ds @ W.T, ds.sum(0, keepdims=True)), "order",
     "wrong order"),
]


def _ds(w, x):
    s = 1 / (1 + math.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
    return s * (1 - s)


@pytest.mark.parametrize("exercise_id, wrong, code, words", WRONG, ids=[f"{w[0]}-{w[2]}-{k}" for k, w in
                                                                          enumerate(WRONG)])
def test_a_wrong_answer_gets_its_named_hint(exercise_id, wrong, code, words):
    got = verdict(exercise_id, wrong)
    assert not got.passed
    assert (got.code, words in got.message) == (code, True), got.message


RIGHT = [
    ("03.relu_backward", _relu_right),
    ("04.stable_loss", lambda s, y: _loss_vectorized(s, y)),
    ("04.loss_vectorized", lambda s, y: _loss_vectorized(s, y)),
    ("01.mul_gate", lambda x, y, dout: (dout * y, dout * x)),
    ("03.flat_index", lambda p, s: int(np.ravel_multi_index(p, s))),
    ("03.position_of", lambda i, s: tuple(int(v) for v in np.unravel_index(i, s))),
    ("01.best_step", lambda f, dfdx, x, steps: min(steps, key=lambda h: abs((f(x + h) - f(x - h)) / (2 * h)
                                                                             - dfdx(x)))),
    ("05.dropout_layer", lambda x, kp, rng, train, dout: _layer05(x, kp, rng, train, dout)),
    ("03.layer_backward", lambda x, w, b, dout, act: _layer(x, w, b, dout, act)),
]


@pytest.mark.parametrize("exercise_id, right", RIGHT, ids=[r[0] for r in RIGHT])
def test_a_right_answer_written_another_way_passes(exercise_id, right):
    got = verdict(exercise_id, right)
    assert got.passed, got.message


def test_every_hint_starts_with_a_capital_letter():
    from course.assess.registry import all_exercises

    for exercise in all_exercises().values():
        for m in exercise.misconceptions:
            assert m.hint[0].isupper(), (exercise.id, m.hint)


def test_no_numerical_derivative_advice_where_none_applies():
    got = verdict("01.numerical_derivative", lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h) + 1e-3)
    assert got.code == "wrong_value" and "numerical derivative" not in got.message
    assert "the derivative is not right" in got.message.lower()


def test_the_learner_test_names_the_candidate_it_let_through():
    got = verdict("05.catch_the_swap", lambda forward, keep_prob: True)
    assert not got.passed and "accepts every candidate" not in got.message
    assert "lets a broken dropout through" in got.message and "1 − keep_prob" in got.message


def test_the_mutation_message_names_the_input_and_reads_as_a_sentence():
    def shifts_in_place(scores, y):
        scores -= scores.max(axis=1, keepdims=True)
        return _loss_vectorized(scores, y)

    got = verdict("04.stable_loss", shifts_in_place)
    assert got.code == "mutated"
    assert "changed its input `scores` in place, on the example" in got.message and "A backward" not in got.message
