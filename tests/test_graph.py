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
    "log": (lambda a: a.log(), [0.4]),
    "tanh": (lambda a: a.tanh(), [-0.8]),
    "node_pow_node": (lambda a, b: a**b, [1.7, -0.6]),
    "number_pow_node": (lambda b: 2.5**b, [1.3]),
    "pow_same_node": (lambda a: a**a, [1.4]),
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
    with pytest.raises(TypeError, match="Node or a number, got bool"):
        Node(1.0) * True


# ----- new operations, operands and the messages for impossible ones ------------------


def test_numpy_scalars_are_numbers():
    x = Node(2.0, "x")
    out = np.float64(3.0) * x + np.int64(2) + x * np.float32(0.5) - np.int32(1) * x ** np.int64(2)
    out.backward()
    assert out.value == pytest.approx(3 * 2 + 2 + 1 - 4)
    assert x.grad == pytest.approx(3 + 0.5 - 4)
    assert isinstance(np.float64(3.0) * x, Node)  # not an object array


def test_negative_base_to_a_fractional_power_says_why():
    with pytest.raises(ValueError, match=r"\(-8\) \*\* 0.333333 is not a real number.*-\(\(-x\) \*\*"):
        Node(-8.0) ** (1 / 3)
    assert (Node(-8.0) ** 3).value == -512.0  # a whole exponent is fine
    with pytest.raises(ValueError, match="positive base"):
        Node(-8.0) ** Node(2.0)
    with pytest.raises(ZeroDivisionError, match="base must not be 0"):
        Node(0.0) ** -1


def test_an_overflowing_exp_says_what_to_do():
    with pytest.raises(OverflowError, match=r"exp\(1000\) is too large.*subtract the largest"):
        Node(1000.0).exp()
    with pytest.raises(ValueError, match="positive input"):
        Node(0.0).log()


def test_each_gate_reports_its_share_per_input():
    x, y = Node(3.0, "x"), Node(-4.0, "y")
    p = x * y
    f = p + x
    f.backward()
    assert p.shares() == (-4.0, 3.0)
    assert f.shares() == (1.0, 1.0)
    assert x.grad == sum([p.shares()[0], f.shares()[1]])


# ----- micrograd's own test expressions, against an independent oracle ------------------
# The expressions of karpathy/micrograd's test/test_engine.py, spelled as there
# (`.data` is `.value` here). The oracle is a forward-mode autodiff on dual
# numbers written only for these tests: it shares no code with Node, and it is
# itself checked against central differences.


class Dual:
    """a + b·ε with ε² = 0: carries a value and its derivative along one input."""

    def __init__(self, value, deriv=0.0):
        self.value, self.deriv = float(value), float(deriv)

    @staticmethod
    def lift(v):
        return v if isinstance(v, Dual) else Dual(v)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.value + o.value, self.deriv + o.deriv)

    __radd__ = __add__

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.value * o.value, self.deriv * o.value + self.value * o.deriv)

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1

    def __sub__(self, o):
        return self + (-Dual.lift(o))

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __pow__(self, p):
        if isinstance(p, Dual):  # a^b = exp(b log a)
            v = self.value**p.value
            return Dual(v, v * (p.deriv * math.log(self.value) + p.value * self.deriv / self.value))
        return Dual(self.value**p, p * self.value ** (p - 1) * self.deriv)

    def __rpow__(self, base):
        return Dual.lift(base) ** self

    def __truediv__(self, o):
        o = Dual.lift(o)
        return Dual(self.value / o.value, (self.deriv * o.value - self.value * o.deriv) / o.value**2)

    def __rtruediv__(self, o):
        return Dual.lift(o) / self

    def relu(self):
        return Dual(self.value, self.deriv) if self.value > 0 else Dual(0.0, 0.0)

    def tanh(self):
        t = math.tanh(self.value)
        return Dual(t, (1 - t * t) * self.deriv)

    def exp(self):
        e = math.exp(self.value)
        return Dual(e, e * self.deriv)


def sanity_check(x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    return y


def more_ops(a, b):
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


MICROGRAD_CASES = [
    ("sanity_check", sanity_check, [-4.0]),
    ("more_ops", more_ops, [-4.0, 2.0]),
    *[(f"tanh({v:g})", lambda x: x.tanh(), [v]) for v in (-1.0, 0.123, 2.0)],
    *[(f"exp({v:g})", lambda x: x.exp(), [v]) for v in (-1.0, 0.123, 2.0)],
]
CASE_IDS = [name for name, _, _ in MICROGRAD_CASES]  # stable ids: pytest-xdist workers must agree


def dual_oracle(build, values):
    """Value and gradient of build(*values), one forward-mode pass per input."""
    grads = []
    for k in range(len(values)):
        out = build(*[Dual(v, 1.0 if i == k else 0.0) for i, v in enumerate(values)])
        grads.append(out.deriv)
    return out.value, np.array(grads)


@pytest.mark.parametrize("name, build, values", MICROGRAD_CASES, ids=CASE_IDS)
def test_micrograd_expressions_match_the_dual_number_oracle(name, build, values):
    nodes = [Node(v) for v in values]
    out = build(*nodes)
    out.backward()
    value, grads = dual_oracle(build, values)
    assert out.value == pytest.approx(value, rel=1e-12)  # forward pass
    np.testing.assert_allclose([n.grad for n in nodes], grads, rtol=1e-12)  # backward pass


@pytest.mark.parametrize("name, build, values", MICROGRAD_CASES, ids=CASE_IDS)
def test_the_dual_number_oracle_agrees_with_central_differences(name, build, values):
    _, grads = dual_oracle(build, values)
    numeric = numerical_gradient(lambda v: build(*[Dual(x) for x in v]).value, np.array(values), h=1e-5)
    np.testing.assert_allclose(grads, numeric, rtol=1e-6)


def test_micrograd_expressions_give_micrograd_s_numbers():
    # The published values of test_engine.py's two expressions (from PyTorch there).
    x = Node(-4.0)
    y = sanity_check(x)
    y.backward()
    assert (y.value, x.grad) == (-20.0, 46.0)
    a, b = Node(-4.0), Node(2.0)
    g = more_ops(a, b)
    g.backward()
    assert g.value == pytest.approx(24.70408163265306, abs=1e-12)
    assert (a.grad, b.grad) == (pytest.approx(138.83381924198252), pytest.approx(645.5772594752186))


def test_pow_between_nodes_against_the_oracle():
    for build, values in [(lambda a, b: a**b, [1.7, -0.6]), (lambda b: 2.5**b, [1.3]), (lambda a: a**a, [1.4])]:
        nodes = [Node(v) for v in values]
        out = build(*nodes)
        out.backward()
        _, grads = dual_oracle(build, values)
        np.testing.assert_allclose([n.grad for n in nodes], grads, rtol=1e-12)


def test_topological_order_traces_its_moves():
    x, y = Node(2.0, "x"), Node(-3.0, "y")
    q = (x * y).named("q")
    f = (q + x).named("f")
    moves = []
    order = topological_order(f, trace=moves)
    assert [n.label for n in order] == ["x", "y", "q", "f"]
    assert [(m, n.label) for m, n, _, _ in moves] == [("push", "q"), ("push", "x"), ("done", "x"), ("push", "y"),
                                                      ("done", "y"), ("done", "q"), ("done", "f")]
    pushed = [n for m, n, _, _ in moves if m == "push"]
    assert len({id(n) for n in pushed}) == len(pushed) == 3  # the fork x is pushed once
    for move, node, stack, done in moves:  # the stack's top is the node just pushed; done ends with the node
        assert (stack[-1] is node) if move == "push" else (done[-1] is node and node not in stack)
    assert moves[-1][3] == order and topological_order(f) == order  # tracing changes nothing
