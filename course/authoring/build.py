"""Build the learner's notebooks in exercises/ from the solved masters in solutions/.

In a master, each exercise's solution sits between two marker lines::

    def mul_backward(x, y, dout):
        \"\"\"...\"\"\"
        ### BEGIN SOLUTION
        return y * dout, x * dout
        ### END SOLUTION

The build replaces every such region with a stub that raises
NotImplementedError (indented like the marker), clears all outputs, drops
cells tagged ``solution-only``, and locks the check cells against edits in
JupyterLab. It also writes nbgrader's cell metadata into the master itself
(``course.authoring.nbgrader_cells``), so the masters can be released and
autograded with nbgrader too, and into the exercise notebooks as nbgrader
releases it, so what learners hand in from exercises/ is nbgrader's too. Both are pure functions of the master, so a test
can rebuild them and compare with what is committed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from course.assess.points import is_check_cell  # noqa: F401  (re-exported: the grader's canonical notebook)
from course.authoring.errors import BuildError
from course.authoring.nbgrader_cells import as_released, with_nbgrader_metadata

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: replace this line with your code.")'
# nbgrader's key too: a learner's notebook from exercises/ is then one nbgrader can autograde.
KEPT_CELL_METADATA = ("tags", "gradflow", "slideshow", "nbgrader")


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace each BEGIN/END SOLUTION region in ``source`` with a stub."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise BuildError(f"{where}, line {number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + STUB)
        elif marker == END:
            if not inside:
                raise BuildError(f"{where}, line {number}: {END} without a {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise BuildError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def exercise_notebook(master: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The learner's notebook made from a solved master (which is not changed)."""
    nb = copy.deepcopy(master)
    cells = []
    for index, cell in enumerate(nb.cells):
        if "solution-only" in cell.metadata.get("tags", []):
            continue
        cell.metadata = {k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata}
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, where=f"{name}, cell {index}")
            cell.outputs = []
            cell.execution_count = None
            if is_check_cell(cell):
                # JupyterLab then refuses edits and deletion; the grader restores
                # the canonical check cells anyway.
                cell.metadata["editable"] = False
                cell.metadata["deletable"] = False
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    # A lesson and its exercises share a file name (the stem the grader, the site and nbgrader rely
    # on), so JupyterLab's tabs read the same; the title ("Exercises 07 · ...", the master's first
    # heading) is what tells them apart in the notebook itself and on the site.
    title = next((line[2:].strip() for cell in nb.cells if cell.cell_type == "markdown"
                  for line in cell.source.splitlines() if line.startswith("# ")), "")
    if title:
        nb.metadata["title"] = title
    return nb


def build_one(master_path: Path, exercises: Path) -> dict[Path, str]:
    """The master with its nbgrader metadata and its exercise notebook (path -> file text)."""
    master = with_nbgrader_metadata(nbformat.read(master_path, as_version=4), name=master_path.name)
    nb = as_released(exercise_notebook(master, name=master_path.name))
    # Written as `course execute` writes a master, so executing then building changes nothing more.
    return {Path(master_path): nbformat.writes(master) + "\n",
            Path(exercises) / master_path.name: nbformat.writes(nb) + "\n"}


def build(solutions: Path, exercises: Path) -> dict[Path, str]:
    """What ``solutions`` make (path -> file text): each master with its nbgrader metadata, and the
    exercise notebooks."""
    built = {}
    for master_path in sorted(Path(solutions).glob("*.ipynb")):
        built.update(build_one(master_path, exercises))
    return built


def write(built: dict[Path, str]) -> list[Path]:
    """Write the built notebooks; return the ones whose text changed."""
    changed = []
    for path, text in built.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(built: dict[Path, str], exercises: Path) -> list[str]:
    """What differs between ``built`` and the files on disk (exercise notebooks, masters' metadata)."""
    problems = [f"{p} is not what the build makes" for p, t in built.items()
                if not p.exists() or p.read_text(encoding="utf-8") != t]
    extra = sorted(set(Path(exercises).glob("*.ipynb")) - set(built))
    problems += [f"{p} has no master in solutions/" for p in extra]
    return problems
