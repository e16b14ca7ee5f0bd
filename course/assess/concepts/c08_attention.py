"""Exercises of concept 08, An attention head, backward by hand (draft made by `python -m course new`).

Cases come from ``course.assess.cases``; each misconception is proven by a
test with a wrong answer (tests/test_attention.py). Replace the example.
"""

from __future__ import annotations

import numpy as np

from course.assess.cases import array, case, many, number, sizes
from course.assess.exercise import Case, Exercise, Misconception
from course.compute.attention import scale_backward, scale_forward


def scale_gate_backward(x, a, dout):
    return scale_backward(dout, scale_forward(x, a)[1])


def _scale_case(rng: np.random.Generator, k: int) -> Case:
    n, d = sizes(rng, k, count=2)
    return case(x=array(rng, (n, d)), a=number(rng), dout=array(rng, (n, d)))


EXAMPLE = Exercise(
    id="08.example",
    title="example: a scale gate, backward",
    reference=scale_gate_backward,
    public=(case(x=np.array([[1.0, -2.0, 0.5]]), a=3.0, dout=np.array([[1.0, 1.0, -1.0]])),),
    hidden=many(12, _scale_case),
    outputs=("dx", "da"),
    upstream=2,
    misconceptions=(
        Misconception("output_for_input", "da sums the *input* x times dout over every entry; you used the"
                                          " output a·x in its place.",
                      lambda x, a, dout: (a * dout, float(np.sum(a * x * dout)))),
    ),
)

EXERCISES = [EXAMPLE]
