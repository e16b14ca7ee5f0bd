"""The session-wide check that a test run leaves nothing behind (tests/leftovers.py) sees what it must."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from leftovers import OWNER_VARIABLE, PRIVATE_PREFIX, STRICT_VARIABLE, TMP, neighbours

TESTS = Path(__file__).resolve().parent

PROBE = '''
import os, tempfile

def test_leaves_two_things_behind():
    open(os.path.join(tempfile.gettempdir(), "left-in-private.txt"), "w").close()
    os.mkdir({outside!r})

def test_cleans_up_after_itself(tmp_path):
    (tmp_path / "fine.txt").write_text("pytest's own tmp_path is removed with the session's folder")
'''


def test_a_session_that_leaves_files_behind_fails_and_names_them(tmp_path):
    suite = tmp_path / "suite" / "tests"  # outside any checkout: the checkout's part is not asked
    suite.mkdir(parents=True)
    for helper in ("conftest.py", "leftovers.py"):
        shutil.copy(TESTS / helper, suite / helper)
    outside = TMP / f"judge-probe-{uuid.uuid4().hex[:8]}"
    (suite / "test_probe.py").write_text(PROBE.format(outside=str(outside)))
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", OWNER_VARIABLE, "PYTEST_XDIST_TESTRUNUID")}
    env[STRICT_VARIABLE] = "1"  # this very session runs beside it: count /tmp all the same
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                              str(suite)], cwd=suite, env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout and "left these behind" in run.stdout
    assert "left-in-private.txt" in run.stdout and str(outside) in run.stdout
    assert "fine.txt" not in run.stdout
    private, = [line.strip() for line in run.stdout.splitlines() if line.strip().endswith("/left-in-private.txt")]
    assert Path(private).parent.name.startswith(PRIVATE_PREFIX)
    assert not Path(private).parent.exists()  # the session's folder is removed all the same


def test_a_neighbour_is_a_writer_not_started_by_this_session_nor_among_those_that_started_it():
    # Started through a shell that exits at once: the sleeper's parent is then init, not this process.
    sleeper = f"{sys.executable} -c 'import time; time.sleep(60)' pytest-probe >/dev/null 2>&1 &"
    started = subprocess.run(["sh", "-c", f"{sleeper} echo $!"], capture_output=True, text=True, timeout=30)
    pid = int(started.stdout.split()[0])
    try:
        found = neighbours(os.getpid())
    finally:
        os.kill(pid, 9)
    mine = open("/proc/self/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()[:160]
    assert any("pytest-probe" in words for words in found)
    assert mine not in found  # this session itself (and whatever started it) is no neighbour
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pytest-child-probe"])
    try:
        assert not any("pytest-child-probe" in words for words in neighbours(os.getpid()))  # started by it
    finally:
        child.kill()
        child.wait()
