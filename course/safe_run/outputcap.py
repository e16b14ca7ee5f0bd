"""Cap what a graded notebook prints, so a learner's endless print cannot fill the grader's memory.

The grader puts ``install(limit)`` in the first cell of every graded
notebook. A notebook that replaces ``sys.stdout`` again, or writes to the
process's file descriptors directly, gets around it (see docs/grading.md).
"""

from __future__ import annotations

import sys

NOTICE = "\n[the grader dropped the rest of this output]\n"


class CappedStream:
    def __init__(self, stream, limit: int) -> None:
        self._stream = stream
        self._left = limit
        self._noticed = False

    def write(self, text: str) -> int:
        if self._left > 0:
            part = text[: self._left]
            self._left -= len(part)
            self._stream.write(part)
        elif not self._noticed:
            self._noticed = True
            self._stream.write(NOTICE)
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def install(limit: int) -> None:
    if not isinstance(sys.stdout, CappedStream):
        sys.stdout = CappedStream(sys.stdout, limit)
    if not isinstance(sys.stderr, CappedStream):
        sys.stderr = CappedStream(sys.stderr, limit)
