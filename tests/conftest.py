"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")  # tests draw figures without a screen

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "notebooks"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


def notebooks_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


def is_draft(stem: str) -> bool:
    """A concept made by `python -m course new` stays a draft until its lesson's mark is removed."""
    lesson = LESSONS / f"{stem}.ipynb"
    return lesson.exists() and bool(read(lesson).metadata.get("gradflow", {}).get("draft"))


def published_lessons() -> list[Path]:
    """The lessons the course map, the instructor guide and the browser tests must cover (no drafts)."""
    return [p for p in notebooks_in(LESSONS) if not is_draft(p.stem)]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def gradflow(cell) -> dict:
    return cell.metadata.get("gradflow", {})


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def run_pytest(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run pytest in a child process from the project root (for nbval runs)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")
