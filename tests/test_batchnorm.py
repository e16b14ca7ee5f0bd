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
