"""A text progress bar on stderr, redrawn in place."""

from __future__ import annotations

import sys


class Bar:
    def __init__(self, total: int, label: str = "graded", stream=None, width: int = 30) -> None:
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream if stream is not None else sys.stderr
        self.shown = -1

    def update(self, done: int) -> None:
        done = min(done, self.total)
        if done == self.shown:
            return
        self.shown = done
        filled = round(self.width * done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} notebooks"
                          f" {self.label}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
