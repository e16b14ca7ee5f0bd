"""An adapter for exercises whose text says "return new arrays": an output that *is* an input is refused.

A test mode that hands back ``running_mean`` itself instead of a copy gives
the right values, so comparing values cannot see it; but the caller who then
updates the returned array in place changes the layer's state behind its
back. ``fresh_outputs(inputs, outputs)`` is the adapter: it calls the answer
and raises ``Refused`` ("aliased") when a returned array shares memory with an
array argument (the names, as the text gives them, are for the hint). Under
grading it runs beside the learner's code (``Exercise.run_in_sandbox``): only
there are the returned arrays still the arguments' own.
"""

from __future__ import annotations

import numpy as np

from course.assess.exercise import Refused


def fresh_outputs(inputs: tuple[str, ...], names: tuple[str, ...]):
    def run(answer, args: tuple):
        result = answer(*args)
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        for k, out in enumerate(outputs):
            if not isinstance(out, np.ndarray):
                continue
            for i, arg in enumerate(args):
                if isinstance(arg, np.ndarray) and np.shares_memory(out, arg):
                    given = inputs[i] if i < len(inputs) else f"argument {i + 1}"
                    got = f"`{names[k]}`" if k < len(names) else f"result number {k + 1}"
                    raise Refused("aliased", f"Your {got} is the array `{given}` you were given (or a view of"
                                             " it), not a new one: whoever changes one changes the other. The"
                                             f" text asks for new arrays: return `{given}.copy()`.")
        return result
    return run
