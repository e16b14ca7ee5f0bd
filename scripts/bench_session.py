"""The live session under a full room: simulated learners post checks while the instructor's page is open.

    .venv/bin/python scripts/bench_session.py                 # 200 learners, a check every 2-4 s each, 60 s
    .venv/bin/python scripts/bench_session.py --learners 20 --seconds 5 --interval 0.5

The server is the real one (``python -m course session start`` on a loopback
port, a SQLite file in a temporary folder). Each learner is a thread that posts
a check event (through the learners' own ``course.session.client.post``, with
its 0.3 s timeout) every few seconds, posting the same event again, with the
same key, until the server acknowledges it. A page reader holds the
instructor's event stream open (reconnecting as the page does) and notes when
each event reached it (from the check that made it). Halfway the server is killed (SIGKILL: no goodbye) and
started again on the same file.

At the end: every acknowledged event is stored, and stored once; nothing is
stored that was never sent; the page's view (the stream) equals the stored
state; the server's memory (RSS, sampled each second) and the figures:
events/s, p95 of a post's answer time, p95 of the page's lag behind the check.
Loopback only; the number of learners, the time and the posts are bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.session.catalog import catalog  # noqa: E402
from course.session.client import TIMEOUT, new_key, post  # noqa: E402

HOST = "127.0.0.1"


class Server:
    """``python -m course session start`` in a child process, stopped and started again on the same file."""

    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port = db, port
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course", "session", "start", "--port", str(self.port), "--db", str(self.db)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        text = ""
        while "/teach/" not in text:
            line = self.process.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the session server did not start: {text[-1000:]}")
            text += line
        self.code = re.search(r"the code (\S+),", text).group(1)
        self.teach = re.search(r"(/teach/[^/\s]+/)", text).group(1)
        # The server prints nothing more until it stops; drain it so it never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_mb(self) -> tuple[int, float] | None:
        """(pid, resident memory in MB) of the server process now."""
        try:
            pid = self.process.pid
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, AttributeError):
            return None
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        return (pid, int(found.group(1)) / 1024) if found else None


@dataclass
class Tally:
    """What the learners and the page saw; shared by the threads (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict = field(default_factory=dict)  # key -> event
    made: dict = field(default_factory=dict)  # key -> when the learner's check made it (first post)
    acked: dict = field(default_factory=dict)  # key -> time of the 2xx answer
    answer_times: list = field(default_factory=list)  # seconds from a post to its 2xx answer
    failures: int = 0  # posts without a 2xx answer (timeouts, refused during the restart), each retried
    duplicates: int = 0  # 2xx answers saying "already stored" (a retry of an event whose answer was lost)
    seen: dict = field(default_factory=dict)  # key -> when the page's stream brought it
    page: dict = field(default_factory=dict)  # (learner, exercise) -> (seq, passed, code): the page's view
    snapshots: int = 0
    rss: list = field(default_factory=list)  # (pid, MB), once a second


def learner(number: int, server: Server, tally: Tally, end: float, interval: float, exercises: list) -> None:
    rng = random.Random(number)
    name = f"learner {number:03d}"
    time.sleep(rng.uniform(0, interval))  # a room does not press Enter in step
    while time.monotonic() < end:
        exercise = rng.choice(exercises)
        passed = rng.random() < 0.6
        code = "ok" if passed else rng.choice(list(exercise["hints"]) or ["wrong_value"])
        event = {"key": new_key(), "name": name, "exercise": exercise["id"], "passed": passed, "code": code,
                 "time": time.time()}
        with tally.lock:
            tally.sent[event["key"]] = event
            tally.made[event["key"]] = time.monotonic()
        give_up = end + 300  # a learner posts an event until it is acknowledged (bounded; a busy machine is slow)
        while time.monotonic() < give_up:
            started = time.monotonic()
            try:
                status, answer = post(server.url, server.code, "/api/events", event, timeout=TIMEOUT)
            except Exception:  # noqa: BLE001 - refused while the server restarts, or no answer in time
                status, answer = 0, {}
            if 200 <= status < 300:
                with tally.lock:
                    tally.acked[event["key"]] = time.monotonic()
                    tally.answer_times.append(time.monotonic() - started)
                    tally.duplicates += not answer.get("stored", True)
                break
            with tally.lock:
                tally.failures += 1
            time.sleep(0.2 if status in (0, 429) or status >= 500 else 1.0)
        time.sleep(max(0.0, rng.uniform(0.5, 1.5) * interval))


def page_reader(server: Server, tally: Tally, stop: threading.Event) -> None:
    """The instructor's page, as its script reads the stream: a snapshot, then each check."""
    while not stop.is_set():
        try:
            connection = http.client.HTTPConnection(HOST, server.port, timeout=20)
            connection.request("GET", server.teach + "stream")
            response = connection.getresponse()
            kind = None
            while not stop.is_set():
                line = response.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    now = time.monotonic()
                    with tally.lock:
                        if kind == "snapshot":
                            tally.snapshots += 1
                            tally.page = {(x["learner"], x["exercise"]): (x["seq"], x["passed"], x["code"])
                                          for x in data["latest"]}
                        elif kind == "check":
                            tally.seen.setdefault(data["key"], now)
                            place = (data["learner"], data["exercise"])
                            if tally.page.get(place, (0,))[0] < data["seq"]:
                                tally.page[place] = (data["seq"], data["passed"], data["code"])
            connection.close()
        except (OSError, http.client.HTTPException):
            pass
        stop.wait(1.0)  # the page's EventSource retries after 1 s (the server's "retry: 1000")


def sampler(server: Server, tally: Tally, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        rss = server.rss_mb()
        if rss is not None:
            with tally.lock:
                tally.rss.append(rss)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def stored(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT key, learner, exercise, passed, code FROM events").fetchall()


def latest(db: Path) -> dict:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT learner, exercise, MAX(seq), passed, code FROM events"
                                  " GROUP BY learner, exercise").fetchall()
    return {(learner, exercise): (seq, bool(passed), code) for learner, exercise, seq, passed, code in rows}


def run(learners: int = 200, seconds: float = 60.0, interval: float = 3.0, restart: bool = True,
        folder: Path | None = None, port: int | None = None, concept: str = "01_chain_rule") -> dict:
    from socket import socket

    learners, seconds = min(learners, 1000), min(seconds, 600.0)  # bounded, whatever is asked
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="gradflow-bench-session-")) if own else folder
    if port is None:
        with socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
    exercises = next(c for c in catalog()["concepts"] if c["id"] == concept)["exercises"]
    server = Server(folder / "session.sqlite", port)
    tally, stop = Tally(), threading.Event()
    server.start()
    try:
        helpers = [threading.Thread(target=page_reader, args=(server, tally, stop), daemon=True),
                   threading.Thread(target=sampler, args=(server, tally, stop), daemon=True)]
        for thread in helpers:
            thread.start()
        began = time.monotonic()
        end = began + seconds
        room = [threading.Thread(target=learner, args=(n, server, tally, end, interval, exercises), daemon=True)
                for n in range(learners)]
        for thread in room:
            thread.start()
        restarted = None
        if restart:
            time.sleep(seconds / 2)
            with tally.lock:
                acked_before = len(tally.acked)
            down = time.monotonic()
            server.kill()  # SIGKILL: nothing gets to tidy up
            server.start()
            restarted = {"acked_before_kill": acked_before, "seconds_down": time.monotonic() - down}
        for thread in room:
            thread.join(seconds + 330)
        wall = time.monotonic() - began
        deadline = time.monotonic() + 60  # the page catches up with the last answers (at once, unless very busy)
        while time.monotonic() < deadline:
            with tally.lock:
                if tally.page == latest(server.db):
                    break
            time.sleep(0.1)
        stop.set()
        rows = stored(server.db)
        with tally.lock:
            keys = [row[0] for row in rows]
            # From the learner's check to the page: includes the retries of a post that timed out or hit
            # the restart. (The page hears of an event before its learner does: the answer comes after.)
            lags = [tally.seen[k] - tally.made[k] for k in tally.acked if k in tally.seen]
            result = {
                "learners": learners, "seconds": round(wall, 1), "sent": len(tally.sent),
                "acknowledged": len(tally.acked), "stored": len(rows), "stored_once": len(keys) == len(set(keys)),
                "lost": len(set(tally.acked) - set(keys)), "unsent_stored": len(set(keys) - set(tally.sent)),
                "events_per_s": round(len(tally.acked) / wall, 1),
                "p95_answer_ms": round(1000 * percentile(tally.answer_times, 0.95), 1),
                "p95_page_lag_ms": round(1000 * percentile(lags, 0.95), 1),
                "max_page_lag_ms": round(1000 * max(lags, default=float("nan")), 1),
                "seen_live": len(lags), "retries": tally.failures, "repeat_answers": tally.duplicates,
                "page_matches_store": tally.page == latest(server.db), "page_snapshots": tally.snapshots,
                "rss_mb": list(tally.rss), "restart": restarted,
                "same_events": all(tally.sent[k]["exercise"] == e and tally.sent[k]["passed"] == bool(p)
                                   and tally.sent[k]["code"] == c and tally.sent[k]["name"] == n
                                   for k, n, e, p, c in rows if k in tally.sent),
            }
    finally:
        stop.set()
        server.stop()
        if own:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between one learner's checks (mean)")
    parser.add_argument("--no-restart", action="store_true")
    args = parser.parse_args()
    result = run(args.learners, args.seconds, args.interval, restart=not args.no_restart)
    rss = result.pop("rss_mb")
    for name, value in result.items():
        print(f"{name:>20}: {value}")
    for n, pid in enumerate(dict.fromkeys(p for p, _ in rss)):  # each server process, in order
        mb = [m for p, m in rss if p == pid]
        print(f"{'server RSS MB':>20}: process {n + 1}: {mb[0]:.1f} at its first sample, max {max(mb):.1f},"
              f" {mb[-1]:.1f} at its last ({len(mb)} samples, one a second)")
    good = result["lost"] == 0 and result["stored_once"] and result["unsent_stored"] == 0 \
        and result["page_matches_store"] and result["acknowledged"] == result["sent"] and result["same_events"]
    print("every acknowledged event stored exactly once; the page equals the store" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
