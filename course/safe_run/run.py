"""The sandboxed run: every canonical notebook under nbval, each kernel in its sandbox, the judge beside.

Layout of the grader's working folder (never visible to a sandbox as a whole):

    nb/NNNN/<notebook>.ipynb   the canonical notebook nbval runs
    nb/NNNN/run/               the only folder its sandbox shares with the grader:
                               the kernel's connection file and sockets, the judge's socket
    jupyter/kernels/...        the sandbox's kernel spec
    forkservers/               the pool's socket, the fork servers' sockets and logs
    groups.json                notebook -> group (a learner, or part of one), for nbval's workers
    nbval-log.jsonl            one line per cell nbval ran (course.safe_run.nbval_log)

All notebooks of the class go to *one* nbval session (pytest's start-up paid
once); the judge answers their check cells from this process. In the sandbox,
a learner's notebooks share one warm sandbox (``course.safe_run.pool``): nbval's
workers take them one group at a time (``nbval_log``'s scheduler), so that
sandbox runs one kernel at a time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from course.safe_run import sandbox
from course.safe_run.judge import JudgeService
from course.safe_run.pool import ForkServers

ANSI = re.compile(r"\x1b\[[0-9;]*m")
KERNEL_STARTUP_TIMEOUT = 120  # seconds; under load a kernel can take more than 60 s to answer


class GradingError(RuntimeError):
    """Grading could not run at all (as opposed to a submission that fails)."""


@dataclass
class Settings:
    seed: int
    cell_timeout: float
    workers: int
    time_limit: float | None
    sandbox: bool
    limits: sandbox.Limits
    kernel_attempts: int = 4
    kernel_backoff: float = 5.0
    fail_kernel_starts: int = 0  # the grader's own tests inject kernel-start failures
    partial: bool = False  # the judge counts every case a function passes (partial credit)
    warm_kernels: bool = True  # a learner's kernels forked from one warm sandbox (course.safe_run.pool)


@dataclass
class Results:
    cells: dict[tuple[str, int], tuple[bool, str]]  # (notebook key, code-cell number) -> (passed, message)
    verdicts: dict[str, dict[str, dict]]  # notebook key -> exercise -> the judge's verdict


def place(workdir: Path, index: int, name: str, notebook) -> str:
    """Write a canonical notebook into its own folder; returns its key (its path under workdir)."""
    folder = workdir / "nb" / f"{index:04d}"
    (folder / "run").mkdir(parents=True)
    nbformat.write(notebook, folder / name)
    return f"nb/{index:04d}/{name}"


def nbval_command(paths: list[str], cell_timeout: float, workers: int) -> list[str]:
    # Plugins named, none loaded from entry points (see _environment): a session starts sooner.
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "course.safe_run.nbval_log",
               "-p", "nbval", "--nbval-lax", "--nbval-cell-timeout", str(cell_timeout),
               "--nbval-kernel-startup-timeout", str(KERNEL_STARTUP_TIMEOUT),
               "--nbval-kernel-name", sandbox.KERNEL_NAME, "-q", "--no-header", "-rN",
               "-o", "addopts=", "-o", "console_output_style=classic"]
    if workers > 1 and len(paths) > 1:
        command += ["-p", "xdist.plugin", "-n", str(workers), "--dist", "loadfile"]
    return command + paths


def groups(learners: dict[str, str], workers: int) -> dict[str, str]:
    """Notebook key -> group: a learner's notebooks, split in parts when there are fewer learners than workers."""
    number = {name: n for n, name in enumerate(sorted(set(learners.values())))}
    parts = max(1, -(-workers // max(1, len(number))))
    count: dict[str, int] = {}
    grouped = {}
    for key, learner in learners.items():
        part = count.get(learner, 0) % parts
        count[learner] = count.get(learner, 0) + 1
        grouped[key] = f"g{number[learner]}-{part}"
    return grouped


def _environment(workdir: Path, settings: Settings, config: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTEST_", "GRADFLOW_")) and name != "JUPYTER_PATH"}
    # A grader started from inside a pytest run must not hand that run's identity to its own session.
    env.update(sandbox.kernel_spec(workdir / "jupyter", config))
    env.update(GRADFLOW_NBVAL_LOG=str(workdir / "nbval-log.jsonl"), PYTHONHASHSEED="0",
               GRADFLOW_GROUPS=str(workdir / "groups.json"),
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               GRADFLOW_KERNEL_ATTEMPTS=str(settings.kernel_attempts),
               GRADFLOW_KERNEL_BACKOFF=str(settings.kernel_backoff),
               GRADFLOW_FAIL_KERNEL_STARTS=str(settings.fail_kernel_starts))
    return env


def _server_environment(workdir: Path, config: Path) -> dict[str, str]:
    """What a fork server's launcher is started with (it keeps only its limits' config; bwrap clears the rest)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTEST_", "GRADFLOW_"))}
    env[sandbox.CONFIG_VARIABLE] = str(config)
    return env


def read_log(log: Path) -> dict[tuple[str, int], tuple[bool, str]]:
    results = {}
    if not log.exists():
        return results
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        path, _, cell = entry["nodeid"].partition("::")
        number = cell.removeprefix("Cell ").strip()
        if number.isdigit():
            results[(path, int(number))] = (entry["passed"], ANSI.sub("", entry["message"]))
    return results


class _Finished:
    """Notebooks nbval is done with: those whose last cell is reported (cells run in order).

    Reads only what the log gained since the last call: the progress bar asks five times a second.
    """

    def __init__(self, log: Path, notebooks: dict[str, int]) -> None:
        self.log, self.notebooks, self.offset, self.seen = log, notebooks, 0, {}

    def __call__(self) -> int:
        try:
            with open(self.log, "rb") as f:
                f.seek(self.offset)
                new = f.read()
        except FileNotFoundError:
            return 0
        complete = new[:new.rfind(b"\n") + 1]  # a line being written is read next time
        self.offset += len(complete)
        for line in complete.splitlines():
            path = json.loads(line)["nodeid"].partition("::")[0]
            self.seen[path] = self.seen.get(path, 0) + 1
        return sum(1 for p, count in self.notebooks.items() if self.seen.get(p, 0) >= count)


def run(notebooks: dict[str, tuple[int, list[str]]], workdir: Path, settings: Settings,
        on_progress: Callable[[int], None] = lambda done: None, learners: dict[str, str] | None = None) -> Results:
    """nbval over ``notebooks`` (key -> (code cells, exercise ids)), with the judge answering their checks.

    ``learners`` (key -> learner) lets a learner's kernels come from one warm sandbox; without it each
    notebook is a learner of its own.
    """
    grouped = groups(learners or {key: key for key in notebooks}, settings.workers)
    (workdir / "groups.json").write_text(json.dumps(grouped))
    warm = settings.sandbox and settings.warm_kernels
    # matplotlib's font list costs a second to make: made once, and only for a class whose notebooks plot.
    plots = any(b"matplotlib" in (workdir / key).read_bytes() for key in notebooks)
    config = sandbox.new_config(settings.sandbox, settings.limits, workdir / "forkservers" / "pool.sock" if warm else None,
                                sandbox.font_list(workdir / "matplotlib") if plots else None)
    config_path = config.write(workdir / "sandbox.json")
    pool = None
    if warm:
        pool = ForkServers(workdir / "forkservers", {workdir / Path(key).parent / "run": group
                                                     for key, group in grouped.items()},
                           _server_environment(workdir, config_path), keep=settings.workers + 2)
    judge = JudgeService(settings.seed, settings.time_limit, settings.partial)
    for key, (_, exercises) in notebooks.items():
        judge.open(key, workdir / Path(key).parent / "run", exercises)
    log = workdir / "nbval-log.jsonl"
    finished = _Finished(log, {key: cells for key, (cells, _) in notebooks.items()})
    try:
        with open(workdir / "nbval-output.txt", "wb") as out:  # to a file: a huge output never sits in memory
            process = subprocess.Popen(nbval_command(list(notebooks), settings.cell_timeout, settings.workers),
                                       cwd=workdir, env=_environment(workdir, settings, config_path),
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)  # a signal meant for the grader's group stays there
        while process.poll() is None:
            on_progress(finished())
            time.sleep(0.2)
    finally:
        if pool is not None:
            pool.close()
        judge.close()
        sandbox.remove_process_groups(config.group)
    cells = read_log(log)
    if notebooks and not cells:
        tail = (workdir / "nbval-output.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise GradingError(f"nbval did not run any notebook:\n{tail}")
    on_progress(len(notebooks))
    return Results(cells, judge.verdicts)
