"""The chain-rule widget: its state function against numerical gradients, and its wiring."""

import numpy as np
import pytest

from course.compute.gradcheck import numerical_gradient
from course.present.widgets.chain_rule import EXPRESSIONS, chain_rule_state, summary_html


@pytest.mark.parametrize("expression", list(EXPRESSIONS))
@pytest.mark.parametrize("point", [(-2.0, 5.0, -4.0), (1.5, 1.5, 2.0), (0.5, -3.0, 0.0)])
def test_state_gradients_match_numerical(expression, point):
    state = chain_rule_state(expression, *point)

    def f(v):
        return chain_rule_state(expression, *v).f

    numeric = numerical_gradient(f, np.array(point))
    np.testing.assert_allclose([state.grads[k] for k in "xyz"], numeric, rtol=1e-6, atol=1e-8)


def test_worked_example_state():
    state = chain_rule_state("(x + y) · z", -2.0, 5.0, -4.0)
    assert state.f == -12.0
    assert state.grads == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert state.summary() == "f = -12.000   ∂f/∂x = -4.000   ∂f/∂y = -4.000   ∂f/∂z = 3.000"


def test_max_routes_to_the_winner_and_splits_at_a_tie():
    assert chain_rule_state("max(x, y) · z", 3.0, 1.0, 2.0).grads == {"x": 2.0, "y": 0.0, "z": 3.0}
    assert chain_rule_state("max(x, y) · z", 1.0, 1.0, 2.0).grads["x"] == 1.0


def test_unknown_expression_is_refused():
    with pytest.raises(KeyError, match="choose one of"):
        chain_rule_state("x ** y", 1.0, 2.0, 3.0)


def test_widget_redraws_when_a_slider_moves(close_figures):
    from course.present.widgets.chain_rule import chain_rule_widget

    box = chain_rule_widget()
    choice, sliders, numbers, image = box.children
    before_png, before_text = image.value, numbers.value
    sliders.children[2].value = 3.0  # z
    assert numbers.value != before_text
    assert image.value != before_png
    state = chain_rule_state(choice.value, *(s.value for s in sliders.children))
    assert numbers.value == summary_html(state)
    assert f"= {state.f:.3f}" in numbers.value and f"∂f/∂z = {state.grads['z']:.3f}" in numbers.value
    choice.value = "σ(x · y + z)"
    assert numbers.value == summary_html(chain_rule_state("σ(x · y + z)", *(s.value for s in sliders.children)))
