"""A learner's own view: every exercise, done or not yet, with the current hint."""

from __future__ import annotations

from pathlib import Path

from course.assess.check import hidden_seed
from course.grading.collect import collect
from course.grading import sandbox
from course.grading.grade import Row, grade

HINT_CHARS = 110


def learner_progress(folder: Path, solutions: Path, **options) -> list[Row]:
    """Run the learner's exercise notebooks (with the seed their own check cells use) and judge them."""
    submissions = collect([Path(folder)])
    options.setdefault("seed", hidden_seed())
    # A learner's own notebooks, on any system: the sandbox where there is one.
    options.setdefault("use_sandbox", sandbox.bwrap() is not None)
    return grade(submissions, solutions, **options)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= HINT_CHARS else text[: HINT_CHARS - 1] + "…"


def progress_table(rows: list[Row]) -> str:
    width = max([len(r.exercise) for r in rows] + [8])
    lines = [f"{'exercise':<{width}}  done  hint"]
    for r in rows:
        mark = "✔" if r.passed else "✘"
        hint = "" if r.passed else _short(r.hint)
        lines.append(f"{r.exercise:<{width}}  {mark}     {hint}".rstrip())
    lines.append("")
    lines += concept_summary(rows)
    return "\n".join(lines)


def concept_summary(rows: list[Row]) -> list[str]:
    """One line per notebook (concept): "01_chain_rule: 5 of 7 done"."""
    summary = []
    for notebook in dict.fromkeys(r.notebook for r in rows):
        mine = [r for r in rows if r.notebook == notebook]
        summary.append(f"{Path(notebook).stem}: {sum(r.passed for r in mine)} of {len(mine)} done")
    return summary
