"""nbgrader on the course's masters, with the real nbgrader (scripts/install-nbgrader.sh).

ONE nbgrader course folder for the module (tests/nbgrader_course.py): the
masters of solutions/ are its source, with the course's nbgrader_config.py;
``nbgrader generate_assignment`` releases every master, and the released
notebooks must be exercises/ cell by cell, nbgrader's metadata included. Then
learners of 01_chain_rule who worked where the README tells them to (their
notebooks are copies of exercises/, not of nbgrader's release) are graded
twice, by ``nbgrader autograde`` and by ``course grade`` (on nbgrader's own
submitted/ folder): for a solved and a mixed learner (right, wrong and
unsolved exercises, tampered and deleted check cells) both must give every
exercise the same pass/fail and the same points (two exercises are worth more
than 1 point in this course folder's master, so autograde also corrects the
points the learners' copies carry); a third learner, who forges ``check`` and
solves nothing, shows what nbgrader's model lets through and the grader does
not. ``nbgrader validate`` fails the mixed learner's notebook at its failing
checks and passes the solved one.

Skipped when nbgrader is not installed; GRADFLOW_REQUIRE_NBGRADER=1 (CI)
turns that into a failure.
"""

from __future__ import annotations

import copy
import os

import nbformat
import pytest
from conftest import EXERCISES, SOLUTIONS, gradflow, notebooks_in, read
from grading_class import NB01, function
from kernels import kernel_slots
from nbgrader_course import REQUIRE_VARIABLE, NbgraderCourse, nbgrader_python

from course.assess.registry import exercises_of
from course.authoring.build import build_one, write
from course.authoring.nbgrader_cells import check_grade_id
from course.safe_run import sandbox
from course.safe_run.collect import collect
from course.safe_run.grade import grade

PYTHON = nbgrader_python()
if PYTHON is None:
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but nbgrader is not installed: run scripts/install-nbgrader.sh",
                    pytrace=False)
    pytest.skip("nbgrader is not installed (scripts/install-nbgrader.sh, or pip install -e '.[nbgrader]')",
                allow_module_level=True)

SEED = 515151
CELL_TIMEOUT = 120  # seconds per cell, as nbgrader_config.py gives nbgrader: a busy machine is not a slow notebook
ALL01 = [e.id for e in exercises_of("01_chain_rule")]
POINTS = {"01.add_gate": 2, "01.best_step": 3}  # the others keep the default, 1
STEM01 = NB01.removesuffix(".ipynb")

# The mixed learner: three right, two wrong (a misconception each), two left as the stub; and two
# tampered check cells, which nbgrader restores from its gradebook as the grader does from the master.
WRONG = {
    "01.add_gate": function("01.add_gate", "return y * dout, x * dout"),
    "01.numerical_derivative": function("01.numerical_derivative", "return (f(x + h) - f(x)) / h"),
}
SOLVED_BY_MIXED = {"01.mul_gate", "01.compound", "01.best_step"}
# Solves nothing, and replaces the course's `check` from its first exercise cell (each check cell imports it
# anew, so the course module's own name is what a forger replaces): what nbgrader's model allows (docs/sandbox.md).
FORGED_CHECK = ("\n\n\nimport course\n\n\ndef _passes(exercise, answer):\n    print(f\"✔ {exercise} passed\")\n\n\n"
                "course.check = _passes")


def answers() -> dict[str, str]:
    return {gradflow(c)["exercise"]: c.source for c in read(SOLUTIONS / NB01).cells if "exercise" in gradflow(c)}


def learner(released, sources: dict[str, str]):
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        if gradflow(cell).get("exercise") in sources:
            cell.source = sources[gradflow(cell)["exercise"]]
    return nb


def mixed(released):
    right = answers()
    nb = learner(released, {**{e: right[e] for e in SOLVED_BY_MIXED}, **WRONG})
    checks = {gradflow(c).get("check"): i for i, c in enumerate(nb.cells) if gradflow(c).get("check")}
    nb.cells[checks["01.add_gate"]].source = 'print("✔ 01.add_gate passed")'  # edited: a wrong answer "passes"
    del nb.cells[checks["01.mul_gate"]]  # deleted: a right answer would go unchecked
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    made = NbgraderCourse(tmp_path_factory.mktemp("nbgrader") / "course", PYTHON)
    made.add_masters(notebooks_in(SOLUTIONS))
    master = read(made.source / NB01)
    for cell in master.cells:
        if gradflow(cell).get("check") in POINTS:
            cell.metadata["gradflow"]["points"] = POINTS[gradflow(cell)["check"]]
    nbformat.write(master, made.source / NB01)
    write(build_one(made.source / NB01, tmp_path_factory.mktemp("exercises")))  # its nbgrader points, as `course build`
    made.generate()
    return made


@pytest.fixture(scope="module")
def graded(course):
    # The learners' notebooks are exercises/'s, as the README's workflow makes them, not nbgrader's release.
    started = read(EXERCISES / NB01)
    stub = next(c.source for c in started.cells if gradflow(c).get("exercise") == "01.mul_gate")
    # No learner who solved nothing: the mixed learner's two stubs and the forger's seven are that case.
    learners = {"solved": learner(started, answers()), "mixed": mixed(started),
                "forger": learner(started, {"01.mul_gate": stub + FORGED_CHECK})}
    for name, nb in learners.items():
        course.submitted(name).mkdir(parents=True)
        nbformat.write(nb, course.submitted(name) / NB01)
    with kernel_slots(1):  # nbgrader runs one kernel at a time
        course.autograde(GRADFLOW_HIDDEN_SEED=str(SEED))
    with kernel_slots(1):  # one nbval process: for three notebooks a second one costs more than it saves
        rows = grade(collect([course.folder / "submitted"]), course.source, seed=SEED, cell_timeout=CELL_TIMEOUT,
                     workers=1, use_sandbox=sandbox.bwrap() is not None)
    return course.scores(), rows


@pytest.mark.parametrize("path", notebooks_in(SOLUTIONS), ids=lambda p: p.name)
def test_generate_assignment_releases_the_exercise_notebook(course, path):
    released, ours = read(course.release / path.name), read(EXERCISES / path.name)
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in ours.cells]
    for cell in released.cells:
        if "check" in gradflow(cell):
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
            assert cell.metadata["nbgrader"]["grade_id"] == check_grade_id(gradflow(cell)["check"])


@pytest.mark.parametrize("path", notebooks_in(SOLUTIONS), ids=lambda p: p.name)
def test_exercise_notebooks_carry_the_nbgrader_metadata_of_the_release(course, path):
    """Cell for cell, nbgrader's key of exercises/ is the release's (roles, grade ids, type, checksum), so a
    learner's copy of exercises/ is a notebook nbgrader can autograde and validate."""
    def nbgrader(nb):
        # This course folder's 01 master gives two checks other points (POINTS): their points and checksum differ.
        return [{k: v for k, v in c.metadata["nbgrader"].items()
                 if gradflow(c).get("check") not in POINTS or k not in ("points", "checksum")}
                if "nbgrader" in c.metadata else None for c in nb.cells]

    released, ours = read(course.release / path.name), read(EXERCISES / path.name)
    assert nbgrader(ours) == nbgrader(released)
    assert sum(m is not None and "checksum" in m for m in nbgrader(ours)) > 0


def test_released_checks_are_worth_the_masters_points(course):
    points = {gradflow(c)["check"]: c.metadata["nbgrader"]["points"]
              for c in read(course.release / NB01).cells if "check" in gradflow(c)}
    assert points == {e: POINTS.get(e, 1) for e in ALL01}


def test_autograde_agrees_with_course_grade_exercise_by_exercise(graded):
    scores, rows = graded
    assert len(rows) == 3 * len(ALL01) and not any(r.infrastructure for r in rows)
    rows = [r for r in rows if r.learner != "forger"]
    for row in rows:
        nbgrader_score, nbgrader_max = scores[(row.learner, STEM01, check_grade_id(row.exercise))]
        assert (nbgrader_score, nbgrader_max) == (row.score, row.points), row
    # And both are right: the verdicts the learners' answers deserve, the points the master gives.
    passed = {(r.learner, r.exercise) for r in rows if r.passed}
    assert passed == {("solved", e) for e in ALL01} | {("mixed", e) for e in SOLVED_BY_MIXED}
    assert {r.exercise: r.points for r in rows} == {e: POINTS.get(e, 1) for e in ALL01}


def test_a_forged_check_fools_nbgrader_but_not_course_grade(graded):
    """nbgrader runs the local check() in the learner's kernel (no sandbox, no judge): docs/sandbox.md."""
    scores, rows = graded
    forger = [r for r in rows if r.learner == "forger"]
    assert [scores[("forger", STEM01, check_grade_id(e))][0] for e in ALL01] == [POINTS.get(e, 1) for e in ALL01]
    assert [(r.exercise, r.score) for r in forger] == [(e, 0) for e in ALL01]
    # The grader's judge hears from no check cell of a notebook whose `course.check` was replaced: no verdict, no points.
    assert {r.code for r in forger} == {"no_verdict"}


def _validate(course, nb, tmp_path) -> str:
    path = tmp_path / NB01
    nbformat.write(nb, path)
    with kernel_slots(1):
        result = course.run("validate", str(path))
    return result.stdout + result.stderr


def test_nbgrader_validate_fails_a_failing_check_and_passes_a_solved_notebook(course, tmp_path):
    """What a learner on nbgrader runs before handing in: a notebook copied from exercises/ whose check fails
    is not "Success!"; the failing check cells are named (nbgrader prints their source and the hint)."""
    started = read(EXERCISES / NB01)
    failing = learner(started, {**answers(), **WRONG})
    said = _validate(course, failing, tmp_path)
    assert "VALIDATION FAILED ON 2 CELL(S)!" in said and "Success!" not in said, said
    assert 'check("01.add_gate", add_backward)' in said and 'check("01.numerical_derivative"' in said
    said = _validate(course, learner(started, answers()), tmp_path)
    assert "Success! Your notebook passes all the tests." in said, said
