"""Warm kernels: the fork server's clean-up, the grader's groups, the server's refusal outside a sandbox, the launcher.

The server at work (a learner's notebooks one after another in one sandbox,
nothing left from one to the next, a kernel that cannot kill its parent) is
graded in the hostile class of tests/test_grading.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from course.safe_run import forkserver
from course.safe_run.run import groups


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
    run = subprocess.run([sys.executable, "-m", "course.safe_run.forkserver", "0"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0 and "a PID namespace of its own" in run.stderr


# ----- the launcher nbval starts per notebook (course.safe_run.launcher) --------------------------

def _answer_once(listener, answers: list[dict]) -> None:
    """Accept one connection, read its request line, send ``answers`` one line each, then wait for its end."""
    import json

    conn, _ = listener.accept()
    with conn:
        conn.makefile("rb").readline()
        for answer in answers:
            conn.sendall(json.dumps(answer).encode() + b"\n")
        conn.recv(1)  # the launcher hangs up when it is done


def test_the_launcher_runs_on_the_standard_library_alone_and_exits_with_the_forked_kernel_s_status(tmp_path,
                                                                                                   socket_dir):
    """``python -I -S``: no site packages, no course package; the pool and the server answer as they do."""
    import json
    import socket
    import threading

    from course.safe_run import launcher, sandbox

    assert launcher.CONFIG_VARIABLE == sandbox.CONFIG_VARIABLE
    folder = socket_dir  # short: a unix socket's path is limited
    pool, server = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    pool.bind(str(folder / "pool.sock"))
    server.bind(str(folder / "server.sock"))
    pool.listen(1)
    server.listen(1)
    threads = [threading.Thread(target=_answer_once, args=(pool, [{"socket": str(folder / "server.sock")}])),
               threading.Thread(target=_answer_once, args=(server, [{"started": 42}, {"exit": 3}]))]
    for thread in threads:
        thread.start()
    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"sandbox": True, "pool": str(folder / "pool.sock")}))
    run = subprocess.run([sys.executable, "-I", "-S", launcher.__file__, str(folder / "kernel.json")],
                         env={"PATH": os.environ["PATH"], sandbox.CONFIG_VARIABLE: str(config)},
                         capture_output=True, text=True, timeout=60)
    for thread in threads:
        thread.join(10)
    assert run.returncode == 3, run.stderr


def test_without_a_server_the_launcher_hands_over_to_the_full_one(tmp_path, monkeypatch):
    import json

    from course.safe_run import launcher, sandbox

    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"sandbox": True, "pool": str(tmp_path / "no-pool.sock")}))
    monkeypatch.setenv(sandbox.CONFIG_VARIABLE, str(config))
    became = []
    monkeypatch.setattr(launcher.os, "execv", lambda path, argv: became.append(argv))
    launcher.main("/tmp/run/kernel0.json")
    assert became == [[sys.executable, "-m", "course.safe_run.sandbox", "kernel", "/tmp/run/kernel0.json"]]


def test_the_kernel_spec_names_the_light_launcher_only_for_warm_sandboxes(tmp_path):
    import json

    from course.safe_run import sandbox

    for use_sandbox, pool, light in ((True, tmp_path / "pool.sock", True), (True, None, False), (False, None, False)):
        config = sandbox.new_config(use_sandbox, pool=pool).write(tmp_path / "sandbox.json")
        sandbox.kernel_spec(tmp_path / "jupyter", config)
        argv = json.loads((tmp_path / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())["argv"]
        assert ("launcher.py" in " ".join(argv)) == light and argv[-1] == "{connection_file}"
