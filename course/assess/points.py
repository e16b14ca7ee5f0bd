"""Check cells and their points: what each exercise is worth, read from its master.

An exercise's points live in its master's check cell metadata,
``{"gradflow": {"check": "<id>", "points": 2}}``; without the key it is worth
``DEFAULT_POINTS``. A row's ``score`` is its points when passed, 0 when
failed, and None when it could not be graded (infrastructure): no score is
not a zero.

Here, below both readers: the authoring build writes the points into nbgrader's
metadata (``course.authoring.nbgrader_cells``) and the gradebook scores rows
with them, and neither imports the other.
"""

from __future__ import annotations

import math

DEFAULT_POINTS = 1.0


class BadPoints(ValueError):
    """A master gives an exercise points that are not a positive finite number."""


def is_check_cell(cell) -> bool:
    """A check cell of an exercise notebook or master (docs/authoring.md, "Cell conventions")."""
    return cell.cell_type == "code" and "check" in cell.metadata.get("gradflow", {})


def exercise_points(master) -> dict[str, float]:
    """Exercise id -> its points, for every check cell of ``master`` (a notebook), in order."""
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
