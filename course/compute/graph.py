"""A scalar computational-graph node for drawing and differentiating circuits.

Every operation builds an output node, records its inputs *in order* (a tuple,
so drawings and traversals are the same on every run) with the local partial
derivative for each, and attaches a small ``_backward`` closure that *adds*
the output's gradient, times that local partial, into each input. ``Node.backward`` then visits the nodes in
reverse topological order, found without recursion so that a chain of
100,000 nodes works.
"""

from __future__ import annotations

import math
import numbers
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

    __slots__ = ("value", "grad", "inputs", "op", "label", "local_grads", "_backward")

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
        self.local_grads: tuple[float, ...] = ()
        self._backward: Callable[[], None] = _no_backward

    def __repr__(self) -> str:
        name = f"{self.label!r}, " if self.label else ""
        return f"Node({name}value={self.value:.6g}, grad={self.grad:.6g})"

    # ----- building the graph -------------------------------------------------
    def _gate(self, value: float, inputs: tuple["Node", ...], op: str, local_grads: tuple[float, ...]) -> "Node":
        """The output node of a gate, with d(output)/d(input) for each input slot.

        Its ``_backward`` *adds* upstream x local partial into every input, so a
        node used by several gates (or twice by one) collects all its shares.
        """
        out = Node(value, inputs=inputs, op=op)
        out.local_grads = local_grads

        def _backward() -> None:
            for node, share in zip(inputs, out.shares()):
                node.grad += share

        out._backward = _backward
        return out

    def shares(self) -> tuple[float, ...]:
        """What this gate sends back to each input slot: its gradient x the local partial."""
        return tuple(local * self.grad for local in self.local_grads)

    def __add__(self, other: "Node | Number") -> "Node":
        other = as_node(other)
        # The add gate hands the upstream gradient to both inputs unchanged.
        return self._gate(self.value + other.value, (self, other), "+", (1.0, 1.0))

    def __mul__(self, other: "Node | Number") -> "Node":
        other = as_node(other)
        # The mul gate swaps its inputs and scales by the upstream gradient.
        return self._gate(self.value * other.value, (self, other), "*", (other.value, self.value))

    def __pow__(self, exponent: "Node | Number") -> "Node":
        if isinstance(exponent, Node):
            return self._power_of_node(exponent)
        p = _real_number(exponent)
        return self._gate(_power(self.value, p), (self,), f"**{p:g}", (p * _power(self.value, p - 1),))

    def _power_of_node(self, exponent: "Node") -> "Node":
        # d/d exponent = base ** exponent * log(base): a real number only for a positive base.
        if self.value <= 0:
            raise ValueError(
                f"({self.value:g}) ** Node: a Node exponent needs a positive base, because"
                f" d/d exponent = base ** exponent * log(base) and log({self.value:g}) is not a"
                " real number; use a plain number as the exponent instead"
            )
        p = exponent.value
        value = _power(self.value, p)
        local = (p * _power(self.value, p - 1), value * math.log(self.value))
        return self._gate(value, (self, exponent), "**", local)

    def exp(self) -> "Node":
        try:
            e = math.exp(self.value)
        except OverflowError:
            raise OverflowError(
                f"exp({self.value:g}) is too large for a float (exp overflows above about 709.8);"
                " subtract the largest input first, as the stable softmax does"
            ) from None
        return self._gate(e, (self,), "exp", (e,))

    def log(self) -> "Node":
        if self.value <= 0:
            raise ValueError(f"log({self.value:g}): the logarithm needs a positive input")
        return self._gate(math.log(self.value), (self,), "log", (1.0 / self.value,))

    def tanh(self) -> "Node":
        t = math.tanh(self.value)
        # d(tanh)/dx = 1 - t**2: like the sigmoid's, the local gradient uses the output.
        return self._gate(t, (self,), "tanh", (1.0 - t * t,))

    def sigmoid(self) -> "Node":
        s = sigmoid(self.value)
        # d(sigma)/dx = s (1 - s): the local gradient uses the gate's *output*.
        return self._gate(s, (self,), "σ", (s * (1.0 - s),))

    def relu(self) -> "Node":
        # relu(x) = max(x, 0): at exactly 0 it is a tie, and like the max gate
        # it passes half the gradient (what the central difference measures there).
        return self._gate(max(0.0, self.value), (self,), "relu", (max_gate_shares(self.value, 0.0)[0],))

    def max(self, other: "Node | Number") -> "Node":
        other = as_node(other)
        return self._gate(max(self.value, other.value), (self, other), "max",
                          max_gate_shares(self.value, other.value))

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

    def __rpow__(self, other: Number) -> "Node":
        return as_node(other) ** self

    # A numpy scalar on the left (np.float64(2) * node) would otherwise try to
    # build an object array; this makes numpy hand the operation to Node.
    __array_ufunc__ = None

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
    """``value`` itself if it is a Node, else a constant leaf holding the number.

    Any real number is accepted: Python's int and float, and numpy's integer
    and float scalars (``np.float64(2.0)``, ``np.int64(3)``).
    """
    if isinstance(value, Node):
        return value
    number = _real_number(value)
    return Node(number, label=f"{number:g}")


def _real_number(value: object) -> float:
    # numbers.Real covers int, float and numpy's integer and float scalars; a
    # bool is a number to Python but never what a circuit means.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a Node or a number, got {type(value).__name__}")
    return float(value)


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` as a real number, or an error that says why there is none."""
    if base < 0 and not float(exponent).is_integer():
        raise ValueError(
            f"({base:g}) ** {exponent:g} is not a real number: a negative base needs a whole"
            f" exponent. For a real root of a negative number write -((-x) ** {exponent:g})"
        )
    if base == 0 and exponent < 0:
        raise ZeroDivisionError(f"0 ** {exponent:g} divides by zero: the base must not be 0")
    try:
        return base**exponent
    except OverflowError:
        raise OverflowError(f"({base:g}) ** {exponent:g} is too large for a float") from None


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


def topological_order(root: Node, trace: list | None = None) -> list[Node]:
    """Every node reachable from ``root``, each after all of its inputs.

    Iterative depth-first search with an explicit stack; inputs are visited in
    their stored order so the result is the same on every run. A node goes
    into the order when the search *leaves* it, which is after all of its
    inputs went in. With a ``trace`` list, each move is appended to it as
    ``(move, node, stack, order)``: "push" (a new input, put on the stack) or
    "done" (no input left to visit: popped and appended), with copies of the
    stack (bottom first) and of the order after the move; lesson 02 prints them.
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
                if trace is not None:
                    trace.append(("push", child, [n for n, _ in stack], list(order)))
                break
        else:
            stack.pop()
            order.append(node)
            if trace is not None:
                trace.append(("done", node, [n for n, _ in stack], list(order)))
    return order
