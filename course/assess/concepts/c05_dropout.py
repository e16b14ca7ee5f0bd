"""Exercises of concept 05, dropout (SYLLABUS §05).

Masks are random, so every exercise takes either the mask itself or a seeded
generator ``rng`` as an argument: each call of the reference, the learner's
function and a misconception gets its own copy of the case's generator (the
checker deep-copies the arguments), so they all draw the same numbers. The
course's convention for drawing a mask is ``rng.random(x.shape) < keep_prob``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from course.assess.cases import array, many
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.dropout import draw_mask, kept_fraction_tolerance

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


# ----- ways to write the forward pass, right and wrong -------------------------------

def _kept(keep_prob: float) -> float:
    return keep_prob


def _dropped(keep_prob: float) -> float:
    return 1.0 - keep_prob


def _one(keep_prob: float) -> float:
    return 1.0


@dataclass(frozen=True)
class Variant:
    """One way to write inverted dropout's forward pass: ``variant(x, keep_prob, rng) -> (out, mask)``.

    It keeps a unit with probability ``keeps_with(keep_prob)``, drawn by the
    ``rule`` of ``course.compute.dropout.MASK_RULES``, and divides the kept
    units by ``divides_by(keep_prob)``. It is a correct dropout at a keep_prob
    exactly when both are keep_prob: the swapped version is right at 0.5.
    """

    description: str
    keeps_with: Callable[[float], float] = _kept
    divides_by: Callable[[float], float] = _kept
    rule: str = "below"

    def __call__(self, x, keep_prob, rng):
        mask = draw_mask(x.shape, self.keeps_with(keep_prob), rng, rule=self.rule)
        return x * mask / self.divides_by(keep_prob), mask

    def correct_at(self, keep_prob: float) -> bool:
        return self.keeps_with(keep_prob) == keep_prob and self.divides_by(keep_prob) == keep_prob


VARIANTS = {
    "correct": Variant("a correct inverted dropout"),
    "correct_binomial": Variant("a correct inverted dropout that draws its mask with rng.binomial", rule="binomial"),
    "correct_upper": Variant("a correct inverted dropout that keeps where rng.random() >= 1 − keep_prob",
                             rule="above"),
    # The article's version: draws the mask with the drop probability.
    "swapped": Variant("a dropout that keeps units with probability 1 − keep_prob and divides by 1 − keep_prob",
                       _dropped, _dropped),
    # The same slip written as "keep where u >= keep_prob".
    "swapped_ge": Variant("a dropout that keeps where rng.random() >= keep_prob and divides by 1 − keep_prob",
                          _dropped, _dropped, rule="above"),
    "no_scale": Variant("a dropout that keeps units with probability keep_prob but never amplifies them",
                        divides_by=_one),
    "wrong_divisor": Variant("a dropout that keeps units with probability keep_prob and divides by 1 − keep_prob",
                             divides_by=_dropped),
}


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


# ----- 3. the joined layer, forward -----------------------------------------------

def dropout_forward(x, keep_prob, rng):
    mask = draw_mask(x.shape, keep_prob, rng)
    out = x * mask / keep_prob
    return out, mask


def _forward_case(rng: np.random.Generator, k: int) -> Case:
    if k == 12:  # A large case: on a few units a wrong keep probability can hide by chance.
        return Case((array(rng, (50, 40)), 0.8, np.random.default_rng(7)),
                    "x of shape (50, 40), keep_prob = 0.8, rng = default_rng(7)")
    shape, keep_prob, seed = _shape(rng), _keep_prob(rng), int(rng.integers(0, 1000))
    return Case((array(rng, shape), keep_prob, np.random.default_rng(seed)),
                f"x of shape {shape}, keep_prob = {keep_prob:g}, rng = default_rng({seed})")


# Correct dropouts whose masks differ from the checker's only because they
# turn the generator's numbers into a mask another way.
_OTHER_DRAWS = (VARIANTS["correct_binomial"], VARIANTS["correct_upper"])
_CONVENTION_HINT = ("Your mask keeps units with the right probability as far as the checker can tell, but it is"
                    " drawn another way than the course's, so it differs from the checker's mask for the same"
                    " generator. Draw it as (rng.random(x.shape) < keep_prob).astype(float).")

_SWAPPED_HINT = ("Your dropout keeps each unit with probability 1 − keep_prob and divides by 1 − keep_prob:"
                 " keep and drop are swapped. Its mean is still right (kept fraction times scale is 1), which is"
                 " why this slip is easy to miss; count the units it keeps.")

DROPOUT_FORWARD = Exercise(
    id="05.dropout_forward",
    title="inverted dropout, forward",
    reference=dropout_forward,
    public=(Case((_X, 0.8, np.random.default_rng(0)), "the 2 × 4 example, keep_prob = 0.8, rng = default_rng(0)"),
            Case((_X, 0.3, np.random.default_rng(1)), "the 2 × 4 example, keep_prob = 0.3, rng = default_rng(1)")),
    hidden=many(13, _forward_case),
    outputs=("out", "mask"),
    misconceptions=(
        Misconception("keep_prob_scale", _SWAPPED_HINT, VARIANTS["swapped"]),
        Misconception("keep_prob_scale", _SWAPPED_HINT, VARIANTS["swapped_ge"]),
        Misconception("keep_prob_scale", "Your mask keeps units with probability keep_prob, but you divide by"
                                         " 1 − keep_prob, the drop probability: the scale must make up for the"
                                         " fraction of units that is kept.", VARIANTS["wrong_divisor"]),
        Misconception("missing_scale", "The kept units are not amplified: without the factor 1/keep_prob the"
                                       " expected output is keep_prob · x instead of x.", VARIANTS["no_scale"]),
        *(Misconception("mask_convention", _CONVENTION_HINT, draw) for draw in _OTHER_DRAWS),
    ),
)


# ----- 4. the joined layer, backward ----------------------------------------------

def dropout_backward(dout, mask, keep_prob, rng):
    # The mask of the forward pass, never a new one: rng is not used here.
    return dout * mask / keep_prob


def _backward_case(rng: np.random.Generator, k: int) -> Case:
    shape, keep_prob, seed = _shape(rng), _keep_prob(rng), int(rng.integers(0, 1000))
    mask = _mask(rng, shape, keep_prob)
    return Case((array(rng, shape), mask, keep_prob, np.random.default_rng(seed)),
                f"dout of shape {shape}, {int(mask.sum())} units kept, keep_prob = {keep_prob:g},"
                f" rng = default_rng({seed})")


_RESAMPLED_HINT = ("Your backward pass draws a new mask. The gradient must flow back through exactly the"
                   " units that the forward pass kept, so use the mask saved by the forward pass; the backward"
                   " pass draws nothing.")

DROPOUT_BACKWARD = Exercise(
    id="05.dropout_backward",
    title="inverted dropout, backward",
    reference=dropout_backward,
    public=(Case((_DOUT, _MASK, 0.8, np.random.default_rng(5)),
                 "the 2 × 4 example of the lesson, keep_prob = 0.8, rng = default_rng(5)"),),
    hidden=many(12, _backward_case),
    outputs=("dx",),
    upstream=0,
    misconceptions=(
        Misconception("mask_resampled", _RESAMPLED_HINT,
                      lambda dout, mask, kp, rng: dout * draw_mask(dout.shape, kp, rng) / kp),
        Misconception("mask_resampled", _RESAMPLED_HINT,
                      lambda dout, mask, kp, rng: dout * draw_mask(dout.shape, kp, rng, rule="binomial") / kp),
        Misconception("mask_resampled", "Your dx ignores the mask: the units dropped in the forward pass must get"
                                        " no gradient, so multiply by the forward pass's mask too.",
                      lambda dout, mask, kp, rng: dout / kp),
        Misconception("missing_scale", "The forward pass multiplied the kept units by 1/keep_prob; the backward"
                                       " pass needs the same factor.",
                      lambda dout, mask, kp, rng: dout * mask),
        Misconception("keep_prob_scale", "You divided by 1 − keep_prob, the drop probability; the forward pass"
                                         " scaled by 1/keep_prob, and the gradient gets that same factor.",
                      lambda dout, mask, kp, rng: dout * mask / (1.0 - kp)),
    ),
)


# ----- 5. train and test mode -----------------------------------------------------

def dropout_layer(x, keep_prob, rng, train):
    if not train:
        return x.copy()  # inverted dropout already scaled during training
    mask = draw_mask(x.shape, keep_prob, rng)
    return x * mask / keep_prob


def _layer_case(rng: np.random.Generator, k: int) -> Case:
    shape, keep_prob, seed = _shape(rng), _keep_prob(rng), int(rng.integers(0, 1000))
    train = k % 2 == 0
    return Case((array(rng, shape), keep_prob, np.random.default_rng(seed), train),
                f"x of shape {shape}, keep_prob = {keep_prob:g}, rng = default_rng({seed}), train = {train}")


def _layer_with_test(test_mode):
    def wrong(x, keep_prob, rng, train):
        return dropout_layer(x, keep_prob, rng, True) if train else test_mode(x, keep_prob, rng)
    return wrong


def _layer_with_train(train_mode):
    def wrong(x, keep_prob, rng, train):
        return train_mode(x, keep_prob, rng)[0] if train else x.copy()
    return wrong


DROPOUT_LAYER = Exercise(
    id="05.dropout_layer",
    title="dropout in train and test mode",
    reference=dropout_layer,
    public=(Case((_X, 0.8, np.random.default_rng(0), True), "the 2 × 4 example, keep_prob = 0.8, train = True"),
            Case((_X, 0.8, np.random.default_rng(0), False), "the 2 × 4 example, keep_prob = 0.8, train = False")),
    hidden=many(12, _layer_case),
    outputs=("out",),
    misconceptions=(
        Misconception("test_time_scale", "At test time you multiply by keep_prob. That is the test-time rule of"
                                         " the *original*, non-inverted dropout; inverted dropout already scaled"
                                         " during training, so its expected training output is x itself.",
                      _layer_with_test(lambda x, kp, rng: x * kp)),
        Misconception("test_time_scale", "At test time you divide by keep_prob. Nothing is dropped at test time,"
                                         " so there is nothing to make up for.",
                      _layer_with_test(lambda x, kp, rng: x / kp)),
        Misconception("test_time_scale", "Your layer still drops units at test time. Dropout is a training"
                                         " device: a trained network should answer the same way every time.",
                      _layer_with_test(lambda x, kp, rng: dropout_layer(x, kp, rng, True))),
        Misconception("test_time_scale", "Your layer still drops units at test time (without scaling them).",
                      _layer_with_test(lambda x, kp, rng: x * draw_mask(x.shape, kp, rng))),
        Misconception("keep_prob_scale", _SWAPPED_HINT, _layer_with_train(VARIANTS["swapped"])),
        Misconception("keep_prob_scale", _SWAPPED_HINT, _layer_with_train(VARIANTS["swapped_ge"])),
        Misconception("missing_scale", "In training mode the kept units are not amplified by 1/keep_prob.",
                      _layer_with_train(VARIANTS["no_scale"])),
        *(Misconception("mask_convention", _CONVENTION_HINT, _layer_with_train(draw)) for draw in _OTHER_DRAWS),
    ),
)


# ----- 6. a test that catches the swapped keep probability ------------------------

# What the learner's test is run on: a correct dropout, one drawn another way,
# and the three broken ones.
CANDIDATE_KINDS = ("correct", "correct_binomial", "no_scale", "swapped", "wrong_divisor")


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


def _exact_copy_test(forward, keep_prob):
    x = np.full((20, 10), 2.0)
    out = forward(x, keep_prob, np.random.default_rng(0))
    mine = x * draw_mask(x.shape, keep_prob, np.random.default_rng(0)) / keep_prob
    return bool(np.allclose(out, mine))


LEARNER_TEST = Exercise(
    id="05.catch_the_swap",
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
        Misconception("keep_half_test", "Your test works at keep_prob = 0.5 only, where keeping with keep_prob"
                                        " and with 1 − keep_prob are the same random process, so the swap cannot"
                                        " show. Test at the keep_prob you are given.",
                      lambda forward, keep_prob: _kept_fraction_test(forward, 0.5)),
        Misconception("wrong_value", "Your test rejects a correct dropout that draws its random numbers in"
                                     " another way than yours. Different correct implementations give different"
                                     " masks from the same generator; test properties that every correct"
                                     " dropout has, with a tolerance for chance.", _exact_copy_test),
        Misconception("wrong_value", "Your test accepts every candidate, also the broken ones. Run the candidate"
                                     " on many units and measure what it does.", lambda forward, keep_prob: True),
        Misconception("wrong_value", "Your test rejects every candidate, also the correct one. Allow for chance:"
                                     " a kept fraction is binomial, with standard deviation"
                                     " sqrt(p (1 − p) / n) over n units.", lambda forward, keep_prob: False),
    ),
)

EXERCISES = [MASK_MODULE, AMPLIFY_MODULE, DROPOUT_FORWARD, DROPOUT_BACKWARD, DROPOUT_LAYER, LEARNER_TEST]
