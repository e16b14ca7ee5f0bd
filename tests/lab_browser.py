"""Drive the lessons in JupyterLab in a real (headless) chromium.

Shared by tests/test_browser.py and scripts/bench_browser.py; its browser
probe and launch arguments by scripts/check_slides.py too. Nothing here
imports playwright at module level, so the unit-test run never needs it.

The server runs on a copy of the lessons in a temporary folder, with its own
settings and workspaces folders: a run never writes into the repository (no
autosave of executed notebooks), never restores tabs from an earlier
workspace, and never shows the "news" notification.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GRADFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REQUIRE_VARIABLE = "GRADFLOW_REQUIRE_BROWSER"

# User settings for the test server (JupyterLab's settings folder layout).
LAB_SETTINGS = {
    # The notebook is run in the browser; nothing may be saved over the copy.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    # Every cell in the DOM, so that prompts and outputs can be read without scrolling.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (install it with scripts/install-browser.sh, or set GRADFLOW_CHROMIUM)"
    return None


def require_browser_or_skip() -> None:
    """At the top of a browser test module: skip it unless asked for; asked for, a missing browser fails."""
    import pytest

    if os.environ.get(REQUIRE_VARIABLE) != "1":
        pytest.skip(f"real-browser tests run only with {REQUIRE_VARIABLE}=1 (after scripts/install-browser.sh)",
                    allow_module_level=True)
    if (missing := browser_missing()) is not None:
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but {missing}: run scripts/install-browser.sh", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    process: subprocess.Popen
    url: str
    token: str
    home: Path

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def delete_sessions(self) -> None:
        """Shut down every kernel: JupyterLab would re-attach a notebook to its running one."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def notebook_url(self, name: str) -> str:
        # ?reset: start from an empty workspace (no restored tabs).
        return f"{self.url}/lab/tree/notebooks/{name}?reset&token={self.token}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def start_lab(notebooks: list[Path], timeout: float = 60.0) -> LabServer:
    """A JupyterLab server on a free localhost port with a token, serving copies of ``notebooks``."""
    home = Path(tempfile.mkdtemp(prefix="gradflow-lab-"))
    (home / "root" / "notebooks").mkdir(parents=True)
    for path in notebooks:
        shutil.copy(path, home / "root" / "notebooks" / path.name)
    for name, settings in LAB_SETTINGS.items():
        target = home / "settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}",
               f"--ServerApp.root_dir={home / 'root'}", "--ServerApp.open_browser=False",
               # window.jupyterapp: the tests switch the theme through its command.
               "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(home / "server.log", "wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home / "root")
    server = LabServer(process, f"http://127.0.0.1:{port}", token, home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {(home / 'server.log').read_text()[-2000:]}")
        try:
            server.api("GET", "/api/status")
            return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s")


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def code_cell_count(path: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"])


# How long a lesson's kernel may take to start. Under a load of 6-8 on two cores, Run All Cells of
# 01_chain_rule (the kernel's start and its cells together) once took more than the two minutes
# run_all_cells allows. A slow start is the machine, not the lesson: it has a wait of its own, before the
# cells' two minutes begin (tests/kernels.py gives nbval's kernels three starts of 120 s).
KERNEL_START_TIMEOUT = 360.0


def wait_for_kernel(server: LabServer, name: str, timeout: float = KERNEL_START_TIMEOUT) -> None:
    """Wait until the kernel of the open notebook ``name`` has started (the server saw it idle or busy)."""
    deadline = time.monotonic() + timeout
    while True:
        states = [(s.get("kernel") or {}).get("execution_state") for s in server.api("GET", "/api/sessions")
                  if s.get("path", "").endswith(name)]
        if any(state in ("idle", "busy") for state in states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel of {name} did not start within {timeout:.0f} s (states {states}):"
                               " the machine is overloaded, not the lesson broken")
        time.sleep(0.2)


def open_notebook(page, server: LabServer, path: Path) -> None:
    """Open a lesson on a fresh kernel; wait until all its code cells are in the page and its kernel has started."""
    server.delete_sessions()
    page.goto(server.notebook_url(path.name))
    # The notebook renders its cells progressively: wait for all of them.
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt').length === n",
        arg=[NOTEBOOK, code_cell_count(path)], timeout=60_000)
    wait_for_kernel(server, path.name)


def menu(page, top: str, item: str) -> None:
    page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def run_all_cells(page, timeout_ms: int = 120_000) -> None:
    """Clear the saved outputs, Run → Run All Cells, and wait until every code cell has its number.

    Found by the menu label: the command's id changed in JupyterLab 4.6.
    Clearing first makes the wait mean something (the saved notebook already
    shows [1], [2], ...) and leaves only this run's outputs to inspect.
    """
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')]"
        ".every(p => !/\\d/.test(p.textContent))", arg=NOTEBOOK, timeout=10_000)
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')]"
        ".every(p => /\\[\\d+\\]/.test(p.textContent))", arg=NOTEBOOK, timeout=timeout_ms)


def error_outputs(page) -> list[str]:
    """Text of every error or stderr output in the visible notebook."""
    return page.eval_on_selector_all(
        f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
        f" {NOTEBOOK} .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']",
        "els => els.map(e => e.innerText.slice(0, 500))")


def widget_class(name: str) -> str:
    return "gradflow-" + name.replace("_", "-")


def widget_names(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return [c["metadata"]["gradflow"]["widget"] for c in nb["cells"]
            if c["cell_type"] == "code" and "widget" in c.get("metadata", {}).get("gradflow", {})]


def slider_values(widget) -> dict[str, float]:
    """Each slider's description and the value its readout shows."""
    pairs = widget.evaluate(
        "w => [...w.querySelectorAll('.widget-slider')].map(e => [e.querySelector('.widget-label').textContent,"
        " e.querySelector('.widget-readout').textContent])")
    return {label.strip(): float(value.replace("\u2212", "-")) for label, value in pairs}  # d3-format writes a true minus


def displayed(widget) -> tuple[str, str]:
    """What the widget shows: its text (whitespace collapsed) and its picture's src."""
    text, src = widget.evaluate(
        "w => [w.innerText.replace(/\\s+/g, ' ').trim(), (w.querySelector('img') || {}).src || '']")
    return text, src


THEMES = ("JupyterLab Light", "JupyterLab Dark")


def set_theme(page, theme: str) -> None:
    """Switch JupyterLab's theme (a user setting: it lasts for the server's life) and wait until it applies."""
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
    page.wait_for_function("t => document.body.dataset.jpThemeName === t", arg=theme, timeout=30_000)
    page.wait_for_timeout(300)  # the theme's style sheet is in; let the page repaint before a screenshot


# Every control of a widget a keyboard can reach, in document order, and what it is.
CONTROLS_JS = """w => [...w.querySelectorAll('.noUi-handle, select, button, input, [contenteditable="true"]')]
    .filter(e => e.offsetParent !== null)"""
CONTROL_KIND_JS = """e => {
    if (e.classList.contains('noUi-handle')) return 'slider';
    if (e.tagName === 'SELECT') return 'select';
    if (e.isContentEditable) return 'readout';
    if (e.closest('.widget-play')) return 'play';
    if (e.closest('.widget-toggle-buttons')) return e.classList.contains('mod-active') ? 'chosen' : 'option';
    if (e.classList.contains('widget-toggle-button')) return 'toggle';
    return 'button';
}"""


def active_control(widget) -> int:
    """Index (in CONTROLS_JS order) of the focused control of ``widget``, or -1 when the focus is elsewhere."""
    return widget.evaluate(f"w => ({CONTROLS_JS})(w).indexOf(document.activeElement)")


def missing_alt(page) -> list[str]:
    """Every picture in the notebook's outputs (figures and widgets) without alt text."""
    return page.eval_on_selector_all(
        f"{NOTEBOOK} .jp-OutputArea img",
        "imgs => imgs.filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.outerHTML.slice(0, 120))")
