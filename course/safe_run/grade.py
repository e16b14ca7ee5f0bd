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
from dataclasses import dataclass, replace
from pathlib import Path

from course.safe_run.startup import skip_slow_optional_imports

skip_slow_optional_imports()  # before nbformat's first import: seconds of start-up saved (see startup.py)

import nbformat

from course.safe_run import preflight, sandbox
from course.safe_run.canonical import (Unreadable, canonical_notebook, code_cell_roles, learner_sources,
                                       master_exercises, read_submission)
from course.assess.points import exercise_points
from course.safe_run.collect import Submission, masters
from course.safe_run.identify import Found, identify
from course.safe_run.run import GradingError, Results, Settings, place, run
from course.safe_run.verdicts import (INFRASTRUCTURE_CODE, TWO_COPIES, UNKNOWN_NOTEBOOK, Row, category,  # noqa: F401
                                      rows_for,
                                      scored)  # (INFRASTRUCTURE_CODE and category re-exported)

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


def renamed(submission: Submission) -> str:
    """What the notebook was handed in as, when that is not the name of the notebook it is graded as."""
    return submission.handed_in if Path(submission.handed_in).name != submission.notebook else ""


def assignment_of(master_nbs: dict) -> dict[str, list[str]]:
    """Master file name -> its exercise ids, in course order: what ``identify`` recognises notebooks by."""
    return {name: [ident for ident, _ in master_exercises(nb)] for name, nb in master_nbs.items()}


def read_masters(solutions: Path) -> dict:
    return {name: nbformat.read(path, as_version=4) for name, path in masters(solutions).items()}


def problem_rows(found: Found, master_nbs: dict, solutions: Path) -> list[Row]:
    """The rows of what is not graded: a concept handed in twice (each of its exercises, 0 points, the files
    named), and a notebook that is no notebook of the course (one row, worth nothing)."""
    rows = []
    for (learner, name), copies in found.copies.items():
        files = [c.handed_in for c in copies]
        listed = ", ".join(files[:-1]) + " and " + files[-1]
        hint = (f"{len(files)} notebooks hold the exercises of {Path(name).stem}: {listed}. Neither was graded,"
                " since which one counts is yours to say: hand in only one of them.")
        rows += [Row(learner, name, ident, False, TWO_COPIES, hint, handed_in=", ".join(files))
                 for ident, _ in master_exercises(master_nbs[name])]
    for s in found.unknown:
        rows.append(Row(s.learner, s.path.name, "-", False, UNKNOWN_NOTEBOOK,
                        f"Not a notebook of the course: it holds no exercise of the course, and {solutions.name}/"
                        f" has no master named {s.path.name}.", handed_in=s.handed_in))
    return rows


def _canonical(submission: Submission, master) -> tuple[_Graded | None, list[Row]]:
    exercises = [ident for ident, _ in master_exercises(master)]
    try:
        nb = read_submission(submission.path)
    except Unreadable as exc:
        return None, [Row(submission.learner, submission.notebook, ident, False, "unreadable",
                          f"Could not read the notebook: {exc}.", handed_in=renamed(submission))
                      for ident in exercises]
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
            if renamed(g.submission):
                made = [replace(r, handed_in=renamed(g.submission)) for r in made]
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
          partial: bool = False, warm_kernels: bool = True, notebooks: list[str] | None = None) -> list[Row]:
    """Grade every submission; a broken one becomes rows that say what happened.

    Each notebook is graded as the master whose exercises it holds (``identify``), whatever its name.
    ``notebooks``: the masters (file names) of the assignment; a notebook of another concept is not graded
    (default: every master). Each row is scored with its exercise's points: all or nothing, or with
    ``partial`` the share of the exercise's cases (public and hidden) the function passed (``verdicts.scored``).
    """
    if use_sandbox:  # the kernels' own sandbox, started once: a machine that refuses it stops us in seconds
        started = preflight.check(limits, workdir=workdir)
        if not started.ok:
            raise GradingError(started.message())
    settings = Settings(secrets.randbelow(2**31) if seed is None else seed, cell_timeout, workers, time_limit,
                        use_sandbox, limits or sandbox.Limits(), kernel_attempts, kernel_backoff,
                        fail_kernel_starts, partial, warm_kernels)
    master_nbs = read_masters(solutions)
    found = identify(submissions, assignment_of(master_nbs))
    wanted = set(master_nbs if notebooks is None else notebooks)
    found.graded = [s for s in found.graded if s.master in wanted]
    found.copies = {key: copies for key, copies in found.copies.items() if key[1] in wanted}
    rows: dict[int, list[Row]] = {}
    graded: dict[int, _Graded] = {}
    for index, submission in enumerate(found.graded):
        made, rows[index] = _canonical(submission, master_nbs[submission.master])
        if made:
            graded[index] = made
    with tempfile.TemporaryDirectory(prefix="gradflow-grade-", dir=workdir) as tmp:
        if graded:
            rows.update(_run_with_retries(graded, Path(tmp), settings, bar, len(found.graded) - len(graded),
                                          retries, retry_pause))
    points = {name: exercise_points(master) for name, master in master_nbs.items()}
    # A row of no exercise (a notebook the course does not have) is worth nothing.
    return [scored(row, points.get(row.notebook, {}).get(row.exercise, 0.0), partial)
            for row in [row for index in sorted(rows) for row in rows[index]] + problem_rows(found, master_nbs, solutions)]
