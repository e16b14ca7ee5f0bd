"""Faster kernels for nbval: fork them from a process that has already imported everything.

Starting an IPython kernel costs about 0.6 s of imports, paid again for
every notebook; nbval starts one kernel per notebook. The grader instead
starts one *zygote* (``serve``) that imports ipykernel, IPython, numpy and
the course once, and registers a kernel spec whose command is a tiny
launcher (``launch``): the launcher asks the zygote for a kernel, the
zygote forks a child that runs an ordinary IPython kernel on the
launcher's connection file, and the launcher stands in for it towards
jupyter_client (it forwards interrupts, and exits when the kernel does).
Each notebook still gets a fresh process of its own: what one learner's
code changes in its kernel is gone with it.

POSIX only; the grader falls back to ordinary kernels elsewhere.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

SOCKET_VARIABLE = "GRADFLOW_KERNEL_POOL"
KERNEL_NAME = "gradflow-pool"


def kernel_spec(folder: Path) -> Path:
    """Write the kernel spec under ``folder`` (a JUPYTER_PATH entry) and return ``folder``."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "course.grading.kernel_pool", "launch", "-f", "{connection_file}"],
        "display_name": "Python 3 (gradflow grading)", "language": "python", "interrupt_mode": "signal",
    }))
    return folder


# ----- the zygote ------------------------------------------------------------------

def _exit_when_gone(pid: int, code: int, interval: float) -> None:
    """Poll process ``pid`` and end this process with ``code`` once it is gone."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(code)
        time.sleep(interval)


def _kernel_child(request: dict) -> None:
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    launcher = request["launcher"]

    # A kernel whose launcher was killed goes with it.
    threading.Thread(target=_exit_when_gone, args=(launcher, 1, 0.2), daemon=True).start()
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
    os._exit(0)


def serve(path: str) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS threads in a process that forks
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import IPython  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import numpy  # noqa: F401

    import course.assess.check  # noqa: F401
    import course.assess.registry

    course.assess.registry.all_exercises()
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print("ready", flush=True)
    # Nobody reads this pipe after "ready": a kernel that inherited it would block once it is full.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        try:
            connection, _ = server.accept()
        except InterruptedError:
            continue
        with connection:
            request = json.loads(_receive(connection))
            pid = os.fork()
            if pid == 0:
                server.close()
                connection.close()
                try:
                    _kernel_child(request)
                finally:
                    os._exit(1)
            connection.sendall(f"{pid}\n".encode())


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _receive(connection) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


# ----- the launcher ----------------------------------------------------------------

def launch(argv: list[str]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(os.environ[SOCKET_VARIABLE])
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "launcher": os.getpid()}
        client.sendall((json.dumps(request) + "\n").encode())
        kernel = int(_receive(client))

    def forward(signum, frame):
        try:
            os.kill(kernel, signum)
        except ProcessLookupError:
            pass
        if signum == signal.SIGTERM:
            os._exit(0)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, forward)
    _exit_when_gone(kernel, 0, 0.02)


class Pool:
    """The zygote process, with its socket and kernel spec in ``folder``."""

    def __init__(self, folder: Path) -> None:
        import subprocess

        self.folder = Path(folder)
        self.socket = str(self.folder / "kernels.sock")
        self.jupyter_path = kernel_spec(self.folder / "jupyter")
        self.process = subprocess.Popen([sys.executable, "-m", "course.grading.kernel_pool", "serve", self.socket],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the kernel pool did not start")

    def environment(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(self.jupyter_path), os.environ.get("JUPYTER_PATH")]))
        return {SOCKET_VARIABLE: self.socket, "JUPYTER_PATH": path}

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        launch(sys.argv[2:])
