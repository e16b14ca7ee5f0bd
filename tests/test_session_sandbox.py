"""The grader's sandbox never contacts a live session.

A learner's exercise cell joins a session that is really running (on this
machine's loopback), and the grader runs with ``GRADFLOW_SESSION`` set in its
own environment too. In the sandbox there is no network and a cleared
environment, and under grading the check goes to the judge, which publishes
nothing: the notebook is graded as usual, the join only leaves its note, and
the session hears of nobody. The same notebook graded ``--no-sandbox`` shows
that the join really runs (its learner reaches the session), while the checks,
judged outside, still publish nothing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from grading_class import NB01, solved
from kernels import kernel_slots
from course.session.server import Running

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                                reason="bubblewrap is not installed (scripts/install-sandbox.sh)")


def test_a_join_inside_a_graded_notebook_reaches_no_session(tmp_path):
    server = Running(tmp_path / "session.sqlite")
    try:
        nb = solved(NB01)
        cell = next(c for c in nb.cells if c.metadata.get("gradflow", {}).get("exercise") == "01.mul_gate")
        cell.source += (f"\n\nimport course\ncourse.join({server.url!r}, {server.store.join_code!r}, 'mallory')\n"
                        "course.check('01.add_gate', lambda x, y, dout: (dout, dout))\n")
        (tmp_path / "class" / "mallory").mkdir(parents=True)
        nbformat.write(nb, tmp_path / "class" / "mallory" / NB01)
        env = dict(os.environ, GRADFLOW_SESSION=f"{server.url} {server.store.join_code} the-grader")

        def grade(*options: str) -> dict:
            with kernel_slots(2):
                done = subprocess.run([sys.executable, "-m", "course", "grade", str(tmp_path / "class"), "--out",
                                       str(tmp_path / "out"), "--quiet", "--workers", "1", "--concepts", "01", *options], cwd=ROOT,
                                      env=env, capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, done.stdout + done.stderr
            with open(tmp_path / "out" / "grades.csv", newline="") as table:
                return {r["exercise"]: r["passed"] for r in csv.DictReader(table)}

        passed = grade()
        assert len(passed) == 7 and set(passed.values()) == {"yes"}  # graded as usual
        assert server.store.learner_count() == 0 and server.store.event_count() == 0
        assert set(grade("--no-sandbox").values()) == {"yes"}
        assert server.store.learner_count() == 1 and server.store.event_count() == 0
    finally:
        server.stop()
