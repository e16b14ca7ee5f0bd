"""`make lab` on a fresh clone serves the course, as root too (containers run as root).

The clone borrows this run's environment (a symlinked .venv, and make told
that its install stamp is up to date) instead of installing everything again;
installing from nothing is what `make test` on a fresh clone does in CI.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import ROOT

START_TIMEOUT = 300  # seconds for the server to answer; a busy machine is slow, not broken
LESSON = "notebooks/01_chain_rule.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture
def clone(tmp_path):
    assert sys.prefix != sys.base_prefix, "the suite runs from the project's virtual environment"
    folder = tmp_path / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder)], check=True, timeout=120)
    (folder / ".venv").symlink_to(sys.prefix)
    return folder


def test_make_lab_on_a_fresh_clone_serves_the_first_lesson(clone, tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    lab_args = f"--no-browser --port={port} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1 " \
               f"--ServerApp.token={token}"
    with open(log, "wb") as out:
        # -o: the borrowed environment counts as set up (its stamp is older than the clone's pyproject.toml).
        server = subprocess.Popen(["make", "-o", ".venv/.gradflow-ready", "lab", f"LAB_ARGS={lab_args}"],
                                  cwd=clone, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True, env=dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path)))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, f"make lab ended early:\n{log.read_text()[-3000:]}"
            try:
                status, page = get(f"{base}/lab/tree/{LESSON}", token)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, f"no answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        assert status == 200 and b"JupyterLab" in page
        status, body = get(f"{base}/api/contents/{LESSON}?content=0", token)
        assert status == 200 and json.loads(body)["type"] == "notebook"
        # Stop it the clean way, as the server's own shutdown button does.
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=30).close()
        assert server.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    output = log.read_text()
    root = os.geteuid() == 0
    assert ("Running as root: JupyterLab is started with --allow-root." in output) == root
    assert ("--allow-root" in output) == root
    assert "Running as root is not recommended" not in output
