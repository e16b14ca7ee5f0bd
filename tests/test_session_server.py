"""The live session's server: who may post and read, what it accepts, and that it loses nothing.

The server runs on a thread of this process (``course.session.server.Running``)
on a loopback port with its SQLite file in tmp_path; the load test with a
killed and restarted server runs it as the command (scripts/bench_session.py).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import sys

import pytest

from conftest import ROOT
from course.session import rules
from course.session.client import new_key, post
from course.session.server import PAGE, Running, announcement
from course.session.store import Store


@pytest.fixture
def server(tmp_path):
    running = Running(tmp_path / "session.sqlite")
    yield running
    running.stop()


def event(**changes) -> dict:
    base = {"key": new_key(), "name": "Ada", "exercise": "01.mul_gate", "passed": False, "code": "order",
            "time": 1_800_000_000.0}
    base.update(changes)
    return base


def send(server, path: str, body, code: str | None = None, headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = {"Content-Type": "application/json", **(headers or {})}
    if code is not False:
        head["Authorization"] = f"Bearer {code or server.store.join_code}"
    connection.request("POST", path, raw, head)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, answer


def get(server, path: str) -> tuple[int, bytes, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, dict(response.getheaders())


def test_a_learner_joins_and_checks_and_the_instructor_sees_it(server):
    assert send(server, "/api/join", {"name": "Ada"}) == (200, {"joined": "Ada"})
    status, answer = send(server, "/api/events", event(passed=True, code="ok"))
    assert status == 200 and answer["stored"] is True
    status, body, headers = get(server, f"/teach/{server.store.instructor_key}/state")
    state = json.loads(body)
    assert status == 200 and [l["name"] for l in state["learners"]] == ["Ada"]
    assert [(x["exercise"], x["passed"], x["code"]) for x in state["latest"]] == [("01.mul_gate", True, "ok")]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] and headers["Referrer-Policy"] == "no-referrer"


def test_only_the_join_code_posts_and_only_the_instructor_key_reads(server):
    assert send(server, "/api/events", event(), code=False)[0] == 401
    assert send(server, "/api/events", event(), code="ABCD-EFGH")[0] == 403
    assert send(server, "/api/join", {"name": "Eve"}, code=server.store.instructor_key)[0] == 403
    # The join code is not the instructor's key: a learner cannot read the class.
    for what in ("", "course", "state", "stream"):
        for key in (server.store.join_code, "x" * len(server.store.instructor_key), ""):
            assert get(server, f"/teach/{key}/{what}")[0] in (403, 404), (key, what)
    assert server.store.event_count() == 0 and server.store.learner_count() == 0
    key = server.store.instructor_key
    assert get(server, f"/teach/{key}/course")[0] == 200 and get(server, f"/teach/{key}/")[0] == 200
    # The code is typed by hand: lower case and spaces around it are the same code.
    assert send(server, "/api/join", {"name": "Ada"}, code=f" {server.store.join_code.lower()} ")[0] == 200


BAD = [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({**event(), "answer": "def mul_backward(...)"}).encode(), 400, "unknown: answer"),
    (json.dumps({k: v for k, v in event().items() if k != "time"}).encode(), 400, "missing: time"),
    (json.dumps(event(exercise="99.nope")).encode(), 422, "no exercise '99.nope'"),
    (json.dumps(event(exercise=["01.mul_gate"])).encode(), 422, "no exercise"),
    (json.dumps(event(code="made_up")).encode(), 422, "no hint code 'made_up'"),
    (json.dumps(event(passed="yes")).encode(), 400, "passed must be true or false"),
    (json.dumps(event(passed=True, code="order")).encode(), 400, 'code is "ok" exactly when'),
    (json.dumps(event(passed=False, code="ok")).encode(), 400, 'code is "ok" exactly when'),
    (json.dumps(event(key="short")).encode(), 400, "key must be"),
    (json.dumps(event(key="../../etc/passwd-xxxxxxxx")).encode(), 400, "key must be"),
    (json.dumps(event(name="   ")).encode(), 400, "name must have 1 to 40"),
    (json.dumps(event(name="x" * 41)).encode(), 400, "name must have 1 to 40"),
    (json.dumps(event(name="Ada\u0000")).encode(), 400, "control characters"),
    (json.dumps(event(name=7)).encode(), 400, "name must be a string"),
    (json.dumps(event(time="now")).encode(), 400, "time must be"),
    (b'{"key": "abcdefghijklmnopqr", "name": "Ada", "exercise": "01.mul_gate", "passed": false,'
     b' "code": "order", "time": NaN}', 400, "time must be"),
    (json.dumps({**event(), "name": "Ada" + " " * 2000}).encode(), 413, "at most 1024"),
]


@pytest.mark.parametrize("body, status, says", BAD, ids=[f"{n}-{s}" for n, (_, s, _) in enumerate(BAD)])
def test_bad_input_gets_a_clear_4xx_and_nothing_is_stored(server, body, status, says):
    got, answer = send(server, "/api/events", body)
    assert (got, says in answer["error"]) == (status, True), answer
    assert server.store.event_count() == 0 and server.store.learner_count() == 0
    # Nobody else is affected: the next learner's event is stored.
    assert send(server, "/api/events", event(name="Grace"))[0] == 200
    assert server.store.event_count() == 1


def test_a_body_far_too_large_is_refused_before_it_is_read(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/api/events")
    connection.putheader("Content-Length", str(10_000_000))
    connection.putheader("Authorization", f"Bearer {server.store.join_code}")
    connection.endheaders()
    assert connection.getresponse().status in (400, 413)
    connection.close()
    assert server.store.event_count() == 0 and send(server, "/api/events", event())[0] == 200


def test_a_retried_event_is_stored_once(server):
    once = event()
    first = send(server, "/api/events", once)
    again = send(server, "/api/events", once)
    assert first == (200, {"stored": True, "seq": 1}) and again == (200, {"stored": False, "seq": 1})
    assert server.store.event_count() == 1


def test_the_rate_limit_stops_one_learner_and_nobody_else(server):
    server.app.hub.limit = rules.RateLimit(burst=3, rate=1e-6)  # three, then (for the test's life) no more
    statuses = [send(server, "/api/events", event())[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    status, answer = send(server, "/api/events", event())
    assert status == 429 and "too many checks from 'Ada'" in answer["error"]
    assert send(server, "/api/events", event(name="Grace"))[0] == 200
    assert server.store.event_count() == 4


def test_the_token_bucket_refills_at_its_rate():
    now = [0.0]
    limit = rules.RateLimit(burst=2, rate=0.5, clock=lambda: now[0])
    limit.take("Ada")
    limit.take("Ada")
    with pytest.raises(rules.Rejected) as refused:
        limit.take("Ada")
    assert refused.value.status == 429 and "wait 2 s" in refused.value.message
    now[0] = 2.0
    limit.take("Ada")  # one token back after 1 / rate seconds
    limit.take("Grace")


def test_leaving_and_coming_back(server):
    send(server, "/api/join", {"name": "Ada"})
    send(server, "/api/leave", {"name": "Ada"})
    assert server.store.snapshot()["learners"][0]["left"] is not None
    send(server, "/api/join", {"name": "Ada"})
    assert server.store.snapshot()["learners"][0]["left"] is None
    assert send(server, "/api/leave", {"name": "Nobody"}) == (200, {"left": "Nobody"})
    assert server.store.learner_count() == 1  # leaving does not register a name


def test_the_page_stream_sends_the_snapshot_then_each_check(server):
    send(server, "/api/events", event(name="Ada"))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", f"/teach/{server.store.instructor_key}/stream")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"

    def next_message():
        kind = None
        while True:
            line = response.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                return kind, json.loads(line[6:])

    kind, data = next_message()
    assert kind == "snapshot" and [x["learner"] for x in data["latest"]] == ["Ada"]
    name = '<img src=x onerror="alert(1)">'
    send(server, "/api/events", event(name=name, passed=True, code="ok"))
    kind, data = next_message()
    assert kind == "check" and data["learner"] == name and data["passed"] is True  # data, never markup
    connection.close()


def test_the_page_puts_names_in_as_text_only():
    script = (PAGE / "teach.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "<script>" not in (PAGE / "teach.html").read_text()  # one script, from its own file (CSP: 'self')


def test_a_restarted_server_is_the_same_session_with_everything_in_it(tmp_path):
    first = Running(tmp_path / "session.sqlite")
    code, key = first.store.join_code, first.store.instructor_key
    sent = [event(name=f"learner {n}", passed=n % 2 == 0, code="ok" if n % 2 == 0 else "order") for n in range(12)]
    assert all(send(first, "/api/events", e)[0] == 200 for e in sent)
    first.stop()
    second = Running(tmp_path / "session.sqlite")
    try:
        assert (second.store.join_code, second.store.instructor_key) == (code, key)
        assert second.store.keys() == [e["key"] for e in sent]
        assert send(second, "/api/events", sent[0]) == (200, {"stored": False, "seq": 1})  # a retry after the restart
        assert second.store.event_count() == 12
    finally:
        second.stop()


def test_the_store_keeps_the_latest_check_per_learner_and_exercise(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for n, (passed, code) in enumerate([(False, "order"), (False, "output_for_input"), (True, "ok")]):
        store.add(rules.event(event(key=f"key-{n:020d}", passed=passed, code=code), frozenset({"01.mul_gate"}),
                              frozenset({"ok", "order", "output_for_input"})))
    [latest] = store.snapshot()["latest"]
    assert (latest["passed"], latest["code"], latest["tries"]) == (True, "ok", 3)
    store.close()


def test_the_announcement_says_where_it_listens(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    local = announcement("127.0.0.1", 8765, store)
    assert "only this machine can reach it" in local and f'"{store.join_code}"' in local
    assert f"/teach/{store.instructor_key}/" in local
    assert re.search(r'GRADFLOW_SESSION="http://127.0.0.1:8765 \S+ their name"', local)
    room = announcement("0.0.0.0", 8765, store)
    assert "anyone on that network can reach it" in room and "this machine's address" in room
    store.close()


def _bench():
    spec = importlib.util.spec_from_file_location("bench_session", ROOT / "scripts" / "bench_session.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_session"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_under_load_with_a_killed_server_every_acknowledged_event_is_stored_exactly_once(tmp_path):
    """scripts/bench_session.py, small: 12 learners for 3 s, the server killed (SIGKILL) and restarted halfway.

    Counts only, never speed: a busy machine makes it slower, not wrong.
    """
    result = _bench().run(learners=12, seconds=3.0, interval=0.5, restart=True, folder=tmp_path)
    assert result["sent"] > 12 and result["acknowledged"] == result["sent"]
    assert result["restart"]["acked_before_kill"] > 0
    assert result["lost"] == 0 and result["unsent_stored"] == 0 and result["stored_once"]
    assert result["stored"] == result["sent"] and result["same_events"]
    assert result["page_matches_store"] and result["page_snapshots"] >= 2  # the page came back after the restart


def test_a_full_session_refuses_new_names_and_keeps_serving_the_room(server, monkeypatch):
    monkeypatch.setattr(rules, "MAX_LEARNERS", 2)
    assert send(server, "/api/join", {"name": "Ada"})[0] == 200
    assert send(server, "/api/events", event(name="Grace"))[0] == 200
    status, answer = send(server, "/api/events", event(name="Mallory"))
    assert status == 403 and "the session is full (2 learners)" in answer["error"]
    assert send(server, "/api/leave", {"name": "Mallory"})[0] == 200  # leaving registers nobody
    assert send(server, "/api/events", event(name="Ada"))[0] == 200
    assert server.store.learner_count() == 2 and server.store.event_count() == 2
    assert set(server.app.hub.limit.buckets) == {"Ada", "Grace"}
