"""Which notebook of the course a handed-in notebook is: found by what it holds, not by its name.

One rule for ``course grade``, ``course progress`` and Gradescope (all three
go through ``grade``): a notebook is the master whose exercises its cells
carry most (the ``gradflow`` metadata of its exercise and check cells), so a
renamed copy (``03_matmul_gradients-Copy1.ipynb``, ``homework.ipynb``) is
graded as its concept and its rows say what it was handed in as. A notebook
that carries no exercise of the course (unreadable, or its metadata gone) is
the master whose name it has; failing that, the only notebook handed in to an
assignment of one notebook is that notebook (a broken upload still gets its
rows); anything else is not a notebook of the course. Two notebooks of one
learner that are the same concept are neither graded: which one the learner
meant is theirs to say, not the grader's to guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from course.safe_run.canonical import Unreadable, read_submission
from course.safe_run.collect import Submission


@dataclass
class Found:
    graded: list[Submission] = field(default_factory=list)  # each with its master, one per learner and master
    copies: dict[tuple[str, str], list[Submission]] = field(default_factory=dict)  # (learner, master) -> 2 or more
    unknown: list[Submission] = field(default_factory=list)  # not a notebook of the course


def exercise_ids(submission: Submission) -> set[str]:
    """The exercise ids the notebook's cells carry (none when it cannot be read)."""
    try:
        nb = read_submission(submission.path)
    except Unreadable:
        return set()
    ids = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("gradflow", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict):
            ids.update(str(meta[k]) for k in ("exercise", "check") if isinstance(meta.get(k), str))
    return ids


def _master_of(submission: Submission, assignment: dict[str, list[str]]) -> tuple[str | None, bool]:
    """(the master it is, or None; whether it carries any exercise id at all)."""
    ids = exercise_ids(submission)
    overlap = {name: len(ids & set(exercises)) for name, exercises in assignment.items()}
    best = max(overlap.values(), default=0)
    if best > 0:
        # A tie (cells of two concepts pasted together) goes to the master it is named as, else the first.
        tied = [name for name, count in overlap.items() if count == best]
        return (submission.path.name if submission.path.name in tied else tied[0]), True
    return (submission.path.name if submission.path.name in assignment else None), bool(ids)


def identify(submissions: list[Submission], assignment: dict[str, list[str]]) -> Found:
    """Each submission's master among ``assignment`` (master file name -> its exercise ids, in course order).

    A submission whose ``master`` is already set keeps it (a caller that identified it before).
    """
    found = Found()
    by_learner: dict[str, list[Submission]] = {}
    for s in submissions:
        by_learner.setdefault(s.learner, []).append(s)
    candidates: dict[tuple[str, str], list[Submission]] = {}
    for learner, mine in by_learner.items():
        for s in mine:
            master, carries_ids = (s.master, True) if s.master else _master_of(s, assignment)
            if master is None and not carries_ids and len(assignment) == 1 and len(mine) == 1:
                master = next(iter(assignment))  # a broken upload, the only one, to a one-notebook assignment
            if master is None:
                found.unknown.append(s)
            else:
                candidates.setdefault((learner, master), []).append(replace(s, master=master))
    for key, copies in candidates.items():
        if len(copies) == 1:
            found.graded.append(copies[0])
        else:
            found.copies[key] = copies
    return found
