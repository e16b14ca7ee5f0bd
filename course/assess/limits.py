"""A time limit for learner code, so an endless loop ends with a clear message."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

# The limit counts the CPU time the learner's code uses, not the clock: on a
# busy machine (a shared CI runner, a class graded beside other jobs) a correct
# answer can wait many seconds for a core, and a clock-based limit would call
# it "too slow". An endless loop uses CPU all the time, so it is stopped just
# as fast. Code that waits without computing (sleep, input()) is stopped by a
# clock backstop this many times the limit, plus a margin.
WALL_FACTOR = 5.0
WALL_MARGIN = 10.0


class TimeLimitExceeded(BaseException):
    """Raised inside learner code when its time is up.

    A BaseException, not an Exception, so that a learner's ``except
    Exception:`` cannot swallow it and loop on.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds


def wall_backstop(seconds: float) -> float:
    """Clock seconds after which a block limited to ``seconds`` of CPU time is stopped anyway."""
    return WALL_FACTOR * seconds + WALL_MARGIN


@contextmanager
def time_limit(seconds: float | None):
    """Interrupt the block after ``seconds`` of CPU time (main thread, POSIX).

    Uses SIGPROF (CPU time of the process) and SIGALRM (the clock backstop,
    ``wall_backstop(seconds)``); both interrupt pure-Python loops, the endless
    loops a learner writes. Where no such signal exists (Windows, or a thread
    other than the main one) the block runs without a limit.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and hasattr(signal, "SIGPROF")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_limit(signum, frame):
        raise TimeLimitExceeded(seconds)

    previous = {sig: signal.signal(sig, on_limit) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_backstop(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
