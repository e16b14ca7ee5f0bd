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
from course.compute.graph import sigmoid
from course.compute.local_graph import (
    GraphSpec,
    build_graph,
    deep_chain,
    depth_of,
    golden_rule_backward,
    breadth_first_backward,
    forward_order_backward,
    leaves_of,
    local_only_backward,
    overwriting_backward,
    random_graph,
    unseeded_backward,
    wide_graph,
)
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
        where = " or ".join(f"`{s.name} = {s.formula}`" for s in stages)
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
        _fork_misconceptions(STAGED_G, "a and b are forks: a feeds `ab` and `amb`, b feeds `ab`, `sigb` and"
                                       " `amb`. Your gradient is missing the share of at least one branch for"
                                       " one of them, as happens when an `=` replaces the lines before it. Use `+=`: the"
                                       " shares of all consumers add up.")
        + _unchained_misconceptions(STAGED_G)
        + (
            Misconception("output_for_input", "The sigmoid's local derivative is sigb·(1 - sigb), written with"
                                              " its *output* sigb; you put its input b into that formula.",
                          answer_function(STAGED_G.with_local("sigb", lambda u, out: (u * (1.0 - u),)))),
            Misconception("output_for_input", "The square's local derivative is 2 times its *input* amb; you"
                                              " used its output sq.",
                          answer_function(STAGED_G.with_local("sq", lambda u, out: (2.0 * out,)))),
            Misconception("output_for_input", "The local derivative of inv = 1/bottom is -1/bottom², written"
                                              " with its input bottom; you used its output inv there.",
                          answer_function(STAGED_G.with_local("inv", lambda u, out: (-1.0 / (out * out),)))),
            Misconception("sign", "The local derivative of 1/bottom is negative: dividing by a larger number"
                                  " gives a smaller result.",
                          answer_function(STAGED_G.with_local("inv", lambda u, out: (1.0 / (u * u),)))),
            Misconception("sign", "amb = a - b: its local derivative with respect to b is -1, not +1.",
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
        _fork_misconceptions(SILU, "x is used twice: as the first factor of h = x·s, and inside s = σ(x). Your"
                                   " dx keeps the share of only one of these paths, as `=` does when it replaces"
                                   " the line before it. Add the two shares (`+=`).")
        + _unchained_misconceptions(SILU)
        + (
            Misconception("output_for_input", "σ'(x) is s·(1 - s) with s = σ(x), the sigmoid's output; you put"
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
        Misconception("fork_overwrite", "x feeds two gates, w·x and u·x: dx is the sum of both shares. Yours keeps"
                                        " only one of them (an `=` where `+=` belongs?).",
                      _gated_variant(keep=0)),
        Misconception("fork_overwrite", "x feeds two gates, w·x and u·x: dx is the sum of both shares. Yours keeps"
                                        " only one of them (an `=` where `+=` belongs?).",
                      _gated_variant(keep=1)),
        Misconception("output_for_input", "tanh's local derivative is 1 - t² with t = tanh(z), the cached"
                                          " *output*; you used z, its input, in that formula.",
                      _gated_variant(tanh_local=lambda z, t: 1.0 - z * z)),
        Misconception("output_for_input", "σ's local derivative is s·(1 - s) with s the cached *output*; you"
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


def buggy_backward(x, y, dh):
    """The backward pass of h = q·σ(q) + x, q = x·y, *with the bugs left in* (shown to learners)."""
    q = x * y
    s = sigmoid(q)
    dp = dh
    dx = dh
    dq = s * dp
    ds = q * dp
    dq = s * (1.0 - s) * ds
    dx = y * dq
    dy = x * dq
    return dx, dy


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
        Misconception("fork_overwrite", "dq is fixed, but x is a fork too: it feeds q = x·y *and* h = p + x."
                                        " Its second share replaces the first.",
                      _half_fixed(True, False)),
        Misconception("fork_overwrite", "dx is fixed, but q is a fork too: it feeds p = q·s *and* s = σ(q)."
                                        " Its second share replaces the first.",
                      _half_fixed(False, True)),
    ),
)


# ----- 5. backward(root) on graphs never seen before --------------------------------------------

def _collect(root, walk) -> np.ndarray:
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
    return _collect(root, golden_rule_backward)


def _recursion_stopped(root) -> np.ndarray:
    """What a recursive walk leaves behind: nothing on a deep graph, the right answer elsewhere."""
    if depth_of(root) > 1000:
        return np.zeros(len(leaves_of(root)))
    return backward_reference(root)


def _graph_cases(rng: np.random.Generator) -> list[Case]:
    specs = [random_graph(rng, int(rng.integers(2, 6)), int(rng.integers(6, 30))) for _ in range(6)]
    specs += [deep_chain(rng), wide_graph(rng)]
    return [Case((build_graph(spec)[0],), spec.note) for spec in specs]


PUBLIC_GRAPHS = (
    GraphSpec((2.0, -3.0), (("mul", 0, 1), ("add", 2, 0)), "x·y + x with x = 2, y = -3"),
    GraphSpec((1.5, -0.5), (("mul", 0, 1), ("sigmoid", 2), ("add", 2, 3), ("mul", 4, 0)),
              "(a·b + σ(a·b))·a with a = 1.5, b = -0.5"),
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
    misconceptions=(
        Misconception("recursion", "On the deep chain your backward stopped with RecursionError: it calls itself"
                                   " once per node, and Python allows only about 1,000 nested calls. Walk the"
                                   " graph with a list used as a stack (append and pop) instead of recursion.",
                      _recursion_stopped),
        Misconception("fork_overwrite", "A node used by several gates gets the share of only one of them: an `=`"
                                        " where `+=` belongs. Every consumer adds its share.",
                      lambda root: _collect(root, overwriting_backward)),
        Misconception("topo_order", "Your nodes pass their gradient on in breadth-first order, sometimes before"
                                    " every consumer has added its share. A node may pass its gradient on only"
                                    " when it is complete: visit the nodes in reverse topological order (a node"
                                    " after everything that uses it).",
                      lambda root: _collect(root, breadth_first_backward)),
        Misconception("topo_order", "Your backward visits the nodes from the inputs towards the root, so the"
                                    " gradients have not arrived yet when a node passes its own on. Reverse the"
                                    " order: the root first, a node after everything that uses it.",
                      lambda root: _collect(root, forward_order_backward)),
        Misconception("upstream", "Everything stays 0: the root's own gradient d root / d root must be set to 1"
                                  " before anything can flow back.",
                      lambda root: _collect(root, unseeded_backward)),
        Misconception("upstream", "Each input receives the local derivative alone; multiply it by the gradient"
                                  " of the node that uses it (local times upstream).",
                      lambda root: _collect(root, local_only_backward)),
    ),
)

EXERCISES = [STAGED, FORK, CACHED, FIX, BACKWARD]
