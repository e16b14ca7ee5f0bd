"""A learner's side of the live session: the checks never wait for it, and it sends only verdicts.

The sending is replaced by a function that blocks (a network that never
answers) or records, or goes to a real server on a thread; every wait here is
on an event, never a guess of how long something takes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from conftest import ROOT
from course.assess import events
from course.assess.check import CheckFailed, check
from course.session import client
from course.session.server import Running


def right(x, y, dout):
    return y * dout, x * dout


def swapped(x, y, dout):  # the misconception "order" of 01.mul_gate
    return x * dout, y * dout


@pytest.fixture(autouse=True)
def no_session():
    yield
    with client._lock:
        client._stop_current(wait=0.0)
    events._listeners.clear()


def joined(send, monkeypatch, name="Ada") -> client.Session:
    """A session whose posts go to ``send``, as ``course.join`` makes it."""
    monkeypatch.setattr(client, "post", send)
    return client._start("http://127.0.0.1:9", "ABCD-EFGH", name)


def test_a_check_never_waits_for_the_network(monkeypatch, capsys):
    release, calls = threading.Event(), []

    def hung(url, code, path, payload, timeout=client.TIMEOUT):  # a network that never answers
        calls.append(path)
        release.wait(60)
        raise TimeoutError("timed out")

    joined(hung, monkeypatch)
    for _ in range(20):
        check("01.mul_gate", right)
    with pytest.raises(CheckFailed):
        check("01.mul_gate", swapped)
    # All 21 checks are done while the sender is still stuck in its first post (the join).
    assert calls == ["/api/join"] and not release.is_set()
    release.set()
    assert capsys.readouterr().out.count("✔ 01.mul_gate") == 20


def test_join_waits_only_a_fraction_of_a_second_then_says_so(monkeypatch, capsys):
    release = threading.Event()

    def hung(url, code, path, payload, timeout=client.TIMEOUT):
        release.wait(60)
        raise TimeoutError("timed out")

    monkeypatch.setattr(client, "post", hung)
    client.join("http://127.0.0.1:9", "ABCD-EFGH", "Ada")
    assert not release.is_set()  # join has returned (after JOIN_WAIT); its post still hangs
    release.set()
    assert "has not answered yet; your checks work as before" in capsys.readouterr().out


def test_a_real_post_to_a_silent_server_times_out():
    """A server that accepts the connection and never answers: the post gives up after its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(TimeoutError):
            client.post(f"http://127.0.0.1:{silent.getsockname()[1]}", "ABCD-EFGH", "/api/join", {"name": "Ada"})


def test_an_unreachable_session_gives_one_quiet_note_and_the_same_verdicts(monkeypatch, capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setattr(client, "BACKOFF", (0.0,))
        client.join(url, "ABCD-EFGH", "Ada")
        client._current.answered.wait(30)
        for _ in range(3):
            check("01.mul_gate", right)
        with pytest.raises(CheckFailed) as failed:
            check("01.mul_gate", swapped)
    out = capsys.readouterr().out
    assert out.count("(live session:") == 1 and f"{url} cannot be reached (Connection refused)" in out
    assert "your checks work as before" in out and out.count("✔ 01.mul_gate multiply gate, backward") == 3
    assert failed.value.verdict.code == "order"


def test_each_check_sends_its_verdict_and_nothing_else(monkeypatch):
    sent = []

    def record(url, code, path, payload, timeout=client.TIMEOUT):
        sent.append((path, payload))
        return 200, {}

    session = joined(record, monkeypatch)
    check("01.mul_gate", right)
    with pytest.raises(CheckFailed):
        check("01.mul_gate", swapped)
    session.close(wait=30)
    assert [p for p, _ in sent] == ["/api/join", "/api/events", "/api/events"]
    good, bad = (payload for path, payload in sent if path == "/api/events")
    assert set(good) == {"key", "name", "exercise", "passed", "code", "time"}  # no code, no answer, no file
    assert (good["exercise"], good["passed"], good["code"]) == ("01.mul_gate", True, "ok")
    assert (bad["passed"], bad["code"], bad["name"]) == (False, "order", "Ada") and good["key"] != bad["key"]


def test_a_refused_join_code_is_said_once_and_nothing_more_is_sent(monkeypatch, capsys):
    sent = []

    def refuse(url, code, path, payload, timeout=client.TIMEOUT):
        sent.append(path)
        return 403, {"error": "wrong join code: ask the instructor for this session's code"}

    session = joined(refuse, monkeypatch)
    session.answered.wait(30)
    for _ in range(3):
        check("01.mul_gate", right)
    session.close(wait=30)
    assert sent == ["/api/join"]
    assert capsys.readouterr().out.count("the session refused: wrong join code") == 1


def test_a_failing_listener_never_changes_a_verdict(capsys):
    def broken(event):
        raise RuntimeError("a bug in a listener")

    events.subscribe(broken)
    check("01.mul_gate", right)
    with pytest.raises(CheckFailed):
        check("01.mul_gate", swapped)
    assert "✔ 01.mul_gate" in capsys.readouterr().out


def test_a_bad_join_says_what_is_wrong_and_never_raises(capsys):
    client.join("192.168.1.20:8765", "ABCD-EFGH", "Ada")
    client.join("http://127.0.0.1:8765", "", "Ada")
    client.join("http://127.0.0.1:8765", "ABCD-EFGH", "")
    out = capsys.readouterr().out
    assert "is not an address like http://" in out and "the join code is empty" in out
    assert "the name must have 1 to 40 characters" in out and client._current is None


def test_join_check_and_leave_against_a_real_server(tmp_path, capsys):
    server = Running(tmp_path / "session.sqlite")
    try:
        client.join(server.url, server.store.join_code.lower(), "  Ada   Lovelace ")
        assert "Joined the live session as Ada Lovelace" in capsys.readouterr().out
        with pytest.raises(CheckFailed):
            check("01.mul_gate", swapped)
        check("01.mul_gate", right)
        client.leave()
        state = server.store.snapshot()
        assert [(x["learner"], x["passed"], x["tries"]) for x in state["latest"]] == [("Ada Lovelace", True, 2)]
        assert state["learners"][0]["left"] is not None
        check("01.mul_gate", right)  # after leaving: nothing is sent
        assert server.store.event_count() == 2 and "Left the live session." in capsys.readouterr().out
    finally:
        server.stop()


def test_the_environment_variable_joins_at_the_first_check(tmp_path):
    server = Running(tmp_path / "session.sqlite")
    program = ("import course, numpy\nfrom course import check\n"
               "check('01.mul_gate', lambda x, y, dout: (y * dout, x * dout))\ncourse.leave()\n")
    env = dict(os.environ, GRADFLOW_SESSION=f"{server.url} {server.store.join_code} Grace Hopper")
    try:
        done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert "(live session" not in done.stdout and "✔ 01.mul_gate" in done.stdout
        [latest] = server.store.snapshot()["latest"]
        assert (latest["learner"], latest["passed"]) == ("Grace Hopper", True)
        # A malformed variable: one note, and the check as always.
        env["GRADFLOW_SESSION"] = "http://127.0.0.1:9"
        done = subprocess.run([sys.executable, "-c", program.replace("course.leave()\n", "")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and done.stdout.count('GRADFLOW_SESSION should be "url code name"') == 1
    finally:
        server.stop()


def test_import_course_stays_light_without_a_session():
    done = subprocess.run([sys.executable, "-c", "import course, sys; print(sorted(m for m in sys.modules"
                           " if m.startswith('course.')))"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "GRADFLOW_SESSION"})
    assert done.stdout.strip() == "[]"


def test_the_session_package_imports_only_the_assess_layer():
    import ast

    for path in (ROOT / "course" / "session").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.startswith("course"):
                    assert name.startswith(("course.assess", "course.session")), f"{path.name} imports {name}"


def test_a_session_that_answered_once_is_not_called_unreachable_for_one_slow_answer(monkeypatch, capsys):
    answers = iter([(200, {}), TimeoutError("timed out"), (200, {})])  # the join, then one event retried once

    def flaky(url, code, path, payload, timeout=client.TIMEOUT):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client, "BACKOFF", (0.0,))
    session = joined(flaky, monkeypatch)
    check("01.mul_gate", right)
    session.close(wait=30)
    check("01.mul_gate", right)
    assert session.problem is None and "(live session" not in capsys.readouterr().out
