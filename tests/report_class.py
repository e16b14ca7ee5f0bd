"""A realistic graded class, as rows built in code (no grading run): every exercise of the course,
30 learners with names of every length, each misconception of the registry somewhere, partial
scores, rows not graded (infrastructure), an unreadable notebook and one not of the course.

Used by the report's tests (tests/test_report.py, tests/test_report_browser.py) and to look at
the report: ``python tests/report_class.py OUT`` writes OUT/report.html.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from course.assess.registry import all_exercises
from course.safe_run.verdicts import Row, infrastructure_row, scored

LEARNERS = [f"learner{n:02d}" for n in range(26)] + [
    "a.very-long-learner-name-from-a-classroom-export-2026", "Zoë Ångström", "x", "o'brien"]


def exercises_by_notebook() -> dict[str, list]:
    by: dict[str, list] = {}
    for exercise in sorted(all_exercises().values(), key=lambda e: e.id):
        by.setdefault(f"{exercise.concept}.ipynb", []).append(exercise)
    return by


def class_rows(seed: int = 7, partial: bool = True) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for learner_index, learner in enumerate(LEARNERS):
        skill = 0.35 + 0.6 * rng.random()
        for notebook, exercises in exercises_by_notebook().items():
            if learner_index == 3 and notebook.startswith("07"):
                continue  # handed in nothing for the last concept
            for exercise in exercises:
                draw = rng.random()
                if learner == "x" and notebook.startswith("01"):
                    row = Row(learner, notebook, exercise.id, False, "error", "`f` raised ValueError: "
                              + "a huge message " * 200, cases_passed=0, cases_total=12)  # cut in the report
                elif learner_index == 5 and notebook.startswith("02"):
                    row = Row(learner, notebook, exercise.id, False, "unreadable",
                              "Could not read the notebook: it is not valid JSON (line 1, column 2).")
                elif draw < 0.02:
                    row = infrastructure_row(learner, notebook, exercise.id, "the notebook's kernel did not start")
                elif draw < skill:
                    row = Row(learner, notebook, exercise.id, True, "ok", "", cases_passed=12, cases_total=12)
                elif draw < skill + 0.08:
                    row = Row(learner, notebook, exercise.id, False, "not_done",
                              f"`{exercise.function}` is not written yet: replace the line"
                              " `raise NotImplementedError` with your code.", cases_passed=0, cases_total=12)
                elif exercise.misconceptions:
                    m = exercise.misconceptions[rng.randrange(len(exercise.misconceptions))]
                    row = Row(learner, notebook, exercise.id, False, m.code, f"{m.hint} (seen on the example x = 1)",
                              cases_passed=rng.randrange(12), cases_total=12)
                else:
                    row = Row(learner, notebook, exercise.id, False, "wrong_value",
                              "The result is not right. Seen on the example x = 1.", cases_passed=3, cases_total=12)
                rows.append(scored(row, 2.0 if exercise.id.endswith("net") else 1.0, partial))
    rows.append(scored(Row("learner07", "scratch.ipynb", "-", False, "unknown_notebook",
                           "Not a notebook of the course: solutions/ has no master named scratch.ipynb."), 0.0))
    return rows


if __name__ == "__main__":
    from course.gradebook.report import write_all
    from course.gradebook.roster import Roster, Student, match

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/report-look")
    roster = Roster([Student(f"Learner {n}", str(1000 + n), f"S{n}", f"learner{n:02d}", "A") for n in range(28)])
    rows = class_rows()
    write_all(rows, out, partial=True, matching=match(sorted({r.learner for r in rows}), roster))
    print(out / "report.html")
