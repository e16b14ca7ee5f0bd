"""No saved output of a lesson or a master prints a number that only round-off decides.

Strict nbval compares every saved output with a rerun on the reader's
machine, whose BLAS kernel, thread count and SIMD width add numbers in
another order. This test reads every saved output (stdout, text/plain,
text/html, a figure's alt text) of notebooks/ and solutions/ and fails on:

- a round-off-sized number (below ``ROUND_OFF_SIZED``, a relative error,
  a largest difference) printed with digits, such as ``3.7e-08``, instead
  of a bound (``< 1e-6 (the tolerance)``, ``course.compute.portable.below``);
- the worst entry of a passing gradient check (``ok, ... at [24, 11]``):
  which entry is worst is round-off's choice when all of them agree;
- a loss with more than six significant digits, or a loss past
  ``DIVERGED_LOSS`` given in digits (``last 14946861108205432832.00``)
  instead of described (``diverged: loss > 1e3 after 52 steps``).

The rules read numbers as they are printed: worked examples (0.7311), shapes
((64, 128)), counts and accuracies are none of the above. The strict nbval
rerun with numpy's SIMD dispatch narrowed (tests/notebook_items.py) then
shows that what is printed really is the same.
"""

from __future__ import annotations

import re

import pytest
from conftest import LESSONS, SOLUTIONS, code_cells, notebooks_in, read

from course.compute.portable import DIVERGED_LOSS, ROUND_OFF_SIZED

NOTEBOOKS = notebooks_in(LESSONS) + notebooks_in(SOLUTIONS)

# A number as printed: sign, digits, decimals, exponent (``-0.5309``, ``3.7e-08``, ``1e-6``, ``2.5e+05``).
NUMBER = re.compile(r"(?<![\w.])[-+]?(\d+)(?:\.(\d+))?(?:e([-+]?\d+))?(?![\w.])")
# An image's bytes are data, not text a reader sees (the alt text is read on its own).
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
LOSS_WORD = re.compile(r"\bloss", re.IGNORECASE)
MAX_LOSS_DIGITS = 6


def output_texts(cell) -> list[str]:
    """Every text of a cell's outputs that a reader (and nbval) sees, the alt texts of its figures included."""
    texts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            texts.append(output["text"])
        for kind in ("text/plain", "text/html", "text/markdown"):
            if kind in output.get("data", {}):
                texts.append(DATA_URI.sub("", output["data"][kind]))
        for meta in output.get("metadata", {}).values():
            if isinstance(meta, dict) and "alt" in meta:
                texts.append(meta["alt"])
    return texts


def significant_digits(whole: str, decimals: str | None) -> int:
    digits = (whole + (decimals or "")).lstrip("0")
    return len(digits)


def round_off_problems(text: str) -> list[str]:
    """What in ``text`` only round-off decides, one message per finding (empty: portable)."""
    problems = []
    for line in text.splitlines():
        if re.search(r"\bok\b", line) and re.search(r"relative error", line) and re.search(r"\bat \[", line):
            problems.append(f"the worst entry of a passing check is round-off's choice: {line.strip()!r}")
        mentions_loss = bool(LOSS_WORD.search(line))
        for match in NUMBER.finditer(line):
            whole, decimals, exponent = match.groups()
            value = abs(float(match.group(0)))
            printed = match.group(0)
            if exponent is not None and 0 < value < ROUND_OFF_SIZED and not re.fullmatch(r"[-+]?1e-?\d+", printed):
                problems.append(f"{printed} is round-off-sized: print a bound it stays under (portable.below),"
                                f" not its digits: {line.strip()!r}")
            if mentions_loss and significant_digits(whole, decimals) > MAX_LOSS_DIGITS:
                problems.append(f"{printed} gives a loss to more than {MAX_LOSS_DIGITS} significant digits:"
                                f" {line.strip()!r}")
            elif mentions_loss and (decimals is not None or exponent is not None) and value > DIVERGED_LOSS:
                problems.append(f"{printed} is a diverged loss in digits; describe the run (History.summary):"
                                f" {line.strip()!r}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_saved_output_prints_what_round_off_decides(path):
    problems = []
    for number, cell in enumerate(code_cells(read(path))):
        for text in output_texts(cell):
            problems += [f"{path.parent.name}/{path.name} cell {number}: {p}" for p in round_off_problems(text)]
    assert not problems, "\n".join(dict.fromkeys(problems))


# ----- the rules themselves, on the outputs they were written against -----------------------------

BEFORE = [  # printed by the course before its outputs were made portable (lesson 06, cells 7 and 17; lesson 07)
    "fc1.w: ok, max relative error 4.2e-08 (tolerance 1e-06) at [56, 41]: numeric 0.000105659, analytic 0.000105659",
    "sign               loss: first step 3.76, last 14946861108205432832.00;  validation accuracy 0.097",
    "no_mean            loss: first step 3.76, last 19401098056.16;  validation accuracy 0.811",
    "lr = 3.0, without         mean loss of epoch 1:    2.5e+05, of epoch 10:   3.63e+45, validation accuracy 0.283",
    "largest difference, staged - compact: 1.1e-15",
    "fc2.w: MISMATCH, max relative error 9.1e-06 (tolerance 1e-06) at [0, 0]: numeric 8.95373e-07, analytic 8.95389e-07",
]
AFTER = [  # the same, printed portably, and numbers that are nobody's round-off
    "fc1.w: ok, max relative error < 1e-6 (the tolerance)",
    "sign               diverged: loss > 1e3 after 52 steps",
    "no_decay           loss 10.53 at the first step, 7.627 at step 340; validation accuracy 0.944",
    "lr = 3.0, without         diverged: loss > 1e3 after 9 steps",
    "largest difference, staged - compact: < 1e-12",
    "fc1.w: MISMATCH, max relative error 2.4e-01 (tolerance 1e-6) at [3, 0]: numeric -0.5309, analytic -0.8631",
    "fc2.w: MISMATCH, max relative error > 1e-6 (the tolerance), < 1e-3",
    "sigmoid(1) = 0.7311, (64, 128) weights, 1078 training examples, 900 steps; loss 1.076, accuracy 0.933",
    "smallest error of the central difference: h = 1e-05",
    "Log-log plot ... from h = 1e-01 on the left to 1e-14 on the right",
    "loss = 1.3783; loss at scores + 1000: 1.3783",
]


@pytest.mark.parametrize("line", BEFORE)
def test_each_rule_catches_what_it_was_written_for(line):
    assert round_off_problems(line)


@pytest.mark.parametrize("line", AFTER)
def test_portable_and_legitimate_numbers_pass(line):
    assert round_off_problems(line) == []
