"""Grade submissions, as its stages: collect -> canonical -> sandboxed run -> verdicts (-> report).

Each stage is a module with one job:

- ``collect``: which notebooks, whose, and which master each follows;
- ``canonical``: each notebook rebuilt on its master (check cells restored);
- ``run``: all of them under nbval, every kernel in its learner's sandbox (``sandbox``, ``pool``),
  the judge (``judge``) answering the check cells from outside;
- ``verdicts``: one row per learner, notebook and exercise;
- ``report`` (called by the command): grades.csv, report.html, feedback.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course.safe_run.startup import skip_slow_optional_imports

skip_slow_optional_imports()  # before nbformat's first import: seconds of start-up saved (see startup.py)

import nbformat

from course.safe_run import sandbox
from course.safe_run.canonical import (Unreadable, canonical_notebook, code_cell_roles, learner_sources,
                                       master_exercises, read_submission)
from course.assess.points import exercise_points
from course.safe_run.collect import Submission, masters
from course.safe_run.run import GradingError, Results, Settings, place, run
from course.safe_run.verdicts import INFRASTRUCTURE_CODE, Row, category, rows_for, scored  # noqa: F401  (re-exported)

DEFAULT_CELL_TIMEOUT = 120.0  # wall seconds: generous, since a busy machine is not a slow notebook
# nbval workers for a class: one more than this machine's two cores, since a worker waits for its kernel's
# start and for the judge part of the time (40 learners, paired: 129.7 s with 3 against 142.4 s with 2,
# the same CPU). One learner (Gradescope, progress) keeps 2: each worker's group gets a warm sandbox.
DEFAULT_WORKERS = 3
# Notebooks whose kernel never started are run again this many times (after the
# kernel's own retries), with a pause that grows: a busy machine needs time.
NOTEBOOK_RETRIES = 2
RETRY_PAUSE = 10.0


@dataclass
class _Graded:
    submission: Submission
    name: str
    canon: object
    roles: list
    sources: list[str]
    exercises: list[str]


def _canonical(submission: Submission, master) -> tuple[_Graded | None, list[Row]]:
    exercises = [ident for ident, _ in master_exercises(master)]
    try:
        nb = read_submission(submission.path)
    except Unreadable as exc:
        return None, [Row(submission.learner, submission.notebook, ident, False, "unreadable",
                          f"Could not read the notebook: {exc}.") for ident in exercises]
    canon = canonical_notebook(master, learner_sources(nb))
    roles = code_cell_roles(canon)
    sources = [c.source for c in canon.cells if c.cell_type == "code"]
    return _Graded(submission, submission.notebook, canon, roles, sources, exercises), []


def _run_with_retries(graded: dict[int, _Graded], tmp: Path, settings: Settings, bar, offset: int,
                      retries: int, pause: float) -> dict[int, list[Row]]:
    rows: dict[int, list[Row]] = {}
    pending = dict(graded)
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(pause * attempt)
        workdir = Path(tempfile.mkdtemp(prefix=f"run{attempt}-", dir=tmp))
        keys = {index: place(workdir, index, g.name, g.canon) for index, g in pending.items()}
        notebooks = {keys[i]: (len(g.roles), g.exercises) for i, g in pending.items()}
        results: Results = run(notebooks, workdir, settings,
                               on_progress=(lambda done: bar.update(offset + len(rows) + done)) if bar
                               else (lambda done: None),
                               learners={keys[i]: g.submission.learner for i, g in pending.items()})
        again = {}
        for index, g in pending.items():
            made = rows_for(g.submission.learner, g.name, keys[index], g.roles, g.sources, g.exercises,
                            results.cells, results.verdicts.get(keys[index], {}), settings.cell_timeout)
            if any(r.code == INFRASTRUCTURE_CODE for r in made) and attempt < retries:
                again[index] = g
            else:
                rows[index] = made
        pending = again
        if not pending:
            break
    return rows


def grade(submissions: list[Submission], solutions: Path, *, seed: int | None = None,
          cell_timeout: float = DEFAULT_CELL_TIMEOUT, workers: int = DEFAULT_WORKERS, time_limit: float | None = None,
          bar=None, workdir: Path | None = None, use_sandbox: bool = True,
          limits: sandbox.Limits | None = None, retries: int = NOTEBOOK_RETRIES, retry_pause: float = RETRY_PAUSE,
          kernel_attempts: int = 4, kernel_backoff: float = 5.0, fail_kernel_starts: int = 0,
          partial: bool = False, warm_kernels: bool = True) -> list[Row]:
    """Grade every submission; a broken one becomes rows that say what happened.

    Each row is scored with its exercise's points: all or nothing, or with ``partial`` the share of
    the exercise's cases (public and hidden) the function passed (``verdicts.scored``).
    """
    if use_sandbox and not sandbox.bwrap():
        raise GradingError("bubblewrap (bwrap) is not installed: run scripts/install-sandbox.sh,"
                           " or grade with --no-sandbox (the report then says so)")
    settings = Settings(secrets.randbelow(2**31) if seed is None else seed, cell_timeout, workers, time_limit,
                        use_sandbox, limits or sandbox.Limits(), kernel_attempts, kernel_backoff,
                        fail_kernel_starts, partial, warm_kernels)
    master_nbs = {name: nbformat.read(path, as_version=4) for name, path in masters(solutions).items()}
    rows: dict[int, list[Row]] = {}
    graded: dict[int, _Graded] = {}
    for index, submission in enumerate(submissions):
        if submission.notebook not in master_nbs:
            rows[index] = [Row(submission.learner, submission.notebook, "-", False, "unknown_notebook",
                               f"Not a notebook of the course: {solutions.name}/ has no master named"
                               f" {submission.notebook}.")]
            continue
        made, rows[index] = _canonical(submission, master_nbs[submission.notebook])
        if made:
            graded[index] = made
    with tempfile.TemporaryDirectory(prefix="gradflow-grade-", dir=workdir) as tmp:
        if graded:
            rows.update(_run_with_retries(graded, Path(tmp), settings, bar, len(submissions) - len(graded),
                                          retries, retry_pause))
    points = {name: exercise_points(master) for name, master in master_nbs.items()}
    # A row of no exercise (a notebook the course does not have) is worth nothing.
    return [scored(row, points.get(row.notebook, {}).get(row.exercise, 0.0), partial)
            for index in sorted(rows) for row in rows[index]]
