"""The slips of lesson 07's exercises (and of its broadcasting rule), each with a hint that names it (the knobs of
``course.compute.batchnorm_mistakes``): the forward mistakes and the missing paths first, then what a
wrong ``dx`` got wrong beyond a missing path: the factor γ or 1/N, the axis of the backward's sums, a
sign, and, judged on the forward output alone, a forward mistake whatever its backward then did.
"""

from __future__ import annotations

import numpy as np

from course.assess.exercise import Misconception

CONSTANTS_HINT = ("Your dx has only the direct path, as if μ and σ² were constants. They are computed from"
                   " the batch, so every x also moves the mean and the variance of its column: add the"
                   " gradients along the paths through μ and through σ² (three paths meet at x).")
NO_MEAN_HINT = ("Your dx has the direct path and the path through σ², but not the path through μ: x also moves"
                 " the mean of its column, which every example subtracts.")
NO_VAR_HINT = ("Your dx has the direct path and the path through μ, but not the path through σ²: x also"
                " changes the variance of its column, which divides every example.")
AXIS_HINT = ("Your statistics are taken per example (over axis 1, the features). Batch normalisation"
              " normalises each feature over the batch: mean and variance over axis 0, one per column.")
UNBIASED_HINT = ("Your variance divides by N − 1. Batch normalisation describes this batch and uses the"
                  " biased variance, which divides by N (np.var's default, ddof=0).")
EPS_OUTSIDE_HINT = ("You added ε outside the square root, sqrt(σ²) + ε. It belongs inside: sqrt(σ² + ε)."
                     " The two differ most where it matters, on a feature with (almost) no variance.")
EPS_MISSING_HINT = ("Your ε is missing: you divide by sqrt(σ²). Use sqrt(σ² + ε); on a feature that is constant"
                     " over the batch σ² is 0, and without ε the division is 0 / 0.")
FORK_HINT = ("At the fork where x − μ feeds both x̂ and the square, your backward pass keeps only the gradient"
              " from the square: the two gradients must be added (+=), not overwritten (=).")

FORWARD_MISTAKES = (
    Misconception("sum_axis", AXIS_HINT, {"axis": 1}),
    Misconception("unbiased_variance", UNBIASED_HINT, {"ddof": 1}),
    Misconception("epsilon", EPS_OUTSIDE_HINT, {"eps_at": "outside"}),
    Misconception("epsilon", EPS_OUTSIDE_HINT, {"eps_at": "outside", "dvar_by": "std"}),
    Misconception("epsilon", EPS_MISSING_HINT, {"eps_at": "missing"}),
)
PATH_MISTAKES = (
    Misconception("stats_constant", CONSTANTS_HINT, {"paths": ("direct",)}),
    Misconception("stats_constant", NO_MEAN_HINT, {"paths": ("direct", "variance")}),
    Misconception("stats_constant", NO_VAR_HINT, {"paths": ("direct", "mean")}),
    Misconception("fork_overwrite", FORK_HINT, {"overwrite": True}),
)


def with_knobs(make, mistakes):
    # The tables above hold knobs; each exercise turns them into wrong answers of its own signature.
    return tuple(Misconception(m.code, m.hint, make(**m.wrong)) for m in mistakes)


NO_GAMMA_HINT = ("Your dx leaves out γ: the output is γ·x̂ + β, so the gradient that reaches x̂ is dout · γ, and"
                 " every path from x̂ back to x carries that factor γ.")
BACK_AXIS_HINT = ("Your backward pass sums over axis 1 (the features), but the statistics are taken over the"
                  " batch, axis 0: the gradients of μ and σ² are sums over axis 0, one per column, like μ and σ²"
                  " themselves.")
MEAN_N_HINT = ("Your path through μ misses the factor 1/N: μ = (1/N)·Σx, so each x receives dμ / N from the mean.")
VAR_N_HINT = ("Your path through σ² misses the factor 1/N: σ² = (1/N)·Σ(x − μ)², so each x receives"
              " dσ² · 2(x − μ) / N from the variance.")
MEAN_SIGN_HINT = ("Your path through μ has the wrong sign: x − μ subtracts μ, so the gradient of μ is minus the sum"
                  " of the gradients of x − μ.")
UNBIASED_BACK_HINT = ("Your forward pass divides the variance by N − 1. Batch normalisation uses the biased"
                      " variance, which divides by N (np.var's default, ddof=0).")
N_DOUT_HINT = ("Your formula has dy where it needs N·dy: dx = γ / (N · sqrt(σ² + ε)) · (N·dy − Σdy − x̂·Σ(dy·x̂)),"
               " both sums over the batch.")
DGAMMA_X_HINT = ("Your dgamma multiplies dout by x. γ scales x̂, the normalised x, so dgamma is the sum over the"
                 " batch of dout · x̂.")
FORWARD_ONLY_HINT = " Your out is wrong already, so start with the forward pass."

# Knobs of ``batchnorm_variant`` (the staged exercise, and the compact one's derivation).
BACKWARD_SLIPS = (
    Misconception("missing_gamma", NO_GAMMA_HINT, {"with_gamma": False}),
    Misconception("sum_axis", BACK_AXIS_HINT, {"back_axis": 1}),
    Misconception("one_over_n", MEAN_N_HINT, {"over_n": ("variance",)}),
    Misconception("one_over_n", VAR_N_HINT, {"over_n": ("mean",)}),
    Misconception("sign", MEAN_SIGN_HINT, {"mean_sign": 1.0}),
    Misconception("unbiased_variance", UNBIASED_BACK_HINT, {"ddof": 1, "back_ddof": 0}),
)

# Knobs of ``compact_formula_variant``: slips in writing the lesson's formula.
FORMULA_SLIPS = (
    Misconception("missing_gamma", NO_GAMMA_HINT, {"with_gamma": False}),
    Misconception("sum_axis", "Your formula sums over axis 1 (the features). Σdy and Σ(dy·x̂) are sums over the"
                              " batch, axis 0, one per column.", {"sum_axis": 1}),
    Misconception("one_over_n", N_DOUT_HINT, {"n_dout": False}),
    Misconception("wrong_value", DGAMMA_X_HINT, {"dgamma_of": "x"}),
)


def forward_only(mistakes, make):
    """``mistakes`` (knob tables) judged on ``out`` alone: the learner's forward pass has the mistake, and
    whatever their backward then does is no known mistake (here: the right gradients of the right
    statistics, from ``make()``). Listed after the whole-result tables, it names what those cannot."""
    def wrong(knobs):
        return lambda *args: (make(**knobs)(*args)[0], *make()(*args)[1:])
    return tuple(Misconception(m.code, m.hint + FORWARD_ONLY_HINT, wrong(m.wrong), outputs=("out",))
                 for m in mistakes)


def layer_forward_slips(make, forward_mistakes):
    """The running-statistics layer: the forward mistakes of ``forward_mistakes`` (knob tables with
    ``ddof`` or ``eps_at``), judged on ``out`` alone, as layers made by ``make(eps_at=..., ddof=...)``."""
    return tuple(Misconception(m.code, m.hint + FORWARD_ONLY_HINT,
                               make(**{k: v for k, v in m.wrong.items() if k in ("eps_at", "ddof")}), outputs=("out",))
                 for m in forward_mistakes if set(m.wrong) <= {"eps_at", "ddof"})


# ----- 07.broadcast_rule: r = x.sum(axis=1, keepdims=True), out = r * v -------------------------

def _broadcast_with(dx_of, dv_of):
    def wrong(x, v, dout):
        r = x.sum(axis=1, keepdims=True)
        dr = (dout * v).sum(axis=1, keepdims=True)
        return dx_of(x, v, dout, r, dr), dv_of(x, v, dout, r, dr)
    return wrong


def _dx(x, v, dout, r, dr):
    return np.broadcast_to(dr, x.shape).copy()


def _dv(x, v, dout, r, dr):
    return (dout * r).sum(axis=0, keepdims=True)


def broadcast_slips():
    """Slips of the broadcasting rule that keep every shape right, so that only their values show them."""
    return (
        Misconception("wrong_value", "Your dx multiplies by v a second time. The gradient of r, one number per"
                                     " row, already holds v: dr = Σ over the columns of dout · v. The sum"
                                     " r = Σ x hands dr unchanged to every x of its row.",
                      _broadcast_with(lambda x, v, dout, r, dr: np.broadcast_to(dr, x.shape) * v, _dv)),
        Misconception("sum_axis", "Your dr sums dout · v over the rows (axis 0). r has one value per row, used"
                                  " across that row's columns: its gradient sums over the columns, axis 1.",
                      _broadcast_with(lambda x, v, dout, r, dr: np.broadcast_to(
                          (dout * v).sum(axis=0, keepdims=True), x.shape).copy(), _dv)),
        Misconception("one_over_n", "Your dv averages over the rows where it must sum: v was used by every row,"
                                    " and each use adds its share to the gradient.",
                      _broadcast_with(_dx, lambda x, v, dout, r, dr: (dout * r).mean(axis=0, keepdims=True))),
    )
