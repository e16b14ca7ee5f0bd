"""Where a layer above plugs into ``check()``, which never imports it.

Under grading, a check cell's ``check()`` does not judge by itself: inside the
sandbox the references and hidden cases are absent, and the judge outside
has them. The grader's side (``course.safe_run.client``) plugs its evaluator
in here when the graded notebook's first cell runs in a kernel whose
environment names the judge; ``check()`` then hands every call to it. A
learner working alone has nothing plugged in and gets the local check.
"""

from __future__ import annotations

from typing import Any, Callable

# evaluator(exercise_id, answer): prints the success line, or raises CheckFailed, as the local check does.
Evaluator = Callable[[str, Any], None]

_evaluator: Evaluator | None = None


def plug_in_evaluator(evaluator: Evaluator) -> None:
    global _evaluator
    _evaluator = evaluator


def unplug_evaluator() -> None:
    global _evaluator
    _evaluator = None


def plugged_evaluator() -> Evaluator | None:
    return _evaluator
