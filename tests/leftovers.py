"""Nothing left behind: a test session's temporary files live in one private folder, checked at the end.

``private_tmp()`` (called by conftest.py before anything makes a temporary
file) gives the session its own ``TMPDIR`` under /tmp, which pytest's
``tmp_path``, the grader's working folders, the kernels and every subprocess
inherit. At the end of the session, the process that made it checks:

- the private folder holds nothing but pytest's own ``tmp_path`` base and the
  kernel slots (tests/kernels.py); anything else was left by a test;
- /tmp has no new entry with one of the course's own prefixes (``judge-``,
  ``gradflow-``, ...): a test that wrote to /tmp by name, past ``TMPDIR``;
- the checkout has no new file, changed file or ignored file
  (``git status --porcelain --ignored``), Python's byte-code caches aside.

Then it removes the private folder (``GRADFLOW_KEEP_TMP=1`` keeps it, to look
at a failed test's files). Other processes of the machine write to /tmp too, so
only names of the course's own prefixes count there, never another session's
private folder, and only while no other test session, grader or kernel ran
beside this one (``Neighbours`` looks every few seconds): with one, a new
name there may be theirs, and it is reported, not counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

TMP = Path("/tmp")
PRIVATE_PREFIX = "gradflow-tests-"
OWNER_VARIABLE = "GRADFLOW_TESTS_TMP_OWNER"  # the pid of the process that made the private folder
KEEP_VARIABLE = "GRADFLOW_KEEP_TMP"
STRICT_VARIABLE = "GRADFLOW_LEFTOVERS_STRICT"  # count new names in /tmp even beside other sessions
# What the course and its tests name their temporary folders and files.
COURSE_PREFIXES = ("judge-", "launch-", "gradflow-")
# What the private folder may hold at the end: pytest's tmp_path base and the kernel slots' lock files.
HARNESS_PREFIXES = ("pytest-of-", "gradflow-kernel-slots-")


def private_tmp() -> Path:
    """This session's TMPDIR: made here by the first process, inherited by xdist's workers and subprocesses."""
    inherited = os.environ.get(OWNER_VARIABLE)
    if inherited and os.environ.get("TMPDIR", "").startswith(str(TMP / PRIVATE_PREFIX)):
        return Path(os.environ["TMPDIR"])
    folder = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX, dir=TMP))
    os.environ["TMPDIR"] = str(folder)
    os.environ[OWNER_VARIABLE] = str(os.getpid())
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    return folder


def owns(folder: Path) -> bool:
    return os.environ.get(OWNER_VARIABLE) == str(os.getpid()) and os.environ.get("TMPDIR") == str(folder)


def course_entries_in_tmp() -> set[str]:
    try:
        names = os.listdir(TMP)
    except OSError:
        return set()
    return {n for n in names if n.startswith(COURSE_PREFIXES) and not n.startswith(PRIVATE_PREFIX)}


def checkout_state(root: Path) -> set[str] | None:
    """``git status --porcelain --ignored`` of the checkout, byte-code caches aside; None outside a checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=root, capture_output=True,
                             text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    return {line for line in out.stdout.splitlines() if "__pycache__" not in line and not line.endswith(".pyc")}


def left_in_private(folder: Path) -> list[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [n for n in names if not n.startswith(HARNESS_PREFIXES)]


# Processes that may write the course's names into /tmp: test sessions, graders, kernels, JupyterLab.
WRITERS = ("pytest", "course", "ipykernel", "jupyter")


def _parent(pid: str) -> str | None:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return None


def _ancestors(pid: str) -> set[str]:
    found = set()
    while pid not in (None, "0") and pid not in found and len(found) < 64:
        found.add(pid)
        pid = _parent(pid)
    return found


def neighbours(session: int) -> set[str]:
    """Command lines of running processes that may write the course's names and are not of this session
    (neither started by it nor among those that started it: ``make``, ``timeout``)."""
    found = set()
    mine = _ancestors(str(session))
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            words = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not any(w in words for w in WRITERS):
            continue
        if pid in mine:
            continue
        ancestor, seen = pid, 0
        while ancestor not in (None, "0", "1", str(session)) and seen < 64:
            ancestor, seen = _parent(ancestor), seen + 1
        if ancestor != str(session):
            found.add(words.strip()[:160])
    return found


class Neighbours(threading.Thread):
    """Looks every few seconds for other test sessions, graders and kernels on the machine."""

    def __init__(self, every: float = 3.0) -> None:
        super().__init__(daemon=True, name="leftovers-neighbours")
        self.every, self.seen, self.done = every, set(), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.seen |= neighbours(os.getpid())
            self.done.wait(self.every)

    def stop(self) -> set[str]:
        self.done.set()
        self.join(10)
        return self.seen | neighbours(os.getpid())


class Snapshot:
    """What /tmp and the checkout held when the session started."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder, self.root = folder, root
        self.tmp = course_entries_in_tmp()
        self.checkout = checkout_state(root)
        self.neighbours = Neighbours()
        self.neighbours.start()
        self.notes: list[str] = []

    def leftovers(self) -> list[str]:
        """What this session left behind; what may be another's goes to ``notes``."""
        found = [f"{self.folder}/{name}" for name in left_in_private(self.folder)]
        new_in_tmp = [f"/tmp/{name}" for name in sorted(course_entries_in_tmp() - self.tmp)]
        others = self.neighbours.stop()
        if new_in_tmp and others and not os.environ.get(STRICT_VARIABLE):
            self.notes = [f"New in /tmp, not counted: {len(others)} other process(es) that write such names ran"
                          f" beside this session, e.g. {sorted(others)[0]!r}:", *(f"  {n}" for n in new_in_tmp)]
        else:
            found += new_in_tmp
        if self.checkout is not None:
            now = checkout_state(self.root)
            if now is not None:
                found += [f"in the checkout: {line}" for line in sorted(now - self.checkout)]
        return found

    def remove_private(self) -> None:
        if not os.environ.get(KEEP_VARIABLE):
            shutil.rmtree(self.folder, ignore_errors=True)
