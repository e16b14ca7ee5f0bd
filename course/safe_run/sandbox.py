"""The one place learner code is started: a kernel inside bubblewrap, with limits.

Every kernel that runs a learner's cells under grading is started by the
kernel spec written here (``kernel_spec``), whose command is this module's
launcher (``python -m course.safe_run.sandbox kernel CONNECTION_FILE``). The
launcher runs outside the sandbox; it sets the limits, puts itself in a
process-count group, and replaces itself with ``bwrap`` running an ordinary
IPython kernel that sees:

- no network, its own PID, IPC, UTS and mount namespaces (``--unshare-all``);
  when the kernel ends, every process it started ends with it (PID namespace);
- read-only: the system's programs and libraries, Python, the virtual
  environment and the course package *without* ``course/assess/concepts``
  (the reference answers, the misconceptions and the hidden-case generators);
  and matplotlib's list of the system's fonts, made once per class run
  (``font_list``);
- writable: a private ``/tmp`` of limited size, and the notebook's own run
  folder (its kernel connection file, and the judge's socket, see
  ``course.safe_run.judge``);
- nothing else: not the solutions, not other submissions, not the grader's
  working or output folders, not the grader's processes.

Limits (``Limits``): address space (memory), CPU seconds, processes (a pids
cgroup where the system offers one, else RLIMIT_NPROC), size of a written file.

Warm kernels (``course.safe_run.pool``, ``course.safe_run.forkserver``): when
the grader runs a pool of fork servers, the kernel spec's command is a lighter
launcher (``course.safe_run.launcher``) that asks the learner's server for the
kernel; the server's sandbox is made here too, by the same command, with each
of the learner's run folders and the server as the sandbox's first process.
If no server answers, that launcher hands over to this one, which starts the
kernel in a sandbox of its own, as above.

Without bwrap (``--no-sandbox``, or ``progress`` on a system without it) the
launcher starts the same kernel directly, with the same limits.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import course

KERNEL_NAME = "gradflow-sandbox"
CONFIG_VARIABLE = "GRADFLOW_SANDBOX_CONFIG"
JUDGE_SOCKET = "judge.sock"  # in the notebook's run folder
COURSE_DIR = Path(course.__file__).resolve().parent
HIDDEN = (COURSE_DIR / "assess" / "concepts",)
# Wrong-answer machinery beside the compute code: with no mistake switched on, a
# variant computes the right answer, so it stays outside too (nothing in a
# notebook needs it; the judge outside runs the misconceptions).
HIDDEN_FILES = tuple(sorted((COURSE_DIR / "compute").glob("*_mistakes.py")))
CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 3 * 2**30  # address space: numpy and a kernel need about 1 GB of it
    cpu_seconds: int = 300
    processes: int = 64  # threads count too; a kernel uses about 10
    file_bytes: int = 64 * 2**20
    tmp_bytes: int = 128 * 2**20


def bwrap() -> str | None:
    return shutil.which("bwrap")


@dataclass(frozen=True)
class Config:
    """What the launcher needs, written by the grader into its working folder."""

    sandbox: bool
    limits: Limits
    group: str  # prefix of this class run's process-count groups
    pool: str | None = None  # the socket of the run's fork servers (course.safe_run.pool), if any
    fonts: str | None = None  # matplotlib's font list for every kernel (font_list), if one was made

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"sandbox": self.sandbox, "limits": asdict(self.limits), "group": self.group,
                                    "pool": self.pool, "fonts": self.fonts}))
        return path

    @classmethod
    def read(cls, path: str) -> "Config":
        data = json.loads(Path(path).read_text())
        return cls(data["sandbox"], Limits(**data["limits"]), data["group"], data.get("pool"), data.get("fonts"))


def new_config(sandbox: bool, limits: Limits | None = None, pool: Path | None = None,
               fonts: Path | None = None) -> Config:
    return Config(sandbox, limits or Limits(), f"gradflow-{uuid.uuid4().hex[:12]}", str(pool) if pool else None,
                  str(fonts) if fonts else None)


def font_list(folder: Path) -> Path | None:
    """matplotlib's list of the system's fonts, made once here, outside any sandbox; None without matplotlib.

    A kernel's matplotlib folder starts empty (the sandbox's /tmp, or a run folder), so each notebook that
    plots would search and read every font again (0.2-0.4 CPU s). Given this list, it reads a file instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MPLCONFIGDIR": str(folder), "MPLBACKEND": "agg"}
    try:
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, timeout=300,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    found = sorted(folder.glob("fontlist-*.json"))
    return found[-1] if found else None


def kernel_spec(folder: Path, config_path: Path) -> dict[str, str]:
    """Write the kernel spec under ``folder``; returns the environment nbval needs to find it."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    config = Config.read(str(config_path))
    # With warm sandboxes, a launcher on the standard library alone (course.safe_run.launcher): it starts
    # once per notebook, at half the CPU of one that imports the course package.
    argv = ([sys.executable, "-I", "-S", str(COURSE_DIR / "safe_run" / "launcher.py"), "{connection_file}"]
            if config.sandbox and config.pool else
            [sys.executable, "-m", "course.safe_run.sandbox", "kernel", "{connection_file}"])
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv,
        "display_name": "Python 3 (gradflow sandbox)", "language": "python",
        # An interrupt is a message: a signal would not cross into the sandbox's PID namespace.
        "interrupt_mode": "message",
        "env": {CONFIG_VARIABLE: str(config_path)},
    }))
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH")]))
    return {"JUPYTER_PATH": path}


# ----- the launcher (outside the sandbox) -------------------------------------------

def _kernel_environment(run: Path | None) -> dict[str, str]:
    """The kernel's whole environment; a fork server's (``run`` None) names no judge: each kernel sets its own."""
    home = "/tmp/home"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
            "IPYTHONDIR": f"{home}/.ipython", "MPLCONFIGDIR": f"{home}/.matplotlib", "MPLBACKEND": "agg",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "LANG": "C.UTF-8",
            # The kernel imports the course package the grader runs (e.g. an unpacked Gradescope
            # autograder's), not whichever one the environment has installed; only COURSE_DIR is visible.
            "PYTHONPATH": str(COURSE_DIR.parent)}
    if run is not None:
        env["GRADFLOW_JUDGE"] = str(run / JUDGE_SOCKET)
    return env


def _read_only() -> list[Path]:
    """What the kernel reads: system programs and libraries, Python, the venv, the course package."""
    paths = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")]
    paths += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix), COURSE_DIR]
    seen, found = set(), []
    for path in paths:
        if path.exists() and path not in seen:
            seen.add(path)
            found.append(path)
    return found


def bwrap_command(runs: Path | list[Path], kernel: list[str], limits: Limits, as_init: bool = False,
                  fonts: str | None = None) -> list[str]:
    """bwrap running ``kernel``, sharing the run folder(s) ``runs``; ``as_init``: as its PID namespace's PID 1.

    ``fonts``: matplotlib's font list (``font_list``), shown read-only where the kernel's matplotlib looks.
    """
    runs = [runs] if isinstance(runs, Path) else list(runs)
    command = [bwrap() or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
               "--clearenv", "--proc", "/proc", "--dev", "/dev",
               "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    if as_init:
        command.append("--as-pid-1")
    for path in _read_only():
        command += ["--ro-bind", str(path), str(path)]
    for path in HIDDEN:  # an empty folder over the references
        command += ["--tmpfs", str(path)]
    for path in HIDDEN_FILES:  # an empty file over a module of wrong answers
        command += ["--ro-bind", "/dev/null", str(path)]
    for run in runs:
        command += ["--bind", str(run), str(run)]
    environment = _kernel_environment(runs[0] if len(runs) == 1 and not as_init else None)
    if fonts and Path(fonts).is_file():
        command += ["--ro-bind", fonts, f"{environment['MPLCONFIGDIR']}/{Path(fonts).name}"]
    for name, value in environment.items():
        command += ["--setenv", name, value]
    return command + ["--chdir", "/tmp", "--", *kernel]


def _set_limits(limits: Limits, cgroup: bool) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not cgroup:  # not enforced for root, hence the cgroup where there is one
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def _cgroup_root() -> Path | None:
    """A pids cgroup hierarchy this process may create groups in (cgroup v1 or v2), or None."""
    for root in CGROUP_ROOTS:
        controllers = root / "cgroup.controllers"
        has_pids = root.name == "pids" or (controllers.exists() and "pids" in controllers.read_text().split())
        if has_pids and (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
            return root
    return None


def join_process_group(group: str, limits: Limits) -> bool:
    """Put this process (and so the sandbox) in a new pids cgroup; False where there is none."""
    root = _cgroup_root()
    if root is None:
        return False
    try:
        mine = root / f"{group}-{os.getpid()}"
        mine.mkdir()
        (mine / "pids.max").write_text(str(limits.processes))
        (mine / "cgroup.procs").write_text(str(os.getpid()))
        return True
    except OSError:
        return False


def remove_process_groups(group: str) -> None:
    """End what is left in this run's cgroups and remove them (the PID namespaces leave nothing, normally)."""
    root = _cgroup_root()
    if root is None:
        return
    for folder in root.glob(f"{group}-*"):
        try:
            for pid in (folder / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            folder.rmdir()
        except OSError:
            pass


def launch(connection_file: str) -> None:
    """The kernel in a sandbox of its own (without warm sandboxes, or when the learner's could not start it)."""
    config = Config.read(os.environ[CONFIG_VARIABLE])
    run = Path(connection_file).resolve().parent
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
    cgroup = join_process_group(config.group, config.limits)
    _set_limits(config.limits, cgroup)
    if config.sandbox:
        command = bwrap_command(run, kernel, config.limits, fonts=config.fonts)
        os.execv(command[0], command)
    env = _kernel_environment(run)
    env["HOME"] = env["IPYTHONDIR"] = env["MPLCONFIGDIR"] = str(run)
    if config.fonts and Path(config.fonts).is_file():
        shutil.copyfile(config.fonts, run / Path(config.fonts).name)
    os.chdir(run)
    os.execve(sys.executable, kernel, env)


def launch_forkserver(fd: str, runs: list[str]) -> None:
    """A learner's warm sandbox: the fork server as its first process, sharing each of ``runs``."""
    config = Config.read(os.environ[CONFIG_VARIABLE])
    cgroup = join_process_group(config.group, config.limits)
    _set_limits(config.limits, cgroup)
    server = [sys.executable, "-m", "course.safe_run.forkserver", fd, *runs]
    command = bwrap_command([Path(run) for run in runs], server, config.limits, as_init=True, fonts=config.fonts)
    os.execv(command[0], command)


if __name__ == "__main__":
    if sys.argv[1] == "kernel":
        launch(sys.argv[2])
    elif sys.argv[1] == "forkserver":
        launch_forkserver(sys.argv[2], sys.argv[3:])
