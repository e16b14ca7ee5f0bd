"""What grading writes: grades.csv, report.html and one feedback file per learner.

Written by the grader alone, after the run, into a folder no sandbox sees;
each file atomically (a temporary file in the same folder, then a rename), so
a reader never finds half a file and an interrupted run leaves the old one.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

from course.grading.verdicts import Row, category

CSV_COLUMNS = ("learner", "notebook", "exercise", "passed", "hint")
HINT_CHARS = 2000  # a hint is cut here, so a report stays small whatever a notebook printed


def _short(hint: str) -> str:
    return hint if len(hint) <= HINT_CHARS else hint[:HINT_CHARS] + " …"


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
        writer.writerow([r.learner, r.notebook, r.exercise, _passed(r), _short(r.hint)])
    return out.getvalue()


def write_csv(rows: list[Row], path: Path) -> None:
    write_atomically(path, csv_text(rows))


def exercises_in_order(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.exercise for r in rows))


def learners_in_order(rows: list[Row]) -> list[str]:
    return sorted(dict.fromkeys(r.learner for r in rows))


def common_hints(rows: list[Row], top: int = 3) -> dict[str, list[tuple[str, int]]]:
    """Exercise -> its most common mistakes (category, how many learners), most common first."""
    counts: dict[str, Counter] = {}
    for r in rows:
        if not r.passed:
            counts.setdefault(r.exercise, Counter())[category(r.code)] += 1
    return {ex: c.most_common(top) for ex, c in counts.items()}


def _safe_name(learner: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", learner).strip("._") or "learner"


def feedback_text(learner: str, rows: list[Row]) -> str:
    mine = [r for r in rows if r.learner == learner]
    done = sum(r.passed for r in mine)
    lines = [f"# Feedback for {learner}", "", f"{done} of {len(mine)} exercises passed.", ""]
    for notebook in dict.fromkeys(r.notebook for r in mine):
        lines.append(f"## {notebook}")
        lines.append("")
        for r in (r for r in mine if r.notebook == notebook):
            if r.passed:
                lines.append(f"- ✔ {r.exercise}")
            elif r.infrastructure:
                lines.append(f"- ? {r.exercise}: {_short(r.hint)}")
            else:
                lines.append(f"- ✘ {r.exercise} ({category(r.code)}): {_short(r.hint)}")
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


def html_report(rows: list[Row], sandboxed: bool = True) -> str:
    esc = html.escape
    exercises, learners = exercises_in_order(rows), learners_in_order(rows)
    cell = {(r.learner, r.exercise): r for r in rows}
    head = "".join(f"<th>{esc(e)}</th>" for e in exercises)
    body = []
    for learner in learners:
        tds = []
        for e in exercises:
            r = cell.get((learner, e))
            if r is None:
                tds.append('<td class="none">–</td>')
            elif r.passed:
                tds.append('<td class="ok">✔</td>')
            elif r.infrastructure:
                tds.append(f'<td class="infra" title="{esc(_short(r.hint))}">? <small>not graded</small></td>')
            else:
                tds.append(f'<td class="no" title="{esc(_short(r.hint))}">✘ <small>{esc(category(r.code))}</small></td>')
        total = sum(r.passed for r in rows if r.learner == learner)
        count = sum(1 for r in rows if r.learner == learner)
        body.append(f"<tr><th>{esc(learner)}</th>{''.join(tds)}<td class='total'>{total}/{count}</td></tr>")
    per_exercise = "".join(
        f"<td class='total'>{sum(r.passed for r in rows if r.exercise == e)}/"
        f"{sum(1 for r in rows if r.exercise == e)}</td>" for e in exercises)
    hints = common_hints(rows)
    hint_items = "".join(
        f"<li><b>{esc(e)}</b>: " + "; ".join(f"{esc(name)} ({n})" for name, n in hints[e]) + "</li>"
        for e in exercises if e in hints)
    infrastructure = sum(r.infrastructure for r in rows)
    graded = len(rows) - infrastructure
    infra = (f"; {infrastructure} could not be graded (infrastructure: the grader's failure, not the learners';"
             " grade again)") if infrastructure else ""
    warning = ("" if sandboxed else '<p class="warning"><b>These grades were made without a sandbox</b>'
               " (--no-sandbox): the learners' code ran with the grader's rights and could have changed them.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Gradflow class report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 4px 6px; text-align: center; }}
td.ok {{ background: #e3f4e1; }} td.infra {{ background: #eeeeee; }} .warning {{ color: #a00; }} td.no {{ background: #fbe3e1; }} td.total {{ font-weight: bold; }}
th {{ background: #f4f4f4; font-size: 85%; }}
</style></head><body>
<h1>Class report</h1>
{warning}<p>{len(learners)} learners, {len(exercises)} exercises, {sum(r.passed for r in rows)} of {graded} passed{infra}.
Hover over a ✘ to read its hint.</p>
<table><tr><th>learner</th>{head}<th>total</th></tr>
{''.join(body)}
<tr><th>passed</th>{per_exercise}<td></td></tr></table>
<h2>The most common hints per exercise</h2>
<ul>{hint_items or '<li>none: every exercise passed</li>'}</ul>
</body></html>
"""


def write_all(rows: list[Row], out: Path, sandboxed: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "grades.csv")
    write_atomically(out / "report.html", html_report(rows, sandboxed))
    write_feedback(rows, out / "feedback")
