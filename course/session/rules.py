"""What the session server accepts: the form of a learner's message, and how often.

A message that breaks a rule gets a ``Rejected`` with the HTTP status and a
sentence saying what is wrong; nothing of it is stored, and nobody else is
affected. The fields are exactly the ones the client sends: a message with
anything more (code, an answer, a file) is refused, not trimmed.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata

MAX_BODY = 1024  # bytes; an event is about 150
MAX_NAME = 40  # characters
MAX_LEARNERS = 1000
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
EVENT_FIELDS = {"key", "name", "exercise", "passed", "code", "time"}
NAME_FIELDS = {"name"}
# A learner's checks: a burst of BURST (Run All Cells of a long notebook), then RATE per second.
BURST = 40
RATE = 2.0


class Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse(body: bytes, fields: set[str]) -> dict:
    import json

    if len(body) > MAX_BODY:
        raise Rejected(413, f"the message is {len(body)} bytes; at most {MAX_BODY} are accepted")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "the message is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected(400, "the message must be a JSON object")
    if set(data) != fields:
        extra, missing = sorted(set(data) - fields), sorted(fields - set(data))
        raise Rejected(400, "the message must have exactly the fields " + ", ".join(sorted(fields))
                       + (f"; unknown: {', '.join(extra)}" if extra else "")
                       + (f"; missing: {', '.join(missing)}" if missing else ""))
    return data


def name(value) -> str:
    """A learner's name as shown: whitespace collapsed; 1-40 characters, none of them a control character."""
    if not isinstance(value, str):
        raise Rejected(400, "the name must be a string")
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > MAX_NAME:
        raise Rejected(400, f"the name must have 1 to {MAX_NAME} characters")
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise Rejected(400, "the name must not contain control characters")
    return cleaned


def event(data: dict, exercises: frozenset[str], codes: frozenset[str]) -> dict:
    """A valid check event, or ``Rejected``."""
    if not isinstance(data["key"], str) or not KEY.fullmatch(data["key"]):
        raise Rejected(400, "key must be 16 to 64 letters, digits, - or _")
    if not isinstance(data["exercise"], str) or data["exercise"] not in exercises:
        raise Rejected(422, f"no exercise {str(data['exercise'])[:40]!r} in this course")
    if not isinstance(data["passed"], bool):
        raise Rejected(400, "passed must be true or false")
    if not isinstance(data["code"], str) or data["code"] not in codes:
        raise Rejected(422, f"no hint code {str(data['code'])[:40]!r} in this course")
    if data["passed"] != (data["code"] == "ok"):
        raise Rejected(400, 'code is "ok" exactly when passed is true')
    stamp = data["time"]
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp) or stamp < 0:
        raise Rejected(400, "time must be a number of seconds since 1970")
    return {"key": data["key"], "name": name(data["name"]), "exercise": data["exercise"], "passed": data["passed"],
            "code": data["code"], "time": float(stamp)}


class RateLimit:
    """A token bucket per learner: ``burst`` checks at once, then ``rate`` per second."""

    def __init__(self, burst: float = BURST, rate: float = RATE, clock=time.monotonic) -> None:
        self.burst, self.rate, self.clock = burst, rate, clock
        self.buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, when); at most MAX_LEARNERS names

    def take(self, who: str) -> None:
        now = self.clock()
        tokens, then = self.buckets.get(who, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            wait = (1 - tokens) / self.rate
            raise Rejected(429, f"too many checks from {who!r}: wait {math.ceil(wait)} s")
        self.buckets[who] = (tokens - 1, now)
