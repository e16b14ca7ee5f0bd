"""What grading writes: grades.csv, report.html (``report_html``) and one feedback file per learner.

Written by the grader alone, after the run, into a folder no sandbox sees;
each file atomically (a temporary file in the same folder, then a rename), so
a reader never finds half a file and an interrupted run leaves the old one.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

from course.gradebook.report_html import html_report
from course.gradebook.roster import Matching
from course.gradebook.totals import Total, by_learner, by_learner_and_concept, concept, learners_in_order, number
from course.safe_run.verdicts import HINT_CHARS, Row, category, short  # noqa: F401  (HINT_CHARS re-exported)

# ``points``: what the exercise is worth (its master's check cell, default 1); ``score``: what the
# learner earned (all or nothing, or with --partial the share of cases passed), empty when the row could
# not be graded; ``max_score``: what could be earned, the exercise's points again, so that a sheet can
# sum earned and possible side by side (a notebook the course does not have is worth 0).
CSV_COLUMNS = ("learner", "notebook", "exercise", "passed", "hint", "points", "score", "max_score")

def write_atomically(path: Path, text: str) -> None:
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _passed(row: Row) -> str:
    return "yes" if row.passed else "ungraded" if row.infrastructure else "no"


def csv_text(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r.learner, r.notebook, r.exercise, _passed(r), short(r.hint), number(r.points),
                         number(r.score), number(r.max_score)])
    return out.getvalue()


def write_csv(rows: list[Row], path: Path) -> None:
    write_atomically(path, csv_text(rows))


def exercises_in_order(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.exercise for r in rows))


def common_hints(rows: list[Row], top: int = 3) -> dict[str, list[tuple[str, int]]]:
    """Exercise -> its most common mistakes (category, how many learners), most common first."""
    counts: dict[str, Counter] = {}
    for r in rows:
        if not r.passed:
            counts.setdefault(r.exercise, Counter())[category(r.code)] += 1
    return {ex: c.most_common(top) for ex, c in counts.items()}


def _safe_name(learner: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", learner).strip("._") or "learner"


def _out_of(total: Total) -> str:
    lacking = f"; {total.ungraded} not graded yet" if total.ungraded else ""
    return f"{number(total.score)} of {number(total.max_score)} points{lacking}"


def feedback_text(learner: str, rows: list[Row]) -> str:
    mine = [r for r in rows if r.learner == learner]
    done = sum(r.passed for r in mine)
    overall = by_learner(mine).get(learner, Total())
    lines = [f"# Feedback for {learner}", "", f"{done} of {len(mine)} exercises passed: {_out_of(overall)}.", ""]
    per_concept = by_learner_and_concept(mine)
    for notebook in dict.fromkeys(r.notebook for r in mine):
        total = per_concept.get((learner, concept(notebook)))
        lines.append(f"## {notebook}" + (f" ({_out_of(total)})" if total else ""))
        lines.append("")
        for r in (r for r in mine if r.notebook == notebook):
            worth = f"{number(r.score)}/{number(r.max_score)}"
            if r.passed:
                lines.append(f"- ✔ {r.exercise} ({worth})")
            elif r.infrastructure:
                lines.append(f"- ? {r.exercise} (not graded): {short(r.hint)}")
            else:
                lines.append(f"- ✘ {r.exercise} ({worth}; {category(r.code)}): {short(r.hint)}")
        lines.append("")
    return "\n".join(lines)


def write_feedback(rows: list[Row], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for learner in learners_in_order(rows):
        path = folder / f"{_safe_name(learner)}.md"
        write_atomically(path, feedback_text(learner, rows))
        written.append(path)
    return written


def write_all(rows: list[Row], out: Path, sandboxed: bool = True, *, partial: bool = False,
              matching: Matching | None = None) -> None:
    """grades.csv, report.html and feedback/ into ``out``. ``partial``: the scores are partial credit (the
    report says so); ``matching``: the learners matched to a roster (the report lists who is not)."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "grades.csv")
    write_atomically(out / "report.html", html_report(rows, sandboxed, partial=partial, matching=matching))
    write_feedback(rows, out / "feedback")
