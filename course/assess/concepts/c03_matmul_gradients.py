"""Exercises of concept 03, gradients of vectorized layers (SYLLABUS §03).

Every array case uses a batch size N and feature sizes D, F that are all
different, so that a missing or misplaced transpose changes a result's shape
and is caught by the shape diagnosis. The bias is a row of shape (1, F), as in
``course.compute.layers``.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import array, case, many, sizes
from course.assess.exercise import Case, Exercise, Misconception
from course.compute import layers
from course.compute.layout import flat_index, position_of


# Worked examples, shown in the notebook: N = 2 examples, D = 3 inputs, F = 4 outputs.
X_WORKED = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]])
W_WORKED = np.array([[1.0, -1.0, 0.0, 2.0], [0.5, 1.0, -2.0, 0.0], [-1.0, 0.0, 1.0, 0.5]])
B_WORKED = np.array([[0.5, -1.5, 1.0, -1.0]])
DOUT_WORKED = np.array([[1.0, -2.0, 0.5, 1.0], [-1.0, 0.5, 2.0, -0.5]])
S_WORKED = X_WORKED @ W_WORKED + B_WORKED  # (2, 4), for the element-wise exercises


# ----- 1. fully connected: out = x · w ----------------------------------------------------

def fully_connected_backward(x, w, dout):
    return dout @ w.T, x.T @ dout


def _fc_case(rng: np.random.Generator, k: int) -> Case:
    n, d, f = sizes(rng, k)
    return case(x=array(rng, (n, d)), w=array(rng, (d, f)), dout=array(rng, (n, f)))


FULLY_CONNECTED = Exercise(
    id="03.fc_backward",
    title="fully connected, backward",
    reference=fully_connected_backward,
    public=(case(x=X_WORKED, w=W_WORKED, dout=DOUT_WORKED),),
    hidden=many(12, _fc_case),
    outputs=("dx", "dw"),
    upstream=2,
    misconceptions=(
        Misconception("one_over_n", "Your dw is divided by the batch size. Nothing here is a mean: every"
                                    " example adds its own share to dw, and a 1/N of the loss is already"
                                    " inside dout.",
                      lambda x, w, dout: (dout @ w.T, x.T @ dout / x.shape[0])),
    ),
)


# ----- 2. add biases: out = x + b -----------------------------------------------------------

def bias_backward(dout):
    return dout.copy(), dout.sum(axis=0, keepdims=True)


def _bias_case(rng: np.random.Generator, k: int) -> Case:
    n, _, f = sizes(rng, k)
    return case(dout=array(rng, (n, f)))


BIAS = Exercise(
    id="03.bias_backward",
    title="add biases, backward",
    reference=bias_backward,
    public=(case(dout=DOUT_WORKED),),
    hidden=many(12, _bias_case),
    outputs=("dx", "db"),
    upstream=0,
    misconceptions=(
        Misconception("one_over_n", "Your db is the *mean* of dout over the rows. Each bias entry was added"
                                    " once in every row, so every row sends its gradient to it and they add"
                                    " up: a sum, not an average.",
                      lambda dout: (dout.copy(), dout.mean(axis=0, keepdims=True))),
        Misconception("upstream", "Your dx is all ones: that is the addition's local derivative alone. The"
                                  " gradient that reaches x is that 1 times the upstream gradient.",
                      lambda dout: (np.ones_like(dout), dout.sum(axis=0, keepdims=True))),
    ),
)


# ----- 3. relu and sigmoid, element-wise ---------------------------------------------------

def relu_backward(x, dout):
    return dout * (x > 0)


def _sigmoid(x):
    return layers.sigmoid_forward(x)[0]


def sigmoid_backward(x, dout):
    s = _sigmoid(x)
    return dout * s * (1.0 - s)


def _elementwise_case(rng: np.random.Generator, k: int) -> Case:
    n, _, f = sizes(rng, k)
    return case(x=array(rng, (n, f)), dout=array(rng, (n, f)))


RELU = Exercise(
    id="03.relu_backward",
    title="relu, backward",
    reference=relu_backward,
    public=(case(x=S_WORKED, dout=DOUT_WORKED),),
    hidden=many(12, _elementwise_case),
    outputs=("dx",),
    upstream=1,
    misconceptions=(
        Misconception("output_for_input", "Your gradient passes through everywhere, also where x was negative."
                                          " Testing relu's output with `>= 0` is always true, since the output"
                                          " is never negative. Take the decision from the input x instead.",
                      lambda x, dout: dout * (np.maximum(0.0, x) >= 0)),
        Misconception("wrong_value", "You multiplied dout by relu's output. The local derivative of relu is"
                                     " 1 where the input is positive and 0 where it is negative, whatever its"
                                     " size.",
                      lambda x, dout: dout * np.maximum(0.0, x)),
        Misconception("wrong_value", "You let through the positive *gradients*. Which entries pass is decided"
                                     " by the forward input x, not by the sign of dout.",
                      lambda x, dout: np.maximum(0.0, dout)),
    ),
)

SIGMOID = Exercise(
    id="03.sigmoid_backward",
    title="sigmoid, backward",
    reference=sigmoid_backward,
    public=(case(x=S_WORKED, dout=DOUT_WORKED),),
    hidden=many(12, _elementwise_case),
    outputs=("dx",),
    upstream=1,
    misconceptions=(
        Misconception("output_for_input", "You put the input x into s(1 - s). In that formula s is the"
                                          " sigmoid's *output*, σ(x): compute it first.",
                      lambda x, dout: dout * x * (1.0 - x)),
        Misconception("wrong_value", "You multiplied dout by σ(x) itself. The local gradient is the"
                                     " sigmoid's derivative, s(1 - s) with s = σ(x).",
                      lambda x, dout: dout * _sigmoid(x)),
    ),
)


# ----- 4. a two-module layer: out = relu(x + b) -----------------------------------------------

def bias_relu_backward(x, b, dout):
    s = x + b  # the relu's input: the intermediate the backward pass needs
    ds = dout * (s > 0)
    return ds, ds.sum(axis=0, keepdims=True)


def _bias_relu_case(rng: np.random.Generator, k: int) -> Case:
    n, _, f = sizes(rng, k)
    x, b = array(rng, (n, f)), array(rng, (1, f))
    x = np.where(x + b == 0.0, x + 0.25, x)  # keep off relu's kink
    return case(x=x, b=b, dout=array(rng, (n, f)))


BIAS_RELU = Exercise(
    id="03.bias_relu_backward",
    title="add biases then relu, backward in reverse",
    reference=bias_relu_backward,
    public=(case(x=X_WORKED @ W_WORKED, b=B_WORKED, dout=DOUT_WORKED),),
    hidden=many(12, _bias_relu_case),
    outputs=("dx", "db"),
    upstream=2,
    misconceptions=(
        Misconception("reverse_order", "Your db is the sum of dout as it arrives, before the relu: you ran the"
                                       " bias's backward first. The backward pass runs the modules in reverse:"
                                       " relu (last forward) first, then the bias.",
                      lambda x, b, dout: (dout * (x + b > 0), dout.sum(axis=0, keepdims=True))),
        Misconception("intermediate", "Your relu mask looks at x, but the relu saw S = x + b. Name that"
                                      " intermediate in your code and take the mask from it.",
                      lambda x, b, dout: bias_relu_backward(x, np.zeros_like(b), dout)),
    ),
)


# ----- 5. the flat index and its inverse -------------------------------------------------

def _fortran_index(position, shape):
    return int(np.ravel_multi_index(tuple(position), tuple(shape), order="F"))


def _true_division_position(index, shape):
    # The formula with `/`: p = (index / stride) % size keeps the fractions.
    position, stride = [], 1
    for size in reversed(shape):
        position.append((index / stride) % size)
        stride *= size
    return tuple(reversed(position))


def _volume_cases(rng: np.random.Generator) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    volumes = []
    for k in range(12):
        rank = 2 + k % 3  # batch plus 1 to 3 more axes
        shape = tuple(int(v) for v in rng.integers(2, 6, size=rank))
        position = tuple(int(rng.integers(0, s)) for s in shape)
        volumes.append((position, shape))
    return volumes


def _flat_index_cases(rng):
    return [Case((p, s), f"position {p} in shape {s}") for p, s in _volume_cases(rng)]


def _position_cases(rng):
    return [Case((flat_index(p, s), s), f"flat index {flat_index(p, s)} in shape {s}")
            for p, s in _volume_cases(rng)]


FLAT_INDEX = Exercise(
    id="03.flat_index",
    title="the flat index of a position",
    reference=flat_index,
    public=(Case(((1, 2, 3), (2, 3, 4)), "position (1, 2, 3) in shape (2, 3, 4)"),
            Case(((0, 1, 0, 4), (3, 2, 4, 5)), "position (0, 1, 0, 4) in shape (3, 2, 4, 5)")),
    hidden=_flat_index_cases,
    outputs=("index",),
    misconceptions=(
        Misconception("index_order", "Your index makes the *first* axis the fastest (column-major). Row-major,"
                                     " numpy's default, makes the last axis the fastest: neighbours along the"
                                     " last axis are neighbours in memory.", _fortran_index),
    ),
)

POSITION_OF = Exercise(
    id="03.position_of",
    title="the position of a flat index",
    reference=position_of,
    public=(Case((23, (2, 3, 4)), "flat index 23 in shape (2, 3, 4)"),
            Case((29, (3, 2, 4, 5)), "flat index 29 in shape (3, 2, 4, 5)")),
    hidden=_position_cases,
    outputs=("position",),
    misconceptions=(
        Misconception("integer_division", "Your position has fractions: `/` is true division in Python 3."
                                          " Positions are whole numbers: divide with `//`.",
                      _true_division_position),
        Misconception("index_order", "Your position reads the flat index as column-major (first axis fastest)."
                                     " Row-major puts the last axis fastest: peel it off first with `% size`.",
                      lambda index, shape: tuple(int(p) for p in np.unravel_index(index, shape, order="F"))),
        Misconception("order", "Your position lists the axes from last to first. Peeling off the last axis"
                               " first is right, but the result must start with the batch axis.",
                      lambda index, shape: tuple(reversed(position_of(index, shape)))),
    ),
)


# ----- 6. H = exp(XW + b), through the intermediate S --------------------------------------

def exp_layer_backward(X, W, b, dH):
    S = X @ W + b
    dS = np.exp(S) * dH  # element-wise: each S entry feeds only its own H entry
    return dS @ W.T, X.T @ dS, dS.sum(axis=0, keepdims=True)


def _exp_layer_with_local(local):
    def wrong(X, W, b, dH):
        dS = local(X, W, b) * dH
        return dS @ W.T, X.T @ dS, dS.sum(axis=0, keepdims=True)
    return wrong


def _exp_case(rng: np.random.Generator, k: int) -> Case:
    n, d, c = sizes(rng, k)
    # Small weights keep exp(S) in a readable range.
    X, W = array(rng, (n, d)), np.round(array(rng, (d, c)) / 3.0, 2)
    return case(X=X, W=W, b=array(rng, (1, c)), dH=array(rng, (n, c)))


EXP_LAYER = Exercise(
    id="03.exp_layer",
    title="H = exp(XW + b), backward through S",
    reference=exp_layer_backward,
    public=(case(X=X_WORKED, W=W_WORKED / 2, b=B_WORKED, dH=DOUT_WORKED),),
    hidden=many(12, _exp_case),
    outputs=("dX", "dW", "db"),
    upstream=3,
    misconceptions=(
        Misconception("output_for_input", "You multiplied dH by S. The local derivative of exp is exp itself,"
                                          " evaluated at S: that is the output H, not the input S.",
                      _exp_layer_with_local(lambda X, W, b: X @ W + b)),
        Misconception("wrong_value", "You passed dH straight on as if H were S: the exp's local derivative"
                                     " is missing. First dS = (local derivative of exp) ⊙ dH, then the"
                                     " matrix product.",
                      _exp_layer_with_local(lambda X, W, b: np.ones_like(X @ W))),
        Misconception("intermediate", "Your exp was taken at XW, without the bias. The intermediate is"
                                      " S = XW + b: the local derivative is exp at that S.",
                      _exp_layer_with_local(lambda X, W, b: np.exp(X @ W))),
    ),
)

EXERCISES = [FULLY_CONNECTED, BIAS, RELU, SIGMOID, BIAS_RELU, FLAT_INDEX, POSITION_OF, EXP_LAYER]
