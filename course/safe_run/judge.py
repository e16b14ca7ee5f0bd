"""The judge: verdicts made outside the sandbox, where the learner's code cannot reach.

For each graded notebook the judge listens on a socket in that notebook's run
folder (the only folder of the grader the notebook's sandbox sees). The check
cell's thin client (``course.safe_run.client``) connects and names an exercise;
the judge makes the cases (the public ones and hidden ones from the class
run's seed, which never enters the sandbox), sends each case's arguments in,
gets back what the learner's function returned (plain data, ``wire``),
compares with the reference, diagnoses with the misconceptions
(``course.assess.diagnose.evaluate``, the very code of the local check) and
answers with the verdict, which it also records: the recorded verdict is the
one that counts, whatever the notebook prints.

A failure of the judge itself is recorded as infrastructure, never as the
learner's mistake.

**One judgement per exercise per notebook run.** The judge answers the check
cells and nothing else: code in an exercise cell can find the socket and ask
for a check itself, but only the first session for an exercise is judged (the
learner's function called on the cases). Every later one gets that verdict
again, without a case sent or a function called, and the row's hint says how
many times the check was asked for. So a notebook learns nothing about the
hidden cases that one check cell would not show, and cannot multiply its
attempts (try answers until one passes): the first answer counts, whichever
code asked. A session asked for while the first one of the same exercise is
still running (from inside the function being judged) is refused.
"""

from __future__ import annotations

import base64
import builtins
import copy
import dataclasses
import linecache
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from course.assess.casebook import CaseBook
from course.assess.diagnose import Verdict, evaluate
from course.assess.limits import TimeLimitExceeded, wall_backstop
from course.assess.own_work import uncredited
from course.assess.registry import all_exercises, get_exercise
from course.safe_run import wire
from course.safe_run.sandbox import JUDGE_SOCKET

# Seconds the judge waits beyond a call's own time limit before it calls it a timeout
# (the sandbox enforces the limit itself; this covers a kernel that stopped answering).
SLACK = 30.0
REQUEST_TIMEOUT = 120.0
# Checks a notebook may ask for (a canonical notebook asks once per exercise); the rest are
# refused, so a notebook that floods its socket costs the grader nothing.
MAX_CONNECTIONS = 200


class NotebookGone(BaseException):
    """The notebook's side of a check went away mid-call (its cell's time ran out, its kernel died).

    A BaseException, like Infrastructure, so the evaluation does not report it as an error of the
    learner's function; the row then takes nbval's account of that cell (a timeout, a dead kernel).
    """


class Infrastructure(BaseException):
    """The grader's own machinery failed; the row says so, and it is not the learner's.

    A BaseException: the evaluation blames the learner's function for an Exception raised by a call.
    """


# A case may be a chain of thousands of gates: pickling it recurses once per gate.
RECURSION_LIMIT = 100_000
THREAD_STACK_BYTES = 512 * 2**20


def _pickle_concepts_by_value() -> None:
    """The concept modules are not in the sandbox: what the cases hold of them travels as code and data."""
    all_exercises()
    for name, module in list(sys.modules.items()):
        if name.startswith("course.assess.concepts."):
            cloudpickle.register_pickle_by_value(module)


def _rebuilt(raised: dict) -> Exception:
    """The learner's exception, rebuilt outside (a builtin type by name; else a plain one with its name)."""
    name = str(raised.get("type", "Exception"))
    name = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,80}", name) else "Exception"
    message = str(raised.get("message", ""))[:2000]
    kind = getattr(builtins, name, None) if raised.get("builtin") else None
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = type(name, (Exception,), {})
    try:
        exc = kind(message)
    except Exception:
        exc = type(name, (Exception,), {})(message)
    where = raised.get("where")
    try:
        filename, lineno, function, text = str(where[0])[:300], int(where[1]), str(where[2])[:100], str(where[3])
    except (TypeError, ValueError, IndexError):
        return exc
    if not 0 < lineno < 100_000:
        return exc
    # A frame at the learner's file and line, so the hint names them as the local check does.
    linecache.cache[filename] = (len(text), None, ["\n"] * (lineno - 1) + [text[:300] + "\n"], filename)
    code = compile("\n" * (lineno - 1) + "raise __exc__", filename, "exec").replace(co_name=function)
    try:
        exec(code, {"__exc__": exc})
    except Exception as raised_here:
        return raised_here
    return exc


def _pickled(arguments: tuple) -> str:
    try:
        return base64.b64encode(cloudpickle.dumps(arguments)).decode()
    except Exception as exc:
        raise Infrastructure(f"the case could not be sent into the sandbox ({type(exc).__name__}: {exc})")


def _data_copy(value):
    """``value`` with its arrays, lists, dicts and generators copied, other objects shared.

    What the evaluation compares after a call (were the inputs left alone?) is data: objects are
    not compared, and without their states nothing writes into them.
    """
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_data_copy(v) for v in value)
    if isinstance(value, list):
        return [_data_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _data_copy(v) for k, v in value.items()}
    if isinstance(value, np.random.Generator):
        return copy.deepcopy(value)
    return value


ASKED_AGAIN = "Under grading each exercise is judged once per run, and the first answer counts:"


def _asked_again(verdict: dict, asked: int) -> dict:
    """The first verdict, its hint saying the check was asked for ``asked`` times (a passed one is left as it is:
    it has no hint, and asking again gained nothing)."""
    if verdict.get("passed") or verdict.get("infrastructure"):
        return verdict
    message = str(verdict.get("message", "")).split(f" {ASKED_AGAIN}")[0]
    return {**verdict, "message": f"{message} {ASKED_AGAIN} this notebook asked for the check of"
                                  f" {verdict.get('exercise')} {asked} times (code outside its check cell called"
                                  " the checker), and only its first check was judged."}


class JudgeService:
    """One per class run: a socket per notebook, a thread per check."""

    def __init__(self, seed: int, time_limit: float | None = None, partial: bool = False) -> None:
        _pickle_concepts_by_value()
        sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
        threading.stack_size(THREAD_STACK_BYTES)  # for the threads started from here on: the judge's
        self.seed, self.time_limit = seed, time_limit
        self.partial = partial  # run every case, to count the ones passed (partial credit)
        self.book = CaseBook()  # every learner gets the same cases: drawn, and answered by the reference, once
        self.verdicts: dict[str, dict[str, dict]] = {}
        self._asked: dict[str, dict[str, int]] = {}  # notebook key -> exercise -> sessions asked for
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def open(self, key: str, run: Path, exercises: list[str]) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(run / JUDGE_SOCKET))
        server.listen(8)
        self._sockets.append(server)
        self.verdicts[key] = {}
        self._asked[key] = {}
        threading.Thread(target=self._accept, args=(key, server, set(exercises)), daemon=True).start()

    def close(self) -> None:
        for server in self._sockets:
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()

    def _accept(self, key: str, server: socket.socket, exercises: set) -> None:
        for _ in range(MAX_CONNECTIONS):
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(key, connection, exercises), daemon=True).start()
        server.close()

    def _serve(self, key: str, connection: socket.socket, exercises: set) -> None:
        with connection:
            connection.settimeout(REQUEST_TIMEOUT)
            line = wire.Line(connection, "the notebook", wire.LINE_LIMIT)
            try:
                request = line.receive()
                ident = str(request.get("check"))
            except (OSError, ValueError):
                return  # not a check: nothing to record
            if ident not in exercises:
                verdict = Verdict(ident, False, "error", f"this notebook has no exercise {ident!r} to check").to_dict()
                line.send(verdict)
                return
            with self._lock:
                asked = self._asked[key][ident] = self._asked[key].get(ident, 0) + 1
                first = self.verdicts[key].get(ident)
                if asked > 1 and first is not None:
                    first = self.verdicts[key][ident] = _asked_again(first, asked)
            if asked > 1:
                # Judged once per run: the first answer again (nothing sent in, nothing called), or a refusal
                # while that first judgement is still running (asked from inside the function being judged).
                try:
                    line.send(first if first is not None else Verdict(
                        ident, False, "error", f"The check of {ident} is running already: it cannot be asked"
                        " for again from inside the function it judges.").to_dict())
                except OSError:
                    pass
                return
            try:
                verdict = self._judge(ident, request, line)
            except (OSError, ValueError, ConnectionError, NotebookGone) as exc:
                verdict = {**Verdict(ident, False, "crash", "The check did not complete: the notebook's kernel"
                                     f" stopped answering the grader ({type(exc).__name__}).").to_dict()}
            except (Exception, Infrastructure) as exc:  # the judge's own failure
                verdict = {**Verdict(ident, False, "infrastructure", f"the judge failed: {type(exc).__name__}:"
                                     f" {exc}").to_dict(), "infrastructure": True}
            with self._lock:
                if self._asked[key][ident] > 1:  # asked again while it ran: the row says so
                    verdict = _asked_again(verdict, self._asked[key][ident])
                self.verdicts[key][ident] = verdict
            try:
                line.send(verdict)
            except OSError:
                pass

    def _judge(self, ident: str, request: dict, line: wire.Line) -> dict:
        exercise = get_exercise(ident)
        if self.time_limit:
            exercise = dataclasses.replace(exercise, time_limit=float(self.time_limit))
        if not request.get("callable"):
            kind = str(request.get("kind", "None"))
            answer = None if kind == "None" else type(re.sub(r"\W", "_", kind)[:60] or "value", (), {})()
            verdict = evaluate(exercise, answer, self.seed, count_all=self.partial, book=self.book)
        else:
            # An adapter that must run beside the learner's objects travels with each call (see Exercise).
            run = exercise.run if exercise.run_in_sandbox else None
            if run is not None:
                exercise = dataclasses.replace(exercise, run=None)
            proxy = self._proxy(exercise, line, run)
            verdict = evaluate(exercise, proxy, self.seed, count_all=self.partial, book=self.book)
            # An answer that called the course's own implementation of itself earns nothing (own work).
            verdict = uncredited(verdict, proxy.course_calls, exercise.function)
        counts = ({"cases_passed": verdict.cases_passed, "cases_total": verdict.cases_total}
                  if verdict.cases_total is not None else {})
        return {**verdict.to_dict(), "title": exercise.title, "public": verdict.public_cases,
                "hidden": verdict.hidden_cases, **counts}

    def _proxy(self, exercise, line: wire.Line, run=None):
        """The learner's function as the evaluation sees it: each call crosses into the sandbox and back
        (with ``run``, the exercise's adapter runs there too, around the learner's answer)."""
        used = [0.0]  # CPU seconds the learner's function used (measured inside: the crossing is not theirs)
        adapter = base64.b64encode(cloudpickle.dumps(run)).decode() if run is not None else None
        # The objects' attributes after a call matter only to an adapter that runs here and reads them (a
        # backward() fills .grad): one that runs inside reads them there. Arrays, lists and dicts always
        # come back, for the check that the inputs were left alone.
        states = run is None and exercise.run is not None
        own = list(exercise.answer_of)

        def exchange(case: str) -> tuple[dict, Any]:
            """One call inside: ``case`` (the arguments, pickled) in; what it left of them and returned, out."""
            left = max(exercise.time_limit - used[0], 0.01)
            # The limit counts CPU time inside; the clock waits as long as its backstop does.
            line.sock.settimeout(wall_backstop(left) + SLACK)
            try:
                line.send({"call": case, "seconds": left, "run": adapter, "states": states, "own": own})
                reply = line.receive()
            except socket.timeout:
                raise TimeLimitExceeded(exercise.time_limit) from None
            except (OSError, ValueError) as exc:  # the kernel stopped (its cell's time ran out, it died)
                raise NotebookGone(exc) from None
            if "timeout" in reply:
                raise TimeLimitExceeded(exercise.time_limit)
            if "raised" in reply:
                raise _rebuilt(reply["raised"])
            if "unsendable" in reply:
                raise TypeError(f"what it returned could not be sent to the grader ({reply['unsendable']});"
                                " return plain numbers or numpy arrays (or a tuple of them)")
            named = reply.get("course_calls")
            if isinstance(named, list):  # which of the exercise's own functions it called (inside, by running)
                call.course_calls.update(str(n)[:80] for n in named[:10])
            try:
                used[0] += max(float(reply.get("seconds", left)), 0.0)
            except (TypeError, ValueError):
                used[0] += left
            return reply, wire.decode_message(reply["returned"], [])

        def call(*given):
            reply, returned = exchange(_pickled(tuple(given)))
            wire.apply(given, wire.decode_message(reply["args"], wire.objects(given) if states else []))
            return returned

        def call_case(case):
            """``call`` on a case of the evaluation's book: its pickle is made once for every learner, and
            only the data the evaluation compares is copied here (objects do not come back: ``states``)."""
            reply, returned = exchange(self.book.kept(exercise, "pickled", case, lambda: _pickled(tuple(case.args))))
            given = _data_copy(case.args)
            wire.apply(given, wire.decode_message(reply["args"], []))
            return given, returned

        if not states:
            call.call_case = call_case
        call.course_calls = set()
        call.__name__ = exercise.function
        return call
