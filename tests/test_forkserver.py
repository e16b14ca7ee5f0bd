"""Warm kernels: the fork server's clean-up, the grader's groups, and the server's refusal outside a sandbox.

The server at work (a learner's notebooks one after another in one sandbox,
nothing left from one to the next, a kernel that cannot kill its parent) is
graded in the hostile class of tests/test_grading.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from course.grading import forkserver
from course.grading.run import groups


def test_restore_deletes_what_a_notebook_added_or_changed_and_keeps_the_rest(tmp_path):
    (tmp_path / "home" / ".matplotlib").mkdir(parents=True)
    (tmp_path / "home" / ".matplotlib" / "fontlist.json").write_text("cache")
    (tmp_path / "kept.txt").write_text("kept")
    kept = forkserver.snapshot(tmp_path)
    # What a notebook does: new files and folders (one it made unreadable), a changed file, a link.
    (tmp_path / "new.txt").write_text("new")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "file").write_text("x")
    os.chmod(tmp_path / "deep", 0)
    (tmp_path / "home" / ".ipython" / "profile_default" / "startup").mkdir(parents=True)
    (tmp_path / "home" / ".ipython" / "profile_default" / "startup" / "x.py").write_text("TRACE = 1")
    (tmp_path / "kept.txt").write_text("changed by the notebook")
    (tmp_path / "link").symlink_to(tmp_path / "kept.txt")
    forkserver.restore(tmp_path, kept)
    # The changed file goes too (its maker may rebuild it); the folders kept are kept.
    assert set(forkserver.snapshot(tmp_path)) == {path for path in kept if not path.endswith("kept.txt")}
    assert (tmp_path / "home" / ".matplotlib" / "fontlist.json").read_text() == "cache"
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) & 0o700 == 0o700


def test_a_learner_s_notebooks_form_one_group_split_only_to_keep_every_worker_busy():
    learners = {f"nb/{i:04d}/n{i % 3}.ipynb": "ann" if i < 3 else "ben" for i in range(6)}
    two = groups(learners, workers=2)
    assert len(set(two.values())) == 2
    assert len({two[k] for k, who in learners.items() if who == "ann"}) == 1
    # One learner, two workers: two groups (two warm sandboxes of that learner).
    one = groups({k: "ann" for k in learners}, workers=2)
    assert len(set(one.values())) == 2 and sorted(one.values()).count(one["nb/0000/n0.ipynb"]) == 3
    assert len(set(groups({k: "ann" for k in learners}, workers=1).values())) == 1


def test_the_server_refuses_to_run_outside_a_pid_namespace_of_its_own():
    # Its clean-up kills every process it can signal: outside a sandbox, that would be all of the user's.
    run = subprocess.run([sys.executable, "-m", "course.grading.forkserver", "0"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0 and "a PID namespace of its own" in run.stderr
