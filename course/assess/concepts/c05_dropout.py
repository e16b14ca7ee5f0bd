"""Exercises of concept 05, dropout (SYLLABUS §05).

Masks are random, so every exercise takes either the mask itself or a seeded
generator ``rng`` as an argument: each call of the reference, the learner's
function and a misconception gets its own copy of the case's generator (the
checker deep-copies the arguments), so they all draw the same numbers. The
course's convention for drawing a mask is ``rng.random(x.shape) < keep_prob``.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import array, many
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.dropout import draw_mask, kept_fraction_tolerance
from course.compute.dropout_variants import VARIANTS, LayerVariant

# keep_prob values for hidden cases: never 0.5, where keeping with keep_prob
# and with 1 - keep_prob cannot be told apart.
KEEP_PROBS = (0.2, 0.25, 0.3, 0.4, 0.6, 0.7, 0.75, 0.8, 0.9)


def _mask(rng: np.random.Generator, shape: tuple[int, int], keep_prob: float) -> np.ndarray:
    mask = draw_mask(shape, keep_prob, rng)
    # An all-kept or all-dropped mask would hide an inverted or ignored mask.
    mask.flat[0], mask.flat[-1] = 1.0, 0.0
    return mask


def _shape(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(2, 7)), int(rng.integers(3, 9))


def _keep_prob(rng: np.random.Generator) -> float:
    return float(rng.choice(KEEP_PROBS))


# ----- 1. the mask module ---------------------------------------------------------

def mask_module(x, mask, dout):
    out = x * mask
    dx = dout * mask  # diag(mask) is its own transpose
    return out, dx


def _mask_module_case(rng: np.random.Generator, k: int) -> Case:
    shape, keep_prob = _shape(rng), _keep_prob(rng)
    x, dout, mask = array(rng, shape), array(rng, shape), _mask(rng, shape, keep_prob)
    return Case((x, mask, dout), f"x, mask and dout of shape {shape}, {int(mask.sum())} units kept")


_X = np.array([[1.0, -2.0, 3.0, 0.5], [-1.5, 2.5, -0.5, 4.0]])
_DOUT = np.array([[0.5, 1.0, -1.0, 2.0], [3.0, -0.5, 1.5, -2.0]])
_MASK = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]])

MASK_MODULE = Exercise(
    id="05.mask_module",
    title="the mask module, forward and backward",
    answer_of=("course.compute.dropout.mask_forward", "course.compute.dropout.mask_backward"),
    reference=mask_module,
    public=(Case((_X, _MASK, _DOUT), "the 2 × 4 example of the lesson"),),
    hidden=many(12, _mask_module_case),
    outputs=("out", "dx"),
    upstream=2,
    misconceptions=(
        Misconception("mask_resampled", "Your dx lets the gradient through every unit, also the ones the mask"
                                        " dropped in the forward pass. A dropped unit had no effect on the output,"
                                        " so its gradient is 0: the backward pass must use the forward pass's mask.",
                      lambda x, mask, dout: (x * mask, dout.copy())),
        Misconception("wrong_value", "Your dx flows through the dropped units and is blocked at the kept ones:"
                                     " the mask is the wrong way round in the backward pass.",
                      lambda x, mask, dout: (x * mask, dout * (1.0 - mask))),
        Misconception("output_for_input", "The local derivative of x * mask with respect to x is the mask, not"
                                          " the module's output x * mask.",
                      lambda x, mask, dout: (x * mask, x * mask * dout)),
    ),
)


# ----- 2. the amplify module ------------------------------------------------------

def amplify_module(x, keep_prob, dout):
    scale = 1.0 / keep_prob
    return x * scale, dout * scale


def _amplify_case(rng: np.random.Generator, k: int) -> Case:
    shape, keep_prob = _shape(rng), _keep_prob(rng)
    x, dout = array(rng, shape), array(rng, shape)
    return Case((x, keep_prob, dout), f"x and dout of shape {shape}, keep_prob = {keep_prob:g}")


AMPLIFY_MODULE = Exercise(
    id="05.amplify_module",
    title="the amplify module, forward and backward",
    answer_of=("course.compute.dropout.amplify_forward", "course.compute.dropout.amplify_backward"),
    reference=amplify_module,
    public=(Case((_X, 0.8, _DOUT), "the 2 × 4 example of the lesson, keep_prob = 0.8"),),
    hidden=many(12, _amplify_case),
    outputs=("out", "dx"),
    upstream=2,
    misconceptions=(
        Misconception("keep_prob_scale", "You divided by 1 − keep_prob, the probability of *dropping* a unit."
                                         " The kept units make up a fraction keep_prob of all units, and that is"
                                         " the fraction the scale must make up for.",
                      lambda x, kp, dout: (x / (1.0 - kp), dout / (1.0 - kp))),
        Misconception("keep_prob_scale", "You scaled *down* by keep_prob. Amplify makes the kept units louder,"
                                         " so that the average over kept and dropped units stays the same.",
                      lambda x, kp, dout: (x * kp, dout * kp)),
        Misconception("missing_scale", "Your forward pass scales, but your backward pass passes dout on"
                                       " unchanged. Multiplying by a constant in the forward pass multiplies the"
                                       " gradient by the same constant in the backward pass.",
                      lambda x, kp, dout: (x / kp, dout.copy())),
        Misconception("missing_scale", "Nothing is scaled: out and dx are returned as they came in.",
                      lambda x, kp, dout: (x.copy(), dout.copy())),
    ),
)


# ----- 3. the dropout layer: forward in train and test mode, and backward ----------

def dropout_layer(x, keep_prob, rng, train, dout):
    if not train:
        # Inverted dropout scaled during training: at test time the layer is the identity, nothing dropped.
        return x.copy(), np.ones_like(x), dout.copy()
    mask = draw_mask(x.shape, keep_prob, rng)
    out = x * mask / keep_prob
    dx = dout * mask / keep_prob  # the forward pass's mask, never a new one
    return out, mask, dx


def _layer_case(rng: np.random.Generator, k: int) -> Case:
    # Train mode twice as often as test mode: most known mistakes show in training only.
    n, f = _shape(rng)
    shape = (1, f) if k == 0 else (n, f)
    keep_prob, seed, train = _keep_prob(rng), int(rng.integers(0, 1000)), k % 3 != 2
    return _layer_case_of(array(rng, shape), keep_prob, seed, train, array(rng, shape))


def _layer_case_of(x, keep_prob, seed, train, dout, remark="") -> Case:
    return Case((x, keep_prob, np.random.default_rng(seed), train, dout),
                f"x and dout of shape {x.shape}, keep_prob = {keep_prob:g}, rng = default_rng({seed}),"
                f" train = {train}{remark}")


_LAYER_EDGES = (
    # Zeros in x: a kept unit with x = 0 gives out = 0, so out != 0 is not the mask.
    _layer_case_of(np.array([[0.0, 1.5, -2.0, 0.0, 0.5], [0.0, 0.0, 3.0, -1.0, 0.0], [2.5, 0.0, -0.5, 0.0, 1.0]]),
                   0.7, 11, True, np.array([[1.0, -2.0, 0.5, 3.0, -1.0], [2.0, 1.5, -1.0, 0.5, 1.0],
                                            [-0.5, 1.0, 2.0, -2.5, 0.5]]), ", zeros in x"),
    # An extreme keep_prob: most units dropped, the few kept ones amplified tenfold.
    _layer_case_of(np.round(np.random.default_rng(42).uniform(-3, 3, (4, 6)), 2) + 0.005, 0.1, 5, True,
                   np.round(np.random.default_rng(43).uniform(-3, 3, (4, 6)), 2) + 0.005),
    # Many units: on a few, a wrong keep probability can hide by chance.
    _layer_case_of(np.round(np.random.default_rng(40).uniform(-3, 3, (50, 40)), 2) + 0.005, 0.8, 7, True,
                   np.round(np.random.default_rng(41).uniform(-3, 3, (50, 40)), 2) + 0.005),
)

_CONVENTION_HINT = ("Your mask keeps units with the right probability as far as the checker can tell, but it is"
                    " drawn another way than the course's, so it differs from the checker's mask for the same"
                    " generator. Draw it as (rng.random(x.shape) < keep_prob).astype(float).")
_REVERSED_HINT = ("Your mask keeps a unit where rng.random() > keep_prob: the comparison is the wrong way round,"
                  " so a unit is kept with probability 1 − keep_prob (the slip of the lesson's first version)."
                  " Keep where rng.random(x.shape) < keep_prob.")
_PER_FEATURE_HINT = ("Your mask has one row shared by the whole batch (one entry per feature). The text asks for"
                     " one mask entry per element: draw rng.random(x.shape), the shape of x.")
_SWAPPED_HINT = ("Your dropout keeps each unit with probability 1 − keep_prob and divides by 1 − keep_prob:"
                 " keep and drop are swapped. Its mean is still right (kept fraction times scale is 1), which is"
                 " why this slip is easy to miss; count the units it keeps.")
_RESAMPLED_HINT = ("Your backward pass draws a new mask. The gradient must flow back through exactly the"
                   " units that the forward pass kept, so use the forward pass's mask; the backward pass draws"
                   " nothing.")
_TEST_DROPS_HINT = ("Your layer still drops units at test time. Dropout is a training device: a trained network"
                    " should answer the same way every time, so in test mode out is x and dx is dout.")


def _trained(name: str) -> LayerVariant:
    return LayerVariant(forward=VARIANTS[name])


DROPOUT_LAYER = Exercise(
    id="05.dropout_layer",
    tags=("random",),
    title="the dropout layer: train and test mode, forward and backward",
    answer_of=("course.compute.dropout.dropout_forward", "course.compute.dropout.dropout_backward", "course.compute.network.Dropout"),
    reference=dropout_layer,
    public=(_layer_case_of(_X, 0.8, 0, True, _DOUT, " (the lesson's 2 × 4 example)"),
            _layer_case_of(_X, 0.8, 0, False, _DOUT, " (the lesson's 2 × 4 example)")),
    hidden=many(12, _layer_case, edges=_LAYER_EDGES),
    outputs=("out", "mask", "dx"),
    misconceptions=(
        # the mask and the scale of the forward pass (the backward pass follows the forward one)
        Misconception("keep_prob_scale", _SWAPPED_HINT, _trained("swapped")),
        Misconception("keep_prob_scale", _SWAPPED_HINT, _trained("swapped_ge")),
        Misconception("keep_prob_scale", _REVERSED_HINT, _trained("reversed")),
        Misconception("keep_prob_scale", "Your mask keeps units with probability keep_prob, but you divide by"
                                         " 1 − keep_prob, the drop probability: the scale must make up for the"
                                         " fraction of units that is kept.", _trained("wrong_divisor")),
        Misconception("missing_scale", "The kept units are not amplified, neither in out nor in dx: without the"
                                       " factor 1/keep_prob the expected output is keep_prob · x instead of x.",
                      _trained("no_scale")),
        Misconception("mask_convention", _PER_FEATURE_HINT, _trained("per_feature")),
        Misconception("keep_prob_scale", "Your mask holds 1/keep_prob at the kept units: you returned the scaled"
                                         " mask. Return the 0/1 mask itself; the scale belongs in out and dx.",
                      _trained("scaled_mask")),
        Misconception("output_for_input", "Your mask is 0 where x itself is 0, also where that unit was kept: you read"
                                     " the mask off the output (out != 0). Return the mask you drew, and use it"
                                     " in the backward pass.", _trained("mask_from_out")),
        *(Misconception("mask_convention", _CONVENTION_HINT, _trained(name))
          for name in ("correct_binomial", "correct_upper")),
        # the backward pass
        Misconception("mask_resampled", _RESAMPLED_HINT, LayerVariant(backward="resampled")),
        Misconception("mask_resampled", "Your dx ignores the mask: the units dropped in the forward pass must get"
                                        " no gradient, so multiply by the forward pass's mask too.",
                      LayerVariant(backward="no_mask")),
        Misconception("missing_scale", "Your out is amplified by 1/keep_prob, but your dx is not: the backward"
                                       " pass needs the same factor as the forward pass.",
                      LayerVariant(backward="no_scale")),
        Misconception("keep_prob_scale", "In the backward pass you divided by 1 − keep_prob, the drop probability;"
                                         " the forward pass scaled by 1/keep_prob, and the gradient gets that same"
                                         " factor.", LayerVariant(backward="drop_divisor")),
        # test mode
        Misconception("test_time_scale", "At test time you multiply by keep_prob. That is the test-time rule of"
                                         " the *original*, non-inverted dropout; inverted dropout already scaled"
                                         " during training, so its expected training output is x itself.",
                      LayerVariant(test="times_keep")),
        Misconception("test_time_scale", "At test time you divide by keep_prob. Nothing is dropped at test time,"
                                         " so there is nothing to make up for.",
                      LayerVariant(test="divided", test_dx="divided")),
        Misconception("test_time_scale", "At test time your out is x, but your dx is divided by keep_prob. Nothing"
                                         " was scaled in test mode, so the gradient passes through unchanged.",
                      LayerVariant(test_dx="divided")),
        Misconception("test_time_scale", _TEST_DROPS_HINT, LayerVariant(test="dropped")),
        Misconception("test_time_scale", _TEST_DROPS_HINT, LayerVariant(test="dropped_unscaled")),
    ),
)


# ----- 6. a test that catches the swapped keep probability ------------------------

# What the learner's test is run on: a correct dropout, one drawn another way,
# and the four broken ones ("reversed" keeps the wrong fraction at the right
# scale: a test of the kept units' value alone passes it).
CANDIDATE_KINDS = ("correct", "correct_binomial", "no_scale", "swapped", "wrong_divisor", "reversed")


class Candidate:
    """A dropout forward pass ``candidate(x, keep_prob, rng) -> out`` handed to the learner's test."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, x, keep_prob, rng):
        return VARIANTS[self.kind](np.asarray(x, dtype=np.float64), keep_prob, rng)[0]

    def __repr__(self) -> str:
        return "<a dropout forward pass>"


def dropout_is_correct(dropout_forward, keep_prob):
    """The truth the learner's test must find (the learner's test measures it instead)."""
    return VARIANTS[dropout_forward.kind].correct_at(keep_prob)


def _candidate_case(kind: str, keep_prob: float) -> Case:
    return Case((Candidate(kind), keep_prob), f"{VARIANTS[kind].description}, keep_prob = {keep_prob:g}")


def _learner_test_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for kind in CANDIDATE_KINDS:
        for keep_prob in rng.choice(KEEP_PROBS, size=2, replace=False):
            cases.append(_candidate_case(kind, float(keep_prob)))
    return cases


def run_learner_test(answer, args):
    """Run the learner's test on a candidate: True = accepted, False = rejected.

    A test may also say "rejected" by raising AssertionError (an ``assert``).
    """
    try:
        result = answer(*args)
    except AssertionError:
        return False
    return None if result is None else bool(result)


def _mean_only_test(forward, keep_prob):
    x = np.full((400, 250), 2.0)
    out = forward(x, keep_prob, np.random.default_rng(0))
    return bool(abs(out.mean() - 2.0) < 0.1)


def _kept_fraction_test(forward, keep_prob):
    x = np.full((400, 250), 2.0)
    out = forward(x, keep_prob, np.random.default_rng(0))
    kept = np.mean(out != 0.0)
    return bool(abs(kept - keep_prob) < kept_fraction_tolerance(keep_prob, x.size)
                and np.allclose(out[out != 0.0], 2.0 / keep_prob))


def _scale_only_test(forward, keep_prob):
    x = np.full((400, 250), 2.0)
    out = forward(x, keep_prob, np.random.default_rng(0))
    return bool(np.allclose(out[out != 0.0], 2.0 / keep_prob))


def _exact_copy_test(forward, keep_prob):
    x = np.full((20, 10), 2.0)
    out = forward(x, keep_prob, np.random.default_rng(0))
    mine = x * draw_mask(x.shape, keep_prob, np.random.default_rng(0)) / keep_prob
    return bool(np.allclose(out, mine))


LEARNER_TEST = Exercise(
    id="05.catch_the_swap",
    tags=("random",),
    title="a test that catches the swapped keep probability",
    reference=dropout_is_correct,
    public=(_candidate_case("correct", 0.8), _candidate_case("swapped", 0.8), _candidate_case("no_scale", 0.8),
            _candidate_case("correct_binomial", 0.3), _candidate_case("swapped", 0.5)),
    hidden=_learner_test_cases,
    outputs=("verdict",),
    run=run_learner_test,
    misconceptions=(
        Misconception("mean_only_test", "Your test passes the swapped version. Checking only the mean cannot"
                                        " catch it: it keeps a fraction 1 − keep_prob and divides by 1 − keep_prob,"
                                        " and their product is 1, just as for a correct dropout. Look at something"
                                        " the two differ in: how many units are kept, or how far out spreads"
                                        " around x.", _mean_only_test),
        Misconception("scale_only_test", "Your test passes a dropout that keeps the wrong fraction of units: it"
                                         " looks only at the value of the kept units. One that keeps a unit with"
                                         " probability 1 − keep_prob and divides by keep_prob has kept units of"
                                         " the right value. Measure the fraction kept too, with a tolerance for"
                                         " chance.", _scale_only_test),
        Misconception("keep_half_test", "Your test works at keep_prob = 0.5 only, where keeping with keep_prob"
                                        " and with 1 − keep_prob are the same random process, so the swap cannot"
                                        " show. Test at the keep_prob you are given.",
                      lambda forward, keep_prob: _kept_fraction_test(forward, 0.5)),
        Misconception("wrong_value", "Your test rejects a correct dropout that draws its random numbers in"
                                     " another way than yours. Different correct implementations give different"
                                     " masks from the same generator; test properties that every correct"
                                     " dropout has, with a tolerance for chance.", _exact_copy_test),
        Misconception("wrong_value", "Your test lets a broken dropout through (the one named below). Run the"
                                     " candidate on many units and measure what it does: the fraction it keeps,"
                                     " and the value of the kept units.", lambda forward, keep_prob: True),
        Misconception("wrong_value", "Your test rejects every candidate, also the correct one. Allow for chance:"
                                     " a kept fraction is binomial, with standard deviation"
                                     " sqrt(p (1 − p) / n) over n units.", lambda forward, keep_prob: False),
    ),
)

EXERCISES = [MASK_MODULE, AMPLIFY_MODULE, DROPOUT_LAYER, LEARNER_TEST]
