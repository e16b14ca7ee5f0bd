"""Exercises of concept 07, batch normalisation (SYLLABUS §07).

Gamma and beta are rows of shape (1, D) throughout, like the biases of lesson
03, so their gradients have that shape too. Training-mode cases have N >= 2
(a batch of one is refused by the course's layer: see
``course.compute.batchnorm``); test-mode cases include N = 1.

The wrong answers come from ``course.compute.batchnorm_mistakes``: one batch
normalisation with a knob per mistake (``batchnorm_variant``; the tables
below name the knobs), the running-statistics layer with a wrong branch, and
the course's module with one mistake.
"""

from __future__ import annotations

import numpy as np

from course.assess.batchnorm_slips import (BACKWARD_SLIPS, FORMULA_SLIPS, FORWARD_MISTAKES, PATH_MISTAKES,
                                          broadcast_slips, forward_only, layer_forward_slips, with_knobs)
from course.assess.cases import array, case, many, remark, sizes
from course.assess.exercise import Case, Exercise, Misconception
from course.assess.fresh_outputs import fresh_outputs
from course.compute.batchnorm import BatchNorm
from course.compute.batchnorm_mistakes import (MistakenBatchNorm, at_test_updating_running,
                                               at_test_with_batch_statistics, compact_formula_variant, compact_variant,
                                               formula_on_wrong_statistics, normalising_with, staged_variant,
                                               training_normalising_with_running, training_with, with_wrong_branch)
from course.compute.layernorm import LayerNorm, MistakenLayerNorm
from course.compute.network_runs import module_in_network, module_or_run

EPSILONS = (1e-5, 1e-3, 0.1)
# The course's own batch normalisation: what exercises 1, 2, 3 and 5 ask the learner to write.
BATCHNORM_ANSWER = tuple(f"course.compute.batchnorm.{name}" for name in (
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_staged", "path_gradients", "BatchNorm"))


# ----- cases ----------------------------------------------------------------------

def _features(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A batch whose columns differ in mean and spread, with spreads from 0.01 to 100 between cases.

    Columns of their own location and scale: a statistic taken over the wrong
    axis cannot come out right by chance.
    """
    spread = float(rng.choice([0.01, 0.3, 1.0, 5.0, 100.0]))
    return array(rng, shape) * spread * array(rng, (1, shape[1]), 0.5, 2.0) + array(rng, (1, shape[1]), -3, 3)


def _constant_column(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    x[:, int(rng.integers(x.shape[1]))] = float(array(rng, (1,))[0])  # variance 0: only eps keeps x_hat finite
    return x


def _training_case(rng: np.random.Generator, k: int, with_beta: bool = True) -> Case:
    n, d = sizes(rng, k + 1, count=2)  # k + 1: training needs N >= 2
    x = _features(rng, (n, d))
    if k % 4 == 3:
        x = _constant_column(x, rng)
    gamma, beta, dout = array(rng, (1, d)), array(rng, (1, d)), array(rng, (n, d))
    eps = float(rng.choice(EPSILONS))
    named = (dict(x=x, gamma=gamma, beta=beta, eps=eps, dout=dout) if with_beta
             else dict(dout=dout, x=x, gamma=gamma, eps=eps))
    return remark(case(**named), _constant_remark(x))


def _constant_remark(x: np.ndarray) -> str:
    constant = [str(j + 1) for j in range(x.shape[1]) if np.all(x[:, j] == x[0, j])]
    return f"feature {', '.join(constant)} constant (variance 0)" if constant else ""


# The lesson's example: N = 4 examples, D = 3 features.
_X = np.array([[1.0, 2.0, -1.0], [3.0, 0.0, -1.5], [0.0, 4.0, -0.5], [4.0, 2.0, -3.0]])
_GAMMA = np.array([[1.0, 0.5, 2.0]])
_BETA = np.array([[0.0, 1.0, -1.0]])
_DOUT = np.array([[0.5, -1.0, 1.0], [1.0, 0.5, -0.5], [-0.5, 1.0, 2.0], [2.0, 0.0, -1.0]])
_EPS = 1e-5
# A rectangular batch the other way round (N < D) with a constant feature and a large eps.
_X2 = np.array([[0.5, 10.0, -2.0, 3.0, 1.0], [1.5, 30.0, -2.0, -1.0, 1.25], [-1.0, 20.0, -2.0, 0.0, 0.75]])
_GAMMA2 = np.array([[2.0, -1.0, 0.5, 1.5, 1.0]])
_BETA2 = np.array([[0.5, 0.0, 1.0, -2.0, 0.25]])
_DOUT2 = np.array([[1.0, -0.5, 2.0, 0.5, -1.0], [0.0, 1.5, -1.0, 1.0, 2.0], [-2.0, 0.5, 0.5, -1.5, 1.0]])


# ----- 1. the staged forward and backward -----------------------------------------

def batchnorm_staged(x, gamma, beta, eps, dout):
    n = x.shape[0]
    mu = x.sum(axis=0, keepdims=True) / n
    xmu = x - mu
    sq = xmu**2
    var = sq.sum(axis=0, keepdims=True) / n
    std = np.sqrt(var + eps)
    istd = 1.0 / std
    x_hat = xmu * istd
    out = gamma * x_hat + beta

    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = (dout * x_hat).sum(axis=0, keepdims=True)
    dx_hat = dout * gamma
    dxmu = dx_hat * istd
    distd = (dx_hat * xmu).sum(axis=0, keepdims=True)
    dstd = -distd / std**2
    dvar = dstd / (2.0 * std)
    dsq = np.ones_like(sq) * dvar / n
    dxmu = dxmu + 2.0 * xmu * dsq
    dmu = -dxmu.sum(axis=0, keepdims=True)
    dx = dxmu + np.ones_like(x) * dmu / n
    return out, dx, dgamma, dbeta


STAGED = Exercise(
    id="07.batchnorm_staged",
    title="batch normalisation in stages, forward and backward",
    reference=batchnorm_staged,
    public=(Case((_X, _GAMMA, _BETA, _EPS, _DOUT), "the 4 × 3 example of the lesson, eps = 1e-05"),
            Case((_X2, _GAMMA2, _BETA2, 0.1, _DOUT2), "a 3 × 5 batch whose third feature is constant, eps = 0.1")),
    hidden=many(12, _training_case),
    outputs=("out", "dx", "dgamma", "dbeta"),
    upstream=4,
    answer_of=BATCHNORM_ANSWER,
    misconceptions=(*with_knobs(staged_variant, PATH_MISTAKES + FORWARD_MISTAKES + BACKWARD_SLIPS),
                    *forward_only(FORWARD_MISTAKES, staged_variant)),
)


# ----- 2. the compact backward ------------------------------------------------------

def batchnorm_backward_compact(dout, x, gamma, eps):
    n = x.shape[0]
    mu = x.mean(axis=0, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=0, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = (dout * x_hat).sum(axis=0, keepdims=True)
    dx = gamma / (n * std) * (n * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def _compact_without_one_over_n(dout, x, gamma, eps):
    dx, dgamma, dbeta = batchnorm_backward_compact(dout, x, gamma, eps)
    return dx * x.shape[0], dgamma, dbeta


COMPACT = Exercise(
    id="07.batchnorm_compact",
    title="the compact backward of batch normalisation",
    reference=batchnorm_backward_compact,
    public=(Case((_DOUT, _X, _GAMMA, _EPS), "the 4 × 3 example of the lesson, eps = 1e-05"),
            Case((_DOUT2, _X2, _GAMMA2, 0.1), "a 3 × 5 batch whose third feature is constant, eps = 0.1")),
    hidden=many(12, lambda rng, k: _training_case(rng, k, with_beta=False)),
    outputs=("dx", "dgamma", "dbeta"),
    upstream=0,
    answer_of=BATCHNORM_ANSWER,
    misconceptions=(
        # Someone who derives the backward themselves makes the mistakes of exercise 1 ...
        *with_knobs(compact_variant, PATH_MISTAKES[:3] + FORWARD_MISTAKES[:2]),
        # ... someone who uses the lesson's formula slips in the statistics it is fed.
        *with_knobs(formula_on_wrong_statistics, tuple(m for m in FORWARD_MISTAKES if "dvar_by" not in m.wrong)),
        Misconception("one_over_n", "Your dx is N times too large: the formula has the factor"
                                    " γ / (N · sqrt(σ² + ε)) in front of (N·dy − Σdy − x̂·Σ(dy·x̂)).",
                      _compact_without_one_over_n),
        *with_knobs(compact_formula_variant, FORMULA_SLIPS),
        *with_knobs(compact_variant, BACKWARD_SLIPS[2:5]),
    ),
)


# ----- 3. running statistics, train and test mode ---------------------------------

def batchnorm_layer(x, gamma, beta, running_mean, running_var, momentum, eps, train):
    if train:
        mu = x.mean(axis=0, keepdims=True)
        var = x.var(axis=0, keepdims=True)
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var  # test time: the running statistics, left as they are
        new_mean, new_var = running_mean.copy(), running_var.copy()
    out = gamma * (x - mu) / np.sqrt(var + eps) + beta
    return out, new_mean, new_var


def _layer_case(rng: np.random.Generator, k: int) -> Case:
    train = k % 2 == 0
    # Test mode gets batches of one as well: there, batch statistics would turn every output into beta.
    n, d = sizes(rng, k // 2 + (1 if train else 0), count=2)
    x = _features(rng, (n, d))
    if train and k % 4 == 2:
        x = _constant_column(x, rng)
    gamma, beta = array(rng, (1, d)), array(rng, (1, d))
    running_mean, running_var = array(rng, (1, d)), array(rng, (1, d), 0.1, 4.0)
    momentum, eps = float(rng.choice([0.8, 0.9, 0.95, 0.99])), float(rng.choice(EPSILONS))
    named = dict(x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var,
                 momentum=momentum, eps=eps, train=train)
    return remark(case(**named), _constant_remark(x) if train else "")


def _layer(train_step=None, test_step=None):
    """batchnorm_layer with its training or its test branch replaced by a wrong one."""
    return with_wrong_branch(batchnorm_layer, train_step, test_step)


_MOMENTUM_HINT = ("Your running statistics follow the new batch almost alone: momentum is the weight of the"
                  " running value, so running = momentum · running + (1 − momentum) · batch.")
_BATCH_AT_TEST_HINT = ("At test time your layer normalises with the test batch's own mean and variance. Test time"
                       " uses the running statistics: with batch statistics a batch of one example would always"
                       " give β, whatever the example.")

RUNNING = Exercise(
    id="07.running_stats",
    title="running statistics, train and test mode",
    reference=batchnorm_layer,
    public=(Case((_X, _GAMMA, _BETA, np.zeros((1, 3)), np.ones((1, 3)), 0.9, _EPS, True),
                 "the 4 × 3 example of the lesson, running mean 0 and variance 1, momentum = 0.9, train = True"),
            Case((_X[:1], _GAMMA, _BETA, np.array([[2.0, 1.0, -1.0]]), np.array([[2.5, 2.0, 0.5]]), 0.9, _EPS,
                  False), "one example (N = 1) at test time, momentum = 0.9, train = False")),
    hidden=many(12, _layer_case),
    outputs=("out", "new_mean", "new_var"),
    answer_of=BATCHNORM_ANSWER,
    # "Return new ones": a running statistic handed back as it came is refused, where it is still the input.
    run=fresh_outputs(("x", "gamma", "beta", "running_mean", "running_var"), ("out", "new_mean", "new_var")),
    run_in_sandbox=True,  # where the returned arrays are still the arguments' own
    misconceptions=(
        Misconception("test_batch_stats", _BATCH_AT_TEST_HINT, _layer(test_step=at_test_with_batch_statistics)),
        Misconception("running_update", "At test time your layer updates the running statistics with the test"
                                        " batch. They are learned during training only; test mode reads them"
                                        " and returns them unchanged.", _layer(test_step=at_test_updating_running)),
        Misconception("momentum_reversed", _MOMENTUM_HINT,
                      _layer(train_step=training_with(lambda run, new, m: (1 - m) * run + m * new))),
        Misconception("running_update", "In training your layer returns the running statistics unchanged:"
                                        " each training batch must move them, running = momentum · running"
                                        " + (1 − momentum) · batch.",
                      _layer(train_step=training_with(lambda run, new, m: run.copy()))),
        Misconception("unbiased_variance", "Your running variance averages the variance with 1/(N − 1). The"
                                           " course keeps the same biased variance (1/N) that normalised the"
                                           " batch.", _layer(train_step=training_with(
                                               lambda run, new, m: m * run + (1 - m) * new,
                                               lambda x: x.var(axis=0, ddof=1, keepdims=True)))),
        Misconception("test_batch_stats", "In training your layer normalises with the updated running"
                                          " statistics. Training normalises each batch with its own mean and"
                                          " variance; the running ones are kept for test time.",
                      _layer(train_step=training_normalising_with_running)),
        *layer_forward_slips(normalising_with, FORWARD_MISTAKES),
    ),
)


# ----- 4. the broadcasting rule ---------------------------------------------------

def row_sum_scale(x, v, dout):
    r = x.sum(axis=1, keepdims=True)                  # (N, 1): a sum over the features
    dv = (dout * r).sum(axis=0, keepdims=True)        # v was broadcast over the rows: sum them
    dr = (dout * v).sum(axis=1, keepdims=True)        # r was broadcast over the columns: sum them
    dx = np.broadcast_to(dr, x.shape).copy()          # the sum over the features: broadcast back
    return dx, dv


def _broadcast_case(rng: np.random.Generator, k: int) -> Case:
    n, d = sizes(rng, k, count=2)  # the first case is a batch of one
    x, v, dout = array(rng, (n, d)), array(rng, (1, d)), array(rng, (n, d))
    return case(x=x, v=v, dout=dout)


def _no_sum_over_features(x, v, dout):
    return dout * v, (dout * x.sum(axis=1, keepdims=True)).sum(axis=0, keepdims=True)


def _x_for_r(x, v, dout):
    # r replaced by x in dv: the local derivative taken from the wrong variable.
    return np.broadcast_to((dout * v).sum(axis=1, keepdims=True), x.shape).copy(), (dout * x).sum(axis=0,
                                                                                                   keepdims=True)


BROADCAST = Exercise(
    id="07.broadcast_rule",
    title="the broadcasting rule: sums and broadcasts, forward and backward",
    reference=row_sum_scale,
    public=(Case((np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]]), np.array([[2.0, -1.0, 0.5]]),
                  np.array([[1.0, 0.5, -2.0], [-1.0, 2.0, 1.0]])), "x and dout of shape (2, 3), v of shape (1, 3)"),),
    hidden=many(12, _broadcast_case),
    outputs=("dx", "dv"),
    upstream=2,
    misconceptions=(
        Misconception("not_summed", "Your dx is dout · v entry by entry. But r = x.sum(axis=1) was used in every"
                                    " column of its row (broadcast along axis 1), so dr is the sum over that"
                                    " axis of dout · v, and that one number per row goes back to every x of"
                                    " the row.", _no_sum_over_features),
        Misconception("output_for_input", "Your dv uses x where the forward pass multiplied v by r, the row"
                                          " sums: the local derivative of r · v with respect to v is r.", _x_for_r),
        *broadcast_slips(),
    ),
)


# ----- 5. batchnorm inside the network of lesson 06 ---------------------------------

network_batchnorm = module_or_run(lambda width: BatchNorm(width, momentum=0.9, eps=1e-5))


def _run_network(answer, args):
    return module_in_network(answer, *args)


def _network_case(rng: np.random.Generator, k: int) -> Case:
    n, d, h = sizes(rng, k + 1, count=3)  # the batch first (N >= 2), then inputs and hidden units
    c = int(rng.integers(2, 5))
    x, y = array(rng, (n, d)), rng.integers(0, c, size=n)
    x_test = array(rng, (1 + k % 3, d))  # one to three test examples
    dead = int(rng.integers(h)) if k % 3 == 2 else None
    seed = int(rng.integers(1000))
    described = (f"a batch of {n} examples with {d} inputs, {h} hidden units, {c} classes, network seed {seed},"
                 f" {len(x_test)} test example{'s' if len(x_test) > 1 else ''}"
                 + (f", hidden unit {dead + 1} always 0 (variance 0)" if dead is not None else ""))
    return Case(((d, h, c), seed, x, y, x_test, dead), described)


def _wrong_module(mistake):
    return module_or_run(lambda width: MistakenBatchNorm(width, mistake, momentum=0.9, eps=1e-5))


_NET_X = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.5, -0.5, 1.0], [-1.0, 2.0, 1.0, -2.0],
                   [0.0, 1.0, -1.5, 0.5], [2.0, -0.5, 0.5, 1.5]])

NETWORK = Exercise(
    id="07.network_batchnorm",
    title="batch normalisation inside the network of lesson 06",
    reference=network_batchnorm,
    function="BatchNormLayer",
    public=(Case(((4, 3, 2), 0, _NET_X, np.array([0, 1, 1, 0, 1]), _NET_X[:1], None),
                 "a batch of 5 examples with 4 inputs, 3 hidden units, 2 classes, network seed 0,"
                 " 1 test example"),),
    hidden=many(9, _network_case),
    outputs=("loss", "fc1.w gradient", "gamma gradient", "beta gradient", "bias1.b gradient", "fc2.w gradient",
             "bias2.b gradient", "test scores"),
    run=_run_network,
    run_in_sandbox=True,  # the learner's class makes modules that go into a network
    answer_of=BATCHNORM_ANSWER,
    misconceptions=(
        Misconception("stats_constant", "Your module's backward pass treats μ and σ² as constants (only the"
                                        " direct path): the gradients of every module below it, fc1.w among"
                                        " them, come out wrong. Add the paths through μ and σ².",
                      _wrong_module("constants")),
        Misconception("missing_gamma", "Your module's dx leaves out γ: x̂ is scaled by γ on its way out, so every"
                                     " path back to x carries the factor γ (dx̂ = dout · γ). The check's γ is not"
                                     " 1, as after training.", _wrong_module("no_gamma")),
        Misconception("test_batch_stats", "In evaluation mode (self.training is False) your module normalises"
                                          " with the test batch's own statistics; it must use the running ones."
                                          " A single test example would otherwise always give β.",
                      _wrong_module("batch_at_test")),
        Misconception("momentum_reversed", "The network's test scores are off because your running statistics"
                                           " are updated with the momentum the wrong way round:"
                                           " running = momentum · running + (1 − momentum) · batch.",
                      _wrong_module("momentum")),
        Misconception("running_update", "The network's test scores are off because your module never updates its"
                                        " running statistics in training: each training batch must move them,"
                                        " running = momentum · running + (1 − momentum) · batch.",
                      _wrong_module("frozen")),
        Misconception("one_over_n", "Your module's dx is N times too large (the gradients of fc1 below it too):"
                                    " the formula has the factor γ / (N · sqrt(σ² + ε)) in front.",
                      _wrong_module("times_n")),
    ),
)


# ----- 6. layer normalisation, a module of the network ------------------------------

layernorm_layer = module_or_run(lambda width: LayerNorm(width, eps=1e-5))


def _layernorm_case(rng: np.random.Generator, k: int) -> Case:
    n, d, h = sizes(rng, k, count=3)  # k == 0: a batch of one (layer normalisation trains on it)
    c = int(rng.integers(2, 5))
    x, y = array(rng, (n, d)), rng.integers(0, c, size=n)
    x_test = array(rng, (1 + k % 3, d))
    zero_row = k % 4 == 3
    if zero_row:
        x[-1] = 0.0  # fc1 gives that example a zero hidden row (biases start at 0): its variance is 0
    seed = int(rng.integers(1000))
    described = (f"a batch of {n} example{'s' if n > 1 else ''} with {d} inputs, {h} hidden units, {c} classes,"
                 f" network seed {seed}, {len(x_test)} test example{'s' if len(x_test) > 1 else ''}"
                 + (", the last training example all zeros (its hidden row has variance 0)" if zero_row else ""))
    return Case(((d, h, c), seed, x, y, x_test, None), described)


def _wrong_layernorm(mistake):
    return module_or_run(lambda width: MistakenLayerNorm(width, mistake, eps=1e-5))


LAYERNORM = Exercise(
    id="07.layernorm",
    title="layer normalisation inside the network of lesson 06",
    reference=layernorm_layer,
    function="LayerNormLayer",
    public=(Case(((4, 3, 2), 0, _NET_X, np.array([0, 1, 1, 0, 1]), _NET_X[:1], None),
                 "a batch of 5 examples with 4 inputs, 3 hidden units, 2 classes, network seed 0,"
                 " 1 test example"),),
    hidden=many(9, _layernorm_case),
    outputs=NETWORK.outputs,
    run=_run_network,
    run_in_sandbox=True,
    misconceptions=(
        Misconception("sum_axis", "Your statistics are taken over the batch (axis 0), as in batch normalisation:"
                                  " each example's output then depends on the other examples. Layer"
                                  " normalisation normalises each example over its own features: mean and"
                                  " variance over axis 1, one per row.", _wrong_layernorm("batch_axis")),
        Misconception("running_update", "In evaluation mode your module normalises with running averages kept"
                                        " from training. Layer normalisation keeps none: each example is"
                                        " normalised with its own statistics, in training and at test alike.",
                      _wrong_layernorm("running")),
        Misconception("stats_constant", "Your module's backward pass treats the example's mean and variance as"
                                        " constants (only the direct path). They are computed from the row,"
                                        " so add the paths through them, as in batch normalisation along the"
                                        " other axis.", _wrong_layernorm("constants")),
    ),
)

EXERCISES = [STAGED, COMPACT, RUNNING, BROADCAST, NETWORK, LAYERNORM]
