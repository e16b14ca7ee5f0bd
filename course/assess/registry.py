"""The exercise registry: exercise id -> Exercise, filled from course.assess.concepts.

Each module in ``course/assess/concepts/`` defines the exercises of one
concept in a list named ``EXERCISES``; a new concept is a new module there,
found without changing any code here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from course.assess.exercise import Exercise


@lru_cache(maxsize=1)
def all_exercises() -> dict[str, Exercise]:
    from course.assess import concepts

    found: dict[str, Exercise] = {}
    for info in sorted(pkgutil.iter_modules(concepts.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{concepts.__name__}.{info.name}")
        for exercise in getattr(module, "EXERCISES", ()):
            if exercise.id in found:
                raise ValueError(f"exercise id {exercise.id!r} is defined twice")
            found[exercise.id] = exercise
    return found


def get_exercise(exercise_id: str) -> Exercise:
    exercises = all_exercises()
    if exercise_id not in exercises:
        known = ", ".join(sorted(exercises))
        raise KeyError(f"no exercise {exercise_id!r}; the course has: {known}")
    return exercises[exercise_id]


def exercises_of(concept: str) -> list[Exercise]:
    return [e for e in all_exercises().values() if e.concept == concept]
