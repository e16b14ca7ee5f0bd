"""Concept 05, dropout: the modules against numerical gradients (mask held
fixed), the statistics of the masks, the widget's state, and the exercises'
hints, each triggered by a deliberately wrong answer."""

from __future__ import annotations

import numpy as np
import pytest

from course.assess.check import CheckFailed, check
from course.assess.diagnose import evaluate, hidden_cases
from course.assess.registry import exercises_of, get_exercise
from course.compute.dropout import (
    amplify_backward,
    amplify_forward,
    draw_mask,
    dropout_backward,
    dropout_forward,
    expected_statistics,
    kept_fraction_tolerance,
    mask_backward,
    mask_forward,
    measured_statistics,
    swapped_dropout_forward,
)
from course.compute.gradcheck import gradcheck, numerical_gradient
from course.present.widgets.dropout import dropout_state

SEED = 1234


def _x(shape=(5, 7), seed=0):
    # Non-trivial values with both signs and no zeros: equal or zero inputs
    # would hide a gradient routed to the wrong units.
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# ----- gradients, with the mask held fixed ------------------------------------------

@pytest.mark.parametrize("keep_prob", [0.3, 0.8])
@pytest.mark.parametrize("per_feature", [False, True])
def test_dropout_backward_matches_numerical_gradient(keep_prob, per_feature):
    x = _x()
    dout = _x(seed=1)
    # A fresh generator with the same seed in every call draws the same mask:
    # that is what "the mask held fixed" means for the numerical gradient.
    def f(v):
        return dropout_forward(v, keep_prob, np.random.default_rng(SEED), per_feature=per_feature)[0]

    _, cache = dropout_forward(x, keep_prob, np.random.default_rng(SEED), per_feature=per_feature)
    result = gradcheck(f, x, dropout_backward(dout, cache), upstream=dout, name="dx")
    assert result.passed, result.summary()
    assert 0 < np.count_nonzero(cache.mask) < cache.mask.size  # the check saw kept and dropped units


def test_mask_and_amplify_modules_match_numerical_gradients():
    x, dout = _x(), _x(seed=1)
    mask = draw_mask(x.shape, 0.6, np.random.default_rng(SEED))
    _, mask_cache = mask_forward(x, mask)
    assert gradcheck(lambda v: mask_forward(v, mask)[0], x, mask_backward(dout, mask_cache), upstream=dout).passed
    _, amp_cache = amplify_forward(x, 0.6)
    assert gradcheck(lambda v: amplify_forward(v, 0.6)[0], x, amplify_backward(dout, amp_cache),
                     upstream=dout).passed


def test_joined_module_is_mask_then_amplify():
    x, dout = _x(), _x(seed=1)
    out, cache = dropout_forward(x, 0.7, np.random.default_rng(SEED))
    masked, mask_cache = mask_forward(x, cache.mask)
    amplified, amp_cache = amplify_forward(masked, 0.7)
    np.testing.assert_allclose(out, amplified)
    # Backward runs the modules in reverse order.
    np.testing.assert_allclose(dropout_backward(dout, cache), mask_backward(amplify_backward(dout, amp_cache),
                                                                            mask_cache))


def test_mask_as_a_diagonal_matrix():
    x = _x()
    mask = draw_mask(x.shape, 0.5, np.random.default_rng(SEED))
    for row, m in zip(x, mask):
        np.testing.assert_allclose(row @ np.diag(m), row * m)


def test_a_resampled_mask_gives_a_wrong_gradient():
    # The oracle must be able to fail: a backward pass with a new mask.
    x, dout = _x(), _x(seed=1)
    f = lambda v: dropout_forward(v, 0.5, np.random.default_rng(SEED))[0]  # noqa: E731
    _, fresh = dropout_forward(x, 0.5, np.random.default_rng(SEED + 1))
    assert not gradcheck(f, x, dropout_backward(dout, fresh), upstream=dout).passed


# ----- train and test mode ----------------------------------------------------------

def test_test_mode_is_the_identity_and_draws_nothing():
    x, dout = _x(), _x(seed=1)
    rng = np.random.default_rng(SEED)
    before = rng.bit_generator.state
    out, cache = dropout_forward(x, 0.3, rng, train=False)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)
    assert rng.bit_generator.state == before
    assert out is not x


def test_keep_prob_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="keep"):
        dropout_forward(_x(), 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        dropout_forward(_x(), 1.5, np.random.default_rng(0))


# ----- statistics -------------------------------------------------------------------
# Tolerances come from the binomial standard deviation: 5 sigmas, so a correct
# implementation fails by chance with probability below 1e-6 (and the seed is fixed).

UNITS = (400, 250)


@pytest.mark.parametrize("keep_prob", [0.2, 0.5, 0.8, 0.95])
def test_kept_fraction_and_mean(keep_prob):
    x = np.abs(_x(UNITS))
    out, cache = dropout_forward(x, keep_prob, np.random.default_rng(SEED))
    assert abs(cache.mask.mean() - keep_prob) < kept_fraction_tolerance(keep_prob, x.size)
    # The mean of out is a sum of independent units with Var = x**2 (1 - p) / p.
    mean_sd = np.sqrt(np.sum(x**2) * (1 - keep_prob) / keep_prob) / x.size
    assert abs(out.mean() - x.mean()) < 5 * mean_sd
    assert set(np.unique(out[cache.mask == 1] * keep_prob / x[cache.mask == 1]).round(12)) == {1.0}


@pytest.mark.parametrize("keep_prob", [0.3, 0.8])
def test_variance_per_unit(keep_prob):
    # Many draws of the same single row: the variance of each unit's output.
    x = np.array([[0.5, 1.0, -2.0]])
    rng = np.random.default_rng(SEED)
    draws = np.stack([dropout_forward(x, keep_prob, rng)[0][0] for _ in range(20000)])
    expected = x[0] ** 2 * (1 - keep_prob) / keep_prob
    np.testing.assert_allclose(draws.var(axis=0), expected, rtol=0.08)
    assert np.all(np.abs(draws.mean(axis=0) - x[0]) < 5 * np.sqrt(expected / 20000))


def test_per_feature_mask_is_shared_by_the_batch():
    x = np.abs(_x(UNITS))
    out, cache = dropout_forward(x, 0.7, np.random.default_rng(SEED), per_feature=True)
    assert cache.mask.shape == (1, x.shape[1])
    dropped = cache.mask[0] == 0
    assert np.all(out[:, dropped] == 0) and np.all(out[:, ~dropped] != 0)
    assert abs(cache.mask.mean() - 0.7) < kept_fraction_tolerance(0.7, x.shape[1])


@pytest.mark.parametrize("keep_prob", [0.2, 0.8])
def test_swapped_version_keeps_the_mean_but_not_the_fraction(keep_prob):
    x = np.abs(_x(UNITS))
    out, cache = swapped_dropout_forward(x, keep_prob, np.random.default_rng(SEED))
    kept = cache.mask.mean()
    assert abs(kept - (1 - keep_prob)) < kept_fraction_tolerance(1 - keep_prob, x.size)
    assert abs(kept - keep_prob) > 10 * kept_fraction_tolerance(keep_prob, x.size)
    mean_sd = np.sqrt(np.sum(x**2) * keep_prob / (1 - keep_prob)) / x.size
    assert abs(out.mean() - x.mean()) < 5 * mean_sd  # a mean-only test cannot catch it
    measured = measured_statistics(x, out, cache.mask)
    assert abs(measured["variance"] / expected_statistics(x, keep_prob)["variance"] - 1) > 0.5


def test_swapped_version_is_correct_at_one_half():
    x = _x()
    a, _ = dropout_forward(x, 0.5, np.random.default_rng(SEED))
    b, _ = swapped_dropout_forward(x, 0.5, np.random.default_rng(SEED))
    np.testing.assert_array_equal(a, b)


# ----- the widget's state -----------------------------------------------------------

def test_dropout_state_measures_and_expects():
    state = dropout_state(0.8, swapped=False, seed=0)
    assert state.mask.shape == state.x.shape == state.out.shape
    assert np.all(state.x > 0)
    assert abs(state.measured["kept"] - 0.8) < kept_fraction_tolerance(0.8, state.x.size)
    assert state.expected["kept"] == 0.8
    assert state.expected["mean"] == pytest.approx(state.x.mean())
    assert state.expected["variance"] == pytest.approx(np.mean(state.x**2) * 0.2 / 0.8)
    assert state.measured["variance"] == pytest.approx(np.mean((state.out - state.x) ** 2))
    assert "kept fraction: 0.8" in state.summary()


def test_dropout_state_swapped_keeps_one_minus_keep_prob():
    state = dropout_state(0.8, swapped=True, seed=0)
    assert abs(state.measured["kept"] - 0.2) < kept_fraction_tolerance(0.2, state.x.size)
    assert state.measured["variance"] > 5 * state.expected["variance"]
    assert dropout_state(0.8, True, 0).out.tolist() == state.out.tolist()  # deterministic


def test_dropout_state_slider_only_turns_units_on():
    # The same uniform numbers behind every keep_prob: a larger keep_prob keeps a superset.
    masks = [dropout_state(p, seed=3).mask for p in (0.2, 0.4, 0.6, 0.8)]
    for smaller, larger in zip(masks, masks[1:]):
        assert np.all(larger >= smaller)


def test_dropout_widget_updates_its_picture():
    pytest.importorskip("ipywidgets")
    from course.present.widgets.dropout import dropout_widget

    box = dropout_widget(keep_prob=0.8)
    controls, image, table = box.children
    slider, version = controls.children
    first = image.value
    slider.value = 0.3
    assert image.value != first and "0.300" in table.value
    before = table.value
    version.value = True
    # The expected column is still correct dropout's (0.300 kept); the measured one moves to ~0.7.
    assert table.value != before and "<td>0.300</td>" in table.value
    kept = float(table.value.split("<td>kept fraction</td><td>")[1].split("<")[0])
    assert abs(kept - 0.7) < kept_fraction_tolerance(0.7, 24 * 48)


# ----- exercises ---------------------------------------------------------------------

EXERCISES = {e.id: e for e in exercises_of("05_dropout")}


def test_there_are_four_exercises_with_the_concepts_ids():
    assert sorted(EXERCISES) == ["05.amplify_module", "05.catch_the_swap", "05.dropout_layer", "05.mask_module"]


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_reference_passes(exercise_id):
    verdict = evaluate(EXERCISES[exercise_id], EXERCISES[exercise_id].reference, seed=7)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("exercise_id,index",
                         [(e.id, k) for e in EXERCISES.values() for k in range(len(e.misconceptions))])
def test_each_misconception_is_recognised(exercise_id, index):
    exercise = EXERCISES[exercise_id]
    misconception = exercise.misconceptions[index]
    verdict = evaluate(exercise, misconception.wrong, seed=7)
    assert not verdict.passed
    assert verdict.code == misconception.code
    assert misconception.hint in verdict.message


def test_reference_gradients_match_numerical_gradients():
    x, dout = _x(), _x(seed=1)
    mask = draw_mask(x.shape, 0.6, np.random.default_rng(SEED))
    mod = __import__("course.assess.concepts.c05_dropout", fromlist=["x"])
    assert gradcheck(lambda v: mod.mask_module(v, mask, dout)[0], x, mod.mask_module(x, mask, dout)[1],
                     upstream=dout).passed
    assert gradcheck(lambda v: mod.amplify_module(v, 0.6, dout)[0], x, mod.amplify_module(x, 0.6, dout)[1],
                     upstream=dout).passed
    # The layer's dx against the numerical gradient of its out, the mask held fixed by the same seed.
    for keep_prob, train in [(0.6, True), (0.25, True), (0.6, False)]:
        def out_of(v):
            return mod.dropout_layer(v, keep_prob, np.random.default_rng(SEED), train, dout)[0]
        _, mask, dx = mod.dropout_layer(x, keep_prob, np.random.default_rng(SEED), train, dout)
        np.testing.assert_allclose(dx, numerical_gradient(out_of, x, dout), rtol=1e-6, atol=1e-8)
        assert set(np.unique(mask)) <= {0.0, 1.0} and (train or np.all(mask == 1.0))


def test_exercise_layer_agrees_with_the_course_module():
    x, dout = _x(), _x(seed=1)
    mod = __import__("course.assess.concepts.c05_dropout", fromlist=["x"])
    for train in (True, False):
        out, mask, dx = mod.dropout_layer(x, 0.7, np.random.default_rng(SEED), train, dout)
        out2, cache = dropout_forward(x, 0.7, np.random.default_rng(SEED), train=train)
        np.testing.assert_allclose(out, out2, rtol=1e-15)  # x * mask / p versus x * mask * (1 / p)
        np.testing.assert_allclose(dx, dropout_backward(dout, cache), rtol=1e-15)
        np.testing.assert_array_equal(mask, cache.mask if train else np.ones_like(x))


def test_layer_cases_reach_the_edges():
    cases = list(EXERCISES["05.dropout_layer"].public) + hidden_cases(EXERCISES["05.dropout_layer"], 7)
    assert any(c.args[0].shape[0] == 1 for c in cases)
    assert any(np.any(c.args[0] == 0.0) and c.args[3] for c in cases)  # kept zeros: out != 0 is not the mask
    assert any(c.args[0].size >= 2000 for c in cases) and min(c.args[1] for c in cases) <= 0.1
    assert {c.args[3] for c in cases} == {True, False} and 0.5 not in {c.args[1] for c in cases}


def test_missing_upstream_in_backward_is_recognised():
    def layer(x, kp, rng, train, dout):
        mask = (rng.random(x.shape) < kp).astype(float)
        return (x * mask / kp, mask, mask / kp) if train else (x.copy(), np.ones_like(x), np.ones_like(x))
    verdict = evaluate(EXERCISES["05.dropout_layer"], layer, seed=7)
    assert not verdict.passed and verdict.code == "wrong_value" and "`dx` is not right" in verdict.message


def test_check_prints_one_line_and_raises_with_a_hint(capsys):
    check("05.dropout_layer", EXERCISES["05.dropout_layer"].reference)
    assert capsys.readouterr().out.startswith("✔ 05.dropout_layer")
    with pytest.raises(CheckFailed, match="draws a new mask"):
        check("05.dropout_layer", lambda x, kp, rng, train, dout: _layer(x, kp, rng, train, dout, resample=True))


def _layer(x, kp, rng, train, dout, keep=lambda u, p: u < p, resample=False, test=lambda x, kp: x,
           mask_of=None):
    """A learner's dropout layer, written as a learner would, with one slip chosen by the arguments."""
    if not train:
        return test(x, kp), np.ones_like(x), dout
    mask = keep(rng.random(x.shape), kp).astype(float)
    out = x * mask / kp
    if mask_of is not None:
        mask = mask_of(out, mask, kp)
    if resample:  # "the backward step": a fresh mask, where the forward pass's belongs
        return out, mask, dout * (rng.random(x.shape) < kp) / kp
    return out, mask, dout * mask / kp


def _scaled_mask_layer(x, kp, rng, train, dout):
    if not train:
        return x, np.ones_like(x), dout
    mask = (rng.random(x.shape) < kp) / kp  # the scale folded into the mask: out and dx are right, the mask is not
    return x * mask, mask, dout * mask


@pytest.mark.parametrize("wrong, code, words", [
    (lambda x, kp, rng, t, d: _layer(x, kp, rng, t, d, keep=lambda u, p: u > p), "keep_prob_scale",
     "wrong way round"),
    (lambda x, kp, rng, t, d: _layer(x, kp, rng, t, d, keep=lambda u, p: u >= p), "keep_prob_scale",
     "wrong way round"),
    (lambda x, kp, rng, t, d: _layer(x, kp, rng, t, d, test=lambda x, kp: x * kp), "test_time_scale", "original"),
    (lambda x, kp, rng, t, d: _scaled_mask_layer(x, kp, rng, t, d), "keep_prob_scale", "scaled mask"),
    (lambda x, kp, rng, t, d: _layer(x, kp, rng, t, d, mask_of=lambda out, m, kp: (out != 0).astype(float)),
     "output_for_input", "out != 0"),
])
def test_a_learner_s_slip_in_the_layer_is_named(wrong, code, words):
    verdict = evaluate(EXERCISES["05.dropout_layer"], wrong, seed=7)
    assert not verdict.passed and verdict.code == code and words in verdict.message, verdict.message


def test_a_layer_written_another_way_passes():
    def layer(x, keep_prob, rng, train, dout):
        if train:
            keep = np.less(rng.random(size=x.shape), keep_prob) * 1.0
            scale = 1.0 / keep_prob
            return x * keep * scale, keep, dout * keep * scale
        return x + 0.0, np.ones(x.shape), dout * 1.0
    assert evaluate(EXERCISES["05.dropout_layer"], layer, seed=7).passed


# ----- the learner-written test ----------------------------------------------------

def _good_test(dropout_forward, keep_prob):
    x = np.full((500, 200), 2.0)
    out = dropout_forward(x, keep_prob, np.random.default_rng(0))
    kept = out != 0
    tolerance = 5 * np.sqrt(keep_prob * (1 - keep_prob) / x.size)
    return bool(abs(kept.mean() - keep_prob) < tolerance and np.allclose(out[kept], 2.0 / keep_prob))


def _variance_test_with_asserts(dropout_forward, keep_prob):
    x = np.ones((400, 250))
    out = dropout_forward(x, keep_prob, np.random.default_rng(1))
    expected = (1 - keep_prob) / keep_prob
    assert abs(out.mean() - 1) < 0.05
    assert abs(out.var() / expected - 1) < 0.1


def _mean_only_learner_test(dropout_forward, keep_prob):
    x = np.random.default_rng(3).uniform(1, 2, size=(300, 300))
    out = dropout_forward(x, keep_prob, np.random.default_rng(4))
    return abs(out.mean() - x.mean()) < 0.05 * x.mean()


def test_a_good_learner_test_passes():
    assert evaluate(get_exercise("05.catch_the_swap"), _good_test, seed=7).passed


def test_a_learner_test_may_reject_by_assertion():
    def as_bool(dropout_forward, keep_prob):
        _variance_test_with_asserts(dropout_forward, keep_prob)
        return True
    assert evaluate(get_exercise("05.catch_the_swap"), as_bool, seed=7).passed


def test_a_mean_only_learner_test_is_told_why():
    verdict = evaluate(get_exercise("05.catch_the_swap"), _mean_only_learner_test, seed=7)
    assert not verdict.passed and verdict.code == "mean_only_test"
    assert "product is 1" in verdict.message


def test_a_learner_test_at_one_half_only_is_recognised():
    verdict = evaluate(get_exercise("05.catch_the_swap"), lambda f, kp: _good_test(f, 0.5), seed=7)
    assert verdict.code == "keep_half_test"


def test_a_learner_test_without_return_is_told():
    verdict = evaluate(get_exercise("05.catch_the_swap"), lambda f, kp: None, seed=7)
    assert verdict.code == "none"


# ----- the lesson's worked numbers ---------------------------------------------------

def _worked_text(name: str) -> str:
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "05_dropout.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("gradflow", {}).get("worked") == name)
    return "".join(o.get("text", "") for o in cell.outputs)


def test_worked_numbers_in_the_lesson():
    import re

    lines = {line.split()[0]: line for line in _worked_text("dropout").splitlines()}
    pattern = r"kept fraction ([\d.]+), mean ([\d.]+), variance ([\d.]+)"
    correct = [float(v) for v in re.search(pattern, lines["correct"]).groups()]
    article = [float(v) for v in re.search(pattern, lines["article"]).groups()]
    units, p = 100_000, 0.8
    # Correct: keeps ~80 % of the units, mean ~1, variance ~(1 - p) / p = 0.25.
    assert abs(correct[0] - p) < kept_fraction_tolerance(p, units) + 5e-4
    assert abs(correct[1] - 1.0) < 5 * np.sqrt((1 - p) / p / units) + 5e-4
    assert correct[2] == pytest.approx((1 - p) / p, rel=0.05)
    # The article's: keeps ~20 %, the SAME mean ~1, variance ~p / (1 - p) = 4.
    assert abs(article[0] - (1 - p)) < kept_fraction_tolerance(1 - p, units) + 5e-4
    assert abs(article[1] - 1.0) < 5 * np.sqrt(p / (1 - p) / units) + 5e-4
    assert article[2] == pytest.approx(p / (1 - p), rel=0.05)
    # And they are what the course's functions give for the lesson's seed.
    x = np.ones((200, 500))
    for values, forward in [(correct, dropout_forward), (article, swapped_dropout_forward)]:
        out, cache = forward(x, p, np.random.default_rng(0))
        s = measured_statistics(x, out, cache.mask)
        assert values == [round(s["kept"], 3), round(s["mean"], 3), round(s["variance"], 3)]
