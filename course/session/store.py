"""A session's events in one SQLite file: each event stored once, each answer given after its commit.

The file is the session: its join code and instructor key, the learners and
every check event. Starting the server again on the same file continues the
session (same code, same key, nothing lost). WAL with ``synchronous=FULL``:
a commit is on disk when it returns, and the server answers 2xx only after it,
so an acknowledged event survives a crash or a restart. An event carries a key
made by the learner's client; a retry of the same event (its answer lost on
the way) finds the key and is not stored twice.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS learners (name TEXT PRIMARY KEY, joined REAL NOT NULL, left REAL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    learner TEXT NOT NULL,
    exercise TEXT NOT NULL,
    passed INTEGER NOT NULL,
    code TEXT NOT NULL,
    sent REAL NOT NULL,
    received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_learner ON events (learner, exercise, seq);
"""
# No 0/O, 1/I/L: the code is read off a projector and typed.
_CODE_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_join_code() -> str:
    chars = "".join(secrets.choice(_CODE_LETTERS) for _ in range(8))  # 31^8: about 2^40
    return f"{chars[:4]}-{chars[4:]}"


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self.join_code = self._meta("join_code", new_join_code)
        self.instructor_key = self._meta("instructor_key", lambda: secrets.token_urlsafe(24))

    def _meta(self, key: str, make) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row:
            return row[0]
        value = make()
        with self._transaction():
            self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
        return value

    def _transaction(self):
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def learner_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM learners").fetchone()[0]

    def knows(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM learners WHERE name = ?", (name,)).fetchone() is not None

    def join(self, name: str) -> dict:
        """Register ``name`` (again: a learner who left and comes back). Committed when it returns."""
        now = time.time()
        with self._transaction():
            self.db.execute("INSERT INTO learners VALUES (?, ?, NULL) ON CONFLICT(name) DO UPDATE SET left = NULL",
                            (name, now))
        return self.learner(name)

    def leave(self, name: str) -> dict:
        with self._transaction():
            self.db.execute("UPDATE learners SET left = ? WHERE name = ?", (time.time(), name))
        return self.learner(name)

    def learner(self, name: str) -> dict:
        joined, left = self.db.execute("SELECT joined, left FROM learners WHERE name = ?", (name,)).fetchone()
        return {"name": name, "joined": joined, "left": left}

    def add(self, event: dict) -> tuple[bool, dict]:
        """Store a validated event once: (True, row) when new, (False, the stored row) for a repeated key.

        A learner not seen before (a join that was lost) is registered with the event.
        """
        with self._transaction():
            found = self.db.execute("SELECT * FROM events WHERE key = ?", (event["key"],)).fetchone()
            if found:
                return False, _row(found)
            now = time.time()
            self.db.execute("INSERT INTO learners VALUES (?, ?, NULL) ON CONFLICT(name) DO NOTHING",
                            (event["name"], now))
            cursor = self.db.execute(
                "INSERT INTO events (key, learner, exercise, passed, code, sent, received) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event["key"], event["name"], event["exercise"], int(event["passed"]), event["code"], event["time"], now))
            row = self.db.execute("SELECT * FROM events WHERE seq = ?", (cursor.lastrowid,)).fetchone()
        return True, _row(row)

    def event_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def keys(self) -> list[str]:
        return [k for (k,) in self.db.execute("SELECT key FROM events ORDER BY seq")]

    def snapshot(self) -> dict:
        """The class now: every learner, and each learner's latest verdict per exercise (with the number of tries)."""
        learners = [{"name": n, "joined": j, "left": l}
                    for n, j, l in self.db.execute("SELECT name, joined, left FROM learners ORDER BY joined, name")]
        # SQLite takes a bare column's value from the row where MAX(seq) is found: the latest event.
        latest = [{"learner": learner, "exercise": exercise, "passed": bool(passed), "code": code, "seq": seq,
                   "tries": tries}
                  for learner, exercise, passed, code, seq, tries in self.db.execute(
                      "SELECT learner, exercise, passed, code, MAX(seq), COUNT(*) FROM events"
                      " GROUP BY learner, exercise")]
        last = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        return {"learners": learners, "latest": latest, "seq": last}


def _row(row) -> dict:
    seq, key, learner, exercise, passed, code, sent, received = row
    return {"seq": seq, "key": key, "learner": learner, "exercise": exercise, "passed": bool(passed), "code": code,
            "sent": sent, "received": received}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (the commit is on disk: synchronous=FULL), ROLLBACK on an error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
