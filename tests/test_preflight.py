"""The sandbox's preflight: the kernels' own sandbox started once, and a machine that refuses it named.

The container cases start the grader inside a container made with bubblewrap
whose /proc is masked as an unprivileged Docker container's is (files and
folders of /proc covered, /proc/sys read-only): there, ``bwrap --unshare-all
--ro-bind / / true`` runs, but a sandbox that mounts its own /proc cannot
start. ``grade`` and ``progress`` must stop in seconds and say why;
Gradescope's ``run_autograder`` must grade without the sandbox and say so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import nbformat
import pytest
from conftest import ROOT
from grading_class import NB01, solved
from kernels import kernel_slots
from test_gradescope import SCHEMA, build, gradescope_folder, notebook_bytes

from course.assess.registry import exercises_of
from course.gradebook import gradescope
from course.safe_run import preflight, sandbox

needs_sandbox = pytest.mark.skipif(sandbox.bwrap() is None and not os.environ.get("GRADFLOW_REQUIRE_SANDBOX"),
                                   reason="bubblewrap is not installed (scripts/install-sandbox.sh)")
UPPER_BOUND = 60.0  # seconds: the refusal takes about one; the bound only keeps a loaded machine from flaking


def masked_container() -> list[str]:
    """bwrap as a container runtime that masks /proc as Docker does: a command after it runs inside."""
    command = [sandbox.bwrap() or "bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in ("/proc/keys", "/proc/timer_list", "/proc/kcore"):  # Docker's masked files, where they exist
        if Path(path).is_file():
            command += ["--ro-bind", "/dev/null", path]
    for path in ("/proc/acpi", "/proc/scsi"):  # and folders
        if Path(path).is_dir():
            command += ["--tmpfs", path]
    return command + ["--ro-bind", "/proc/sys", "/proc/sys", "--"]


@pytest.fixture(scope="module")
def container():
    """The masked container, checked to refuse what Docker's refuses and to allow what Docker's allows."""
    outer = masked_container()
    light = subprocess.run(outer + [sandbox.bwrap(), "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True, timeout=60)
    real = subprocess.run(outer + [sandbox.bwrap(), "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "true"],
                          capture_output=True, text=True, timeout=60)
    assert light.returncode == 0, light.stderr  # the old, lighter check passes in it ...
    assert real.returncode != 0 and "Can't mount proc" in real.stderr, real.stderr  # ... the kernels' sandbox fails
    return outer


def one_learner(tmp_path: Path) -> Path:
    learner = tmp_path / "class" / "ann"
    learner.mkdir(parents=True)
    nbformat.write(solved(NB01), learner / NB01)
    return learner.parent


def run_timed(command: list[str], **options) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **options)
    return done, time.monotonic() - start


def says_why_and_what_to_do(text: str) -> None:
    assert "could not mount /proc" in text and "masks /proc" in text and "/proc/sys" in text, text
    assert "Can't mount proc" in text, text  # bubblewrap's own words
    assert "--no-sandbox" in text and "your own rights" in text, text  # one choice, and what it gives up
    assert "systempaths=unconfined" in text and "--privileged" in text, text  # the other: what to allow


# ----- the preflight itself ------------------------------------------------------------------

def test_what_bubblewrap_says_is_named_with_its_way_out():
    problem, remedy = preflight.explain("bwrap: Can't mount proc on /newroot/proc: Operation not permitted")
    assert "could not mount /proc" in problem and "systempaths=unconfined" in remedy
    problem, remedy = preflight.explain("bwrap: No permissions to creating new namespace, likely because the kernel"
                                        " does not allow non-privileged user namespaces.")
    assert "user namespaces" in problem and "kernel.unprivileged_userns_clone=1" in remedy
    assert "apparmor_restrict_unprivileged_userns" in remedy and "max_user_namespaces" in remedy
    problem, remedy = preflight.explain("bwrap: setting up uid map: Permission denied")
    assert "user namespaces" in problem
    problem, _ = preflight.explain("bwrap: Can't mount devpts on /newroot/dev/pts: Permission denied")
    assert problem == "bubblewrap could not mount devpts on /dev/pts for the sandbox"
    problem, remedy = preflight.explain("ModuleNotFoundError: No module named 'numpy'")
    assert problem == "the kernels' Python did not run in the sandbox" and sys.executable in remedy


def test_masked_parts_of_proc_are_read_from_mountinfo(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 0:21 / /proc rw - proc proc rw\n23 22 0:5 /null /proc/keys ro - devtmpfs udev rw\n"
                         "24 22 0:30 / /proc/acpi ro - tmpfs tmpfs ro\n25 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
    assert preflight.masked_proc(mountinfo) == ["/proc/acpi", "/proc/keys"]


@needs_sandbox
def test_the_preflight_starts_the_kernels_own_sandbox(monkeypatch):
    made = []
    real = sandbox.bwrap_command

    def recorded(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(sandbox, "bwrap_command", recorded)
    monkeypatch.setattr(preflight, "_started", set())
    started = preflight.check()
    assert started.ok, started.message()
    print(f"preflight on this machine: Python with numpy started in the sandbox in {started.seconds:.2f} s")
    [command] = made  # the kernels' own command, so the two cannot drift apart
    assert all(flag in command for flag in ("--unshare-all", "--proc", "--dev", "--tmpfs", "--clearenv"))
    assert command[command.index("--") + 1] == sys.executable
    assert preflight.check().ok and len(made) == 1  # asked once per process


@needs_sandbox
def test_the_preflight_runs_under_the_kernels_limits(monkeypatch):
    monkeypatch.setattr(preflight, "_started", set())
    # 60 MB of address space: numpy cannot start, as a kernel could not; the launcher's limits are applied.
    refused = preflight.check(sandbox.Limits(memory_bytes=60 * 2**20))
    assert not refused.ok and refused.problem == "the kernels' Python did not run in the sandbox"
    assert refused.said and "--no-sandbox" in refused.message()


# ----- in a container that masks /proc ---------------------------------------------------------

@needs_sandbox
def test_grade_in_a_container_that_masks_proc_stops_in_seconds_and_names_the_cause(container, tmp_path):
    folder = one_learner(tmp_path)
    done, seconds = run_timed(container + [sys.executable, "-m", "course", "grade", str(folder), "--out",
                                           str(tmp_path / "out"), "--quiet"], cwd=ROOT)
    print(f"grade in a container that masks /proc: exit {done.returncode} after {seconds:.1f} s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert seconds < UPPER_BOUND
    says_why_and_what_to_do(done.stderr)
    assert not (tmp_path / "out" / "grades.csv").exists()


@needs_sandbox
def test_progress_in_a_container_that_masks_proc_stops_in_seconds_and_names_the_cause(container, tmp_path):
    folder = one_learner(tmp_path) / "ann"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done, seconds = run_timed(container + [sys.executable, "-m", "course", "progress", str(folder)], cwd=ROOT,
                              env=env)
    print(f"progress in a container that masks /proc: exit {done.returncode} after {seconds:.1f} s")
    assert done.returncode == 2 and seconds < UPPER_BOUND, done.stdout + done.stderr
    says_why_and_what_to_do(done.stderr)


@needs_sandbox
def test_gradescope_in_a_container_that_masks_proc_grades_without_the_sandbox_and_says_so(container, tmp_path):
    root = gradescope_folder(build(tmp_path), tmp_path / "autograder", {NB01: notebook_bytes(solved(NB01))})
    env = {**os.environ, gradescope.ROOT_VARIABLE: str(root), gradescope.PYTHON_VARIABLE: sys.executable}
    env.pop("PYTHONPATH", None)
    env["TMPDIR"] = "/tmp"  # Gradescope's, not the test session's longer one: a unix socket's path has at most 107 bytes
    with kernel_slots(1):
        done, seconds = run_timed(container + [str(root / "run_autograder")], cwd=root, env=env)
    results = json.loads((root / "results" / "results.json").read_text())
    decided = re.search(r"sandbox preflight failed in ([0-9.]+) s", done.stdout)
    assert decided, done.stdout + done.stderr
    print(f"run_autograder in a container that masks /proc: fell back after {decided.group(1)} s,"
          f" graded in {seconds:.1f} s")
    assert float(decided.group(1)) < UPPER_BOUND
    assert done.returncode == 0, done.stdout + done.stderr
    jsonschema.validate(results, SCHEMA)
    exercises = [e.id for e in exercises_of("01_chain_rule")]
    assert results["score"] == len(exercises) and all(t["status"] == "passed" for t in results["tests"])
    assert "Graded WITHOUT a sandbox: it could not start on this autograder" in results["output"]
    assert "could not mount /proc" in results["output"]
    assert results["extra_data"]["gradflow"]["sandboxed"] is False
    assert "masks /proc" in results["extra_data"]["gradflow"]["sandbox_problem"]



def test_progress_takes_no_sandbox_as_grade_does(tmp_path, monkeypatch):
    from course.cli import main
    from course.gradebook import cli as grading_cli

    asked = []
    monkeypatch.setattr(grading_cli, "learner_progress", lambda *args, **options: asked.append(options) or [])
    main(["progress", str(tmp_path), "--no-sandbox"])
    main(["progress", str(tmp_path)])
    assert asked[0]["use_sandbox"] is False and "use_sandbox" not in asked[1]  # else: the sandbox where bwrap is
