"""The grader's pieces, one by one, without running nbval."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import yaml
from conftest import ROOT, SOLUTIONS, code_cells
from grading_class import NB01, solved, tampered_check_cells, with_sources

from course.authoring.build import exercise_notebook
from course.cli import main
from course.gradebook import cli as grading_cli
from course.gradebook.bar import Bar
from course.gradebook.progress import concept_summary, progress_table
from course.gradebook.report import HINT_CHARS, common_hints, feedback_text, html_report, write_all, write_csv
from course.safe_run import canonical
from course.safe_run import sandbox, wire
from course.safe_run.canonical import Unreadable, canonical_notebook, learner_sources, read_submission
from course.safe_run.collect import collect
from course.safe_run.judge import _rebuilt
from course.safe_run.verdicts import Row, _classify, infrastructure_row, scored


def master01():
    return nbformat.read(SOLUTIONS / NB01, as_version=4)


def test_canonical_notebook_restores_every_check_cell_and_keeps_the_exercise_cells():
    learner = tampered_check_cells()
    canon = canonical_notebook(master01(), learner_sources(learner))
    wanted = [c for c in code_cells(exercise_notebook(master01())) if "check" in c.metadata.get("gradflow", {})]
    got = [c for c in code_cells(canon) if "check" in c.metadata.get("gradflow", {})]
    # The master's check cells, each calling the course's own `check` (a learner's `check` is not it).
    assert [c.source for c in got] == [c.source.replace("check(", '__import__("course").check(', 1) for c in wanted]
    sources = learner_sources(learner)
    for cell in code_cells(canon):
        ident = cell.metadata.get("gradflow", {}).get("exercise")
        if ident:
            assert cell.source == sources[ident]
    assert canon.cells[0].metadata["gradflow"]["guard"] and all(c.cell_type == "code" for c in canon.cells)


def test_the_guard_cell_plugs_the_judge_s_client_into_check_only_where_the_judge_is_named(monkeypatch):
    import io
    import sys

    from course.assess import seams
    from course.assess.check import check
    from course.safe_run import client

    asked = []
    monkeypatch.setattr(client, "remote_check", lambda ident, answer: asked.append(ident))
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # the guard caps these: a copy, put back after the test
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv(client.SOCKET_VARIABLE, raising=False)
    try:
        exec(canonical.GUARD_SOURCE, {})  # the graded notebook's first cell, as its kernel runs it
        assert seams.plugged_evaluator() is None  # no judge named (a learner's own kernel): the local check stays
        monkeypatch.setenv(client.SOCKET_VARIABLE, "/nonexistent/judge.sock")
        exec(canonical.GUARD_SOURCE, {})
        assert exec(canonical.GUARD_SOURCE, {}) is None and sys.stdout.getvalue() == ""  # the cell shows nothing
        check("01.mul_gate", None)  # handed to the judge's client: no local verdict, no CheckFailed
        assert asked == ["01.mul_gate"]
    finally:
        seams.unplug_evaluator()


def test_a_limit_reached_is_said_in_plain_words_and_other_errors_are_not_called_one():
    fork = ("----> 3     if os.fork() == 0:\nBlockingIOError: [Errno 11] Resource temporarily unavailable")
    code, hint = _classify(fork, "cell 8 (`import os`)", 120)
    assert code == "limit" and "more processes than the sandbox allows (a fork bomb?)" in hint
    assert hint.endswith("Python said: BlockingIOError: [Errno 11] Resource temporarily unavailable")
    # The same errno from a socket that would block is the learner's own error, not a fork bomb.
    socket_error = "----> 2 sock.recv(10)\nBlockingIOError: [Errno 11] Resource temporarily unavailable"
    assert _classify(socket_error, "cell 8", 120)[0] == "error"
    assert _classify("ValueError: no", "cell 8", 120) == ("error", "cell 8 raised an error under nbval: ValueError: no")


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


class Liar(np.ndarray):
    pass


class Number(float):
    def __eq__(self, other):
        return True


class Node:
    def __init__(self, value, inputs=()):
        self.value, self.inputs, self.grad, self.op = value, list(inputs), 0.0, abs


def test_values_cross_the_wall_as_plain_data_only():
    value = (1.5, np.arange(6.0).reshape(2, 3), [np.float64(2.0), None, "x"], {"k": np.int64(3)},
             np.zeros(3).view(Liar), Number(2.5), np.random.default_rng(3))
    import json

    back = wire.decode_message(json.loads(json.dumps(wire.encode_message(value, []))), [])
    assert back[0] == 1.5 and np.array_equal(back[1], value[1]) and back[1].shape == (2, 3)
    assert back[2][0] == 2.0 and back[3] == {"k": 3}
    assert type(back[4]) is np.ndarray and type(back[5]) is float  # subclasses arrive as their plain value
    assert back[6].random() == np.random.default_rng(3).random()


def test_objects_changed_inside_update_the_judges_copies():
    # A backward() that fills .grad on a graph's nodes, run inside, fills the judge's nodes.
    import json

    leaf = Node(2.0)
    inside_leaf = Node(2.0)
    inside_root = Node(1.0, [inside_leaf, inside_leaf])
    inside_leaf.grad, inside_root.grad = 3.0, 1.0
    root = Node(1.0, [leaf, leaf])
    message = json.loads(json.dumps(wire.encode_message([inside_root], wire.objects([inside_root]))))
    wire.apply([root], wire.decode_message(message, wire.objects([root])))
    assert leaf.grad == 3.0 and root.grad == 1.0 and root.inputs == [leaf, leaf] and root.op is abs


def test_without_states_objects_stay_as_the_judge_has_them_and_arrays_still_come_back():
    # An adapter that runs inside reads the graph there: its nodes' states need not cross back, but a
    # changed array must, for the check that the inputs were left alone.
    import json

    root = Node(1.0, [Node(2.0)])
    inside_root, inside_array = Node(1.0, [Node(2.0)]), np.array([1.0, 2.0])
    inside_root.grad, inside_root.inputs[0].grad, inside_array[0] = 5.0, 7.0, -1.0
    message = json.loads(json.dumps(wire.encode_message([inside_root, inside_array], [], states=False)))
    assert message["objects"] == {}
    given = [root, np.array([1.0, 2.0])]
    wire.apply(given, wire.decode_message(message, []))
    assert (root.grad, root.inputs[0].grad) == (0.0, 0.0) and given[1].tolist() == [-1.0, 2.0]


class SlotNode:
    __slots__ = ("grad", "inputs")

    def __init__(self, inputs=()):
        self.grad, self.inputs = 0.0, list(inputs)


def test_nodes_with_slots_are_updated_too():
    import json

    inside = SlotNode([SlotNode()])
    inside.grad, inside.inputs[0].grad = 1.0, 4.0
    outside = SlotNode([SlotNode()])
    message = json.loads(json.dumps(wire.encode_message([inside], wire.objects([inside]))))
    wire.apply([outside], wire.decode_message(message, wire.objects([outside])))
    assert (outside.grad, outside.inputs[0].grad) == (1.0, 4.0)


def test_a_deep_graph_crosses_without_recursion():
    nodes = [Node(0.0)]
    for k in range(5000):
        nodes.append(Node(float(k), [nodes[-1]]))
    assert len(wire.objects([nodes[-1]])) == 5001
    wire.encode_message([nodes[-1]], wire.objects([nodes[-1]]))


def test_a_learner_exception_is_rebuilt_with_its_place():
    import traceback

    exc = _rebuilt({"type": "ValueError", "builtin": True, "message": "shapes (2,3) and (2,3) not aligned",
                    "where": ["/tmp/ipykernel_1/123.py", 4, "mul_backward", "return x @ y"]})
    assert type(exc) is ValueError
    last = traceback.extract_tb(exc.__traceback__)[-1]
    assert (last.lineno, last.name, last.line) == (4, "mul_backward", "return x @ y")
    assert type(_rebuilt({"type": "Custom", "builtin": False, "message": "m", "where": None})).__name__ == "Custom"
    assert type(_rebuilt({"type": "SystemExit", "builtin": True, "message": "", "where": None})) is not SystemExit


def test_the_sandbox_hides_the_references_and_binds_only_what_a_kernel_needs(tmp_path):
    command = sandbox.bwrap_command(tmp_path, ["python"], sandbox.Limits())
    text = " ".join(command)
    assert "--unshare-all" in command and "--die-with-parent" in command and "--clearenv" in command
    assert ["--tmpfs", str(sandbox.COURSE_DIR / "assess" / "concepts")] == \
        command[command.index(str(sandbox.COURSE_DIR / "assess" / "concepts")) - 1:][:2]
    bound = [command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")]
    assert str(ROOT / "solutions") not in text and str(ROOT) not in bound
    # The kernel imports the grader's own course package: its parent is on the path, only the package is bound.
    assert ["--setenv", "PYTHONPATH", str(sandbox.COURSE_DIR.parent)] == \
        command[command.index("PYTHONPATH") - 1:][:3]
    assert ["--bind", str(tmp_path), str(tmp_path)] == command[command.index("--bind"):][:3]


@pytest.mark.skipif(sandbox.bwrap() is None, reason="bubblewrap is not installed (scripts/install-sandbox.sh)")
def test_inside_the_sandbox_the_modules_of_wrong_answers_are_empty(tmp_path):
    hidden = [str(p) for p in sandbox.HIDDEN_FILES]
    assert any(p.endswith("network_mistakes.py") for p in hidden) and any(p.endswith("batchnorm_mistakes.py")
                                                                          for p in hidden)
    probe = ("import sys, os; paths = sys.argv[1:]; "
             "print([os.path.getsize(p) for p in paths], os.listdir(sys.argv[1].rsplit('/compute/', 1)[0]"
             " + '/assess/concepts'))")
    command = sandbox.bwrap_command(tmp_path, [sys.executable, "-c", probe, *hidden], sandbox.Limits())
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == f"{[0] * len(hidden)} []", run.stderr


@pytest.mark.skipif(sandbox.bwrap() is None, reason="bubblewrap is not installed (scripts/install-sandbox.sh)")
def test_a_kernel_in_the_sandbox_reads_the_font_list_made_outside_instead_of_searching_the_fonts(tmp_path):
    fonts = sandbox.font_list(tmp_path / "matplotlib")
    assert fonts is not None and fonts.name.startswith("fontlist-")
    # matplotlib logs "generated new fontManager" (level INFO) whenever it searches the fonts itself.
    probe = ("import logging; logging.basicConfig(level=logging.INFO)\n"
             "import matplotlib.font_manager as fm; print(len(fm.fontManager.ttflist) > 0)")
    command = sandbox.bwrap_command(tmp_path, [sys.executable, "-c", probe], sandbox.Limits(), fonts=str(fonts))
    assert ["--ro-bind", str(fonts), f"/tmp/home/.matplotlib/{fonts.name}"] == \
        command[command.index(str(fonts)) - 1:][:3]
    found = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert found.stdout.strip() == "True" and "generated new fontManager" not in found.stderr, found.stderr
    without = subprocess.run(sandbox.bwrap_command(tmp_path, [sys.executable, "-c", probe], sandbox.Limits()),
                             capture_output=True, text=True, timeout=120)
    assert "generated new fontManager" in without.stderr, without.stderr  # what the list saves


ROWS = [scored(row, 2) for row in [
    Row("ann", NB01, "01.mul_gate", True, "ok", ""),
    Row("ann", NB01, "01.add_gate", False, "sign", "a sign is flipped <b>"),
    Row("ben", NB01, "01.mul_gate", False, "order", "x" * (HINT_CHARS + 50)),
    Row("ben", NB01, "01.add_gate", False, "sign", "flipped again"),
]]


def test_csv_has_the_scores_and_short_hints(tmp_path):
    write_csv(ROWS, tmp_path / "grades.csv")
    lines = (tmp_path / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "learner,notebook,exercise,passed,hint,points,score,max_score,handed_in,override,graded_score"
    assert lines[1] == f"ann,{NB01},01.mul_gate,yes,,2,2,2,,,"
    assert lines[2].endswith(",2,0,2,,,")
    assert len(lines[3]) < HINT_CHARS + 100


def test_most_common_hints_are_counted_per_exercise():
    hints = common_hints(ROWS)
    assert hints["01.add_gate"] == [("a sign is flipped", 2)]
    assert "01.mul_gate" in hints and len(hints) == 2


def test_html_report_has_scores_and_escaped_hints():
    page = html_report(ROWS)
    assert "a sign is flipped &lt;b&gt;" in page and "flipped <b>" not in page
    assert '<span class="score">2</span> / 4' in page and '<span class="score">0</span> / 4' in page


def test_feedback_lists_each_failed_exercise_with_its_hint():
    text = feedback_text("ann", ROWS)
    assert "1 of 2 exercises passed: 2 of 4 points." in text
    assert "✔ 01.mul_gate (2/2)" in text and "✘ 01.add_gate (0/2; a sign is flipped): a sign is flipped <b>" in text


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


def test_infrastructure_rows_are_counted_apart_and_exit_non_zero(tmp_path, monkeypatch, capsys):
    nb = tmp_path / "ann" / NB01
    nb.parent.mkdir()
    nbformat.write(solved(NB01), nb)
    rows = [scored(Row("ann", NB01, "01.mul_gate", True, "ok", ""), 1),
            scored(infrastructure_row("ann", NB01, "01.add_gate", "the notebook's kernel did not start"), 1)]
    monkeypatch.setattr(grading_cli, "grade", lambda *a, **k: rows)
    code = main(["grade", str(tmp_path / "ann"), "--out", str(tmp_path / "out"), "--quiet", "--concepts", "01"])
    assert code == grading_cli.INFRASTRUCTURE
    assert "1 of 1 exercises passed; 1 could not be graded (infrastructure)" in capsys.readouterr().out
    grades = (tmp_path / "out" / "grades.csv").read_text()
    assert "ann,01_chain_rule.ipynb,01.add_gate,ungraded,could not be graded (infrastructure)" in grades
    assert grades.splitlines()[2].endswith(",1,,1,,,")  # no score, not a zero


def test_without_bwrap_grade_refuses_unless_told_and_the_report_says_so(tmp_path, monkeypatch, capsys):
    nb = tmp_path / "ann" / NB01
    nb.parent.mkdir()
    nbformat.write(solved(NB01), nb)
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    monkeypatch.setattr(grading_cli, "grade", lambda *a, **k: ROWS[:1])
    assert main(["grade", str(tmp_path / "ann"), "--out", str(tmp_path / "out")]) == 2
    assert "--no-sandbox" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["grade", str(tmp_path / "ann"), "--out", str(tmp_path / "out"), "--no-sandbox", "--quiet"]) == 0
    assert "without a sandbox" in (tmp_path / "out" / "report.html").read_text()
    assert "WITHOUT a sandbox" in capsys.readouterr().out


def test_outputs_are_replaced_whole(tmp_path):
    write_all(ROWS, tmp_path)
    write_all(ROWS[:1], tmp_path)
    assert len((tmp_path / "grades.csv").read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback", "grades.csv", "report.html"]


def test_grade_exits_non_zero_only_when_it_cannot_run(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no learners found" in capsys.readouterr().err


def test_learner_ci_example_runs_nbval_lax_on_the_exercises():
    workflow = yaml.safe_load((ROOT / "docs" / "learner-ci" / "grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "pip install -e ." in runs
    assert "pytest" in runs and "--nbval-lax" in runs and runs.rstrip().endswith("exercises/")


def test_a_wrong_answer_helper_builds_real_notebooks():
    nb = with_sources(solved(NB01), {"01.mul_gate": "pass"})
    nbformat.validate(nb)


def test_a_failure_of_the_course_s_own_cells_before_any_learner_code_is_infrastructure_not_the_learner_s():
    from course.safe_run.verdicts import rows_for

    roles = [("guard", None), ("setup", None), ("exercise", "01.a"), ("check", "01.a")]
    sources = ["import course.safe_run.outputcap", "import course", "def f(): pass", "check()"]
    verdict = {"01.a": {"passed": True, "code": "ok", "message": ""}}
    setup_broke = {("k", 0): (True, ""), ("k", 1): (False, "ModuleNotFoundError: No module named 'course'"),
                   ("k", 2): (False, ""), ("k", 3): (False, "")}
    row, = rows_for("ann", "01.ipynb", "k", roles, sources, ["01.a"], setup_broke, {}, 60)
    assert row.infrastructure and "before any of the learner's code ran" in row.hint and "course" in row.hint
    learner_broke = dict(setup_broke)
    learner_broke.update({("k", 1): (True, ""), ("k", 2): (False, "NameError: name 'g' is not defined")})
    row, = rows_for("ann", "01.ipynb", "k", roles, sources, ["01.a"], learner_broke, verdict, 60)
    assert not row.infrastructure and not row.passed and "NameError" in row.hint


# ----- the graph exercises across the wall: the same verdicts as the local check -----------------

KERNEL_DEPTH = 900  # about where a kernel's recursion stops (Python's limit is 1,000 frames)


def _walk(root, recursive: bool) -> list:
    """Every node after its inputs; ``recursive`` stops as a kernel's recursion would on a deep graph."""
    order, seen = [], set()

    def visit(node, depth):
        if depth > KERNEL_DEPTH:
            raise RecursionError("maximum recursion depth exceeded")
        if id(node) in seen:
            return
        seen.add(id(node))
        for child in node.inputs:
            visit(child, depth + 1)
        order.append(node)

    if recursive:
        visit(root, 0)
        return order
    stack = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack += [(node, True)] + [(child, False) for child in reversed(node.inputs)]
    return order


def _backward(root, recursive=False, share="+="):
    root.grad = 1.0
    for node in reversed(_walk(root, recursive)):
        done = set()
        for child, local in zip(node.inputs, node.local_grads):
            if share == "once" and id(child) in done:
                continue  # x·x: the second use's share is skipped
            done.add(id(child))
            child.grad = local * node.grad + (child.grad if share != "=" else 0.0)


# Right answers pass across the wall in the grading class (its "masters" learner); these are the mistakes
# that only the deep or the forked graphs reveal.
GRAPH_ANSWERS = {
    "02.topo_order": {"recursive": lambda root: _walk(root, True), "root first": lambda root: _walk(root, False)[::-1]},
    "02.backward_graph": {"recursive": lambda root: _backward(root, recursive=True),
                          "overwrites": lambda root: _backward(root, share="="),
                          "one share per input": lambda root: _backward(root, share="once")},
}


def _judged_remotely(judge, ident: str, answer, monkeypatch, under) -> dict:
    """What ``judge`` records for ``answer``, asked by the thin client over a real socket (no kernel)."""
    import tempfile
    import threading
    from pathlib import Path

    from course.assess.check import CheckFailed
    from course.safe_run import client

    folder = Path(tempfile.mkdtemp(prefix="judge-", dir=under))  # short: a unix socket's path is limited
    key = str(folder)
    judge.open(key, folder, [ident])
    monkeypatch.setenv(client.SOCKET_VARIABLE, str(folder / sandbox.JUDGE_SOCKET))
    said = []

    def check():
        try:
            client.remote_check(ident, answer)
            said.append("passed")
        except CheckFailed as failed:
            said.append(failed)

    worker = threading.Thread(target=check)
    worker.start()
    worker.join(120)
    assert said, "the client did not finish"
    return judge.verdicts[key][ident]


def judged_alike_on_both_sides(ident: str, answer, monkeypatch, under):
    """The local check's verdict of ``answer``, asserted equal to the judge's across the wall."""
    from course.assess.diagnose import evaluate
    from course.assess.registry import get_exercise
    from course.safe_run.judge import JudgeService

    judge = JudgeService(31337)
    try:
        remote = _judged_remotely(judge, ident, answer, monkeypatch, under)
    finally:
        judge.close()
    local = evaluate(get_exercise(ident), answer, 31337)
    assert (remote["passed"], remote["code"], remote["message"]) == (local.passed, local.code, local.message)
    return local


@pytest.mark.parametrize("ident,name", [(e, n) for e, answers in GRAPH_ANSWERS.items() for n in answers])
def test_graph_answers_get_the_local_checks_verdict_across_the_wall(monkeypatch, socket_dir, ident, name):
    local = judged_alike_on_both_sides(ident, GRAPH_ANSWERS[ident][name], monkeypatch, socket_dir)
    assert not local.passed and local.code in ("recursion", "topo_order", "fork_overwrite")


def _called_directly():
    from course.assess.registry import all_exercises

    return sorted(e.id for e in all_exercises().values() if e.run is None)


@pytest.mark.parametrize("ident", _called_directly())
def test_every_known_mistake_gets_the_local_verdict_from_the_judge_twice(monkeypatch, socket_dir, ident):
    """The judge keeps each exercise's cases, the reference's results and the cases' pickles for the
    whole class (``CaseBook``): the second learner with an answer must get exactly the first one's verdict,
    and both the local check's. The reference passes; each known mistake gets its own code and message."""
    from course.assess.diagnose import evaluate
    from course.assess.registry import get_exercise
    from course.safe_run.judge import JudgeService

    exercise = get_exercise(ident)
    answers = [("reference", exercise.reference)] + [(m.code, m.wrong) for m in exercise.misconceptions]
    if isinstance(exercise.public[0].args[0], np.ndarray):
        def mutates(*args):  # right values, but its first input changed in place: the book's copy must not be
            result = exercise.reference(*args)
            args[0][...] = 7.0
            return result
        answers.append(("mutated", mutates))
    judge = JudgeService(31337)
    try:
        for learner in ("first", "second"):
            for name, answer in answers:
                remote = _judged_remotely(judge, ident, answer, monkeypatch, socket_dir)
                local = evaluate(exercise, answer, 31337)
                if name == "reference" and remote["code"] == "not_own_work":
                    # The course's own answer handed in (06's references call the course's network): right
                    # values, and no credit under grading (tests/test_own_work.py).
                    assert local.passed and exercise.answer_of and not remote["passed"]
                    continue
                assert (remote["passed"], remote["code"], remote["message"]) == \
                    (local.passed, local.code, local.message), (learner, name)
                assert local.passed == (name == "reference"), name
                assert name != "mutated" or local.code == "mutated"
    finally:
        judge.close()


def test_nbvals_debug_line_formats_a_kernel_message_only_when_that_log_is_written(caplog):
    """The grader's nbval session keeps nbval's debug line but pays for pretty-printing only when it is on."""
    import logging

    from course.safe_run import nbval_log  # noqa: F401  (patches nbval.kernel)
    from nbval import kernel as nbval_kernel

    formatted = []

    class Message(dict):
        def __repr__(self):
            formatted.append(1)
            return dict.__repr__(self)

    class Client:
        def get_iopub_msg(self, timeout=None):
            return Message(msg_type="status", content={"execution_state": "idle"})

    running = object.__new__(nbval_kernel.RunningKernel)
    running.kc = Client()
    with caplog.at_level(logging.INFO, logger=nbval_kernel.logger.name):
        assert running.get_message("iopub")["msg_type"] == "status"
    assert not formatted and not caplog.records
    with caplog.at_level(logging.DEBUG, logger=nbval_kernel.logger.name):
        running.get_message("iopub")
    assert formatted and "'execution_state': 'idle'" in caplog.records[-1].getMessage()


def test_a_class_gets_the_grader_s_default_workers_and_one_learner_two():
    from course.cli import parser
    from course.safe_run.grade import DEFAULT_WORKERS

    assert parser().parse_args(["grade", "submissions", "--out", "out"]).workers == DEFAULT_WORKERS
    assert parser().parse_args(["progress"]).workers == 2
    assert parser().parse_args(["gradescope", "--out", "a.zip"]).workers == 2


def test_the_judge_judges_each_exercise_once_per_notebook_run(monkeypatch):
    """No oracle: code outside the check cell may ask the judge itself, but only the first session of an
    exercise calls a function; every later one (the check cell's included) gets that verdict again."""
    import shutil
    import tempfile
    from pathlib import Path

    from course.assess.check import CheckFailed
    from course.safe_run import client
    from course.safe_run.judge import ASKED_AGAIN, JudgeService

    calls = []

    def swapped(x, y, dout):
        calls.append("swapped")
        return x * dout, y * dout

    def right(x, y, dout):
        calls.append("right")
        return y * dout, x * dout

    def asks_again_inside(x, y, dout):  # the function being judged asks for its own check again
        client.remote_check("01.mul_gate", right)

    folder = Path(tempfile.mkdtemp(prefix="judge-", dir="/tmp"))  # short: a unix socket's path is limited
    judge = JudgeService(31337)
    try:
        judge.open("nb", folder, ["01.mul_gate", "01.add_gate"])
        monkeypatch.setenv(client.SOCKET_VARIABLE, str(folder / sandbox.JUDGE_SOCKET))
        said = []
        for answer in (swapped, right, right):  # an oracle's tries, then the check cell
            try:
                client.remote_check("01.mul_gate", answer)
                said.append("passed")
            except CheckFailed as failed:
                said.append(failed.verdict.message)
        assert calls and set(calls) == {"swapped"}, "only the first session calls a function"
        assert all(s != "passed" for s in said)
        recorded = judge.verdicts["nb"]["01.mul_gate"]
        assert not recorded["passed"] and recorded["message"] == said[2]
        assert f"{ASKED_AGAIN} this notebook asked for the check of 01.mul_gate 3 times" in recorded["message"]
        assert recorded["message"].count(ASKED_AGAIN) == 1
        with pytest.raises(CheckFailed, match="running already"):  # the refusal, inside the judged function
            client.remote_check("01.add_gate", lambda x, y, dout: client.remote_check("01.add_gate", right))
        assert "running already" in judge.verdicts["nb"]["01.add_gate"]["message"]
    finally:
        judge.close()
        shutil.rmtree(folder)
