"""An assignment: a fixed set of exercises, every learner graded on all of them.

By default every concept of the course (every master in solutions/);
``--concepts 01,03`` (numbers or stems) grades a subset. Every learner the
class folder names, whatever they handed in, gets one row per exercise of
the assignment, in course order: an exercise of a notebook they did not hand
in is "not handed in", worth its points and scored 0. So every total (the
feedback, the report, grades.csv, Canvas, Gradescope) is out of the
assignment's full points, and a learner who handed in two notebooks of seven
does not read 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course.assess.points import exercise_points
from course.safe_run.canonical import master_exercises
from course.safe_run.grade import read_masters
from course.safe_run.verdicts import NOT_HANDED_IN, UNKNOWN_NOTEBOOK, Row


class AssignmentError(ValueError):
    """An assignment that cannot be made (a concept the course does not have); the message says which."""


@dataclass(frozen=True)
class Assignment:
    notebooks: tuple[str, ...]  # master file names, in course order
    exercises: dict  # master file name -> ((exercise id, points), ...)

    @classmethod
    def of(cls, solutions: Path, concepts: list[str] | None = None) -> "Assignment":
        """The assignment of the masters in ``solutions``: all of them, or the ``concepts`` named."""
        master_nbs = read_masters(solutions)
        names = list(master_nbs) if not concepts else pick(concepts, list(master_nbs))
        exercises = {}
        for name in names:
            points = exercise_points(master_nbs[name])
            exercises[name] = tuple((ident, points[ident]) for ident, _ in master_exercises(master_nbs[name]))
        return cls(tuple(names), exercises)

    @property
    def points(self) -> float:
        return sum(p for exercises in self.exercises.values() for _, p in exercises)

    @property
    def count(self) -> int:
        return sum(len(exercises) for exercises in self.exercises.values())

    def describe(self) -> list[str]:
        """For rows.json: what a merge must find the same in every shard."""
        return [f"{name}:{ident}:{points:g}" for name in self.notebooks for ident, points in self.exercises[name]]

    def complete(self, rows: list[Row], learners: list[str] = ()) -> list[Row]:
        """Every learner's rows over the whole assignment, in course order: the rows graded, and for each
        notebook not handed in a row per exercise, "not handed in", 0 points of its points. ``learners``: who
        is in the class, rows or none (a learner whose folder is empty). A notebook not of the course keeps
        its row (worth nothing), after the learner's others."""
        names = list(dict.fromkeys([*learners, *(r.learner for r in rows)]))
        mine: dict[str, list[Row]] = {name: [] for name in names}
        for r in rows:
            mine[r.learner].append(r)
        done = []
        for learner in names:
            by_notebook: dict[str, list[Row]] = {}
            for r in mine[learner]:
                by_notebook.setdefault(r.notebook, []).append(r)
            for name in self.notebooks:
                done += by_notebook.pop(name, None) or not_handed_in(learner, name, self.exercises[name])
            done += [r for rows_ in by_notebook.values() for r in rows_ if r.code == UNKNOWN_NOTEBOOK]
        return done


def not_handed_in(learner: str, notebook: str, exercises) -> list[Row]:
    stem = Path(notebook).stem
    return [Row(learner, notebook, ident, False, NOT_HANDED_IN,
                f"Not handed in: no notebook holding the exercises of {stem} was found, so its {len(exercises)}"
                " exercises score 0 (any file name works: the grader recognises the course's notebooks by their"
                " exercises).", points, 0.0)
            for ident, points in exercises]


def pick(concepts: list[str], names: list[str]) -> list[str]:
    """The masters ``concepts`` name (``01``, ``1``, ``01_chain_rule`` or ``01_chain_rule.ipynb``), in course
    order; AssignmentError naming any the course does not have."""
    chosen, unknown = set(), []
    for wanted in (c.strip() for c in concepts if c.strip()):
        stem = wanted.removesuffix(".ipynb")
        hits = [n for n in names if Path(n).stem == stem
                or (stem.isdigit() and Path(n).stem.split("_", 1)[0].lstrip("0") == stem.lstrip("0"))]
        if len(hits) != 1:
            unknown.append(wanted)
        chosen.update(hits[:1])
    if unknown:
        raise AssignmentError(f"--concepts: the course has no concept {', '.join(map(repr, unknown))}; its concepts"
                              f" are {', '.join(Path(n).stem for n in names)}")
    return [n for n in names if n in chosen]


def parse_concepts(text: str | None) -> list[str] | None:
    """``"01,03"`` -> ["01", "03"]; None (every concept) for no value."""
    return [c for c in text.split(",") if c.strip()] if text else None
