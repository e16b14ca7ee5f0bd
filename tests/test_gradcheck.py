"""The gradient checker: it must find wrong gradients, not only bless right ones."""

import numpy as np
import pytest

from course.compute.gradcheck import GradCheckResult, compare_gradients, gradcheck, numerical_gradient, relative_error


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


# ----- no false alarm near zero -------------------------------------------------


def test_a_tiny_gradient_against_a_numerical_zero_passes():
    # d cos(x)/dx at x = 0 is exactly 0; a formula that leaves 1e-13 of round-off is right.
    x = np.array([0.0, 0.0])
    result = gradcheck(lambda v: np.cos(v), x, np.array([1e-13, -1e-13]))
    assert result.passed, result.summary()


def test_a_tiny_entry_beside_large_ones_passes():
    # The third entry's true gradient is 1e-9; the central difference cannot resolve it
    # next to entries of 100, so an analytic 0 there is not an error.
    x = np.array([100.0, -100.0, 1e-9])
    result = gradcheck(lambda v: 0.5 * v**2, x, np.array([100.0, -100.0, 0.0]))
    assert result.passed, result.summary()


def test_a_wrong_small_entry_beside_large_ones_still_fails():
    x = np.array([100.0, -100.0, 0.01])
    result = gradcheck(lambda v: 0.5 * v**2, x, np.array([100.0, -100.0, 0.02]))
    assert not result.passed
    assert result.worst_index == (2,)


def test_the_guarantee_in_the_docstring_holds_at_its_boundary():
    numeric = np.array([1.0, 2.0])
    just_in = numeric * (1 + 1.9e-6)     # relative error ~ 0.95e-6
    just_out = numeric * (1 + 2.1e-6)    # relative error ~ 1.05e-6
    assert compare_gradients(just_in, numeric).passed
    assert not compare_gradients(just_out, numeric).passed


def test_float32_input_gets_a_message_that_says_what_to_do():
    with pytest.raises(TypeError, match=r"float32.*astype\(np.float64\)"):
        gradcheck(lambda v: v**2, np.array([1.0, 2.0], dtype=np.float32), np.array([2.0, 4.0]))
    with pytest.raises(TypeError, match="got a list"):
        numerical_gradient(lambda v: v, [1.0, 2.0])


# ----- a wrong gradient says how it is wrong --------------------------------------

RNG = np.random.default_rng(7)
X34 = RNG.normal(size=(3, 4))
W44 = RNG.normal(size=(4, 4))
UP = RNG.normal(size=(3, 4))


def check_matmul_dx(dx):
    """Gradient of sum(UP * (x @ W44)) with respect to x (3 x 4): right answer UP @ W44.T."""
    return gradcheck(lambda v: v @ W44, X34.copy(), dx, upstream=UP, name="dx")


def test_a_right_gradient_has_no_diagnosis():
    result = check_matmul_dx(UP @ W44.T)
    assert result.passed and result.diagnosis == ""


@pytest.mark.parametrize(
    "factor, words",
    [(-1.0, "sign is flipped"), (2.0, "twice"), (0.5, "half"), (3.0, "size of axis 0"),
     (4.0, "size of axis 1"), (1 / 3, "1/3"), (1.7, "1.7 x")],
)
def test_a_constant_factor_is_named(factor, words):
    result = check_matmul_dx(factor * (UP @ W44.T))
    assert not result.passed
    assert "constant factor" in result.diagnosis and words in result.diagnosis, result.diagnosis
    assert result.diagnosis in result.summary()


def test_a_transposed_square_gradient_is_named():
    w = RNG.normal(size=(4, 4))
    x = RNG.normal(size=(3, 4))
    up = RNG.normal(size=(3, 4))
    result = gradcheck(lambda v: x @ v, w.copy(), (x.T @ up).T, upstream=up, name="dW")
    assert not result.passed and "transpose" in result.diagnosis, result.diagnosis


def test_a_transposed_rectangular_gradient_is_named_in_the_shape_error():
    w = RNG.normal(size=(4, 2))
    x = RNG.normal(size=(3, 4))
    up = RNG.normal(size=(3, 2))
    with pytest.raises(ValueError, match=r"transposed \(its transpose matches"):
        gradcheck(lambda v: x @ v, w.copy(), (x.T @ up).T, upstream=up, name="dW")


def test_zeros_where_the_gradient_is_not_zero_are_named():
    dx = UP @ W44.T
    assert "all zeros" in check_matmul_dx(np.zeros_like(dx)).diagnosis
    dx[:, 2] = 0.0
    diagnosis = check_matmul_dx(dx).diagnosis
    assert diagnosis.startswith("Zero in 3 of 12 entries"), diagnosis


def test_wrong_only_in_some_rows_or_columns_is_named():
    dx = UP @ W44.T
    rows = dx.copy()
    rows[1] += 1.0
    assert "only in rows [1]" in check_matmul_dx(rows).diagnosis
    cols = dx.copy()
    cols[:, [0, 3]] *= 1.5
    assert "only in columns [0, 3]" in check_matmul_dx(cols).diagnosis


def test_one_wrong_entry_per_row_points_at_the_chosen_entries():
    # The softmax gradient with the -1 put at a fixed column instead of each row's class.
    scores = RNG.normal(size=(3, 4))
    labels = np.array([2, 0, 3])

    def loss(s):
        shifted = s - s.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -logp[np.arange(3), labels].mean()

    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    wrong = p.copy()
    wrong[:, 1] -= 1.0
    wrong /= 3
    diagnosis = gradcheck(loss, scores.copy(), wrong, name="dscores").diagnosis
    assert "exactly one entry of every row" not in diagnosis  # two wrong entries per row here
    right_column_missing = p.copy()
    right_column_missing /= 3    # the -1 forgotten: wrong exactly at each row's class
    diagnosis = gradcheck(loss, scores.copy(), right_column_missing, name="dscores").diagnosis
    assert "exactly one entry of every row (columns [2, 0, 3])" in diagnosis, diagnosis


def test_a_single_wrong_entry_is_located():
    dx = UP @ W44.T
    dx[2, 1] += 0.3
    assert check_matmul_dx(dx).diagnosis == "Only the entry at [2, 1] disagrees."


# ----- the summary prints what every machine prints alike ----------------------------


def test_a_passing_summary_gives_the_tolerance_as_its_bound_and_no_worst_entry():
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    result = gradcheck(lambda v: np.sum(v**3), x, 3 * x**2, name="dx")
    assert result.summary() == "dx: ok, max relative error < 1e-6 (the tolerance)"
    # the same check under another BLAS kernel: another worst entry, other digits, another decade
    runs = [GradCheckResult("dx", True, error, 1e-6, index, 1e-4, 1e-4)
            for error, index in [(6.6e-10, (0, 2)), (8.6e-10, (0, 6)), (1.1e-9, (0, 3))]]
    assert {r.summary() for r in runs} == {"dx: ok, max relative error < 1e-6 (the tolerance)"}


def test_a_clear_failure_says_where_and_how_much():
    result = GradCheckResult("dW", False, 0.2382, 1e-6, (3, 0), -0.530888, -0.863083, "Off by a factor.")
    assert result.summary() == ("dW: MISMATCH, max relative error 2.4e-01 (tolerance 1e-6) at [3, 0]:"
                                " numeric -0.5309, analytic -0.8631. Off by a factor.")


def test_a_failure_at_round_off_size_gives_only_its_band():
    # 9.1e-06 against a tolerance of 1e-6: failed, but its digits and its worst entry are noise
    result = GradCheckResult("fc2.w", False, 9.1e-6, 1e-6, (0, 2), 8.95373e-07, 8.95389e-07)
    assert result.summary() == "fc2.w: MISMATCH, max relative error > 1e-6 (the tolerance), < 1e-3"
    broken = GradCheckResult("dx", False, float("inf"), 1e-6, (1,), 0.5, float("nan"), "nan entries.")
    assert broken.summary() == "dx: MISMATCH, max relative error inf (tolerance 1e-6) at [1]: numeric 0.5, analytic nan. nan entries."


def test_below_and_power_of_ten():
    from course.compute.portable import below, power_of_ten

    assert [below(v, 1e-12) for v in (1.1e-15, 8.9e-16, 0.0)] == ["< 1e-12"] * 3
    assert below(3e-12, 1e-12) == "3.0e-12"  # a surprise is shown, not hidden
    assert [power_of_ten(v) for v in (1e-6, 1e3, 1e-3, 2e-5)] == ["1e-6", "1e3", "1e-3", "2e-05"]
