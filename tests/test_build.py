"""The authoring build: exercises/ is exactly what solutions/ make (contract)."""

import copy
import shutil

import nbformat
import pytest
from conftest import EXERCISES, SOLUTIONS, code_cells, gradflow, notebooks_in, read

from course.assess.registry import all_exercises
from course.authoring.build import STUB, BuildError, build, exercise_notebook, stale, strip_solutions
from course.authoring.nbgrader_cells import with_nbgrader_metadata


def test_a_region_becomes_an_indented_stub():
    source = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION\n"
    assert strip_solutions(source) == f"def f(x):\n    '''doc'''\n    {STUB}\n"


def test_several_regions_and_text_around_them_are_kept():
    source = "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3\n  ### BEGIN SOLUTION\n  d\n  ### END SOLUTION"
    assert strip_solutions(source) == f"a = 1\n{STUB}\nc = 3\n  {STUB}"


@pytest.mark.parametrize("source,problem", [
    ("### BEGIN SOLUTION\nx\n", "never closed"),
    ("x\n### END SOLUTION\n", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_malformed_markers_are_refused(source, problem):
    with pytest.raises(BuildError, match=problem):
        strip_solutions(source)


def master():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    answer = new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
                           metadata={"gradflow": {"exercise": "t.f"}, "execution": {"iopub.execute_input": "2024-01-01T00:00:00Z"}})
    answer.outputs = [new_output("stream", text="hi\n")]
    answer.execution_count = 3
    checker = new_code_cell('check("t.f", f)', metadata={"gradflow": {"check": "t.f"}, "tags": ["nbval-check-output"]})
    only = new_markdown_cell("solved master", metadata={"tags": ["solution-only"]})
    return new_notebook(cells=[only, answer, checker], metadata={"widgets": {"state": {}}})


def test_exercise_notebook_clears_outputs_locks_checks_and_drops_solution_only_cells():
    nb = exercise_notebook(master())
    assert len(nb.cells) == 2
    answer, checker = nb.cells
    assert answer.outputs == [] and answer.execution_count is None
    assert "BEGIN SOLUTION" not in answer.source and STUB in answer.source
    assert "execution" not in answer.metadata
    assert checker.metadata["editable"] is False and checker.metadata["deletable"] is False
    assert "widgets" not in nb.metadata


def test_committed_exercises_and_masters_are_what_the_build_makes():
    built = build(SOLUTIONS, EXERCISES)
    assert built, "solutions/ has no notebooks"
    assert stale(built, EXERCISES) == [], \
        "run `make build` (python -m course build) and commit exercises/ and solutions/ (nbgrader metadata)"


@pytest.mark.parametrize("path", notebooks_in(SOLUTIONS), ids=lambda p: p.name)
def test_every_exercise_cell_is_followed_by_its_check_cell(path):
    cells = code_cells(read(path))
    for i, cell in enumerate(cells):
        exercise = gradflow(cell).get("exercise")
        if exercise:
            following = [gradflow(c).get("check") for c in cells[i + 1:] if gradflow(c).get("check")]
            assert following and following[0] == exercise, f"{path.name}: no check cell after {exercise}"


@pytest.mark.parametrize("path", notebooks_in(SOLUTIONS), ids=lambda p: p.name)
def test_check_cells_are_canonical(path):
    registry = all_exercises()
    for cell in code_cells(read(path)):
        exercise = gradflow(cell).get("check")
        if exercise:
            assert exercise in registry, f"{path.name}: {exercise} is not in the registry"
            function = registry[exercise].function
            # The import first: run after a kernel restart, the cell still knows `check` (and says what to run).
            assert cell.source == f'from course import check\ncheck("{exercise}", {function})'
            assert "nbval-check-output" in cell.metadata.get("tags", [])


def test_every_registered_exercise_has_a_check_cell_in_its_concept():
    checks = {}
    for path in notebooks_in(SOLUTIONS):
        for cell in code_cells(read(path)):
            if gradflow(cell).get("check"):
                checks[gradflow(cell)["check"]] = path.stem
    for exercise in all_exercises().values():
        assert checks.get(exercise.id) == exercise.concept, f"{exercise.id} has no check cell in {exercise.concept}"


def test_build_check_command_reports_stale_exercises_and_masters(tmp_path):
    from course.cli import main

    assert main(["build", "--exercises", str(EXERCISES), "--check"]) == 0
    solutions, out = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    for path in notebooks_in(SOLUTIONS):
        shutil.copy(path, solutions / path.name)
    options = ["--solutions", str(solutions), "--exercises", str(out)]
    assert main(["build", *options, "--check"]) == 1
    assert main(["build", *options]) == 0
    assert main(["build", *options, "--check"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in notebooks_in(SOLUTIONS))
    nbformat.validate(nbformat.read(next(out.iterdir()), as_version=4))
    # A master without its nbgrader metadata is stale too; the build writes it back, and nothing else.
    stripped = nbformat.read(solutions / "01_chain_rule.ipynb", as_version=4)
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    nbformat.write(stripped, solutions / "01_chain_rule.ipynb")
    assert main(["build", *options, "--check"]) == 1
    assert main(["build", *options]) == 0
    assert (solutions / "01_chain_rule.ipynb").read_text() == (SOLUTIONS / "01_chain_rule.ipynb").read_text()


# ----- nbgrader's metadata in the masters (course.authoring.nbgrader_cells) ------------------------
# The real nbgrader releases and autogrades them in tests/test_nbgrader.py.

def test_each_kind_of_cell_gets_its_nbgrader_role():
    nb = master()
    setup = nbformat.v4.new_code_cell("from course import check")
    setup.id = "setup-1"
    shown = nbformat.v4.new_code_cell("f(1)", metadata={"tags": ["solution-only"]})
    nb.cells[1:1] = [setup]
    nb.cells.append(shown)
    nb.cells[-2].metadata["gradflow"]["points"] = 2.5
    only, given, answer, checker, solution_only = with_nbgrader_metadata(nb).cells
    assert not any("nbgrader" in c.metadata for c in nb.cells), "the master given is not changed"
    base = {"schema_version": 3, "task": False}
    assert answer.metadata["nbgrader"] == {**base, "grade_id": "t_f-answer", "solution": True, "grade": False,
                                           "locked": False}
    assert checker.metadata["nbgrader"] == {**base, "grade_id": "t_f", "solution": False, "grade": True,
                                            "locked": True, "points": 2.5}
    assert given.metadata["nbgrader"] == {**base, "grade_id": "given-setup-1", "solution": False,
                                          "grade": False, "locked": True}
    assert "nbgrader" not in only.metadata and "nbgrader" not in solution_only.metadata


def test_points_default_to_one_and_stale_nbgrader_keys_are_replaced():
    nb = master()
    nb.cells[0].metadata["nbgrader"] = {"grade": True, "grade_id": "old", "points": 9}
    marked = with_nbgrader_metadata(nb)
    assert "nbgrader" not in marked.cells[0].metadata
    assert marked.cells[2].metadata["nbgrader"]["points"] == 1


def test_points_that_are_not_a_positive_number_stop_the_build_with_a_message():
    nb = master()
    nb.cells[2].metadata["gradflow"]["points"] = "two"
    with pytest.raises(BuildError, match="x.ipynb: the check cell of t.f gives points='two'"):
        with_nbgrader_metadata(nb, name="x.ipynb")


def test_two_check_cells_of_one_exercise_are_refused_by_name():
    nb = master()
    nb.cells.append(copy.deepcopy(nb.cells[2]))
    with pytest.raises(BuildError, match="grade id 't_f'"):
        with_nbgrader_metadata(nb, name="x.ipynb")


@pytest.mark.parametrize("path", notebooks_in(SOLUTIONS), ids=lambda p: p.name)
def test_every_code_cell_of_a_master_has_its_nbgrader_role(path):
    for cell in code_cells(read(path)):
        role = cell.metadata.get("nbgrader")
        if "solution-only" in cell.metadata.get("tags", []):
            assert role is None
        elif gradflow(cell).get("check"):
            assert role["grade"] and role["locked"] and not role["solution"] and role["points"] > 0
        elif gradflow(cell).get("exercise"):
            assert role["solution"] and not role["grade"] and not role["locked"]
        else:
            assert role["locked"] and not role["grade"] and not role["solution"]


@pytest.mark.parametrize("path", notebooks_in(EXERCISES), ids=lambda p: p.stem)
def test_an_exercise_notebook_tells_itself_apart_from_its_lesson_by_its_title(path):
    # A lesson and its exercises share the stem (the grader, the site and nbgrader rely on it), so the
    # file name cannot tell them apart in JupyterLab's tabs; the first heading and the title can.
    from conftest import LESSONS

    nb = read(path)
    number = path.stem.split("_", 1)[0]
    heading = next(line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                   if line.startswith("# "))
    assert heading.startswith(f"# Exercises {number} · ") and nb.metadata["title"] == heading[2:]
    lesson = read(LESSONS / path.name)
    assert lesson.cells[0].source.startswith(f"# {number} · ") and "title" not in lesson.metadata
