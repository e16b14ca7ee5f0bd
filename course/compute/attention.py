"""One self-attention head for a batch of sequences, forward and backward in named stages.

Shapes (batch first, positions next, features last):

- ``X``: (B, T, D) a batch of B sequences of T positions, D features each;
- ``Wq``, ``Wk``, ``Wv``: (D, d) the head's three projections;
- ``Q = X·Wq``, ``K = X·Wk``, ``V = X·Wv``: (B, T, d), one row per position;
- ``S = Q·Kᵀ · scale``: (B, T, T), row i holds query i's scores against every
  key j; ``scale`` is 1/√d unless given;
- ``Z``: (B, T, T) the scores after the mask: −inf where a query may not look
  (a causal mask hides the keys after the query, j > i);
- ``P = softmax(Z)`` over the last axis: (B, T, T), each row sums to 1 and is
  exactly 0 where the mask hid the key;
- ``O = P·V``: (B, T, d), each position a weighted mean of the values.

The softmax is stable: each row's largest score is subtracted before ``exp``
(it cancels in the fraction) and masked entries are −inf, so ``exp`` gives 0
for them and never NaN. A row with every key hidden has nothing to average
and is refused with its row named (a causal mask never does that: a query
always sees itself).

The backward pass runs the stages in reverse; each line is one stage's local
rule times the gradient from above. The softmax's is the vector–Jacobian
product ``dZ = P ⊙ (dP − rowsum(dP ⊙ P))``: O(T) per row, the T × T Jacobian
``diag(p) − p·pᵀ`` is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def causal_mask(t: int) -> np.ndarray:
    """(T, T) booleans, True where query i may look at key j, that is j <= i (lower triangle)."""
    return np.tril(np.ones((t, t), dtype=bool))


def _check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"the mask must be booleans (True: the key is visible), got {mask.dtype}")
    try:
        full = np.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"a mask of shape {mask.shape} does not fit scores of shape {shape}") from None
    hidden = ~full.any(axis=-1)
    if np.any(hidden):
        row = [int(i) for i in np.argwhere(hidden)[0]]
        raise ValueError(f"row {row} of the mask hides every key: its softmax would be 0/0. Each query must"
                         " see at least one key (a causal mask always lets a query see itself).")
    return mask


def mask_forward(s: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``Z = S`` where ``mask`` is True, −inf where it is False. ``s``: (..., T, T); ``mask`` broadcasts to it."""
    if mask is None:
        return s
    _check_mask(mask, s.shape)
    return np.where(mask, s, -np.inf)


def mask_backward(dz: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``dS = dZ`` where the key was visible, 0 where it was hidden: a constant −inf passes no gradient."""
    return dz if mask is None else np.where(mask, dz, 0.0)


def masked_softmax(s: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis of ``s`` (..., T), hidden entries exactly 0. Stable for scores of any size.

    ``mask`` (booleans, broadcast to ``s``): True where the entry takes part.
    A row whose every entry is hidden raises ValueError.
    """
    z = mask_forward(np.asarray(s, dtype=np.float64), mask)
    shifted = z - z.max(axis=-1, keepdims=True)  # every row has a finite max: the mask leaves one key at least
    e = np.exp(shifted)  # exp(-inf) = 0: a hidden key gets weight 0, not NaN
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dp: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The softmax's vector–Jacobian product over the last axis: ``dZ = P ⊙ (dP − rowsum(dP ⊙ P))``.

    ``dp``, ``p``: (..., T), P a softmax over the last axis. Returns dZ (..., T).
    Row by row it is ``dp @ (diag(p) − p pᵀ)``, two passes over the row
    instead of a T × T matrix. Where P is 0 (a hidden key) dZ is 0.
    """
    return p * (dp - (dp * p).sum(axis=-1, keepdims=True))


def softmax_jacobian(p: np.ndarray) -> np.ndarray:
    """The T × T Jacobian ``diag(p) − p pᵀ`` of one softmax row ``p`` (T,) (lesson 04), for comparison only."""
    p = np.asarray(p, dtype=np.float64)
    return np.diag(p) - np.outer(p, p)


@dataclass(frozen=True)
class AttentionCache:
    """What the forward pass keeps for the backward pass (shapes in the module's doc)."""

    X: np.ndarray
    Wq: np.ndarray
    Wk: np.ndarray
    Wv: np.ndarray
    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    S: np.ndarray  # the scaled scores before the mask
    P: np.ndarray
    mask: np.ndarray | None  # (T, T) booleans, or None: every key visible
    scale: float

    def as_dict(self) -> dict:
        """The cache as a plain dict of its fields (the exercises hand it to the learner this way)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _check_head(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        raise ValueError("X must be a 3-D array (B, T, D): B sequences of T positions with D features;"
                         " a single sequence is X[None] of shape (1, T, D)")
    d_in = x.shape[2]
    for name, w in (("Wq", wq), ("Wk", wk), ("Wv", wv)):
        if np.ndim(w) != 2 or np.shape(w)[0] != d_in:
            raise ValueError(f"{name} must have shape (D, d) = ({d_in}, d) to multiply X (B, T, {d_in});"
                             f" got {np.shape(w)}")
    if np.shape(wq) != np.shape(wk):
        raise ValueError(f"Wq {np.shape(wq)} and Wk {np.shape(wk)} must have the same shape: Q·Kᵀ pairs their"
                         " columns")


def attention_forward(X: np.ndarray, Wq: np.ndarray, Wk: np.ndarray, Wv: np.ndarray, causal: bool = False,
                      scale: float | None = None, mask: np.ndarray | None = None) -> tuple[np.ndarray, AttentionCache]:
    """One attention head, one named stage per line.

    - ``X``: (B, T, D); ``Wq``, ``Wk``: (D, d); ``Wv``: (D, d_v) (usually d_v = d).
    - ``causal``: hide the keys after each query (j > i).
    - ``scale``: multiplies Q·Kᵀ; 1/√d by default.
    - ``mask``: (T, T) or (B, T, T) booleans, True where a key is visible;
      combined with the causal mask when both are given.
    Returns ``O`` (B, T, d_v) and an ``AttentionCache``.
    """
    _check_head(X, Wq, Wk, Wv)
    t, d = X.shape[1], Wq.shape[1]
    scale = 1.0 / np.sqrt(d) if scale is None else float(scale)
    if causal:
        mask = causal_mask(t) if mask is None else (mask & causal_mask(t))
    Q = X @ Wq                                   # (B, T, d)
    K = X @ Wk                                   # (B, T, d)
    V = X @ Wv                                   # (B, T, d_v)
    S = (Q @ K.transpose(0, 2, 1)) * scale       # (B, T, T): query i against key j
    P = masked_softmax(S, mask)                  # (B, T, T): the mask (−inf) and the row softmax
    O = P @ V                                    # (B, T, d_v)
    return O, AttentionCache(X, Wq, Wk, Wv, Q, K, V, S, P, mask, scale)


def _sum_over_batch_and_positions(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # dW = Σ over sequences and positions of (input row)ᵀ (gradient row): (B, T, D), (B, T, d) -> (D, d).
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


def attention_backward(dout: np.ndarray, cache: AttentionCache) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """The stages of ``attention_forward`` in reverse.

    ``dout``: (B, T, d_v), the gradient on O. Returns ``dX`` (B, T, D),
    ``dWq`` (D, d), ``dWk`` (D, d), ``dWv`` (D, d_v).
    """
    c = cache
    dV = c.P.transpose(0, 2, 1) @ dout           # O = P·V, second factor: Pᵀ·dO      (B, T, d_v)
    dP = dout @ c.V.transpose(0, 2, 1)           # first factor: dO·Vᵀ                   (B, T, T)
    dZ = softmax_backward(dP, c.P)               # the softmax's vector–Jacobian product (B, T, T)
    dS = mask_backward(dZ, c.mask)               # a hidden key passes no gradient       (B, T, T)
    dQ = (dS @ c.K) * c.scale                    # S = Q·Kᵀ·scale, first factor          (B, T, d)
    dK = (dS.transpose(0, 2, 1) @ c.Q) * c.scale  # second factor, Kᵀ: (dS)ᵀ·Q            (B, T, d)
    dWq = _sum_over_batch_and_positions(c.X, dQ)  # Q = X·Wq: every sequence and position adds
    dWk = _sum_over_batch_and_positions(c.X, dK)
    dWv = _sum_over_batch_and_positions(c.X, dV)
    dX = dQ @ c.Wq.T + dK @ c.Wk.T + dV @ c.Wv.T  # X feeds Q, K and V: three paths add
    return dX, dWq, dWk, dWv


def scaled_dot_product_attention(query: np.ndarray, key: np.ndarray, value: np.ndarray,
                                 attn_mask: np.ndarray | None = None, is_causal: bool = False,
                                 scale: float | None = None) -> np.ndarray:
    """What a framework's ``scaled_dot_product_attention(query, key, value, ...)`` computes, in numpy.

    ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, E_v) ->
    (..., L, E_v): ``softmax(query·keyᵀ·scale + bias)·value`` with ``scale``
    1/√E by default. ``attn_mask``: booleans (True: the key takes part) or
    numbers added to the scores; ``is_causal``: hide key j > query i.
    No projections: the framework takes Q, K, V already made from X.
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (query, key, value))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    s = (q @ np.swapaxes(k, -1, -2)) * scale
    keep = None
    if is_causal:
        keep = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if attn_mask is not None:
        attn_mask = np.asarray(attn_mask)
        if attn_mask.dtype == bool:
            keep = attn_mask if keep is None else keep & attn_mask
        else:
            s = s + attn_mask
    return masked_softmax(s, keep) @ v


def score_spread(rng: np.random.Generator, d: int, t: int = 16, samples: int = 64) -> tuple[float, float]:
    """Standard deviation of the entries of Q·Kᵀ without and with the 1/√d, for unit-variance Q and K of width d.

    ``samples`` batches of T × d standard normal Q and K: Q·Kᵀ's entries
    are sums of d products of unit variance, so their spread grows like √d,
    and the scaled ones stay near 1.
    """
    q = rng.standard_normal((samples, t, d))
    k = rng.standard_normal((samples, t, d))
    s = q @ k.transpose(0, 2, 1)
    return float(s.std()), float((s / np.sqrt(d)).std())
