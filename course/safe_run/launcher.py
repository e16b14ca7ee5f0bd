"""A notebook's kernel launcher, as nbval starts it: the kernel comes from the learner's warm sandbox.

nbval starts one launcher per notebook (the kernel spec's command, written by
``course.safe_run.sandbox.kernel_spec``), so the launcher's own start-up is a
cost per notebook. This one is run as a script on the standard library alone
(``python -I -S launcher.py CONNECTION_FILE``): half the CPU of a Python that
imports the course package (0.05 s against 0.1 s here).

With a pool of fork servers (``course.safe_run.pool``), it asks the pool for
the learner's server, asks that server for the kernel, and waits for the
kernel's end: it keeps its connection to the pool open while the kernel
runs, so the pool knows which servers are busy. Its exit status is the
kernel's. Without a pool, or when no server could start the kernel, it
becomes the full launcher (``python -m course.safe_run.sandbox kernel``),
which starts the kernel in a sandbox of its own (slower, same verdict).

Nothing here imports the course package: it must stay runnable with
``-I -S`` (no site packages, no environment variables of Python's).
"""

from __future__ import annotations

import json
import os
import socket
import sys

CONFIG_VARIABLE = "GRADFLOW_SANDBOX_CONFIG"  # the same name as course.safe_run.sandbox's (a test checks)
MESSAGE_LIMIT = 64 * 1024


def _receive(sock: socket.socket, buffer: bytearray) -> dict:
    while b"\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk or len(buffer) > MESSAGE_LIMIT:
            raise ConnectionError("the connection closed")
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message


def forked_kernel(pool: str, connection_file: str) -> int | None:
    """Have the learner's fork server run this kernel; its exit status, or None if no server could."""
    run = os.path.dirname(os.path.realpath(connection_file))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as asking:  # held open while the kernel runs
        try:
            asking.connect(pool)
            asking.sendall(json.dumps({"run": run}).encode() + b"\n")
            answer = _receive(asking, bytearray())
            if "socket" not in answer:
                return None
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(answer["socket"])
        except (OSError, ValueError):
            return None
        with server:
            buffer = bytearray()
            try:
                server.sendall(json.dumps({"connection_file": connection_file}).encode() + b"\n")
                started = _receive(server, buffer)
            except (OSError, ValueError):
                # The server ended before it forked (or as it did: its sandbox took the child with it).
                return None
            if "started" not in started:
                return None
            try:
                return int(_receive(server, buffer)["exit"])
            except (OSError, ValueError, KeyError, TypeError):
                return 1  # the server went away, and the kernel's sandbox with it


def main(connection_file: str) -> None:
    with open(os.environ[CONFIG_VARIABLE], encoding="utf-8") as f:
        config = json.load(f)
    if config.get("sandbox") and config.get("pool"):
        code = forked_kernel(str(config["pool"]), connection_file)
        if code is not None:
            sys.exit(code)
    # The full launcher, in this process's place: the course package, the limits, a sandbox of its own.
    os.execv(sys.executable, [sys.executable, "-m", "course.safe_run.sandbox", "kernel", connection_file])


if __name__ == "__main__":
    main(sys.argv[1])
