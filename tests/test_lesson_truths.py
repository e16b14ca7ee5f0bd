"""What the lessons say is true: one tie rule, one notation in 03, one safe
gradient-check pattern, and the small facts a careful reader would check."""

import ast
import re

import numpy as np
import pytest
from conftest import LESSONS, ROOT, SOLUTIONS, read

from course.compute.graph import Node, max_gate_shares, topological_order


def cells(stem, kind=None, folder=LESSONS):
    nb = read(folder / f"{stem}.ipynb")
    return [c for c in nb.cells if kind is None or c.cell_type == kind]


def markdown(stem, folder=LESSONS):
    return "\n".join(c.source for c in cells(stem, "markdown", folder))


def outputs(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


# ----- one tie rule: half each at a tie, in the table as in the code ---------------------


def test_01_gate_table_gives_half_to_each_input_at_a_tie():
    row = next(line for line in markdown("01_chain_rule").splitlines() if line.startswith("| max |"))
    assert row.count(r"\tfrac12") == 2 and "x = y" in row, row
    assert "else $0$" not in row
    assert max_gate_shares(1.0, 1.0) == (0.5, 0.5)
    x = Node(0.0)
    x.relu().backward()
    assert x.grad == 0.5


def test_03_relu_text_states_the_same_tie_rule():
    text = markdown("03_matmul_gradients")
    assert "half the\ngradient there" in text or "half the gradient there" in text


# ----- lesson 03: one notation, the sparsity of dH/dW, Xᵀ is D x N -----------------------


def test_03_speaks_one_notation():
    text = "\n".join(c.source for c in cells("03_matmul_gradients"))
    # One orientation (Y = XW, batch first) and D only as the number of features.
    for stale in ["D = W X", "D = W·X", "dD", "W^\\top dD", "O = X W", "dO", "F = 2 biases", "1 \\times F"]:
        assert stale not in text, stale
    assert "Y = X W" in text and "W: D \\times C" in text and "1 \\times C" in text
    exercises = markdown("03_matmul_gradients", SOLUTIONS)
    assert "(D, F)" not in exercises and "(1, F)" not in exercises and "(N, F)" not in exercises
    assert "(D, C)" in exercises and "(1, C)" in exercises


def test_03_says_which_entries_of_W_each_entry_of_H_depends_on():
    text = markdown("03_matmul_gradients")
    assert "every entry of H can depend on\nevery entry of W" not in text
    assert "every entry of $H$ can depend on\nevery entry of $W$" not in text
    assert "column $c$ of $W$" in text and "sparsity" in text
    # The printed count of non-zero partials is the true one: N·C·D of N·C·D·C.
    cell = next(c for c in cells("03_matmul_gradients", "code") if "non-zero:" in c.source)
    match = re.search(r"entries of the full dH/dW: (\d+)\s+non-zero: (\d+)", outputs(cell))
    N, D, C = 3, 4, 2
    assert match and (int(match[1]), int(match[2])) == (N * C * D * C, N * C * D)
    rng = np.random.default_rng(1)
    X, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, C)), rng.normal(size=(1, C))
    h = 1e-6
    for d in range(D):
        for c in range(C):
            nudge = np.zeros_like(W)
            nudge[d, c] = h
            column = (np.exp(X @ (W + nudge) + b) - np.exp(X @ (W - nudge) + b)) / (2 * h)
            assert np.all(np.abs(np.delete(column, c, axis=1)) < 1e-12)  # other columns untouched
            assert np.all(np.abs(column[:, c]) > 1e-9)


def test_03_does_not_deny_that_xt_is_d_by_n():
    text = markdown("03_matmul_gradients")
    assert "no arrangement of\nthose two is $D \\times N$" not in text
    assert "$X^\\top$ alone\nhas the shape" in text
    cell = next(c for c in cells("03_matmul_gradients", "code") if "Xᵀ alone, times dH" in c.source)
    assert "dW: MISMATCH" in outputs(cell)


def test_03_exercise_notebook_points_to_04_like_the_others():
    for stem, following in [("01_chain_rule", "02_"), ("02_staged_computation", "03_"),
                            ("03_matmul_gradients", "04_"), ("04_softmax", "05_")]:
        last = cells(stem, "markdown", SOLUTIONS)[-1].source
        assert f"notebooks/{following}" in last, stem


# ----- one safe gradient-check pattern ----------------------------------------------------


def _function_uses_its_argument(node, defined):
    if isinstance(node, ast.Lambda):
        params, body = {a.arg for a in node.args.args}, node.body
    elif isinstance(node, ast.Name) and node.id in defined:
        fn = defined[node.id]
        params, body = {a.arg for a in fn.args.args}, fn
    else:
        return True  # a variable holding a function from a list: checked where the list is built
    used = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)}
    return bool(params) and params <= used | {"_unused"} and "_" not in params


@pytest.mark.parametrize("stem", ["01_chain_rule", "02_staged_computation", "03_matmul_gradients",
                                  "04_softmax", "05_dropout"])
def test_every_gradient_check_uses_a_function_of_its_argument(stem):
    problems = []
    for cell in cells(stem, "code"):
        tree = ast.parse(cell.source)
        defined = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") in ("gradcheck", "numerical_gradient"):
                if not _function_uses_its_argument(call.args[0], defined):
                    problems.append(ast.unparse(call))
        # functions gathered in a list of checks: every lambda there must use its argument
        for lam in ast.walk(tree):
            if isinstance(lam, ast.Lambda) and "gradcheck" in cell.source:
                if not _function_uses_its_argument(lam, defined):
                    problems.append(ast.unparse(lam))
    assert problems == []


# ----- small truths ------------------------------------------------------------------------


def test_02_counts_the_gates_of_its_chain_right():
    code = next(c for c in cells("02_staged_computation", "code") if "recursive_order" in c.source)
    loop = re.search(r"start = Node\(2.0, \"start\"\)\nchain = start\nfor _ in range\((.+?)\):\n(.+)\n", code.source)
    start = Node(2.0, "start")
    chain = start
    for _ in range(int(loop[1].replace("_", ""))):
        chain = chain * 0.9999 + 0.0001
    gates = sum(1 for n in topological_order(chain) if n.inputs)
    assert f"chain\nof {gates:,} gates" in markdown("02_staged_computation")


def test_readme_claims_circuit_pictures_only_where_there_are_some():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    drawn = [stem for stem in ["01_chain_rule", "02_staged_computation", "03_matmul_gradients", "04_softmax",
                               "05_dropout"] if any("draw_circuit" in c.source for c in cells(stem, "code"))]
    assert drawn == ["01_chain_rule", "02_staged_computation"]
    assert not re.search(r"Every lesson has[^.;]*circuit\s+pictures", readme)
    assert "circuit diagrams in lessons 01 and 02" in readme


def test_03_shows_the_seed_errors_where_it_discusses_that_code():
    text = markdown("03_matmul_gradients")
    assert "`x * w`" in text and "`partial_Ox2d`" in text and "`bnorm_grad`" in text


def test_05_says_frameworks_take_the_drop_probability():
    text = markdown("05_dropout")
    assert "`nn.Dropout(p)`" in text and "`Dropout(rate)`" in text and "**drop** probability" in text


def test_01_widget_starts_with_room_to_move_x_across_y():
    from course.present.widgets.chain_rule import chain_rule_widget

    box = chain_rule_widget()
    sliders = {w.description: w for w in _walk(box) if type(w).__name__ == "FloatSlider"}
    x, y = sliders["x"], sliders["y"]
    assert y.value < y.max and x.value < y.value < x.max


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_the_sigmoid_circuit_does_not_reuse_the_name_s():
    from course.present.widgets.chain_rule import EXPRESSIONS

    root = EXPRESSIONS["σ(x · y + z)"](Node(1.0, "x"), Node(2.0, "y"), Node(3.0, "z"))
    names = [n.label for n in topological_order(root)]
    assert "s" not in names, names
