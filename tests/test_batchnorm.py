"""Concept 07, batch normalisation: the staged and compact backward passes
against each other and against numerical gradients, the running statistics,
train and test mode, a batch of one, and the widget's state."""

from __future__ import annotations

import numpy as np
import pytest

from course.compute.batchnorm import (
    BatchNorm,
    RunningStats,
    batchnorm_backward,
    batchnorm_backward_staged,
    batchnorm_forward,
    path_gradients,
)
from course.compute.batchnorm_mistakes import MistakenBatchNorm, batchnorm_variant
from course.compute.gradcheck import gradcheck, numerical_gradient
from course.present.widgets.batchnorm import MEANS, STDS, batchnorm_state

# Rectangular batches, every size different from the others (N != D), and the
# spreads they are drawn with: tiny, ordinary and large.
SHAPES = [(3, 5), (7, 2), (4, 6), (10, 3)]
SPREADS = [0.01, 1.0, 1e3]


def _batch(shape, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n, d = shape
    # Each column its own mean and scale, so that a statistic over the wrong axis cannot pass.
    x = rng.normal(size=shape) * spread * rng.uniform(0.5, 2.0, size=(1, d)) + rng.uniform(-3, 3, size=(1, d))
    gamma = rng.uniform(0.5, 2.0, size=(1, d)) * rng.choice([-1.0, 1.0], size=(1, d))
    beta = rng.uniform(-1.0, 1.0, size=(1, d))
    dout = rng.normal(size=shape)
    return x, gamma, beta, dout


# ----- staged against compact, and both against numerical gradients ----------------

@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_staged_and_compact_agree_to_1e_10(shape, spread):
    x, gamma, beta, dout = _batch(shape, spread)
    _, cache = batchnorm_forward(x, gamma, beta)
    for staged, compact in zip(batchnorm_backward_staged(dout, cache), batchnorm_backward(dout, cache)):
        scale = max(1.0, float(np.abs(compact).max()))
        assert np.abs(staged - compact).max() <= 1e-10 * scale


@pytest.mark.parametrize("backward", [batchnorm_backward_staged, batchnorm_backward])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_backward_matches_numerical_gradients(shape, backward):
    x, gamma, beta, dout = _batch(shape, seed=1)
    _, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = backward(dout, cache)
    assert dgamma.shape == dbeta.shape == gamma.shape and dx.shape == x.shape
    checks = [
        gradcheck(lambda v: batchnorm_forward(v, gamma, beta)[0], x, dx, upstream=dout, name="dx"),
        gradcheck(lambda g: batchnorm_forward(x, g, beta)[0], gamma.copy(), dgamma, upstream=dout, name="dgamma"),
        gradcheck(lambda b: batchnorm_forward(x, gamma, b)[0], beta.copy(), dbeta, upstream=dout, name="dbeta"),
    ]
    for result in checks:
        assert result.passed, result.summary()


def test_a_wrong_backward_fails_the_numerical_check():
    # The oracle can say no: mu and var treated as constants (only the direct path).
    x, gamma, beta, dout = _batch((5, 3), seed=2)
    _, cache = batchnorm_forward(x, gamma, beta)
    constants_dx = dout * gamma / cache.std
    assert not gradcheck(lambda v: batchnorm_forward(v, gamma, beta)[0], x, constants_dx, upstream=dout).passed


def test_a_constant_feature_column_is_where_eps_matters():
    x, gamma, beta, dout = _batch((6, 4), seed=3)
    x[:, 2] = 1.7  # variance 0 in this column
    _, cache = batchnorm_forward(x, gamma, beta, eps=1e-3)
    assert cache.var[0, 2] == 0.0 and np.all(cache.x_hat[:, 2] == 0.0)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    # x_hat is 0 there, but its slope is 1 / sqrt(eps): a nudge of x is amplified, not ignored.
    np.testing.assert_allclose(dx[:, 2], gamma[0, 2] / np.sqrt(1e-3) * (dout[:, 2] - dout[:, 2].mean()))
    assert gradcheck(lambda v: batchnorm_forward(v, gamma, beta, eps=1e-3)[0], x, dx, upstream=dout).passed
    staged = batchnorm_backward_staged(dout, cache)[0]
    np.testing.assert_allclose(staged, dx, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="feature 3 is constant"):
        batchnorm_forward(x, gamma, beta, eps=0.0)


def test_the_columns_of_dx_sum_to_zero():
    # Shifting a whole column leaves the output unchanged, so the gradient along that shift is 0.
    x, gamma, beta, dout = _batch((8, 5), seed=4)
    _, cache = batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(batchnorm_backward(dout, cache)[0].sum(axis=0), 0.0, atol=1e-12)


def test_a_bias_before_batchnorm_changes_nothing_and_gets_no_gradient():
    x, gamma, beta, dout = _batch((6, 3), seed=5)
    bias = np.array([[5.0, -2.0, 0.3]])
    out, cache = batchnorm_forward(x, gamma, beta)
    out_b, _ = batchnorm_forward(x + bias, gamma, beta)
    np.testing.assert_allclose(out_b, out, atol=1e-12)
    dbias = batchnorm_backward(dout, cache)[0].sum(axis=0, keepdims=True)  # add_bias_backward's db
    np.testing.assert_allclose(dbias, 0.0, atol=1e-12)


def test_the_three_paths_add_up_to_dx_and_the_statistics_gradients_are_right():
    x, gamma, beta, dout = _batch((7, 3), seed=6)
    eps = 1e-5
    _, cache = batchnorm_forward(x, gamma, beta, eps=eps)
    paths = path_gradients(dout, cache)
    dx = batchnorm_backward(dout, cache)[0]
    np.testing.assert_allclose(paths["direct"] + paths["mean"] + paths["variance"], dx, atol=1e-12)
    mu, var = cache.mu.copy(), cache.var.copy()
    # dvar: the output as a function of var, mu held fixed.
    dvar = numerical_gradient(lambda v: gamma * (x - mu) / np.sqrt(v + eps) + beta, var.copy(), dout)
    np.testing.assert_allclose(paths["dvar"], dvar, rtol=1e-6)
    # dmu: var depends on mu too, but its slope there is -2/N sum(x - mu) = 0.
    def of_mu(m):
        return gamma * (x - m) / np.sqrt(((x - m) ** 2).mean(axis=0, keepdims=True) + eps) + beta
    np.testing.assert_allclose(paths["dmu"], numerical_gradient(of_mu, mu.copy(), dout), rtol=1e-6)


def test_gamma_and_beta_as_flat_vectors_give_flat_gradients():
    x, gamma, beta, dout = _batch((5, 4), seed=7)
    _, cache = batchnorm_forward(x, gamma[0], beta[0])
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert dgamma.shape == dbeta.shape == (4,)
    _, cache2 = batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(dgamma, batchnorm_backward(dout, cache2)[1][0])


# ----- the forward pass's numbers ---------------------------------------------------

def test_forward_normalises_each_column_with_the_biased_variance():
    x, gamma, beta, _ = _batch((9, 4), spread=3.0, seed=8)
    out, cache = batchnorm_forward(x, np.ones((1, 4)), np.zeros((1, 4)), eps=0.0)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1.0)  # numpy's var is the biased one (ddof=0)
    np.testing.assert_allclose(cache.var, x.var(axis=0, keepdims=True))
    out2, _ = batchnorm_forward(x, gamma, beta, eps=0.0)
    np.testing.assert_allclose(out2, gamma * out + beta)


def test_a_batch_of_two_always_normalises_to_plus_and_minus_one():
    # With N = 2 each x_hat is +-sqrt(var / (var + eps)): almost +-1 whatever x is.
    x = np.array([[3.0, -1.0, 100.0], [5.0, 2.0, 100.5]])
    out, cache = batchnorm_forward(x, np.ones((1, 3)), np.zeros((1, 3)), eps=1e-5)
    np.testing.assert_allclose(np.abs(cache.x_hat), np.sqrt(cache.var / (cache.var + 1e-5)) * np.ones((2, 1)))
    np.testing.assert_allclose(out, [[-1, -1, -1], [1, 1, 1]], atol=1e-4)


# ----- a batch of one ----------------------------------------------------------------

def test_training_on_a_batch_of_one_is_refused_with_the_reason():
    x = np.array([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="at least 2 examples.*variance 0.*mode='test'"):
        batchnorm_forward(x, np.ones((1, 3)), np.zeros((1, 3)))


def test_what_a_batch_of_one_would_give():
    # The reason for the refusal, computed by hand: x - mu is 0, so out = beta whatever x is,
    # and the compact formula gives dx = 0 (N dy - sum dy = 0 and x_hat = 0).
    x, gamma, beta, dout = _batch((1, 4), seed=9)
    mu = x.mean(axis=0, keepdims=True)
    x_hat = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=0, keepdims=True) + 1e-5)
    np.testing.assert_array_equal(gamma * x_hat + beta, beta)
    dx = gamma / np.sqrt(1e-5) * (dout - dout.sum(axis=0) - x_hat * (dout * x_hat).sum(axis=0))
    np.testing.assert_array_equal(dx, 0.0)


def test_test_mode_takes_a_batch_of_one_and_treats_rows_independently():
    x, gamma, beta, dout = _batch((5, 3), seed=10)
    running = RunningStats(np.array([[0.5, -1.0, 2.0]]), np.array([[2.0, 0.5, 1.5]]))
    out, cache = batchnorm_forward(x, gamma, beta, "test", running)
    for i in range(5):
        row, _ = batchnorm_forward(x[i:i + 1], gamma, beta, "test", running)
        np.testing.assert_allclose(row, out[i:i + 1])
    np.testing.assert_allclose(out, gamma * (x - running.mean) / np.sqrt(running.var + 1e-5) + beta)
    for backward in (batchnorm_backward, batchnorm_backward_staged):
        dx, dgamma, dbeta = backward(dout, cache)
        f = lambda v: batchnorm_forward(v, gamma, beta, "test", running)[0]  # noqa: E731
        assert gradcheck(f, x, dx, upstream=dout).passed
        np.testing.assert_allclose(dbeta, dout.sum(axis=0, keepdims=True))


def test_batch_statistics_at_test_time_would_erase_a_single_example():
    running = RunningStats(np.array([[0.0, 1.0]]), np.array([[1.0, 4.0]]))
    beta = np.array([[0.25, -0.5]])
    for x in (np.array([[3.0, -7.0]]), np.array([[-1.0, 40.0]])):
        out, _ = batchnorm_forward(x, np.ones((1, 2)), beta, "test", running)
        assert not np.allclose(out, beta)  # the running statistics keep the example's information


# ----- running statistics -----------------------------------------------------------

def test_running_statistics_move_by_one_minus_momentum():
    x, gamma, beta, _ = _batch((6, 3), seed=11)
    running = RunningStats.start(3, momentum=0.9)
    _, cache = batchnorm_forward(x, gamma, beta, "train", running)
    np.testing.assert_allclose(running.mean, 0.1 * cache.mu)
    np.testing.assert_allclose(running.var, 0.9 + 0.1 * cache.var)


def test_running_statistics_converge_to_the_data_statistics():
    rng = np.random.default_rng(12)
    running = RunningStats.start(2, momentum=0.9)
    for _ in range(300):
        x = rng.normal(loc=[3.0, -1.0], scale=[2.0, 0.5], size=(64, 2))
        batchnorm_forward(x, np.ones(2), np.zeros(2), "train", running)
    np.testing.assert_allclose(running.mean, [[3.0, -1.0]], atol=0.15)
    # The average of the biased variance is (N - 1)/N of the true one.
    np.testing.assert_allclose(running.var, [[4.0 * 63 / 64, 0.25 * 63 / 64]], rtol=0.1)


def test_test_mode_leaves_the_running_statistics_alone():
    x, gamma, beta, _ = _batch((4, 3), seed=13)
    running = RunningStats(np.ones((1, 3)), np.full((1, 3), 2.0))
    before = running.mean
    batchnorm_forward(x, gamma, beta, "test", running)
    assert running.mean is before and np.all(running.var == 2.0)
    batchnorm_forward(x, gamma, beta, "train", running)
    assert np.all(before == 1.0)  # update replaces the arrays, never writes into them


def test_bad_input_gets_a_clear_message():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="one entry per feature"):
        batchnorm_forward(x, np.ones((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="'train' or 'test'"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), mode="eval")
    with pytest.raises(ValueError, match="2-D"):
        batchnorm_forward(np.ones(3), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="running statistics"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), mode="test")
    with pytest.raises(ValueError, match="momentum"):
        RunningStats.start(3, momentum=1.5)


# ----- the module in the layer template --------------------------------------------

def test_batchnorm_module_trains_then_tests():
    x, _, _, dout = _batch((6, 4), seed=14)
    module = BatchNorm(4, momentum=0.5)
    out = module.forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    dx = module.backward(dout)
    assert set(module.grads) == {"gamma", "beta"} and dx.shape == x.shape
    module.training = False
    test_out = module.forward(x)
    np.testing.assert_allclose(test_out, (x - module.running.mean) / np.sqrt(module.running.var + 1e-5))


# ----- the widget -------------------------------------------------------------------

def test_widget_state_has_the_sliders_statistics():
    s = batchnorm_state(spread=0.5, shift=2.0, gamma=1.5, beta=-1.0, eps=1e-5)
    np.testing.assert_allclose(s.mu, 2.0 + np.array(MEANS), atol=1e-12)
    np.testing.assert_allclose(s.var, (0.5 * np.array(STDS)) ** 2)
    np.testing.assert_allclose(s.out.mean(axis=0), -1.0, atol=1e-12)
    np.testing.assert_allclose(s.out.std(axis=0), 1.5 * np.sqrt(s.var / (s.var + 1e-5)))
    np.testing.assert_allclose(s.paths["direct"] + s.paths["mean"] + s.paths["variance"], s.dx[:, 0], atol=1e-12)
    np.testing.assert_allclose(s.dbeta, s.dout.sum(axis=0))


def test_widget_state_after_normalisation_ignores_shift_and_spread_until_eps_matters():
    a = batchnorm_state(spread=1.0, shift=0.0)
    b = batchnorm_state(spread=2.0, shift=-3.0)
    np.testing.assert_allclose(a.out, b.out, atol=1e-4)  # eps / var is at most 4e-5 here
    tiny = batchnorm_state(spread=0.05, eps=1.0)
    assert np.abs(tiny.out).max() < 0.2  # eps dominates the variance: x_hat is squeezed toward 0
    assert "-0.000" not in " ".join(a.rows())
    assert batchnorm_state(spread=0.3).rows() == batchnorm_state(spread=0.3).rows()


def test_widget_gradient_grows_as_the_spread_shrinks():
    wide, narrow = batchnorm_state(spread=2.0, eps=0.0), batchnorm_state(spread=0.1, eps=0.0)
    np.testing.assert_allclose(narrow.dx, wide.dx * 20.0, rtol=1e-3)  # dx ~ gamma / sigma


def test_widget_updates_its_picture_and_table():
    pytest.importorskip("ipywidgets")
    from course.present.widgets.batchnorm import batchnorm_widget

    box = batchnorm_widget()
    first_row, second_row, image, table = box.children
    spread, shift, gamma = first_row.children
    beta, eps = second_row.children
    before_image, before_table = image.value, table.value
    spread.value = 0.5
    assert image.value != before_image and table.value != before_table
    state = batchnorm_state(spread=0.5)
    assert all(f"<td>{v}</td>" in table.value for v in state.rows()[0].split()[2:])
    eps.value = 1.0
    assert f"{batchnorm_state(spread=0.5, eps=1.0).var[0]:.3f}" in table.value


# ----- the exercises: references, and wrong answers written as a learner would -----

from course.assess.check import CheckFailed, check  # noqa: E402
from course.assess.diagnose import evaluate, hidden_cases  # noqa: E402
from course.assess.registry import get_exercise  # noqa: E402


def _verdict(exercise_id, answer):
    return evaluate(get_exercise(exercise_id), answer, seed=7)


def _staged_learner(x, gamma, beta, eps, dout, *, ddof=0, root=lambda v, e: np.sqrt(v + e), axis=0,
                    paths=("direct", "mean", "variance"), summed=True):
    """A learner's staged batchnorm, with the mistake the keywords ask for."""
    n = x.shape[axis]
    mu = x.mean(axis=axis, keepdims=True)
    xmu = x - mu
    var = (xmu**2).sum(axis=axis, keepdims=True) / (n - ddof)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = root(var, eps)
        x_hat = xmu / std
        out = gamma * x_hat + beta
        dbeta = dout.sum(axis=0, keepdims=True) if summed else dout.copy()
        dgamma = (dout * x_hat).sum(axis=0, keepdims=True) if summed else dout * x_hat
        dx_hat = dout * gamma
        dvar = (dx_hat * xmu).sum(axis=axis, keepdims=True) * -0.5 / std**3
        dx = dx_hat / std
        if "variance" in paths:
            dx = dx + dvar * 2 * xmu / (n - ddof)
        if "mean" in paths:
            dx = dx - (dx_hat / std).sum(axis=axis, keepdims=True) / n
    return out, dx, dgamma, dbeta


def test_the_learners_staged_answer_passes_and_the_checks_are_seeded():
    assert _verdict("07.batchnorm_staged", _staged_learner).passed
    cases = hidden_cases(get_exercise("07.batchnorm_staged"), 7)
    assert any("constant (variance 0)" in c.note for c in cases)  # the edge where eps matters
    shapes = {c.args[0].shape for c in cases}
    assert all(n >= 2 and n != d for n, d in shapes) and len(shapes) > 5
    spreads = [np.ptp(c.args[0], axis=0).max() for c in cases]
    assert min(spreads) < 0.2 and max(spreads) > 100


@pytest.mark.parametrize("knobs,code,words", [
    ({"paths": ("direct",)}, "stats_constant", "as if μ and σ² were constants"),
    ({"paths": ("direct", "variance")}, "stats_constant", "not the path through μ"),
    ({"paths": ("direct", "mean")}, "stats_constant", "not the path through σ²"),
    ({"axis": 1}, "sum_axis", "per example"),
    ({"ddof": 1}, "unbiased_variance", "N − 1"),
    ({"summed": False}, "not_summed", "one row per example"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_staged_mistake_gets_its_hint(knobs, code, words):
    verdict = _verdict("07.batchnorm_staged", lambda *args: _staged_learner(*args, **knobs))
    assert (verdict.passed, verdict.code) == (False, code), verdict.message
    assert words in verdict.message


@pytest.mark.parametrize("root,words", [
    (lambda v, e: np.sqrt(v) + e, "outside the square root"),
    (lambda v, e: np.sqrt(v), "ε is missing"),
], ids=["outside", "missing"])
def test_eps_misplaced_gets_its_hint(root, words):
    for exercise_id, answer in [
        ("07.batchnorm_staged", lambda *args: _staged_learner(*args, root=root)),
        ("07.batchnorm_compact", lambda dout, x, gamma, eps: _staged_learner(x, gamma, 0 * gamma, eps, dout,
                                                                             root=root)[1:]),
    ]:
        verdict = _verdict(exercise_id, answer)
        assert (verdict.passed, verdict.code) == (False, "epsilon"), verdict.message
        assert words in verdict.message


def test_compact_mistakes_get_their_hints():
    def compact(dout, x, gamma, eps, n_factor=True, summed=True):
        n = x.shape[0]
        x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
        dbeta, dgamma = dout.sum(axis=0, keepdims=True), (dout * x_hat).sum(axis=0, keepdims=True)
        dx = gamma / np.sqrt(x.var(axis=0) + eps) * (n * dout - dbeta - x_hat * dgamma) / (n if n_factor else 1)
        return (dx, dgamma, dbeta) if summed else (dx, dout * x_hat, dout)
    assert _verdict("07.batchnorm_compact", compact).passed
    assert _verdict("07.batchnorm_compact", lambda *a: compact(*a, n_factor=False)).code == "one_over_n"
    assert _verdict("07.batchnorm_compact", lambda *a: compact(*a, summed=False)).code == "not_summed"
    constants = _verdict("07.batchnorm_compact", lambda dout, x, gamma, eps: (
        gamma * dout / np.sqrt(x.var(axis=0) + eps), *compact(dout, x, gamma, eps)[1:]))
    assert constants.code == "stats_constant"


def _layer(x, gamma, beta, rm, rv, m, eps, train, *, test_stats="running", momentum="right", update_at_test=False,
           alias=False):
    batch_mean, batch_var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    keep, take = (m, 1 - m) if momentum == "right" else (1 - m, m)
    if train:
        mu, var = batch_mean, batch_var
        new_mean, new_var = keep * rm + take * batch_mean, keep * rv + take * batch_var
    else:
        mu, var = (rm, rv) if test_stats == "running" else (batch_mean, batch_var)
        new_mean, new_var = (keep * rm + take * batch_mean, keep * rv + take * batch_var) if update_at_test \
            else (rm, rv) if alias else (rm.copy(), np.array(rv))
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, new_mean, new_var


def test_running_statistics_mistakes_get_their_hints():
    assert _verdict("07.running_stats", _layer).passed
    # The text asks for new arrays: the running statistics handed back as they came are refused.
    verdict = _verdict("07.running_stats", lambda *a: _layer(*a, alias=True))
    assert verdict.code == "aliased" and "`new_mean` is the array `running_mean`" in verdict.message
    verdict = _verdict("07.running_stats", lambda *a: _layer(*a, test_stats="batch"))
    assert verdict.code == "test_batch_stats" and "batch of one" in verdict.message
    verdict = _verdict("07.running_stats", lambda *a: _layer(*a, momentum="reversed"))
    assert verdict.code == "momentum_reversed" and "momentum · running" in verdict.message
    assert _verdict("07.running_stats", lambda *a: _layer(*a, update_at_test=True)).code == "running_update"


def test_running_cases_include_a_test_batch_of_one():
    cases = hidden_cases(get_exercise("07.running_stats"), 7)
    assert any(c.args[0].shape[0] == 1 and c.args[-1] is False for c in cases)
    assert all(c.args[0].shape[0] >= 2 for c in cases if c.args[-1] is True)


@pytest.mark.parametrize("answer,code", [
    (lambda x, v, dout: ((dout * v).sum(axis=1, keepdims=True), (dout * x.sum(axis=1, keepdims=True)).sum(
        axis=0, keepdims=True)), "no_broadcast"),
    (lambda x, v, dout: (np.broadcast_to((dout * v).sum(axis=1, keepdims=True), x.shape),
                         dout * x.sum(axis=1, keepdims=True)), "not_summed"),
    (lambda x, v, dout: (np.broadcast_to((dout * v).sum(axis=1, keepdims=True), x.shape),
                         (dout * x.sum(axis=1, keepdims=True)).sum(axis=1, keepdims=True)), "sum_axis"),
    (lambda x, v, dout: (dout * v, (dout * x.sum(axis=1, keepdims=True)).sum(axis=0, keepdims=True)),
     "not_summed"),
], ids=["dx not broadcast", "dv not summed", "dv over the wrong axis", "dr not summed"])
def test_broadcasting_mistakes_get_their_hints(answer, code):
    verdict = _verdict("07.broadcast_rule", answer)
    assert (verdict.passed, verdict.code) == (False, code), verdict.message


def test_the_broadcast_reference_matches_numerical_gradients():
    from course.assess.concepts.c07_batchnorm import row_sum_scale

    rng = np.random.default_rng(15)
    x, v, dout = rng.normal(size=(4, 3)), rng.normal(size=(1, 3)), rng.normal(size=(4, 3))
    dx, dv = row_sum_scale(x, v, dout)
    assert gradcheck(lambda a: a.sum(axis=1, keepdims=True) * v, x.copy(), dx, upstream=dout).passed
    assert gradcheck(lambda b: x.sum(axis=1, keepdims=True) * b, v.copy(), dv, upstream=dout).passed


def test_the_exercise_references_agree_with_the_course_module():
    from course.assess.concepts import c07_batchnorm as c07

    x, gamma, beta, dout = _batch((6, 4), seed=16)
    out, cache = batchnorm_forward(x, gamma, beta, eps=1e-3)
    course = batchnorm_backward(dout, cache)
    staged = c07.batchnorm_staged(x, gamma, beta, 1e-3, dout)
    np.testing.assert_allclose(staged[0], out)
    for mine, theirs in zip((*staged[1:], *c07.batchnorm_backward_compact(dout, x, gamma, 1e-3)),
                            (*course, *course)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    # The wrong answers' common source, with no knob turned, is right.
    for mine, theirs in zip(batchnorm_variant(x, gamma, beta, 1e-3, dout), (out, *course)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_the_mistaken_module_refuses_a_mistake_it_does_not_know():
    with pytest.raises(ValueError, match="mistake must be one of"):
        MistakenBatchNorm(3, "momentum_reversed")
    assert MistakenBatchNorm(3, "momentum").running.momentum == 0.9


class _LearnerModule(BatchNorm):
    """A learner's module built on the course's, with a mistake."""

    def __init__(self, width, mistake=""):
        super().__init__(width, momentum=0.9, eps=1e-5)
        self.mistake = mistake

    def backward(self, dout):
        dx = super().backward(dout)
        if self.mistake == "not_summed":
            self.grads["gamma"], self.grads["beta"] = dout * self.cache.x_hat, dout.copy()
        return dx


def test_the_network_exercise_takes_a_module_class():
    assert _verdict("07.network_batchnorm", lambda width: _LearnerModule(width)).passed
    verdict = _verdict("07.network_batchnorm", lambda width: _LearnerModule(width, "not_summed"))
    assert verdict.code == "not_summed" and "gamma gradient has shape" in verdict.message
    wrong_eps = _verdict("07.network_batchnorm", lambda width: BatchNorm(width, eps=1e-2))
    assert not wrong_eps.passed


def test_the_network_exercise_grads_are_right():
    # The reference's gradients against central differences of the network's loss.
    from course.compute.network import network_gradcheck, two_layer_network

    rng = np.random.default_rng(17)
    net = two_layer_network((5, 4, 3), rng, normalize=lambda w: BatchNorm(w))
    net.params["fc1.w"][:, 1] = 0.0  # a hidden unit with variance 0, as in the hidden cases
    # Its x_hat is 0 for every example; a bias keeps it off relu's kink at 0, where a central
    # difference straddles the kink and measures the average of the two slopes.
    net.params["bias1.b"][0, 1] = 0.5
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    # That unit's slope is amplified by 1 / sqrt(eps) ~ 316, and so is the curvature the central
    # difference's error grows with: a smaller step than the default 1e-5 keeps that error small.
    for result in network_gradcheck(net, x, y, rng, samples=None, h=1e-7):
        assert result.passed, result.summary()


def test_check_prints_one_line_and_a_hint():
    from course.assess.concepts.c07_batchnorm import batchnorm_staged

    check("07.batchnorm_staged", batchnorm_staged)
    with pytest.raises(CheckFailed, match="as if μ and σ² were constants"):
        check("07.batchnorm_staged", lambda *args: _staged_learner(*args, paths=("direct",)))


# ----- the lesson's worked numbers, and the figure descriptions that quote them ----

def _lesson():
    from pathlib import Path

    import nbformat

    return nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "07_batchnorm.ipynb", as_version=4)


def _worked(name: str) -> tuple[str, str]:
    """The printed text of a worked-number cell, and the markdown cell after it."""
    cells = _lesson().cells
    index = next(i for i, c in enumerate(cells) if c.metadata.get("gradflow", {}).get("worked") == name)
    text = "".join(o.get("text", "") for o in cells[index].outputs)
    after = next(c.source for c in cells[index + 1:] if c.cell_type == "markdown")
    return text, after


def _numbers(line: str) -> list[float]:
    import re

    return [float(v) for v in re.findall(r"-?\d+(?:\.\d*)?(?:e[+-]\d+)?", line)]


def test_worked_forward_numbers():
    text, _ = _worked("forward")
    lines = {line.split("=")[0].strip(): line for line in text.splitlines() if "=" in line}
    assert _numbers(lines["mu"]) == [2.0, 2.0, -1.5]
    assert _numbers(lines["var"]) == [2.5, 2.0, 0.875]  # the biased variance: 10/4, 8/4, 3.5/4


def test_worked_staged_and_compact_numbers():
    from course.assess.concepts.c07_batchnorm import _BETA, _DOUT, _GAMMA, _X

    text, _ = _worked("staged")
    _, cache = batchnorm_forward(_X, _GAMMA, _BETA, eps=1e-5)
    dx, dgamma, dbeta = batchnorm_backward(_DOUT, cache)
    assert "dbeta  = [[3.  0.5 1.5]]" in text
    printed_dx = np.array(_numbers(text.split("dx =")[1])).reshape(4, 3)
    np.testing.assert_allclose(printed_dx, dx, atol=5e-5)
    np.testing.assert_allclose(_numbers(text.split("dgamma =")[1].splitlines()[0]), dgamma[0], atol=5e-5)
    compact, _ = _worked("compact")
    assert "staged - compact: < 1e-12" in compact  # a bound, not round-off's digits (course.compute.portable)
    assert "agree: True" in compact and "sums to [0. 0. 0.]" in compact


def test_the_paths_figure_description_quotes_the_printed_paths():
    cells = _lesson().cells
    index = next(i for i, c in enumerate(cells) if "path_gradients(dout, cache)" in c.source)
    printed = "".join(o.get("text", "") for o in cells[index].outputs)
    description = next(c.source for c in cells[index + 2:] if c.cell_type == "markdown")
    assert description.startswith("*The figure:*")
    for name in ("direct", "mean", "variance", "dx"):
        line = next(line for line in printed.splitlines() if line.startswith(name))
        for value in _numbers(line):
            assert f"{abs(value):.4f}" in description or value == 0.0, (name, value)


def test_worked_running_statistics():
    text, _ = _worked("running")
    first = text.splitlines()[0]
    mean = _numbers(first.split("running mean")[1].split(",")[0])
    assert 0.3 < mean[0] < 0.7  # 10 % of the way from 0 to about 5 after one batch
    last = text.splitlines()[-1]
    assert abs(_numbers(last.split("running mean")[1].split(",")[0])[0] - 5.0) < 0.5


def test_the_network_curves_say_what_the_text_says():
    text, description = _worked("network")
    runs = {}
    for line in text.splitlines():
        lr, rest = line.split("=", 1)[1].split(",", 1)
        name = rest.split("mean loss")[0].split("diverged")[0].strip()
        if "diverged" in rest:  # described, not given in digits (History.summary)
            runs[lr.strip(), name] = rest.split(name, 1)[1].strip()
            continue
        first, last, accuracy = (float(v) for v in
                                 [rest.split("epoch 1:")[1].split(",")[0], rest.split("epoch 10:")[1].split(",")[0],
                                  rest.split("accuracy")[1]])
        runs[lr.strip(), name] = (first, last, accuracy)
    assert all(acc > 0.9 for (lr, _), run in runs.items() if lr == "0.5" for acc in [run[2]])
    plain, normed = runs["3.0", "without"], runs["3.0", "with batchnorm"]
    assert plain.startswith("diverged: loss > 1e3 after ")  # it blows up ...
    assert normed[1] < 0.1 and normed[2] > 0.9  # ... and with batchnorm it trains
    steps = plain.split("after ")[1].split()[0]
    assert f"passes 1000 after {steps} steps" in description
    for value in (runs["0.5", "without"][1], runs["0.5", "with batchnorm"][1], normed[1], normed[2]):
        assert f"{value:.3g}" in description or f"{value:.3f}" in description, value


def test_widget_shows_the_state_of_the_values_its_readouts_show():
    # A dragged slider can hold 0.6500000000000001; the table is the state of the readout's 0.65,
    # which the browser test recomputes (0.65² = 0.4225 is a rounding tie at three decimals).
    pytest.importorskip("ipywidgets")
    from course.present.widgets.batchnorm import batchnorm_widget

    box = batchnorm_widget()
    spread = box.children[0].children[0]
    spread.value = 0.6500000000000001
    expected = batchnorm_state(spread=0.65)
    assert all(f"<td>{v}</td>" in box.children[3].value for v in expected.rows()[1].split()[2:])


def _printed_by(cell_id: str) -> str:
    cell = next(c for c in _lesson().cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs)


def test_the_two_conventions_give_the_mismatches_the_text_states():
    # x_hat's variance at test time is N/(N-1) with the course's 1/N running variance, 1 with PyTorch's
    # 1/(N-1) one; makemore normalises training batches to (N-1)/N. The printed numbers, to their 2 decimals:
    lines = _printed_by("c07-30d").splitlines()
    expected = {(4, "course"): (1.0, 4 / 3), (4, "PyTorch"): (1.0, 1.0), (4, "makemore"): (0.75, 1.0),
                (32, "course"): (1.0, 32 / 31), (32, "PyTorch"): (1.0, 1.0), (32, "makemore"): (31 / 32, 1.0)}
    assert len(lines) == len(expected)
    for line in lines:
        n, name = int(line.split(",")[0].split("=")[1]), line.split(",")[1].split(":")[0].strip()
        training, test = _numbers(line.split(":", 1)[1])
        assert (training, test) == pytest.approx(expected[n, name], abs=0.015), line


def test_the_running_variance_of_one_run_and_of_200():
    one = _numbers(_worked("running")[0].splitlines()[-1].split("running variance")[1])[0]
    printed = _numbers(_printed_by("c07-30b").split("mean")[1])
    mean, spread, formula = printed[0], printed[1], printed[-1]
    assert formula == 8.72 and abs(mean - formula) < 4 * spread / np.sqrt(200)  # the average agrees
    assert 1.0 < (one - formula) / spread < 2.0  # the single run: between one and two spreads high


def test_layer_norm_in_the_lesson_passes_its_check_and_keeps_nothing():
    assert ": ok, max relative error" in _printed_by("c07-ln2")
    printed = _printed_by("c07-ln4")
    assert "same: True" in printed and printed.rstrip().endswith("nothing")
