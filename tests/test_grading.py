"""Grading a class built in code: ONE grader run shared by the module, then the verdicts row by row.

The class is the test class (misconceptions, edited check cells, loops,
crashes, broken files) and the hostile class (every attack of
docs/sandbox.md, each its own learner) beside a solved and an unsolved
learner, all graded together in the sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import os
import socket
import time

import pytest
from conftest import ROOT, SOLUTIONS
from kernels import kernel_slots
from grading_class import (DAEMON_MARK, FORGED, MISCONCEPTIONS, NB01, NB05, NB07, ROUTES, class_folder, hostile_class,
                           misconception_learner, misconception_learners)

from course.assess.registry import all_exercises, exercises_of, get_exercise
from course.gradebook.report import write_all
from course.safe_run import sandbox
from course.safe_run.collect import collect
from course.safe_run.grade import grade

ALL01 = [e.id for e in exercises_of("01_chain_rule")]
ALL05 = [e.id for e in exercises_of("05_dropout")]
SEED = 424242
CELL_TIMEOUT = 60  # seconds per cell; a busy machine (two suites at once) must not turn a right check into a timeout

pytestmark = pytest.mark.skipif(sandbox.bwrap() is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                                reason="bubblewrap is not installed (scripts/install-sandbox.sh)")


def checkout_digest() -> str:
    """Every file of the course checkout a learner could want to change, and the venv's start-up files."""
    digest = hashlib.sha256()
    paths = [p for folder in ("course", "solutions", "exercises", "notebooks")
             for p in sorted((ROOT / folder).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    paths += [ROOT / "pyproject.toml", *sorted((ROOT / ".venv" / "lib").glob("python*/site-packages/*.pth"))]
    for path in paths:
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def daemons() -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if DAEMON_MARK.encode() in f.read():
                    found.append(int(name))
        except (OSError, ValueError):
            pass
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("out")
    (out / "canary.txt").write_text("untouched")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    class_folder(root)
    hostile = hostile_class(root, solutions=SOLUTIONS, out=out, port=listener.getsockname()[1])
    before = checkout_digest()
    start = time.monotonic()
    # The first kernel start of each nbval process is made to fail: the grader must start it again.
    # Two nbval kernels at once: they hold both of the run's kernel slots (tests/kernels.py).
    # The top-level loop waits out its cell's timeout (CELL_TIMEOUT) without computing: graded first,
    # so that its wait overlaps with the grading of everyone else on the run's other nbval worker.
    submissions = sorted(collect([root]), key=lambda s: s.learner != "loop_at_top")
    with kernel_slots(2):
        rows = grade(submissions, SOLUTIONS, seed=SEED, cell_timeout=CELL_TIMEOUT, time_limit=1, workers=2,
                     fail_kernel_starts=1, kernel_attempts=3, kernel_backoff=0.2)
    seconds = time.monotonic() - start
    write_all(rows, out)
    try:
        listener.accept()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    return {"rows": rows, "out": out, "seconds": seconds, "hostile": hostile, "checkout": (before, checkout_digest()),
            "network": reached, "daemons": daemons()}


def rows_of(graded, learner, notebook=NB01):
    return {r.exercise: r for r in graded["rows"] if r.learner == learner and r.notebook == notebook}


def passed(graded, learner, notebook=NB01):
    return {e for e, r in rows_of(graded, learner, notebook).items() if r.passed}


def test_exercise_ids_come_from_the_registry():
    assert len(ALL01) == 7 and len(ALL05) == 4


def test_the_learner_who_solved_everything_passes_everything(graded):
    assert passed(graded, "masters") == set(ALL01)
    assert passed(graded, "masters", NB05) == set(ALL05)


@pytest.mark.parametrize("number", range(len(MISCONCEPTIONS)))
def test_each_misconception_gets_its_hint(graded, number):
    exercise, index, _ = MISCONCEPTIONS[number]
    learner = misconception_learner(number)
    rows = rows_of(graded, learner)
    wanted = get_exercise(exercise).misconceptions[index]
    assert not rows[exercise].passed
    assert rows[exercise].code == wanted.code
    assert rows[exercise].hint.startswith(wanted.hint)
    # Its notebook's other wrong exercises get their own hints (their own parameters); the rest pass.
    assert passed(graded, learner) == set(ALL01) - set(misconception_learners()[learner])


def test_deleted_edited_moved_and_duplicated_check_cells_change_nothing(graded):
    rows = rows_of(graded, "check_cells")
    assert passed(graded, "check_cells") == set(ALL01) - {"01.mul_gate", "01.add_gate", "01.max_gate"}
    assert rows["01.mul_gate"].code == "sign"


def test_answers_hard_coded_for_the_worked_examples_fail_on_hidden_cases(graded):
    row = rows_of(graded, "hard_coded")["01.mul_gate"]
    assert not row.passed and "hidden case" in row.hint
    assert passed(graded, "hard_coded") == set(ALL01) - {"01.mul_gate"}


def test_a_notebook_defining_its_own_check_gets_a_verdict_on_every_exercise(graded):
    # Its `check` (here a fake that prints success) is not the one the check cells call under grading.
    rows = rows_of(graded, "redefines_check")
    assert rows["01.mul_gate"].code == "wrong_value"
    assert passed(graded, "redefines_check") == set(ALL01) - {"01.mul_gate"}


def test_replacing_the_course_s_check_gets_no_verdict_and_the_row_says_so(graded):
    rows = rows_of(graded, "replaces_course_check")
    assert set(rows) == set(ALL01) and {r.code for r in rows.values()} == {"no_verdict"}
    assert all("never asked the grader" in r.hint and "replaced the course's `check`" in r.hint
               for r in rows.values())


@pytest.mark.parametrize("learner", ["imports_course", "patches_globals", "patches_numpy", "patches_in_call"])
def test_patching_the_checker_or_numpy_inside_changes_no_verdict(graded, learner):
    # The judge is outside the sandbox: what the notebook patches is its own copy.
    rows = rows_of(graded, learner)
    assert rows["01.mul_gate"].code == "wrong_value"
    assert passed(graded, learner) == set(ALL01) - {"01.mul_gate"}


def test_an_endless_loop_in_a_function_hits_the_time_limit(graded):
    assert rows_of(graded, "loop_in_function")["01.add_gate"].code == "timeout"
    assert passed(graded, "loop_in_function") == set(ALL01) - {"01.add_gate"}


def test_an_endless_loop_at_the_top_level_hits_the_cell_timeout(graded):
    row = rows_of(graded, "loop_at_top")["01.add_gate"]
    assert row.code == "cell_timeout" and f"did not finish within {CELL_TIMEOUT} s" in row.hint
    assert passed(graded, "loop_at_top") == set(ALL01) - {"01.add_gate"}


def test_a_crashing_kernel_fails_its_exercise_and_the_ones_after_it(graded):
    rows = rows_of(graded, "crash")
    assert passed(graded, "crash") == {"01.mul_gate", "01.add_gate", "01.max_gate"}
    assert rows["01.compound"].code == "crash" and "kernel died while running cell" in rows["01.compound"].hint
    assert "`import os`" in rows["01.compound"].hint
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
    untampered = {"masters", "hard_coded", "forms", "mutates", "loop_in_function"} | set(misconception_learners())
    assert not [r for r in graded["rows"] if r.learner in untampered and r.code in ("nbval", "error", "crash")]


def test_outputs_csv_report_and_feedback(graded):
    out = graded["out"]
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["learner", "notebook", "exercise", "passed", "hint", "points", "score", "max_score",
                              "handed_in", "override", "graded_score"]
    assert len(table) == len(graded["rows"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Mistakes to teach again" in html and "misconception03" in html
    feedback = (out / "feedback" / "forms.md").read_text(encoding="utf-8")
    assert "✘ 01.mul_gate" in feedback and "returned None" in feedback


def test_an_answer_that_calls_the_course_s_own_gets_no_credit_and_every_output_says_why(graded):
    rows = rows_of(graded, "copies_the_course", NB07)
    copied = rows.pop("07.batchnorm_compact")
    why = "calls the course's own `batchnorm_backward` and `batchnorm_forward`"
    assert (copied.passed, copied.code, copied.score) == (False, "not_own_work", 0) and why in copied.hint
    assert all(r.passed for r in rows.values())  # the learner's other, own answers count
    assert why in (graded["out"] / "feedback" / "copies_the_course.md").read_text(encoding="utf-8")
    assert why in (graded["out"] / "grades.csv").read_text(encoding="utf-8")


# ----- the hostile class -------------------------------------------------------------

def test_every_exercise_of_every_master_passes_in_the_sandbox(graded):
    rows = [r for r in graded["rows"] if r.learner == "masters"]
    assert {r.exercise for r in rows if r.passed} == set(all_exercises()), \
        [(r.exercise, r.hint) for r in rows if not r.passed]


def test_the_unsolved_learner_is_graded_as_usual(graded):
    rows = rows_of(graded, "unsolved")
    assert set(rows) == set(ALL01) and {r.code for r in rows.values()} == {"not_done"}


def test_importing_public_helpers_in_an_exercise_cell_passes(graded):
    assert passed(graded, "public_helpers") == set(ALL01)


@pytest.mark.parametrize("learner", [*ROUTES, "refs_solutions", "network"])
def test_no_route_reaches_a_reference_the_solutions_or_the_network(graded, learner):
    # Each attacker's multiply gate is right only if its route worked.
    rows = rows_of(graded, learner)
    assert rows["01.mul_gate"].code == "wrong_value", rows["01.mul_gate"].hint
    assert passed(graded, learner) == set(ALL01) - {"01.mul_gate"}


def test_the_judge_is_no_oracle_an_exercise_is_judged_once_per_run(graded):
    """The oracle asks for 01.mul_gate's check three times from its exercise cell, trying answers, before its
    check cell does: only its first try (a known mistake) is judged, and the row says why."""
    row = rows_of(graded, "oracle")["01.mul_gate"]
    assert not row.passed and row.code == "order", (row.code, row.hint)  # the first try: inputs swapped
    assert "judged once per run" in row.hint and "asked for the check of 01.mul_gate 4 times" in row.hint
    assert passed(graded, "oracle") == set(ALL01) - {"01.mul_gate"}


def test_nothing_reached_the_network(graded):
    assert graded["network"] is False


def test_the_checkout_and_the_output_folder_are_untouched(graded):
    before, after = graded["checkout"]
    assert before == after
    assert (graded["out"] / "canary.txt").read_text() == "untouched"
    assert FORGED not in (graded["out"] / "grades.csv").read_text(encoding="utf-8")
    assert passed(graded, "writes_files") == set(ALL01)


def test_no_process_outlives_its_notebook(graded):
    assert graded["daemons"] == []
    assert passed(graded, "daemon") == set(ALL01)


def test_a_notebook_leaves_nothing_to_the_next_notebook_of_its_learner(graded):
    # Both notebooks share one warm sandbox; each raises if it finds what the other left
    # (files in /tmp, a folder it cannot list, IPython start-up code, a process).
    assert passed(graded, "leaves_traces") == set(ALL01), rows_of(graded, "leaves_traces")
    assert passed(graded, "leaves_traces", NB05) == set(ALL05), rows_of(graded, "leaves_traces", NB05)
    assert graded["daemons"] == []


def test_killing_every_visible_process_ends_nothing_but_its_own(graded):
    assert passed(graded, "kills") == set(ALL01)


@pytest.mark.parametrize("learner, plain, error", [
    ("fork_bomb", "started more processes than the sandbox allows (a fork bomb?)",
     "BlockingIOError: [Errno 11] Resource temporarily unavailable"),
    ("memory_bomb", "asked for more memory than the sandbox allows", "MemoryError"),
    ("disk_filler", "filled the disk space the sandbox gives it", "No space left on device"),
    ("endless_writer", "wrote a file larger than the sandbox allows", "File too large"),
])
def test_limits_end_a_bomb_as_a_row_that_says_so(graded, learner, plain, error):
    row = rows_of(graded, learner)["01.compound"]
    assert not row.passed and row.code == "limit", row.hint
    assert f"was stopped: the notebook {plain}" in row.hint and error in row.hint, row.hint
    assert passed(graded, learner) == set(ALL01) - {"01.compound"}


def test_a_kernel_that_failed_to_start_was_started_again(graded):
    # The run injected a failed kernel start; nothing is left as infrastructure.
    assert not [r for r in graded["rows"] if r.infrastructure]


def test_every_learner_of_both_classes_was_graded_in_the_one_run(graded):
    assert set(graded["hostile"]) <= {r.learner for r in graded["rows"]}
