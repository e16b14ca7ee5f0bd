"""A check cell run before its exercise cell says what to do, in a real kernel (course.assess.early_check)."""

import subprocess
import sys

import nbformat
from kernels import execute, kernel_slots

from conftest import ROOT

CHECK = 'check("01.mul_gate", mul_backward)'


def _notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _errors(nb):
    return ["\n".join(out.get("traceback", [])) for cell in nb.cells for out in cell.get("outputs", [])
            if out.get("output_type") == "error"]


def test_a_check_cell_run_first_says_run_the_cells_above_and_other_name_errors_stay_as_they_were():
    nb = _notebook("from course import check", CHECK, "undefined_helper + 1",
                   "def mul_backward(x, y, dout):\n    return y * dout, x * dout", CHECK)
    # A kernel slow to start is waited for and started again (tests/kernels.py); cells get a generous limit.
    execute(nb, ROOT, timeout=600, allow_errors=True)
    early, other = _errors(nb)
    assert "run the cells above first: `mul_backward` is not defined yet" in early
    assert "01.mul_gate" in early and "Traceback" not in early
    assert "undefined_helper" in other and "NameError" in other
    assert nb.cells[4].outputs[0]["text"].startswith("✔ 01.mul_gate")


def test_under_nbval_the_early_check_cell_fails_with_the_message(tmp_path):
    path = tmp_path / "early.ipynb"
    nbformat.write(_notebook("from course import check", CHECK), path)
    run = _nbval_lax(path)
    assert run.returncode != 0
    assert "run the cells above first: `mul_backward` is not defined yet" in run.stdout


def _nbval_lax(path, attempts=3):
    """pytest --nbval-lax on one notebook in a child process, holding a kernel slot; a kernel that did
    not start (the machine, not the notebook) is started again."""
    for _ in range(attempts):
        with kernel_slots(1):
            run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
                                  "--nbval-cell-timeout", "600", str(path)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=1200)
        if "didn't respond" not in run.stdout + run.stderr:
            return run
    return run


def test_the_course_s_own_check_cell_run_first_after_a_restart_says_run_the_cells_above():
    """The exercise notebook's check cell alone in a fresh kernel (a restart, no import cell run):
    the cell imports `check` itself, so the learner reads what to run, not that `check` is undefined."""
    from course.authoring.build import is_check_cell

    exercises = nbformat.read(ROOT / "exercises" / "01_chain_rule.ipynb", as_version=4)
    first = next(cell for cell in exercises.cells if is_check_cell(cell))
    nb = _notebook(first.source)
    execute(nb, ROOT, timeout=600, allow_errors=True)
    (error,) = _errors(nb)
    assert "run the cells above first" in error and "'check' is not defined" not in error
