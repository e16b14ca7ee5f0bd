"""Concept 08, An attention head, backward by hand: the compute pair against numerical gradients, the widget's
state, and a wrong answer per hint (draft made by `python -m course new`)."""

import numpy as np

from course.assess.check import check
from course.assess.concepts import c08_attention as concept
from course.assess.diagnose import evaluate
from course.assess.registry import exercises_of
from course.compute.gradcheck import numerical_gradient
from course.compute.attention import scale_backward, scale_forward
from course.present.widgets.attention import attention_state, attention_widget

SEED = 3


def test_backward_matches_numerical_gradients():
    rng = np.random.default_rng(0)
    x, dout, a = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), 1.7
    dx, da = scale_backward(dout, scale_forward(x, a)[1])
    np.testing.assert_allclose(dx, numerical_gradient(lambda v: scale_forward(v, a)[0], x, dout), rtol=1e-6)
    numeric_da = numerical_gradient(lambda v: scale_forward(x, float(v[0]))[0], np.array([a]), dout)[0]
    np.testing.assert_allclose(da, numeric_da, rtol=1e-6)


def test_the_concept_s_exercises_are_registered():
    assert [e.id for e in exercises_of("08_attention")] == ["08.example"]


def test_the_reference_passes_its_check(capsys):
    check("08.example", concept.scale_gate_backward)
    assert capsys.readouterr().out.startswith("✔ 08.example")


def test_using_the_output_for_the_input_gets_its_hint():
    verdict = evaluate(concept.EXAMPLE, lambda x, a, dout: (a * dout, float(np.sum(a * x * dout))), SEED)
    assert verdict.code == "output_for_input" and "*input* x" in verdict.message


def test_widget_state_and_widget():
    state = attention_state(2.0)
    np.testing.assert_allclose(state.dx, np.full((1, 3), 2.0))
    assert "gradflow-attention" in attention_widget()._dom_classes
