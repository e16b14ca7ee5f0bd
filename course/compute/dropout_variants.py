"""Ways to write inverted dropout, right and wrong, for the checks of concept 05.

A forward pass is a ``Variant``: which probability it keeps a unit with, how
it turns the generator's numbers into a mask, what it divides by, and what it
returns as the mask. A whole layer (forward in train or test mode, then
backward) is a ``LayerVariant``: a forward ``Variant`` plus the slips of the
backward pass and of test mode. With no knob turned both are correct
dropout, drawn the course's way (``rng.random(x.shape) < keep_prob``).

Not named ``*_mistakes.py`` on purpose: exercise 05.catch_the_swap hands these
forward passes to the learner's test, which runs inside the grader's
sandbox, where the modules of wrong answers are empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from course.compute.dropout import draw_mask

# What a variant keeps with, or divides by, at a given keep_prob.
_kept, _dropped, _one = (lambda p: p), (lambda p: 1.0 - p), (lambda p: 1.0)


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
    per_feature: bool = False  # one mask row shared by the batch
    scaled_mask: bool = False  # returns mask / keep_prob as "the mask"
    mask_from_out: bool = False  # returns (out != 0), which is 0 where x itself is 0

    def __call__(self, x, keep_prob, rng):
        mask = draw_mask(x.shape, self.keeps_with(keep_prob), rng, self.per_feature, self.rule)
        out = x * mask / self.divides_by(keep_prob)
        if self.scaled_mask:
            mask = mask / self.divides_by(keep_prob)
        if self.mask_from_out:
            mask = (out != 0.0).astype(np.float64)
        return out, mask

    def correct_at(self, keep_prob: float) -> bool:
        return (self.keeps_with(keep_prob) == keep_prob and self.divides_by(keep_prob) == keep_prob
                and not self.per_feature)


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
    # "keep where u > keep_prob": the comparison the wrong way round (the scale is right).
    "reversed": Variant("a dropout that keeps where rng.random() > keep_prob and divides by keep_prob",
                        _dropped, _kept, rule="above"),
    "per_feature": Variant("a dropout with one mask row shared by the whole batch", per_feature=True),
    "scaled_mask": Variant("a correct dropout that returns mask / keep_prob as its mask", scaled_mask=True),
    "mask_from_out": Variant("a correct dropout that returns out != 0 as its mask", mask_from_out=True),
    "no_scale": Variant("a dropout that keeps units with probability keep_prob but never amplifies them",
                        divides_by=_one),
    "wrong_divisor": Variant("a dropout that keeps units with probability keep_prob and divides by 1 − keep_prob",
                             divides_by=_dropped),
}


@dataclass(frozen=True)
class LayerVariant:
    """The whole layer: ``variant(x, keep_prob, rng, train, dout) -> (out, mask, dx)``.

    - ``forward``: the train-mode forward pass (a ``Variant``); the backward
      pass uses the mask and the divisor that forward pass used.
    - ``backward``: "same" (right: dout · mask / scale), "resampled" (a new
      mask drawn from rng after the forward one), "no_mask" (dout / scale),
      "no_scale" (dout · mask), "drop_divisor" (dout · mask / (1 − keep_prob)).
    - ``test``: test mode's output: "identity" (right), "times_keep" (x ·
      keep_prob), "divided" (x / keep_prob), "dropped" (train mode's output,
      scaled), "dropped_unscaled" (x · mask).
    - ``test_dx``: test mode's gradient: "identity" (right: dout) or
      "divided" (dout / keep_prob).
    In test mode the mask is all ones: nothing is dropped.
    """

    forward: Variant = field(default_factory=lambda: VARIANTS["correct"])
    backward: str = "same"
    test: str = "identity"
    test_dx: str = "identity"

    def __call__(self, x, keep_prob, rng, train, dout):
        if not train:
            return self._test_mode(x, keep_prob, rng, dout)
        out, mask = self.forward(x, keep_prob, rng)
        scale = self.forward.divides_by(keep_prob)
        # The backward pass uses the mask the forward pass used: a scaled mask times its scale is the 0/1 one;
        # a mask read off the output is what that code has.
        used = mask * scale if self.forward.scaled_mask else mask
        dx = {
            "same": lambda: dout * used / scale,
            "resampled": lambda: dout * draw_mask(x.shape, keep_prob, rng) / scale,
            "no_mask": lambda: dout / scale,
            "no_scale": lambda: dout * used,
            "drop_divisor": lambda: dout * used / (1.0 - keep_prob),
        }[self.backward]()
        return out, mask, dx

    def _test_mode(self, x, keep_prob, rng, dout):
        out = {
            "identity": lambda: x.copy(),
            "times_keep": lambda: x * keep_prob,
            "divided": lambda: x / keep_prob,
            "dropped": lambda: x * draw_mask(x.shape, keep_prob, rng) / keep_prob,
            "dropped_unscaled": lambda: x * draw_mask(x.shape, keep_prob, rng),
        }[self.test]()
        dx = dout.copy() if self.test_dx == "identity" else dout / keep_prob
        return out, np.ones_like(x), dx
