"""Concept 08, an attention head: the forward/backward pair against numerical gradients, the
softmax's vector–Jacobian product and the mask, the wrong answers behind every hint written as a
learner would write them, right answers written differently, and the widget's state."""

from __future__ import annotations

import numpy as np
import pytest

from course.assess.check import check
from course.assess.concepts import c08_attention as concept
from course.assess.diagnose import evaluate
from course.assess.registry import exercises_of
from course.compute.attention import (attention_backward, attention_forward, causal_mask, mask_backward,
                                      masked_softmax, scaled_dot_product_attention, score_spread, softmax_backward,
                                      softmax_jacobian)
from course.compute.attention_mistakes import head_backward_variant, mqa_variant
from course.compute.gradcheck import gradcheck, numerical_gradient

SEED = 3
# B, T, D, d all different: a transpose or a sum over the wrong axis shows as a shape or a value.
SHAPES = [(2, 5, 4, 3), (3, 4, 6, 2), (1, 6, 3, 5), (4, 1, 3, 2)]


def _head(shape, seed=0, spread=1.0):
    b, t, d_in, d = shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, t, d_in))
    wq, wk, wv = (rng.normal(size=(d_in, d)) * spread for _ in range(3))
    return x, wq, wk, wv, rng.normal(size=(b, t, d))


# ----- the pair against numerical gradients ------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_gradient_of_the_head_matches_numerical_differences(shape, causal):
    x, wq, wk, wv, dout = _head(shape)
    _, cache = attention_forward(x, wq, wk, wv, causal=causal)
    grads = attention_backward(dout, cache)
    inputs = [x, wq, wk, wv]
    for k, (name, g) in enumerate(zip(("dX", "dWq", "dWk", "dWv"), grads)):
        assert g.shape == inputs[k].shape

        def f(v, k=k):
            args = list(inputs)
            args[k] = v
            return attention_forward(*args, causal=causal)[0]
        result = gradcheck(f, inputs[k].copy(), g, upstream=dout, name=name)
        assert result.passed, result.summary()


def test_a_wrong_backward_fails_the_numerical_check():
    x, wq, wk, wv, dout = _head((2, 4, 3, 5))
    _, cache = attention_forward(x, wq, wk, wv)
    wrong = head_backward_variant(dout, cache.as_dict(), softmax="diagonal")[1]
    assert not gradcheck(lambda w: attention_forward(x, w, wk, wv)[0], wq.copy(), wrong, upstream=dout).passed


@pytest.mark.parametrize("masked", [False, True])
def test_softmax_backward_is_the_jacobian_product_and_matches_numerical_differences(masked):
    rng = np.random.default_rng(1)
    s, dp = rng.normal(size=(3, 5, 5)) * 2, rng.normal(size=(3, 5, 5))
    mask = causal_mask(5) if masked else None
    p = masked_softmax(s, mask)
    ds = softmax_backward(dp, p)
    np.testing.assert_allclose(ds, numerical_gradient(lambda v: masked_softmax(v, mask), s.copy(), dp), atol=1e-8)
    by_jacobian = np.array([[dp[b, i] @ softmax_jacobian(p[b, i]) for i in range(5)] for b in range(3)])
    np.testing.assert_allclose(ds, by_jacobian, atol=1e-14)
    if masked:
        assert np.all(ds[:, ~causal_mask(5)] == 0.0)


def test_the_mask_passes_no_gradient_and_large_scores_never_give_nan():
    s = np.array([[[800.0, -700.0, 5.0], [1e3, 1e3, -1e3], [0.0, 0.0, 0.0]]])
    p = masked_softmax(s, causal_mask(3))
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(p[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[0, 1], [0.5, 0.5, 0.0])  # a tie: half each
    dz = np.ones_like(s)
    np.testing.assert_array_equal(mask_backward(dz, causal_mask(3)), np.tril(np.ones((3, 3)))[None])


def test_a_fully_masked_row_is_refused_by_name():
    mask = np.array([[True, False], [False, False]])
    with pytest.raises(ValueError, match=r"row \[1\] of the mask hides every key"):
        masked_softmax(np.zeros((2, 2)), mask)


def test_t_equal_one_gives_p_one_and_no_gradient_on_the_scores():
    x, wq, wk, wv, dout = _head((4, 1, 3, 2))
    _, cache = attention_forward(x, wq, wk, wv, causal=True)
    assert np.all(cache.P == 1.0)
    dx, dwq, dwk, _ = attention_backward(dout, cache)
    assert not np.any(dwq) and not np.any(dwk)  # the scores never mattered


def test_bad_shapes_get_clear_messages():
    x, wq, wk, wv, _ = _head((2, 3, 4, 5))
    with pytest.raises(ValueError, match="3-D array"):
        attention_forward(x[0], wq, wk, wv)
    with pytest.raises(ValueError, match=r"Wk must have shape \(D, d\)"):
        attention_forward(x, wq, wk.T, wv)


def test_the_frameworks_function_computes_the_head_from_q_k_v():
    x, wq, wk, wv, _ = _head((2, 5, 4, 3))
    for causal in (False, True):
        out, cache = attention_forward(x, wq, wk, wv, causal=causal)
        np.testing.assert_allclose(scaled_dot_product_attention(cache.Q, cache.K, cache.V, is_causal=causal), out)
    # A float mask is added to the scores: −inf above the diagonal is the causal mask.
    bias = np.where(causal_mask(5), 0.0, -np.inf)
    np.testing.assert_allclose(scaled_dot_product_attention(cache.Q, cache.K, cache.V, attn_mask=bias), out)


def test_the_spread_of_the_scores_grows_like_sqrt_d_and_the_scale_takes_it_out():
    for d in (4, 64):
        raw, scaled = score_spread(np.random.default_rng(0), d)
        assert abs(raw / np.sqrt(d) - 1.0) < 0.1 and abs(scaled - 1.0) < 0.1


def test_multi_query_is_h_heads_sharing_k_and_v_and_matches_numerical_differences():
    rng = np.random.default_rng(5)
    x, wq = rng.normal(size=(2, 4, 5)), rng.normal(size=(3, 5, 2))
    wk, wv, dout = rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), rng.normal(size=(2, 3, 4, 2))
    for causal in (False, True):
        out, *grads = mqa_variant(x, wq, wk, wv, dout, causal)
        for h in range(3):
            np.testing.assert_allclose(attention_forward(x, wq[h], wk, wv, causal=causal)[0], out[:, h])
        inputs = [x, wq, wk, wv]
        for k, g in enumerate(grads):
            def f(v, k=k):
                args = list(inputs)
                args[k] = v
                return mqa_variant(*args, dout, causal)[0]
            assert gradcheck(f, inputs[k].copy(), g, upstream=dout).passed


# ----- the exercises --------------------------------------------------------------

def test_four_exercises_registered_in_the_notebook_s_order():
    assert [e.id for e in exercises_of("08_attention")] == [
        "08.softmax_backward", "08.mask_backward", "08.head_backward", "08.multi_query"]


def test_the_references_match_numerical_gradients_on_their_own_cases():
    rng = np.random.default_rng(SEED)
    for case in concept.MASK.hidden(rng)[:5]:
        s, mask, dp = case.args
        _, ds = concept.masked_softmax_backward(s, mask, dp)
        np.testing.assert_allclose(ds, numerical_gradient(lambda v: masked_softmax(v, mask), s.copy(), dp),
                                   atol=1e-7)
    for case in concept.MQA.hidden(rng)[:3]:
        x, wq, wk, wv, dout, causal = case.args
        _, dx, *_ = concept.mqa_forward_backward(x, wq, wk, wv, dout, causal)
        numeric = numerical_gradient(lambda v: concept.mqa_forward_backward(v, wq, wk, wv, dout, causal)[0],
                                     x.copy(), dout)
        np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


def test_hidden_cases_cover_the_edges():
    rng = np.random.default_rng(SEED)
    notes = [c.note for c in concept.HEAD.hidden(rng)]
    assert any("T = 1" in n for n in notes) and any("causal" in n for n in notes) and any("no mask" in n for n in notes)
    assert any("ties" in n for n in notes) and any("one-hot" in n for n in notes)
    for case in concept.HEAD.hidden(np.random.default_rng(SEED))[1:]:
        x = case.args[1]["X"]
        b, t, d_in = x.shape
        assert len({t, d_in, case.args[1]["Wq"].shape[1]}) == 3
    scores = [c.args[0] for c in concept.MASK.hidden(np.random.default_rng(SEED))]
    assert max(float(np.abs(s).max()) for s in scores) > 300


def _softmax_vjp_by_loops(dP, P):
    dS = np.zeros_like(P)
    for b in range(P.shape[0]):
        for i in range(P.shape[1]):
            p = P[b, i]
            J = np.diag(p) - np.outer(p, p)  # the full Jacobian, fine for a small T
            dS[b, i] = dP[b, i] @ J
    return dS


def _head_backward_einsum(dout, cache):
    X, Wq, Wk, Wv, Q, K, V, P = (cache[k] for k in ("X", "Wq", "Wk", "Wv", "Q", "K", "V", "P"))
    dV = np.einsum("bij,bid->bjd", P, dout)
    dP = np.einsum("bid,bjd->bij", dout, V)
    dS = P * (dP - np.einsum("bij,bij->bi", dP, P)[..., None])
    s = cache["scale"]
    dQ, dK = np.einsum("bij,bjd->bid", dS, K) * s, np.einsum("bij,bid->bjd", dS, Q) * s
    dW = [np.einsum("btD,btd->Dd", X, g) for g in (dQ, dK, dV)]
    return (dQ @ Wq.T + dK @ Wk.T + dV @ Wv.T, *dW)


def _mask_backward_where_and_loops(S, mask, dP):
    Z = np.where(mask, S, -np.inf)
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    P = E / E.sum(axis=-1, keepdims=True)
    return P, _softmax_vjp_by_loops(dP, P)


def _mqa_by_heads(X, Wq, Wk, Wv, dout, causal):
    # A learner's way: one head at a time with the course's pair, the shared K and V gradients added up.
    outs, dX, dWq, dWk, dWv = [], 0.0, [], 0.0, 0.0
    for h in range(Wq.shape[0]):
        out, cache = attention_forward(X, Wq[h], Wk, Wv, causal=causal)
        gx, gq, gk, gv = attention_backward(dout[:, h], cache)
        outs.append(out)
        dX, dWk, dWv = dX + gx, dWk + gk, dWv + gv
        dWq.append(gq)
    return np.stack(outs, axis=1), dX, np.stack(dWq), dWk, dWv


@pytest.mark.parametrize("exercise,answer", [
    (concept.VJP, _softmax_vjp_by_loops),
    (concept.MASK, _mask_backward_where_and_loops),
    (concept.HEAD, _head_backward_einsum),
    (concept.MQA, _mqa_by_heads),
], ids=["vjp-full-jacobian", "mask-loops", "head-einsum", "mqa-head-by-head"])
def test_a_right_answer_written_differently_passes(exercise, answer):
    verdict = evaluate(exercise, answer, SEED)
    assert verdict.passed, verdict.message


def test_the_check_prints_one_line(capsys):
    check("08.head_backward", concept.attention_head_backward)
    assert capsys.readouterr().out.startswith("✔ 08.head_backward")


# ----- each hint, proven by a wrong answer written as a learner would -------------------

def _vjp_diagonal(dP, P):
    return P * dP


def _vjp_rowsum_of_dp(dP, P):
    return P * (dP - dP.sum(axis=-1, keepdims=True))


def _vjp_down_the_columns(dP, P):
    return P * (dP - (dP * P).sum(axis=1, keepdims=True))


def _vjp_no_keepdims(dP, P):
    return P * (dP - (dP * P).sum(axis=-1))


@pytest.mark.parametrize("answer,code,words", [
    (_vjp_diagonal, "softmax_diagonal", "diagonal of the softmax's Jacobian alone"),
    (_vjp_rowsum_of_dp, "wrong_value", "rowsum is of dP alone"),
    (_vjp_down_the_columns, "sum_axis", "down the columns"),
    (_vjp_no_keepdims, "keepdims", "keepdims missing"),
    (lambda dP, P: P * ((dP * P).sum(axis=-1, keepdims=True) - dP), "sign", "wrong sign"),
])
def test_softmax_vjp_mistakes_get_their_hints(answer, code, words):
    verdict = evaluate(concept.VJP, answer, SEED)
    assert verdict.code == code and words in verdict.message, verdict.message


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mask_backward_leaking(S, mask, dP):
    P = _softmax(np.where(mask, S, -np.inf))
    P_all = _softmax(S)  # "the softmax's backward needs its P": recomputed, the mask forgotten
    return P, P_all * (dP - (dP * P_all).sum(axis=-1, keepdims=True))


def _mask_with_zero(S, mask, dP):
    P = _softmax(np.where(mask, S, 0.0))
    return P, P * (dP - (dP * P).sum(axis=-1, keepdims=True))


def _mask_by_multiplying(S, mask, dP):
    P = _softmax(S * mask + (1 - mask) * -np.inf)
    return P, P * (dP - (dP * P).sum(axis=-1, keepdims=True))


def _mask_after_softmax(S, mask, dP):
    P = _softmax(S) * mask
    return P, P * (dP - (dP * P).sum(axis=-1, keepdims=True))


def _mask_unstable(S, mask, dP):
    E = np.exp(np.where(mask, S, -np.inf))
    P = E / E.sum(axis=-1, keepdims=True)
    return P, P * (dP - (dP * P).sum(axis=-1, keepdims=True))


def _mask_diagonal_only(S, mask, dP):
    P = _softmax(np.where(mask, S, -np.inf))
    return P, P * dP


@pytest.mark.parametrize("answer,code,words", [
    (_mask_backward_leaking, "mask_leak", "no gradient flows back through a constant"),
    (_mask_with_zero, "mask_fill", "set to 0, not −inf"),
    (_mask_by_multiplying, "mask_fill", "0 · (−inf) is NaN"),
    (_mask_after_softmax, "mask_fill", "do not sum to 1"),
    (_mask_unstable, "overflow", "Subtract each row's own maximum"),
    (_mask_diagonal_only, "softmax_diagonal", "diagonal of the softmax's Jacobian"),
])
def test_mask_mistakes_get_their_hints(answer, code, words):
    with np.errstate(all="ignore"):
        verdict = evaluate(concept.MASK, answer, SEED)
    assert verdict.code == code and words in verdict.message, verdict.message


def _learner_head(dout, cache, *, dq="dS @ K", dk="dS^T @ Q", dv="P^T @ dout", scale_q=True, scale_k=True,
                  softmax="vjp", dw="reshape", dx="all", recompute_p=False):
    """A learner's head backward, written with batched matmuls, one slip at a time."""
    X, Wq, Wk, Wv, Q, K, V, P = (cache[k] for k in ("X", "Wq", "Wk", "Wv", "Q", "K", "V", "P"))
    s = 1 / np.sqrt(Q.shape[-1])
    tr = lambda a: a.transpose(0, 2, 1)  # noqa: E731
    if recompute_p:
        P = _softmax(Q @ tr(K) * s)
    dV = tr(P) @ dout if dv == "P^T @ dout" else P @ dout
    dP = dout @ tr(V)
    dS = P * dP if softmax == "diagonal" else P * (dP - (dP * P).sum(axis=-1, keepdims=True))
    dQ = {"dS @ K": lambda: dS @ K, "dS @ K^T": lambda: dS @ tr(K), "dS^T @ K": lambda: tr(dS) @ K}[dq]()
    dK = {"dS^T @ Q": lambda: tr(dS) @ Q, "dS @ Q": lambda: dS @ Q}[dk]()
    dQ, dK = dQ * (s if scale_q else 1), dK * (s if scale_k else 1)
    if dw == "reshape":
        D = X.shape[-1]
        dWq, dWk, dWv = (X.reshape(-1, D).T @ g.reshape(-1, g.shape[-1]) for g in (dQ, dK, dV))
    elif dw == "per_sequence":
        dWq, dWk, dWv = (tr(X) @ g for g in (dQ, dK, dV))
    else:  # "sum_first"
        dWq, dWk, dWv = (X.sum(axis=1).T @ g.sum(axis=1) for g in (dQ, dK, dV))
    if dx == "all":
        dX = dQ @ Wq.T + dK @ Wk.T + dV @ Wv.T
    else:  # "=" three times: each path overwrote the one before
        dX = dQ @ Wq.T
        dX = dK @ Wk.T
        dX = dV @ Wv.T
    return dX, dWq, dWk, dWv


@pytest.mark.parametrize("slip,code,words", [
    ({}, "ok", ""),
    ({"dq": "dS @ K^T"}, "transpose", "your dQ multiplies dS by Kᵀ"),
    ({"dk": "dS @ Q"}, "transpose", "the transpose of dS is missing"),
    ({"dq": "dS^T @ K", "dk": "dS @ Q"}, "qk_swapped", "swapped roles"),
    ({"dv": "P @ dout"}, "transpose", "the transpose of P is missing"),
    ({"scale_k": False}, "scale_sqrt_d", "Your dK lacks the 1/√d"),
    ({"scale_q": False}, "scale_sqrt_d", "Your dQ lacks the 1/√d"),
    ({"scale_q": False, "scale_k": False}, "scale_sqrt_d", "both lack the 1/√d"),
    ({"softmax": "diagonal"}, "softmax_diagonal", "Jacobian's diagonal alone"),
    ({"recompute_p": True}, "mask_leak", "gradient leaks into keys the mask hid"),
    ({"dw": "per_sequence"}, "not_summed", "one slice per sequence"),
    ({"dw": "sum_first"}, "sum_axis", "over the positions before multiplying"),
    ({"dx": "overwritten"}, "fork_overwrite", "only the path through V"),
])
def test_head_mistakes_get_hints_that_name_the_stage(slip, code, words):
    verdict = evaluate(concept.HEAD, lambda dout, cache: _learner_head(dout, cache, **slip), SEED)
    if code == "ok":
        assert verdict.passed, verdict.message
    else:
        assert verdict.code == code and words in verdict.message, verdict.message


def _learner_mqa(X, Wq, Wk, Wv, dout, causal, *, shared="add", scale_k=True):
    """A learner's multi-query attention: a loop over the heads, each with the single head's rules."""
    H, T = Wq.shape[0], X.shape[1]
    s = 1 / np.sqrt(Wq.shape[-1])
    tr = lambda a: a.transpose(0, 2, 1)  # noqa: E731
    K, V = X @ Wk, X @ Wv
    out, dX, dWq, dK, dV = [], np.zeros_like(X), np.zeros_like(Wq), np.zeros_like(K), np.zeros_like(V)
    for h in range(H):
        Q = X @ Wq[h]
        S = Q @ tr(K) * s
        if causal:
            S = np.where(np.tril(np.ones((T, T), dtype=bool)), S, -np.inf)
        P = _softmax(S)
        out.append(P @ V)
        dP = dout[:, h] @ tr(V)
        dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
        dQ = dS @ K * s
        dK_h = tr(dS) @ Q * (s if scale_k else 1)
        dV_h = tr(P) @ dout[:, h]
        if shared == "add":
            dK, dV = dK + dK_h, dV + dV_h
        else:  # "=": each head overwrites the one before
            dK, dV = dK_h, dV_h
        dWq[h] = np.einsum("btD,btd->Dd", X, dQ)
        dX = dX + dQ @ Wq[h].T
    dX = dX + dK @ Wk.T + dV @ Wv.T
    return (np.stack(out, axis=1), dX, dWq, np.einsum("btD,btd->Dd", X, dK), np.einsum("btD,btd->Dd", X, dV))


@pytest.mark.parametrize("slip,code,words", [
    ({}, "ok", ""),
    ({"shared": "overwrite"}, "fork_overwrite", "last head's share only"),
    ({"scale_k": False}, "scale_sqrt_d", "Your dK lacks the 1/√d"),
])
def test_multi_query_mistakes_get_their_hints(slip, code, words):
    verdict = evaluate(concept.MQA, lambda *a: _learner_mqa(*a, **slip), SEED)
    if code == "ok":
        assert verdict.passed, verdict.message
    else:
        assert verdict.code == code and words in verdict.message, verdict.message



# ----- the widget -------------------------------------------------------------------

def test_widget_state_is_the_head_on_the_sentence():
    from course.present.widgets.attention import TOKENS, attention_state

    s = attention_state(2.0, 3, True)
    assert s.P.shape == s.dS.shape == (len(TOKENS),) * 2
    np.testing.assert_allclose(s.P.sum(axis=1), 1.0)
    np.testing.assert_allclose(s.dS.sum(axis=1), 0.0, atol=1e-12)  # a softmax's gradient sums to 0 along a row
    hidden = ~causal_mask(len(TOKENS))
    assert np.all(s.P[hidden] == 0.0) and np.all(s.dS[hidden] == 0.0)
    np.testing.assert_allclose(s.dS, softmax_backward(s.dP, s.P))
    unmasked = attention_state(2.0, 3, False)
    assert np.all(unmasked.P > 0.0) and np.any(unmasked.dS[hidden] != 0.0)


def test_widget_temperature_sharpens_or_flattens_the_rows():
    from course.present.widgets.attention import attention_state

    cold, hot = attention_state(0.25, 4, False), attention_state(8.0, 4, False)
    # Almost one-hot (or split between the two "the", whose keys are equal): ...
    assert np.all(np.sort(cold.P, axis=1)[:, -2:].sum(axis=1) > 0.95)
    assert np.abs(cold.dS).max() < np.abs(hot.dS).max()  # ... and almost no gradient reaches the scores
    assert hot.P.max() < 0.5
    with pytest.raises(ValueError, match="positive"):
        attention_state(0.0)
    with pytest.raises(ValueError, match="between 1 and 6"):
        attention_state(2.0, 7)


def test_widget_alt_text_follows_the_state():
    from course.present.widgets.attention import attention_state, picture_alt

    a, b = attention_state(2.0, 3, True), attention_state(2.0, 5, False)
    assert "causal mask" in picture_alt(a) and "no mask" in picture_alt(b)
    assert 'query 3 ("sat")' in picture_alt(a) and 'query 5 ("the")' in picture_alt(b)
    assert "[0.67, 0.18, 0.15, 0.00, 0.00, 0.00]" in picture_alt(a)


def test_widget_updates_its_numbers_and_picture():
    from course.present.widgets.attention import attention_state, attention_widget

    box = attention_widget()
    assert "gradflow-attention" in box._dom_classes
    (tau, position, mask), numbers, image = box.children[0].children, box.children[1], box.children[2]
    before = image.value
    position.value, mask.value, tau.value = 5, False, 0.5
    assert attention_state(0.5, 5, False).summary() in numbers.value.replace("&quot;", '"')
    assert image.value != before and 'alt="Two 6 × 6 heat maps' in image.value


# ----- the lesson's worked numbers say what the text says --------------------------

def _worked(name: str) -> tuple[str, str]:
    """The printed text of a worked-number cell of the lesson, and the markdown cell after it."""
    import nbformat

    from conftest import LESSONS

    cells = nbformat.read(LESSONS / "08_attention.ipynb", as_version=4).cells
    index = next(i for i, c in enumerate(cells) if c.metadata.get("gradflow", {}).get("worked") == name)
    text = "".join(o.get("text", "") for o in cells[index].outputs)
    after = next(c.source for c in cells[index + 1:] if c.cell_type == "markdown")
    return text, after


def _numbers(text: str) -> list[float]:
    import re

    return [float(v) for v in re.findall(r"-?\d+\.\d*|-?\d+", text)]


def test_worked_forward_and_backward_numbers_are_the_course_s():
    O, cache = attention_forward(concept.WORKED_X, concept.WORKED_WQ, concept.WORKED_WK, concept.WORKED_WV,
                                 causal=True)
    text, after = _worked("forward")
    printed_p = np.array(_numbers(text.split("P (masked softmax) =")[1].split("O =")[0])).reshape(3, 3)
    np.testing.assert_allclose(printed_p, cache.P[0], atol=5e-5)
    for quoted in ("0.3653", "0.6347", "−4.5299", "−3.9775", "1.9887"):
        assert quoted.replace("−", "-") in text and quoted in after
    dS = softmax_backward(concept.WORKED_DOUT @ cache.V.transpose(0, 2, 1), cache.P)
    text, after = _worked("backward")
    printed_ds = np.array(_numbers(text.split("dS =")[1].split("dWq =")[0])).reshape(3, 3)
    np.testing.assert_allclose(printed_ds, dS[0], atol=5e-5)
    assert f"+{dS[0, 1, 0]:.4f}" in after and "same as the course's attention_backward: True" in text


def test_worked_sqrt_d_spreads_grow_like_sqrt_d_and_every_gradient_passes():
    text, _ = _worked("sqrt_d")
    for line in text.splitlines():
        d, raw, scaled, root = _numbers(line)
        assert abs(raw - root) < 0.2 and scaled == 1.0
    text, _ = _worked("gradcheck")
    assert text.count(": ok, max relative error < 1e-6") == 8 and "MISMATCH" not in text
    mask, _ = _worked("mask")
    assert "exp(-inf) = 0.0" in mask and "0 * (-inf) = nan" in mask and "hides every key" in mask


def test_the_stage_graph_names_every_stage_its_shape_and_its_backward():
    from course.present.stage_graph import attention_graph, describe_stage_graph, draw_stage_graph

    stages, edges = attention_graph()
    assert [s.name for s in stages] == ["X", "Q", "K", "V", "S", "Z", "P", "O"]
    assert {e.source for e in edges} | {e.target for e in edges} == {s.name for s in stages}
    both, forward = describe_stage_graph(stages, edges), describe_stage_graph(stages, edges, show_backward=False)
    assert "dK = dSᵀ·Q / √d" in both and "dZ = P ⊙ (dP − rowsum(dP ⊙ P))" in both and "backward" not in forward
    assert "S (B, T, T)" in forward and "X to V by ·Wv" in forward
    import matplotlib.pyplot as plt

    fig = draw_stage_graph(stages, edges, show_backward=True)
    texts = {t.get_text() for t in fig.axes[0].texts}
    plt.close(fig)
    assert {"X", "O", "(B, T, T)", "dV = Pᵀ·dO", "softmax"} <= texts
