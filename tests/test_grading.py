"""Grading a class built in code: one grader run shared by the module, then the verdicts row by row."""

from __future__ import annotations

import csv
import time

import pytest
from conftest import SOLUTIONS
from grading_class import MISCONCEPTIONS, NB01, NB05, class_folder

from course.assess.registry import exercises_of, get_exercise
from course.grading.collect import collect
from course.grading.grade import grade
from course.grading.report import write_all

ALL01 = [e.id for e in exercises_of("01_chain_rule")]
ALL05 = [e.id for e in exercises_of("05_dropout")]
SEED = 424242


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    class_folder(root)
    start = time.monotonic()
    rows = grade(collect([root]), SOLUTIONS, seed=SEED, cell_timeout=3, time_limit=1, workers=2)
    out = tmp_path_factory.mktemp("out")
    write_all(rows, out)
    return {"rows": rows, "out": out, "seconds": time.monotonic() - start}


def rows_of(graded, learner, notebook=NB01):
    return {r.exercise: r for r in graded["rows"] if r.learner == learner and r.notebook == notebook}


def passed(graded, learner, notebook=NB01):
    return {e for e, r in rows_of(graded, learner, notebook).items() if r.passed}


def test_exercise_ids_come_from_the_registry():
    assert len(ALL01) == 7 and len(ALL05) == 6


def test_the_correct_learner_passes_everything(graded):
    assert passed(graded, "correct") == set(ALL01)
    assert passed(graded, "correct", NB05) == set(ALL05)


@pytest.mark.parametrize("number", range(len(MISCONCEPTIONS)))
def test_each_misconception_gets_its_hint(graded, number):
    exercise, index, _ = MISCONCEPTIONS[number]
    rows = rows_of(graded, f"misconception{number:02d}")
    wanted = get_exercise(exercise).misconceptions[index]
    assert not rows[exercise].passed
    assert rows[exercise].code == wanted.code
    assert rows[exercise].hint.startswith(wanted.hint)
    assert passed(graded, f"misconception{number:02d}") == set(ALL01) - {exercise}


def test_deleted_edited_moved_and_duplicated_check_cells_change_nothing(graded):
    rows = rows_of(graded, "check_cells")
    assert passed(graded, "check_cells") == set(ALL01) - {"01.mul_gate", "01.add_gate", "01.max_gate"}
    assert rows["01.mul_gate"].code == "sign"


def test_answers_hard_coded_for_the_worked_examples_fail_on_hidden_cases(graded):
    row = rows_of(graded, "hard_coded")["01.mul_gate"]
    assert not row.passed and "hidden case" in row.hint
    assert passed(graded, "hard_coded") == set(ALL01) - {"01.mul_gate"}


def test_a_redefined_check_does_not_pass(graded):
    assert passed(graded, "redefines_check") == set(ALL01) - {"01.mul_gate"}


@pytest.mark.parametrize("learner, what", [
    ("imports_course", "uses `import course.assess.diagnose`"),
    ("patches_globals", "`course.assess.check.evaluate` was replaced"),
    ("patches_numpy", "`numpy.allclose` was replaced"),
    ("patches_in_call", "`numpy.allclose` was replaced"),
])
def test_patching_the_checker_or_numpy_is_caught(graded, learner, what):
    rows = rows_of(graded, learner)
    assert not any(r.passed for r in rows.values())
    assert rows["01.mul_gate"].code == "tampering"
    assert what in rows["01.mul_gate"].hint


def test_an_endless_loop_in_a_function_hits_the_time_limit(graded):
    assert rows_of(graded, "loop_in_function")["01.add_gate"].code == "timeout"
    assert passed(graded, "loop_in_function") == set(ALL01) - {"01.add_gate"}


def test_an_endless_loop_at_the_top_level_hits_the_cell_timeout(graded):
    row = rows_of(graded, "loop_at_top")["01.add_gate"]
    assert row.code == "cell_timeout" and "did not finish within 3 s" in row.hint
    assert passed(graded, "loop_at_top") == set(ALL01) - {"01.add_gate"}


def test_a_crashing_kernel_fails_its_exercise_and_the_ones_after_it(graded):
    rows = rows_of(graded, "crash")
    assert passed(graded, "crash") == {"01.mul_gate", "01.add_gate", "01.max_gate"}
    assert "ended the Python process" in rows["01.compound"].hint and rows["01.compound"].code == "crash"
    for later in ("01.sigmoid_neuron", "01.numerical_derivative", "01.best_step"):
        assert rows[later].code == "crash" and "kernel died while running cell" in rows[later].hint


def test_broken_files_become_rows_that_say_what_happened(graded):
    rows = rows_of(graded, "broken")
    assert set(rows) == set(ALL01) and all(r.code == "unreadable" for r in rows.values())
    assert all("not valid JSON" in r.hint for r in rows.values())
    rows = rows_of(graded, "broken", NB05)
    assert set(rows) == set(ALL05) and all("not a Jupyter notebook" in r.hint for r in rows.values())
    (row,) = rows_of(graded, "broken", "notes.ipynb").values()
    assert row.code == "unknown_notebook" and not row.passed


def test_huge_output_is_graded_and_kept_out_of_the_report(graded):
    assert passed(graded, "huge_output") == set(ALL01)
    assert (graded["out"] / "report.html").stat().st_size < 500_000
    assert (graded["out"] / "grades.csv").stat().st_size < 500_000


def test_none_nan_wrong_shape_and_mutated_inputs(graded):
    rows = rows_of(graded, "forms")
    assert (rows["01.mul_gate"].code, rows["01.add_gate"].code, rows["01.sigmoid_neuron"].code) == \
        ("none", "nan", "shape")
    assert passed(graded, "forms") == set(ALL01) - {"01.mul_gate", "01.add_gate", "01.sigmoid_neuron"}
    assert rows_of(graded, "mutates")["01.sigmoid_neuron"].code == "mutated"
    assert passed(graded, "mutates") == set(ALL01) - {"01.sigmoid_neuron"}


def test_nbval_and_the_judge_agree_on_untampered_notebooks(graded):
    # "nbval" or "error" rows would mean nbval failed a check the judge passed (or the reverse).
    untampered = {"correct", "hard_coded", "forms", "mutates", "loop_in_function"} | {
        f"misconception{n:02d}" for n in range(len(MISCONCEPTIONS))}
    assert not [r for r in graded["rows"] if r.learner in untampered and r.code in ("nbval", "error", "crash")]


def test_outputs_csv_report_and_feedback(graded):
    out = graded["out"]
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["learner", "notebook", "exercise", "passed", "hint"]
    assert len(table) == len(graded["rows"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "The most common hints per exercise" in html and "misconception03" in html
    feedback = (out / "feedback" / "forms.md").read_text(encoding="utf-8")
    assert "✘ 01.mul_gate" in feedback and "returned None" in feedback
