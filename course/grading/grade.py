"""Grade submissions: one row per learner, notebook and exercise.

An exercise passes when both agree: nbval ran its canonical check cell
without an error, and the judge (a clean process the learner's code cannot
forge) found the learner's function right on the public and hidden cases.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course.assess.hints import describe
from course.grading.canonical import (Unreadable, canonical_notebook, code_cell_roles, learner_sources,
                                      master_exercises, read_submission)
from course.grading.collect import Submission, masters
from course.grading.session import run_all

DEFAULT_CELL_TIMEOUT = 30.0
CRASH_RETRIES = 3


@dataclass(frozen=True)
class Row:
    learner: str
    notebook: str
    exercise: str
    passed: bool
    code: str  # "ok", a category of course.assess.hints, or one of the grader's own below
    hint: str


GRADER_CATEGORIES = {
    "unreadable": "the notebook could not be read",
    "unknown_notebook": "not a notebook of the course",
    "crash": "the kernel died",
    "cell_timeout": "a cell did not finish in time",
    "nbval": "the check cell failed under nbval",
    "tampering": "the notebook changed the checking code",
}


def category(code: str) -> str:
    return GRADER_CATEGORIES.get(code) or describe(code)


@dataclass
class _Job:
    index: int
    submission: Submission
    key: str
    roles: list
    exercises: list
    cells: list  # [source, exercise id or None] of the code cells the judge runs


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return lines[0].strip()[:60] if lines else ""


def _classify(message: str, where: str, cell_timeout: float) -> tuple[str, str]:
    if "Kernel dead" in message or "Failed to interrupt kernel" in message or "DeadKernel" in message:
        return "crash", f"The kernel died while running {where}; the cells after it could not run."
    if "Timeout of" in message:
        return "cell_timeout", (f"{where} did not finish within {cell_timeout:g} s, so the grader stopped it."
                                " Look for a loop that never ends.")
    last = [line for line in message.strip().splitlines() if line.strip()]
    return "error", f"{where} raised an error under nbval: {last[-1][:300] if last else 'no message'}"


def _nbval_failure(job: _Job, results: dict, first: int, last: int, cell_timeout: float,
                   sources: list) -> tuple[str, str] | None:
    """The first cell from ``first`` to ``last`` that nbval failed, as (code, hint); None if all passed."""
    for number in range(first, last + 1):
        passed, message = results.get((job.key, number), (False, "nbval did not run this cell"))
        if not passed:
            return _classify(message, f"cell {number} (`{_first_line(sources[number])}`)", cell_timeout)
    return None


def _prepare(index: int, submission: Submission, master, workdir: Path) -> tuple[_Job | None, list[Row]]:
    exercises = master_exercises(master)
    try:
        nb = read_submission(submission.path)
    except Unreadable as exc:
        return None, [Row(submission.learner, submission.notebook, ident, False, "unreadable",
                          f"Could not read the notebook: {exc}.") for ident, _ in exercises]
    canon = canonical_notebook(master, learner_sources(nb))
    key = f"s{index:04d}/{submission.notebook}"
    (workdir / key).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(canon, workdir / key)
    roles = code_cell_roles(canon)
    code = [c for c in canon.cells if c.cell_type == "code"]
    cells = [[cell.source, ident if role == "exercise" else None]
             for cell, (role, ident) in zip(code, roles) if role in ("setup", "exercise")]
    return _Job(index, submission, key, roles, exercises, cells), []


def grade(submissions: list[Submission], solutions: Path, *, seed: int | None = None,
          cell_timeout: float = DEFAULT_CELL_TIMEOUT, workers: int = 2, time_limit: float | None = None,
          bar=None, workdir: Path | None = None) -> list[Row]:
    """Grade every submission; a broken one becomes rows that say what happened."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    known = masters(solutions)
    master_nbs = {name: nbformat.read(path, as_version=4) for name, path in known.items()}
    with tempfile.TemporaryDirectory(prefix="gradflow-grade-", dir=workdir) as tmp:
        tmp = Path(tmp)
        rows_by_index: dict[int, list[Row]] = {}
        jobs: list[_Job] = []
        for index, submission in enumerate(submissions):
            if submission.notebook not in master_nbs:
                rows_by_index[index] = [Row(submission.learner, submission.notebook, "-", False,
                                            "unknown_notebook", f"Not a notebook of the course: {solutions.name}/"
                                            f" has no master named {submission.notebook}.")]
                continue
            job, rows = _prepare(index, submission, master_nbs[submission.notebook], tmp)
            rows_by_index[index] = rows
            if job:
                jobs.append(job)
        tasks = [_task(job, cell_timeout, time_limit) for job in jobs]
        notebooks = {job.key: len(job.roles) for job in jobs}
        results, judged = run_all(notebooks, tasks, tmp, seed, cell_timeout, workers, time_limit,
                                  on_progress=(lambda done: bar.update(done + len(submissions) - len(jobs)))
                                  if bar else (lambda done: None))
        judged = _retry_crashes(jobs, judged, cell_timeout, time_limit, seed)
        for job in jobs:
            rows_by_index[job.index] = _rows(job, results, judged[job.key], cell_timeout)
    return [row for index in sorted(rows_by_index) for row in rows_by_index[index]]


def _task(job: _Job, cell_timeout: float, time_limit: float | None, blank=()) -> dict:
    # Long enough for every cell and every exercise's own time limit, with room to spare.
    deadline = cell_timeout * len(job.cells) + (time_limit or 10.0) * len(job.exercises) + 30
    cells = [["" if number in blank else source, ident] for number, (source, ident) in enumerate(job.cells)]
    return {"op": "task", "key": job.key, "cells": cells, "exercises": job.exercises,
            "cell_timeout": cell_timeout, "time_limit": time_limit, "deadline": deadline}


def _retry_crashes(jobs, judged, cell_timeout, time_limit, seed):
    """A notebook whose cell ended the judge's process is judged again without that cell."""
    from course.grading.session import Judge

    again = [job for job in jobs if "error" in judged[job.key] and judged[job.key].get("cell") is not None]
    if not again:
        return judged
    judge = Judge()
    try:
        for job in again:
            blank, result = [], judged[job.key]
            for _ in range(CRASH_RETRIES):
                if "error" not in result or result.get("cell") is None or result["cell"] in blank:
                    break
                blank.append(result["cell"])
                result = judge.judge(_task(job, cell_timeout, time_limit, blank), seed)
            first = judged[job.key]
            result["crashed"] = {job.cells[n][1]: first["error"] for n in blank if job.cells[n][1]}
            judged[job.key] = result
    finally:
        judge.close()
    return judged


def _rows(job: _Job, results: dict, judged: dict, cell_timeout: float) -> list[Row]:
    sources = []
    judge_cells = iter(job.cells)
    for role, _ in job.roles:
        sources.append(next(judge_cells)[0] if role in ("setup", "exercise") else "check(...)")
    verdicts = {v["exercise"]: v for v in judged.get("verdicts", [])}
    crashed = judged.get("crashed", {})
    rows = []
    for ident, function in job.exercises:
        check_cell = job.roles.index(("check", ident))
        own_cell = job.roles.index(("exercise", ident)) if ("exercise", ident) in job.roles else check_cell
        verdict = verdicts.get(ident)
        nbval_check = _nbval_failure(job, results, check_cell, check_cell, cell_timeout, sources)
        nbval_own = _nbval_failure(job, results, own_cell, own_cell, cell_timeout, sources)
        if ident in crashed:
            code, hint = "crash", (f"Running the cell of {ident} did not end normally ({crashed[ident]}):"
                                   " it ended the Python process or never finished; the cells after it"
                                   " could not run under nbval.")
        elif verdict is not None and verdict["code"] == "tampering":
            code, hint = verdict["code"], verdict["message"]
        elif nbval_own:
            code, hint = nbval_own
        elif verdict is None:
            code, hint = (_nbval_failure(job, results, 0, check_cell, cell_timeout, sources) if nbval_check
                          else ("crash", f"The grader's own run of this notebook failed: {judged.get('error')}."))
        elif not verdict["passed"]:
            code, hint = verdict["code"], verdict["message"]
        elif nbval_check:
            code, hint = _nbval_failure(job, results, 0, check_cell, cell_timeout, sources)
        else:
            code, hint = "ok", ""
        rows.append(Row(job.submission.learner, job.submission.notebook, ident, code == "ok", code, hint))
    return rows
