"""What the session server knows of the course: concepts, exercise ids, hint codes and their texts.

Taken from the exercise registry, so a new concept shows on the instructor's
page without a change here. The texts are the hints learners see, so the
instructor re-explains what the check cell said.
"""

from __future__ import annotations

from functools import lru_cache

from course.assess.hints import CATEGORIES
from course.assess.registry import all_exercises


@lru_cache(maxsize=1)
def catalog() -> dict:
    """``{"concepts": [{"id", "title", "exercises": [{"id", "title", "hints": {code: text}}]}], "codes": {...}}``."""
    concepts: dict[str, list] = {}
    for exercise in all_exercises().values():
        hints: dict[str, str] = {}
        for wrong in exercise.misconceptions:
            hints.setdefault(wrong.code, wrong.hint)  # the first of a code is the one the check gives first
        concepts.setdefault(exercise.concept, []).append({"id": exercise.id, "title": exercise.title,
                                                          "hints": hints})
    return {"concepts": [{"id": stem, "title": stem[3:].replace("_", " ").capitalize() if stem[:2].isdigit() else stem,
                          "exercises": found} for stem, found in sorted(concepts.items())],
            "codes": dict(CATEGORIES)}


def exercise_ids() -> frozenset[str]:
    return frozenset(all_exercises())


def hint_codes() -> frozenset[str]:
    """Every code an event may carry: "ok" (passed) and the mistake categories."""
    return frozenset(CATEGORIES) | {"ok"}
