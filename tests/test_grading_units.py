"""The grader's pieces, one by one, without running nbval."""

from __future__ import annotations

import io
import json

import nbformat
import numpy as np
import pytest
import yaml
from conftest import ROOT, SOLUTIONS, code_cells
from grading_class import NB01, solved, tampered_check_cells, with_sources

from course.authoring.build import exercise_notebook
from course.cli import main
from course.grading import canonical
from course.grading.bar import Bar
from course.grading.canonical import Unreadable, canonical_notebook, learner_sources, read_submission
from course.grading.collect import collect
from course.grading.grade import Row
from course.grading.integrity import Snapshot
from course.grading.judge import _plain, course_imports
from course.grading.progress import concept_summary, progress_table
from course.grading.report import HINT_CHARS, common_hints, feedback_text, html_report, write_csv


def master01():
    return nbformat.read(SOLUTIONS / NB01, as_version=4)


def test_canonical_notebook_restores_every_check_cell_and_keeps_the_exercise_cells():
    learner = tampered_check_cells()
    canon = canonical_notebook(master01(), learner_sources(learner))
    wanted = [c for c in code_cells(exercise_notebook(master01())) if "check" in c.metadata.get("gradflow", {})]
    got = [c for c in code_cells(canon) if "check" in c.metadata.get("gradflow", {})]
    assert [c.source for c in got] == [c.source for c in wanted]
    sources = learner_sources(learner)
    for cell in code_cells(canon):
        ident = cell.metadata.get("gradflow", {}).get("exercise")
        if ident:
            assert cell.source == sources[ident]
    assert canon.cells[0].metadata["gradflow"]["guard"] and all(c.cell_type == "code" for c in canon.cells)


def test_the_first_cell_of_a_duplicated_exercise_id_counts():
    nb = solved(NB01)
    first = next(c for c in nb.cells if c.metadata.get("gradflow", {}).get("exercise") == "01.mul_gate")
    extra = nbformat.v4.new_code_cell("def mul_backward(x, y, dout):\n    return 0, 0",
                                      metadata={"gradflow": {"exercise": "01.mul_gate"}})
    nb.cells.append(extra)
    assert learner_sources(nb)["01.mul_gate"] == first.source


@pytest.mark.parametrize("content, words", [
    (b'{"cells": [', "not valid JSON"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b"\xff\xfe\x00garbage", "not text"),
    (json.dumps({"cells": [{"cell_type": "alien"}], "nbformat": 4, "nbformat_minor": 5,
                 "metadata": {}}).encode(), "not a valid notebook"),
])
def test_unreadable_submissions_say_why(tmp_path, content, words):
    path = tmp_path / NB01
    path.write_bytes(content)
    with pytest.raises(Unreadable, match=words):
        read_submission(path)


def test_a_gigantic_notebook_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(canonical, "MAX_NOTEBOOK_BYTES", 1000)
    path = tmp_path / NB01
    nbformat.write(solved(NB01), path)
    with pytest.raises(Unreadable, match="MB"):
        read_submission(path)


def test_collect_files_learner_folders_and_class_folders(tmp_path):
    for learner in ("ann", "ben"):
        (tmp_path / "class" / learner).mkdir(parents=True)
        nbformat.write(solved(NB01), tmp_path / "class" / learner / NB01)
    (tmp_path / "class" / "cy" / "exercises").mkdir(parents=True)
    nbformat.write(solved(NB01), tmp_path / "class" / "cy" / "exercises" / NB01)
    found = collect([tmp_path / "class"])
    assert [(s.learner, s.notebook) for s in found] == [("ann", NB01), ("ben", NB01), ("cy", NB01)]
    assert [s.learner for s in collect([tmp_path / "class" / "ben"])] == ["ben"]
    assert [s.learner for s in collect([tmp_path / "class" / "cy"])] == ["cy"]
    assert [s.learner for s in collect([tmp_path / "class" / "ann" / NB01])] == ["ann"]
    with pytest.raises(FileNotFoundError):
        collect([tmp_path / "nobody"])


@pytest.mark.parametrize("source, found", [
    ("def f(x):\n    return x", None),
    ("import math\nimport numpy as np", None),
    ("from course.assess.registry import get_exercise", "`import course.assess.registry`"),
    ("import course", "`import course`"),
    ("import ctypes", "`import ctypes`"),
    ("def f():\n    return __import__('course')", "`__import__`"),
    ("import sys\nsys._getframe(1)", "`_getframe`"),
])
def test_exercise_cells_may_not_reach_into_the_course_or_the_judge(source, found):
    assert course_imports(source) == found


class Liar(np.ndarray):
    pass


class Number(float):
    pass


@pytest.mark.parametrize("value, plain", [
    (1.5, True), ((1.0, np.zeros(3)), True), (np.float64(2.0), True), (None, True),
    (np.zeros(3).view(Liar), False), (Number(1.0), False), ((1.0, Number(2.0)), False),
    (np.array([object()]), False),
])
def test_only_plain_numbers_and_arrays_are_compared(value, plain):
    assert _plain(value) is plain


def test_the_snapshot_sees_a_patched_numpy_function(monkeypatch):
    snapshot = Snapshot()
    assert snapshot.first_change() is None
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    assert snapshot.first_change() == "`numpy.allclose` was replaced or removed"
    monkeypatch.undo()
    assert snapshot.first_change() is None


ROWS = [
    Row("ann", NB01, "01.mul_gate", True, "ok", ""),
    Row("ann", NB01, "01.add_gate", False, "sign", "a sign is flipped <b>"),
    Row("ben", NB01, "01.mul_gate", False, "order", "x" * (HINT_CHARS + 50)),
    Row("ben", NB01, "01.add_gate", False, "sign", "flipped again"),
]


def test_csv_has_the_five_columns_and_short_hints(tmp_path):
    write_csv(ROWS, tmp_path / "grades.csv")
    lines = (tmp_path / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "learner,notebook,exercise,passed,hint"
    assert lines[1] == f"ann,{NB01},01.mul_gate,yes,"
    assert len(lines[3]) < HINT_CHARS + 100


def test_most_common_hints_are_counted_per_exercise():
    hints = common_hints(ROWS)
    assert hints["01.add_gate"] == [("a sign is flipped", 2)]
    assert "01.mul_gate" in hints and len(hints) == 2


def test_html_report_is_a_table_with_totals_and_escaped_hints():
    page = html_report(ROWS)
    assert page.count("<tr>") == 4  # header, two learners, the per-exercise totals
    assert "1/2" in page and "0/2" in page
    assert "a sign is flipped &lt;b&gt;" in page


def test_feedback_lists_each_failed_exercise_with_its_hint():
    text = feedback_text("ann", ROWS)
    assert "1 of 2 exercises passed" in text
    assert "✔ 01.mul_gate" in text and "✘ 01.add_gate (a sign is flipped): a sign is flipped <b>" in text


def test_progress_table_and_one_line_per_concept():
    table = progress_table(ROWS[:2])
    assert "01.mul_gate" in table and "✔" in table and "✘" in table
    assert concept_summary(ROWS[:2]) == ["01_chain_rule: 1 of 2 done"]


def test_progress_bar_counts_notebooks():
    out = io.StringIO()
    bar = Bar(4, stream=out, width=4)
    bar.update(1)
    bar.update(1)
    bar.update(4)
    bar.close()
    assert out.getvalue() == "\r[#...] 1/4 notebooks graded\r[####] 4/4 notebooks graded\n"


def test_grade_exits_non_zero_only_when_it_cannot_run(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err


def test_learner_ci_example_runs_nbval_lax_on_the_exercises():
    workflow = yaml.safe_load((ROOT / "docs" / "learner-ci" / "grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "pip install -e ." in runs
    assert "pytest" in runs and "--nbval-lax" in runs and runs.rstrip().endswith("exercises/")


def test_a_wrong_answer_helper_builds_real_notebooks():
    nb = with_sources(solved(NB01), {"01.mul_gate": "pass"})
    nbformat.validate(nb)
