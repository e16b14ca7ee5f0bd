"""Inverted dropout, as two small modules and as one joined layer.

During training each unit is *kept* with probability ``keep_prob`` and set to
zero otherwise; the kept units are multiplied by ``1 / keep_prob`` so that the
expected output equals the input: ``E[out] = x`` and, per unit,
``Var[out] = x**2 * (1 - keep_prob) / keep_prob``. At test time the layer is
the identity (that is why the scale is applied during training: "inverted").

The two modules:

- **mask**: multiply by a 0/1 mask, i.e. by a diagonal matrix with the mask on
  its diagonal. Backward: the upstream gradient is multiplied by *the same*
  mask, so the units dropped in the forward pass get no gradient.
- **amplify**: multiply by ``1 / keep_prob`` (a diagonal matrix with that
  number on its diagonal). Backward: the upstream gradient gets the same scale.

Randomness always comes from a ``numpy.random.Generator`` passed in by the
caller, never from numpy's global state, so a forward pass can be repeated
exactly (gradient checks hold the mask fixed that way). The course's
convention for drawing a mask: one uniform number ``u`` per unit, and the unit
is kept when ``u < keep_prob``, which happens with probability ``keep_prob``.

Two mask layouts, for an input of shape (N, F) (batch first, features last):

- **per element** (``per_feature=False``, the standard): every example draws
  its own mask, shape (N, F). Each example in the batch trains a different
  thinned network, and the noise of the examples is independent.
- **per feature** (``per_feature=True``): one mask of shape (1, F) shared by the
  whole batch, broadcast over the rows. A dropped feature is zero for every
  example in the batch, so the whole batch trains the same thinned network:
  each unit is still kept with probability ``keep_prob`` (same expectation),
  but the examples' noise is perfectly correlated, so the batch's gradient is
  noisier and fewer thinned networks are trained per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_keep_prob(keep_prob: float) -> None:
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}: it is the probability of *keeping* a unit")


# How one uniform number u per unit (or a binomial draw) becomes "kept". All
# three keep a unit with probability keep_prob, but from the same generator
# they give different masks; "below" is the course's convention.
MASK_RULES = {
    "below": lambda rng, shape, keep_prob: rng.random(shape) < keep_prob,
    "above": lambda rng, shape, keep_prob: rng.random(shape) >= 1.0 - keep_prob,
    "binomial": lambda rng, shape, keep_prob: rng.binomial(1, keep_prob, size=shape),
}


def draw_mask(shape: tuple[int, ...], keep_prob: float, rng: np.random.Generator,
              per_feature: bool = False, rule: str = "below") -> np.ndarray:
    """A float mask of 0.0 (dropped) and 1.0 (kept); each unit kept with probability ``keep_prob``.

    - ``shape``: the input's shape (N, F), or any shape for per-element masks.
    - ``per_feature``: draw one row of shape (1, F) shared by the whole batch
      instead of a mask of shape ``shape``.
    - ``rule``: how the generator's numbers become a mask (``MASK_RULES``);
      the course draws ``rng.random(shape) < keep_prob``.
    Returns an array of shape ``shape`` or (1, F).
    """
    _check_keep_prob(keep_prob)
    draw_shape = (1, shape[-1]) if per_feature else tuple(shape)
    return MASK_RULES[rule](rng, draw_shape, keep_prob).astype(np.float64)


# ----- the mask module ---------------------------------------------------------------

def mask_forward(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out = x * mask`` (a product with diag(mask), row by row).

    - ``x``: (N, F); ``mask``: (N, F) or (1, F) of 0.0 / 1.0.
    Returns ``out`` (N, F) and the cache, which is the mask itself: the
    backward pass must use this very mask.
    """
    return x * mask, mask


def mask_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout * mask``: diag(mask) is symmetric, so its transpose is itself.

    - ``dout``: (N, F), the gradient of the loss with respect to ``out``.
    Returns ``dx`` (N, F).
    """
    mask = cache
    return dout * mask


# ----- the amplify module ------------------------------------------------------------

def amplify_forward(x: np.ndarray, keep_prob: float) -> tuple[np.ndarray, float]:
    """``out = x / keep_prob``. Returns ``out`` (same shape as x) and the scale ``1 / keep_prob``."""
    _check_keep_prob(keep_prob)
    scale = 1.0 / keep_prob
    return x * scale, scale


def amplify_backward(dout: np.ndarray, cache: float) -> np.ndarray:
    """``dx = dout / keep_prob``: a constant scale passes the gradient on with the same scale."""
    scale = cache
    return dout * scale


# ----- the joined layer --------------------------------------------------------------

@dataclass(frozen=True)
class DropoutCache:
    """What the backward pass needs: the forward pass's mask and scale.

    ``mask`` is None in test mode (nothing was dropped).
    """

    mask: np.ndarray | None
    scale: float


def dropout_forward(x: np.ndarray, keep_prob: float, rng: np.random.Generator, train: bool = True,
                    per_feature: bool = False) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout: mask, then amplify, in one step.

    - ``x``: (N, F) activations; ``keep_prob``: probability of keeping a unit;
      ``rng``: the generator the mask is drawn from.
    - ``train=False``: test mode, ``out = x`` exactly (no mask, no scale; the
      generator is not used).
    - ``per_feature``: one mask row shared by the batch (see the module's doc).
    Returns ``out`` (N, F) and a ``DropoutCache`` for ``dropout_backward``.
    """
    _check_keep_prob(keep_prob)
    if not train:
        return x.copy(), DropoutCache(None, 1.0)
    mask = draw_mask(x.shape, keep_prob, rng, per_feature)
    scale = 1.0 / keep_prob
    return x * mask * scale, DropoutCache(mask, scale)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """``dx = dout * mask / keep_prob`` with the forward pass's mask; ``dx = dout`` in test mode.

    - ``dout``: (N, F). Returns ``dx`` (N, F).
    Nothing is drawn here: a fresh mask would send gradient to units the
    forward pass dropped, and block it at units that were used.
    """
    if cache.mask is None:
        return dout.copy()
    return dout * cache.mask * cache.scale


def swapped_dropout_forward(x: np.ndarray, keep_prob: float, rng: np.random.Generator, train: bool = True,
                            per_feature: bool = False) -> tuple[np.ndarray, DropoutCache]:
    """A *wrong* dropout, kept for teaching: the keep and drop probabilities are swapped.

    It keeps each unit with probability ``1 - keep_prob`` and divides by
    ``1 - keep_prob``. The mean is still preserved (kept fraction times scale
    is 1), so a test of the mean alone passes it; but at keep_prob = 0.8 it
    keeps 20 % of the units instead of 80 %, and its variance is
    ``x**2 * keep_prob / (1 - keep_prob)`` instead of
    ``x**2 * (1 - keep_prob) / keep_prob``. At keep_prob = 0.5 it is right.
    Same signature and cache as ``dropout_forward``.
    """
    _check_keep_prob(keep_prob)
    if not train:
        return x.copy(), DropoutCache(None, 1.0)
    drop_prob = 1.0 - keep_prob
    mask = draw_mask(x.shape, drop_prob, rng, per_feature)
    scale = 1.0 / drop_prob
    return x * mask * scale, DropoutCache(mask, scale)


# ----- what to expect ---------------------------------------------------------------

def expected_statistics(x: np.ndarray, keep_prob: float) -> dict[str, float]:
    """What correct dropout gives on average over the units of ``x``.

    ``kept``: the fraction of units kept; ``mean``: the mean of ``out`` (the
    mean of x); ``variance``: the mean over units of ``Var[out]``, that is of
    ``x**2 * (1 - keep_prob) / keep_prob``.
    """
    _check_keep_prob(keep_prob)
    return {
        "kept": float(keep_prob),
        "mean": float(np.mean(x)),
        "variance": float(np.mean(x**2) * (1.0 - keep_prob) / keep_prob),
    }


def measured_statistics(x: np.ndarray, out: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The same three numbers measured on one draw.

    ``variance`` is the mean of ``(out - x)**2``: each unit's squared distance
    from its expected value x, averaged over the units.
    """
    mask = np.broadcast_to(mask, x.shape)
    return {
        "kept": float(np.mean(mask)),
        "mean": float(np.mean(out)),
        "variance": float(np.mean((out - x) ** 2)),
    }


def kept_fraction_tolerance(keep_prob: float, units: int, sigmas: float = 5.0) -> float:
    """How far a kept fraction may stray from ``keep_prob`` by chance.

    The number of kept units among ``units`` independent ones is binomial, so
    the fraction's standard deviation is ``sqrt(p (1 - p) / units)``; a
    correct dropout lands further than ``sigmas`` of them away with
    probability below 1e-6 for 5 sigmas.
    """
    return sigmas * float(np.sqrt(keep_prob * (1.0 - keep_prob) / units))
