"""The exercise registry: exercise id -> Exercise, filled from course.assess.concepts.

Each module in ``course/assess/concepts/`` defines the exercises of one
concept in a list named ``EXERCISES``; a new concept is a new module there,
found without changing any code here. The module's name gives the concept:
``cNN_name.py`` holds the exercises of the notebooks ``NN_name.ipynb``, and
the registry sets each exercise's ``concept`` to that stem.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from functools import lru_cache

from course.assess.exercise import Exercise


def concept_of_module(module_name: str) -> str:
    """``c03_matmul_gradients`` (or its dotted path) -> ``03_matmul_gradients``, the notebook stem."""
    short = module_name.rsplit(".", 1)[-1]
    if not (short.startswith("c") and short[1:3].isdigit()):
        raise ValueError(f"a concept module is named cNN_name, not {short!r}")
    return short[1:]


def _with_concept(exercise: Exercise, concept: str) -> Exercise:
    if exercise.concept and exercise.concept != concept:
        raise ValueError(f"exercise {exercise.id!r} says concept {exercise.concept!r},"
                         f" but its module is the concept {concept!r}")
    return dataclasses.replace(exercise, concept=concept)


@lru_cache(maxsize=1)
def all_exercises() -> dict[str, Exercise]:
    from course.assess import concepts

    found: dict[str, Exercise] = {}
    for info in sorted(pkgutil.iter_modules(concepts.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{concepts.__name__}.{info.name}")
        concept = concept_of_module(info.name)
        for exercise in getattr(module, "EXERCISES", ()):
            if exercise.id in found:
                raise ValueError(f"exercise id {exercise.id!r} is defined twice")
            found[exercise.id] = _with_concept(exercise, concept)
    return found


def get_exercise(exercise_id: str) -> Exercise:
    exercises = all_exercises()
    if exercise_id not in exercises:
        known = ", ".join(sorted(exercises))
        raise KeyError(f"no exercise {exercise_id!r}; the course has: {known}")
    return exercises[exercise_id]


def exercises_of(concept: str) -> list[Exercise]:
    return [e for e in all_exercises().values() if e.concept == concept]
