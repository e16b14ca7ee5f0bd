"""Exercises of concept 02, staged computation (SYLLABUS §02).

The expressions here are not the lesson's: the lesson works through
f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²); the exercises ask for the same
skills on other functions and on graphs the learner has never seen.

Known wrong answers are made systematically from the staged description of
each expression (``course.compute.staged``): every way of losing some branches' shares
at a fork (``=`` instead of ``+=``), every stage without its upstream factor,
and the local partials people get wrong.
"""

from __future__ import annotations

import math

import numpy as np

from course.assess.cases import case, many, number
from course.assess.exercise import Case, Exercise, Misconception
from course.compute import order_check
from course.compute.graph import sigmoid
from course.compute.local_graph import (GraphSpec, backward_reference, breadth_first_backward, build_graph, deep_chain,
                                        forward_order_backward, gradients_after, local_only_backward,
                                        one_share_per_input_backward, overwriting_backward, random_graph,
                                        recursion_stopped, run_on_fresh_graph, unseeded_backward, wide_graph)
from course.compute.staged import (
    StagedComputation,
    add_constant_stage,
    add_stage,
    answer_function,
    inverse_stage,
    lost_share_answers,
    mul_stage,
    sigmoid_stage,
    square_stage,
    sub_stage,
    unchained_answers,
)


def _fork_misconceptions(computation: StagedComputation, hint: str) -> tuple[Misconception, ...]:
    return tuple(Misconception("fork_overwrite", hint, wrong) for wrong in lost_share_answers(computation))


def _unchained_misconceptions(computation: StagedComputation) -> tuple[Misconception, ...]:
    """One misconception per way of forgetting the upstream factor in one stage."""
    found = []
    for stages, wrong in unchained_answers(computation):
        where = " or ".join(computation.expanded(s.name) for s in stages)
        found.append(Misconception(
            "upstream", f"In the backward stage of {where} you passed back the local derivative alone."
                        " Multiply it by the gradient that arrived at that stage's output from the stages"
                        " after it: local times upstream.", wrong))
    return tuple(found)


# ----- 1. a new staged expression --------------------------------------------------------

#: g(a, b) = (a·b + σ(b)) / (1 + (a - b)²), eight stages like the lesson's function.
STAGED_G = StagedComputation(
    inputs=("a", "b"),
    stages=(
        mul_stage("ab", "a", "b"),
        sigmoid_stage("sigb", "b"),
        add_stage("top", "ab", "sigb"),
        sub_stage("amb", "a", "b"),
        square_stage("sq", "amb"),
        add_constant_stage("bottom", 1.0, "sq"),
        inverse_stage("inv", "bottom"),
        mul_stage("g", "top", "inv"),
    ),
)


def staged_backward(a, b, dg):
    # forward, keeping every stage
    ab = a * b
    sigb = sigmoid(b)
    top = ab + sigb
    amb = a - b
    sq = amb**2
    bottom = 1.0 + sq
    inv = 1.0 / bottom
    # backward, stages in reverse; a and b are forks, so their gradients add
    dtop = inv * dg
    dinv = top * dg
    dbottom = (-1.0 / bottom**2) * dinv
    dsq = dbottom
    damb = 2.0 * amb * dsq
    da = damb
    db = -damb
    dab = dtop
    dsigb = dtop
    db += sigb * (1.0 - sigb) * dsigb
    da += b * dab
    db += a * dab
    return da, db


def _two_inputs_and_upstream(first: str, second: str, upstream: str):
    """Hidden cases (first, second, upstream): two inputs and an upstream gradient."""
    return many(20, lambda rng, k: case(**{first: number(rng), second: number(rng), upstream: number(rng, -2, 2)}))


_ab_cases = _two_inputs_and_upstream("a", "b", "dg")


STAGED = Exercise(
    id="02.staged_backward",
    title="a staged backward pass",
    reference=staged_backward,
    public=(Case((2.0, -1.0, 1.0), "a = 2, b = -1, dg = 1"),
            Case((-1.5, 0.5, 2.0), "a = -1.5, b = 0.5, dg = 2")),
    hidden=_ab_cases,
    outputs=("da", "db"),
    upstream=2,
    misconceptions=(
        _fork_misconceptions(STAGED_G, "The inputs a and b are forks: a feeds a·b and a - b, b feeds a·b, σ(b)"
                                       " and a - b. Your gradient is missing the share of at least one branch for"
                                       " one of them, as happens when an `=` replaces the lines before it. Use `+=`: the"
                                       " shares of all consumers add up.")
        + _unchained_misconceptions(STAGED_G)
        + (
            Misconception("output_for_input", "The sigmoid's local derivative is σ(b)·(1 - σ(b)), written with"
                                              " its *output* σ(b); you put its input b into that formula.",
                          answer_function(STAGED_G.with_local("sigb", lambda u, out: (u * (1.0 - u),)))),
            Misconception("output_for_input", "The square's local derivative is 2 times its *input* a - b; you"
                                              " used its output (a - b)².",
                          answer_function(STAGED_G.with_local("sq", lambda u, out: (2.0 * out,)))),
            Misconception("output_for_input", "The local derivative of 1/u (u = 1 + (a - b)²) is -1/u²,"
                                              " written with its input u; you used its output 1/u there.",
                          answer_function(STAGED_G.with_local("inv", lambda u, out: (-1.0 / (out * out),)))),
            Misconception("sign", "The local derivative of 1/(1 + (a - b)²) is negative: dividing by a larger number"
                                  " gives a smaller result.",
                          answer_function(STAGED_G.with_local("inv", lambda u, out: (1.0 / (u * u),)))),
            Misconception("sign", "In a - b, the local derivative with respect to b is -1, not +1.",
                          answer_function(STAGED_G.with_local("amb", lambda u, v, out: (1.0, 1.0)))),
        )
    ),
)


# ----- 2. a fork: one variable used twice ---------------------------------------------------

#: h(x) = x·σ(x) (the SiLU activation): x feeds the sigmoid *and* the product.
SILU = StagedComputation(inputs=("x",), stages=(sigmoid_stage("s", "x"), mul_stage("h", "x", "s")))


def silu_backward(x, dout):
    s = sigmoid(x)
    # h = x * s: x reaches h directly and through s, so dx collects two shares.
    dx = s * dout
    ds = x * dout
    dx += s * (1.0 - s) * ds
    return dx


_x_cases = many(20, lambda rng, k: case(x=number(rng, -4, 4), dout=number(rng, -2, 2)))


FORK = Exercise(
    id="02.fork",
    title="a fork: x used twice",
    reference=silu_backward,
    public=(Case((1.5, 1.0), "x = 1.5, dout = 1"), Case((-2.0, 0.5), "x = -2, dout = 0.5")),
    hidden=_x_cases,
    outputs=("dx",),
    upstream=1,
    misconceptions=(
        _fork_misconceptions(SILU, "The input x is used twice: as the first factor of h = x·s, and inside s = σ(x). Your"
                                   " dx keeps the share of only one of these paths, as `=` does when it replaces"
                                   " the line before it. Add the two shares (`+=`).")
        + _unchained_misconceptions(SILU)
        + (
            Misconception("output_for_input", "The derivative σ'(x) is s·(1 - s) with s = σ(x), the sigmoid's output; you put"
                                              " x itself into that formula.",
                          answer_function(SILU.with_local("s", lambda u, out: (u * (1.0 - u),)))),
        )
    ),
)


# ----- 3. caching: a backward pass that only sees the cache ------------------------------------

def gated_forward(x, u, w, b):
    """out = tanh(w·x + b) · σ(u·x), a gated unit. Returns (out, cache).

    The cache keeps what the backward pass needs and nothing it can do
    without: the inputs of the multiply gates and the outputs of tanh and σ.
    """
    z = w * x + b
    t = math.tanh(z)
    g = u * x
    s = sigmoid(g)
    out = t * s
    cache = {"x": x, "u": u, "w": w, "z": z, "t": t, "g": g, "s": s}
    return out, cache


def gated_backward(dout, cache):
    x, u, w, t, s = cache["x"], cache["u"], cache["w"], cache["t"], cache["s"]
    dt = s * dout
    ds = t * dout
    dz = (1.0 - t * t) * dt  # tanh' from the cached output
    dg = s * (1.0 - s) * ds  # σ' from the cached output
    dx = w * dz + u * dg  # x is a fork: it feeds both w·x and u·x
    return dx, x * dg, x * dz, dz


def _gated_variant(tanh_local=None, sigmoid_local=None, keep=None, skip_gate=False):
    """gated_backward with one thing done wrong (for the misconceptions)."""
    def wrong(dout, cache):
        x, u, w, z, t, g, s = (cache[k] for k in ("x", "u", "w", "z", "t", "g", "s"))
        dt = dout if skip_gate else s * dout
        ds = dout if skip_gate else t * dout
        dz = (tanh_local(z, t) if tanh_local else 1.0 - t * t) * dt
        dg = (sigmoid_local(g, s) if sigmoid_local else s * (1.0 - s)) * ds
        shares = (w * dz, u * dg)
        dx = sum(shares) if keep is None else shares[keep]
        return dx, x * dg, x * dz, dz
    return wrong


def _gated_case(x, u, w, b, dout) -> Case:
    _, cache = gated_forward(x, u, w, b)
    return Case((dout, cache), f"x = {x:g}, u = {u:g}, w = {w:g}, b = {b:g}, dout = {dout:g}")


_gated_cases = many(20, lambda rng, k: _gated_case(number(rng, -2, 2), number(rng), number(rng), number(rng, -1, 1),
                                                   number(rng, -2, 2)))


CACHED = Exercise(
    id="02.cached_backward",
    title="a backward pass from the cache",
    reference=gated_backward,
    public=(_gated_case(0.5, -1.2, 2.0, 0.3, 1.0), _gated_case(-1.0, 0.8, -0.5, 0.1, 2.0)),
    hidden=_gated_cases,
    outputs=("dx", "du", "dw", "db"),
    upstream=0,
    misconceptions=(
        Misconception("fork_overwrite", "The input x feeds two gates, w·x and u·x: dx is the sum of both shares. Yours keeps"
                                        " only one of them (an `=` where `+=` belongs?).",
                      _gated_variant(keep=0)),
        Misconception("fork_overwrite", "The input x feeds two gates, w·x and u·x: dx is the sum of both shares. Yours keeps"
                                        " only one of them (an `=` where `+=` belongs?).",
                      _gated_variant(keep=1)),
        Misconception("output_for_input", "The local derivative of tanh is 1 - t² with t = tanh(z), the cached"
                                          " *output*; you used z, its input, in that formula.",
                      _gated_variant(tanh_local=lambda z, t: 1.0 - z * z)),
        Misconception("output_for_input", "The local derivative of σ is s·(1 - s) with s the cached *output*; you"
                                          " used g, its input, in that formula.",
                      _gated_variant(sigmoid_local=lambda g, s: g * (1.0 - g))),
        Misconception("upstream", "The gradient reaching t (and s) has passed through the multiply gate"
                                  " out = t·s: it is dout times the *other* factor, not dout alone.",
                      _gated_variant(skip_gate=True)),
    ),
)


# ----- 4. fixing a backward pass that overwrites -----------------------------------------------

#: h(x, y) = q·σ(q) + x with q = x·y: q feeds two stages, x feeds two stages.
FIXABLE = StagedComputation(
    inputs=("x", "y"),
    stages=(mul_stage("q", "x", "y"), sigmoid_stage("s", "q"), mul_stage("p", "q", "s"), add_stage("h", "p", "x")),
)


# The learner starts from the same pass with its two forks overwritten (exercises/02's buggy_backward).
def fixed_backward(x, y, dh):
    q = x * y
    s = sigmoid(q)
    dp = dh
    dx = dh
    dq = s * dp
    ds = q * dp
    dq += s * (1.0 - s) * ds
    dx += y * dq
    dy = x * dq
    return dx, dy


def _half_fixed(fix_q: bool, fix_x: bool):
    def wrong(x, y, dh):
        q = x * y
        s = sigmoid(q)
        dq_direct = s * dh
        dq_sigmoid = s * (1.0 - s) * q * dh
        dq = dq_direct + dq_sigmoid if fix_q else dq_sigmoid
        dx = dh + y * dq if fix_x else y * dq
        return dx, x * dq
    return wrong


_xy_cases = _two_inputs_and_upstream("x", "y", "dh")


FIX = Exercise(
    id="02.fix_overwrite",
    title="fix a backward pass that overwrites",
    reference=fixed_backward,
    public=(Case((1.0, 2.0, 1.0), "x = 1, y = 2, dh = 1"), Case((-1.5, 0.5, 2.0), "x = -1.5, y = 0.5, dh = 2")),
    hidden=_xy_cases,
    outputs=("dx", "dy"),
    upstream=2,
    misconceptions=(
        Misconception("fork_overwrite", "Both forks still overwrite: q feeds p = q·s and s = σ(q), and x feeds"
                                        " q = x·y and h = p + x. Each needs the shares of all its consumers.",
                      _half_fixed(False, False)),
        Misconception("fork_overwrite", "Your dq is fixed, but x is a fork too: it feeds q = x·y *and* h = p + x."
                                        " Its second share replaces the first.",
                      _half_fixed(True, False)),
        Misconception("fork_overwrite", "Your dx is fixed, but q is a fork too: it feeds p = q·s *and* s = σ(q)."
                                        " Its second share replaces the first.",
                      _half_fixed(False, True)),
    ),
)


# ----- 5 and 6. the order first, then backward(root), on graphs never seen before --------------------------------------------

def _graph_cases(rng: np.random.Generator) -> list[Case]:
    specs = [random_graph(rng, int(rng.integers(2, 6)), int(rng.integers(6, 30))) for _ in range(6)]
    specs += [deep_chain(rng), wide_graph(rng)]
    return [Case((build_graph(spec)[0],), spec.note) for spec in specs]


PUBLIC_GRAPHS = (
    GraphSpec((2.0, -3.0), (("mul", 0, 1), ("add", 2, 0)), "x·y + x with x = 2, y = -3"),
    GraphSpec((1.5, -0.5), (("mul", 0, 1), ("sigmoid", 2), ("add", 2, 3), ("mul", 4, 0)),
              "(a·b + σ(a·b))·a with a = 1.5, b = -0.5"),
)

def _order_cases(rng, specs) -> tuple[Case, ...]:
    # The graph travels with its nodes, shuffled: a returned node is recognised by identity.
    return tuple(Case(order_check.graph_case(spec, rng), spec.note) for spec in specs)


_ROOT_FIRST_HINT = ("Your list starts at the root and puts every node before its inputs: that is the order backward()"
                    " visits, the reverse of the one asked for. Return it reversed, every node after its inputs.")

TOPO = Exercise(
    id="02.topo_order",
    title="the order first: every node after its inputs",
    function="topological_order",
    reference=order_check.course_order_outcome,
    public=_order_cases(np.random.default_rng(0), PUBLIC_GRAPHS),
    hidden=lambda rng: _order_cases(rng, order_check.drawn_graphs(rng)),
    outputs=("kind of list",),
    run=order_check.run_order,
    run_in_sandbox=True,  # the returned nodes are recognised by identity, beside the graph they came from
    # The course's own walks: an answer that calls one is not the learner's work (course.assess.own_work).
    answer_of=("course.compute.local_graph.reverse_topological", "course.compute.order_check.depth_first",
               "course.compute.order_check.breadth_first", "course.compute.order_check.recursive"),
    misconceptions=(
        # Matched by the kind of list, whatever walk made it: one known walk per kind.
        Misconception("topo_order", _ROOT_FIRST_HINT,
                      order_check.walk_outcome(lambda root: order_check.depth_first(root)[::-1])),
        Misconception("topo_order", "In your list a node comes before one of its inputs. Append a node when the"
                                    " walk *leaves* it, once all of its inputs are in the list, not when the walk"
                                    " first reaches it.",
                      # appended on arrival, then reversed: right on a chain, wrong where a fork is reached twice
                      order_check.walk_outcome(lambda root: order_check.depth_first(root, append_on_leave=False)[::-1])),
        Misconception("graph_walk", "Your list holds a node more than once: a node used by several gates is"
                                    " reached along every path to it. Keep a set of the nodes already seen"
                                    " (by id(node)) and skip them.",
                      order_check.walk_outcome(lambda root: order_check.depth_first(root, seen_set=False))),
        Misconception("graph_walk", "Your list leaves out nodes of the graph. It must hold every node the root"
                                    " depends on, the leaves and the root itself included.",
                      order_check.walk_outcome(lambda root: order_check.depth_first(root)[:-1])),
        Misconception("recursion", "On the deep chain your walk stopped with RecursionError: it calls itself"
                                   " once per node, and Python allows only about 1,000 nested calls. Use a list"
                                   " as a stack (append and pop) instead of recursion.",
                      order_check.recursion_outcome),
        Misconception("dtype", "Your list holds things that are not the graph's nodes (values, labels or"
                               " copies?). Return the node objects themselves, in a list.",
                      order_check.walk_outcome(lambda root: [n.value for n in order_check.depth_first(root)])),
        Misconception("dtype", "Your result is not a list. Return the nodes in a list, built for example with"
                               " order.append(node).",
                      order_check.walk_outcome(lambda root: tuple(order_check.depth_first(root)))),
    ),
)

BACKWARD = Exercise(
    id="02.backward_graph",
    title="backward() for any graph",
    function="backward",
    reference=backward_reference,
    public=tuple(Case((build_graph(spec)[0],), spec.note) for spec in PUBLIC_GRAPHS),
    hidden=_graph_cases,
    outputs=("leaf gradients",),
    run=run_on_fresh_graph,
    answer_of=("course.compute.local_graph.golden_rule_backward", "course.compute.local_graph.backward_reference",
               "course.compute.local_graph.reverse_topological"),
    # Under grading the leaves' gradients are read beside the learner's code: only they cross back,
    # not the state of every node of a 10,000-node graph.
    run_in_sandbox=True,
    misconceptions=(
        Misconception("recursion", "On the deep chain your backward stopped with RecursionError: it calls itself"
                                   " once per node, and Python allows only about 1,000 nested calls. Walk the"
                                   " graph with a list used as a stack (append and pop) instead of recursion.",
                      recursion_stopped),
        Misconception("fork_overwrite", "A node used by several gates gets the share of only one of them: an `=`"
                                        " where `+=` belongs. Every consumer adds its share.",
                      lambda root: gradients_after(root, overwriting_backward)),
        Misconception("fork_overwrite", "A gate that uses the same node twice (x·x, or a + a) gives it two shares,"
                                        " one per use: your backward passes it only one. Loop over the gate's"
                                        " inputs as they are, repeats included, and add each share.",
                      lambda root: gradients_after(root, one_share_per_input_backward)),
        Misconception("topo_order", "Your nodes pass their gradient on in breadth-first order, sometimes before"
                                    " every consumer has added its share. A node may pass its gradient on only"
                                    " when it is complete: visit the nodes in reverse topological order (a node"
                                    " after everything that uses it).",
                      lambda root: gradients_after(root, breadth_first_backward)),
        Misconception("topo_order", "Your backward visits the nodes from the inputs towards the root, so the"
                                    " gradients have not arrived yet when a node passes its own on. Reverse the"
                                    " order: the root first, a node after everything that uses it.",
                      lambda root: gradients_after(root, forward_order_backward)),
        Misconception("upstream", "Everything stays 0: the root's own gradient d root / d root must be set to 1"
                                  " before anything can flow back.",
                      lambda root: gradients_after(root, unseeded_backward)),
        Misconception("upstream", "Each input receives the local derivative alone; multiply it by the gradient"
                                  " of the node that uses it (local times upstream).",
                      lambda root: gradients_after(root, local_only_backward)),
    ),
)

EXERCISES = [STAGED, FORK, CACHED, FIX, TOPO, BACKWARD]
