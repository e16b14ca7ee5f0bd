"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from pathlib import Path

from leftovers import Snapshot, owns, private_tmp

# Before anything makes a temporary file: the session's own TMPDIR, checked and removed at its end.
PRIVATE_TMP = private_tmp()

import matplotlib  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

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


# `make test` hands out test files (pytest-xdist, --dist loadfile --no-loadscope-reorder) in the
# order below, so the long ones start at once instead of last (xdist's own order, by number of tests,
# started the browser suites after 13 minutes of a 26-minute run):
# 1. the grading class: the longest fixture, holding both kernel slots (tests/kernels.py);
# 2. the checks in a browser and the grader's failing-kernel test, which mostly waits: long when
#    they run, quick or skipped without GRADFLOW_REQUIRE_BROWSER. The site and the slides first (no
#    kernel: they run beside the grading class), then the two halves of the lessons in JupyterLab (one
#    kernel slot per lesson while it runs);
# 3. files that start no kernel, which keep the other core busy while the grading class runs;
# 4. the notebooks and the other files that run kernels (each waits for a slot).
# A file in the wrong group only costs time, never a verdict.
FIRST = ("test_grading.py",)
EARLY = ("test_site.py", "test_slides.py", "test_browser.py", "test_browser_other_half.py", "test_grading_infrastructure.py")
KERNELS = ("test_early_check.py", "test_execute.py", "test_kernels.py", "test_lab.py", "test_progress.py",
           "test_wrong_solution_notebook.py")


def start_order(path: Path) -> tuple[int, int]:
    if path.name in FIRST:
        return 0, 0
    if path.name in EARLY:
        return 1, EARLY.index(path.name)
    if path.suffix == ".ipynb" or path.name in KERNELS:
        return 3, 0
    return 2, 0


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: start_order(item.path))  # stable: each file's tests keep their order


def pytest_pycollect_makemodule(module_path, parent):
    """test_notebooks.py also collects every course notebook, each code cell a test (see notebook_items)."""
    if module_path.name == "test_notebooks.py":
        from notebook_items import NotebookModule

        return NotebookModule.from_parent(parent, path=module_path)
    return None


# What the worker started with. The grader's judge raises both for its run (deep graphs are pickled
# across the sandbox's wall) and leaves them raised; a test run after a grading test in the same
# worker would inherit a recursion limit of 100,000, and a learner's recursive backward would pass
# checks that stop it in a learner's kernel.
RECURSION_LIMIT = sys.getrecursionlimit()
THREAD_STACK = threading.stack_size()


@pytest.fixture(autouse=True)
def process_limits_as_at_start():
    """Every test starts with the worker's own recursion limit and thread stack size."""
    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(THREAD_STACK)


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


@pytest.fixture
def socket_dir():
    """A folder with a short path (a unix socket's path is at most 107 bytes), removed after the test."""
    folder = Path(tempfile.mkdtemp(prefix="sock-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ----- nothing left behind (tests/leftovers.py) -------------------------------------------------------

def pytest_sessionstart(session):
    if owns(PRIVATE_TMP):  # the process that made the private TMPDIR: xdist's controller, or a lone pytest
        session.config.stash[LEFTOVERS] = Snapshot(PRIVATE_TMP, ROOT)


def pytest_sessionfinish(session, exitstatus):
    snapshot = session.config.stash.get(LEFTOVERS, None)
    if snapshot is None:
        return
    found = snapshot.leftovers()
    snapshot.remove_private()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if snapshot.notes and reporter:
        reporter.ensure_newline()
        for line in snapshot.notes:
            reporter.write_line(line, yellow=True)
    if found:
        lines = ["The test session left these behind (a test that makes a file or folder removes it;"
                 " only names of the course's own prefixes count in /tmp):", *(f"  {f}" for f in found)]
        if reporter:
            reporter.ensure_newline()
        for line in lines:
            reporter.write_line(line, red=True) if reporter else print(line, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


LEFTOVERS = pytest.StashKey[Snapshot]()
