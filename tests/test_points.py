"""Points per exercise (course.assess.points) and how a row is scored."""

import nbformat
import pytest

from course.assess.points import BadPoints, exercise_points
from course.safe_run.verdicts import INFRASTRUCTURE_CODE, Row, scored


def master_with(points):
    nb = nbformat.v4.new_notebook()
    for i, value in enumerate(points):
        meta = {"gradflow": {"check": f"00.ex{i}"}}
        if value is not None:
            meta["gradflow"]["points"] = value
        nb.cells.append(nbformat.v4.new_code_cell("check()", metadata=meta))
    return nb


def test_points_default_to_one_and_are_read_in_order():
    assert exercise_points(master_with([None, 3, 0.5])) == {"00.ex0": 1.0, "00.ex1": 3.0, "00.ex2": 0.5}


@pytest.mark.parametrize("bad", [0, -1, "2", True, float("nan"), float("inf")])
def test_points_that_are_not_a_positive_number_are_refused_by_name(bad):
    with pytest.raises(BadPoints, match="00.ex0"):
        exercise_points(master_with([bad]))


def test_a_row_scores_its_points_when_passed_zero_when_failed_and_none_when_not_graded():
    ok = Row("ana", "01.ipynb", "01.a", True, "ok", "")
    wrong = Row("ana", "01.ipynb", "01.a", False, "sign", "The sign is wrong.")
    lost = Row("ana", "01.ipynb", "01.a", False, INFRASTRUCTURE_CODE, "could not be graded")
    assert (scored(ok, 2).score, scored(wrong, 2).score, scored(lost, 2).score) == (2, 0, None)
    assert scored(lost, 2).max_score == 2
