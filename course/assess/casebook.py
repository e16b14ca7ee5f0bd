"""The cases an exercise is judged on, and the reference's result on each, made once and kept.

``hidden_cases`` draws an exercise's hidden cases from a seed. ``evaluate``
(``course.assess.diagnose``) asks a book for the cases, the reference's
results and the call of the learner's function: ``FreshCases`` makes them
anew for each check (a notebook's own check); the grader's judge keeps one
``CaseBook`` for the whole class, so that every learner meets the same cases
and the reference runs once per case.
"""

from __future__ import annotations

import copy
import threading
import zlib
from typing import Any, Callable

import numpy as np

from course.assess.exercise import Case, Exercise
from course.assess.own_work import watching


def hidden_cases(exercise: Exercise, seed: int) -> list[Case]:
    # Mix the exercise id into the seed so exercises do not share cases.
    rng = np.random.default_rng([seed, zlib.crc32(exercise.id.encode())])
    return list(exercise.hidden(rng))


class CaseBook:
    """An exercise's hidden cases and the reference's result on each case, made once and kept.

    A grading run judges every learner on the same cases (one seed for the class): the judge keeps
    one book for the run instead of drawing the cases and running the reference again per check
    (``02``'s graphs of 5,000 gates cost a third of a second each time). Nothing may change a book's
    case: the learner's function, the reference and the known mistakes get copies (in the judge, the
    learner's function gets the case pickled, into its sandbox), and a kept result goes out as a copy.
    Safe to share between the judge's threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._making: dict[str, threading.Lock] = {}  # one per exercise: its cases are made by one thread
        self._hidden: dict[tuple[str, int], list[Case]] = {}
        # (exercise, what, id of the case) -> (the case, kept alive so that its id stays its own; the value)
        self._kept: dict[tuple[str, str, int], tuple[Case, Any]] = {}

    def _exercise_lock(self, exercise: Exercise) -> threading.Lock:
        with self._lock:
            return self._making.setdefault(exercise.id, threading.Lock())

    def hidden(self, exercise: Exercise, seed: int) -> list[Case]:
        key = (exercise.id, seed)
        with self._exercise_lock(exercise):
            if key not in self._hidden:
                self._hidden[key] = hidden_cases(exercise, seed)
            return list(self._hidden[key])

    def kept(self, exercise: Exercise, what: str, case: Case, make: Callable[[], Any]) -> Any:
        """``make()``, made once for ``case``: what is kept of a case (the reference's result, its pickle)."""
        key = (exercise.id, what, id(case))
        with self._exercise_lock(exercise):
            kept = self._kept.get(key)
            if kept is None or kept[0] is not case:
                kept = (case, make())
                self._kept[key] = kept
        return kept[1]

    def expected(self, exercise: Exercise, case: Case) -> Any:
        return copy.deepcopy(self.kept(exercise, "expected", case,
                                       lambda: exercise.reference(*copy.deepcopy(case.args))))

    @staticmethod
    def call(exercise: Exercise, answer: Callable, case: Case) -> tuple[tuple, Any]:
        """(the arguments as the call left them, what it returned). The judge's stand-in for a learner's
        function (``call_case``) sends the case's arguments into the sandbox itself, from the book's
        case: a graph of 5,000 gates is then neither copied nor pickled again for every learner."""
        by_case = getattr(answer, "call_case", None)
        if by_case is not None and exercise.run is None:
            return by_case(case)
        return FreshCases.call(exercise, answer, case)


class FreshCases:
    """No book: the cases drawn and the reference run anew for each evaluation (a notebook's own check)."""

    @staticmethod
    def hidden(exercise: Exercise, seed: int) -> list[Case]:
        return hidden_cases(exercise, seed)

    @staticmethod
    def call(exercise: Exercise, answer: Callable, case: Case) -> tuple[tuple, Any]:
        given = copy.deepcopy(case.args)
        with watching(exercise.answer_of, answer):  # the course's own answer called? (course.assess.own_work)
            return given, (exercise.run(answer, given) if exercise.run is not None else answer(*given))

    @staticmethod
    def expected(exercise: Exercise, case: Case) -> Any:
        return exercise.reference(*copy.deepcopy(case.args))
