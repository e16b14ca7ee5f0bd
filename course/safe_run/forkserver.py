"""Inside one learner's sandbox: start each of their notebooks' kernels by forking a warm process.

A kernel costs about a CPU second to start, most of it Python importing
IPython, numpy and the course; a learner's notebooks all need the same
modules. So the grader starts one sandbox per learner (``course.safe_run.pool``)
whose first process, this fork server, imports them once and then, for each
notebook, forks a child that becomes that notebook's IPython kernel.

One kernel at a time, and nothing of one notebook reaches the next:

- the server is the sandbox's first process, PID 1 of its PID namespace
  (``bwrap --as-pid-1``): the kernel's parent, which a notebook cannot kill
  or stop (signals from inside the namespace do not reach its init unless it
  handles them), nor read or write (it is not dumpable);
- when a kernel ends (or the grader's launcher hangs up), every other process
  in the namespace is killed (``kill(-1)``), so a daemon started by a
  notebook does not outlive it; orphans come to PID 1, and the server reaps them;
- the sandbox's private ``/tmp`` is put back as it was after the imports
  (files added or changed by the notebook are deleted).
If the server itself fails, its sandbox ends with everything in it, and the
grader starts a fresh one for the learner's next notebook (``pool``).

Protocol (JSON lines on the listening socket the grader hands over as a file
descriptor; the socket's path is outside the sandbox): the launcher sends
``{"connection_file": PATH}``; the server answers ``{"started": PID}`` and,
when the kernel exits, ``{"exit": CODE}``.

It refuses to run anywhere but as the init of a PID namespace (inside
bubblewrap): ``kill(-1)`` anywhere else would kill every process of the user.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import stat
import sys
import time
from pathlib import Path

PR_SET_DUMPABLE = 4
# What every exercise notebook imports (their first code cells), imported once per learner. Not
# matplotlib's pyplot: one notebook uses it, and its import (font cache included) costs more than a
# whole kernel start, which a learner who hands in one notebook would pay for nothing.
# ipykernel.debugger (debugpy) is imported when the app makes its kernel, not with the app:
# 0.1 to 0.3 CPU s per kernel when left to each.
# And what IPython imports as it makes each kernel (its debugger, inspector, history database), numpy's
# random module (a case's generator is unpickled into it) and the compute modules the notebooks and the
# exercises' adapters use: about 0.05 CPU s per kernel when left to each.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.debugger", "numpy", "course.assess.check", "course.safe_run.client",
           "course.compute.graph", "course.compute.gradcheck", "course.compute.data", "course.compute.network",
           "course.compute.layers", "course.compute.local_graph", "course.present.figures",
           "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.logger", "IPython.core.oinspect",
           "IPython.extensions.storemagic", "sqlite3", "tornado.platform.asyncio", "numpy.random",
           "course.assess.cases", "course.compute.order_check", "course.compute.staged", "course.compute.batchnorm",
           "course.compute.network_runs", "course.compute.dropout_variants")
MESSAGE_LIMIT = 64 * 1024
SWEEP_SECONDS = 10.0
REAP_SECONDS = 1.0  # how often orphans are reaped while a kernel runs


def _in_pid_namespace() -> bool:
    return os.getpid() == 1


def _set_dumpable(value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, value, 0, 0, 0)


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # the notebook that needs it will say so itself
            pass


def _walk(root: Path) -> list[tuple[str, list[str], list[str]]]:
    """os.walk over ``root``'s own file system, parents first: the run folders bound into it are not /tmp's.

    (A run folder is where nbval writes the next notebook's connection file, maybe while this server
    is still cleaning up after the last one.)
    """
    device = os.lstat(root).st_dev
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(folder, d)).st_dev == device]
        found.append((folder, dirs, files))
    return found


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its type, size and modification time."""
    found = {}
    for folder, dirs, files in _walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            found[path] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
    return found


def _writable(function, path, _exc) -> None:
    """rmtree's retry: a notebook may have taken the write permission off its own folders."""
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    function(path)


def restore(root: Path, kept: dict[str, tuple[int, int, int]]) -> None:
    """Delete what a notebook added under ``root`` or changed there (folders it kept are kept)."""
    for folder, dirs, files in reversed(_walk(root)):
        os.chmod(folder, 0o700)
        for name in files + dirs:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            was = kept.get(path)
            if stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode):
                if was is None or was[0] != stat.S_IFDIR:
                    shutil.rmtree(path, onerror=_writable)
            elif was is None or was != (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns):
                os.unlink(path)


def sweep() -> None:
    """Kill every process of the namespace but its init and this server; wait until they are gone."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap()
        if not _others():
            return
        if time.monotonic() > deadline:
            raise RuntimeError("processes of the last notebook did not end")
        time.sleep(0.01)


def reap(kernel: int = 0) -> int | None:
    """Reap every ended process (orphans are this init's); the kernel's exit status if it was among them."""
    status = None
    try:
        while True:
            pid, code = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            if pid == kernel:
                status = os.waitstatus_to_exitcode(code)
    except ChildProcessError:
        pass
    return status


def _others() -> list[int]:
    """Living processes of the namespace other than this server (init)."""
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                alive.append(int(entry))
    return alive


def _kernel(connection_file: str) -> None:
    """In the forked child: become the notebook's IPython kernel (what ``ipykernel_launcher`` does)."""
    os.setsid()
    _set_dumpable(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ["GRADFLOW_JUDGE"] = str(Path(connection_file).parent / "judge.sock")
    sys.argv = [sys.argv[0], "-f", connection_file]
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=["-f", connection_file])


def _fork_kernel(listener: socket.socket, conn: socket.socket, connection_file: str) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            listener.close()
            conn.close()
            _kernel(connection_file)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def serve_one(listener: socket.socket, conn: socket.socket, allowed: tuple[str, ...]) -> None:
    from course.safe_run.wire import Line

    line = Line(conn, "the grader's launcher", MESSAGE_LIMIT)
    request = line.receive()
    connection_file = str(request.get("connection_file", ""))
    if not connection_file.startswith(allowed) or ".." in connection_file:
        line.send({"refused": "not a connection file of this learner's notebooks"})
        return
    pid = _fork_kernel(listener, conn, connection_file)
    try:
        line.send({"started": pid})
        code = _wait(pid, conn)
        line.send({"exit": code})
    except OSError:  # the launcher went away: the kernel goes too (sweep)
        pass


def _wait(pid: int, conn: socket.socket) -> int:
    """The kernel's exit status; a launcher that hangs up first has its kernel killed.

    Orphans the notebook leaves are reaped meanwhile (each would hold a PID until then).
    """
    try:
        pidfd = os.pidfd_open(pid)  # wakes this server when the kernel ends
    except OSError:  # a Linux older than 5.3: the kernel's end is seen within REAP_SECONDS
        pidfd = None
    try:
        while True:
            ready, _, _ = select.select([conn] if pidfd is None else [pidfd, conn], [], [], REAP_SECONDS)
            status = reap(pid)
            if status is not None:
                return status
            if conn in ready and not conn.recv(4096):  # nothing is expected on it: the launcher hung up
                os.kill(pid, signal.SIGKILL)
                return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        if pidfd is not None:
            os.close(pidfd)


def main(fd: int, runs: list[str]) -> None:
    if not _in_pid_namespace():
        sys.exit("forkserver: runs only as the first process of a sandbox (a PID namespace of its own)")
    _set_dumpable(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as init, only handled signals arrive: handle none
    preload()
    tmp = Path("/tmp")
    kept = snapshot(tmp)
    allowed = tuple(run.rstrip("/") + "/" for run in runs)
    listener = socket.socket(fileno=fd)
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                serve_one(listener, conn, allowed)
            except (OSError, ValueError):  # a launcher that went away or sent nonsense: no kernel for it
                pass
        sweep()
        restore(tmp, kept)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
