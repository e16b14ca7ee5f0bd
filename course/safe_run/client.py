"""``check()`` inside the grading sandbox: a thin client of the judge outside.

The references, the misconceptions and the hidden cases are not in the
sandbox. The check cell's ``check(exercise_id, answer)`` asks the judge (over
the notebook's own socket, ``GRADFLOW_JUDGE``) for each case's arguments,
calls the learner's function on them under the exercise's time limit, and
sends back what it returned (or raised) and its arguments after the call; the
judge compares, diagnoses and answers with the verdict, which this prints
(passed) or raises as ``CheckFailed`` (not yet), exactly as the local check does.

The graded notebook's first cell (``canonical.GUARD_SOURCE``) calls ``plug_in``:
in a kernel whose environment names the judge's socket, ``check()`` then hands
each call here (``course.assess.seams``); anywhere else it stays the local check.
"""

from __future__ import annotations

import base64
import os
import pickle
import socket
import time
import traceback
from typing import Any

from course.assess import own_work
from course.assess.limits import TimeLimitExceeded, time_limit
from course.assess.seams import plug_in_evaluator
from course.safe_run import wire

SOCKET_VARIABLE = "GRADFLOW_JUDGE"


def active() -> bool:
    return bool(os.environ.get(SOCKET_VARIABLE))


def plug_in() -> None:
    """Under grading (the judge's socket named), make ``check()`` this thin client.

    Returns nothing: the guard cell calls it last, and a value would be that cell's output.
    """
    if active():
        plug_in_evaluator(remote_check)


def _where(exc: BaseException) -> list | None:
    """File, line, function and source line of the last frame outside the course package."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/course/" not in f.filename.replace("\\", "/")]
    if not frames:
        return None
    last = frames[-1]
    return [last.filename, last.lineno, last.name, last.line or ""]


def _call(answer, args, seconds: float, run=None, states: bool = True, own=()) -> dict:
    # Objects' attributes after the call go back only when the judge reads them (see judge._proxy):
    # a graph of 10,000 nodes is walked and described otherwise.
    known = wire.objects(args) if states else []
    start = time.process_time()  # the learner's computing time, as the limit counts it (course.assess.limits)
    try:
        # ``own``: the course's functions that compute this answer; which ones it called goes back.
        with own_work.recording() as calls, own_work.watching(tuple(str(p) for p in own), answer), \
                time_limit(seconds):
            result = run(answer, args) if run is not None else answer(*args)
    except TimeLimitExceeded:
        return {"timeout": True}
    except Exception as exc:
        return {"raised": {"type": type(exc).__name__, "builtin": type(exc).__module__ == "builtins",
                           "message": str(exc)[:2000], "where": _where(exc)}}
    try:
        return {"returned": wire.encode_message(result, []), "args": wire.encode_message(list(args), known, states),
                "seconds": time.process_time() - start, "course_calls": sorted(calls)}
    except Exception as exc:  # a value that cannot be described (a huge or strange object)
        return {"unsendable": f"{type(exc).__name__}: {str(exc)[:300]}"}


def remote_check(exercise_id: str, answer: Any) -> None:
    from course.assess.check import CheckFailed, format_success
    from course.assess.diagnose import Verdict

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.environ[SOCKET_VARIABLE])
        line = wire.Line(sock, "the grader's judge")
        line.send({"check": str(exercise_id), "callable": callable(answer),
                   "kind": "None" if answer is None else type(answer).__name__})
        while True:
            message = line.receive()
            if "call" not in message:
                break
            args = pickle.loads(base64.b64decode(message["call"]))
            run = pickle.loads(base64.b64decode(message["run"])) if message.get("run") else None
            line.send(_call(answer, args, float(message["seconds"]), run, bool(message.get("states", True)),
                            message.get("own") or ()))
    verdict = Verdict(message["exercise"], message["passed"], message["code"], message["message"],
                      message.get("public", 0), message.get("hidden", 0))
    if not verdict.passed:
        raise CheckFailed(verdict)
    print(format_success(verdict, message.get("title", "")))
