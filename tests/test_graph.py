"""The scalar graph node, against numerical differences as the oracle."""

import math

import numpy as np
import pytest

from course.compute.graph import Node, max_gate_shares, sigmoid, topological_order
from course.compute.gradcheck import numerical_gradient

TOL = 1e-6


def gradients(build, values):
    """Analytic gradients from Node.backward, and numerical ones, of build(*inputs)."""
    nodes = [Node(v, f"v{i}") for i, v in enumerate(values)]
    out = build(*nodes)
    out.backward()
    analytic = np.array([n.grad for n in nodes])

    def f(v):
        return build(*[Node(x) for x in v]).value

    numeric = numerical_gradient(f, np.array(values, dtype=np.float64))
    return out, analytic, numeric


EXPRESSIONS = {
    "add": (lambda a, b: a + b, [1.5, -2.0]),
    "sub": (lambda a, b: a - b, [1.5, -2.0]),
    "mul": (lambda a, b: a * b, [1.5, -2.0]),
    "div": (lambda a, b: a / b, [1.5, -2.0]),
    "pow": (lambda a: a**3, [1.3]),
    "neg_pow": (lambda a: a**-2, [0.7]),
    "exp": (lambda a: a.exp(), [0.4]),
    "sigmoid": (lambda a: a.sigmoid(), [-0.8]),
    "relu_pos": (lambda a: a.relu(), [0.8]),
    "relu_neg": (lambda a: a.relu(), [-0.8]),
    "relu_at_zero": (lambda a: a.relu(), [0.0]),
    "max": (lambda a, b: a.max(b), [0.3, 1.1]),
    "max_tie": (lambda a, b: a.max(b), [0.7, 0.7]),
    "constants": (lambda a: 2 * a + 1 - 3 / a, [1.7]),
    "fork": (lambda x, y: (x * y + x) * x, [1.2, -0.4]),
    "staged": (lambda x, y: (x + y.sigmoid()) / (x.sigmoid() + (x + y) ** 2), [3.0, -4.0]),
    "neuron": (lambda w0, x0, w1, x1, w2: (w0 * x0 + w1 * x1 + w2).sigmoid(), [2.0, -1.0, -3.0, -2.0, -3.0]),
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_backward_matches_numerical_gradient(name):
    build, values = EXPRESSIONS[name]
    _, analytic, numeric = gradients(build, values)
    np.testing.assert_allclose(analytic, numeric, rtol=TOL, atol=1e-8)


def test_forward_values():
    x, y, z = Node(-2, "x"), Node(5, "y"), Node(-4, "z")
    f = (x + y) * z
    assert f.value == -12.0
    assert Node(2.0).sigmoid().value == pytest.approx(1 / (1 + math.exp(-2)))
    assert Node(3.0).max(Node(4.0)).value == 4.0


def test_syllabus_worked_numbers():
    f, analytic, _ = gradients(EXPRESSIONS["staged"][0], [3.0, -4.0])
    assert f.value == pytest.approx(1.5456, abs=5e-5)
    np.testing.assert_allclose(analytic, [2.0596, 1.5922], atol=5e-5)
    out, analytic, _ = gradients(EXPRESSIONS["neuron"][0], [2.0, -1.0, -3.0, -2.0, -3.0])
    assert out.value == pytest.approx(0.7311, abs=5e-5)
    np.testing.assert_allclose(analytic, [-0.197, 0.393, -0.393, -0.590, 0.197], atol=5e-4)


def test_gradients_accumulate_at_forks():
    x = Node(3.0, "x")
    f = x * x + x  # x is used three times: df/dx = 2x + 1
    f.backward()
    assert x.grad == 7.0


def test_backward_twice_gives_the_same_gradients():
    x, y = Node(2.0), Node(-1.0)
    f = x * y + x
    f.backward()
    first = (x.grad, y.grad)
    f.backward()
    assert (x.grad, y.grad) == first


def test_a_chain_of_100000_nodes_works_without_recursion():
    x = Node(1.0, "x")
    out = x
    for _ in range(100_000):
        out = out * 1.0
    out.backward()
    assert x.grad == 1.0
    assert len(topological_order(out)) == 200_001  # each step adds a constant leaf and a gate


def test_topological_order_is_deterministic_and_inputs_come_first():
    def build():
        a, b = Node(1.0, "a"), Node(2.0, "b")
        return ((a * b).named("p") + a.max(b).named("m")).named("f")

    names = [[n.label or n.op for n in topological_order(build())] for _ in range(3)]
    assert names[0] == names[1] == names[2]
    order = topological_order(build())
    seen = set()
    for node in order:
        assert all(id(i) in seen for i in node.inputs)
        seen.add(id(node))


def test_inputs_are_kept_in_order_and_labelled():
    a, b = Node(1.0, "a"), Node(2.0, "b")
    q = (b * a).named("q")
    assert [n.label for n in q.inputs] == ["b", "a"]
    assert q.op == "*" and q.label == "q"
    assert "q" in repr(q)


def test_max_gate_shares_split_at_a_tie():
    assert max_gate_shares(2.0, 1.0) == (1.0, 0.0)
    assert max_gate_shares(1.0, 2.0) == (0.0, 1.0)
    assert max_gate_shares(1.0, 1.0) == (0.5, 0.5)


def test_sigmoid_does_not_overflow():
    assert sigmoid(-1000.0) == 0.0
    assert sigmoid(1000.0) == 1.0


def test_bad_operands_are_refused_clearly():
    with pytest.raises(TypeError, match="Node or a number"):
        Node(1.0) + "2"
    with pytest.raises(TypeError, match="exponent"):
        Node(1.0) ** Node(2.0)
