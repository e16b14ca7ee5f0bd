"""A one-node Slurm cluster of its own, in a scratch folder, for the cluster test (tests/test_cluster.py).

Debian's ``slurm-wlm`` and ``munge`` (scripts/install-slurm.sh) as they come:
``munged`` with a key of its own, ``slurmctld`` and ``slurmd`` with a
``slurm.conf`` whose state, spool, pid and log files all lie in the scratch
folder. Every daemon runs in a network namespace of its own that has only a
loopback interface, so Slurm's ports (which it binds on every address) are
reachable from nothing but this cluster's own commands, which enter the same
namespace (``run``). Stopped by the pid files the daemons write, then the
namespace's holder process.

Needs root: slurmd starts jobs as their user, and entering a network
namespace takes CAP_SYS_ADMIN.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REQUIRE_VARIABLE = "GRADFLOW_REQUIRE_SLURM"
DAEMONS = ("slurmd", "slurmctld", "munged")  # stopped in this order
# Seconds for the cluster to come up: a busy machine is slow, not broken.
READY_TIMEOUT = 300

CONF = """\
ClusterName=gradflow-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={scratch}/munge/munge.socket
StateSaveLocation={scratch}/state
SlurmdSpoolDir={scratch}/spool/%n
SlurmctldPidFile={scratch}/run/slurmctld.pid
SlurmdPidFile={scratch}/run/slurmd.pid
SlurmctldLogFile={scratch}/log/slurmctld.log
SlurmdLogFile={scratch}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
# Finished jobs stay visible to scontrol for the test's questions.
MinJobAge=3600
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=grading Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def installed() -> bool:
    return all(shutil.which(name) for name in ("slurmctld", "slurmd", "sbatch", "munged", "mungekey"))


def _memory_mb() -> int:
    """Nine tenths of the machine's memory: slurmd drains a node that has less than slurm.conf says."""
    with open("/proc/meminfo") as meminfo:
        total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return total_kb * 9 // 10 // 1024


class SlurmCluster:
    def __init__(self, scratch: Path) -> None:
        self.scratch = Path(scratch)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.scratch / "slurm.conf"
        self.holder: subprocess.Popen | None = None

    # ----- the namespace, and commands inside it -------------------------------------------------------

    def _inside(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *argv]

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "PYTEST_"))}
        env["SLURM_CONF"] = str(self.conf)
        env.update(extra)
        return env

    def run(self, argv: list[str], *, cwd: Path | None = None, check: bool = True, timeout: float = 300,
            **env: str) -> subprocess.CompletedProcess:
        """``argv`` in the cluster's network namespace, with its SLURM_CONF."""
        result = subprocess.run(self._inside(argv), cwd=cwd, env=self.environment(**env), capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                               f"\n{self.logs()}")
        return result

    # ----- start and stop --------------------------------------------------------------------------------

    def start(self) -> None:
        for folder in ("munge", "state", "spool", "run", "log"):
            (self.scratch / folder).mkdir(parents=True, exist_ok=True)
        (self.scratch / "munge").chmod(0o700)
        self.conf.write_text(CONF.format(host=self.host, scratch=self.scratch, cpus=os.cpu_count() or 1,
                                         memory=_memory_mb()))
        # The namespace lives as long as this process does; `unshare` leaves it with a loopback that is down.
        self.holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"], stdin=subprocess.DEVNULL)
        self._wait_for(lambda: Path(f"/proc/{self.holder.pid}/ns/net").exists()
                       and os.readlink(f"/proc/{self.holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"),
                       "the network namespace")
        self.run(["ip", "link", "set", "lo", "up"])
        # Slurm finds the address to listen on with getaddrinfo(AI_ADDRCONFIG), which offers IPv4 only when an
        # address other than 127.0.0.1 is configured: a second loopback address, still loopback only.
        self.run(["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"])
        munge = self.scratch / "munge"
        self.run(["mungekey", "--create", f"--keyfile={munge / 'munge.key'}"])
        # --force: munged as root, in a folder under pytest's temporary tree, refuses to start without it.
        self.run(["munged", "--force", f"--socket={munge / 'munge.socket'}", f"--key-file={munge / 'munge.key'}",
                  f"--log-file={self.scratch / 'log' / 'munged.log'}", f"--pid-file={self.scratch / 'run' / 'munged.pid'}",
                  f"--seed-file={munge / 'munged.seed'}"])
        self.run(["slurmctld", "-f", str(self.conf)])
        self.run(["slurmd", "-f", str(self.conf), "-N", self.host])
        self._wait_for(self._node_idle, "the node to be idle in sinfo")

    def _node_idle(self) -> bool:
        result = self.run(["sinfo", "--noheader", "--format=%T"], check=False, timeout=60)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def _wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"a one-node Slurm did not come up: no {what} after {READY_TIMEOUT} s\n{self.logs()}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the daemons by their pid files, then the namespace's holder; waits until each has gone."""
        for name in DAEMONS:
            pid_file = self.scratch / "run" / f"{name}.pid"
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 60
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()

    # ----- jobs --------------------------------------------------------------------------------------------

    def job_state(self, job: str) -> str:
        """PENDING, RUNNING, COMPLETED, FAILED, ...; for an array, the states of its tasks, joined by spaces."""
        result = self.run(["scontrol", "--oneliner", "show", "job", job], timeout=60)
        return " ".join(sorted({word.split("=", 1)[1] for line in result.stdout.splitlines()
                                for word in line.split() if word.startswith("JobState=")}))

    def wait_for_job(self, job: str, timeout: float) -> str:
        """The job's final state (COMPLETED when it succeeded), or what it was when ``timeout`` s ran out."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.job_state(job)
            if not any(s in state for s in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")):
                return state
            if time.monotonic() > deadline:
                return state
            time.sleep(2)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (last lines)\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                         for p in sorted((self.scratch / "log").glob("*.log")))
