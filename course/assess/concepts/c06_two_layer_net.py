"""Exercises of concept 06, the two-layer network trained end to end (SYLLABUS §06).

Composite exercises: the whole network's loss and every gradient, the L2
term, a training loop graded by what it does, a gradient checker graded by
its verdicts, and a bug hunt. Network cases draw N, D, H, C all different
(a missing transpose changes a shape) and include a batch of one and a relu
input exactly at 0; at that tie the course's half share and the frameworks'
0 (or 1) are all accepted, since each is a valid subgradient.
"""

from __future__ import annotations

import copy

import numpy as np

from course.assess.cases import array, case, many, remark, sizes
from course.assess.checker_runs import (CHECK_STEP, CHECK_TOLERANCE, check_cases, checker, public_check_cases,
                                        run_checker)
from course.assess.exercise import Case, Exercise, Misconception
from course.assess.loop_audit import WatchedNetwork, audit, same_rows
from course.compute.data import blobs
from course.compute.initialisation import scale_variant
from course.compute.network import two_layer_network
from course.compute.network_mistakes import (TIE_SHARES, ascent_loop, epoch_losses, fixed_backward, full_batch,
                                             network_with_switches, partly_fixed,
                                             rebinding_loop)
from course.compute.network_runs import GOOD_RUN, Behaviour, run_and_report


# The course's own network (its modules and the network itself): what 06.network_loss and 06.bug_hunt ask for.
NETWORK_ANSWER = tuple(f"course.compute.{name}" for name in (
    "network.Network", "network.two_layer_network", "network.Dropout", "layers.FullyConnected", "layers.AddBias",
    "layers.Activation"))


def _close_all(got, want, rtol=1e-6, atol=1e-9) -> bool:
    try:
        return len(got) == len(want) and all(
            np.allclose(np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64), rtol=rtol, atol=atol)
            for g, w in zip(got, want))
    except (TypeError, ValueError):
        return False


# ----- 1. the whole network: loss and every gradient ------------------------------------------

def network_loss(x, y, W1, b1, W2, b2, l2, mask, keep_prob):
    return network_with_switches(x, y, W1, b1, W2, b2, l2, mask, keep_prob)


def _network_args(rng, n, d, h, c, keep_prob, l2):
    x, W1, W2 = array(rng, (n, d)), array(rng, (d, h), -1.0, 1.0), array(rng, (h, c), -1.0, 1.0)
    b1, b2 = array(rng, (1, h), -1.0, 1.0), array(rng, (1, c), -1.0, 1.0)
    y = rng.integers(0, c, n)
    mask = (rng.random((n, h)) < keep_prob).astype(np.float64)
    mask.flat[0] = 1.0  # at least one kept unit, so the mask shows in dW1
    if mask.size > 1 and keep_prob < 1.0:
        mask.flat[-1] = 0.0  # and one dropped unit, so a forgotten mask shows
    return case(x=x, y=y, W1=W1, b1=b1, W2=W2, b2=b2, l2=l2, mask=mask, keep_prob=keep_prob)


def _network_case(rng: np.random.Generator, k: int) -> Case:
    n, d, h, c = sizes(rng, k, 4)
    keep_prob = float(rng.choice([1.0, 0.5, 0.8, 0.6]))
    l2 = float(rng.choice([0.0, 0.1, 0.3])) if k % 3 else 0.2
    return _network_args(rng, n, d, h, c, keep_prob, l2)


def _tie_case() -> Case:
    """Unit 0 of example 0 gets a pre-activation of exactly 0: relu's tie."""
    rng = np.random.default_rng(606)
    base = _network_args(rng, 3, 2, 4, 5, 0.8, 0.1)
    x, y, W1, b1, W2, b2, l2, mask, keep_prob = base.args
    b1 = b1.copy()
    b1[0, 0] = -(x @ W1)[0, 0]  # x @ W1 + b1 is then exactly 0.0 at [0, 0]
    return remark(case(x=x, y=y, W1=W1, b1=b1, W2=W2, b2=b2, l2=l2, mask=mask, keep_prob=keep_prob),
                  "a relu input exactly 0")


def _large_scores_case() -> Case:
    """Inputs thousands of times larger: scores in the thousands, where exp overflows without the max shift.

    Each label is its row's highest score, so that with the shift no probability of a label underflows:
    a right answer that takes the log of P (as the text allows) stays finite.
    """
    x, _, W1, b1, W2, b2, l2, mask, keep_prob = _network_args(np.random.default_rng(607), 4, 3, 5, 2, 1.0, 0.1).args
    x = x * 3000.0
    y = (np.maximum(0.0, x @ W1 + b1) @ W2 + b2).argmax(axis=1)
    return remark(case(x=x, y=y, W1=W1, b1=b1, W2=W2, b2=b2, l2=l2, mask=mask, keep_prob=keep_prob),
                  "inputs thousands of times larger (scores in the thousands)")


def _agree_any_tie(reference_with_tie):
    def agree(got, expected, case_):
        return any(_close_all(got, reference_with_tie(*case_.args, tie=t)) for t in TIE_SHARES)
    return agree


_W = dict(x=np.array([[1.0, -0.5, 2.0], [0.5, 1.5, -1.0]]), y=np.array([1, 0]),
          W1=np.array([[0.2, -0.4, 0.1, 0.3], [-0.3, 0.5, 0.2, -0.1], [0.4, 0.1, -0.2, 0.25]]),
          b1=np.array([[0.1, -0.1, 0.05, 0.0]]), W2=np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [0.25, -0.3]]),
          b2=np.array([[0.05, -0.05]]))
WORKED_MASK = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0]])

NETWORK_LOSS = Exercise(
    id="06.network_loss",
    title="the two-layer network's loss and every gradient",
    reference=network_loss,
    public=(case(**_W, l2=0.1, mask=WORKED_MASK, keep_prob=0.75),
            case(**_W, l2=0.0, mask=np.ones((2, 4)), keep_prob=1.0)),
    hidden=many(12, _network_case, edges=(_tie_case(), _large_scores_case())),
    outputs=("loss", "dW1", "db1", "dW2", "db2"),
    agree=_agree_any_tie(network_with_switches),
    # The course's network computes this loss and its gradients: calling it is not the learner's own work.
    answer_of=NETWORK_ANSWER + ("course.compute.network_mistakes.network_with_switches",),
    misconceptions=(
        Misconception("l2_gradient", "Your loss has the L2 penalty, but the weight gradients do not: the"
                                     " penalty (λ/2)·ΣW² is a second path from each W to the loss, and its"
                                     " gradient λW adds to dW.",
                      lambda *a: network_with_switches(*a, l2_grad=0.0)),
        Misconception("l2_gradient", "Your weight gradients have 2λW: that is the derivative of λ·ΣW². The"
                                     " penalty is (λ/2)·ΣW², whose derivative is λW.",
                      lambda *a: network_with_switches(*a, l2_grad=2.0)),
        Misconception("l2_gradient", "Your penalty in the loss is λ·ΣW² (no 1/2), but your gradient is λW:"
                                     " the loss and its gradient must belong together. Use (λ/2)·ΣW².",
                      lambda *a: network_with_switches(*a, l2_loss=1.0)),
        Misconception("l2_bias", "You decayed the biases too. Weight decay applies to W1 and W2 only: a"
                                 " bias shifts a unit, it does not make the function steeper.",
                      lambda *a: network_with_switches(*a, l2_bias=True)),
        Misconception("one_over_n", "Your gradients are N times too large: the loss is the *mean* over the"
                                    " batch, so dscores = (P − onehot) / N.",
                      lambda *a: network_with_switches(*a, n_divisor=False)),
        Misconception("mask_resampled", "Your backward pass lets the gradient through the units that dropout"
                                        " switched off: multiply dh by the same mask as the forward pass.",
                      lambda *a: network_with_switches(*a, mask_back=False)),
        Misconception("missing_scale", "Your backward pass through dropout forgets the 1/keep_prob that the"
                                       " forward pass applied.",
                      lambda *a: network_with_switches(*a, scale_back=False)),
        Misconception("output_for_input", "Your dW2 uses the hidden activations *before* dropout. The second"
                                          " layer's input is the dropped-out, scaled activation; dW2 = inputᵀ ·"
                                          " dscores needs that input.",
                      lambda *a: network_with_switches(*a, dW2_input="h")),
        Misconception("overflow", "Your loss overflows for large scores: exp of a score in the thousands is"
                                  " inf, and P becomes inf/inf = NaN. Subtract each row's largest score before"
                                  " the exp (softmax does not change), as in lesson 04.",
                      lambda *a: network_with_switches(*a, shift=False)),
        Misconception("wrong_value", "Your gradient passes relu unchanged: relu's local gradient is 1 where"
                                     " its input was positive and 0 where it was negative.",
                      lambda *a: network_with_switches(*a, relu_back=False)),
    ),
    time_limit=10.0,
)


# ----- 2. the L2 term -------------------------------------------------------------------------

def l2_term(W1, W2, l2):
    penalty = 0.5 * l2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    return float(penalty), l2 * W1, l2 * W2


def _l2_case(rng: np.random.Generator, k: int) -> Case:
    _, d, h, c = sizes(rng, k, 4)
    l2 = [0.1, 0.0, 0.5, 1e-3][k % 4]
    W1, W2 = array(rng, (d, h)), array(rng, (h, c))
    if k == 1:
        W1[0, :] = 0.0  # zeros in a weight matrix: their gradient is 0, the others are not
    return case(W1=W1, W2=W2, l2=l2)


L2_TERM = Exercise(
    id="06.l2_term",
    title="the L2 penalty and its gradients",
    reference=l2_term,
    public=(case(W1=_W["W1"], W2=_W["W2"], l2=0.1),),
    hidden=many(8, _l2_case),
    outputs=("penalty", "dW1", "dW2"),
    answer_of=("course.compute.network.Network.l2_penalty",),
    misconceptions=(
        Misconception("l2_gradient", "Your penalty is λ·ΣW², without the 1/2; the course's penalty is"
                                     " (λ/2)·ΣW², so that its gradient is simply λW.",
                      lambda W1, W2, l2: (float(l2 * (np.sum(W1**2) + np.sum(W2**2))), l2 * W1, l2 * W2)),
        Misconception("l2_gradient", "Your gradients are 2λW: the 1/2 in (λ/2)·ΣW² cancels the 2 of the"
                                     " square's derivative.",
                      lambda W1, W2, l2: (l2_term(W1, W2, l2)[0], 2 * l2 * W1, 2 * l2 * W2)),
        Misconception("l2_gradient", "Your penalty averages the squares instead of summing them: ‖W‖² is"
                                     " the sum of the squares of all entries.",
                      lambda W1, W2, l2: (float(0.5 * l2 * (np.mean(W1**2) + np.mean(W2**2))), l2 * W1, l2 * W2)),
        Misconception("l2_gradient", "Your penalty uses ‖W‖ (a square root) instead of ‖W‖², the sum of"
                                     " squares.",
                      lambda W1, W2, l2: (float(0.5 * l2 * (np.linalg.norm(W1) + np.linalg.norm(W2))),
                                          l2 * W1, l2 * W2)),
        Misconception("l2_gradient", "Your gradients are (λ/2)·W: the derivative of (λ/2)·ΣW² is λW, the 2 of"
                                     " the square cancelling the 1/2.",
                      lambda W1, W2, l2: (l2_term(W1, W2, l2)[0], 0.5 * l2 * W1, 0.5 * l2 * W2)),
        Misconception("l2_gradient", "Your gradients are W itself: the gradient of (λ/2)·ΣW² is λW, with the"
                                     " factor λ.", lambda W1, W2, l2: (l2_term(W1, W2, l2)[0], W1.copy(), W2.copy())),
        Misconception("l2_gradient", "Your penalty has only W1's squares: the L2 term sums the squares of both"
                                     " weight matrices, W1 and W2.",
                      lambda W1, W2, l2: (float(0.5 * l2 * np.sum(W1 ** 2)), l2 * W1, l2 * W2)),
    ),
)


# ----- 3. a training loop, graded by what it does -----------------------------------------------

# A small problem, so that a check stays well under a second: training
# points for the loop, and held-out points for the validation accuracy.
LOOP_TRAIN = blobs(30, np.random.default_rng(3))
LOOP_VAL = blobs(30, np.random.default_rng(4))
LOOP_ACCURACY = 0.9  # a correct loop reaches 0.97 to 1.0 here (measured over 18 seeds); untrained, 0.06
# Batches that do not divide the 90 points, so that a loop which drops the last, smaller batch shows.
LOOP_EPOCHS, LOOP_BATCH, LOOP_LR = 10, 25, 0.5
LOOP_BATCHES = (20, 25, 40)


def train_loop(net, x, y, lr, epochs, batch_size, rng):
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            batch = order[start:start + batch_size]
            loss, grads = net.loss_and_grads(x[batch], y[batch])
            for name, param in net.params.items():
                param -= lr * grads[name]
            losses.append(loss)
    return losses


def run_loop(answer, args):
    """Train with the learner's loop, watching each step where it runs (``loop_audit``); report its behaviour."""
    net, x, y, lr, epochs, batch_size, rng = args
    again = copy.deepcopy((net, x, y, rng))  # the same start, for a second run: does the rng decide the order?
    watched = WatchedNetwork(net, x)
    before = rng.bit_generator.state
    report = run_and_report(lambda *_: answer(watched, x, y, lr, epochs, batch_size, rng), args, LOOP_VAL,
                            LOOP_ACCURACY)
    if not isinstance(report, Behaviour):  # a known wrong loop reports itself: nothing to watch
        return report
    if watched.steps:
        audit(watched, len(y), epochs, batch_size, lr, before, rng.bit_generator.state)
        second = WatchedNetwork(again[0], again[1])
        answer(second, *again[1:3], lr, epochs, batch_size, again[3])
        same_rows(watched, second)
    return report


def _behaviour(loop):
    """A wrong loop as a misconception: it returns the report its run would give."""
    def behaviour(*args):
        return run_loop(loop, args)
    return behaviour


def _loop_case(hidden: int, seed: int, batch: int = LOOP_BATCH) -> Case:
    x, y = LOOP_TRAIN
    net = two_layer_network((2, hidden, 3), np.random.default_rng(seed), l2=1e-3)
    return Case((net, x, y, LOOP_LR, LOOP_EPOCHS, batch, np.random.default_rng(seed + 1)),
                f"a network with {hidden} hidden units (seed {seed}) on 90 points in three clouds, lr = {LOOP_LR:g},"
                f" {LOOP_EPOCHS} epochs, batches of {batch}")


def _loop_hidden(rng: np.random.Generator) -> list[Case]:
    return [_loop_case(int(rng.choice([20, 30, 40])), int(rng.integers(0, 1000)), LOOP_BATCHES[k % 3])
            for k in range(5)]


_COUNT_HINT = ("Your loop returned another number of losses than it took steps. Each epoch goes through"
               " the shuffled data in batches of `batch_size`, one SGD step per batch; return the loss of"
               " every step, not one per epoch.")

TRAIN_LOOP = Exercise(
    id="06.train_loop",
    title="a mini-batch SGD training loop",
    reference=train_loop,
    public=(_loop_case(30, 0),),
    hidden=_loop_hidden,
    outputs=("behaviour",),
    run=run_loop,
    run_in_sandbox=True,  # the loop's steps are watched where it runs (course.assess.loop_audit)
    answer_of=("course.compute.network.train", "course.compute.network._train", "course.compute.network.sgd_step",
               "course.compute.network.minibatches"),
    agree=lambda got, expected, case_: tuple(got) == GOOD_RUN,
    misconceptions=(
        Misconception("no_update", "The network never changes: `param = param - lr * grad` makes a new array"
                                   " and binds the loop's name to it. Update the network's own array in"
                                   " place: `param -= lr * grad`.", _behaviour(rebinding_loop)),
        Misconception("sign", "Your loss rises: you step *up* the gradient. Subtract lr · grad.",
                      _behaviour(ascent_loop)),
        *(Misconception("count", _COUNT_HINT, _behaviour(wrong(train_loop))) for wrong in (epoch_losses, full_batch)),
    ),
    time_limit=20.0,
)


# ----- 4. a gradient checker that decides -------------------------------------------------------

def grad_check(f, x, analytic, entries):
    worst = 0.0
    for index in entries:
        saved = x[index]
        x[index] = saved + CHECK_STEP
        plus = f(x)
        x[index] = saved - CHECK_STEP
        minus = f(x)
        x[index] = saved  # restore, or every later entry is checked at the wrong point
        numeric = (plus - minus) / (2 * CHECK_STEP)
        error = abs(analytic[index] - numeric) / max(abs(analytic[index]) + abs(numeric), 1e-8)
        worst = max(worst, error)
    return bool(worst <= CHECK_TOLERANCE)


_STEP_HINT = ("Your check rejects a correct gradient, so its numerical derivative is off. Use the central"
              " difference (f(x+h) − f(x−h)) / 2h with h = 1e-5: a one-sided difference, or a much larger step,"
              " also measures the curvature; a much smaller step loses the difference to round-off.")
_DENOMINATOR_HINT = ("Your relative error divides by another denominator than the task's. The course divides by"
                     " |a| + |n| (at least 1e-8), so that an error of 0.8e-6 there is 1.6e-6 with max(|a|, |n|) or"
                     " |a|: your check rejects a gradient the course's rule passes.")

GRAD_CHECK = Exercise(
    id="06.grad_check",
    title="a gradient check that decides",
    reference=grad_check,
    public=public_check_cases(),
    hidden=check_cases,
    outputs=("passed",),
    returns={"passed": "bool"},
    run=run_checker,
    run_in_sandbox=True,  # the checker's calls of f are watched where it runs
    answer_of=("course.compute.gradcheck.numerical_gradient", "course.compute.gradcheck.relative_error",
               "course.compute.gradcheck.compare_gradients", "course.compute.gradcheck.gradcheck",
               "course.compute.network.network_gradcheck"),
    misconceptions=(
        # First: a looser threshold passes the one-entry case too, but the mean is the mistake that passes nothing else.
        Misconception("threshold", "Your check decides on the mean error over the entries, so one wrong entry"
                                   " among right ones passes. A gradient is right only if every entry is: decide"
                                   " on the largest relative error.", checker(decide=np.mean)),
        Misconception("absolute_error", "Your check compares absolute differences, which grow and shrink with"
                                        " the loss's scale: it rejects correct gradients of a large loss and"
                                        " passes wrong ones of a tiny loss. Divide by |analytic| + |numeric|.",
                      checker(relative=False)),
        Misconception("threshold", "Your check passes a gradient with a relative error of 1e-5: 1e-4 is too"
                                   " loose for a smooth function in float64. A correct gradient agrees to"
                                   " about 1e-7 or better; the course passes at 1e-6.",
                      checker(tolerance=1e-4)),
        Misconception("threshold", "Your check passes gradients that are a fraction of a percent off: a"
                                   " threshold of 1e-2 is far too loose in float64. A correct gradient agrees"
                                   " to about 1e-7 or better; the course passes at 1e-6.",
                      checker(tolerance=1e-2)),
        *(Misconception("relative_error", _DENOMINATOR_HINT, checker(denominator=wrong))
          for wrong in (lambda a, n: max(abs(a), abs(n)), lambda a, n: abs(a), lambda a, n: abs(n))),
        *(Misconception("step", _STEP_HINT, wrong)
          for wrong in (checker(central=False), checker(step=1e-10), checker(step=1e-2))),
    ),
)


# ----- 5. bug hunt: fix the backward pass ---------------------------------------------------------

def _hunt_case(rng: np.random.Generator, k: int) -> Case:
    n, d, h, c = sizes(rng, k, 4)
    base = _network_args(rng, n, d, h, c, 1.0, [0.1, 0.3, 0.05][k % 3])
    x, y, W1, b1, W2, b2, l2, _, _ = base.args
    return case(x=x, y=y, W1=W1, b1=b1, W2=W2, b2=b2, l2=l2)


def _hunt_tie_case() -> Case:
    x, y, W1, b1, W2, b2, l2, _, _ = _tie_case().args
    return Case((x, y, W1, b1, W2, b2, l2), "x of shape (3, 2), 4 hidden units, l2 = 0.1, a relu input exactly 0")


BUG_HUNT = Exercise(
    id="06.bug_hunt",
    title="bug hunt: the backward pass whose curve levels off",
    reference=fixed_backward,
    public=(case(**_W, l2=0.1),),
    hidden=many(10, _hunt_case, edges=(_hunt_tie_case(),)),
    outputs=("dW1", "db1", "dW2", "db2"),
    agree=lambda got, expected, c: any(_close_all(got, partly_fixed(*c.args, tie=t)) for t in TIE_SHARES),
    answer_of=NETWORK_ANSWER + ("course.compute.network_mistakes.network_with_switches",
                                 "course.compute.network_mistakes.fixed_backward"),
    misconceptions=(
        Misconception("l2_gradient", "Your relu backward is fixed, but dW2 still misses its L2 term λ·W2:"
                                     " the penalty covers both weight matrices.",
                      lambda *a: partly_fixed(*a, l2_fixed=False)),
        Misconception("wrong_value", "Your dW2 has its L2 term now, but relu's backward still lets"
                                     " everything through: `h >= 0` is true for every unit, because relu's output is"
                                     " never negative. The gradient passes where the input z was positive.",
                      lambda *a: partly_fixed(*a, relu_fixed=False)),
        Misconception("wrong_value", "Both bugs are still there: the given backward pass returned unchanged.",
                      lambda *a: partly_fixed(*a, relu_fixed=False, l2_fixed=False)),
        Misconception("l2_gradient", "Your dW2 has its L2 term now, but dW1 lost its own: the penalty covers both"
                                     " weight matrices, so each gradient gets its λ·W.",
                      lambda *a: partly_fixed(*a, l2_w1=False)),
    ),
)


# ----- 6. He's initial scale (added with lesson 06's initialisation section) ----------

he_scales = scale_variant()  # He's rule: variance 2 / fan-in, returned as spreads sqrt(2 / fan-in)


def _widths_case(rng: np.random.Generator, k: int) -> Case:
    widths = [int(w) for w in rng.choice(np.arange(2, 600), size=2 + k % 5, replace=False)]  # fan-in != fan-out
    return Case((tuple(widths),), f"widths = {tuple(widths)}")


HE_SCALES = Exercise(
    id="06.he_scales", title="He's initial scale for every layer of a relu stack", reference=he_scales,
    public=(Case(((64, 128, 10),), "widths = (64, 128, 10), the digits network"),),
    hidden=many(10, _widths_case), outputs=("spreads",), function="he_scales",
    misconceptions=(
        Misconception("init_scale", "Your spreads are sqrt(1 / fan-in), right for tanh. A relu zeroes about half"
                      " of its inputs, halving the signal's mean square: which variance makes up for it?",
                      scale_variant(factor=1.0)),
        Misconception("init_scale", "Your spreads use each layer's outputs (fan-out). A pre-activation sums over"
                      " the layer's inputs: its variance grows with their number, the fan-in.", scale_variant(fan="out")),
        Misconception("init_scale", "Your numbers are variances; return the spreads (standard deviations), what"
                      " rng.normal(0, spread, ...) takes.", scale_variant(root=False)),
    ),
)

EXERCISES = [NETWORK_LOSS, L2_TERM, TRAIN_LOOP, GRAD_CHECK, BUG_HUNT, HE_SCALES]
