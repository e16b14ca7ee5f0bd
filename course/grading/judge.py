"""Verdicts that a learner's code cannot forge: the judge process.

``python -m course.grading.judge`` is a small server the grader starts once.
It imports numpy and the course's exercises *before* any learner code runs,
then, for each notebook it is given, forks a child that

1. points its standard streams at /dev/null (the learner's code cannot talk
   to the grader, nor print without end into its memory);
2. runs the notebook's setup cells and the learner's exercise cells in a
   fresh namespace, each under a time limit;
3. compares numpy, the course package, the exercises and the standard
   modules the evaluation uses with a snapshot taken before (``integrity``),
   and makes sure no thread, child process or trace hook was left behind;
4. says "ready"; only then does the grader send the hidden seed and a fresh
   token, so the learner's code could not read either in advance;
5. evaluates each exercise with ``course.assess.diagnose.evaluate``,
   re-checking the snapshot after every call of the learner's function, and
   sends the verdicts back with the token.

The server forwards only results that carry the token; a child that dies,
loops or answers without it becomes a verdict that says so.

Protocol on the server's stdin/stdout, one JSON object per line:
``{"op": "task", "key", "cells": [[source, exercise id or null], ...],
"exercises": [[id, function], ...], "cell_timeout", "time_limit", "deadline"}``
-> ``{"op": "ready", "key"}`` or a result; then ``{"op": "go", "seed"}`` ->
``{"op": "result", "key", "verdicts": [...]}`` or ``{"op": "result", "key", "error"}``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import secrets
import select
import signal
import sys
import time

import numpy as np  # noqa: F401  (imported before learner code, so the snapshot holds the originals)

import course
from course.assess.diagnose import Verdict, evaluate
from course.assess.limits import TimeLimitExceeded, time_limit
from course.assess.registry import all_exercises
from course.grading.integrity import Snapshot

EXERCISES = dict(all_exercises())
for _name in course.__all__:
    if _name not in ("draw_circuit", "show_circuit", "show_figure", "staged_widget"):  # pictures: never in an exercise
        getattr(course, _name)  # load what notebooks import, so the snapshot covers it
# Inside an exercise cell, the course's own code is off limits (its reference answers live
# there), and so are the modules that reach into the judge's process. A deterrent only: code
# can get around a static check (see docs/grading.md).
FORBIDDEN_MODULES = ("course", "ctypes", "gc", "importlib", "inspect")
FORBIDDEN_NAMES = ("__import__", "_getframe", "fdopen")


class Tampered(BaseException):
    """The learner's code changed what the judge relies on (BaseException: learner code cannot catch it late)."""


# ----- the child ------------------------------------------------------------------

def course_imports(source: str) -> str | None:
    """A description of the first import of the course package in ``source``, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return f"`{node.id}`"
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            return f"`{node.attr}`"
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                return f"`import {name}`"
    return None


def _children() -> bool:
    """Does this process have child processes (Linux only; elsewhere: unknown, so no)?"""
    try:
        tasks = os.listdir(f"/proc/{os.getpid()}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                if f.read().strip():
                    return True
        except OSError:
            pass
    return False


_PLAIN_SCALARS = (float, int, bool, str, type(None))


def _plain(value, depth: int = 0) -> bool:
    """Is ``value`` made of exact builtin/numpy types (no subclass that could lie about itself)?"""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is np.ndarray:
        return value.dtype != object
    if isinstance(value, np.generic):
        return kind.__module__ == "numpy"
    if kind in (tuple, list) and depth < 3:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _guarded(answer, exercise, snapshot: Snapshot):
    if answer is None or not callable(answer):
        return answer

    def guarded(*args):
        result = answer(*args)
        problem = snapshot.first_change()
        if problem:
            raise Tampered(problem)
        if exercise.run is None and not _plain(result):
            raise TypeError(f"it returned a {type(result).__name__}; return plain numbers or numpy arrays"
                            " (or a tuple of them)")
        return result

    guarded.__name__ = getattr(answer, "__name__", exercise.function)
    return guarded


def _tampering(exercise_id: str, what: str) -> dict:
    return Verdict(exercise_id, False, "tampering",
                   f"The grader could not trust this notebook: {what}. Exercise cells may only define"
                   " your functions; they must not change numpy, the course package or the checks.").to_dict()


def child_main(task: dict, to_server: int, from_server: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    exercises = {ident: EXERCISES.get(ident) for ident, _ in task["exercises"]}
    extra = {f"exercise {i}": e for i, e in exercises.items() if e is not None}
    extra.update({f"exercise {i} case {n}": c for i, e in exercises.items() if e is not None
                  for n, c in enumerate(e.public)})
    snapshot = Snapshot(extra)
    namespace = {"__name__": "__main__"}
    problem = None
    for number, (source, ident) in enumerate(task["cells"]):
        os.write(to_server, f"cell {number}\n".encode())  # only to say where a crash happened
        if ident is not None and problem is None:
            found = course_imports(source)
            if found:
                problem = f"the cell of {ident} uses {found}, which exercise cells may not use"
        try:
            with time_limit(task["cell_timeout"]):
                exec(compile(source, "<exercise cell>", "exec"), namespace)
        except BaseException:  # the cell's error is the learner's; nbval reports it, the checks below judge it
            pass
    problem = problem or snapshot.first_change() or ("a child process was started" if _children() else None)

    os.write(to_server, b"ready\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = os.read(from_server, 4096)
        if not chunk:
            os._exit(3)
        reply += chunk
    token, seed = reply.decode().split()
    verdicts = []
    for ident, function in task["exercises"]:
        exercise = exercises[ident]
        if exercise is None:
            verdicts.append(Verdict(ident, False, "error", f"the course has no exercise {ident}").to_dict())
            continue
        if problem:
            verdicts.append(_tampering(ident, problem))
            continue
        if task.get("time_limit"):
            exercise = dataclasses.replace(exercise, time_limit=float(task["time_limit"]))
        try:
            verdict = evaluate(exercise, _guarded(namespace.get(function), exercise, snapshot), int(seed)).to_dict()
        except Tampered as exc:
            problem = str(exc)
            verdict = _tampering(ident, problem)
        except TimeLimitExceeded:
            verdict = Verdict(ident, False, "timeout", f"`{function}` did not finish in time.").to_dict()
        after = snapshot.first_change()
        if after:
            problem = after
            verdict = _tampering(ident, after)
        verdicts.append(verdict)
    os.write(to_server, (json.dumps({"token": token, "verdicts": verdicts}) + "\n").encode())
    os._exit(0)


# ----- the server -----------------------------------------------------------------

def _read_line(fd: int, deadline: float, pending: bytearray) -> bytes | None:
    """One line from ``fd`` before ``deadline``; None on timeout or end of file."""
    data = bytes(pending)
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        data += chunk
        if len(data) > 10_000_000:
            return None
    line, _, rest = data.partition(b"\n")
    pending[:] = rest
    return line + b"\n"


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _finish(pid: int) -> str:
    """Kill the child (and what it started in its group) and say how it ended."""
    for _ in range(20):  # a child that ended by itself is given a moment to be reaped as such
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
        return f"it was ended by signal {os.WTERMSIG(status)}"
    if os.WIFEXITED(status):
        return f"it ended the process (exit code {os.WEXITSTATUS(status)})"
    return "it did not finish in time"


def run_task(task: dict) -> None:
    key = task["key"]
    down_r, down_w = os.pipe()  # server -> child
    up_r, up_w = os.pipe()  # child -> server
    pid = os.fork()
    if pid == 0:
        try:
            os.close(down_w)
            os.close(up_r)
            child_main(task, up_w, down_r)
        finally:
            os._exit(4)
    os.close(down_r)
    os.close(up_w)
    deadline = time.monotonic() + float(task["deadline"])
    pending = bytearray()
    try:
        cell = None
        ready = _read_line(up_r, deadline, pending)
        while ready is not None and ready.startswith(b"cell "):
            cell = int(ready.split()[1])
            ready = _read_line(up_r, deadline, pending)
        if ready != b"ready\n":
            _send({"op": "result", "key": key, "cell": cell,
                   "error": _finish(pid) if ready is None else "no answer"})
            pid = None
            return
        _send({"op": "ready", "key": key})
        go = json.loads(sys.stdin.readline())
        token = secrets.token_hex(16)
        os.write(down_w, f"{token} {int(go['seed'])}\n".encode())
        del go
        answer = _read_line(up_r, deadline, pending)
        result = json.loads(answer) if answer else None
        if isinstance(result, dict) and result.get("token") == token:
            _send({"op": "result", "key": key, "verdicts": result["verdicts"]})
        else:
            _send({"op": "result", "key": key, "error": _finish(pid) if answer is None else "no answer"})
            pid = None
        del token, result, answer
    finally:
        os.close(down_w)
        os.close(up_r)
        if pid is not None:
            _finish(pid)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin:
        if line.strip():
            run_task(json.loads(line))
        del line


if __name__ == "__main__":
    main()
