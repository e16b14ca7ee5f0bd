"""Exercises of concept 08, an attention head, backward by hand (SYLLABUS §08).

Four exercises, in the order of the notebook: the softmax's vector–Jacobian
product; the softmax behind a mask, forward and backward; the head's whole
backward from its cache (composite: the learner may call the first); and
multi-query attention, a layer the lesson does not show, derived alone.

Hidden cases draw B, T, D, d all different (a transpose shows as a shape or
a wrong value), masked and unmasked, and add the edges the worked examples
never show: T = 1 (every softmax row is [1], its gradient 0), scores in the
hundreds (the softmax is one-hot, an unstable one overflows), ties (a row of
equal scores). The wrong answers come from ``course.compute.attention_mistakes``:
one computation per exercise with a knob per mistake.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import array, sizes
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.attention import attention_backward, attention_forward, causal_mask, masked_softmax
from course.compute.attention import softmax_backward as _softmax_vjp
from course.compute.attention_mistakes import (head_backward_variant, masked_softmax_variant, mqa_variant,
                                               softmax_vjp_variant)

# ----- inputs ---------------------------------------------------------------------

# The lesson's example: one sequence of T = 3 positions, D = 4 features, a head of width d = 2.
WORKED_X = np.array([[[1.0, 0.5, -1.0, 2.0], [0.0, -1.5, 1.0, 0.5], [2.0, 1.0, 0.5, -1.0]]])
WORKED_WQ = np.array([[0.5, -1.0], [1.0, 0.5], [-0.5, 1.5], [0.25, 1.0]])
WORKED_WK = np.array([[1.0, 0.5], [-0.5, 1.0], [0.5, 0.25], [1.5, -0.5]])
WORKED_WV = np.array([[1.0, -0.5], [0.5, 1.0], [-1.0, 0.5], [0.5, 0.5]])
WORKED_DOUT = np.array([[[1.0, -0.5], [0.5, 1.0], [-1.0, 2.0]]])


def _tie_rows(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # One row of each matrix made of equal scores: a softmax row exactly uniform.
    s = s.copy()
    s[..., int(rng.integers(s.shape[-2])), :] = float(array(rng, (1,))[0])
    return s


def _mask_note(mask: np.ndarray | None) -> str:
    if mask is None:
        return "no mask"
    t = mask.shape[-1]
    return "a causal mask" if np.array_equal(mask, causal_mask(t)) else "a mask hiding some keys"


def _random_mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Booleans of ``shape``, about a third hidden, one key at least visible in every row."""
    keep = rng.random(shape) > 0.35
    for row in np.argwhere(~keep.any(axis=-1)):
        keep[(*row, int(rng.integers(shape[-1])))] = True
    return keep


def _scores(rng: np.random.Generator, shape: tuple[int, ...], k: int) -> tuple[np.ndarray, str]:
    s = array(rng, shape)
    if k % 4 == 3:  # scores in the hundreds: one-hot rows, and exp overflows without the row max
        return np.round(s * 300.0, 2), "scores in the hundreds"
    if k % 4 == 2:
        return _tie_rows(s, rng), "a row of equal scores"
    return s, ""


def _describe(**named) -> str:
    return ", ".join(f"{n} of shape {v.shape}" if isinstance(v, np.ndarray) else f"{n} = {v}"
                     for n, v in named.items())


def _with(note: str, extra: str) -> str:
    return f"{note}, {extra}" if extra else note


# ----- 1. the softmax's vector–Jacobian product -----------------------------------

def softmax_backward(dP, P):
    return _softmax_vjp(dP, P)


def _vjp_case(rng: np.random.Generator, k: int) -> Case:
    b, t = sizes(rng, k, count=2)
    s, extra = _scores(rng, (b, t, t), k)
    mask = causal_mask(t) if k % 3 == 1 else None
    p = masked_softmax(s, mask)
    return Case((array(rng, (b, t, t)), p), _with(_describe(dP=p, P=p), _with(_mask_note(mask), extra)))


_WORKED_P = masked_softmax(np.array([[[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]]]))
_WORKED_DP = np.array([[[1.0, -2.0, 0.5], [0.5, 1.5, -1.0]]])

_DIAGONAL_HINT = ("Your dS is P ⊙ dP: the diagonal of the softmax's Jacobian alone. Each p_j depends on every"
                  " score of its row (through the sum in the denominator), so the Jacobian diag(p) − p pᵀ has"
                  " off-diagonal entries −p_i p_j too; their share is the rowsum term.")
_NO_P_HINT = ("Your rowsum is of dP alone. In dP · (diag(p) − p pᵀ) the off-diagonal part weights each dP_j by"
              " its p_j: the sum is over dP ⊙ P.")
_VJP_AXIS_HINT = ("Your rowsum runs down the columns (axis −2). The softmax normalised each row, over the last"
                  " axis: the sum that comes back in its gradient is over that axis too.")
_KEEPDIMS_HINT = ("Your rowsum lost its last axis (keepdims missing), so it broadcasts along the wrong axis:"
                  " keep it as (…, T, 1) so that each row subtracts its own sum.")
_SIGN_HINT = "Your dS has the wrong sign: the Jacobian is diag(p) − p pᵀ, so the rowsum term is subtracted from dP."

VJP_MISTAKES = (
    Misconception("softmax_diagonal", _DIAGONAL_HINT, lambda dp, p: softmax_vjp_variant(dp, p, jacobian="diagonal")),
    Misconception("wrong_value", _NO_P_HINT, lambda dp, p: softmax_vjp_variant(dp, p, jacobian="no_p")),
    Misconception("sum_axis", _VJP_AXIS_HINT, lambda dp, p: softmax_vjp_variant(dp, p, axis=-2)),
    Misconception("keepdims", _KEEPDIMS_HINT, lambda dp, p: softmax_vjp_variant(dp, p, keepdims=False)),
    Misconception("sign", _SIGN_HINT, lambda dp, p: softmax_vjp_variant(dp, p, sign=-1.0)),
)


def _vjp_hidden(rng: np.random.Generator) -> list[Case]:
    one = Case((np.array([[[1.5]], [[-2.0]]]), np.ones((2, 1, 1))), "T = 1: dP of shape (2, 1, 1), P = 1")
    return [one, *(_vjp_case(rng, k) for k in range(12))]


VJP = Exercise(
    id="08.softmax_backward",
    title="the softmax's vector–Jacobian product",
    reference=softmax_backward,
    public=(Case((_WORKED_DP, _WORKED_P), "of the lesson, P = softmax of [[1, 2, 0.5], [0, 0, 3]]"),),
    hidden=_vjp_hidden,
    outputs=("dS",),
    upstream=0,
    misconceptions=VJP_MISTAKES,
)


# ----- 2. the mask's backward -----------------------------------------------------------

def masked_softmax_backward(S, mask, dP):
    P = masked_softmax(S, mask)
    return P, _softmax_vjp(dP, P)


def _mask_case(rng: np.random.Generator, k: int) -> Case:
    b, t = sizes(rng, k + 1, count=2)  # T >= 2: a mask with something to hide
    s, extra = _scores(rng, (b, t, t), k)
    mask = causal_mask(t) if k % 2 == 0 else _random_mask(rng, (b, t, t))
    return Case((s, mask, array(rng, (b, t, t))), _with(_describe(S=s, mask=mask, dP=s),
                                                        _with(_mask_note(mask), extra)))


def _mask_hidden(rng: np.random.Generator) -> list[Case]:
    one = Case((np.array([[[2.5]]]), np.ones((1, 1), dtype=bool), np.array([[[-1.0]]])),
               "T = 1: S, dP of shape (1, 1, 1), the one key visible")
    return [one, *(_mask_case(rng, k) for k in range(12))]


def _masked(**knobs):
    return lambda s, mask, dp: masked_softmax_variant(s, mask, dp, **knobs)


_WORKED_S = np.array([[[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 1.0, -0.5]]])

MASK = Exercise(
    id="08.mask_backward",
    title="the softmax behind a mask, forward and backward",
    reference=masked_softmax_backward,
    public=(Case((_WORKED_S, causal_mask(3), np.array([[[1.0, -2.0, 0.5], [0.5, 1.5, -1.0], [-1.0, 0.5, 2.0]]])),
                 "of the lesson, S of shape (1, 3, 3), a causal mask"),),
    hidden=_mask_hidden,
    outputs=("P", "dS"),
    upstream=2,
    misconceptions=(
        Misconception("mask_leak", "Your P is right, but your dS is not 0 where the mask hid a key: the backward"
                                   " went through a softmax of the unmasked scores. A hidden entry was replaced by"
                                   " the constant −inf; no gradient flows back through a constant.",
                      _masked(backward_mask=False)),
        Misconception("overflow", "Your P overflows (inf or NaN) when the scores are in the hundreds: exp(300) is"
                                  " too large for a float. Subtract each row's own maximum before exp; −inf"
                                  " entries stay −inf.", _masked(stable=False)),
        Misconception("mask_fill", "Your hidden scores were set to 0, not −inf: exp(0) = 1, so a hidden key still"
                                   " gets weight in P. Only −inf gives exp = 0.", _masked(fill="zero")),
        Misconception("mask_fill", "Your P is NaN: S · mask + (1 − mask) · (−inf) multiplies 0 by −inf at every"
                                   " visible entry, and 0 · (−inf) is NaN. Choose with np.where(mask, S, −inf)"
                                   " instead of multiplying.", _masked(fill="times_mask")),
        Misconception("mask_fill", "Your rows of P do not sum to 1: you took the softmax of every score and zeroed"
                                   " the hidden entries afterwards. Hide them first (−inf), then normalise what is"
                                   " left.", _masked(renormalise=False)),
        Misconception("softmax_diagonal", "Your P is right; your dS is P ⊙ dP, the diagonal of the softmax's Jacobian"
                                          " alone. The off-diagonal −p_i p_j give the rowsum term.",
                      _masked(jacobian="diagonal")),
    ),
)


# ----- 3. the head's backward from its cache -------------------------------------------

def attention_head_backward(dout, cache):
    # The course's pair works from its own cache object; the learner gets the same fields as a dict.
    _, ours = attention_forward(cache["X"], cache["Wq"], cache["Wk"], cache["Wv"], mask=cache["mask"],
                                scale=cache["scale"])
    return attention_backward(dout, ours)


class _CacheCase:
    """Builds the (dout, cache) arguments from the head's inputs, and their note."""

    @staticmethod
    def make(x, wq, wk, wv, causal, dout, extra="") -> Case:
        _, cache = attention_forward(x, wq, wk, wv, causal=causal)
        b, t, d_in = x.shape
        note = (f"B = {b}, T = {t}, D = {d_in}, d = {wq.shape[1]}, {'a causal mask' if causal else 'no mask'}"
                + (f", {extra}" if extra else ""))
        return Case((dout, cache.as_dict()), note)


def _head_case(rng: np.random.Generator, k: int) -> Case:
    b, t, d_in, d = sizes(rng, k, count=4)
    x = array(rng, (b, t, d_in))
    wq, wk, wv = (np.round(array(rng, (d_in, d)) / 2.0, 2) for _ in range(3))
    extra = ""
    if k % 4 == 3:
        wq, extra = wq * 20.0, "scores in the tens (P almost one-hot)"
    elif k % 4 == 2:
        x[:, 1:] = x[:, :1]  # every position the same: equal scores, uniform rows of P
        extra = "every position equal (ties: uniform rows of P)"
    return _CacheCase.make(x, wq, wk, wv, k % 2 == 1, array(rng, (b, t, d)), extra)


def _head_hidden(rng: np.random.Generator) -> list[Case]:
    edge = _CacheCase.make(array(rng, (3, 1, 4)), array(rng, (4, 2)), array(rng, (4, 2)), array(rng, (4, 2)), True,
                           array(rng, (3, 1, 2)), "T = 1 (one position: P = 1)")
    return [edge, *(_head_case(rng, k) for k in range(12))]


def _head(**knobs):
    return lambda dout, cache: head_backward_variant(dout, cache, **knobs)


_SCALE_HINT = ("Your {which} lacks the 1/√d of the forward pass: S = Q·Kᵀ/√d multiplies both factors by it, so"
               " both dQ and dK carry it.")

HEAD = Exercise(
    id="08.head_backward",
    title="the head's backward from its cache: dX, dWq, dWk, dWv",
    reference=attention_head_backward,
    public=(_CacheCase.make(WORKED_X, WORKED_WQ, WORKED_WK, WORKED_WV, False, WORKED_DOUT, "the lesson's example"),
            _CacheCase.make(WORKED_X, WORKED_WQ, WORKED_WK, WORKED_WV, True, WORKED_DOUT, "the lesson's example")),
    hidden=_head_hidden,
    outputs=("dX", "dWq", "dWk", "dWv"),
    upstream=0,
    misconceptions=(
        Misconception("transpose", "In the stage S = Q·Kᵀ your dQ multiplies dS by Kᵀ. The forward pass used K"
                                   " transposed; its gradient does not. Write each factor's shape under it:"
                                   " one arrangement gives dQ's shape.", _head(dq="dS K^T")),
        Misconception("transpose", "In the stage S = Q·Kᵀ your dK is dS·Q: the transpose of dS is missing. Key j"
                                   " was scored by every query i in column j of S, so its gradient gathers column"
                                   " j of dS.", _head(dk="dS Q")),
        Misconception("qk_swapped", "In the stage S = Q·Kᵀ your dQ and dK have swapped roles: dQ gathers the"
                                    " columns of dS and dK its rows. Query i owns row i of S; key j owns column j.",
                      _head(dq="dS^T K")),
        Misconception("transpose", "In the stage O = P·V your dV is P·dO: the transpose of P is missing. Value j"
                                   " was used by every query with weight P[i, j], in column j of P.",
                      _head(dv="P dO")),
        Misconception("scale_sqrt_d", _SCALE_HINT.format(which="dK"), _head(scale_on=("q",))),
        Misconception("scale_sqrt_d", _SCALE_HINT.format(which="dQ"), _head(scale_on=("k",))),
        Misconception("scale_sqrt_d", "Your dQ and dK both lack the 1/√d of the forward pass: S = Q·Kᵀ/√d, and the"
                                      " scale is a factor of the local derivative.", _head(scale_on=())),
        Misconception("softmax_diagonal", "In the softmax stage your dS is P ⊙ dP, the Jacobian's diagonal alone:"
                                          " the rowsum term of the off-diagonal −p_i p_j is missing.",
                      _head(softmax="diagonal")),
        Misconception("wrong_value", "In the softmax stage your rowsum is of dP alone; it is the rowsum of dP ⊙ P.",
                      _head(softmax="no_p")),
        Misconception("mask_leak", "In the softmax stage your backward recomputed P from S without the mask:"
                                   " gradient leaks into keys the mask hid. Use the cache's P, which is 0 there.",
                      _head(mask_in_backward=False)),
        Misconception("not_summed", "Your weight gradients keep one slice per sequence (B, D, d). Wq is shared by"
                                    " every sequence of the batch: sum their contributions over the batch axis.",
                      _head(dw="per_sequence")),
        Misconception("one_over_n", "Your weight gradients are the mean over the sequences; every sequence adds its"
                                    " whole share: a sum, not a mean.", _head(dw="mean")),
        Misconception("sum_axis", "Your weight gradients sum X and dQ over the positions *before* multiplying them."
                                  " Each position's product Xᵀ·dQ comes first; then sum over the batch and the"
                                  " positions (reshape to (B·T, D) and (B·T, d)).", _head(dw="sum_first")),
        Misconception("fork_overwrite", "Your dX holds only the path through V: X feeds Q, K and V, and the three"
                                        " gradients add (+=), none replaces another (=).", _head(paths=("v",))),
        Misconception("fork_overwrite", "Your dX leaves out the path through V: X feeds Q, K and V, and the three"
                                        " gradients add.", _head(paths=("q", "k"))),
        Misconception("fork_overwrite", "Your dX holds only the path through Q: X feeds Q, K and V, and the three"
                                        " gradients add.", _head(paths=("q",))),
        Misconception("fork_overwrite", "Your dX leaves out the path through K: X feeds Q, K and V, and the three"
                                        " gradients add.", _head(paths=("q", "v"))),
    ),
)


# ----- 4. derive it yourself: multi-query attention ------------------------------------

def mqa_forward_backward(X, Wq, Wk, Wv, dout, causal):
    return mqa_variant(X, Wq, Wk, Wv, dout, causal)


def _mqa_case(rng: np.random.Generator, k: int, heads: int | None = None) -> Case:
    b, t, d_in, d = sizes(rng, k, count=4)
    h = heads or int(rng.integers(2, 4))
    x = array(rng, (b, t, d_in))
    wq = np.round(array(rng, (h, d_in, d)) / 2.0, 2)
    wk, wv = (np.round(array(rng, (d_in, d)) / 2.0, 2) for _ in range(2))
    extra = ""
    if k % 4 == 3:
        wk, extra = wk * 20.0, ", scores in the tens"
    elif k % 4 == 2:
        x[:, 1:] = x[:, :1]  # every position the same: ties, uniform rows of P
        extra = ", every position equal (ties)"
    causal = k % 2 == 1
    note = (f"B = {b}, H = {h} heads, T = {t}, D = {d_in}, d = {d}, {'a causal mask' if causal else 'no mask'}"
            + extra)
    return Case((x, wq, wk, wv, array(rng, (b, h, t, d)), causal), note)


def _mqa_hidden(rng: np.random.Generator) -> list[Case]:
    one = Case((array(rng, (2, 1, 4)), array(rng, (2, 4, 3)), array(rng, (4, 3)), array(rng, (4, 3)),
                array(rng, (2, 2, 1, 3)), True), "B = 2, H = 2 heads, T = 1 (one position: P = 1), D = 4, d = 3,"
                                                 " a causal mask")
    return [one, _mqa_case(rng, 1, heads=1), *(_mqa_case(rng, k) for k in range(10))]


def _mqa(**knobs):
    return lambda x, wq, wk, wv, dout, causal: mqa_variant(x, wq, wk, wv, dout, causal, **knobs)


_MQA_WQ = np.stack([WORKED_WQ, WORKED_WQ[::-1] * 0.5])  # two heads

MQA = Exercise(
    id="08.multi_query",
    title="derive it yourself: multi-query attention, forward and backward",
    reference=mqa_forward_backward,
    public=(Case((WORKED_X, _MQA_WQ, WORKED_WK, WORKED_WV, np.stack([WORKED_DOUT[0], -WORKED_DOUT[0]])[None],
                  True), "the lesson's X, H = 2 heads, a causal mask"),),
    hidden=_mqa_hidden,
    outputs=("out", "dX", "dWq", "dWk", "dWv"),
    upstream=4,
    misconceptions=(
        Misconception("fork_overwrite", "Your dWk and dWv (and dX) hold the last head's share only: K and V are"
                                        " shared by the H heads, a fork with H branches, so their gradients add"
                                        " over the heads.", _mqa(shared="last")),
        Misconception("one_over_n", "Your dWk and dWv are the mean of the heads' shares: K and V are used by every"
                                    " head, and the shares add (a sum over the heads, not a mean).",
                      _mqa(shared="mean")),
        Misconception("softmax_diagonal", "In the softmax stage your dS is P ⊙ dP, the Jacobian's diagonal alone:"
                                          " the rowsum term is missing.", _mqa(softmax="diagonal")),
        Misconception("scale_sqrt_d", _SCALE_HINT.format(which="dK"), _mqa(scale_on=("q",))),
        Misconception("scale_sqrt_d", _SCALE_HINT.format(which="dQ"), _mqa(scale_on=("k",))),
        Misconception("mask_leak", "In the softmax stage your backward used a P without the mask: gradient leaks"
                                   " into keys the causal mask hid.", _mqa(mask_in_backward=False)),
        Misconception("transpose", "In the stage S = Q·Kᵀ your dK is dS·Q: the transpose of dS is missing (key j"
                                   " owns column j of S).", _mqa(dk="dS Q")),
    ),
)

EXERCISES = [VJP, MASK, HEAD, MQA]
