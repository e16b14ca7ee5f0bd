"""A learner's notebook, end to end in a real kernel: a wrong answer fails its
check cell with the expected hint, and an endless loop ends with a message."""

import nbformat
from conftest import SOLUTIONS, gradflow, read
from kernels import execute

WRONG_MUL = '''
def mul_backward(x, y, dout):
    return x * dout, y * dout   # forgot that the multiply gate swaps
'''
ENDLESS_ADD = '''
def add_backward(x, y, dout):
    while True:
        pass
'''


def test_wrong_answers_fail_their_checks_with_hints(monkeypatch):
    monkeypatch.setenv("GRADFLOW_TIME_LIMIT", "1")  # the kernel inherits it
    nb = read(SOLUTIONS / "01_chain_rule.ipynb")
    for cell in nb.cells:
        if gradflow(cell).get("exercise") == "01.mul_gate":
            cell.source = WRONG_MUL
        if gradflow(cell).get("exercise") == "01.add_gate":
            cell.source = ENDLESS_ADD
    execute(nb, SOLUTIONS, allow_errors=True, timeout=300)  # per cell; a kernel slow to start is waited for

    def check_output(exercise_id):
        cell = next(c for c in nb.cells if gradflow(c).get("check") == exercise_id)
        return cell.outputs

    errors = [o for o in check_output("01.mul_gate") if o.output_type == "error"]
    assert errors and errors[0].ename == "CheckFailed"
    text = "\n".join(errors[0].traceback)
    assert "01.mul_gate is not right yet" in text and "swaps" in text
    assert "site-packages" not in text and "course/assess" not in text  # no traceback into the package

    timeout = "\n".join("\n".join(o.traceback) for o in check_output("01.add_gate") if o.output_type == "error")
    assert "did not finish within 1 s" in timeout

    passed = [o for o in check_output("01.compound") if o.output_type == "stream"]
    assert passed and passed[0].text.startswith("✔ 01.compound")
    nbformat.validate(nb)
