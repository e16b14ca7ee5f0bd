"""Softmax cross-entropy (concept 04): the module against numerical gradients,
stability at scores of size 1000, the widget's state, a wrong answer for every
hint of the exercises, and the lesson's worked numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

from course.assess.concepts import c04_softmax as c04
from course.assess.diagnose import evaluate
from course.assess.check import CheckFailed, check
from course.assess.registry import get_exercise
from course.compute.gradcheck import gradcheck
from course.compute.softmax import (
    affine_backward, affine_forward, one_hot, softmax_classifier_loss, softmax_loss,
    softmax_loss_backward, softmax_loss_forward, stable_softmax,
)
from course.present.widgets.softmax import softmax_state

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
SEED = 7


def random_problem(seed: int, n: int = 5, d: int = 4, c: int = 3, scale: float = 1.0):
    # Non-trivial values (no zeros, no equal entries): they would hide a wrong backward pass.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(d, c)) * scale
    b = rng.normal(size=(1, c))
    y = rng.integers(0, c, size=n)
    return x, w, b, y


def unstable_loss(scores, y):
    """The textbook formula without the max shift: the oracle that overflows."""
    n = scores.shape[0]
    e = np.exp(scores)
    p = e / e.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(n), y]).mean()


# ----- the module ------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dscores_match_numerical_gradient(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(6, 4)) * 2.0
    y = rng.integers(0, 4, size=6)
    loss, dscores = softmax_loss(scores, y)
    result = gradcheck(lambda s: softmax_loss(s, y)[0], scores, dscores, name="dscores")
    assert result.passed, result.summary()
    assert loss == pytest.approx(unstable_loss(scores, y), rel=1e-12)


def test_dscores_formula_and_properties():
    scores = np.array([[2.0, 1.0, -1.0], [0.5, 1.5, -0.5]])
    y = np.array([0, 2])
    _, dscores = softmax_loss(scores, y)
    np.testing.assert_allclose(dscores, (stable_softmax(scores) - one_hot(y, 3)) / 2)
    np.testing.assert_allclose(dscores.sum(axis=1), 0.0, atol=1e-15)
    assert (dscores[np.arange(2), y] < 0).all()


def test_forward_backward_pair_with_upstream():
    rng = np.random.default_rng(3)
    scores, y = rng.normal(size=(4, 5)), rng.integers(0, 5, size=4)
    loss, cache = softmax_loss_forward(scores, y)
    dscores = softmax_loss_backward(2.5, cache)
    result = gradcheck(lambda s: softmax_loss_forward(s, y)[0], scores, dscores, upstream=2.5)
    assert result.passed, result.summary()
    assert isinstance(loss, float)


@pytest.mark.parametrize("bias_shape", [(1, 3), (3,)])
def test_classifier_gradients_match_numerical(bias_shape):
    x, w, b, y = random_problem(SEED)
    b = b.reshape(bias_shape)
    loss, dx, dw, db = softmax_classifier_loss(x, w, b, y)
    assert db.shape == b.shape and dw.shape == w.shape and dx.shape == x.shape
    for name, variable, analytic in (("dx", x, dx), ("dw", w, dw), ("db", b, db)):
        result = gradcheck(lambda _: softmax_classifier_loss(x, w, b, y)[0], variable, analytic, name=name)
        assert result.passed, result.summary()


def test_affine_backward_with_random_upstream():
    x, w, b, _ = random_problem(SEED + 1, n=3, d=5, c=2)
    dout = np.random.default_rng(11).normal(size=(3, 2))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    for name, variable, analytic in (("dx", x, dx), ("dw", w, dw), ("db", b, db)):
        result = gradcheck(lambda _: affine_forward(x, w, b)[0], variable, analytic, upstream=dout, name=name)
        assert result.passed, result.summary()


@pytest.mark.parametrize("offset", [1000.0, -1000.0])
def test_scores_of_size_1000_stay_finite_and_correct(offset):
    rng = np.random.default_rng(5)
    small = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=4)
    big = small + offset
    # The unstable formula breaks (inf/inf or 0/0) ...
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        assert not np.isfinite(unstable_loss(big, y))
    # ... the stable one does not, and shifting every score leaves P unchanged.
    loss, dscores = softmax_loss(big, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dscores))
    small_loss, small_dscores = softmax_loss(small, y)
    assert loss == pytest.approx(small_loss, rel=1e-9)
    np.testing.assert_allclose(dscores, small_dscores, rtol=1e-7, atol=1e-12)
    # The gradient at these scores, checked directly: a step of 1e-4 is still
    # resolved in float64 at 1000 (spacing ~1e-13), and the loss is smooth.
    result = gradcheck(lambda s: softmax_loss(s, y)[0], big, dscores, h=1e-4, tolerance=1e-5)
    assert result.passed, result.summary()


def test_rows_of_very_different_size_need_their_own_max():
    scores = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -999.5]])
    y = np.array([1, 2])
    loss, dscores = softmax_loss(scores, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dscores))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        assert not np.isfinite(unstable_loss(scores - scores.max(), y))  # one shared max is not enough


def test_inputs_are_not_changed():
    scores = np.array([[3.0, -1.0], [0.5, 0.25]])
    before = scores.copy()
    softmax_loss(scores, np.array([1, 0]))
    np.testing.assert_array_equal(scores, before)


# ----- the widget's state -------------------------------------------------------

@pytest.mark.parametrize("correct", [0, 2, 3])
@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_state_gradient_matches_numerical(correct, temperature):
    scores = np.array([2.0, 1.0, -1.0, 0.5])
    state = softmax_state(scores, correct, temperature)
    result = gradcheck(lambda s: softmax_state(s, correct, temperature).loss, scores.copy(), state.gradient)
    assert result.passed, result.summary()
    assert state.gradient.sum() == pytest.approx(0.0, abs=1e-12)
    assert state.probabilities.sum() == pytest.approx(1.0)
    negative = np.flatnonzero(state.gradient < 0)
    assert negative.tolist() == [correct]


def test_state_at_temperature_one_is_the_loss_module():
    scores = np.array([1.5, -0.5, 0.0, 3.0])
    state = softmax_state(scores, 1)
    loss, dscores = softmax_loss(scores[None, :], np.array([1]))
    assert state.loss == pytest.approx(loss)
    np.testing.assert_allclose(state.gradient, dscores[0])
    assert state.summary().startswith(f"loss = {loss:.3f}")


def test_state_refuses_bad_inputs():
    with pytest.raises(ValueError):
        softmax_state([1.0, 2.0], 0, temperature=0.0)
    with pytest.raises(ValueError):
        softmax_state([1.0, 2.0], 2)


def test_widget_updates_fast_and_in_place():
    import matplotlib.pyplot as plt

    from course.present.widgets.softmax import softmax_widget

    box = softmax_widget()
    correct, row1, row2, temperature, numbers, image = box.children
    before = image.value, numbers.value
    row1.children[1].value = 4.0
    assert (image.value, numbers.value) != before
    scores = [s.value for s in (*row1.children, *row2.children)]
    assert softmax_state(scores, 0, 1.0).summary() in numbers.value
    correct.value = 2
    temperature.value = 2.0
    assert softmax_state(scores, 2, 2.0).summary() in numbers.value
    # How fast: scripts/bench_widgets.py (a timed assertion here would fail on a busy machine).
    plt.close("all")


# ----- the exercises: the reference passes, every hint has a wrong answer ----------

EXERCISE_IDS = [e.id for e in c04.EXERCISES]


def test_five_exercises_with_concept_ids():
    assert len(EXERCISE_IDS) >= 5
    assert all(i.startswith("04.") for i in EXERCISE_IDS)


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_reference_passes(exercise_id):
    exercise = get_exercise(exercise_id)
    verdict = evaluate(exercise, exercise.reference, seed=SEED)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_each_misconception_is_recognised(exercise_id):
    exercise = get_exercise(exercise_id)
    for m in exercise.misconceptions:
        verdict = evaluate(exercise, m.wrong, seed=SEED)
        assert (verdict.passed, verdict.code) == (False, m.code), (m.hint, verdict.message)


def test_references_agree_with_numerical_gradients():
    # The exercises' references are graded against; check them, on their own
    # worked examples, against central differences.
    for exercise_id in ("04.loss_loop", "04.loss_vectorized", "04.stable_loss"):
        exercise = get_exercise(exercise_id)
        for case in exercise.public:
            scores, y = (a.copy() for a in case.args)
            _, dscores = exercise.reference(scores, y)
            h = 1e-4 if np.abs(scores).max() > 100 else 1e-6
            assert gradcheck(lambda s: exercise.reference(s, y)[0], scores, dscores, h=h, tolerance=1e-5).passed
    fix = get_exercise("04.fix_dot")
    scores, y = (a.copy() for a in fix.public[0].args)
    assert gradcheck(lambda s: softmax_loss(s, y)[0], scores, fix.reference(scores, y)).passed


# Wrong answers written the way a learner would write them (not taken from the
# exercise module), one per hint the task names, plus the shape problems.

def _loop_loss(scores, y, shift=True, divide=True, sign=1.0, at=None, minus_onehot=True):
    n, c = scores.shape
    loss, d = 0.0, np.zeros_like(scores)
    for i in range(n):
        row = scores[i] - (scores[i].max() if shift else 0.0)
        p = np.exp(row) / np.exp(row).sum()
        loss -= np.log(p[y[i]])
        d[i] = p
        if minus_onehot:
            d[i, y[i] if at is None else at(i, p)] -= 1.0
    d *= sign
    return (loss / n, d / n) if divide else (loss / n, d)


LEARNER_MISTAKES = [
    ("04.loss_loop", "one_over_n", lambda s, y: _loop_loss(s, y, divide=False)),
    ("04.loss_loop", "sign", lambda s, y: _loop_loss(s, y, sign=-1.0)),
    ("04.loss_loop", "wrong_class", lambda s, y: _loop_loss(s, y, at=lambda i, p: int(np.argmax(p)))),
    ("04.loss_loop", "p_not_p_minus_onehot", lambda s, y: _loop_loss(s, y, minus_onehot=False)),
    ("04.loss_vectorized", "wrong_class", lambda s, y: _columns_minus_one(s, y)),
    ("04.stable_loss", "overflow", lambda s, y: _loop_loss(s, y, shift=False)),
    ("04.stable_loss", "overflow", lambda s, y: _loop_loss(s - s.max(), y, shift=False)),  # one max for the whole batch
    ("04.stable_loss", "one_over_n", lambda s, y: _loop_loss(s, y, divide=False)),
    ("04.stable_loss", "mutated", lambda s, y: _in_place_shift(s, y)),
    ("04.stable_loss", "shape", lambda s, y: (softmax_loss(s, y)[0], softmax_loss(s, y)[1].ravel())),
    ("04.fix_dot", "transpose", lambda s, y: (1.0 / np.exp(s).sum(axis=1, keepdims=True)).dot(np.exp(s))),
    ("04.fix_dot", "p_not_p_minus_onehot", lambda s, y: stable_softmax(s) / s.shape[0]),
    ("04.score_gradients", "transpose", lambda ds, x, w, b: (ds @ w.T, ds.T @ x, ds.sum(axis=0, keepdims=True))),
    ("04.score_gradients", "keepdims", lambda ds, x, w, b: (ds @ w.T, x.T @ ds, ds.sum(axis=0))),
    ("04.score_gradients", "sum_axis", lambda ds, x, w, b: (ds @ w.T, x.T @ ds, ds.sum(axis=1, keepdims=True))),
    ("04.score_gradients", "one_over_n", lambda ds, x, w, b: (ds @ w.T, x.T @ ds, ds.mean(axis=0, keepdims=True))),
    ("04.score_gradients", "upstream", lambda ds, x, w, b: score_grads_with(np.ones_like(ds), x, w, b)),
    ("04.score_gradients", "sign", lambda ds, x, w, b: (-(ds @ w.T), -(x.T @ ds), -ds.sum(axis=0, keepdims=True))),
]


def _columns_minus_one(scores, y):
    loss = softmax_loss(scores, y)[0]
    d = stable_softmax(scores)
    d[:, y] -= 1  # whole columns: every row gets a -1 under every label of the batch
    return loss, d / scores.shape[0]


def _in_place_shift(scores, y):
    scores -= scores.max(axis=1, keepdims=True)
    return softmax_loss(scores, y)


def score_grads_with(ds, x, w, b):
    return ds @ w.T, x.T @ ds, ds.sum(axis=0, keepdims=True)


@pytest.mark.parametrize("exercise_id, code, wrong", LEARNER_MISTAKES,
                         ids=[f"{e}-{c}" for e, c, _ in LEARNER_MISTAKES])
def test_learner_mistake_gets_its_hint(exercise_id, code, wrong):
    verdict = evaluate(get_exercise(exercise_id), wrong, seed=SEED)
    assert (verdict.passed, verdict.code) == (False, code), verdict.message


def test_overflow_hint_does_not_reveal_the_answer_and_check_raises():
    with pytest.raises(CheckFailed) as info:
        check("04.stable_loss", lambda s, y: _loop_loss(s, y, shift=False))
    message = str(info.value)
    assert "overflow" in message.lower() or "inf" in message
    assert "1.3783" not in message  # the worked loss is never shown


def test_check_prints_one_line_on_success(capsys):
    def written_out(scores, y):
        shifted = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = len(y)
        loss = -np.log(p[np.arange(n), y]).mean()
        p[np.arange(n), y] -= 1
        return float(loss), p / n

    check("04.loss_vectorized", written_out)
    out = capsys.readouterr().out
    assert out.startswith("✔ 04.loss_vectorized") and out.count("\n") == 1


def test_the_course_s_own_softmax_loss_passes_a_learner_s_check_with_a_note(capsys):
    check("04.loss_vectorized", softmax_loss)
    first, note = capsys.readouterr().out.splitlines()
    assert first.startswith("✔ 04.loss_vectorized") and "calls the course's own `softmax_loss`" in note


# ----- the lesson's worked numbers -------------------------------------------------

WORKED_NUMBERS = [
    "P = [[0.7054 0.2595 0.0351]",
    " [0.2447 0.6652 0.09  ]]",
    "-log P[correct] = [0.349  2.4076]",
    "loss = 1.3783",
    "dscores = [[-0.1473  0.1297  0.0176]",
    " [ 0.1224  0.3326 -0.455 ]]",
]


def test_worked_numbers_are_the_module_s():
    np.set_printoptions(precision=4, suppress=True)
    try:
        p = stable_softmax(c04.WORKED_SCORES)
        loss, dscores = softmax_loss(c04.WORKED_SCORES, c04.WORKED_LABELS)
        text = (f"P = {p}\n-log P[correct] = {-np.log(p[[0, 1], c04.WORKED_LABELS])}\n"
                f"loss = {loss:.4f}\ndscores = {dscores}")
    finally:
        np.set_printoptions(precision=8, suppress=False)
    for line in WORKED_NUMBERS:
        assert line in text


def test_lesson_worked_cell_prints_the_worked_numbers():
    path = ROOT / "notebooks" / "04_softmax.ipynb"
    if not path.exists():
        pytest.skip("the lesson notebook is not written yet")
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("gradflow", {}).get("worked") == "softmax"]
    assert len(cells) == 1
    text = "".join(o.get("text", "") for o in cells[0].outputs if o.output_type == "stream")
    for line in WORKED_NUMBERS:
        assert line in text


def test_blitted_picture_looks_like_a_full_redraw():
    import io

    from PIL import Image

    from course.present.widgets.softmax import SoftmaxPicture

    picture = SoftmaxPicture(softmax_state([2.0, 1.0, -1.0, 0.5], 0, 1.0))
    picture.png()  # saves the background at T = 1
    picture.update(softmax_state([-3.0, 4.0, 0.5, 1.0], 2, 1.0))
    blitted = np.asarray(Image.open(io.BytesIO(picture.png())).convert("RGB"), dtype=float)
    for artist in picture.dynamic:
        artist.set_animated(False)
    buffer = io.BytesIO()
    picture.figure.savefig(buffer, format="png", dpi=picture.figure.dpi)
    full = np.asarray(Image.open(buffer).convert("RGB"), dtype=float)
    assert blitted.shape == full.shape
    # Only the stacking of the zero line and the bars may differ.
    assert np.mean(np.abs(blitted - full)) < 0.5
