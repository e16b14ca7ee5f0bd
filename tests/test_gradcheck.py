"""The gradient checker: it must find wrong gradients, not only bless right ones."""

import numpy as np
import pytest

from course.compute.gradcheck import compare_gradients, gradcheck, numerical_gradient, relative_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]])
    numeric = numerical_gradient(lambda v: np.sum(np.sin(v) * v), x)
    np.testing.assert_allclose(numeric, np.cos(x) * x + np.sin(x), rtol=1e-7)


def test_upstream_gradient_weights_each_output():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 4))
    x = rng.normal(size=(2, 3))
    upstream = rng.normal(size=(2, 4))
    numeric = numerical_gradient(lambda v: v @ w, x, upstream=upstream)
    np.testing.assert_allclose(numeric, upstream @ w.T, rtol=1e-6)


def test_x_is_restored_after_checking():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    numerical_gradient(lambda v: np.sum(v**2), x)
    assert np.array_equal(x, before)


def test_gradcheck_passes_a_right_gradient():
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    result = gradcheck(lambda v: np.sum(v**3), x, 3 * x**2)
    assert result.passed
    assert result.max_relative_error < 1e-8


def test_gradcheck_reports_the_worst_entry_of_a_wrong_gradient():
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    analytic = 3 * x**2
    analytic[1, 0] += 0.5  # one wrong entry
    result = gradcheck(lambda v: np.sum(v**3), x, analytic, name="dx")
    assert not result.passed
    assert result.worst_index == (1, 0)
    assert result.numeric == pytest.approx(12.0, rel=1e-6)
    assert result.analytic == pytest.approx(12.5)
    assert "dx: MISMATCH" in result.summary() and "[1, 0]" in result.summary()
    assert result.to_dict()["worst_index"] == [1, 0]
    assert "MISMATCH" in result._repr_html_()


def test_a_sign_error_is_caught():
    x = np.array([0.3, 0.7])
    assert not gradcheck(lambda v: np.sum(np.exp(v)), x, -np.exp(x)).passed


def test_nan_in_analytic_gradient_fails():
    result = compare_gradients(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert not result.passed
    assert result.worst_index == (1,)


def test_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="shape of its variable"):
        compare_gradients(np.zeros((2, 3)), np.zeros((3, 2)), name="dW")


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda v: v, np.array([1, 2]))


def test_relative_error_is_zero_for_two_zeros():
    assert relative_error(np.zeros(3), np.zeros(3)).max() == 0.0
