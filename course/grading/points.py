"""Points per exercise: what each is worth, read from the master.

An exercise's points live in its master's check cell metadata,
``{"gradflow": {"check": "<id>", "points": 2}}``; without the key it is worth
``DEFAULT_POINTS``. A row's ``score`` is its points when passed, 0 when
failed, and None when it could not be graded (infrastructure): no score is
not a zero.
"""

from __future__ import annotations

import math

import nbformat

from course.authoring.build import is_check_cell

DEFAULT_POINTS = 1.0


class BadPoints(ValueError):
    """A master gives an exercise points that are not a positive finite number."""


def exercise_points(master: nbformat.NotebookNode) -> dict[str, float]:
    """Exercise id -> its points, for every check cell of ``master``, in order."""
    points = {}
    for cell in master.cells:
        if not is_check_cell(cell):
            continue
        meta = cell.metadata["gradflow"]
        value = meta.get("points", DEFAULT_POINTS)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise BadPoints(f"the check cell of {meta['check']} gives points={value!r}: use a positive number")
        points[meta["check"]] = float(value)
    return points
