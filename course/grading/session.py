"""Run many canonical notebooks in one nbval session, and the judge beside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from course.grading.kernel_pool import KERNEL_NAME, Pool

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def nbval_command(paths: list[str], cell_timeout: float, workers: int, kernel: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "course.grading.nbval_log",
               "--nbval-lax", "--nbval-cell-timeout", str(cell_timeout), "-q", "--no-header", "-rN",
               "-o", "addopts=", "-o", "console_output_style=classic"]
    if kernel:
        command += ["--nbval-kernel-name", kernel]
    if workers > 1 and len(paths) > 1:
        command += ["-n", str(workers), "--dist", "loadfile"]
    return command + paths


def start_nbval(paths: list[str], workdir: Path, seed: int, cell_timeout: float, workers: int,
                time_limit: float | None, pool=None) -> tuple[subprocess.Popen, Path]:
    """Start nbval on ``paths`` (relative to ``workdir``); returns the process and its log file."""
    log = workdir / "nbval-log.jsonl"
    env = dict(os.environ, GRADFLOW_HIDDEN_SEED=str(seed), GRADFLOW_NBVAL_LOG=str(log), PYTHONHASHSEED="0")
    env.pop("GRADFLOW_RESULTS_FILE", None)
    # A grader started from inside a pytest run (an xdist worker, say) must not
    # hand that run's identity to its own pytest session.
    for name in [n for n in env if n.startswith("PYTEST_")]:
        del env[name]
    if pool is not None:
        env.update(pool.environment())
    if time_limit:
        env["GRADFLOW_TIME_LIMIT"] = str(time_limit)
    with open(workdir / "nbval-output.txt", "wb") as out:  # to a file: a huge output never sits in memory
        process = subprocess.Popen(nbval_command(paths, cell_timeout, workers, KERNEL_NAME if pool else None), cwd=workdir, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, log


def read_log(log: Path) -> dict[tuple[str, int], tuple[bool, str]]:
    """(notebook path, code-cell number) -> (passed, message without colours)."""
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


class GradingError(RuntimeError):
    """Grading could not run at all (as opposed to a submission that fails)."""


class Judge:
    """The grader's end of a ``course.grading.judge`` server."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "course.grading.judge"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env=dict(os.environ, PYTHONHASHSEED="0"))

    def judge(self, task: dict, seed: int) -> dict:
        try:
            message = self._ask(task)
            if message["op"] == "ready":
                message = self._ask({"op": "go", "seed": seed})
            return message
        except (OSError, ValueError):  # the server itself stopped: start a new one for the next notebook
            self.process.kill()
            self.process.wait()
            self._start()
            return {"op": "result", "key": task["key"], "error": "the grader's judge stopped unexpectedly"}

    def _ask(self, message: dict) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def run_all(notebooks: dict[str, int], tasks: list[dict], workdir: Path, seed: int, cell_timeout: float,
            workers: int, time_limit: float | None,
            on_progress: Callable[[int], None] = lambda done: None, fast_kernels: bool = True):
    """nbval on the notebooks and the judge on the tasks, at the same time.

    ``notebooks``: path (relative to ``workdir``) -> number of code cells.
    Returns (nbval results by (path, cell), judge results by task key).
    ``on_progress`` is called with the number of notebooks nbval has finished.
    """
    nbval_paths = list(notebooks)
    pool = _pool(workdir) if fast_kernels and os.name == "posix" else None
    process, log = start_nbval(nbval_paths, workdir, seed, cell_timeout, workers, time_limit, pool)
    judged = {}
    judge = Judge()
    try:
        for task in tasks:
            judged[task["key"]] = judge.judge(task, seed)
            on_progress(_finished(log, notebooks))
    finally:
        judge.close()
    while process.poll() is None:
        on_progress(_finished(log, notebooks))
        time.sleep(0.2)
    if pool is not None:
        pool.close()
    results = read_log(log)
    if notebooks and not results:
        tail = (workdir / "nbval-output.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise GradingError(f"nbval did not run any notebook:\n{tail}")
    on_progress(len(nbval_paths))
    return results, judged


def _pool(workdir: Path):
    """The kernel pool, or None (ordinary kernels) when it cannot start."""
    try:
        return Pool(workdir)
    except (OSError, RuntimeError):
        return None


def _finished(log: Path, notebooks: dict[str, int]) -> int:
    """Notebooks nbval is done with: those whose last cell is reported (cells run in order)."""
    if not log.exists():
        return 0
    seen: dict[str, int] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        path, _, cell = json.loads(line)["nodeid"].partition("::")
        seen[path] = seen.get(path, 0) + 1
    return sum(1 for p, count in notebooks.items() if seen.get(p, 0) >= count)
