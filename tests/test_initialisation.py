"""The initialisation experiment of lessons 06 and 07 (course.compute.initialisation): He's scale
keeps the spreads of a deep relu stack, a gain g scales them by about g per layer, batch
normalisation divides the gain out; and the lessons' figures say what their printed numbers say."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import LESSONS, gradflow, read

from course.compute.initialisation import GAINS, deep_stack, stack_spreads


def test_he_scale_keeps_the_spread_through_ten_relu_layers_both_ways():
    s = stack_spreads(1.0)
    assert np.all((s.activations > 0.6) & (s.activations < 1.3))
    assert np.all((s.gradients > 0.6) & (s.gradients < 1.3))


@pytest.mark.parametrize("gain", [0.5, 2.0, 1 / np.sqrt(2)])
def test_a_gain_scales_the_spread_by_about_the_gain_per_layer(gain):
    s = stack_spreads(gain)
    up = np.exp(np.mean(np.diff(np.log(s.activations))))          # the mean factor per layer, forward
    down = np.exp(np.mean(np.diff(np.log(s.gradients[::-1]))))     # and backward, from the top
    assert up == pytest.approx(gain, rel=0.12) and down == pytest.approx(gain, rel=0.12)


def test_batchnorm_divides_the_gain_out():
    spreads = [stack_spreads(g, normalize=True) for g in GAINS.values()]
    for s in spreads[1:]:
        # the same but for eps, which weighs differently against a larger or a smaller variance
        np.testing.assert_allclose(s.activations, spreads[0].activations, rtol=1e-3)
        np.testing.assert_allclose(s.gradients, spreads[0].gradients, rtol=1e-3)
    # relu of a unit normal has spread sqrt(1/2 - 1/(2 pi)) = 0.58
    np.testing.assert_allclose(spreads[0].activations, np.sqrt(0.5 - 0.5 / np.pi), rtol=0.05)


def test_the_stack_is_built_from_the_course_modules_with_he_weights_times_the_gain():
    layers = deep_stack(3, 50, 2.0, np.random.default_rng(0), normalize=True)
    assert [type(m).__name__ for m in layers[0]] == ["FullyConnected", "BatchNorm", "Activation"]
    w = layers[1][0].params["w"]
    assert w.shape == (50, 50) and w.std() == pytest.approx(2.0 * np.sqrt(2 / 50), rel=0.1)


def _printed(stem: str, name: str) -> tuple[str, str]:
    cells = read(LESSONS / f"{stem}.ipynb").cells
    k = next(i for i, c in enumerate(cells) if gradflow(c).get("worked") == name)
    text = "".join(o.get("text", "") for o in cells[k].outputs)
    figure = next(c for c in cells[k + 1:] if c.cell_type == "code")
    alt = "".join(o.get("data", {}).get("text/plain", "") for o in figure.outputs)
    return text, alt


def test_lesson_06_prints_the_spreads_and_its_figure_quotes_them():
    text, alt = _printed("06_two_layer_net", "init")
    for name, gain in GAINS.items():
        s = stack_spreads(gain)
        line = next(line for line in text.splitlines() if line.startswith(name))
        assert f"{s.activations[9]:.2g}" in line and f"{s.gradients[0]:.2g}" in line
        assert f"{s.gradients[0]:.2g}" in alt
    assert re.search(r"0\.5 \(circles, dashed\)", alt)


def test_lesson_07_prints_equal_spreads_with_batchnorm():
    text, alt = _printed("07_batchnorm", "init")
    with_bn = [line.split("with batchnorm", 1)[1] for line in text.splitlines() if "with batchnorm" in line]
    assert len(with_bn) == 3 and len(set(with_bn)) == 1  # the three gains print the same numbers
    assert "lie on top of each other" in alt


# ----- exercise 06.he_scales: answers written as a learner would -------------------------------

from course.assess.diagnose import evaluate  # noqa: E402
from course.assess.registry import get_exercise  # noqa: E402


def _verdict(answer):
    return evaluate(get_exercise("06.he_scales"), answer, seed=5)


def test_right_answers_written_differently_pass():
    assert _verdict(lambda widths: np.sqrt(2 / np.array(widths[:-1]))).passed
    assert _verdict(lambda widths: np.array([(2 / w) ** 0.5 for w in widths][:-1])).passed


@pytest.mark.parametrize("answer, words", [
    (lambda widths: np.array([1 / np.sqrt(w) for w in widths[:-1]]), "sqrt(1 / fan-in)"),
    (lambda widths: np.sqrt(2 / np.array(widths[1:])), "fan-out"),
    (lambda widths: np.array([2 / w for w in widths[:-1]]), "variances;"),
])
def test_each_scale_mistake_gets_its_hint(answer, words):
    verdict = _verdict(answer)
    assert not verdict.passed and verdict.code == "init_scale" and words in verdict.message, verdict.message


def test_a_list_of_one_spread_too_many_is_a_count_or_shape_mistake():
    verdict = _verdict(lambda widths: np.sqrt(2 / np.array(widths)))
    assert not verdict.passed and verdict.code != "init_scale"


def test_he_scales_is_the_scale_the_network_draws():
    from course.assess.concepts.c06_two_layer_net import he_scales
    from course.compute.network import he_weights

    w = he_weights(400, 300, np.random.default_rng(0))
    assert w.std() == pytest.approx(he_scales((400, 300))[0], rel=0.01)
