"""The worked numbers of SYLLABUS §01 appear in the lesson, and are right."""

import re

import numpy as np
from conftest import LESSONS, gradflow, read

from course.compute.gradcheck import numerical_gradient
from course.compute.graph import sigmoid


def worked_text(name: str) -> str:
    nb = read(LESSONS / "01_chain_rule.ipynb")
    cell = next(c for c in nb.cells if gradflow(c).get("worked") == name)
    return "".join(o.get("text", "") for o in cell.outputs)


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", text)]


def test_compound_expression_numbers():
    text = worked_text("compound")
    assert "q = 3, f = -12" in text
    assert "df/dx = -4, df/dy = -4, df/dz = 3" in text
    oracle = numerical_gradient(lambda v: (v[0] + v[1]) * v[2], np.array([-2.0, 5.0, -4.0]))
    np.testing.assert_allclose(oracle, [-4, -4, 3], atol=1e-6)


def test_sigmoid_neuron_numbers():
    text = worked_text("neuron")
    assert "dot = 1, output = 0.7311, local gradient = 0.1966" in text
    assert "dx = [0.393, -0.590]" in text
    assert "dw = [-0.197, -0.393, 0.197]" in text
    # independent oracle: central differences of the whole neuron
    oracle = numerical_gradient(lambda v: sigmoid(v[0] * v[3] + v[1] * v[4] + v[2]),
                                np.array([2.0, -3.0, -3.0, -1.0, -2.0]))
    np.testing.assert_allclose(oracle, [-0.197, -0.393, 0.197, 0.393, -0.590], atol=5e-4)


def test_scaling_the_data_scales_the_weight_gradient():
    lines = worked_text("scaling").splitlines()
    small, large = (numbers(line.split("=", 1)[1]) for line in lines)
    np.testing.assert_allclose(np.array(large), 1000 * np.array(small))
