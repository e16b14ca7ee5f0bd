"""A gradebook CSV that Canvas imports (Grades → Import), one assignment column per concept.

The layout is Canvas's own gradebook export: a header row ``Student, ID, SIS
User ID, SIS Login ID, Section`` then the assignment columns; a second row
"Points Possible" with each assignment's points; then one row per student of
the roster, in the roster's order, whoever handed in nothing included (their
cells empty: Canvas leaves an empty cell as it was, so a missing submission is
never entered as a zero). Canvas finds each student by ID, else SIS User ID,
else SIS Login ID, all copied from the roster.

Each concept (notebook) of the course is one assignment whose score is the sum
of its exercises' scores and whose points are the sum of their points. A
column is titled by the concept (``01_chain_rule``): Canvas puts the scores
into the assignment of that title, or creates it. When the roster is a Canvas
export that already has that assignment (``01_chain_rule (4242)``), its header
is reused, so the scores go to that very assignment. A concept in which some
exercise of a learner could not be graded (infrastructure) is left empty for
that learner: grade again rather than import a sum that lacks an exercise.
"""

from __future__ import annotations

import csv
import io
import re

from course.gradebook.roster import CANVAS_ID, NAME, SECTION, SIS_LOGIN, SIS_USER, Matching, Roster
from course.gradebook.totals import Total, by_learner_and_concept, concepts_in_order, number
from course.safe_run.verdicts import Row

STUDENT_COLUMNS = (NAME, CANVAS_ID, SIS_USER, SIS_LOGIN, SECTION)
POINTS_POSSIBLE = "Points Possible"
ASSIGNMENT_WITH_ID = re.compile(r"^(?P<title>.*\S)\s+\((?P<id>\d+)\)$")


def assignment_titles(concepts: list[str], roster: Roster) -> dict[str, str]:
    """Concept -> its column's header: the roster's ``<concept> (<id>)`` when it has one, else the concept."""
    existing = {}
    for column in roster.columns:
        found = ASSIGNMENT_WITH_ID.match(column)
        if found:
            existing.setdefault(found["title"], column)
    return {c: existing.get(c, c) for c in concepts}


def _cell(total: Total | None) -> str:
    return number(total.score) if total is not None and total.complete else ""


def gradebook_text(rows: list[Row], roster: Roster, matching: Matching) -> str:
    concepts = concepts_in_order(rows)
    titles = assignment_titles(concepts, roster)
    totals = by_learner_and_concept(rows)
    possible = {}
    for (_, name), total in totals.items():
        possible[name] = max(possible.get(name, 0.0), total.max_score)
    learner_of = {student: learner for learner, student in matching.students.items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*STUDENT_COLUMNS, *(titles[c] for c in concepts)])
    writer.writerow([POINTS_POSSIBLE, "", "", "", "", *(number(possible[c]) for c in concepts)])
    for student in roster.students:
        learner = learner_of.get(student)
        writer.writerow([student.name, student.canvas_id, student.sis_user_id, student.sis_login_id, student.section,
                         *(_cell(totals.get((learner, c))) if learner is not None else "" for c in concepts)])
    return out.getvalue()


def incomplete(rows: list[Row], matching: Matching) -> list[tuple[str, str]]:
    """(learner, concept) of the roster's learners whose concept lacks an ungraded exercise: left empty."""
    return sorted((learner, name) for (learner, name), total in by_learner_and_concept(rows).items()
                  if learner in matching.students and not total.complete)
