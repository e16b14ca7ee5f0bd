"""Verdicts: one row per learner, notebook and exercise, from nbval's cells and the judge's answers.

An exercise passes when both agree: nbval ran its exercise cell and its
canonical check cell without an error, and the judge (outside the sandbox)
found the learner's function right on the public and hidden cases. A failure
of the grader's own machinery is a row "could not be graded
(infrastructure): …", never the learner's ✘.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from course.assess.hints import describe
from course.safe_run.nbval_log import INFRASTRUCTURE

INFRASTRUCTURE_CODE = "infrastructure"
HINT_CHARS = 2000  # a hint is cut here in every output, so a report stays small whatever a notebook printed


def short(hint: str) -> str:
    return hint if len(hint) <= HINT_CHARS else hint[:HINT_CHARS] + " …"


@dataclass(frozen=True)
class Row:
    learner: str
    notebook: str
    exercise: str
    passed: bool
    code: str  # "ok", a category of course.assess.hints, or one of the grader's own below
    hint: str
    points: float = 1.0  # what the exercise is worth (course.assess.points)
    score: float | None = None  # None until scored, and for a row that could not be graded
    # Partial credit (``grade(partial=True)``): the cases, public and hidden, the function passed, as
    # the judge counted them; None where the judge did not (all-or-nothing, or the row failed elsewhere).
    cases_passed: int | None = None
    cases_total: int | None = None

    @property
    def infrastructure(self) -> bool:
        return self.code == INFRASTRUCTURE_CODE

    @property
    def max_score(self) -> float:
        return self.points


def scored(row: Row, points: float, partial: bool = False) -> Row:
    """``row`` worth ``points``: all of them when passed, none when failed, no score when not graded.

    With ``partial``, a failed row whose cases the judge counted earns ``points`` times the share of
    them passed; a failure the judge did not count (a crash, a cell's timeout, an unreadable notebook,
    a function that did not finish) earns 0.
    """
    if row.infrastructure:
        score = None
    elif row.passed:
        score = points
    elif partial and row.cases_total and row.cases_passed < row.cases_total:  # a failed row never scores all
        score = points * row.cases_passed / row.cases_total
    else:
        score = 0.0
    return replace(row, points=points, score=score)


GRADER_CATEGORIES = {
    "unreadable": "the notebook could not be read",
    "unknown_notebook": "not a notebook of the course",
    "crash": "the kernel died",
    "cell_timeout": "a cell did not finish in time",
    "nbval": "the check cell failed under nbval",
    "limit": "a limit of the sandbox was reached",
    "no_verdict": "the check cell never reached the grader",
    INFRASTRUCTURE_CODE: "could not be graded (infrastructure)",
}


def category(code: str) -> str:
    return GRADER_CATEGORIES.get(code) or describe(code)


def infrastructure_row(learner: str, notebook: str, exercise: str, what: str) -> Row:
    return Row(learner, notebook, exercise, False, INFRASTRUCTURE_CODE,
               f"could not be graded (infrastructure): {what}. This is not the learner's failure; grade again.")


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return lines[0].strip()[:60] if lines else ""


def _classify(message: str, where: str, cell_timeout: float) -> tuple[str, str]:
    if INFRASTRUCTURE in message:
        return INFRASTRUCTURE_CODE, message[message.index(INFRASTRUCTURE) + len(INFRASTRUCTURE):].strip()
    if "Kernel dead" in message or "Failed to interrupt kernel" in message or "DeadKernel" in message:
        return "crash", f"The kernel died while running {where}; the cells after it could not run."
    if "Timeout of" in message:
        return "cell_timeout", (f"{where} did not finish within {cell_timeout:g} s, so the grader stopped it."
                                " Look for a loop that never ends.")
    lines = [line for line in message.strip().splitlines() if line.strip()]
    last = lines[-1][:300] if lines else "no message"
    if limit := _limit_reached(message, last):
        return "limit", f"{where} was stopped: {limit}. Python said: {last}"
    return "error", f"{where} raised an error under nbval: {last}"


def _limit_reached(message: str, last: str) -> str | None:
    """Which limit of the sandbox (``sandbox.Limits``) the cell's error shows, in plain words; None for others.

    The kernel sees a limit only as an ordinary error (EAGAIN from fork, MemoryError, ...), which
    says nothing to a learner who did not know the limit was there.
    """
    if ("[Errno 11]" in last and re.search(r"\bfork\b|_execute_child|posix_spawn", message)) \
            or "can't start new thread" in last:  # EAGAIN from fork: the process count
        return "the notebook started more processes than the sandbox allows (a fork bomb?)"
    if last.startswith("MemoryError"):  # the address-space limit
        return "the notebook asked for more memory than the sandbox allows"
    if "[Errno 28]" in last:  # ENOSPC: the private /tmp is full
        return "the notebook filled the disk space the sandbox gives it (a small private /tmp)"
    if "[Errno 27]" in last:  # EFBIG: the file-size limit
        return "the notebook wrote a file larger than the sandbox allows"
    return None


def _failure(key: str, cells: dict, first: int, last: int, sources: list[str],
             cell_timeout: float) -> tuple[str, str] | None:
    """The first cell from ``first`` to ``last`` that nbval failed, as (code, hint); None if all passed."""
    for number in range(first, last + 1):
        passed, message = cells.get((key, number), (False, "nbval did not run this cell"))
        if not passed:
            return _classify(message, f"cell {number} (`{_first_line(sources[number])}`)", cell_timeout)
    return None


def rows_for(learner: str, notebook: str, key: str, roles: list, sources: list[str], exercises: list[str],
             cells: dict, verdicts: dict[str, dict], cell_timeout: float) -> list[Row]:
    """The rows of one graded notebook. ``roles``/``sources``: its code cells in nbval's numbering."""
    rows = []
    # The cells before the learner's first exercise cell are the course's (the output guard, the imports):
    # no learner code has run when they fail, so that failure is the grader's, never the learner's ✘.
    first_learner_cell = next((i for i, (role, _) in enumerate(roles) if role == "exercise"), len(roles))
    course_cells = _failure(key, cells, 0, first_learner_cell - 1, sources, cell_timeout)
    if course_cells:
        what = course_cells[1] if course_cells[0] == INFRASTRUCTURE_CODE else \
            f"the course's own setup failed before any of the learner's code ran ({course_cells[1]})"
        return [infrastructure_row(learner, notebook, ident, what) for ident in exercises]
    for ident in exercises:
        check_cell = roles.index(("check", ident))
        own_cell = roles.index(("exercise", ident)) if ("exercise", ident) in roles else check_cell
        verdict = verdicts.get(ident)
        before = _failure(key, cells, 0, check_cell, sources, cell_timeout)
        own = _failure(key, cells, own_cell, own_cell, sources, cell_timeout)
        check = _failure(key, cells, check_cell, check_cell, sources, cell_timeout)
        if before and before[0] == INFRASTRUCTURE_CODE:
            rows.append(infrastructure_row(learner, notebook, ident, before[1]))
            continue
        if verdict is not None and verdict.get("infrastructure"):
            rows.append(infrastructure_row(learner, notebook, ident, verdict["message"]))
            continue
        counts = {}
        if own:
            code, hint = own
        elif verdict is not None and not verdict["passed"]:
            code, hint = verdict["code"], verdict["message"]
            counts = _counts(verdict)
        elif verdict is None and before:
            code, hint = before
        elif verdict is None:
            code, hint = "no_verdict", (f"The check cell of {ident} ran but never asked the grader: the notebook's"
                                        " code replaced the course's `check` (`course.check`), so nothing was"
                                        " checked. Leave the course's own functions as they are.")
        elif check:
            code, hint = check
        else:
            code, hint = "ok", ""
            counts = _counts(verdict)
        rows.append(Row(learner, notebook, ident, code == "ok", code, hint, **counts))
    return rows


def _counts(verdict: dict) -> dict:
    """The judge's count of cases passed, when it made one (partial credit), as Row fields."""
    try:
        passed, total = int(verdict["cases_passed"]), int(verdict["cases_total"])
    except (KeyError, TypeError, ValueError):
        return {}
    return {"cases_passed": passed, "cases_total": total} if 0 <= passed <= total else {}
