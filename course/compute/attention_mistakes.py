"""Attention computed wrong, in the ways the checks of lesson 08 recognise.

Each mistake is a knob of one computation, right by default (a test holds
each to ``course.compute.attention``'s pair and to numerical gradients), so
that a wrong answer of any exercise is the whole computation with one stage
done wrong and its hint can name the stage:

- ``softmax_vjp_variant``: the softmax's backward (the Jacobian's diagonal
  only, the rowsum without P, a sign, a sum over the wrong axis);
- ``masked_softmax_variant``: the mask and the softmax, forward and backward
  (0 in place of −inf, ``0 · −inf``, no renormalising, no max subtracted, a
  backward through a softmax that forgot the mask);
- ``head_backward_variant``: the head's backward from its cache (a transpose
  missing, Q and K swapped, √d on one side only, dW summed wrong, a path of
  X left out, ...);
- ``mqa_variant``: multi-query attention, H query heads sharing one K and one
  V, forward and backward (the shared gradients overwritten or averaged
  instead of added over the heads).
"""

from __future__ import annotations

import numpy as np

from course.compute.attention import causal_mask


def _t(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def softmax_vjp_variant(dp: np.ndarray, p: np.ndarray, *, jacobian: str = "full", axis: int = -1,
                        keepdims: bool = True, sign: float = 1.0) -> np.ndarray:
    """dZ from dP and P (..., T), right by default.

    - ``jacobian``: "full" P ⊙ (dP − rowsum(dP ⊙ P)); "diagonal" P ⊙ dP (the
      diagonal of diag(p) − p pᵀ alone); "no_p" P ⊙ (dP − rowsum(dP)).
    - ``axis``: the axis of the rowsum (-2: down the columns).
    - ``keepdims``: False drops the summed axis, so the sums broadcast along the wrong axis.
    - ``sign``: -1 gives P ⊙ (rowsum − dP).
    """
    if jacobian == "diagonal":
        return sign * p * dp
    inner = dp if jacobian == "no_p" else dp * p
    total = inner.sum(axis=axis, keepdims=keepdims)
    return sign * p * (dp - total)


def _rows_softmax(z: np.ndarray, stable: bool = True) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True) if stable else z
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def masked_softmax_variant(s: np.ndarray, mask: np.ndarray, dp: np.ndarray, *, fill: str = "-inf",
                           renormalise: bool = True, stable: bool = True, backward_mask: bool = True,
                           jacobian: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """(P, dS) of ``P = softmax(where(mask, S, −inf))`` over the last axis, right by default.

    - ``fill``: what hidden scores become: "-inf"; "zero" (0, which still
      gets weight); "times_mask" ``S·mask + (1 − mask)·(−inf)``, where
      0·(−inf) is NaN at every visible entry.
    - ``renormalise``: False takes the softmax of the unmasked scores and
      zeroes the hidden entries afterwards (rows no longer sum to 1).
    - ``stable``: False skips the row max (exp overflows for large scores).
    - ``backward_mask``: False runs the backward through the softmax of the
      unmasked scores: gradient leaks into the hidden entries.
    - ``jacobian``: as in ``softmax_vjp_variant``.
    """
    keep = np.broadcast_to(mask, s.shape)
    with np.errstate(all="ignore"):
        if fill == "zero":
            z = np.where(keep, s, 0.0)
        elif fill == "times_mask":
            z = s * keep + (1.0 - keep) * -np.inf
        else:
            z = np.where(keep, s, -np.inf)
        p = _rows_softmax(z if renormalise else s, stable) * (1.0 if renormalise else keep)
        p_back = p if backward_mask else _rows_softmax(s, stable)
        ds = softmax_vjp_variant(dp, p_back, jacobian=jacobian)
    return p, ds


def head_backward_variant(dout: np.ndarray, cache: dict, *, softmax: str = "full", dq: str = "dS K",
                          dk: str = "dS^T Q", dv: str = "P^T dO", scale_on: tuple[str, ...] = ("q", "k"),
                          dw: str = "sum", paths: tuple[str, ...] = ("q", "k", "v"),
                          mask_in_backward: bool = True) -> tuple[np.ndarray, ...]:
    """(dX, dWq, dWk, dWv) of one head from its cache (a dict of the forward's arrays), right by default.

    - ``softmax``: the softmax stage, a ``jacobian`` of ``softmax_vjp_variant``.
    - ``dq``: "dS K"; "dS K^T" (K transposed where it is not: a shape error
      unless T = d); "dS^T K" (Q and K's roles swapped).
    - ``dk``: "dS^T Q"; "dS Q" (the transpose of dS forgotten).
    - ``dv``: "P^T dO"; "P dO" (the transpose of P forgotten).
    - ``scale_on``: which of dQ and dK get the forward's scale (1/√d).
    - ``dw``: "sum" over the batch and positions; "per_sequence" (B, D, d),
      the batch axis not summed; "mean" over the batch; "sum_first" X and
      the gradient summed over the positions before their product.
    - ``paths``: which of Q, K, V send their gradient back to X.
    - ``mask_in_backward``: False recomputes P from S without the mask.
    """
    x, wq, wk, wv, q, k, v, p = (cache[n] for n in ("X", "Wq", "Wk", "Wv", "Q", "K", "V", "P"))
    scale = cache["scale"]
    if not mask_in_backward:
        p = _rows_softmax(cache["S"])
    d_v = _t(p) @ dout if dv == "P^T dO" else p @ dout
    d_p = dout @ _t(v)
    d_s = softmax_vjp_variant(d_p, p, jacobian=softmax)
    d_q = {"dS K": lambda: d_s @ k, "dS K^T": lambda: d_s @ _t(k), "dS^T K": lambda: _t(d_s) @ k}[dq]()
    d_k = _t(d_s) @ q if dk == "dS^T Q" and dq != "dS^T K" else d_s @ q
    d_q = d_q * (scale if "q" in scale_on else 1.0)
    d_k = d_k * (scale if "k" in scale_on else 1.0)

    def weight(g: np.ndarray) -> np.ndarray:
        if dw == "per_sequence":
            return _t(x) @ g
        if dw == "mean":
            return (_t(x) @ g).mean(axis=0)
        if dw == "sum_first":
            return x.sum(axis=1).T @ g.sum(axis=1)
        return np.einsum("btD,btd->Dd", x, g)

    d_x = sum(g @ w.T for name, g, w in (("q", d_q, wq), ("k", d_k, wk), ("v", d_v, wv)) if name in paths)
    return d_x, weight(d_q), weight(d_k), weight(d_v)


def mqa_variant(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, dout: np.ndarray, causal: bool, *,
                shared: str = "sum", softmax: str = "full", scale_on: tuple[str, ...] = ("q", "k"),
                mask_in_backward: bool = True, dk: str = "dS^T Q") -> tuple[np.ndarray, ...]:
    """Multi-query attention, forward and backward, right by default.

    ``x`` (B, T, D); ``wq`` (H, D, d), one query projection per head; ``wk``,
    ``wv`` (D, d), shared by every head; ``dout`` (B, H, T, d). Head h:
    ``O_h = softmax(X Wq[h] (X Wk)ᵀ / √d) X Wv``. Returns
    ``(out (B, H, T, d), dX (B, T, D), dWq (H, D, d), dWk (D, d), dWv (D, d))``.

    - ``shared``: how K's and V's gradients from the H heads are combined:
      "sum" (a fork: they add), "last" (each head overwrote the one before),
      "mean".
    - ``softmax``, ``scale_on``, ``mask_in_backward``, ``dk``: as in ``head_backward_variant``.
    """
    d = wq.shape[-1]
    scale = 1.0 / np.sqrt(d)
    q = np.einsum("btD,hDd->bhtd", x, wq)                 # (B, H, T, d): a query per head
    k, v = x @ wk, x @ wv                                 # (B, T, d): one key and one value for every head
    s = (q @ _t(k)[:, None]) * scale                      # (B, H, T, T)
    keep = causal_mask(x.shape[1]) if causal else np.ones((x.shape[1],) * 2, dtype=bool)
    p = _rows_softmax(np.where(keep, s, -np.inf))
    out = p @ v[:, None]                                  # (B, H, T, d)

    d_v_heads = _t(p) @ dout                              # (B, H, T, d): each head's share of dV
    d_p = dout @ _t(v)[:, None]
    p_back = p if mask_in_backward else _rows_softmax(s)
    d_s = softmax_vjp_variant(d_p, p_back, jacobian=softmax)
    d_q = (d_s @ k[:, None]) * (scale if "q" in scale_on else 1.0)
    d_k_heads = (_t(d_s) @ q if dk == "dS^T Q" else d_s @ q) * (scale if "k" in scale_on else 1.0)
    combine = {"sum": lambda g: g.sum(axis=1), "last": lambda g: g[:, -1], "mean": lambda g: g.mean(axis=1)}[shared]
    d_k, d_v = combine(d_k_heads), combine(d_v_heads)
    d_wq = np.einsum("btD,bhtd->hDd", x, d_q)
    d_wk = np.einsum("btD,btd->Dd", x, d_k)
    d_wv = np.einsum("btD,btd->Dd", x, d_v)
    d_x = np.einsum("bhtd,hDd->btD", d_q, wq) + d_k @ wk.T + d_v @ wv.T
    return out, d_x, d_wq, d_wk, d_wv
