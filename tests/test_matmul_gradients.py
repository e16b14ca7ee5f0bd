"""Concept 03: the exercises' references against numerical gradients, one wrong
answer per hint, the shape explorer's state function, and the lesson's worked
numbers."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from course.assess.check import CheckFailed, check
from course.assess.concepts import c03_matmul_gradients as c03
from course.assess.diagnose import evaluate, hidden_cases
from course.assess.hints import CATEGORIES
from course.assess.registry import get_exercise
from course.compute import layers
from course.compute.gradcheck import numerical_gradient
from course.present.widgets.shapes import MAX_SIZE, _table_html, shape_state

ROOT = Path(__file__).resolve().parents[1]
SEED = 7


def _all_cases(exercise):
    return list(exercise.public) + hidden_cases(exercise, SEED)


# ----- references against the numerical gradient -------------------------------------------

def _relu(v):
    return np.maximum(0.0, v)


# exercise id -> (forward(*inputs) -> output, which arguments are inputs, index of the upstream gradient)
FORWARDS = {
    "03.fc_backward": (lambda x, w: x @ w, (0, 1), 2),
    "03.relu_backward": (lambda x: _relu(x), (0,), 1),
    "03.sigmoid_backward": (lambda x: 1.0 / (1.0 + np.exp(-x)), (0,), 1),
    "03.exp_layer": (lambda X, W, b: np.exp(X @ W + b), (0, 1, 2), 3),
}


@pytest.mark.parametrize("exercise_id", list(FORWARDS))
def test_reference_matches_numerical_gradient(exercise_id):
    exercise = next(e for e in c03.EXERCISES if e.id == exercise_id)
    forward, inputs, up = FORWARDS[exercise_id]
    for case in _all_cases(exercise):
        args = [np.array(a, dtype=np.float64) for a in case.args]
        got = exercise.reference(*args)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(inputs)
        for k, analytic in zip(inputs, got):
            def f(v, k=k):
                vals = [v if j == k else args[j] for j in inputs]
                return forward(*vals)
            numeric = numerical_gradient(f, args[k].copy(), upstream=args[up])
            assert analytic.shape == args[k].shape, case.note
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=case.note)


def test_layer_reference_matches_numerical_gradient_for_every_activation():
    seen = set()
    for case in _all_cases(c03.LAYER):
        x, w, b, dout, activation = case.args
        seen.add(activation)
        forward = {"relu": _relu, "sigmoid": lambda s: 1.0 / (1.0 + np.exp(-s)), "identity": lambda s: s}[activation]
        got = c03.layer_backward(x, w, b, dout, activation)
        inputs = [x, w, b]
        for k, analytic in enumerate(got):
            def f(v, k=k):
                vals = [v if j == k else inputs[j] for j in range(3)]
                return forward(vals[0] @ vals[1] + vals[2])
            numeric = numerical_gradient(f, inputs[k].copy(), upstream=dout)
            assert analytic.shape == inputs[k].shape, case.note
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=case.note)
    assert seen == set(c03.ACTIVATIONS)


def test_layer_cases_reach_the_edges():
    cases = _all_cases(c03.LAYER)
    ties = [c for c in cases if c.args[4] == "relu" and np.any(c.args[0] @ c.args[1] + c.args[2] == 0.0)]
    assert len(ties) >= 2 and any(c.args[0].shape[0] == 1 for c in ties)
    saturated = [c for c in cases if c.args[4] == "sigmoid" and np.ptp(c.args[0] @ c.args[1] + c.args[2]) > 40]
    assert saturated
    assert any(np.all(c.args[0][:, -1] == 0.0) for c in cases)  # a feature that is always off
    drawn = hidden_cases(c03.LAYER, SEED)[len(c03._LAYER_EDGES):]
    assert all(len({c.args[0].shape[0], c.args[0].shape[1], c.args[1].shape[1]}) == 3 for c in drawn)
    assert any(c.args[0].shape[0] == 1 for c in drawn)


def test_layer_reference_agrees_with_the_course_layer():
    for activation in c03.ACTIVATIONS:
        layer = layers.Layer(c03.W_WORKED, c03.B_WORKED, activation)
        layer.forward(c03.X_WORKED)
        dx = layer.backward(c03.DOUT_WORKED)
        mine = c03.layer_backward(c03.X_WORKED, c03.W_WORKED, c03.B_WORKED, c03.DOUT_WORKED, activation)
        for got, theirs in zip(mine, (dx, layer.grads["w"], layer.grads["b"])):
            np.testing.assert_allclose(got, theirs)


def test_exercise_references_agree_with_the_course_layers():
    x, w, b, dout = c03.X_WORKED, c03.W_WORKED, c03.B_WORKED, c03.DOUT_WORKED
    _, cache = layers.fc_forward(x, w)
    for mine, theirs in zip(c03.fully_connected_backward(x, w, dout), layers.fc_backward(dout, cache)):
        np.testing.assert_allclose(mine, theirs)
    layer = layers.Layer(w, b, "exp")
    layer.forward(x)
    dx = layer.backward(dout)
    for mine, theirs in zip(c03.exp_layer_backward(x, w, b, dout), (dx, layer.grads["w"], layer.grads["b"])):
        np.testing.assert_allclose(mine, theirs)


def test_index_references_agree_with_numpy():
    for case in _all_cases(c03.FLAT_INDEX):
        position, shape = case.args
        assert c03.FLAT_INDEX.reference(position, shape) == np.ravel_multi_index(position, shape)
    for case in _all_cases(c03.POSITION_OF):
        index, shape = case.args
        assert c03.POSITION_OF.reference(index, shape) == tuple(int(p) for p in np.unravel_index(index, shape))


def test_array_cases_have_different_sizes_and_a_batch_of_one():
    for exercise in (c03.FULLY_CONNECTED, c03.EXP_LAYER):
        cases = _all_cases(exercise)
        for case in cases:
            x, w = case.args[0], case.args[1]
            assert len({x.shape[0], x.shape[1], w.shape[1]}) == 3, case.note
        assert any(case.args[0].shape[0] == 1 for case in cases)


def test_a_layer_written_another_way_passes():
    # Composed from the learner's own pieces, relu's kink handled with np.sign: still right.
    def layer_backward(x, w, b, dout, activation):
        s = x @ w + b
        if activation == "relu":
            ds = dout * (np.sign(s) + 1) / 2
        elif activation == "sigmoid":
            ds = dout * np.exp(-s) / (1 + np.exp(-s)) ** 2
        else:
            ds = dout
        return np.dot(ds, w.T), np.dot(x.T, ds), np.sum(ds, axis=0).reshape(1, -1)
    assert evaluate(c03.LAYER, layer_backward, SEED).passed


def test_every_reference_passes_its_own_check():
    for exercise in c03.EXERCISES:
        verdict = evaluate(exercise, exercise.reference, SEED)
        assert verdict.passed, (exercise.id, verdict.message)
        assert exercise.id.startswith("03.") and get_exercise(exercise.id).concept == "03_matmul_gradients"
    assert len(c03.EXERCISES) >= 6


# ----- every misconception is recognised -----------------------------------------------------

@pytest.mark.parametrize("exercise, misconception",
                         [(e, m) for e in c03.EXERCISES for m in e.misconceptions],
                         ids=lambda v: getattr(v, "id", None) or getattr(v, "code", None))
def test_each_listed_misconception_gets_its_own_hint(exercise, misconception):
    verdict = evaluate(exercise, misconception.wrong, SEED)
    assert not verdict.passed
    assert verdict.code == misconception.code
    assert verdict.message.startswith(misconception.hint)
    assert misconception.code in CATEGORIES


def _code(exercise, answer):
    return evaluate(exercise, answer, SEED)


def _layer(x, w, b, dout, activation, s_of=lambda x, w, b: x @ w + b, relu=None, sig=None,
           db=lambda ds: ds.sum(axis=0, keepdims=True), dx=lambda ds, w: ds @ w.T, dw=lambda x, ds: x.T @ ds):
    """A learner's layer_backward written from its pieces, any piece replaceable by a wrong one."""
    s = s_of(x, w, b)
    if activation == "relu":
        ds = (relu or (lambda s, d: d * np.where(s > 0, 1.0, np.where(s < 0, 0.0, 0.5))))(s, dout)
    elif activation == "sigmoid":
        ds = (sig or (lambda s, d: d * (1 / (1 + np.exp(-s))) * (1 - 1 / (1 + np.exp(-s)))))(s, dout)
    else:
        ds = dout
    return dx(ds, w), dw(x, ds), db(ds)


# Wrong answers written here by hand, independent of the exercises' lists.
WRONG = [
    # missing or misplaced transposes: a shape that is the transpose, or numpy refusing the product
    (c03.FULLY_CONNECTED, lambda x, w, dout: (dout @ w.T, dout.T @ x), "transpose"),
    (c03.FULLY_CONNECTED, lambda x, w, dout: (dout @ w, x.T @ dout), "transpose"),
    (c03.FULLY_CONNECTED, lambda x, w, dout: (dout @ w.T, x @ dout), "transpose"),
    (c03.FULLY_CONNECTED, lambda x, w, dout: (dout.dot(w), x.T.dot(dout)), "transpose"),
    (c03.EXP_LAYER, lambda X, W, b, dH: (np.exp(X @ W + b) * dH @ W.T,
                                          (np.exp(X @ W + b) * dH).T @ X,
                                          (np.exp(X @ W + b) * dH).sum(axis=0, keepdims=True)), "transpose"),
    # sums over the wrong axis, or without keepdims
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: ds.sum(axis=1, keepdims=True)),
     "sum_axis"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: ds.sum(axis=1)), "sum_axis"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: ds.sum()), "sum_axis"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: ds.sum(axis=0)), "keepdims"),
    # the bias's gradient not summed over the batch at all
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: ds), "not_summed"),
    (c03.EXP_LAYER, lambda X, W, b, dH: (np.exp(X @ W + b) * dH @ W.T, X.T @ (np.exp(X @ W + b) * dH),
                                          (np.exp(X @ W + b) * dH).sum(axis=1, keepdims=True)), "sum_axis"),
    # the upstream gradient dropped
    (c03.FULLY_CONNECTED, lambda x, w, dout: (np.ones_like(dout) @ w.T, x.T @ np.ones_like(dout)), "upstream"),
    (c03.RELU, lambda x, dout: (x > 0).astype(float), "upstream"),
    (c03.SIGMOID, lambda x, dout: (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x))), "upstream"),
    (c03.EXP_LAYER, lambda X, W, b, dH: (np.exp(X @ W + b) @ W.T, X.T @ np.exp(X @ W + b),
                                          np.exp(X @ W + b).sum(axis=0, keepdims=True)), "upstream"),
    # a flipped sign
    (c03.FULLY_CONNECTED, lambda x, w, dout: (-(dout @ w.T), -(x.T @ dout)), "sign"),
    (c03.SIGMOID, lambda x, dout: -c03.sigmoid_backward(x, dout), "sign"),
    # the output where the input is needed, and the reverse
    (c03.SIGMOID, lambda x, dout: dout * x * (1 - x), "output_for_input"),
    (c03.RELU, lambda x, dout: dout * (np.maximum(0, x) >= 0), "output_for_input"),
    (c03.EXP_LAYER, lambda X, W, b, dH: c03._exp_layer_with_local(lambda X, W, b: X @ W + b)(X, W, b, dH),
     "output_for_input"),
    # modules in forward order, intermediates skipped, index order, division
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: dout.sum(axis=0, keepdims=True)),
     "reverse_order"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, s_of=lambda x, w, b: x @ w), "intermediate"),
    # the layer's stages, each wrong the way the single-stage exercises know
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, dw=lambda x, ds: ds.T @ x), "transpose"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, dx=lambda ds, w: ds @ w), "transpose"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, relu=lambda s, d: d * (s > 0)), "tie"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, relu=lambda s, d: d * (s >= 0)), "tie"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, sig=lambda s, d: d * s * (1 - s)),
     "output_for_input"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, db=lambda ds: ds.mean(axis=0, keepdims=True)),
     "one_over_n"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a, dw=lambda x, ds: x.T @ ds / len(x)), "one_over_n"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, np.ones_like(dout), a), "upstream"),
    (c03.LAYER, lambda x, w, b, dout, a: tuple(-g for g in _layer(x, w, b, dout, a)), "sign"),
    (c03.LAYER, lambda x, w, b, dout, a: _layer(x, w, b, dout, a)[::-1], "order"),
    (c03.FLAT_INDEX, lambda p, s: int(np.ravel_multi_index(p, s, order="F")), "index_order"),
    (c03.POSITION_OF, lambda i, s: tuple((i / int(np.prod(s[k + 1:]))) % s[k] for k in range(len(s))),
     "integer_division"),
]


@pytest.mark.parametrize("exercise, wrong, code", WRONG, ids=[f"{e.id}-{c}" for e, _, c in WRONG])
def test_hand_written_wrong_answer_is_recognised(exercise, wrong, code):
    verdict = _code(exercise, wrong)
    assert not verdict.passed
    assert verdict.code == code, verdict.message


def test_hints_never_print_the_expected_arrays():
    # A hint names shapes and what went wrong; the expected numbers stay hidden.
    for exercise, wrong, _ in WRONG:
        verdict = _code(exercise, wrong)
        expected = exercise.reference(*exercise.public[0].args)
        for value in np.atleast_1d(np.asarray(expected[0] if isinstance(expected, tuple) else expected,
                                              dtype=float)).ravel()[:3]:
            if abs(value) > 1.5 and not float(value).is_integer():
                assert f"{value:.4f}" not in verdict.message


def test_check_prints_one_line_for_a_right_answer(capsys):
    check("03.fc_backward", c03.fully_connected_backward)
    assert capsys.readouterr().out.strip() == (
        "✔ 03.fc_backward fully connected, backward: passed 1 worked example and 12 hidden cases.")


def test_check_fails_for_an_unwritten_exercise():
    def relu_backward(x, dout):
        raise NotImplementedError
    with pytest.raises(CheckFailed) as info:
        check("03.relu_backward", relu_backward)
    assert info.value.verdict.code == "not_done"


# ----- the shape explorer's state --------------------------------------------------------------

SIZES = range(1, MAX_SIZE + 1)


def test_exactly_one_arrangement_fits_when_the_sizes_differ():
    for n in SIZES:
        for d in SIZES:
            for c in SIZES:
                if len({n, d, c}) < 3:
                    continue
                state = shape_state(n, d, c)
                assert not state.coincide
                assert [x.expression for x in state.dW.fitting] == ["Xᵀ·dY"]
                assert [x.expression for x in state.dX.fitting] == ["dY·Wᵀ"]
                assert state.dW.answer.result_shape == (d, c) == state.shapes["W"]
                assert state.dX.answer.result_shape == (n, d) == state.shapes["X"]
                assert "exactly one" in state.note


def test_coinciding_sizes_are_named_and_the_impostors_listed():
    state = shape_state(3, 3, 2)
    assert state.coincide == ("N = D",)
    assert not state.dW.unique
    assert state.dW.answer.expression == "Xᵀ·dY"
    impostors = [c.expression for c in state.dW.fitting if not c.is_gradient]
    assert impostors and all(name in state.note for name in impostors)
    assert shape_state(2, 3, 3).coincide == ("D = C",)
    assert "1×1" in shape_state(1, 1, 1).note


def test_the_right_arrangement_is_always_among_those_that_fit():
    for n in SIZES:
        for d in SIZES:
            for c in SIZES:
                state = shape_state(n, d, c)
                assert state.dW.answer in state.dW.fitting and state.dX.answer in state.dX.fitting


def test_wrong_arrangements_carry_numpys_message_or_their_shape():
    state = shape_state(2, 4, 3)
    for choice in (state.dW, state.dX):
        assert len(choice.candidates) == 8
        for cand in choice.candidates:
            if cand.error is not None:
                assert cand.result_shape is None and "matmul" in cand.error
                text = cand.verdict(choice.target)
                assert text.startswith("ValueError: matmul") and re.search(r"size \d is different from \d", text)
            else:
                assert "×".join(map(str, cand.result_shape)) in cand.verdict(choice.target)
    html = _table_html(state)
    assert "dW = Xᵀ·dY" in html and "ValueError" in html


def test_widget_builds_and_follows_its_sliders():
    from course.present.widgets.shapes import shapes_widget

    box = shapes_widget(2, 4, 3)
    sliders, image, table = box.children[0].children, box.children[1], box.children[2]
    first = image.value
    sliders[0].value = 5
    assert image.value != first
    assert "5×4" in table.value  # dX is now N×D = 5×4


# ----- the lesson's worked numbers ---------------------------------------------------------------

LESSON = ROOT / "notebooks" / "03_matmul_gradients.ipynb"


def _worked_output(name):
    nb = json.loads(LESSON.read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if c.get("metadata", {}).get("gradflow", {}).get("worked") == name]
    assert len(cells) == 1, f"one cell with worked = {name!r}"
    return "".join("".join(o.get("text", "")) for o in cells[0]["outputs"] if o.get("output_type") == "stream")


def _numbers(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)]


def test_lesson_worked_numbers_are_right():
    text = _worked_output("matmul")
    lines = dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)
    X = np.array([[2.0, 0.0, 1.0], [1.0, -1.0, 2.0], [0.0, 1.0, -1.0], [-1.0, 2.0, 0.0]])   # N x D
    W = np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 3.0]])                                   # D x C
    dY = np.array([[1.0, 2.0], [-1.0, 0.5], [0.5, -1.0], [2.0, 1.0]])                     # N x C
    # Independent oracle: the numerical gradient of sum(dY * (X @ W)).
    dW = numerical_gradient(lambda v: X @ v, W.copy(), upstream=dY)
    dX = numerical_gradient(lambda v: v @ W, X.copy(), upstream=dY)
    np.testing.assert_allclose(_numbers(lines["Y"]), (X @ W).ravel(), atol=1e-9)
    np.testing.assert_allclose(_numbers(lines["dW"]), dW.ravel(), atol=1e-6)
    np.testing.assert_allclose(_numbers(lines["dX"]), dX.ravel(), atol=1e-6)
    # the entry worked by hand in the text below the cell
    assert lines["dW"].strip().startswith("[[-1.0,")  # dW[0, 0] = -1
    assert "dW agrees with the numerical gradient: True" in text
    assert "dX agrees with the numerical gradient: True" in text
