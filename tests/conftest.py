"""Shared paths and helpers for the test suite."""

from __future__ import annotations

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


def pytest_pycollect_makemodule(module_path, parent):
    """test_notebooks.py also collects every course notebook, each code cell a test (see notebook_items)."""
    if module_path.name == "test_notebooks.py":
        from notebook_items import NotebookModule

        return NotebookModule.from_parent(parent, path=module_path)
    return None


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")
