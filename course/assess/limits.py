"""A time limit for learner code, so an endless loop ends with a clear message."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class TimeLimitExceeded(BaseException):
    """Raised inside learner code when its time is up.

    A BaseException, not an Exception, so that a learner's ``except
    Exception:`` cannot swallow it and loop on.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds


@contextmanager
def time_limit(seconds: float | None):
    """Interrupt the block after ``seconds`` of wall time (main thread, POSIX).

    Uses SIGALRM, which interrupts pure-Python loops (the endless loops a
    learner writes). Where no alarm signal exists (Windows, or a thread other
    than the main one) the block runs without a limit.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
