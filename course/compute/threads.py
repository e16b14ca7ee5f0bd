"""One BLAS thread for the course's small matrices.

The lessons multiply matrices of at most a few thousand rows by a hundred
columns. For products that small, a multi-threaded BLAS spends more time
waking and synchronising its threads than multiplying, and on a busy
machine much more: training the lesson's digits network took 2.5 s with
the default threads and 0.7 s with one (measured on 2 cores under load).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn, pinned beside it

    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Inside the block, numpy's BLAS uses a single thread; the previous setting comes back after it."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
