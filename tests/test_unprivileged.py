"""Not root: an ordinary user grades a class in the sandbox, runs the checks and starts JupyterLab.

Instructors and learners rarely are root. These tests copy what grading needs
(the course package, a master, a class of two learners) into a folder owned
by an unprivileged user (uid 65534, ``nobody``) and run, as that user through
``setpriv``: ``course grade`` with its sandbox (bubblewrap in unprivileged user
namespaces), a check cell in a kernel, and JupyterLab's server as ``make
lab`` starts it. The virtual environment is used read-only where it is.

They need root (to become another user) and bubblewrap; they skip without
either unless GRADFLOW_REQUIRE_SANDBOX is set, which makes them fail instead.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import EXERCISES, ROOT, SOLUTIONS
from grading_class import NB01, solved
from kernels import kernel_slots

from course.assess.registry import exercises_of
from course.safe_run import sandbox

USER = 65534  # nobody
REQUIRED = bool(os.environ.get("GRADFLOW_REQUIRE_SANDBOX"))
MISSING = ("not root, so the tests cannot become another user" if os.geteuid() != 0 else
           "bubblewrap is not installed (scripts/install-sandbox.sh)" if sandbox.bwrap() is None else
           "setpriv (util-linux) is not installed" if shutil.which("setpriv") is None else None)
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=MISSING or "")
EXERCISE_IDS = [e.id for e in exercises_of("01_chain_rule")]


def _unreachable(path: Path) -> Path | None:
    """The highest folder on the way to ``path`` that other users may not enter, or None."""
    for folder in [*reversed(path.parents)][1:]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def python_for_everyone() -> list[str]:
    """A mount namespace where the user can reach this Python, or nothing when it already can.

    A Python installed in root's home (pyenv here) is out of other users' reach; on a machine of
    theirs it is where they can run it (/usr, their own home). Only the closed folder is opened
    (an empty one over it, with the way to Python bound in); the rest of the machine is as it is.
    """
    binds = []
    for path in {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}:
        closed = _unreachable(path)
        if closed is not None:
            inside = closed / path.relative_to(closed).parts[0]
            binds += ["--tmpfs", str(closed), "--ro-bind", str(inside), str(inside)]
    return [sandbox.bwrap(), "--dev-bind", "/", "/", "--die-with-parent", *binds, "--"] if binds else []


def as_user(command: list[str]) -> list[str]:
    return [*python_for_everyone(), "setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups", *command]


@pytest.fixture(scope="module")
def copy():
    """The checkout's course package, the 01 master and a class (ann solved, bob not), owned by the user."""
    assert MISSING is None, MISSING  # GRADFLOW_REQUIRE_SANDBOX: fail, do not skip
    # In /tmp itself: pytest's folder and the test session's private TMPDIR (tests/leftovers.py) are root's alone.
    base = Path(tempfile.mkdtemp(prefix="gradflow-unprivileged-", dir="/tmp"))
    try:
        checkout = base / "checkout"
        shutil.copytree(ROOT / "course", checkout / "course", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", checkout)
        (checkout / "solutions").mkdir()
        shutil.copy(SOLUTIONS / NB01, checkout / "solutions")
        for learner, nb in (("ann", solved(NB01)), ("bob", nbformat.read(EXERCISES / NB01, as_version=4))):
            (checkout / "class" / learner).mkdir(parents=True)
            nbformat.write(nb, checkout / "class" / learner / NB01)
        for folder in ("home", "tmp"):
            (base / folder).mkdir()
        for path in (base, *base.rglob("*")):
            os.lchown(path, USER, USER)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def environment(base: Path) -> dict[str, str]:
    """The user's own home and temporary folder; the rest (OpenBLAS's settings too) as the tests have it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "IPYTHON", "MPLCONFIG", "XDG_", "PYTHON"))}
    return {**env, "HOME": str(base / "home"), "TMPDIR": str(base / "tmp")}


def test_a_class_is_graded_in_the_sandbox_by_an_ordinary_user(copy):
    checkout = copy / "checkout"
    start = time.monotonic()
    with kernel_slots(1):
        done = subprocess.run(as_user([sys.executable, "-m", "course", "grade", "class", "--out", "out",
                                       "--solutions", "solutions", "--quiet"]), cwd=checkout, env=environment(copy),
                              capture_output=True, text=True, timeout=900)
    print(f"grade as uid {USER}: exit {done.returncode} in {time.monotonic() - start:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WITHOUT a sandbox" not in done.stdout
    assert json.loads((checkout / "out" / "rows.json").read_text())["settings"]["sandboxed"] is True
    assert (checkout / "out" / "grades.csv").stat().st_uid == USER  # written by the user, not by root
    with open(checkout / "out" / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ann = {r["exercise"]: r for r in rows if r["learner"] == "ann"}
    bob = {r["exercise"]: r for r in rows if r["learner"] == "bob"}
    assert list(ann) == list(bob) == EXERCISE_IDS
    assert all(r["passed"] == "yes" and r["score"] == "1" for r in ann.values())
    assert all(r["passed"] == "no" and "is not written yet" in r["hint"] for r in bob.values()), bob


RUN_CELLS = """
import json, sys
import nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
print(json.dumps(["".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") or o.get("evalue", "")
                          for o in c.outputs) for c in nb.cells if c.cell_type == "code"]))
"""


def test_a_check_cell_runs_in_a_kernel_of_an_ordinary_user(copy):
    checkout = copy / "checkout"
    outputs = {}
    for learner in ("ann", "bob"):
        nb = nbformat.read(checkout / "class" / learner / NB01, as_version=4)
        first_check = next(i for i, c in enumerate(nb.cells) if c.metadata.get("gradflow", {}).get("check"))
        nb.cells = nb.cells[:first_check + 1] + [nbformat.v4.new_code_cell(
            "import os, course\nprint(os.getuid(), course.__file__)")]
        path = copy / "tmp" / f"{learner}.ipynb"
        nbformat.write(nb, path)
        os.lchown(path, USER, USER)
        with kernel_slots(1):
            done = subprocess.run(as_user([sys.executable, "-c", RUN_CELLS, str(path), str(checkout)]),
                                  cwd=checkout, env=environment(copy), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[learner] = json.loads(done.stdout.splitlines()[-1])
    assert outputs["ann"][-1].split() == [str(USER), str(checkout / "course" / "__init__.py")]  # the user's kernel
    assert outputs["ann"][-2].startswith("✔ 01.mul_gate") and "passed" in outputs["ann"][-2]
    assert "✘ 01.mul_gate" in outputs["bob"][-2] and "not written yet" in outputs["bob"][-2], outputs["bob"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen) -> None:
    """End the server and everything in its session (the namespace's bwrap ends before the server does)."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline + 10:  # a zombie the system has not reaped yet is not waited for forever
        try:
            os.killpg(process.pid, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def test_jupyterlab_starts_for_an_ordinary_user(copy):
    checkout, port, token = copy / "checkout", free_port(), os.urandom(12).hex()
    # make lab's command (Makefile), without --allow-root: the user is not root.
    status, start = None, time.monotonic()
    with tempfile.TemporaryFile() as log:
        lab = subprocess.Popen(as_user([str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
                                        "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={token}",
                                        f"--ServerApp.root_dir={checkout}"]),
                               cwd=checkout, env=environment(copy), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
        try:
            while status is None and time.monotonic() < start + 180 and lab.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}",
                                                timeout=5) as reply:
                        status = json.loads(reply.read())
                except OSError:
                    time.sleep(0.5)
            print(f"JupyterLab as uid {USER}: answered in {time.monotonic() - start:.1f} s")
        finally:
            stop_group(lab)
            log.seek(0)
            said = log.read().decode(errors="replace")
    assert status is not None and "started" in status, f"no answer from JupyterLab:\n{said[-3000:]}"
    assert "Running as root" not in said and "--allow-root" not in said
