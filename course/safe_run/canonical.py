"""A learner's notebook rebuilt on its master's structure.

The graded notebook is the master's exercise notebook (check cells, setup
cells and their order as the course made them) with each exercise cell's
source replaced by what the learner wrote in the cell carrying the same
``gradflow.exercise`` id, and each check cell calling the course's `check`
by its module (``course_check``). Everything else the learner changed (a deleted,
edited, moved or duplicated check cell, extra cells) is left out, so it
changes nothing. Markdown is dropped: nbval does not run it.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path

import nbformat

from course.authoring.build import exercise_notebook, is_check_cell

# A notebook larger than this is not read (outputs saved by the learner can be huge).
MAX_NOTEBOOK_BYTES = 50_000_000
# Characters a graded notebook may print per stream before the rest is dropped.
OUTPUT_LIMIT = 100_000
# The graded notebook's first cell: what it prints is capped, and under the judge check() becomes its client.
GUARD_SOURCE = (f"import course.safe_run.client, course.safe_run.outputcap\n"
                f"course.safe_run.outputcap.install({OUTPUT_LIMIT})\ncourse.safe_run.client.plug_in()")
# A check cell imports the course's `check` and calls it: `check("01.mul_gate", mul_backward)`.
CHECK_CALL = re.compile(r"check(\(.*\))", re.S)


class Unreadable(ValueError):
    """The submission is not a notebook that can be graded; the message says why."""


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The learner's notebook, or ``Unreadable`` saying what is wrong with the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise Unreadable(f"the file is {size / 1e6:.0f} MB, more than the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB"
                             " a notebook may have (clear the outputs and save it again)")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the file is not text (UTF-8): {exc.reason}") from exc
    except OSError as exc:
        raise Unreadable(f"the file cannot be opened: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"the file is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise Unreadable("the file is JSON but not a Jupyter notebook (it has no list of cells)")
    try:
        with warnings.catch_warnings():  # duplicate cell ids and the like are the learner's, and harmless here
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for malformed notebooks
        raise Unreadable(f"the file is not a valid notebook: {str(exc).splitlines()[0][:200]}") from exc
    return nb


def exercise_id(cell) -> str | None:
    value = cell.get("metadata", {}).get("gradflow", {})
    return value.get("exercise") if isinstance(value, dict) and cell.get("cell_type") == "code" else None


def learner_sources(nb) -> dict[str, str]:
    """Exercise id -> the learner's source (the first cell with that id, when there are several)."""
    sources: dict[str, str] = {}
    for cell in nb.cells:
        ident = exercise_id(cell)
        if isinstance(ident, str) and ident not in sources:
            sources[ident] = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    return sources


def master_exercises(master: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(exercise id, function name) of each check cell in the master, in order."""
    found = []
    for cell in master.cells:
        if is_check_cell(cell):
            ident = cell.metadata["gradflow"]["check"]
            found.append(ident)
    from course.assess.registry import get_exercise

    return [(ident, get_exercise(ident).function) for ident in found]


def canonical_notebook(master: nbformat.NotebookNode, sources: dict[str, str],
                       guard: bool = True) -> nbformat.NotebookNode:
    """The master's exercise notebook with the learner's exercise cells put in."""
    nb = exercise_notebook(master)
    cells = []
    if guard:
        cells.append(nbformat.v4.new_code_cell(GUARD_SOURCE, metadata={"gradflow": {"guard": True}}))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell = copy.deepcopy(cell)
        ident = exercise_id(cell)
        if ident in sources:
            cell.source = sources[ident]
        elif is_check_cell(cell):
            cell.source = course_check(cell.source)
        cells.append(cell)
    nb.cells = cells
    return nb


def course_check(source: str) -> str:
    """The check cell calling the course's own `check`, whatever the notebook named `check`.

    A learner who defines a function `check` (their own helper, or a fake
    that prints success) would otherwise turn every later check cell into a
    call of it: no exercise after it would get a verdict. Looked up in the
    course module at the call, each exercise gets its own; a notebook that
    replaces the course's `check` itself still gets none (``no_verdict``).
    """
    head, _, call = source.strip().rpartition("\n")  # the call is the last line, below `from course import check`
    match = CHECK_CALL.fullmatch(call.strip())
    return f'{head}\n__import__("course").check{match.group(1)}'.lstrip("\n") if match else source


def code_cell_roles(nb) -> list[tuple[str, str | None]]:
    """For each code cell, in nbval's numbering: ("guard" | "check" | "exercise" | "setup", exercise id)."""
    roles = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("gradflow", {})
        if meta.get("guard"):
            roles.append(("guard", None))
        elif "check" in meta:
            roles.append(("check", meta["check"]))
        elif "exercise" in meta:
            roles.append(("exercise", meta["exercise"]))
        else:
            roles.append(("setup", None))
    return roles
