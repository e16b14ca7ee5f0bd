"""Which notebooks are graded, whose they are, and which master each one follows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    learner: str
    path: Path

    @property
    def notebook(self) -> str:
        return self.path.name


def _notebooks_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def collect(paths: list[Path]) -> list[Submission]:
    """Submissions found in ``paths``.

    - a file: one notebook, whose learner is the folder it sits in;
    - a folder with notebooks directly in it (or in its ``exercises/``): one learner;
    - any other folder: a class, each sub-folder one learner.
    """
    found: list[Submission] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(Submission(path.resolve().parent.name, path))
        elif path.is_dir():
            if any(path.glob("*.ipynb")) or any((path / "exercises").glob("*.ipynb")):
                found += [Submission(path.resolve().name, p) for p in _notebooks_under(path)]
            else:
                for learner in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
                    found += [Submission(learner.name, p) for p in _notebooks_under(learner)]
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return found


def masters(solutions: Path) -> dict[str, Path]:
    """Notebook file name -> solved master, for every concept in ``solutions``."""
    return {p.name: p for p in sorted(Path(solutions).glob("*.ipynb"))}
