"""Staged computation: an expression written as a list of small named stages.

Each stage computes one named value from earlier ones and knows its *local*
partial derivatives. The forward pass runs the stages in order and keeps every
value (the cache the backward pass needs); the backward pass runs them in
reverse and, for every input of a stage, adds ``local partial * gradient of the
stage`` into that input's gradient. A value used by several stages (a fork)
receives one such contribution per consumer, and its gradient is their sum.

Because the stages are data, the same description serves the lesson's tables,
the widget's step-by-step reveal, and the exercises' known wrong answers (a
``=`` instead of a ``+=``, a forgotten upstream factor, a wrong local partial).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from course.compute.graph import Node, sigmoid


@dataclass(frozen=True)
class Stage:
    """One line of a staged forward pass: ``name = formula(inputs)``.

    ``local(*input_values, out)`` returns d name / d input for each input, in
    the order of ``inputs``; it receives the stage's output too, because some
    local derivatives are cheapest in terms of it (the sigmoid's s(1 - s)).
    ``local_text`` writes those partials for people, one per input.
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    forward: Callable[..., float]
    local: Callable[..., tuple[float, ...]]
    local_text: tuple[str, ...]


@dataclass(frozen=True)
class BackwardStep:
    """What one backward stage did: the contributions it sent, and the totals after it."""

    stage: Stage
    upstream: float  # the gradient of the stage's own value when it ran
    contributions: tuple[tuple[str, float], ...]  # (input name, amount) in input order
    gradients: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StagedComputation:
    inputs: tuple[str, ...]
    stages: tuple[Stage, ...]

    @property
    def output(self) -> str:
        return self.stages[-1].name

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def forward(self, *args: float) -> dict[str, float]:
        """Every value of the computation, inputs first, in stage order."""
        if len(args) != len(self.inputs):
            raise TypeError(f"expected {len(self.inputs)} inputs ({', '.join(self.inputs)}), got {len(args)}")
        values = {name: float(v) for name, v in zip(self.inputs, args)}
        for s in self.stages:
            values[s.name] = float(s.forward(*(values[i] for i in s.inputs)))
        return values

    def __call__(self, *args: float) -> float:
        return self.forward(*args)[self.output]

    def backward_steps(
        self,
        values: dict[str, float],
        upstream: float = 1.0,
        overwrite: bool = False,
        unchained: frozenset[str] | set[str] = frozenset(),
    ) -> list[BackwardStep]:
        """Run the backward stages in reverse order and record each one.

        ``overwrite=True`` replays the classic bug: ``grad[input] = ...``
        instead of ``+=``, so at a fork only the last contribution survives.
        ``unchained`` names stages whose local partials are passed back
        *without* the upstream factor: the other classic bug. Both exist to
        show (and recognise) what those mistakes compute.
        """
        grads: dict[str, float] = {name: 0.0 for name in values}
        grads[self.output] = float(upstream)
        steps = []
        for s in reversed(self.stages):
            local = s.local(*(values[i] for i in s.inputs), values[s.name])
            up = grads[s.name]
            sent = []
            for name, partial in zip(s.inputs, local):
                amount = float(partial) if s.name in unchained else float(partial) * up
                grads[name] = amount if overwrite else grads[name] + amount
                sent.append((name, amount))
            steps.append(BackwardStep(s, up, tuple(sent), dict(grads)))
        return steps

    def gradients(self, *args: float, upstream: float = 1.0, overwrite: bool = False,
                  unchained: frozenset[str] | set[str] = frozenset()) -> tuple[float, ...]:
        """d output / d input for each input (times ``upstream``)."""
        steps = self.backward_steps(self.forward(*args), upstream, overwrite, unchained)
        final = steps[-1].gradients if steps else {}
        return tuple(final[name] for name in self.inputs)

    def contributions(self, *args: float, upstream: float = 1.0) -> dict[str, list[float]]:
        """For each input of the computation, the amounts each consumer sends back to it."""
        found: dict[str, list[float]] = {name: [] for name in self.inputs}
        for step in self.backward_steps(self.forward(*args), upstream):
            for name, amount in step.contributions:
                if name in found:
                    found[name].append(amount)
        return found

    def with_local(self, name: str, local: Callable[..., tuple[float, ...]]) -> "StagedComputation":
        """The same computation with one stage's local partials replaced (for wrong variants)."""
        return replace(self, stages=tuple(replace(s, local=local) if s.name == name else s for s in self.stages))

    def forks(self) -> dict[str, int]:
        """How many stages use each value, for the values used more than once."""
        uses: dict[str, int] = {}
        for s in self.stages:
            for i in s.inputs:
                uses[i] = uses.get(i, 0) + 1
        return {k: n for k, n in uses.items() if n > 1}


# ----- stage makers: the gates the course uses ---------------------------------------

def add_stage(name: str, a: str, b: str) -> Stage:
    return Stage(name, f"{a} + {b}", (a, b), lambda u, v: u + v, lambda u, v, out: (1.0, 1.0), ("1", "1"))


def sub_stage(name: str, a: str, b: str) -> Stage:
    return Stage(name, f"{a} - {b}", (a, b), lambda u, v: u - v, lambda u, v, out: (1.0, -1.0), ("1", "-1"))


def mul_stage(name: str, a: str, b: str) -> Stage:
    # The multiply gate swaps: d(ab)/da = b, d(ab)/db = a.
    return Stage(name, f"{a} · {b}", (a, b), lambda u, v: u * v, lambda u, v, out: (v, u), (b, a))


def sigmoid_stage(name: str, a: str) -> Stage:
    # s(1 - s) uses the stage's *output*, cached by the forward pass.
    return Stage(name, f"σ({a})", (a,), sigmoid, lambda u, out: (out * (1.0 - out),),
                 (f"{name}·(1 - {name})",))


def square_stage(name: str, a: str) -> Stage:
    return Stage(name, f"{a}²", (a,), lambda u: u * u, lambda u, out: (2.0 * u,), (f"2·{a}",))


def inverse_stage(name: str, a: str) -> Stage:
    return Stage(name, f"1 / {a}", (a,), lambda u: 1.0 / u, lambda u, out: (-1.0 / (u * u),), (f"-1/{a}²",))


def add_constant_stage(name: str, constant: float, a: str) -> Stage:
    return Stage(name, f"{constant:g} + {a}", (a,), lambda u: constant + u, lambda u, out: (1.0,), ("1",))


# ----- wrong answers made from a staged description -------------------------------------
# The checks of concept 02 recognise these mistakes by computing them: each
# function below has the signature of an exercise's answer,
# (inputs..., upstream) -> the gradients of the inputs (one number for one input).

def answer_function(computation: StagedComputation, **how) -> Callable[..., float | tuple[float, ...]]:
    """The gradients computed the way ``how`` says (``overwrite=``, ``unchained=``, see ``backward_steps``)."""
    def answer(*args):
        *inputs, upstream = args
        grads = computation.gradients(*inputs, upstream=upstream, **how)
        return grads[0] if len(grads) == 1 else grads
    return answer


def _subsets(n: int) -> list[tuple[int, ...]]:
    """Every non-empty set of share positions out of n, the full set first."""
    return [c for k in range(n, 0, -1) for c in itertools.combinations(range(n), k)]


def lost_share_answers(computation: StagedComputation) -> list[Callable]:
    """Every answer in which a forked input lost some of its shares.

    An ``=`` where ``+=`` belongs wipes out the shares written before it and
    keeps the ones after it; which ones those are depends on the order the
    learner wrote the lines, so every non-empty subset is tried.
    """
    uses = [sum(name in s.inputs for s in computation.stages) for name in computation.inputs]
    options = [_subsets(n) for n in uses]
    full = tuple(tuple(range(n)) for n in uses)
    answers = []
    for choice in itertools.product(*options):
        if choice == full:
            continue

        def answer(*args, choice=choice):
            *inputs, upstream = args
            found = computation.contributions(*inputs, upstream=upstream)
            grads = tuple(sum(found[name][k] for k in kept) for name, kept in zip(computation.inputs, choice))
            return grads[0] if len(grads) == 1 else grads
        answers.append(answer)
    return answers


def unchained_answers(computation: StagedComputation) -> list[tuple[tuple[Stage, ...], Callable]]:
    """One answer per way of forgetting the upstream factor in one stage, with the stages it fits.

    Stages whose mistake gives the very same numbers (forgetting it at
    ``bottom = 1 + sq`` or at ``sq = amb²`` does) are grouped: one answer
    stands for all of them.
    """
    rng = np.random.default_rng(0)
    probes = [tuple(rng.uniform(-2, 2, size=len(computation.inputs) + 1)) for _ in range(4)]
    groups: dict[tuple, list] = {}
    for s in computation.stages:
        wrong = answer_function(computation, unchained=frozenset({s.name}))
        key = tuple(np.round(np.ravel([wrong(*p) for p in probes]), 9))
        groups.setdefault(key, []).append((s, wrong))
    return [(tuple(s for s, _ in members), members[0][1]) for members in groups.values()]


# ----- the lesson's function ------------------------------------------------------------

#: f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²) in eight stages.
LESSON = StagedComputation(
    inputs=("x", "y"),
    stages=(
        sigmoid_stage("sigy", "y"),
        add_stage("num", "x", "sigy"),
        sigmoid_stage("sigx", "x"),
        add_stage("xpy", "x", "y"),
        square_stage("xpysqr", "xpy"),
        add_stage("den", "sigx", "xpysqr"),
        inverse_stage("invden", "den"),
        mul_stage("f", "num", "invden"),
    ),
)


def lesson_function(x: float, y: float) -> float:
    """f(x, y) written in one line, as a check on the staged version."""
    return (x + sigmoid(y)) / (sigmoid(x) + (x + y) ** 2)


def lesson_graph(x: float, y: float) -> tuple[Node, Node, Node]:
    """The lesson's function as a Node graph whose labels are the stage names.

    Returns (f, x, y). Built gate by gate, the same stages as ``LESSON``, so a
    circuit picture can highlight a stage by its name.
    """
    xn, yn = Node(x, "x"), Node(y, "y")
    sigy = yn.sigmoid().named("sigy")
    num = (xn + sigy).named("num")
    sigx = xn.sigmoid().named("sigx")
    xpy = (xn + yn).named("xpy")
    xpysqr = (xpy**2).named("xpysqr")
    den = (sigx + xpysqr).named("den")
    invden = (den**-1).named("invden")
    # invden · num rather than num · invden: the same product, drawn with fewer crossing wires.
    f = (invden * num).named("f")
    return f, xn, yn
