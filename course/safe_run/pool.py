"""Warm sandboxes, one per learner: where the grader's kernels come from (``course.safe_run.forkserver``).

Starting a fresh kernel per notebook costs a CPU second of imports; a
learner's notebooks run one after the other in one sandbox whose fork server
imported them once. This module is the grader's side of that arrangement:

- ``ForkServers`` lives in the grader's process. Its thread answers the
  kernel launchers (``course.safe_run.launcher``, started by nbval): "the
  notebook whose run folder is R" -> the socket of the fork server of R's
  group (a learner, or a part of one), started on first use. A launcher
  keeps its connection open while its kernel runs, so the pool knows which
  servers are busy; it stops idle ones beyond ``keep``, and a second request
  for the same notebook (a kernel-start retry) gets a fresh server, in case
  the old one stalled.
- ``course.safe_run.launcher`` is the other side, in the launcher: it asks the
  pool, then the fork server, and waits for the kernel's end. If no server
  could start a kernel, the kernel starts on its own, in a sandbox of its own
  (slower, same verdict).

Every path here is in the grader's working folder, which no sandbox sees;
each server gets its listening socket as an inherited file descriptor.
"""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MESSAGE_LIMIT = 64 * 1024


@dataclass
class _Server:
    process: subprocess.Popen
    socket_path: Path
    busy: int = 0
    used: float = field(default_factory=time.monotonic)


class ForkServers:
    """The fork servers of one grading run, keyed by group (a learner, or a part of a learner's notebooks)."""

    def __init__(self, folder: Path, groups: dict[Path, str], environment: dict[str, str], keep: int) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.group_of = {str(run.resolve()): group for run, group in groups.items()}
        self.runs_of: dict[str, list[str]] = {}
        for run, group in self.group_of.items():
            self.runs_of.setdefault(group, []).append(run)
        self.environment, self.keep = environment, keep
        self.servers: dict[str, _Server] = {}
        self.asked: set[str] = set()
        self.started = 0
        self.address = folder / "pool.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.address))
        self.listener.listen(64)
        self._wake_read, self._wake_write = socket.socketpair()
        # One long-lived thread starts every server: bwrap's --die-with-parent follows the thread that
        # started it, so a server must not outlive a short-lived one.
        self.thread = threading.Thread(target=self._serve, name="gradflow-fork-servers", daemon=True)
        self.thread.start()

    # ----- the pool's thread -------------------------------------------------------------

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, "accept")
        selector.register(self._wake_read, selectors.EVENT_READ, "stop")
        waiting: dict[socket.socket, bytes] = {}
        holding: dict[socket.socket, str] = {}
        while True:
            for key, _ in selector.select():
                if key.data == "stop":
                    return
                if key.data == "accept":
                    conn, _ = self.listener.accept()
                    waiting[conn] = b""
                    selector.register(conn, selectors.EVENT_READ, "conn")
                    continue
                conn = key.fileobj
                chunk = conn.recv(4096)
                if conn in holding:  # a launcher hung up: its kernel has ended
                    if not chunk:
                        self._release(holding.pop(conn))
                        selector.unregister(conn)
                        conn.close()
                    continue
                waiting[conn] += chunk
                if chunk and b"\n" not in waiting[conn] and len(waiting[conn]) < MESSAGE_LIMIT:
                    continue
                request = waiting.pop(conn)
                try:
                    answer, group = self._answer(request)
                except Exception as exc:  # this thread must keep answering: the launcher starts a kernel alone
                    answer, group = {"none": f"{type(exc).__name__}: {exc}"}, None
                try:
                    conn.sendall(json.dumps(answer).encode() + b"\n")
                except OSError:
                    group = None
                if group is None:
                    selector.unregister(conn)
                    conn.close()
                else:
                    holding[conn] = group

    def _answer(self, request: bytes) -> tuple[dict, str | None]:
        try:
            run = str(json.loads(request.partition(b"\n")[0])["run"])
        except (ValueError, KeyError, TypeError):
            return {"none": "not a request"}, None
        group = self.group_of.get(run)
        if group is None:
            return {"none": f"no fork server for {run}"}, None
        server = self.servers.get(group)
        retry = run in self.asked
        self.asked.add(run)
        if server is None or server.process.poll() is not None or (retry and server.busy == 0):
            if server is not None:
                self._stop(group)
            try:
                server = self._start(group)
            except OSError as exc:
                return {"none": f"the fork server did not start: {exc}"}, None
        server.busy += 1
        server.used = time.monotonic()
        self._trim()
        return {"socket": str(server.socket_path)}, group

    def _start(self, group: str) -> _Server:
        self.started += 1
        path = self.folder / f"server{self.started}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            listener.listen(8)
            runs = self.runs_of[group]
            with open(self.folder / f"server{self.started}.log", "wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "course.safe_run.sandbox", "forkserver", str(listener.fileno()), *runs],
                    env=self.environment, pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            listener.close()  # the server holds it now: when the server ends, connecting is refused
        server = _Server(process, path)
        self.servers[group] = server
        return server

    def _release(self, group: str) -> None:
        server = self.servers.get(group)
        if server is not None:
            server.busy = max(0, server.busy - 1)
            server.used = time.monotonic()
            self._trim()

    def _trim(self) -> None:
        """Stop the least recently used idle servers beyond ``keep`` (a class may have hundreds of learners)."""
        idle = sorted((s.used, g) for g, s in self.servers.items() if s.busy == 0)
        for _, group in idle[:max(0, len(self.servers) - self.keep)]:
            self._stop(group)

    def _stop(self, group: str) -> None:
        server = self.servers.pop(group)
        if server.process.poll() is None:
            server.process.kill()  # bwrap: the sandbox dies with it (--die-with-parent)
        server.process.wait()
        try:
            server.socket_path.unlink()
        except OSError:
            pass

    def close(self) -> None:
        self._wake_write.send(b"x")
        self.thread.join()
        for group in list(self.servers):
            self._stop(group)
        self.listener.close()
        self._wake_read.close()
        self._wake_write.close()
