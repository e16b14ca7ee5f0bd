"""Sums over graded rows: scores per learner and concept, pass rates, the mistakes a class made most.

The reports (course.gradebook.report, report_html) and the gradebook export
(course.gradebook.canvas) all count the same way, here. A concept is a notebook
of the course (``01_chain_rule.ipynb`` is the concept ``01_chain_rule``); a
row of a notebook the course does not have belongs to no concept and counts
nowhere. A row that could not be graded (infrastructure) has no score: it
adds nothing to a total, and the total says how many such rows it lacks.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import PurePath

from course.assess.hints import CATEGORIES
from course.safe_run.verdicts import Row

UNKNOWN_NOTEBOOK = "unknown_notebook"
# Failures that are not a misconception to teach again: the function is not written yet.
NOT_A_MISCONCEPTION = {"not_done"}


def concept(notebook: str) -> str:
    return PurePath(notebook).stem


def course_rows(rows: list[Row]) -> list[Row]:
    """The rows of the course's own notebooks (a notebook with no master is no concept)."""
    return [r for r in rows if r.code != UNKNOWN_NOTEBOOK]


def concepts_in_order(rows: list[Row]) -> list[str]:
    return sorted({concept(r.notebook) for r in course_rows(rows)})


def learners_in_order(rows: list[Row]) -> list[str]:
    return sorted({r.learner for r in rows}, key=lambda name: (name.casefold(), name))


def exercises_of(rows: list[Row], name: str) -> list[str]:
    """The exercises of concept ``name``, in the order the rows give them (the master's)."""
    return list(dict.fromkeys(r.exercise for r in course_rows(rows) if concept(r.notebook) == name))


@dataclass
class Total:
    score: float = 0.0  # points earned on the rows that were graded
    max_score: float = 0.0  # points of every row, graded or not
    passed: int = 0
    exercises: int = 0
    ungraded: int = 0  # rows that could not be graded (infrastructure): the score lacks them

    def add(self, row: Row) -> None:
        self.exercises += 1
        self.max_score += row.max_score
        self.passed += row.passed
        if row.score is None:
            self.ungraded += 1
        else:
            self.score += row.score

    @property
    def complete(self) -> bool:
        return not self.ungraded


def by_learner_and_concept(rows: list[Row]) -> dict[tuple[str, str], Total]:
    totals: dict[tuple[str, str], Total] = defaultdict(Total)
    for r in course_rows(rows):
        totals[(r.learner, concept(r.notebook))].add(r)
    return dict(totals)


def by_learner(rows: list[Row]) -> dict[str, Total]:
    totals: dict[str, Total] = {learner: Total() for learner in learners_in_order(rows)}
    for r in course_rows(rows):
        totals[r.learner].add(r)
    return totals


@dataclass
class Rate:
    exercise: str
    concept: str
    passed: int = 0
    graded: int = 0  # learners whose row was graded (infrastructure rows left out)

    @property
    def share(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


def pass_rates(rows: list[Row]) -> list[Rate]:
    """Per exercise, in course order: how many of the learners graded on it passed it."""
    rates: dict[str, Rate] = {}
    for r in course_rows(rows):
        rate = rates.setdefault(r.exercise, Rate(r.exercise, concept(r.notebook)))
        if not r.infrastructure:
            rate.graded += 1
            rate.passed += r.passed
    return sorted(rates.values(), key=lambda rate: rate.concept)  # stable: the master's order inside


@dataclass
class Mistake:
    code: str
    learners: set = field(default_factory=set)
    exercises: Counter = field(default_factory=Counter)

    @property
    def description(self) -> str:
        return CATEGORIES[self.code]


def misconceptions(rows: list[Row], top: int = 10) -> list[Mistake]:
    """The categories of mistakes the most learners made (not the grader's own failures, nor
    exercises not yet written), most learners first; each with the exercises where it was seen."""
    found: dict[str, Mistake] = {}
    for r in course_rows(rows):
        if r.passed or r.code not in CATEGORIES or r.code in NOT_A_MISCONCEPTION:
            continue
        mistake = found.setdefault(r.code, Mistake(r.code))
        mistake.learners.add(r.learner)
        mistake.exercises[r.exercise] += 1
    ranked = sorted(found.values(), key=lambda m: (-len(m.learners), -sum(m.exercises.values()), m.code))
    return ranked[:top]


def number(value: float | None) -> str:
    """A score as people write it: 3, 2.5, 0.33 (two decimals at most); '' for no score."""
    if value is None:
        return ""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
