"""Judging a topological order someone wrote, and the classic ways to get one wrong.

Exercise 02.topo_order asks for ``topological_order(root)``: every node of
root's graph once, each after all of its inputs. Many lists are right (any
order that respects the inputs), so an answer is not compared with one list;
``order_outcome`` says what kind of list it is, as one number from
``OUTCOMES``, and the check compares that number. The known wrong ways to walk
a graph below give their numbers the same way, so a learner's list that
breaks the same rule is recognised whatever order it visits inputs in.

The graph travels with its nodes in a shuffled list (``graph_case``), so that
a returned node can be recognised by identity wherever the walk ran (also
inside the grader's sandbox), without handing the walk any order.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from course.compute.graph import topological_order
from course.compute.local_graph import OPERATIONS, GraphSpec, Var, deep_chain, depth_of, random_graph, wide_graph

OK, ROOT_FIRST, INPUT_AFTER, REPEATED, MISSING, NOT_NODES, NOT_A_LIST, RECURSION = range(8)
OUTCOMES = {
    OK: "every node once, each after its inputs",
    ROOT_FIRST: "the root first, every node before its inputs (the reverse)",
    INPUT_AFTER: "some node before one of its inputs",
    REPEATED: "a node more than once",
    MISSING: "some nodes left out",
    NOT_NODES: "things that are not the graph's nodes",
    NOT_A_LIST: "not a list",
    RECURSION: "stopped by Python's recursion limit",
}


def graph_case(spec: GraphSpec, rng: np.random.Generator) -> tuple[Var, list[Var]]:
    """A fresh graph from ``spec``: its root, and all of its nodes in a random order."""
    nodes = [Var(float(v), label=f"l{k}") for k, v in enumerate(spec.leaves)]
    for op, *args in spec.gates:
        nodes.append(OPERATIONS[op][1](*(nodes[i] for i in args)))
    root = nodes[-1]
    return root, [nodes[k] for k in rng.permutation(len(nodes))]


def order_outcome(order, nodes: list[Var]) -> int:
    """What kind of list ``order`` is, for the graph whose nodes are ``nodes`` (any order)."""
    if not isinstance(order, list):
        return NOT_A_LIST  # the text asks for a list
    index = {id(node): k for k, node in enumerate(nodes)}
    positions = [index.get(id(node)) for node in order]
    if any(p is None for p in positions):
        return NOT_NODES
    if len(set(positions)) < len(positions):
        return REPEATED
    if len(positions) < len(nodes):
        return MISSING
    place = {p: k for k, p in enumerate(positions)}
    edges = [(place[index[id(node)]], place[index[id(child)]]) for node in nodes for child in node.inputs]
    if all(child < node for node, child in edges):
        return OK
    if all(child > node for node, child in edges):
        return ROOT_FIRST
    return INPUT_AFTER


def run_order(answer, args):
    """How a learner's ``topological_order(root)`` is run: on the root alone; its list is judged here.

    A walk that recurses once per node stops at Python's recursion limit on
    the deep chain: that is an outcome of its own.
    """
    root, nodes = args
    try:
        order = answer(root)
    except RecursionError:
        return RECURSION
    return None if order is None else order_outcome(order, nodes)


# ----- walks, right and wrong --------------------------------------------------------

def depth_first(root: Var, seen_set: bool = True, append_on_leave: bool = True) -> list[Var]:
    """An iterative depth-first walk with a stack of (node, inputs still to visit).

    Right: a ``seen`` set, and a node appended when it is left (all its inputs
    are in the list by then). Without the set a node is walked once per path
    that reaches it; appended on arrival, it comes before its inputs.
    """
    order, seen = [], {id(root)}
    if not append_on_leave:
        order.append(root)
    stack = [(root, iter(root.inputs))]
    while stack:
        node, pending = stack[-1]
        for child in pending:
            if not seen_set or id(child) not in seen:
                seen.add(id(child))
                if not append_on_leave:
                    order.append(child)
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            if append_on_leave:
                order.append(node)
    return order


def breadth_first(root: Var) -> list[Var]:
    """Nodes in the order a queue reaches them from the root, each once."""
    order, seen, queue = [], {id(root)}, deque([root])
    while queue:
        node = queue.popleft()
        order.append(node)
        for child in node.inputs:
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)
    return order


def recursive(root: Var) -> list[Var]:
    """The textbook recursion: right, until a graph is deeper than Python's recursion limit."""
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for child in node.inputs:
                visit(child)
            order.append(node)
    visit(root)
    return order


# ----- the exercise's cases and outcomes ------------------------------------------------

def drawn_graphs(rng: np.random.Generator) -> list[GraphSpec]:
    """The hidden graphs: a lone leaf, a gate using one input twice, forks, depth and width."""
    specs = [GraphSpec((1.5,), (), "a graph that is a single leaf (the root has no inputs)"),
             GraphSpec((0.5, 2.0), (("mul", 0, 0), ("add", 2, 1)), "x·x + y (a gate that uses x twice)")]
    specs += [random_graph(rng, int(rng.integers(2, 6)), int(rng.integers(6, 30))) for _ in range(5)]
    return specs + [deep_chain(rng), wide_graph(rng)]


def walk_outcome(walk):
    """A way to walk a graph, usable both ways the check calls an exercise's functions.

    As an answer, ``f(root)`` returns the walk's list (the check's adapter,
    ``run_order``, judges it); as the reference or a known mistake,
    ``f(root, nodes)`` returns that list's outcome directly.
    """
    def walked(root, nodes=None):
        order = walk(root)
        return order if nodes is None else order_outcome(order, nodes)
    return walked


#: The course's own order (``course.compute.graph.topological_order``), as the exercise's reference.
course_order_outcome = walk_outcome(topological_order)


def recursion_outcome(root: Var, nodes: list[Var] | None = None):
    """The recursive walk: RecursionError on a deep graph, a right order elsewhere.

    Its outcome is read off the graph's depth rather than by recursing: the
    grader raises Python's recursion limit for itself.
    """
    if nodes is None:
        return recursive(root)
    return RECURSION if depth_of(root) > 1000 else course_order_outcome(root, nodes)
