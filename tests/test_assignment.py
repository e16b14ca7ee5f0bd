"""An assignment is a fixed set of exercises; notebooks are found by what they hold; scores set by hand.

ONE class graded for real (a module fixture, `course grade` as an
instructor runs it, on the assignment ``--concepts 01,02``):

- ``nobody``: an empty folder, nothing handed in;
- ``one``: 01 only, solved, renamed ``01_chain_rule-Copy1.ipynb``;
- ``all``: 01 and 02, solved, and a 05 notebook the assignment does not have;
- ``twice``: two copies of 01 (one renamed) and 02 unsolved;
- ``stray``: a notebook of no concept, and 02 under another concept's name.

Every learner gets a row for every exercise of 01 and 02, every total is
out of the assignment's points; then scores set by hand (``--overrides``) on
the run and on a merge, and the same files whole and merged.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import nbformat
import pytest
from conftest import EXERCISES, SOLUTIONS
from grading_class import NB01, solved
from kernels import kernel_slots

from course.assess.points import exercise_points
from course.cli import main
from course.gradebook.assignment import Assignment, AssignmentError, pick
from course.gradebook.overrides import OverrideError, apply_overrides, read_overrides
from course.safe_run import sandbox
from course.safe_run.canonical import master_exercises
from course.safe_run.collect import Submission, collect, learners
from course.safe_run.identify import identify
from course.safe_run.verdicts import Row

NB02 = "02_staged_computation.ipynb"
NB05 = "05_dropout.ipynb"
SEED = 4711
needs_sandbox = pytest.mark.skipif(sandbox.bwrap() is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                                   reason="bubblewrap is not installed (scripts/install-sandbox.sh)")


def _exercises(name: str) -> list[tuple[str, float]]:
    master = nbformat.read(SOLUTIONS / name, as_version=4)
    points = exercise_points(master)
    return [(ident, points[ident]) for ident, _ in master_exercises(master)]


EX01, EX02 = _exercises(NB01), _exercises(NB02)
POINTS01, POINTS02 = sum(p for _, p in EX01), sum(p for _, p in EX02)
FULL = POINTS01 + POINTS02
OVERRIDES = ("learner,exercise,points,reason\n"
             f"nobody,{EX01[0][0]},{EX01[0][1]:g},excused: ill that week (note of 3 May)\n"
             f"twice,{EX02[0][0]},0.5,regraded by hand\n")


def _unsolved(name: str):
    return nbformat.read(EXERCISES / name, as_version=4)


def _write(folder: Path, name: str, nb) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    (root / "nobody").mkdir()
    _write(root / "one", "01_chain_rule-Copy1.ipynb", solved(NB01))
    _write(root / "all", NB01, solved(NB01))
    _write(root / "all", NB02, solved(NB02))
    _write(root / "all", NB05, solved(NB05))  # not of this assignment: not graded
    _write(root / "twice", NB01, solved(NB01))
    _write(root / "twice", "chain rule (old).ipynb", solved(NB01))
    _write(root / "twice", NB02, _unsolved(NB02))
    _write(root / "stray", "scratch.ipynb", nbformat.v4.new_notebook())
    _write(root / "stray", "03_matmul_gradients.ipynb", _unsolved(NB02))  # 02, under another concept's name
    return root


@pytest.fixture(scope="module")
def graded(klass, tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    (out / "overrides.csv").write_text(OVERRIDES)
    common = ["--concepts", "01,02", "--seed", str(SEED), "--workers", "2", "--quiet"]
    with kernel_slots(2):
        status = main(["grade", str(klass), "--out", str(out / "plain"), *common])
    status_set = main(["grade", "merge", str(out / "plain"), "--out", str(out / "merged"),
                       "--overrides", str(out / "overrides.csv")])
    rows = json.loads((out / "plain" / "rows.json").read_text())["rows"]
    return {"out": out, "status": (status, status_set), "rows": rows}


def _rows(graded, learner: str, folder: str = "plain") -> list[dict]:
    rows = graded["rows"] if folder == "plain" else json.loads(
        (graded["out"] / folder / "rows.json").read_text())["rows"]
    return [r for r in rows if r["learner"] == learner]


# ----- the class, graded -------------------------------------------------------------------

@needs_sandbox
def test_every_learner_has_a_row_for_every_exercise_of_the_assignment(graded):
    assert graded["status"] == (0, 0)
    every = [e for e, _ in EX01 + EX02]
    for learner in ("nobody", "one", "all", "twice", "stray"):
        mine = [r for r in _rows(graded, learner) if r["code"] != "unknown_notebook"]
        assert [r["exercise"] for r in mine] == every, learner
        assert sum(r["points"] for r in mine) == FULL
    assert not any(r["exercise"].startswith("05.") for r in graded["rows"])  # 05 is not in this assignment


@needs_sandbox
def test_a_learner_who_handed_in_nothing_scores_zero_of_the_full_points(graded):
    mine = _rows(graded, "nobody")
    assert {r["code"] for r in mine} == {"not_handed_in"} and sum(r["score"] for r in mine) == 0
    assert "Not handed in" in mine[0]["hint"]
    feedback = (graded["out"] / "plain" / "feedback" / "nobody.md").read_text()
    assert f"0 of {len(mine)} exercises passed: 0 of {FULL:g} points." in feedback


@needs_sandbox
def test_one_renamed_notebook_is_graded_as_its_concept_and_the_rest_counts_as_not_handed_in(graded):
    mine = _rows(graded, "one")
    first = [r for r in mine if r["notebook"] == NB01]
    assert all(r["passed"] and r["handed_in"] == "01_chain_rule-Copy1.ipynb" for r in first)
    assert {r["code"] for r in mine if r["notebook"] == NB02} == {"not_handed_in"}
    feedback = (graded["out"] / "plain" / "feedback" / "one.md").read_text()
    assert f"{len(EX01)} of {len(mine)} exercises passed: {POINTS01:g} of {FULL:g} points." in feedback
    assert "Graded from 01_chain_rule-Copy1.ipynb (renamed)" in feedback
    html = (graded["out"] / "plain" / "report.html").read_text()
    assert "handed it in as 01_chain_rule-Copy1.ipynb (renamed)" in html


@needs_sandbox
def test_a_learner_who_handed_in_all_scores_the_full_points(graded):
    mine = _rows(graded, "all")
    assert all(r["passed"] for r in mine) and sum(r["score"] for r in mine) == FULL


@needs_sandbox
def test_two_copies_of_one_concept_are_an_error_for_that_learner_not_a_pick(graded):
    mine = _rows(graded, "twice")
    copies = [r for r in mine if r["notebook"] == NB01]
    assert {r["code"] for r in copies} == {"two_copies"} and all(r["score"] == 0 for r in copies)
    assert "chain rule (old).ipynb" in copies[0]["hint"] and NB01 in copies[0]["hint"]
    assert "Neither was graded" in copies[0]["hint"]
    assert {r["code"] for r in mine if r["notebook"] == NB02} == {"not_done"}  # 02 still graded


@needs_sandbox
def test_a_notebook_is_its_content_not_its_name(graded):
    mine = _rows(graded, "stray")
    # 02's exercises under 03's name: graded as 02 (the assignment has no 03), renamed.
    assert {(r["code"], r["handed_in"]) for r in mine if r["notebook"] == NB02} == {
        ("not_done", "03_matmul_gradients.ipynb")}
    assert [(r["notebook"], r["exercise"], r["points"]) for r in mine if r["code"] == "unknown_notebook"] == [
        ("scratch.ipynb", "-", 0.0)]
    assert {r["code"] for r in mine if r["notebook"] == NB01} == {"not_handed_in"}


@needs_sandbox
def test_the_csv_and_canvas_totals_are_out_of_the_full_points(graded, klass, tmp_path):
    with open(graded["out"] / "plain" / "grades.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    for learner in ("nobody", "one", "all", "twice", "stray"):
        assert sum(float(r["max_score"]) for r in table if r["learner"] == learner) == FULL
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,SIS Login ID\nNo Body,nobody\nOne Only,one\n")
    assert main(["grade", "merge", str(graded["out"] / "plain"), "--out", str(tmp_path / "canvas"),
                 "--format", "canvas", "--roster", str(roster)]) == 0
    lines = (tmp_path / "canvas" / "canvas.csv").read_text().splitlines()
    assert lines[1].endswith(f",{POINTS01:g},{POINTS02:g}")  # Points Possible: the whole assignment
    assert lines[2].endswith(",0,0") and lines[3].endswith(f",{POINTS01:g},0")  # nobody, one


# ----- scores set by hand ----------------------------------------------------------------------

@needs_sandbox
def test_overrides_on_a_merge_set_the_score_keep_the_verdict_and_are_marked(graded):
    nobody, twice = _rows(graded, "nobody", "merged"), _rows(graded, "twice", "merged")
    set_ = nobody[0]
    assert set_["score"] == EX01[0][1] and set_["override"].startswith("excused") and set_["graded_score"] == 0
    assert set_["code"] == "not_handed_in" and not set_["passed"]  # what the grader found stays
    assert [r for r in twice if r["override"]][0]["score"] == 0.5
    out = graded["out"] / "merged"
    feedback = (out / "feedback" / "nobody.md").read_text()
    assert f"✎ {EX01[0][0]} ({EX01[0][1]:g}/{EX01[0][1]:g}, set by your instructor: excused" in feedback
    assert "✎" in (out / "report.html").read_text()
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        table = {(r["learner"], r["exercise"]): r for r in csv.DictReader(f)}
    assert table[("nobody", EX01[0][0])]["override"].startswith("excused")
    assert table[("nobody", EX01[0][0])]["graded_score"] == "0"


@needs_sandbox
def test_overrides_given_to_grade_and_to_merge_write_the_same_files(graded, klass, tmp_path):
    """The same class graded with --overrides writes what the merge of its plain run with them writes."""
    with kernel_slots(2):
        assert main(["grade", str(klass), "--out", str(tmp_path / "set"), "--concepts", "01,02", "--seed", str(SEED),
                     "--workers", "2", "--quiet", "--overrides", str(graded["out"] / "overrides.csv")]) == 0
    merged = graded["out"] / "merged"
    for path in sorted(p for p in merged.rglob("*") if p.is_file()):
        assert (tmp_path / "set" / path.relative_to(merged)).read_bytes() == path.read_bytes(), path.name


# ----- without kernels ---------------------------------------------------------------------------

def _row(learner, exercise, points=2.0, score=0.0):
    return Row(learner, NB01, exercise, False, "wrong_value", "hint", points, score)


@pytest.mark.parametrize("text,problem", [
    ("learner,exercise,points\nana,01.mul_gate,1\n", "missing: reason"),
    ("learner,exercise,points,reason\nana,01.mul_gate,x,late\n", "line 2: points 'x' is not a number"),
    ("learner,exercise,points,reason\nana,01.mul_gate,-1,late\n", "from 0 up"),
    ("learner,exercise,points,reason\nana,01.mul_gate,1,\n", "give a reason"),
    ("learner,exercise,points,reason\nbob,01.mul_gate,1,late\n", "no learner 'bob'"),
    ("learner,exercise,points,reason\nana,01.nothing,1,late\n", "'01.nothing' is not an exercise of this assignment"),
    ("learner,exercise,points,reason\nana,01.mul_gate,3,late\n", "3 points, but 01.mul_gate is worth 2"),
    ("learner,exercise,points,reason\nana,01.mul_gate,1,a\n\nana,01.mul_gate,2,b\n", "line 4: ana, 01.mul_gate is"
                                                                                    " overridden already on line 2"),
])
def test_an_override_that_cannot_be_applied_is_refused_by_line(tmp_path, text, problem):
    path = tmp_path / "o.csv"
    path.write_text(text)
    with pytest.raises(OverrideError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        apply_overrides([_row("ana", "01.mul_gate")], read_overrides(path), path)


def test_the_grade_command_refuses_a_bad_overrides_file_before_grading(tmp_path, capsys):
    (tmp_path / "class" / "ana").mkdir(parents=True)
    (tmp_path / "o.csv").write_text("learner,exercise,points,reason\nana,01.mul_gate,1,\n")
    assert main(["grade", str(tmp_path / "class"), "--overrides", str(tmp_path / "o.csv"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "give a reason" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_concepts_are_named_by_number_or_stem_and_an_unknown_one_is_refused():
    names = sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
    assert pick(["2", "01", "05_dropout.ipynb"], names) == [NB01, NB02, NB05]
    with pytest.raises(AssignmentError, match="no concept '99'"):
        pick(["01", "99"], names)
    whole = Assignment.of(SOLUTIONS)
    assert whole.notebooks == tuple(names) and whole.count == sum(len(_exercises(n)) for n in names)


def test_collect_names_a_learner_whose_folder_is_empty(tmp_path):
    (tmp_path / "ana").mkdir()
    _write(tmp_path / "ben", "x.ipynb", nbformat.v4.new_notebook())
    assert learners([tmp_path]) == ["ana", "ben"] and [s.learner for s in collect([tmp_path])] == ["ben"]


def test_identify_uses_what_a_notebook_holds(tmp_path):
    assignment = {NB01: [e for e, _ in EX01], NB02: [e for e, _ in EX02]}
    _write(tmp_path, "homework.ipynb", solved(NB02))
    _write(tmp_path, NB01, nbformat.v4.new_notebook())  # no exercise: its name decides
    _write(tmp_path, "notes.ipynb", nbformat.v4.new_notebook())
    found = identify([Submission("ana", tmp_path / n) for n in ("homework.ipynb", NB01, "notes.ipynb")], assignment)
    assert {(s.path.name, s.master) for s in found.graded} == {("homework.ipynb", NB02), (NB01, NB01)}
    assert [s.path.name for s in found.unknown] == ["notes.ipynb"] and not found.copies


def test_a_clone_of_the_course_is_graded_on_its_exercises_folder_alone(tmp_path):
    """A learner who hands in their clone: solutions/ and the lessons are the course's, not their work."""
    for folder in ("exercises", "solutions", "notebooks"):
        _write(tmp_path / "class" / "ana" / folder, NB01, solved(NB01))
    found = collect([tmp_path / "class"])
    assert [(s.learner, s.shown) for s in found] == [("ana", f"exercises/{NB01}")]
    assert [(s.learner, s.shown) for s in collect([tmp_path / "class" / "ana"])] == [("ana", f"exercises/{NB01}")]
