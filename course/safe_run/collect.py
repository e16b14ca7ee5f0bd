"""Which notebooks are graded, and whose: every learner of a class, with or without notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    learner: str
    path: Path
    # The master (its file name) the notebook is graded as: found by the exercises it holds
    # (course.safe_run.identify), which may differ from its own name; "" until then.
    master: str = ""
    shown: str = ""  # the file as the learner handed it in (relative to their folder); the file name if ""

    @property
    def notebook(self) -> str:
        """The notebook of the course it is graded as (its own name until it was identified)."""
        return self.master or self.path.name

    @property
    def handed_in(self) -> str:
        return self.shown or self.path.name


def _notebooks_under(folder: Path) -> list[Path]:
    """A learner's notebooks: those under ``folder``, or only those under its ``exercises/`` when it has one
    with notebooks (a clone of the course: its lessons and solutions are not the learner's work)."""
    exercises = folder / "exercises"
    if not any(folder.glob("*.ipynb")) and any(exercises.glob("*.ipynb")):
        folder = exercises
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _is_one_learner(folder: Path) -> bool:
    return any(folder.glob("*.ipynb")) or any((folder / "exercises").glob("*.ipynb"))


def _learner_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def collect(paths: list[Path]) -> list[Submission]:
    """Submissions found in ``paths``.

    - a file: one notebook, whose learner is the folder it sits in;
    - a folder with notebooks directly in it (or in its ``exercises/``, then only those: a clone of the
      course also holds its lessons and solutions): one learner;
    - any other folder: a class, each sub-folder one learner.
    """
    found: list[Submission] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(Submission(path.resolve().parent.name, path))
        elif path.is_dir():
            if _is_one_learner(path):
                found += [Submission(path.resolve().name, p, shown=str(p.relative_to(path)))
                          for p in _notebooks_under(path)]
            else:
                for learner in _learner_folders(path):
                    found += [Submission(learner.name, p, shown=str(p.relative_to(learner)))
                              for p in _notebooks_under(learner)]
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return found


def learners(paths: list[Path]) -> list[str]:
    """Every learner ``collect`` finds in ``paths``, a learner whose folder holds no notebook included: the
    assignment gives them a row for every exercise too (not handed in)."""
    names: list[str] = []
    for path in map(Path, paths):
        if path.is_file():
            names.append(path.resolve().parent.name)
        elif path.is_dir():
            names += [path.resolve().name] if _is_one_learner(path) else [p.name for p in _learner_folders(path)]
    return list(dict.fromkeys(names))


def masters(solutions: Path) -> dict[str, Path]:
    """Notebook file name -> solved master, for every concept in ``solutions``."""
    return {p.name: p for p in sorted(Path(solutions).glob("*.ipynb"))}
