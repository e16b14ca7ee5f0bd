"""A bare graph for writing ``backward()`` yourself: values and cached local partials.

``Var`` is a node *without* a backward method. Each operation stores, next to
the output's value, the local partial derivative of the output with respect
to each input (``local_grads``, in the order of ``inputs``), computed during
the forward pass: that is the cache. What is left to write is the traversal:
visit every node after all of its consumers and add ``local * node.grad``
into each input (the golden rule).

Graphs to test a backward on are described by a ``GraphSpec`` (flat data: no
recursion to copy it, a fresh graph for every call) and made by
``build_graph``; ``random_graph``, ``deep_chain`` and ``wide_graph`` draw the
three kinds a correct backward must handle (forks, depth, width).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from course.compute.graph import sigmoid, topological_order


class Var:
    """A value in a graph, with the gradient of the root on it once backward has run."""

    __slots__ = ("value", "grad", "inputs", "local_grads", "op", "label")

    def __init__(self, value: float, inputs: tuple["Var", ...] = (), local_grads: tuple[float, ...] = (),
                 op: str = "", label: str = "") -> None:
        self.value = float(value)
        self.grad = 0.0
        self.inputs = tuple(inputs)
        self.local_grads = tuple(float(g) for g in local_grads)
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label!r}, " if self.label else ""
        return f"Var({name}value={self.value:.6g}, grad={self.grad:.6g})"

    def __deepcopy__(self, memo: dict) -> "Var":
        # Copy the whole graph node by node, inputs first: copy.deepcopy's own
        # recursion would stop at Python's recursion limit on a deep chain.
        # The fields are copied as they are (floats, tuples of floats, strings: nothing to convert or
        # copy): the grader copies graphs of 5,000 gates for every call of a learner's function.
        new = Var.__new__
        for node in topological_order(self):
            if id(node) not in memo:
                twin = new(Var)
                twin.value, twin.grad, twin.local_grads = node.value, node.grad, node.local_grads
                twin.op, twin.label = node.op, node.label
                twin.inputs = tuple([memo[id(c)] for c in node.inputs])
                memo[id(node)] = twin
        return memo[id(self)]

    def __add__(self, other: "Var") -> "Var":
        return Var(self.value + other.value, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other: "Var") -> "Var":
        return Var(self.value * other.value, (self, other), (other.value, self.value), "*")

    def sigmoid(self) -> "Var":
        s = sigmoid(self.value)
        return Var(s, (self,), (s * (1.0 - s),), "σ")

    def square(self) -> "Var":
        return Var(self.value**2, (self,), (2.0 * self.value,), "²")


#: Operations a GraphSpec may use, by name: (number of inputs, how to apply it).
OPERATIONS = {
    "add": (2, lambda a, b: a + b),
    "mul": (2, lambda a, b: a * b),
    "sigmoid": (1, lambda a: a.sigmoid()),
    "square": (1, lambda a: a.square()),
}


@dataclass(frozen=True)
class GraphSpec:
    """A graph as data. Nodes are numbered: the leaves first, then one per gate;
    each gate is ``(operation, input numbers...)`` and may only use earlier
    nodes. The last node is the root."""

    leaves: tuple[float, ...]
    gates: tuple[tuple, ...]
    note: str = ""

    @property
    def size(self) -> int:
        return len(self.leaves) + len(self.gates)


def build_graph(spec: GraphSpec, leaves: tuple[float, ...] | None = None, node_type=Var) -> tuple:
    """Make a fresh graph from ``spec``; returns (root, leaves as a list).

    ``leaves`` overrides the leaf values (numerical gradients nudge them).
    ``node_type`` may be ``course.compute.graph.Node`` (a second autodiff for
    tests): both understand +, * and the named methods.
    """
    values = spec.leaves if leaves is None else leaves
    nodes = [node_type(float(v), label=f"l{k}") for k, v in enumerate(values)]
    for op, *args in spec.gates:
        arity, apply = OPERATIONS[op]
        if len(args) != arity:
            raise ValueError(f"{op} takes {arity} inputs, got {len(args)}")
        if node_type is not Var and op == "square":
            nodes.append(nodes[args[0]] ** 2)
        else:
            nodes.append(apply(*(nodes[i] for i in args)))
    return nodes[-1], nodes[: len(values)]


def evaluate_graph(spec: GraphSpec, leaves) -> float:
    """The root's value for the given leaf values (the function numerical gradients probe)."""
    return build_graph(spec, tuple(float(v) for v in leaves))[0].value


def reverse_topological(root: Var) -> list[Var]:
    """Every node reachable from ``root``, each *before* all of its inputs.

    The reverse of ``course.compute.graph.topological_order`` (an iterative
    search: a chain of any length works, where recursion stops at Python's
    limit); ``Var`` has the ``inputs`` that search follows.
    """
    order = topological_order(root)
    order.reverse()
    return order


def golden_rule_backward(root: Var) -> None:
    """Fill ``grad`` on every node: d root / d node.

    A node's gradient is complete once every consumer has added its share,
    which reverse topological order guarantees; then it passes
    ``local * grad`` to each input, *adding* (an input may have other consumers).
    """
    order = reverse_topological(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in order:
        for child, local in zip(node.inputs, node.local_grads):
            child.grad += local * node.grad


def leaves_of(root: Var) -> list[Var]:
    """The leaves (nodes without inputs) of root's graph, in a fixed order."""
    return [node for node in reversed(reverse_topological(root)) if not node.inputs]


def depth_of(root: Var) -> int:
    """The longest path from a leaf to ``root``, counted in gates."""
    depth: dict[int, int] = {}
    for node in reversed(reverse_topological(root)):
        depth[id(node)] = 1 + max((depth[id(c)] for c in node.inputs), default=-1)
    return depth[id(root)]


def leaf_gradients(spec: GraphSpec) -> np.ndarray:
    """The reference answer for a spec: d root / d leaf for every leaf, in order."""
    root, leaves = build_graph(spec)
    golden_rule_backward(root)
    return np.array([leaf.grad for leaf in leaves])


# ----- graphs to test a backward on ------------------------------------------------------

DEEP = 5000  # gates in the deep chain: far past Python's default recursion limit (1000)


def _leaf_value(rng: np.random.Generator, low: float = -2.0, high: float = 2.0) -> float:
    # Two decimals and never 0, like every number a check shows (course.assess.cases).
    v = round(float(rng.uniform(low, high)), 2)
    return v if v != 0.0 else 0.5


def _pick(rng: np.random.Generator, size: int) -> int:
    # Mostly a recent node, so the graph is deep as well as forked; sometimes any node.
    if rng.random() < 0.7:
        return max(0, size - int(rng.geometric(0.35)))
    return int(rng.integers(0, size))


def random_graph(rng: np.random.Generator, n_leaves: int, n_gates: int) -> GraphSpec:
    """A random graph with forks; every node feeds the root; values stay moderate."""
    while True:
        leaves = tuple(_leaf_value(rng) for _ in range(n_leaves))
        gates: list[tuple] = []
        size = n_leaves
        for _ in range(n_gates):
            op = str(rng.choice(["add", "mul", "sigmoid", "square"], p=[0.35, 0.3, 0.25, 0.1]))
            gates.append((op, _pick(rng, size), _pick(rng, size)) if op in ("add", "mul") else (op, _pick(rng, size)))
            size += 1
        used = {i for _, *args in gates for i in args}
        last = size - 1
        for i in [i for i in range(size - 1) if i not in used]:
            # Fold every unused node into the root, so that all of the graph matters.
            gates.append(("add", last, i))
            last = size
            size += 1
        spec = GraphSpec(leaves, tuple(gates), f"a graph of {n_leaves} leaves and {len(gates)} gates, with forks")
        root, _ = build_graph(spec)
        if abs(root.value) < 1e3 and np.all(np.abs(leaf_gradients(spec)) < 1e4):
            return spec


def deep_chain(rng: np.random.Generator, length: int = DEEP) -> GraphSpec:
    """x, then `length` gates in a row: multiply by a leaf, add a leaf, alternately."""
    leaves = [_leaf_value(rng)] + [round(float(rng.uniform(0.97, 1.03)), 3) if k % 2 == 0
                                   else _leaf_value(rng, -1.0, 1.0) for k in range(length)]
    gates = [("mul" if k % 2 == 0 else "add", 0 if k == 0 else len(leaves) + k - 1, k + 1) for k in range(length)]
    return GraphSpec(tuple(leaves), tuple(gates), f"a chain of {length:,} gates (a deep graph)")


def wide_graph(rng: np.random.Generator, width: int = 1000) -> GraphSpec:
    """`width` leaves, each used by two products; the shares are summed by a balanced tree."""
    leaves = tuple(_leaf_value(rng) for _ in range(width))
    gates: list[tuple] = []
    level = []
    for i in range(width):
        gates.append(("mul", i, (i + 1) % width))
        gates.append(("sigmoid", width + len(gates) - 1))
        level.append(width + len(gates) - 1)
    while len(level) > 1:
        nxt = []
        for a, b in zip(level[0::2], level[1::2]):
            gates.append(("add", a, b))
            nxt.append(width + len(gates) - 1)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return GraphSpec(leaves, tuple(gates), f"a wide graph: {width:,} leaves, each used twice")


# ----- wrong backward passes, to recognise them ---------------------------------------------
# Each fills ``grad`` the way a classic mistake does, from the same cached
# local partials as golden_rule_backward.

def overwriting_backward(root: Var) -> None:
    """``=`` where ``+=`` belongs: a node used by several gates keeps one share."""
    root.grad = 1.0
    for node in reverse_topological(root):
        for child, local in zip(node.inputs, node.local_grads):
            child.grad = local * node.grad


def one_share_per_input_backward(root: Var) -> None:
    """A gate that uses one node twice (x·x) passes it one share, not two: inputs skipped as "already done"."""
    root.grad = 1.0
    for node in reverse_topological(root):
        done = set()
        for child, local in zip(node.inputs, node.local_grads):
            if id(child) not in done:
                done.add(id(child))
                child.grad += local * node.grad


def breadth_first_backward(root: Var) -> None:
    # Each node passes its gradient on when first reached, possibly before all
    # of its consumers have added their shares.
    root.grad = 1.0
    queue, seen = deque([root]), {id(root)}
    while queue:
        node = queue.popleft()
        for child, local in zip(node.inputs, node.local_grads):
            child.grad += local * node.grad
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)


def forward_order_backward(root: Var) -> None:
    """The nodes visited from the inputs towards the root: gradients arrive too late."""
    root.grad = 1.0
    for node in reversed(reverse_topological(root)):
        for child, local in zip(node.inputs, node.local_grads):
            child.grad += local * node.grad


def unseeded_backward(root: Var) -> None:
    """The root's own gradient never set to 1: nothing flows."""
    for node in reverse_topological(root):
        for child, local in zip(node.inputs, node.local_grads):
            child.grad += local * node.grad


def local_only_backward(root: Var) -> None:
    """Local partials passed on without the upstream factor."""
    root.grad = 1.0
    for node in reverse_topological(root):
        for child, local in zip(node.inputs, node.local_grads):
            child.grad += local


# ----- running a backward pass on a graph, and reading what it left ------------------------

def gradients_after(root, walk) -> np.ndarray:
    """Run ``walk(root)`` (a backward pass, right or wrong) and read the leaves' gradients."""
    walk(root)
    return np.array([leaf.grad for leaf in leaves_of(root)], dtype=np.float64)


def run_on_fresh_graph(answer, args) -> np.ndarray:
    """How a learner's ``backward(root)`` is run: on its own copy of the graph, then the
    leaves' gradients are read.

    A walk that recurses once per node stops at Python's recursion limit on
    the deep chain; that run has produced no gradients, so it is reported as
    all zeros, which the ``recursion`` misconception recognises.
    """
    (root,) = args
    try:
        answer(root)
    except RecursionError:
        return np.zeros(len(leaves_of(root)))
    return np.array([leaf.grad for leaf in leaves_of(root)])


def backward_reference(root) -> np.ndarray:
    """Fills the gradients like a learner's backward() would, and returns the leaves' ones."""
    return gradients_after(root, golden_rule_backward)


def recursion_stopped(root) -> np.ndarray:
    """What a recursive walk leaves behind: nothing on a deep graph, the right answer elsewhere."""
    if depth_of(root) > 1000:
        return np.zeros(len(leaves_of(root)))
    return backward_reference(root)
