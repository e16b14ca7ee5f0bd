"""`course progress`: hints shown whole, and only notebooks changed since the last run are run again."""

import shutil

import pytest
from conftest import EXERCISES, SOLUTIONS

import course.gradebook.progress as progress
from course.safe_run.grade import Row

LONG = ("`mul_backward` should return the gradients in the order (dx, dy): yours are swapped, so each input "
        "received the other's local gradient times dout; check which variable each product multiplies.")


def test_a_long_hint_is_wrapped_whole_under_its_column():
    rows = [Row("ann", "01_chain_rule.ipynb", "01.mul_gate", False, "order", LONG),
            Row("ann", "01_chain_rule.ipynb", "01.add_gate", True, "ok", "")]
    table = progress.progress_table(rows, width=72)
    lines = table.splitlines()
    assert all(len(line) <= 72 for line in lines)
    hint_lines = lines[1:lines.index("01.add_gate  ✔")]
    assert len(hint_lines) > 2 and " ".join(" ".join(line.split()[2:] if n == 0 else line.split())
                                            for n, line in enumerate(hint_lines)) == LONG
    column = lines[0].index("hint")
    assert all(line[:column].strip() == "" and line[column] != " " for line in hint_lines[1:])


@pytest.fixture
def learner(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "ann"
    folder.mkdir()
    for name in ("01_chain_rule.ipynb", "05_dropout.ipynb"):
        shutil.copy(EXERCISES / name, folder / name)
    graded = []

    def fake_grade(submissions, solutions, **options):
        graded.append(sorted(s.notebook for s in submissions))
        code = "cell_timeout" if options.get("cell_timeout") == -1 else "sign"
        return [Row(s.learner, s.notebook, f"{s.notebook[:2]}.{n}", n == 0, "ok" if n == 0 else code, "hint")
                for s in submissions for n in range(3)]

    monkeypatch.setattr(progress, "grade", fake_grade)
    return folder, graded


def test_only_changed_notebooks_are_run_again(learner):
    folder, graded = learner
    first = progress.learner_progress(folder, SOLUTIONS, seed=1)
    again = progress.learner_progress(folder, SOLUTIONS, seed=1)
    assert graded == [["01_chain_rule.ipynb", "05_dropout.ipynb"]] and again == first and len(first) == 6
    path = folder / "05_dropout.ipynb"
    path.write_text(path.read_text().replace('"cells": [', '"cells": [ ', 1))
    assert progress.learner_progress(folder, SOLUTIONS, seed=1) == first
    assert graded[1:] == [["05_dropout.ipynb"]]
    progress.learner_progress(folder, SOLUTIONS, seed=2)  # another seed: other hidden cases
    assert graded[2:] == [["01_chain_rule.ipynb", "05_dropout.ipynb"]]


def test_rows_the_machine_may_have_caused_are_not_kept(learner):
    folder, graded = learner
    progress.learner_progress(folder, SOLUTIONS, seed=1, cell_timeout=-1)
    progress.learner_progress(folder, SOLUTIONS, seed=1, cell_timeout=-1)
    assert len(graded) == 2


def test_a_damaged_cache_means_grading_again(learner):
    folder, graded = learner
    progress.learner_progress(folder, SOLUTIONS, seed=1)
    progress.cache_path(folder).write_text("{not json")
    progress.learner_progress(folder, SOLUTIONS, seed=1)
    assert len(graded) == 2
