"""Exercises of concept 04, softmax cross-entropy (SYLLABUS §04).

Five exercises, in the order of the notebook: the loss and its gradient with
loops, then vectorized; the article's staged derivation with its `.dot` line
fixed; the stable version (hidden cases have scores near +-1000); and dX, dW,
db of ``scores = X @ W + b`` from dscores.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import many, sizes
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.softmax import affine_backward, affine_forward, softmax_loss

# A worked example small enough to follow by hand; the lesson uses it too.
WORKED_SCORES = np.array([[2.0, 1.0, -1.0], [0.5, 1.5, -0.5]])
WORKED_LABELS = np.array([0, 2])


# ----- cases ---------------------------------------------------------------------

def _labels_note(y: np.ndarray) -> str:
    return f"y = {y.tolist()}"


def _score_case(rng: np.random.Generator, k: int, offsets: np.ndarray | None = None) -> Case:
    n, c = sizes(rng, k, count=2)  # N = 1 first, then N != C
    scores = np.round(rng.uniform(-3.0, 3.0, size=(n, c)), 2)
    y = rng.integers(0, c, size=n)
    if offsets is None:
        return Case((scores, y), f"scores of shape {scores.shape} with entries in [-3, 3], {_labels_note(y)}")
    # Each row moved by about +-1000: exp overflows (or underflows to 0/0)
    # unless the row's maximum is subtracted first.
    row_offsets = rng.choice(offsets, size=(n, 1))
    scores = np.round(scores + row_offsets, 2)
    signs = "".join("+" if o > 0 else "-" for o in row_offsets[:, 0])
    return Case((scores, y), f"scores of shape {scores.shape}, rows near 1000 with signs {signs},"
                             f" {_labels_note(y)}")


_moderate_cases = many(15, _score_case)

# Six moderate cases, three moved up, three moved down, six with rows moved either way.
_ROW_OFFSETS = [None] * 6 + [np.array([1000.0])] * 3 + [np.array([-1000.0])] * 3 + [np.array([1000.0, -1000.0])] * 6
# Scores spread by thousands *within* a row: the correct class's probability underflows to 0, so a loss
# that takes the log of a probability is infinite, although the shifted scores are fine.
_SPREAD = (Case((np.array([[1000.0, 0.0, -1000.0], [2.0, -2000.0, 5.0]]), np.array([2, 1])),
                "scores spread by thousands within each row, [[1000, 0, -1000], [2, -2000, 5]], y = [2, 1]"),
           Case((np.array([[-500.0, 1500.0, 0.5, 3.0]]), np.array([0])),
                "one row spread by thousands, [[-500, 1500, 0.5, 3]], y = [0]"))
_shifted_rows = many(len(_ROW_OFFSETS), lambda rng, k: _score_case(rng, k, _ROW_OFFSETS[k]))


def _stability_cases(rng: np.random.Generator) -> list[Case]:
    # The spread rows come last: an answer that fails earlier (one shared maximum) is named by that failure.
    return _shifted_rows(rng) + list(_SPREAD)


WORKED_CASE = Case((WORKED_SCORES, WORKED_LABELS), "of the lesson, scores [[2, 1, -1], [0.5, 1.5, -0.5]], y = [0, 2]")
SECOND_CASE = Case((np.array([[0.2, -1.3, 0.7, 1.1], [1.0, 1.0, 1.0, 1.0], [-2.0, 0.4, 3.0, -0.6]]),
                    np.array([3, 1, 0])),
                   "scores of shape (3, 4), one row all equal, y = [3, 1, 0]")


# ----- wrong answers, each with the reference's signature ----------------------------

def _probabilities(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _loss_with(gradient_of):
    """A (loss, dscores) answer with the right loss and the given wrong gradient."""
    def wrong(scores, y):
        loss, _ = softmax_loss(scores, y)
        return loss, gradient_of(scores, y, _probabilities(scores), scores.shape[0])
    return wrong


def _onehot(scores, y):
    out = np.zeros_like(scores, dtype=np.float64)
    out[np.arange(scores.shape[0]), y] = 1.0
    return out


def _no_mean_at_all(scores, y):
    loss, dscores = softmax_loss(scores, y)
    return loss * scores.shape[0], dscores * scores.shape[0]


def _minus_one_in_every_row_at_every_label(scores, y, p, n):
    d = p.copy()
    d[:, y] -= 1.0  # every row gets a -1 at every label that occurs in the batch
    return d / n


def _minus_one_at_predicted(scores, y, p, n):
    d = p.copy()
    d[np.arange(n), p.argmax(axis=1)] -= 1.0
    return d / n


def _minus_one_at_column(column):
    def gradient(scores, y, p, n):
        d = p.copy()
        d[np.arange(n), column(y)] -= 1.0
        return d / n
    return gradient


def _normalised_down_columns(scores, y):
    n = scores.shape[0]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    p = e / e.sum(axis=0, keepdims=True)
    with np.errstate(all="ignore"):
        loss = float(-np.log(p[np.arange(n), y]).mean())
    return loss, (p - _onehot(scores, y)) / n


_WRONG_AXIS_HINT = ("Your probabilities are normalised down each column (axis 0); each *row* of P must sum to 1,"
                    " over the classes: `.sum(axis=1, keepdims=True)`.")
_FIXED_COLUMN_HINT = ("Your -1 sits in the same column in every row. Each row needs it at its own correct class:"
                      " row i, column y[i] (`d[np.arange(N), y] -= 1`).")

LOSS_MISCONCEPTIONS = (
    Misconception("one_over_n", "Your dscores are N times too large: the loss is a *mean* over the N examples,"
                                " so each example's gradient carries the factor 1/N as well.",
                  _loss_with(lambda s, y, p, n: p - _onehot(s, y))),
    Misconception("one_over_n", "Your loss and dscores are sums over the examples, not means: both need the"
                                " factor 1/N.", _no_mean_at_all),
    Misconception("one_over_n", "Your dscores carry the factor 1/N twice.",
                  _loss_with(lambda s, y, p, n: (p - _onehot(s, y)) / n**2)),
    Misconception("p_not_p_minus_onehot", "Your dscores are the probabilities alone. A score reaches the loss"
                                          " along two paths: through log(rowsum), and directly as -score[y] at"
                                          " the correct class. The second path's gradient is missing.",
                  _loss_with(lambda s, y, p, n: p / n)),
    Misconception("sign", "Your dscores have the wrong sign. Raising the correct class's score must *lower*"
                          " the loss, so the gradient there is negative, and positive at every other class.",
                  _loss_with(lambda s, y, p, n: (_onehot(s, y) - p) / n)),
    Misconception("wrong_class", "Your -1 lands in more than one place per row. `d[:, y]` selects whole"
                                 " columns, one for every label in the batch; each row needs its -1 at its"
                                 " own label only: pair row i with y[i].",
                  _loss_with(_minus_one_in_every_row_at_every_label)),
    Misconception("wrong_class", "Your -1 sits at the class with the highest probability (the prediction);"
                                 " it belongs at the *correct* class y[i], whatever the prediction is.",
                  _loss_with(_minus_one_at_predicted)),
    Misconception("sign", "Your loss has the wrong sign: it is the mean of -log P[correct], which is never"
                          " negative.",
                  lambda s, y: (-softmax_loss(s, y)[0], softmax_loss(s, y)[1])),
    Misconception("one_over_n", "Your loss is a sum over the examples, but your dscores are those of a mean:"
                                " loss and gradient must agree. The loss is the *mean* of -log P[correct].",
                  lambda s, y: (softmax_loss(s, y)[0] * s.shape[0], softmax_loss(s, y)[1])),
    Misconception("wrong_class", _FIXED_COLUMN_HINT, _loss_with(_minus_one_at_column(lambda y: 0))),
    Misconception("wrong_class", _FIXED_COLUMN_HINT, _loss_with(_minus_one_at_column(lambda y: y[0]))),
    Misconception("sum_axis", _WRONG_AXIS_HINT, _normalised_down_columns),
    Misconception("sum_axis", _WRONG_AXIS_HINT, _loss_with(lambda s, y, p, n: (
        _normalised_down_columns(s, y)[1]))),
)


# ----- 1. and 2. the loss with loops, then vectorized -----------------------------

def softmax_loss_reference(scores, y):
    return softmax_loss(scores, y)


LOSS_LOOP = Exercise(
    id="04.loss_loop",
    title="softmax loss and gradient, one example at a time",
    answer_of=("course.compute.softmax.softmax_loss", "course.compute.softmax.softmax_loss_forward",
               "course.compute.softmax.softmax_loss_backward"),
    function="softmax_loss_loop",
    reference=softmax_loss_reference,
    public=(WORKED_CASE, SECOND_CASE),
    hidden=_moderate_cases,
    outputs=("loss", "dscores"),
    misconceptions=LOSS_MISCONCEPTIONS,
)

LOSS_VECTORIZED = Exercise(
    id="04.loss_vectorized",
    title="softmax loss and gradient, vectorized",
    answer_of=("course.compute.softmax.softmax_loss", "course.compute.softmax.softmax_loss_forward",
               "course.compute.softmax.softmax_loss_backward"),
    function="softmax_loss_vectorized",
    reference=softmax_loss_reference,
    public=(WORKED_CASE, SECOND_CASE),
    hidden=_moderate_cases,
    outputs=("loss", "dscores"),
    misconceptions=LOSS_MISCONCEPTIONS,
)


# ----- 3. the article's staged derivation, with its `.dot` fixed ----------------------

def staged_dscores_reference(scores, y):
    return softmax_loss(scores, y)[1]


def _staged_without(second_path, divide=True, first_path=True):
    def wrong(scores, y):
        n = scores.shape[0]
        exp_scores = np.exp(scores)
        rowsum = exp_scores.sum(axis=1, keepdims=True)
        d = np.zeros_like(scores)
        if first_path:
            d[np.arange(n), y] -= 1.0
        d = d + second_path(1.0 / rowsum, exp_scores)
        return d / n if divide else d
    return wrong


FIX_DOT = Exercise(
    id="04.fix_dot",
    title="the staged derivation with its `.dot` fixed",
    answer_of=("course.compute.softmax.softmax_loss", "course.compute.softmax.softmax_loss_backward"),
    function="staged_dscores",
    reference=staged_dscores_reference,
    public=(WORKED_CASE, SECOND_CASE),
    hidden=_moderate_cases,
    outputs=("dscores",),
    misconceptions=(
        Misconception("one_over_n", "Your dscores are N times too large: the last stage, the 1/N of the mean,"
                                    " is missing.", _staged_without(lambda dr, e: dr * e, divide=False)),
        Misconception("p_not_p_minus_onehot", "Your dscores hold only the path through rowsum (that is P/N):"
                                              " the -1 of the first path was overwritten. Where two paths meet"
                                              " at a fork their gradients add up: `+=`, not `=`.",
                      _staged_without(lambda dr, e: dr * e, first_path=False)),
        Misconception("shape", "The gradient drowsum is (N, 1): one number per example. Transposing it and taking a"
                               " matrix product mixes all the examples into one row. Each example's"
                               " exp(score) must be scaled by its *own* 1/rowsum: an element-wise product,"
                               " broadcast along the row.", _staged_without(lambda dr, e: dr.T @ e)),
        Misconception("sign", "The path through rowsum adds +exp(score)/rowsum; your answer subtracts it.",
                      _staged_without(lambda dr, e: -dr * e)),
    ),
)


# ----- 4. the stable version --------------------------------------------------------

def _unstable_loss(scores, y):
    # inf and NaN on large scores, exactly as a learner's unstable softmax gives them.
    n = scores.shape[0]
    e = np.exp(scores)
    p = e / e.sum(axis=1, keepdims=True)
    d = p.copy()
    d[np.arange(n), y] -= 1.0
    return float(-np.log(p[np.arange(n), y]).mean()), d / n


def _log_of_underflowed_p(scores, y):
    # Stable probabilities, but the loss takes log of P itself: -log(0) on a spread row.
    n = scores.shape[0]
    p = _probabilities(scores)
    with np.errstate(divide="ignore"):
        loss = float(-np.log(p[np.arange(n), y]).mean())
    return loss, (p - _onehot(scores, y)) / n


STABLE = Exercise(
    id="04.stable_loss",
    title="softmax loss and gradient for scores of any size",
    answer_of=("course.compute.softmax.softmax_loss", "course.compute.softmax.softmax_loss_forward",
               "course.compute.softmax.softmax_loss_backward", "course.compute.softmax.log_softmax",
               "course.compute.softmax.stable_softmax"),
    function="softmax_loss_stable",
    reference=softmax_loss_reference,
    public=(WORKED_CASE, Case((WORKED_SCORES + 1000.0, WORKED_LABELS),
                              "of the lesson moved up by 1000, scores [[1002, 1001, 999], [1000.5, 1001.5, 999.5]],"
                              " y = [0, 2]")),
    hidden=_stability_cases,
    outputs=("loss", "dscores"),
    misconceptions=(
        Misconception("overflow", "Your loss is infinite where a probability underflows to 0: the log of P[correct]"
                                  " cannot be taken when that probability is smaller than about 1e-308. Take the"
                                  " log of the shifted form instead: log P = (score - max) - log(sum of"
                                  " exp(score - max)), which stays finite.", _log_of_underflowed_p),
        Misconception("overflow", "Your answer gives inf or NaN when the scores are near +-1000: exp(1000)"
                                  " overflows, and exp(-1000) is 0, so P becomes inf/inf or 0/0. Subtract each"
                                  " row's own maximum from its scores before exp (one shared maximum is not"
                                  " enough when rows differ a lot); P does not change.", _unstable_loss),
        *LOSS_MISCONCEPTIONS,
    ),
)


# ----- 5. dX, dW and db from dscores ------------------------------------------------

def score_gradients(dscores, X, W, b):
    return affine_backward(dscores, affine_forward(X, W, b)[1])


def _affine_case(rng: np.random.Generator, k: int) -> Case:
    # D != C and N differs from both, so a misplaced transpose shows as a shape.
    n, d, c = [int(v) for v in rng.choice(np.arange(2, 8), size=3, replace=False)]
    dscores = np.round(rng.normal(size=(n, c)) / n, 4)
    x = np.round(rng.normal(size=(n, d)), 2)
    w = np.round(rng.normal(size=(d, c)), 2)
    b = np.round(rng.normal(size=(1, c)), 2)
    return Case((dscores, x, w, b), f"N = {n}, D = {d}, C = {c}")


def _affine_public() -> tuple[Case, ...]:
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(2, 4)), 2)
    w = np.round(rng.normal(size=(4, 3)), 2)
    b = np.array([[0.1, -0.2, 0.3]])
    dscores = softmax_loss(x @ w + b, WORKED_LABELS)[1]
    return (Case((dscores, x, w, b), "N = 2, D = 4, C = 3, dscores from the softmax loss"),)


SCORE_GRADIENTS = Exercise(
    id="04.score_gradients",
    title="dX, dW and db of scores = X W + b",
    answer_of=("course.compute.softmax.affine_backward", "course.compute.softmax.softmax_classifier_loss"),
    reference=score_gradients,
    public=_affine_public(),
    hidden=many(12, _affine_case),
    outputs=("dX", "dW", "db"),
    upstream=0,
    misconceptions=(
        Misconception("one_over_n", "Your dscores already carry the 1/N of the mean; dividing by N again (or taking"
                                    " a mean over the batch) applies it twice.",
                      lambda ds, x, w, b: tuple(g / ds.shape[0] for g in score_gradients(ds, x, w, b))),
        Misconception("one_over_n", "The bias gradient db is the *sum* of the rows of dscores: every example used the same b,"
                                    " and dscores already carry the 1/N.",
                      lambda ds, x, w, b: (ds @ w.T, x.T @ ds, ds.mean(axis=0, keepdims=True))),
    ),
)


EXERCISES = [LOSS_LOOP, LOSS_VECTORIZED, FIX_DOT, STABLE, SCORE_GRADIENTS]
