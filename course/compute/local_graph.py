"""A bare graph for writing ``backward()`` yourself: values and cached local partials.

``Var`` is a node *without* a backward method. Each operation stores, next to
the output's value, the local partial derivative of the output with respect
to each input (``local_grads``, in the order of ``inputs``), computed during
the forward pass: that is the cache. What is left to write is the traversal:
visit every node after all of its consumers and add ``local * node.grad``
into each input (the golden rule).

Graphs to test a backward on are described by a ``GraphSpec`` (flat data: no
recursion to copy it, a fresh graph for every call) and made by
``build_graph``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute.graph import sigmoid


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
        for node in reversed(reverse_topological(self)):
            if id(node) not in memo:
                twin = Var(node.value, tuple(memo[id(c)] for c in node.inputs), node.local_grads, node.op,
                           node.label)
                twin.grad = node.grad
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

    Iterative depth-first search (an explicit stack): a chain of any length
    works, where a recursive search stops at Python's recursion limit.
    """
    order: list[Var] = []
    seen = {id(root)}
    stack = [(root, iter(root.inputs))]
    while stack:
        node, pending = stack[-1]
        for child in pending:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            order.append(node)  # after all of its inputs
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
