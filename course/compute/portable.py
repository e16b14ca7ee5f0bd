"""Numbers printed so that every machine prints the same text.

A lesson's saved output is compared, character by character, with a rerun on
the reader's machine (nbval). Another BLAS kernel, thread count or SIMD width
adds the same numbers in another order, which changes the last digits of
every float. So a printed number keeps only the digits that survive that:

- ``below(x, bound)``: a round-off-sized number (a relative error of
  4.2e-08, a largest difference of 1.1e-15) as a bound it stays under,
  ``< 1e-12``. Its digits are noise, and so is its decade: the same check
  gave a worst error of 6.6e-10, 8.6e-10 and 1.1e-9 under three OpenBLAS
  kernels, so a printed decade (``< 1e-9``, ``< 1e-8``) changes with the
  machine for about a third of all checks. A bound the author chose, well
  above the number (a factor 10 or more), is the same everywhere. A gradient
  check's bound is its tolerance.
- ``loss_text(x)``: a loss to four significant digits, enough to follow a
  curve and far above what a summation order changes in a run that
  converges.
- ``diverged_at(losses)`` and ``diverged_text(...)``: a run whose loss passed
  ``DIVERGED_LOSS`` is described, never given in digits: once the loss grows
  without bound, round-off decides its every digit (measured: the last loss
  of one such run was 1.9e10, 2.6e10 or 1.8e11 under three OpenBLAS kernels),
  while the step at which it first passed the line is the same everywhere.

``course.compute.gradcheck.GradCheckResult.summary`` and
``course.compute.network.History.summary`` print with these; lessons print
their own numbers with them too. tests/test_portable_outputs.py reads every
saved output of every lesson and master and fails on a number printed
beyond these rules.
"""

from __future__ import annotations

import math
from typing import Sequence

# Below this a relative error or a difference may be round-off: only a bound
# is printed. At 1e-3 and above (a wrong gradient: 1e-2 to 1, usually) the
# error is the bug's, and its two digits are the same on every machine.
ROUND_OFF_SIZED = 1e-3
# A softmax loss above 1000 gives the correct class a probability below
# e^-1000: the run is lost. Lessons' diverging runs pass this line early,
# before round-off differences between machines have grown (one run: step 84
# under every kernel), while they pass 1e6 at step 192 or 211 depending on it.
DIVERGED_LOSS = 1e3
LOSS_DIGITS = 4


def power_of_ten(value: float) -> str:
    """``1e-6`` for 1e-06, ``1e3`` for 1000.0; any other number as ``%g``."""
    if value > 0:
        exponent = round(math.log10(value))
        if math.isclose(value, 10.0**exponent, rel_tol=1e-9):
            return f"1e{exponent}"
    return f"{value:g}"


def below(value: float, bound: float) -> str:
    """``< 1e-12`` when ``value`` is under ``bound``; otherwise the value itself, to two digits (a surprise shows)."""
    return f"< {power_of_ten(bound)}" if value < bound else f"{value:.1e}"


def loss_text(value: float) -> str:
    """A loss to ``LOSS_DIGITS`` significant digits, or ``> 1e3`` / ``not a number`` past the line."""
    if not math.isfinite(value):
        return "not a number"
    if value > DIVERGED_LOSS:
        return f"> {power_of_ten(DIVERGED_LOSS)}"
    return f"{value:.{LOSS_DIGITS}g}"


def diverged_at(losses: Sequence[float]) -> int | None:
    """The number of steps after which the loss first passed ``DIVERGED_LOSS`` (or was not finite), else None."""
    for step, value in enumerate(losses, start=1):
        if not math.isfinite(value) or value > DIVERGED_LOSS:
            return step
    return None


def diverged_text(steps: int) -> str:
    """``diverged: loss > 1e3 after 84 steps``."""
    return f"diverged: loss > {power_of_ten(DIVERGED_LOSS)} after {steps} step{'s' if steps != 1 else ''}"
