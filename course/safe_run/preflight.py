"""Before grading: start the kernels' sandbox once, for real, and say plainly why it cannot start.

A machine can have bubblewrap and still refuse its sandbox: a container whose
/proc is masked (an unprivileged Docker container's is) lets ``bwrap
--unshare-all --ro-bind / / true`` run, but refuses the new /proc a kernel's
sandbox mounts. Checked with that lighter command, the grader went on, and
every notebook came back "could not be graded" minutes later, after every
kernel start had been retried. So the preflight starts the very sandbox a
kernel gets: the command is ``sandbox.bwrap_command`` (the same mounts of
/proc, /dev and /tmp, the same namespaces and environment), under the
launcher's limits, running the kernels' Python on a line that imports numpy
and the course and writes into its run folder. It takes a fraction of a
second; it is given ``TIMEOUT`` seconds.

``check`` answers with a ``Preflight``: how long the sandbox took and, when it
could not start, what the machine refused (``problem``) and the ways out
(``message``). ``course grade`` and ``course progress`` stop with that
message; Gradescope's ``run_autograder`` grades without the sandbox and says
why in results.json.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from course.safe_run import sandbox

TIMEOUT = 10.0  # seconds for the sandbox to start Python and import numpy (it takes under one here)
PROBE = "import sys, numpy, course; open(sys.argv[1], 'w').write('started')"
PROBE_FILE = "preflight"
_started: set[sandbox.Limits] = set()  # limits the sandbox started with in this process: asked once

NO_SANDBOX = ("run it with --no-sandbox: learners' code then runs with your own rights (it can read the"
              " reference answers and hidden cases, other learners' notebooks and the output folder, write"
              " anywhere you can, and use the network); only for notebooks you trust, and the report says"
              " so")
INSTALL = "install bubblewrap (scripts/install-sandbox.sh, or the package bubblewrap)"
ALLOW_CONTAINER = ("`docker run --security-opt systempaths=unconfined --security-opt seccomp=unconfined"
                   " --security-opt apparmor=unconfined ...` (or --privileged; Podman: --security-opt unmask=ALL),"
                   " or grade on a Linux machine or VM outside the container")
CONTAINER = "give the container what bubblewrap needs: " + ALLOW_CONTAINER
NAMESPACES = ("let ordinary users create user namespaces: `sysctl kernel.unprivileged_userns_clone=1`"
              " (Debian, older Ubuntu), `user.max_user_namespaces` above 0, and on Ubuntu 24.04"
              " `sysctl kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor profile that allows"
              " bwrap); or grade as root (CAP_SYS_ADMIN); in a container, " + ALLOW_CONTAINER)
SEE = 'See docs/grading.md, "What the machine must allow".'


@dataclass(frozen=True)
class Preflight:
    problem: str | None  # what the machine refused, one sentence; None: the sandbox started
    seconds: float  # how long the sandbox took to start Python (or to fail)
    said: str = ""  # the last line bubblewrap (or Python in the sandbox) wrote
    remedy: str = ""  # what would let the sandbox start

    @property
    def ok(self) -> bool:
        return self.problem is None

    def message(self) -> str:
        """The problem, what bubblewrap said, and the choices, for ``grade`` and ``progress``."""
        said = f'\n  The sandbox said: "{self.said}" (after {self.seconds:.2f} s)' if self.said else ""
        return (f"the sandbox cannot start on this machine: {self.problem}.{said}\nChoices:\n"
                f"  - {NO_SANDBOX};\n  - or {self.remedy}.\n{SEE}")


def check(limits: sandbox.Limits | None = None, timeout: float = TIMEOUT, workdir: Path | None = None) -> Preflight:
    """Start the kernels' sandbox once with ``limits`` and see Python run in it."""
    limits = limits or sandbox.Limits()
    if limits in _started:
        return Preflight(None, 0.0)
    if not sandbox.bwrap():
        return Preflight("bubblewrap (bwrap) is not installed", 0.0, remedy=INSTALL)
    group = f"gradflow-preflight-{uuid.uuid4().hex[:12]}"
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gradflow-preflight-", dir=workdir) as folder:
        run = Path(folder).resolve()
        command = sandbox.bwrap_command(run, [sys.executable, "-c", PROBE, str(run / PROBE_FILE)], limits)
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, preexec_fn=lambda: _as_the_launcher(limits, group))
        except subprocess.TimeoutExpired:
            return Preflight(f"the sandbox did not start Python within {timeout:g} s", time.monotonic() - start,
                             remedy="grade when the machine is less busy, or see why bwrap hangs (run it by hand)")
        except OSError as exc:
            return Preflight(f"bubblewrap could not be started ({exc})", time.monotonic() - start, remedy=INSTALL)
        finally:
            sandbox.remove_process_groups(group)
        seconds = time.monotonic() - start
        wrote = (run / PROBE_FILE).read_text() if (run / PROBE_FILE).is_file() else ""
    if done.returncode == 0 and wrote == "started":
        _started.add(limits)
        return Preflight(None, seconds)
    said = _last_line(done.stderr) or f"exit status {done.returncode}"
    problem, remedy = explain(said)
    return Preflight(problem, seconds, said, remedy)


def _as_the_launcher(limits: sandbox.Limits, group: str) -> None:
    """In the child, before bwrap: the limits a kernel's launcher sets (``sandbox.launch``)."""
    sandbox._set_limits(limits, sandbox.join_process_group(group, limits))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def explain(said: str) -> tuple[str, str]:
    """(what the machine refused, what would let it start), from what bubblewrap said."""
    mount = re.search(r"Can't mount (\S+) on /newroot([^\s:]*)", said)
    if mount and mount.group(1) == "proc":
        covered = masked_proc()
        shown = f" ({', '.join(covered[:6])}{' …' if len(covered) > 6 else ''} are covered)" if covered else ""
        return ("bubblewrap could not mount /proc: this container masks /proc" + shown + ", as an unprivileged"
                " Docker container does, and Linux then refuses a new /proc for the sandbox", CONTAINER)
    if mount:
        return (f"bubblewrap could not mount {mount.group(1)} on {mount.group(2) or '/'} for the sandbox",
                CONTAINER)
    if re.search(r"namespace|uid map|gid map|setting up uid", said, re.IGNORECASE):
        return "the machine does not let this user create the sandbox's namespaces (user namespaces)", NAMESPACES
    if "RTM_NEWADDR" in said or "loopback" in said:
        return "bubblewrap could not set up the sandbox's own network (its loopback)", CONTAINER
    if re.search(r"Operation not permitted|Permission denied", said):
        return "bubblewrap was not permitted to build the sandbox", NAMESPACES
    return ("the kernels' Python did not run in the sandbox",
            f"fix what stops {sys.executable} there (the sandbox shows the system, Python and its virtual"
            " environment read-only, under the kernels' limits: course.safe_run.sandbox.Limits)")


def masked_proc(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mounts over parts of /proc (a container's masked paths), as this process sees them."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    return sorted({p for p in points if p.startswith("/proc/")})
