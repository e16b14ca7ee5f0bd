"""A learner's side of a live session: ``course.join(url, code, name)`` and ``course.leave()``.

After joining, every check sends the session one small event (name, exercise
id, passed, the hint's code, a timestamp; never code, an answer or a file).
The check never waits for it: the event goes into a bounded queue and a
background thread posts it with a hard timeout (``TIMEOUT``). A session that
cannot be reached costs the learner one quiet note, once; the checks work
exactly as before. An event whose answer was lost is posted again with the
same key, and the server stores it once.

``GRADFLOW_SESSION="url code name"`` (set before JupyterLab starts, e.g. by a
JupyterHub's spawner) joins at the first check, without a word unless the
session cannot be reached.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import threading
import time
import urllib.parse

from course.assess import events

VARIABLE = "GRADFLOW_SESSION"
TIMEOUT = 0.3  # seconds for one post, connection included
JOIN_WAIT = 0.3  # seconds join() waits to say whether the session answered
QUEUE = 200  # events waiting to be posted; more are dropped (the page shows the latest anyway)
TRIES = 4  # posts of one event before it is dropped
BACKOFF = (0.2, 1.0, 3.0)  # seconds between tries while the session cannot be reached


def post(url: str, code: str, path: str, payload: dict, timeout: float = TIMEOUT) -> tuple[int, dict]:
    """POST ``payload`` as JSON to the session; (status, answer). Raises OSError when it cannot be reached."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=timeout)
    try:
        body = json.dumps(payload).encode()
        connection.request("POST", parts.path.rstrip("/") + path, body,
                           {"Content-Type": "application/json", "Authorization": f"Bearer {code}"})
        response = connection.getresponse()
        text = response.read(4096)
    finally:
        connection.close()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"error": text[:200].decode("utf-8", "replace")}
    return response.status, answer if isinstance(answer, dict) else {}


def new_key() -> str:
    return secrets.token_urlsafe(18)


class Session:
    """One joined session: its queue, its sending thread, and whether the learner has been told of a problem."""

    def __init__(self, url: str, code: str, name: str, send=None) -> None:
        self.url, self.code, self.name = url.rstrip("/"), code.strip().upper(), name
        self.send = send if send is not None else post
        self.queue: queue.Queue = queue.Queue(QUEUE)
        self.problem: str | None = None  # why the session did not take an event, once known
        self.told = False
        self.refused = False  # the session said no (wrong code, bad name): nothing more is sent
        self.answered = threading.Event()  # the join's first answer (or failure) is known
        self.dropped = 0
        self.abandoned = False  # left: what is still queued is not sent
        self.reached = False  # the session has answered at least once
        self.thread = threading.Thread(target=self._run, name="gradflow-session", daemon=True)
        self.thread.start()

    def put(self, path: str, payload: dict) -> None:
        try:
            self.queue.put_nowait((path, payload))
        except queue.Full:
            self.dropped += 1

    def on_check(self, event: events.CheckEvent) -> None:
        if not self.refused:
            self.put("/api/events", {"key": new_key(), "name": self.name, "exercise": event.exercise,
                                     "passed": event.passed, "code": event.code, "time": event.time})
        self.note()

    def note(self) -> None:
        """Say once, quietly, that the session is not getting the checks (printed by the check or join cell)."""
        if self.problem and not self.told:
            self.told = True
            print(f"(live session: {self.problem}; your checks work as before.)")

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None or self.abandoned:
                return
            self._deliver(*item)
            self.answered.set()
            self.queue.task_done()

    def _deliver(self, path: str, payload: dict) -> None:
        for attempt in range(TRIES):
            if self.abandoned:
                return
            try:
                status, answer = self.send(self.url, self.code, path, payload)
            except Exception as exc:  # noqa: BLE001 - unreachable, refused, timed out, a bad address or answer
                # Never reached: say so at once (join's cell waits for it). Reached before (a restart, a slow
                # answer): only when the event is given up.
                if not self.reached or attempt == TRIES - 1:
                    verb = "stopped answering" if self.reached else "cannot be reached"
                    self.problem = self.problem or f"{self.url} {verb} ({_why(exc)})"
                if attempt < TRIES - 1:
                    time.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                continue
            if status < 300:
                self.reached = True
                return
            if status == 429 or status >= 500:
                time.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                continue
            self.problem = self.problem or f"the session refused: {answer.get('error', status)}"
            if status in (401, 403) or path != "/api/events":
                self.refused = True  # wrong code or name: every other message would be refused too
            return

    def close(self, wait: float = 1.0) -> None:
        """Send what is queued (waiting at most ``wait`` seconds), then stop the thread."""
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass
        self.thread.join(wait)
        self.abandoned = True


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "no answer in time"
    return getattr(exc, "strerror", None) or type(exc).__name__


_current: Session | None = None
_lock = threading.Lock()


def _start(url: str, code: str, name: str) -> Session:
    global _current
    name = " ".join(name.split())  # as the server shows it
    with _lock:
        if _current is not None:
            _stop_current(wait=0.0)
        _current = Session(url, code, name)
        events.subscribe(_current.on_check)
        _current.put("/api/join", {"name": name})
        return _current


def _stop_current(wait: float) -> None:
    global _current
    if _current is not None:
        events.unsubscribe(_current.on_check)
        _current.close(wait)
        _current = None


def join(url: str, code: str, name: str) -> None:
    """Join the live session at ``url`` with the instructor's join ``code``, as ``name``.

    Never raises and waits at most a fraction of a second: a session that does not answer leaves the
    checks exactly as they were.
    """
    problem = _invalid(url, code, name)
    if problem:
        print(f"(live session: {problem}; nothing is sent.)")
        return
    session = _start(url, code, name)
    session.answered.wait(JOIN_WAIT)
    if session.problem:
        session.note()
    elif session.answered.is_set():
        print(f"Joined the live session as {session.name}: each check now tells the instructor's page passed"
              " or not and the hint's code (never your code).")
    else:
        print("Joining the live session: it has not answered yet; your checks work as before.")


def leave() -> None:
    """Leave the session: the page shows you as left; no more checks are sent."""
    with _lock:
        if _current is None:
            print("(live session: not joined)")
            return
        _current.put("/api/leave", {"name": _current.name})
        _stop_current(wait=1.0)
    print("Left the live session.")


def _invalid(url, code, name) -> str | None:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https") \
            or not urllib.parse.urlsplit(url).hostname:
        return f"{url!r} is not an address like http://192.168.1.20:8765"
    if not isinstance(code, str) or not code.strip():
        return "the join code is empty"
    if not isinstance(name, str) or not name.strip() or len(" ".join(name.split())) > 40:
        return "the name must have 1 to 40 characters"
    return None


def from_environment(event: events.CheckEvent) -> None:
    """The first check's listener when ``GRADFLOW_SESSION`` is set: join quietly, then send this check too."""
    events.unsubscribe(from_environment)
    value = os.environ.get(VARIABLE, "").split(maxsplit=2)
    if _current is not None:
        return  # joined by hand already: that session has this check
    if len(value) != 3 or _invalid(*value):
        print(f"(live session: {VARIABLE} should be \"url code name\"; nothing is sent.)")
        return
    _start(*value).on_check(event)


def listen_from_environment() -> None:
    """Called by ``import course`` when ``GRADFLOW_SESSION`` is set: the first check will join."""
    events.subscribe(from_environment)
