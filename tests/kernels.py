"""Kernels for the test suite: no more at once than the machine has cores, and
a kernel slow to start is waited for, then started again.

A busy machine is not a failing notebook. Under a load of 4-9 on two cores a
kernel has taken more than 60 s to answer its first request; the suite then
waits longer (``START_TIMEOUT``) and, if the kernel still did not answer,
starts a new one (``START_ATTEMPTS`` in all). Only what a notebook's own
cells do can fail a test.

Every test that runs kernels holds *slots* while they run: one per core,
shared by all pytest-xdist workers of a run (file locks, so a worker that
dies frees its slots). ``kernel_slots(n)`` is for a test that runs ``n``
processes executing notebook code at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from queue import Empty

START_TIMEOUT = 120  # seconds for one start; 60 s (jupyter's default) was seen to run out under load
START_ATTEMPTS = 3
RETRY_PAUSE = 5.0  # seconds before the second start, doubled before the third


def cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _slot_folder() -> Path:
    # Every worker of one pytest-xdist run shares the run's id; a run without xdist is alone.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"solo-{os.getpid()}"
    folder = Path(tempfile.gettempdir()) / f"gradflow-kernel-slots-{run}"
    folder.mkdir(exist_ok=True)
    return folder


def _lock(path: Path, blocking: bool):
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextmanager
def kernel_slots(count: int = 1):
    """Hold ``count`` kernel slots (at most one per core) while the block runs.

    Callers queue at a gate, so one that needs several slots is not overtaken
    forever by callers that need one.
    """
    count = max(1, min(count, cores()))
    folder = _slot_folder()
    held = []
    gate = _lock(folder / "gate", blocking=True)
    try:
        while len(held) < count:
            for number in range(cores()):
                handle = _lock(folder / f"slot-{number}", blocking=False) if len(held) < count else None
                if handle:
                    held.append(handle)
            if len(held) < count:
                time.sleep(0.05)
    finally:
        gate.close()
    try:
        yield
    finally:
        for handle in held:
            handle.close()


def patiently(start, stop, what: str):
    """``start()`` again when it fails the way a busy machine makes it fail.

    ``stop(error)`` cleans up after a failed attempt. The last failure is
    raised with the number of attempts, so a report shows it was the machine.
    """
    pause = RETRY_PAUSE
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return start()
        except (RuntimeError, TimeoutError, Empty) as error:
            stop(error)
            if attempt == START_ATTEMPTS:
                raise RuntimeError(f"{what}: the kernel did not start in {START_ATTEMPTS} attempts of "
                                   f"{START_TIMEOUT} s each (the machine is overloaded): {error}") from error
            time.sleep(pause)
            pause *= 2
    raise AssertionError("unreachable")


def start_nbval_kernel(kernel_name: str, cwd: str, env: dict[str, str] | None = None):
    """An nbval ``RunningKernel`` (run from folder ``cwd``), started patiently."""
    from jupyter_client.manager import KernelManager
    from nbval.kernel import NbvalKernelspecManager, RunningKernel

    box = {}

    def start():
        kernel = RunningKernel.__new__(RunningKernel)  # its __init__ starts with no retry and no cleanup
        kernel.km = box["km"] = KernelManager(kernel_name=kernel_name, kernel_spec_manager=NbvalKernelspecManager())
        kernel.km.start_kernel(stderr=subprocess.DEVNULL, cwd=cwd, env=env or dict(os.environ))
        kernel.kc = box["kc"] = kernel.km.client()
        kernel.kc.start_channels()
        kernel.kc.wait_for_ready(timeout=START_TIMEOUT)
        kernel._ensure_iopub_up()  # nbval's own check that outputs will arrive
        return kernel

    def stop(error):
        if "kc" in box:
            box.pop("kc").stop_channels()
        km = box.pop("km", None)
        if km is not None and km.has_kernel:
            km.shutdown_kernel(now=True)

    return patiently(start, stop, f"kernel for {cwd}")


def execute(nb, cwd: Path, **options):
    """Run ``nb`` with nbclient from folder ``cwd`` and return it; the kernel is started patiently."""
    from nbclient import NotebookClient

    box = {}

    def start():
        client = box["client"] = NotebookClient(nb, kernel_name="python3", startup_timeout=START_TIMEOUT,
                                                resources={"metadata": {"path": str(cwd)}}, **options)
        client.km = client.create_kernel_manager()
        client.start_new_kernel(cwd=str(cwd))
        client.start_new_kernel_client()  # cleans up after itself when the kernel does not answer
        return client

    def stop(error):
        client = box.pop("client", None)
        if client is not None and client.km is not None and client.km.has_kernel:
            client.km.shutdown_kernel(now=True)

    with kernel_slots(1):
        client = patiently(start, stop, f"kernel for {nb.metadata.get('name', 'a notebook')}")
        return client.execute()  # the kernel is already up: execute() only runs the cells
