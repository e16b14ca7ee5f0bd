"""A class of learners built in code, for the grading tests (never hand-edited JSON).

Every learner starts from the generated exercise notebook, fills in the
master's solutions, then changes one thing: a misconception, a tampered
check cell, a patched checker, a loop, a crash, a broken file, ...
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from conftest import EXERCISES, SOLUTIONS

NB01 = "01_chain_rule.ipynb"
NB05 = "05_dropout.ipynb"

SIGNATURES = {
    "01.mul_gate": "def mul_backward(x, y, dout):",
    "01.add_gate": "def add_backward(x, y, dout):",
    "01.max_gate": "def max_backward(x, y, dout):",
    "01.compound": "def compound_backward(x, y, z):",
    "01.sigmoid_neuron": "def sigmoid(a):\n    return 1.0 / (1.0 + math.exp(-a))\n\n\ndef neuron_backward(w, x):",
    "01.numerical_derivative": "def numerical_derivative(f, x, h):",
    "01.best_step": "def best_step(f, dfdx, x, steps):",
}

# One learner per misconception of concept 01: (exercise, index of the misconception, wrong body).
MISCONCEPTIONS = [
    ("01.mul_gate", 0, "return x * dout, y * dout"),
    ("01.add_gate", 0, "return y * dout, x * dout"),
    ("01.max_gate", 0, "return float(x >= y) * dout, float(y >= x) * dout"),
    ("01.max_gate", 1, "return float(x >= y) * dout, float(y > x) * dout"),
    ("01.max_gate", 2, "return float(x < y) * dout, float(y < x) * dout"),
    ("01.compound", 0, "return 1.0, 1.0, x + y"),
    ("01.compound", 1, "return z, z, (x + y) * z"),
    ("01.numerical_derivative", 0, "return (f(x + h) - f(x)) / h"),
    ("01.numerical_derivative", 1, "return (f(x + h) - f(x - h)) / h"),
    ("01.numerical_derivative", 2, "return (f(x - h) - f(x + h)) / (2.0 * h)"),
    ("01.best_step", 0, "return min(steps)"),
    ("01.best_step", 1, "return max(steps)"),
]

CORRECT_NEURON = """dot = w[0] * x[0] + w[1] * x[1] + w[2]
s = sigmoid(dot)
ddot = (1.0 - s) * s
dw = np.array([x[0], x[1], 1.0]) * ddot
dx = np.array([w[0], w[1]]) * ddot"""


def function(exercise: str, body: str) -> str:
    return SIGNATURES[exercise] + "\n" + "\n".join("    " + line for line in body.splitlines())


def solved(name: str) -> nbformat.NotebookNode:
    """The learner's notebook for ``name`` with every exercise solved as in the master."""
    master = nbformat.read(SOLUTIONS / name, as_version=4)
    answers = {c.metadata["gradflow"]["exercise"]: c.source for c in master.cells
               if c.cell_type == "code" and "exercise" in c.metadata.get("gradflow", {})}
    nb = nbformat.read(EXERCISES / name, as_version=4)
    for cell in nb.cells:
        ident = cell.metadata.get("gradflow", {}).get("exercise")
        if ident:
            cell.source = answers[ident]
    return nb


def with_sources(nb, sources: dict[str, str]):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        ident = cell.metadata.get("gradflow", {}).get("exercise")
        if ident in sources:
            cell.source = sources[ident]
    return nb


def check_index(nb, exercise: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("gradflow", {}).get("check") == exercise)


def tampered_check_cells():
    """mul's check deleted, add's edited to print success, max's duplicated and moved to the top; all three wrong."""
    nb = with_sources(solved(NB01), {
        "01.mul_gate": function("01.mul_gate", "return -y * dout, -x * dout"),
        "01.add_gate": function("01.add_gate", "return 0.0, 0.0"),
        "01.max_gate": function("01.max_gate", "return 0.0, 0.0"),
    })
    nb.cells[check_index(nb, "01.add_gate")].source = 'print("✔ 01.add_gate passed")'
    max_check = copy.deepcopy(nb.cells[check_index(nb, "01.max_gate")])
    copies = [copy.deepcopy(max_check), max_check]
    for number, cell in enumerate(copies):
        cell.id = f"duplicate-{number}"
    nb.cells.insert(0, copies[0])
    nb.cells.insert(check_index(nb, "01.max_gate") + 1, copies[1])
    del nb.cells[check_index(nb, "01.mul_gate")]
    return nb


def hard_coded_visible_answers():
    """Each exercise answers the worked examples from a table and nothing else."""
    from course.assess.registry import get_exercise

    exercise = get_exercise("01.mul_gate")
    table = {case.args: exercise.reference(*case.args) for case in exercise.public}
    body = f"ANSWERS = {table!r}\nreturn ANSWERS.get((x, y, dout), (0.0, 0.0))"
    return with_sources(solved(NB01), {"01.mul_gate": function("01.mul_gate", body)})


WRONG_MUL = function("01.mul_gate", "return 0.0, 0.0")


def class_folder(root: Path) -> dict[str, str]:
    """Write the class under ``root``; returns learner -> what they did."""
    learners: dict[str, tuple[str, dict]] = {}

    def add(learner: str, what: str, notebooks: dict):
        learners[learner] = (what, notebooks)

    add("correct", "solved everything", {NB01: solved(NB01), NB05: solved(NB05)})
    for number, (exercise, index, body) in enumerate(MISCONCEPTIONS):
        add(f"misconception{number:02d}", f"{exercise} misconception {index}",
            {NB01: with_sources(solved(NB01), {exercise: function(exercise, body)})})
    add("check_cells", "deleted, edited, duplicated and moved check cells", {NB01: tampered_check_cells()})
    add("hard_coded", "answers only the worked examples", {NB01: hard_coded_visible_answers()})
    add("redefines_check", "defines its own check()", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + '\n\n\ndef check(*args):\n    print("✔ passed")'})})
    add("imports_course", "patches the course's evaluate", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": "import course.assess.diagnose as d\n"
                       "d.evaluate = lambda *a: None\n\n" + WRONG_MUL})})
    add("patches_globals", "patches the checker through check's globals", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + "\n\n\nclass Passed:\n    passed = True\n\n"
                       "check.__globals__['evaluate'] = lambda *a: Passed()"})})
    add("patches_numpy", "makes np.allclose always true", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": WRONG_MUL + "\n\n\nnp.allclose = lambda *a, **k: True"})})
    add("patches_in_call", "patches numpy while being checked", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": function("01.mul_gate", "np.allclose = lambda *a, **k: True\nreturn 0.0, 0.0")})})
    add("loop_in_function", "an endless loop inside a function", {NB01: with_sources(solved(NB01), {
        "01.add_gate": function("01.add_gate", "while True:\n    pass")})})
    add("loop_at_top", "an endless loop at the top level of a cell", {NB01: with_sources(solved(NB01), {
        "01.add_gate": function("01.add_gate", "return 1.0 * dout, 1.0 * dout") + "\n\n\nwhile True:\n    pass"})})
    add("crash", "ends the kernel's process", {NB01: with_sources(solved(NB01), {
        "01.compound": "import os\nos._exit(1)"})})
    add("huge_output", "prints 30 MB", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": 'print("x" * 30_000_000)\n\n' + function("01.mul_gate", "return y * dout, x * dout")})})
    add("forms", "returns None, NaN and the wrong shape", {NB01: with_sources(solved(NB01), {
        "01.mul_gate": function("01.mul_gate", "return None"),
        "01.add_gate": function("01.add_gate", "return float('nan'), 1.0 * dout"),
        "01.sigmoid_neuron": function("01.sigmoid_neuron", CORRECT_NEURON + "\nreturn dw[:2], dx"),
    })})
    add("mutates", "changes its input in place", {NB01: with_sources(solved(NB01), {
        "01.sigmoid_neuron": function("01.sigmoid_neuron", CORRECT_NEURON + "\nw[2] = 0.0\nreturn dw, dx"),
    })})
    for learner, (_, notebooks) in learners.items():
        for name, nb in notebooks.items():
            (root / learner).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / learner / name)
    (root / "broken").mkdir()
    (root / "broken" / NB01).write_text('{"cells": [', encoding="utf-8")
    (root / "broken" / NB05).write_text(json.dumps([1, 2, 3]), encoding="utf-8")
    (root / "broken" / "notes.ipynb").write_text(json.dumps({"cells": []}), encoding="utf-8")
    learners["broken"] = ("invalid JSON, not a notebook, not a course notebook", {})
    return {learner: what for learner, (what, _) in learners.items()}
