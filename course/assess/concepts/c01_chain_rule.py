"""Exercises of concept 01, the chain rule (SYLLABUS §01)."""

from __future__ import annotations

import math

import numpy as np

from course.assess.cases import array, case, many, number
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.graph import max_gate_shares, sigmoid


def _wide(rng: np.random.Generator) -> float:
    return number(rng, -5.0, 5.0)


def _gate_case(rng: np.random.Generator, k: int, ties: bool = False) -> Case:
    x, y = _wide(rng), _wide(rng)
    if ties and k % 3 == 0:
        y = x
    made = case(x=x, y=y, dout=number(rng))
    return Case(made.args, made.note + (", a tie" if x == y else ""))


_gate_cases = many(20, _gate_case)

# The worked examples of every gate (the notebook shows them).
_GATE_PUBLIC = (Case((3.0, -4.0, 1.0), "x = 3, y = -4, dout = 1"), Case((-2.0, 5.0, 2.0), "x = -2, y = 5, dout = 2"))


# ----- 1. the three gates ---------------------------------------------------------

def mul_backward(x, y, dout):
    return y * dout, x * dout


def add_backward(x, y, dout):
    return dout, dout


def max_backward(x, y, dout):
    share_x, share_y = max_gate_shares(x, y)
    return share_x * dout, share_y * dout


MUL_GATE = Exercise(
    id="01.mul_gate",
    title="multiply gate, backward",
    reference=mul_backward,
    public=_GATE_PUBLIC,
    hidden=_gate_cases,
    outputs=("dx", "dy"),
    upstream=2,
    misconceptions=(
        Misconception("order", "The multiply gate *swaps* its inputs: the local derivative of x*y with"
                               " respect to x is y, and with respect to y it is x.",
                      lambda x, y, dout: (x * dout, y * dout)),
    ),
)

ADD_GATE = Exercise(
    id="01.add_gate",
    title="add gate, backward",
    reference=add_backward,
    public=_GATE_PUBLIC,
    hidden=_gate_cases,
    outputs=("dx", "dy"),
    upstream=2,
    misconceptions=(
        Misconception("output_for_input", "The add gate's local derivatives do not depend on the input"
                                          " values: d(x+y)/dx = 1, whatever x and y are.",
                      lambda x, y, dout: (y * dout, x * dout)),
    ),
)


def _tie_both(x, y, dout):
    return float(x >= y) * dout, float(y >= x) * dout


def _tie_first(x, y, dout):
    return float(x >= y) * dout, float(y > x) * dout


MAX_GATE = Exercise(
    id="01.max_gate",
    title="max gate, backward",
    reference=max_backward,
    public=_GATE_PUBLIC + (Case((1.5, 1.5, 2.0), "x = 1.5, y = 1.5, dout = 2, a tie"),),
    hidden=many(20, lambda rng, k: _gate_case(rng, k, ties=True)),
    outputs=("dx", "dy"),
    upstream=2,
    misconceptions=(
        Misconception("tie", "At a tie (x == y) your max gate gives the whole upstream gradient to *both*"
                             " inputs, which doubles it. The course splits it evenly at a tie, half to each:"
                             " that is what the central difference measures there.", _tie_both),
        Misconception("tie", "At a tie (x == y) your max gate gives everything to one input. The course splits"
                             " it evenly at a tie, half to each: that is what the central difference measures.",
                      _tie_first),
        Misconception("wrong_value", "Your max gate routes the gradient to the *smaller* input; it belongs to"
                                     " the input that won (the larger one).",
                      lambda x, y, dout: (float(x < y) * dout, float(y < x) * dout)),
    ),
)


# ----- 2. (x + y) * z --------------------------------------------------------------

def compound_backward(x, y, z):
    q = x + y
    dq = z  # df/dq for f = q * z
    return 1.0 * dq, 1.0 * dq, q


_xyz_cases = many(20, lambda rng, k: case(x=_wide(rng), y=_wide(rng), z=_wide(rng)))


COMPOUND = Exercise(
    id="01.compound",
    title="(x + y) * z, backward",
    reference=compound_backward,
    public=(Case((-2.0, 5.0, -4.0), "x = -2, y = 5, z = -4"),),
    hidden=_xyz_cases,
    outputs=("dfdx", "dfdy", "dfdz"),
    misconceptions=(
        Misconception("upstream", "dq/dx = 1 is only the local derivative of the add gate. Multiply it by"
                                  " the gradient flowing into q from above, df/dq = z.",
                      lambda x, y, z: (1.0, 1.0, x + y)),
        Misconception("output_for_input", "df/dz is the *other input* of the multiply gate, q = x + y, not its"
                                          " output f.",
                      lambda x, y, z: (z, z, (x + y) * z)),
    ),
)


# ----- 3. the sigmoid neuron -------------------------------------------------------

def neuron_backward(w, x):
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    s = sigmoid(dot)
    ddot = (1.0 - s) * s  # the local gradient uses the sigmoid's output
    dw = np.array([x[0], x[1], 1.0]) * ddot
    dx = np.array([w[0], w[1]]) * ddot
    return dw, dx


def _neuron_with_local(local):
    def wrong(w, x):
        dot = w[0] * x[0] + w[1] * x[1] + w[2]
        ddot = local(dot)
        return np.array([x[0], x[1], 1.0]) * ddot, np.array([w[0], w[1]]) * ddot
    return wrong


def _neuron_case(rng: np.random.Generator, k: int) -> Case:
    w, x = array(rng, (3,)), array(rng, (2,))
    return Case((w, x), f"w = {w.tolist()}, x = {x.tolist()}")


NEURON = Exercise(
    id="01.sigmoid_neuron",
    title="sigmoid neuron, backward",
    reference=neuron_backward,
    public=(Case((np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])), "w = [2, -3, -3], x = [-1, -2]"),),
    hidden=many(20, _neuron_case),
    outputs=("dw", "dx"),
    misconceptions=(
        Misconception("output_for_input", "The sigmoid's local gradient is s(1 - s) with s the sigmoid's"
                                          " *output*; you used its input (the dot product) in that formula.",
                      _neuron_with_local(lambda dot: dot * (1.0 - dot))),
        Misconception("wrong_value", "You multiplied by the sigmoid itself; its *derivative* s(1 - s) is the"
                                     " local gradient.",
                      _neuron_with_local(sigmoid)),
        Misconception("sign", "The sigmoid's derivative is s(1 - s), positive everywhere; yours has the"
                              " sign of s(s - 1).",
                      _neuron_with_local(lambda dot: -sigmoid(dot) * (1.0 - sigmoid(dot)))),
    ),
)


# ----- 4. the numerical derivative and its step size --------------------------------

def numerical_derivative(f, x, h):
    return (f(x + h) - f(x - h)) / (2.0 * h)


def _cube(x):
    return x**3


def _softplus(x):
    return math.log1p(math.exp(x))


FUNCTIONS = {"sin": math.sin, "exp": math.exp, "cube": _cube, "softplus": _softplus, "sigmoid": sigmoid}
DERIVATIVES = {
    "sin": math.cos,
    "exp": math.exp,
    "cube": lambda x: 3 * x**2,
    "softplus": sigmoid,
    "sigmoid": lambda x: sigmoid(x) * (1 - sigmoid(x)),
}


def _derivative_case(rng: np.random.Generator, k: int) -> Case:
    name = sorted(FUNCTIONS)[k % len(FUNCTIONS)]
    x = number(rng, -2, 2)
    h = float(10.0 ** -rng.integers(3, 6))
    return Case((FUNCTIONS[name], x, h), f"f = {name}, x = {x:g}, h = {h:g}")


NUMERICAL = Exercise(
    id="01.numerical_derivative",
    title="central-difference derivative",
    reference=numerical_derivative,
    public=(Case((math.sin, 1.0, 1e-4), "f = sin, x = 1, h = 1e-4"),
            Case((_cube, 2.0, 1e-3), "f = cube, x = 2, h = 1e-3")),
    hidden=many(20, _derivative_case),
    outputs=("derivative",),
    rtol=1e-7,
    misconceptions=(
        Misconception("step", "That is the one-sided difference (f(x+h) - f(x)) / h. Use the central"
                              " difference, which looks at x + h and x - h: its error shrinks like h², not h.",
                      lambda f, x, h: (f(x + h) - f(x)) / h),
        Misconception("step", "The two points x + h and x - h are 2h apart: divide by 2h, not h.",
                      lambda f, x, h: (f(x + h) - f(x - h)) / h),
        Misconception("sign", "Subtract in the other order: f(x + h) - f(x - h).",
                      lambda f, x, h: (f(x - h) - f(x + h)) / (2.0 * h)),
    ),
)


def _step_errors(f, dfdx, x, steps):
    exact = dfdx(x)
    return [abs(numerical_derivative(f, x, h) - exact) for h in steps]


def best_step(f, dfdx, x, steps):
    errors = _step_errors(f, dfdx, x, steps)
    return steps[int(np.argmin(errors))]


def _best_step_agrees(got, expected, case: Case) -> bool:
    # Neighbouring steps can be within round-off of each other; any step whose
    # error is within a factor 3 of the smallest is as good an answer.
    f, dfdx, x, steps = case.args
    try:
        position = [float(s) for s in steps].index(float(got))
    except (TypeError, ValueError):
        return False
    errors = _step_errors(f, dfdx, x, steps)
    return errors[position] <= 3.0 * min(errors) + 1e-300


STEPS = [10.0**-k for k in range(1, 15)]


def _step_case(rng: np.random.Generator, k: int) -> Case:
    name = sorted(FUNCTIONS)[k % len(FUNCTIONS)]
    x = number(rng, 0.3, 2)
    return Case((FUNCTIONS[name], DERIVATIVES[name], x, list(STEPS)), f"f = {name}, x = {x:g}, steps 1e-1 ... 1e-14")


BEST_STEP = Exercise(
    id="01.best_step",
    title="the step-size trade-off",
    reference=best_step,
    public=(Case((math.sin, math.cos, 1.0, list(STEPS)), "f = sin, x = 1, steps 1e-1 ... 1e-14"),),
    hidden=many(10, _step_case),
    outputs=("h",),
    agree=_best_step_agrees,
    misconceptions=(
        Misconception("step", "The smallest step is not the most accurate: below about 1e-6, the round-off"
                              " in f(x + h) - f(x - h) is divided by a tiny 2h and grows. Measure the error of"
                              " each step against the exact derivative and keep the smallest error.",
                      lambda f, dfdx, x, steps: min(steps)),
        Misconception("step", "The largest step has the largest truncation error (it shrinks like h²)."
                              " Measure the error of each step against the exact derivative.",
                      lambda f, dfdx, x, steps: max(steps)),
    ),
)

EXERCISES = [MUL_GATE, ADD_GATE, MAX_GATE, COMPOUND, NEURON, NUMERICAL, BEST_STEP]
