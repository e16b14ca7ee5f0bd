"""Scores given by hand: a regrade, an excused absence, a late notebook taken after all.

A small CSV the instructor writes, one line per (learner, exercise)::

    learner,exercise,points,reason
    dora,03.layer_backward,3,regraded by hand: the transpose was the only slip
    emile,05.dropout_layer,0,copied from a classmate (see the note of 12 May)

``course grade --overrides FILE`` and ``course grade merge --overrides FILE``
apply it after grading: the row keeps its verdict and hint (what the grader
found), and its score becomes the points given; grades.csv (``override``
column), report.html (✎ and the reason) and the learner's feedback say that
the score was set by hand and why. Every line must name a learner of the class
and an exercise of the assignment, with points from 0 to what the exercise is
worth and a reason; a file with a line that does not is refused whole,
naming the line, before anything is written.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path

from course.safe_run.verdicts import Row

COLUMNS = ("learner", "exercise", "points", "reason")


class OverrideError(ValueError):
    """An overrides file that cannot be applied; the message names the file, the line and why."""


@dataclass(frozen=True)
class Override:
    learner: str
    exercise: str
    points: float
    reason: str
    line: int


def read_overrides(path: Path) -> list[Override]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise OverrideError(f"{path}: the first line must name the columns {', '.join(COLUMNS)}"
                                    f" (missing: {', '.join(missing)})")
            reader.fieldnames = header
            # reader.line_num: the line in the file, blank lines (which the reader skips) counted.
            return [_override(path, reader.line_num, row) for row in reader
                    if any((v or "").strip() for v in row.values() if isinstance(v, str))]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OverrideError(f"{path} cannot be read: {exc}") from exc


def _override(path: Path, number: int, row: dict) -> Override:
    where = f"{path}, line {number}"
    learner, exercise, reason = ((row.get(k) or "").strip() for k in ("learner", "exercise", "reason"))
    if not learner or not exercise:
        raise OverrideError(f"{where}: name the learner and the exercise")
    try:
        points = float((row.get("points") or "").strip())
    except ValueError:
        raise OverrideError(f"{where}: points {row.get('points')!r} is not a number") from None
    if not math.isfinite(points) or points < 0:
        raise OverrideError(f"{where}: points must be a number from 0 up, not {row.get('points')!r}")
    if not reason:
        raise OverrideError(f"{where}: give a reason (the report and the learner's feedback show it)")
    return Override(learner, exercise, points, reason, number)


def apply_overrides(rows: list[Row], overrides: list[Override], path: Path | str = "overrides") -> list[Row]:
    """``rows`` with the overrides' scores; OverrideError (nothing applied) for a line that names no row of
    the assignment, gives more than the exercise's points, or repeats another line's learner and exercise."""
    index = {(r.learner, r.exercise): i for i, r in enumerate(rows) if r.exercise != "-"}
    seen: dict[tuple[str, str], int] = {}
    for o in overrides:
        where = f"{path}, line {o.line}"
        key = (o.learner, o.exercise)
        if key in seen:
            raise OverrideError(f"{where}: {o.learner}, {o.exercise} is overridden already on line {seen[key]}")
        seen[key] = o.line
        if key not in index:
            if not any(r.learner == o.learner for r in rows):
                raise OverrideError(f"{where}: no learner {o.learner!r} in this class")
            raise OverrideError(f"{where}: {o.exercise!r} is not an exercise of this assignment")
        if o.points > rows[index[key]].points:
            raise OverrideError(f"{where}: {o.points:g} points, but {o.exercise} is worth"
                                f" {rows[index[key]].points:g}")
    done = list(rows)
    for o in overrides:
        row = done[index[(o.learner, o.exercise)]]
        graded = row.graded_score if row.override else row.score
        done[index[(o.learner, o.exercise)]] = replace(row, score=o.points, override=o.reason, graded_score=graded)
    return done
