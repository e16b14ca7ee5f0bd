"""nbgrader's cell metadata for a master, so an instructor on nbgrader can release and autograde it.

``course build`` writes it into every master in solutions/ (the ``nbgrader``
key of each cell is the build's alone; never edit it by hand):

- an exercise cell is a **solution cell**: its ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` region is nbgrader's too, and the course's
  ``nbgrader_config.py`` (docs/nbgrader/) makes nbgrader's stub the course's,
  so ``nbgrader generate_assignment`` writes the code of exercises/;
- a check cell is a **locked autograded test cell** worth the exercise's
  points (``course.assess.points``); ``nbgrader autograde`` restores its
  source, and re-adds it when it was deleted, as ``course grade`` does;
- any other code cell (imports, given code) is a **read-only cell**:
  restored by autograde like the checks, as the grader's canonical notebook
  restores it;
- a ``solution-only`` cell and markdown get no nbgrader metadata (the course's
  config drops solution-only cells before release, as the build does).

The metadata follows nbgrader's cell metadata schema version 3.
"""

from __future__ import annotations

import copy

import nbformat

from course.assess.points import BadPoints, exercise_points, is_check_cell
from course.authoring.errors import BuildError

SCHEMA_VERSION = 3
SOLUTION_ONLY = "solution-only"


def check_grade_id(exercise_id: str) -> str:
    """The grade id of an exercise's check cell: nbgrader allows letters, digits, ``_`` and ``-`` only."""
    return exercise_id.replace(".", "_")


def answer_grade_id(exercise_id: str) -> str:
    return f"{check_grade_id(exercise_id)}-answer"


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = int(points) if float(points).is_integer() else points
    return meta


def with_nbgrader_metadata(master: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``master`` whose cells carry nbgrader's metadata (and no other nbgrader key)."""
    nb = copy.deepcopy(master)
    try:
        points = exercise_points(nb)
    except BadPoints as exc:
        raise BuildError(f"{name}: {exc}") from None
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type != "code" or SOLUTION_ONLY in cell.metadata.get("tags", []):
            continue
        course_meta = cell.metadata.get("gradflow", {})
        if is_check_cell(cell):
            meta = _meta(check_grade_id(course_meta["check"]), grade=True, locked=True,
                         points=points[course_meta["check"]])
        elif "exercise" in course_meta:
            meta = _meta(answer_grade_id(course_meta["exercise"]), solution=True)
        else:
            # A read-only cell needs a grade id too: the cell's own id is unique and fits nbgrader's pattern.
            meta = _meta(f"given-{cell.get('id') or index}", locked=True)
        if meta["grade_id"] in seen:
            raise BuildError(f"{name}, cell {index}: a second cell would have the nbgrader grade id"
                             f" {meta['grade_id']!r}: each exercise needs one exercise cell and one check cell")
        seen.add(meta["grade_id"])
        cell.metadata["nbgrader"] = meta
    return nb
