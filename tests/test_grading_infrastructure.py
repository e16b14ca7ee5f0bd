"""A kernel that never starts is the grader's failure, not the learner's: rows say so, nothing is ✘."""

from __future__ import annotations

import os

import nbformat
import pytest
from conftest import SOLUTIONS
from grading_class import NB01, solved

from course.assess.registry import exercises_of
from course.safe_run import sandbox
from course.safe_run.collect import collect
from course.safe_run.grade import grade


@pytest.mark.skipif(sandbox.bwrap() is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                    reason="bubblewrap is not installed (scripts/install-sandbox.sh)")
def test_a_kernel_that_never_starts_is_reported_as_infrastructure(tmp_path):
    (tmp_path / "ann").mkdir()
    nbformat.write(solved(NB01), tmp_path / "ann" / NB01)
    # Every kernel start fails: two starts per session, two sessions (one retry of the notebook).
    rows = grade(collect([tmp_path / "ann"]), SOLUTIONS, seed=1, workers=1,
                 fail_kernel_starts=100, kernel_attempts=2, kernel_backoff=0.05, retries=1, retry_pause=0.05)
    assert [r.exercise for r in rows] == [e.id for e in exercises_of("01_chain_rule")]
    assert all(r.infrastructure and not r.passed for r in rows)
    assert all(r.hint.startswith("could not be graded (infrastructure): the notebook's kernel did not start"
                                 " (2 attempts)") for r in rows), rows[0].hint
