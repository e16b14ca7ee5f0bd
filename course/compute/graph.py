"""A scalar computational-graph node for drawing and differentiating circuits.

Every operation builds an output node, records its inputs *in order* (a tuple,
so drawings and traversals are the same on every run) and attaches a small
``_backward`` closure that *adds* the output's gradient, times the local
partial derivative, into each input. ``Node.backward`` then visits the nodes in
reverse topological order, found without recursion so that a chain of
100,000 nodes works.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

Number = int | float


class Node:
    """One value in a circuit, with the gradient of the final output on it.

    >>> x, y, z = Node(-2, "x"), Node(5, "y"), Node(-4, "z")
    >>> f = (x + y) * z
    >>> f.backward()
    >>> (f.value, x.grad, y.grad, z.grad)
    (-12.0, -4.0, -4.0, 3.0)
    """

    __slots__ = ("value", "grad", "inputs", "op", "label", "_backward")

    def __init__(
        self,
        value: Number,
        label: str = "",
        inputs: tuple["Node", ...] = (),
        op: str = "",
    ) -> None:
        self.value = float(value)
        self.grad = 0.0
        self.inputs = tuple(inputs)
        self.op = op
        self.label = label
        self._backward: Callable[[], None] = _no_backward

    def __repr__(self) -> str:
        name = f"{self.label!r}, " if self.label else ""
        return f"Node({name}value={self.value:.6g}, grad={self.grad:.6g})"

    # ----- building the graph -------------------------------------------------
    def _result(self, value: float, inputs: tuple["Node", ...], op: str) -> "Node":
        return Node(value, inputs=inputs, op=op)

    def __add__(self, other: "Node | Number") -> "Node":
        other = as_node(other)
        out = self._result(self.value + other.value, (self, other), "+")

        def _backward() -> None:
            # The add gate hands the upstream gradient to both inputs unchanged.
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: "Node | Number") -> "Node":
        other = as_node(other)
        out = self._result(self.value * other.value, (self, other), "*")

        def _backward() -> None:
            # The mul gate swaps its inputs and scales by the upstream gradient.
            self.grad += other.value * out.grad
            other.grad += self.value * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> "Node":
        if isinstance(exponent, Node):
            raise TypeError("Node ** Node is not supported: the exponent must be a number")
        p = float(exponent)
        out = self._result(self.value**p, (self,), f"**{exponent:g}")

        def _backward() -> None:
            self.grad += p * self.value ** (p - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> "Node":
        e = math.exp(self.value)
        out = self._result(e, (self,), "exp")

        def _backward() -> None:
            self.grad += e * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> "Node":
        s = sigmoid(self.value)
        out = self._result(s, (self,), "σ")

        def _backward() -> None:
            # d(sigma)/dx = s (1 - s): the local gradient uses the gate's *output*.
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> "Node":
        out = self._result(max(0.0, self.value), (self,), "relu")

        def _backward() -> None:
            # relu(x) = max(x, 0): at exactly 0 it is a tie, and like the max
            # gate it passes half the gradient (what the central difference
            # measures there).
            self.grad += max_gate_shares(self.value, 0.0)[0] * out.grad

        out._backward = _backward
        return out

    def max(self, other: "Node | Number") -> "Node":
        other = as_node(other)
        out = self._result(max(self.value, other.value), (self, other), "max")

        def _backward() -> None:
            share_self, share_other = max_gate_shares(self.value, other.value)
            self.grad += share_self * out.grad
            other.grad += share_other * out.grad

        out._backward = _backward
        return out

    # Compound operations are written with the basic ones above.
    def __neg__(self) -> "Node":
        return self * -1.0

    def __sub__(self, other: "Node | Number") -> "Node":
        return self + (-as_node(other))

    def __truediv__(self, other: "Node | Number") -> "Node":
        return self * as_node(other) ** -1

    def __radd__(self, other: Number) -> "Node":
        return as_node(other) + self

    def __rmul__(self, other: Number) -> "Node":
        return as_node(other) * self

    def __rsub__(self, other: Number) -> "Node":
        return as_node(other) - self

    def __rtruediv__(self, other: Number) -> "Node":
        return as_node(other) / self

    # ----- differentiating -----------------------------------------------------
    def backward(self) -> None:
        """Fill ``grad`` on every node this one depends on (d self / d node).

        Gradients from earlier calls are cleared first, so calling it twice
        gives the same numbers rather than doubling them.
        """
        order = topological_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    def named(self, label: str) -> "Node":
        """Set the label shown in circuit drawings and return the node."""
        self.label = label
        return self


def _no_backward() -> None:
    """Leaves (inputs of the circuit) have nothing to pass back."""


def as_node(value: "Node | Number") -> Node:
    if isinstance(value, Node):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a Node or a number, got {type(value).__name__}")
    return Node(value, label=f"{value:g}")


def sigmoid(x: float) -> float:
    """The logistic function, written so that large |x| cannot overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def max_gate_shares(x: float, y: float) -> tuple[float, float]:
    """How the max gate splits its upstream gradient between (x, y).

    The larger input takes all of it. At a tie the course splits it evenly:
    that is what the central difference measures there, and it keeps the
    total equal to the upstream gradient (giving *both* inputs all of it, as
    the rule ``1(x >= y)``, ``1(y >= x)`` does, would double it).
    """
    if x > y:
        return 1.0, 0.0
    if y > x:
        return 0.0, 1.0
    return 0.5, 0.5


def topological_order(root: Node) -> list[Node]:
    """Every node reachable from ``root``, each after all of its inputs.

    Iterative depth-first search with an explicit stack; inputs are visited in
    their stored order so the result is the same on every run.
    """
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, Iterable[Node]]] = [(root, iter(root.inputs))]
    visited.add(id(root))
    while stack:
        node, pending = stack[-1]
        for child in pending:
            if id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    return order
