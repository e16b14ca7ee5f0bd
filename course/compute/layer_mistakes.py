"""The backward pass of one layer, out = act(x @ w + b), with a knob per known slip.

Exercise 03.layer_backward asks for the whole backward pass of the layer
template (fully connected, add biases, activation). Its known wrong answers
are this one computation with one stage done wrong, so that a learner's
mistake can be named by its stage: the activation's local derivative, the
bias's sum over the batch, the matrix products, or the order the stages run
in. ``LayerBackward()`` with no knob turned is the right answer (relu gives
half the gradient at a tie, as ``course.compute.layers`` does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.compute import layers


@dataclass(frozen=True)
class LayerBackward:
    """``variant(x, w, b, dout, activation) -> (dx, dw, db)`` with the slips chosen below.

    - ``relu``: how relu's backward step is taken: "half" (0.5 at S = 0, the
      course's rule), "zero_at_tie" (``S > 0``), "all_at_tie" (``S >= 0``),
      "output_ge" (mask ``relu(S) >= 0``, always true), "times_output"
      (``dout * relu(S)``), "positive_dout" (``max(0, dout)``).
    - ``sigmoid``: "output" (``s(1 - s)``, right), "input" (``S(1 - S)``),
      "value" (``s`` itself).
    - ``without_bias``: the activation's derivative taken at ``x @ w``
      instead of ``S = x @ w + b``.
    - ``db``: "sum" (right), "mean" (over the batch), "from_dout" (the sum of
      dout as it arrives, before the activation's step).
    - ``dw``: "product" (right), "mean" (divided by N), "from_dout"
      (``x.T @ dout``, before the activation's step).
    - ``elementwise``: ``*`` where the matrix products belong.
    """

    relu: str = "half"
    sigmoid: str = "output"
    without_bias: bool = False
    db: str = "sum"
    dw: str = "product"
    elementwise: bool = False

    def __call__(self, x, w, b, dout, activation):
        s = x @ w if self.without_bias else x @ w + b
        ds = self._activation(s, dout, activation)
        n = x.shape[0]
        if self.elementwise:
            dx, dw = ds * w.T, x.T * ds
        else:
            dx, dw = ds @ w.T, x.T @ ds
        if self.dw == "mean":
            dw = dw / n
        elif self.dw == "from_dout":
            dw = x.T @ dout
        if self.db == "mean":
            db = ds.mean(axis=0, keepdims=True)
        elif self.db == "from_dout":
            db = dout.sum(axis=0, keepdims=True)
        else:
            db = ds.sum(axis=0, keepdims=True)
        return dx, dw, db

    def _activation(self, s, dout, activation):
        if activation == "relu":
            local = {
                "half": lambda: np.where(s > 0, 1.0, np.where(s < 0, 0.0, 0.5)),
                "zero_at_tie": lambda: (s > 0).astype(float),
                "all_at_tie": lambda: (s >= 0).astype(float),
                "output_ge": lambda: (np.maximum(0.0, s) >= 0).astype(float),
                "times_output": lambda: np.maximum(0.0, s),
            }
            if self.relu == "positive_dout":
                return np.maximum(0.0, dout)
            return dout * local[self.relu]()
        if activation == "sigmoid":
            sig = layers.sigmoid_forward(s)[0]
            local = {"output": sig * (1.0 - sig), "input": s * (1.0 - s), "value": sig}[self.sigmoid]
            return dout * local
        return dout.copy()  # identity: the local derivative is 1
