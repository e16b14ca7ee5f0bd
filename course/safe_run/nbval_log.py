"""A pytest plugin for the grader's nbval session (``-p course.safe_run.nbval_log``).

- One JSON line per notebook cell nbval ran, in the file named by
  GRADFLOW_NBVAL_LOG (removed from the environment at once, so the kernels
  are not told where it is): its result, and the seconds its setup (for a
  notebook's first cell: the kernel's start) and its run took.
- Kernels talk to nbval over unix sockets (the IPC transport) in the
  notebook's run folder, the one folder its sandbox shares with the grader:
  TCP does not cross the sandbox's network namespace.
- Under xdist, a worker takes a whole group of notebooks (GRADFLOW_GROUPS,
  a JSON file: notebook -> group) and runs them one after the other: they
  share one warm sandbox (``course.safe_run.pool``).
- A kernel that does not start (a busy machine can take more than a minute)
  is started again, with a growing pause; if it never starts, the notebook's
  cells fail with a message that marks it as the grader's failure
  (``INFRASTRUCTURE``), never the learner's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from pprint import pformat
from queue import Empty

import pytest

from course.safe_run.startup import skip_slow_optional_imports

skip_slow_optional_imports()  # loaded before nbval (``-p`` plugins come first), so before nbformat

from jupyter_client.manager import KernelManager
from nbval import kernel as nbval_kernel

_LOG = os.environ.pop("GRADFLOW_NBVAL_LOG", None)
# Read, not removed: xdist's workers start kernels and need them (no kernel inherits them).
_ATTEMPTS = int(os.environ.get("GRADFLOW_KERNEL_ATTEMPTS", "4"))
_BACKOFF = float(os.environ.get("GRADFLOW_KERNEL_BACKOFF", "5"))
# For the grader's own tests: the first N kernel starts of each nbval process fail.
_FAIL_STARTS = [int(os.environ.get("GRADFLOW_FAIL_KERNEL_STARTS", "0"))]
MESSAGE_CHARS = 2000
INFRASTRUCTURE = "GRADFLOW-INFRASTRUCTURE:"


def _wait_for_ready(km, kc, timeout: float) -> None:
    """Until the kernel answers on its shell channel and its IOPub messages arrive.

    jupyter_client's ``wait_for_ready`` does this, then waits for 0.2 s of silence on IOPub: a fixed
    pause per notebook with the cores idle. The messages left there are the kernel's answers to these
    requests; nbval reads only those of its own requests.
    """
    deadline = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            if kc.get_shell_msg(timeout=1)["msg_type"] == "kernel_info_reply":
                kc.get_iopub_msg(timeout=0.2)  # the request's status: IOPub is connected
                return
        except Empty:
            pass
        if not km.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


def _start(self, kernel_name, cwd=None, startup_timeout=60):
    run = Path(cwd) / "run"
    problem = None
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(_BACKOFF * 2 ** (attempt - 1))
        km = KernelManager(kernel_name=kernel_name, kernel_spec_manager=nbval_kernel.NbvalKernelspecManager(),
                           transport="ipc", ip=str(run / f"k{attempt}"),
                           connection_file=str(run / f"kernel{attempt}.json"))
        kc = None
        try:
            if _FAIL_STARTS[0] > 0:
                _FAIL_STARTS[0] -= 1
                raise RuntimeError("kernel start failure injected for a test")
            km.start_kernel(cwd=cwd, stderr=open(os.devnull, "w"))
            kc = km.client()
            kc.start_channels()
            _wait_for_ready(km, kc, startup_timeout)
            self.km, self.kc = km, kc
            self._ensure_iopub_up()
            return
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if kc is not None:
                kc.stop_channels()
            try:
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
            except Exception:
                pass
    raise RuntimeError(f"{INFRASTRUCTURE} the notebook's kernel did not start ({_ATTEMPTS} attempts): {problem}")


nbval_kernel.RunningKernel.__init__ = _start


class _FormattedWhenLogged:
    """nbval pretty-prints every kernel message for a debug log line, whether that log is on or not:
    a twelfth of a worker's CPU. Formatted here only if the line is written."""

    __slots__ = ("message",)

    def __init__(self, message) -> None:
        self.message = message

    def __str__(self) -> str:
        return pformat(self.message)


nbval_kernel.pformat = _FormattedWhenLogged


_SETUP_SECONDS: dict[str, float] = {}
_GROUPS = os.environ.get("GRADFLOW_GROUPS")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scheduler by scope, with a notebook's group as its scope: one worker runs a group, in order.

    (xdist's own ``loadgroup`` reads marks into test ids that pytest 9 no longer uses.)
    """
    if not _GROUPS:
        return None
    from xdist.scheduler.loadscope import LoadScopeScheduling

    groups = json.loads(Path(_GROUPS).read_text())

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.partition("::")[0]
            return groups.get(path, path)

    return ByGroup(config, log)


def pytest_runtest_logreport(report):
    # Under xdist the controller sees every worker's reports; workers do not write.
    if not _LOG or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if report.when == "setup" and report.passed:
        # A notebook's first cell sets up its kernel: where the time of a kernel start shows (benchmarks).
        _SETUP_SECONDS[report.nodeid] = report.duration
    if report.when == "call" or (report.failed and report.when == "setup"):
        line = {"nodeid": report.nodeid, "passed": report.outcome == "passed",
                "message": report.longreprtext[-MESSAGE_CHARS:] if not report.passed else "",
                "setup": round(_SETUP_SECONDS.pop(report.nodeid, 0.0), 4),
                "call": round(report.duration, 4) if report.when == "call" else 0.0,
                "end": report.stop}
        with open(_LOG, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
