"""Check verdicts as events, for whoever listens (the live session's client, course.session).

``check()`` publishes one small ``CheckEvent`` after every local check: which
exercise, passed or not, the hint's code, when. Never the learner's code, their
answer or the hint's message. The assess layer knows nothing of who listens: a
layer above subscribes (the way IPython's event callbacks work), so this module
imports nothing of the course. Under grading the check goes to the judge and
nothing is published.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class CheckEvent:
    exercise: str
    passed: bool
    code: str  # "ok", or a mistake category of course.assess.hints
    time: float  # seconds since the epoch, when the verdict was made

    @classmethod
    def of(cls, verdict) -> "CheckEvent":
        return cls(str(verdict.exercise), bool(verdict.passed), "ok" if verdict.passed else str(verdict.code),
                   time.time())


_listeners: list[Callable[[CheckEvent], None]] = []


def subscribe(listener: Callable[[CheckEvent], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Callable[[CheckEvent], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def publish(event: CheckEvent) -> None:
    """Hand ``event`` to every listener; a listener that fails never changes the check's verdict."""
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - the verdict is the product; a listener's bug is not the learner's
            pass
