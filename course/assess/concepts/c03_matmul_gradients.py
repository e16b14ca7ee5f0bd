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
from course.compute.layer_mistakes import LayerBackward
from course.compute.layout import flat_index, position_of


# Worked examples, shown in the notebook: N = 2 examples, D = 3 inputs, F = 4 outputs.
X_WORKED = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]])
W_WORKED = np.array([[1.0, -1.0, 0.0, 2.0], [0.5, 1.0, -2.0, 0.0], [-1.0, 0.0, 1.0, 0.5]])
B_WORKED = np.array([[0.5, -1.5, 1.0, -1.0]])
DOUT_WORKED = np.array([[1.0, -2.0, 0.5, 1.0], [-1.0, 0.5, 2.0, -0.5]])
S_WORKED = X_WORKED @ W_WORKED + B_WORKED  # (2, 4), for the element-wise exercises


# ----- 1. fully connected: out = x · w ----------------------------------------------------

_ELEMENTWISE_HINT = ("The product `*` multiplies entry by entry (and needs shapes that match); the gradient of a matrix"
                     " product is a matrix product: `@`, with the transposes the shapes ask for.")


def fully_connected_backward(x, w, dout):
    return dout @ w.T, x.T @ dout


def _fc_case(rng: np.random.Generator, k: int) -> Case:
    n, d, f = sizes(rng, k)
    return case(x=array(rng, (n, d)), w=array(rng, (d, f)), dout=array(rng, (n, f)))


FULLY_CONNECTED = Exercise(
    id="03.fc_backward",
    title="fully connected, backward",
    answer_of=("course.compute.layers.fc_backward", "course.compute.layers.FullyConnected"),
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
        Misconception("elementwise", _ELEMENTWISE_HINT, lambda x, w, dout: (dout * w.T, x.T * dout)),
    ),
)


# ----- 3. relu and sigmoid, element-wise ---------------------------------------------------

def relu_backward(x, dout):
    # At x = 0 exactly, relu is the max gate at a tie: half each (as course.compute.layers does).
    return dout * np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5))


def _sigmoid(x):
    return layers.sigmoid_forward(x)[0]


def sigmoid_backward(x, dout):
    s = _sigmoid(x)
    return dout * s * (1.0 - s)


def _elementwise_case(rng: np.random.Generator, k: int) -> Case:
    n, _, f = sizes(rng, k)
    return case(x=array(rng, (n, f)), dout=array(rng, (n, f)))


# Zeros in x: relu's kink, where the course's rule (half each) is tested.
_RELU_ZEROS = (case(x=np.array([[0.0, 1.5, -2.0], [0.5, 0.0, -0.5]]),
                    dout=np.array([[2.0, -1.0, 1.0], [1.5, 3.0, 2.0]])),
               case(x=np.array([[0.0, -1.0, 0.0, 2.5]]), dout=np.array([[1.0, 2.0, -3.0, 0.5]])))

RELU = Exercise(
    id="03.relu_backward",
    title="relu, backward",
    answer_of=("course.compute.layers.relu_backward", "course.compute.layers.Activation"),
    reference=relu_backward,
    public=(case(x=S_WORKED, dout=DOUT_WORKED),),
    hidden=many(12, _elementwise_case, edges=_RELU_ZEROS),
    outputs=("dx",),
    upstream=1,
    misconceptions=(
        Misconception("tie", "At x = 0 exactly (relu's kink) your gradient is 0. Relu is max(0, x), and at a"
                             " tie the course splits the gradient half each: 0.5·dout there, what the central"
                             " difference measures.", lambda x, dout: dout * (x > 0)),
        Misconception("tie", "At x = 0 exactly (relu's kink) your gradient is all of dout. Relu is max(0, x), and"
                             " at a tie the course splits the gradient half each: 0.5·dout there.",
                      lambda x, dout: dout * (x >= 0)),
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
    answer_of=("course.compute.layers.sigmoid_backward", "course.compute.layers.Activation"),
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


# ----- 4. one layer, backward: out = act(x @ w + b) ----------------------------------------

ACTIVATIONS = ("relu", "sigmoid", "identity")


def layer_backward(x, w, b, dout, activation):
    # The layer template run backward: activation first (it ran last), then the bias, then the product.
    s = x @ w + b  # the activation's input: the intermediate its local derivative needs
    if activation == "relu":
        ds = relu_backward(s, dout)
    elif activation == "sigmoid":
        ds = sigmoid_backward(s, dout)
    else:
        ds = dout.copy()
    db = ds.sum(axis=0, keepdims=True)  # b was added to every row
    dx, dw = fully_connected_backward(x, w, ds)
    return dx, dw, db


def _layer_case(rng: np.random.Generator, k: int) -> Case:
    n, d, c = sizes(rng, k)
    # Weights a third of the usual size keep the sigmoid away from saturation on most cases.
    x, w = array(rng, (n, d)), np.round(array(rng, (d, c)) / 3.0, 2)
    return case(x=x, w=w, b=array(rng, (1, c)), dout=array(rng, (n, c)), activation=ACTIVATIONS[k % 3])


# Ties at relu's kink: row 0 of S is [0, 1.5, 0, -2] (x · w cancels b exactly in binary fractions),
# row 1 is x = 0, so S = b there, with its own zero in the last column.
_X_TIE = np.array([[1.0, -0.5, 2.0], [0.0, 0.0, 0.0]])
_W_TIE = np.array([[0.5, 1.0, -1.0, 0.25], [1.0, -2.0, 0.5, 0.5], [-0.25, 0.5, 0.75, -1.0]])
_LAYER_EDGES = (
    case(x=_X_TIE, w=_W_TIE, b=np.array([[0.5, -1.5, -0.25, 0.0]]),
         dout=np.array([[1.0, -2.0, 0.5, 3.0], [2.0, 1.5, -1.0, 0.5]]), activation="relu"),
    # A batch of one with S = 0 everywhere: every entry of relu is at its kink.
    case(x=np.zeros((1, 4)), w=np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25], [2.0, -0.75]]),
         b=np.zeros((1, 2)), dout=np.array([[1.5, -2.0]]), activation="relu"),
    # Extreme spreads within a row: the sigmoid saturates at both ends (σ' about 4e-18) beside S near 0.
    case(x=np.array([[2.0, -1.0, 0.5], [-3.0, 1.5, 2.0]]),
         w=np.array([[10.0, -0.5, 0.25, -8.0, 1.0], [-10.0, 0.5, 1.0, 6.0, -0.5], [4.0, 0.25, -0.5, 2.0, 0.75]]),
         b=np.array([[8.0, 0.1, -0.2, -20.0, 0.3]]), dout=np.array([[1.0, -2.0, 0.5, 3.0, -1.5],
                                                               [-0.5, 1.0, 2.0, -1.0, 0.25]]),
         activation="sigmoid"),
    # A zero column in x (a feature that is always off): its row of dw is 0 whatever the other stages do.
    case(x=np.array([[1.5, 0.0], [-2.0, 0.0], [0.5, 0.0]]), w=np.array([[0.5, -1.0, 2.0, 0.25],
                                                                      [1.0, 0.75, -0.5, -1.5]]),
         b=np.array([[0.25, 0.5, -1.0, 0.75]]), dout=np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -1.5, 1.0, 2.0],
                                                                [-2.0, 1.0, 0.25, -0.5]]),
         activation="identity"),
)

_LAYER_TIE_HINT = ("In the activation's step (relu), at S = 0 exactly (relu's kink, where x @ w + b cancels) your"
                   " gradient is {what}. Relu is max(0, S), and at a tie the course splits the gradient half each:"
                   " 0.5·dout there, what the central difference measures.")

LAYER = Exercise(
    id="03.layer_backward",
    title="one layer, backward: activation, bias, product",
    answer_of=("course.compute.layers.Layer", "course.compute.layers.fc_backward",
               "course.compute.layers.add_bias_backward", "course.compute.layers.relu_backward",
               "course.compute.layers.sigmoid_backward"),
    reference=layer_backward,
    public=(case(x=X_WORKED, w=W_WORKED, b=B_WORKED, dout=DOUT_WORKED, activation="relu"),
            case(x=X_WORKED, w=W_WORKED, b=B_WORKED, dout=DOUT_WORKED, activation="sigmoid")),
    hidden=many(12, _layer_case, edges=_LAYER_EDGES),
    outputs=("dx", "dw", "db"),
    upstream=3,
    misconceptions=(
        # the activation's step
        Misconception("tie", _LAYER_TIE_HINT.format(what="0"), LayerBackward(relu="zero_at_tie")),
        Misconception("tie", _LAYER_TIE_HINT.format(what="all of dout"), LayerBackward(relu="all_at_tie")),
        Misconception("output_for_input", "In the activation's step (relu) your gradient passes through everywhere,"
                                          " also where S = x @ w + b was negative: testing relu's output with"
                                          " `>= 0` is always true. Take the decision from relu's input S.",
                      LayerBackward(relu="output_ge")),
        Misconception("wrong_value", "In the activation's step (relu) you multiplied dout by relu's output. Its"
                                     " local derivative is 1 where S > 0 and 0 where S < 0, whatever the size of S.",
                      LayerBackward(relu="times_output")),
        Misconception("wrong_value", "In the activation's step (relu) you let through the positive *gradients*."
                                     " Which entries pass is decided by the forward value S = x @ w + b, not by the"
                                     " sign of dout.", LayerBackward(relu="positive_dout")),
        Misconception("output_for_input", "In the activation's step (sigmoid) you put S, the sigmoid's input, into"
                                          " s(1 - s). In that formula s is the sigmoid's *output*, σ(S): compute"
                                          " it first.", LayerBackward(sigmoid="input")),
        Misconception("wrong_value", "In the activation's step (sigmoid) you multiplied dout by σ(S) itself. The"
                                     " local derivative is s(1 - s) with s = σ(S).", LayerBackward(sigmoid="value")),
        Misconception("intermediate", "Your activation's local derivative is taken at x @ w, but the activation"
                                      " saw S = x @ w + b. Name that intermediate in your code and take the"
                                      " derivative there.", LayerBackward(without_bias=True)),
        # the order of the stages
        Misconception("reverse_order", "Your dw and db are computed from dout as it arrives, before the"
                                       " activation's step. The backward pass runs the modules in reverse: the"
                                       " activation (last forward) first; the bias and the product get its result.",
                      LayerBackward(dw="from_dout", db="from_dout")),
        Misconception("reverse_order", "Your db is the sum of dout as it arrives, before the activation's step:"
                                       " the bias's step ran first. The backward pass runs the modules in reverse:"
                                       " the activation first, then the bias.", LayerBackward(db="from_dout")),
        # the bias's step
        Misconception("one_over_n", "In the bias's step your db is the *mean* over the rows. Every row used the"
                                    " same b and sends its own share back to it: the shares add up, a sum, not an"
                                    " average.", LayerBackward(db="mean")),
        # the product's step
        Misconception("one_over_n", "In the product's step your dw is divided by the batch size. Nothing here is a"
                                    " mean: every example adds its own share to dw, and a 1/N of the loss is"
                                    " already inside dout.", LayerBackward(dw="mean")),
        Misconception("elementwise", "In the product's step: " + _ELEMENTWISE_HINT[0].lower() + _ELEMENTWISE_HINT[1:],
                      LayerBackward(elementwise=True)),
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
    answer_of=("course.compute.layout.flat_index",),
    reference=flat_index,
    public=(Case(((1, 2, 3), (2, 3, 4)), "position (1, 2, 3) in shape (2, 3, 4)"),
            Case(((0, 1, 0, 4), (3, 2, 4, 5)), "position (0, 1, 0, 4) in shape (3, 2, 4, 5)")),
    hidden=_flat_index_cases,
    outputs=("index",),
    returns={"index": "int"},
    misconceptions=(
        Misconception("index_order", "Your index makes the *first* axis the fastest (column-major). Row-major,"
                                     " numpy's default, makes the last axis the fastest: neighbours along the"
                                     " last axis are neighbours in memory.", _fortran_index),
    ),
)

POSITION_OF = Exercise(
    id="03.position_of",
    title="the position of a flat index",
    answer_of=("course.compute.layout.position_of",),
    reference=position_of,
    public=(Case((23, (2, 3, 4)), "flat index 23 in shape (2, 3, 4)"),
            Case((29, (3, 2, 4, 5)), "flat index 29 in shape (3, 2, 4, 5)")),
    hidden=_position_cases,
    outputs=("position",),
    returns={"position": "tuple of int"},
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
    answer_of=("course.compute.layers.exp_backward",),
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

EXERCISES = [FULLY_CONNECTED, RELU, SIGMOID, LAYER, FLAT_INDEX, POSITION_OF, EXP_LAYER]
