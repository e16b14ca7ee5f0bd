"""What the benchmarks print beside each time: the load average, and CPU seconds of a process tree.

On a shared machine a wall time depends on the other jobs; the CPU seconds a
run used hardly do, so the benchmarks print both, and compare runs made side
by side.
"""

from __future__ import annotations

import os
from pathlib import Path


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


class CpuMeter:
    """CPU seconds used by this process and everything it starts (kernels in their sandboxes included).

    A cgroup of its own in the cpuacct hierarchy (cgroup v1, where this process may make one): on a
    shared machine, wall time depends on the other jobs, CPU seconds hardly do. Elsewhere: None.
    """

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self) -> None:
        self.group = None
        try:
            group = self.ROOT / f"gradflow-bench-{os.getpid()}"
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
            self.group = group
        except OSError:
            pass

    def seconds(self) -> float | None:
        return int((self.group / "cpuacct.usage").read_text()) / 1e9 if self.group else None

    def close(self) -> None:
        if self.group:
            try:
                (self.ROOT / "cgroup.procs").write_text(str(os.getpid()))
                self.group.rmdir()
            except OSError:
                pass


def cpu_text(seconds: float | None) -> str:
    return f"{seconds:7.1f} s CPU" if seconds is not None else "CPU not measured"
