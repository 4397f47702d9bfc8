"""A private one-node SLURM cluster for the tests: munged, slurmctld and slurmd from Debian's packages.

Everything lives in one temporary folder (config, munge key, state, spool, logs) and listens on
free ports, so it runs beside any other SLURM of the machine. Needs root (slurmd runs jobs as
their user) and, when the programs are missing, apt-get (slurmctld slurmd slurm-client munge).
There are no cgroups here: process tracking is linuxproc, so the tests also check that nothing
of a cancelled job survives. Every daemon carries WAVESCOPE_TEST_SLURM=<folder> in its
environment and is stopped by its pid, never by name.

    cluster = LocalSlurm.start()          # or LocalSlurm.unavailable() -> reason to skip
    os.environ["SLURM_CONF"] = cluster.conf
    ...
    cluster.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
PROGRAMS = ("munged", "slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue", "scontrol",
            "scancel", "sinfo")
SYSTEM_PATHS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
MARKER = "WAVESCOPE_TEST_SLURM"
OWNER = "owner.pid"          # in the cluster's folder: the test process that started it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SYSTEM_PATHS]))


def missing_programs() -> list[str]:
    return [name for name in PROGRAMS if _which(name) is None]


def install_packages() -> str | None:
    """apt-get install the packages when programs are missing; None when done, else why not."""
    if not missing_programs():
        return None
    if os.geteuid() != 0:
        return f"SLURM is not installed ({', '.join(missing_programs())} missing) and we are not root"
    if shutil.which("apt-get") is None:
        return f"SLURM is not installed and there is no apt-get (needs: {' '.join(PACKAGES)})"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True, env=env, timeout=600)
        done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0 or missing_programs():
        return f"apt-get install {' '.join(PACKAGES)} failed: {(done.stderr or done.stdout)[-500:]}"
    return None


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10
    return 1024


class LocalSlurm:
    """One node, one partition `debug`, MpiDefault=pmi2, no accounting (sacct says nothing)."""

    def __init__(self, base: Path, cpus: int = 4):
        self.base = base
        self.node = socket.gethostname().split(".")[0]
        self.cpus = cpus
        self.ctld_port, self.slurmd_port = free_ports(2)
        self.run, self.logs = base / "run", base / "log"
        self.conf = str(base / "etc" / "slurm.conf")
        self.munge_socket = str(self.run / "munge.socket")

    @staticmethod
    def skip_reason(portable: bool) -> str | None:
        """Why a test cannot have a local SLURM (the suite's --portable pass, or no SLURM), else None."""
        if portable or os.environ.get("WAVESCOPE_FORCE_PORTABLE") == "1":
            return "--portable: a platform without SLURM"
        reason = LocalSlurm.unavailable()
        return f"no local SLURM: {reason}" if reason else None

    @staticmethod
    def unavailable() -> str | None:
        """Why a local SLURM cannot start here (None: it can)."""
        if os.name != "posix" or not Path("/proc").is_dir():
            return "a local SLURM needs Linux"
        if os.geteuid() != 0:
            return "a local SLURM needs root (slurmd starts jobs as their user)"
        return install_packages()

    @classmethod
    def start(cls, timeout: float = 60.0, cpus: int = 4) -> LocalSlurm:
        cls.stop_orphans()
        base = Path(tempfile.mkdtemp(prefix="wavescope-slurm-"))
        (base / OWNER).write_text(str(os.getpid()))
        cluster = cls(base, cpus)
        try:
            cluster._start(timeout)
        except Exception:
            cluster.stop()
            raise
        return cluster

    # -- start ------------------------------------------------------------------------------------
    def _write_config(self) -> None:
        base = self.base
        for name in ("etc", "run", "log", "state", "spool", "munge"):
            (base / name).mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o755)
        os.chmod(self.run, 0o755)           # munged: the socket's folder must be searchable by all
        os.chmod(base / "munge", 0o700)     # ... and its key's private
        key = base / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        lines = [
            "ClusterName=wavescope-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root", "SlurmdUser=root",
            f"SlurmctldPort={self.ctld_port}", f"SlurmdPort={self.slurmd_port}",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={base / 'state'}", f"SlurmdSpoolDir={base / 'spool'}",
            f"SlurmctldPidFile={self.run / 'slurmctld.pid'}", f"SlurmdPidFile={self.run / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.logs / 'slurmctld.log'}", f"SlurmdLogFile={self.logs / 'slurmd.log'}",
            "SlurmctldDebug=info", "SlurmdDebug=info", "MailProg=/bin/true",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",     # no cgroups here
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "SchedulerType=sched/backfill",
            "SchedulerParameters=batch_sched_delay=0",      # start batch jobs at once
            "MpiDefault=pmi2", "ReturnToService=2", "SlurmdParameters=config_overrides", "InactiveLimit=0", "KillWait=2", "MinJobAge=300",
            "SlurmctldTimeout=30", "SlurmdTimeout=60", "Waittime=0",
            (f"NodeName={self.node} NodeHostname={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
             f"RealMemory={_memory_mb()} State=UNKNOWN"),
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        Path(self.conf).write_text("\n".join(lines) + "\n")

    def _daemon(self, *command: str) -> None:
        """Start a daemon that forks itself, in a clean environment carrying our marker."""
        env = {"PATH": ":".join(SYSTEM_PATHS), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
               MARKER: str(self.base), "SLURM_CONF": self.conf}
        name = Path(command[0]).name
        with open(self.logs / f"{name}.stderr", "wb") as err:
            done = subprocess.run([_which(command[0]) or command[0], *command[1:]], check=False, env=env,
                                  stdin=subprocess.DEVNULL, stdout=err, stderr=err, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed to start (exit {done.returncode}): {self.tails()}")

    def _start(self, timeout: float) -> None:
        self._write_config()
        munge = self.base / "munge"
        self._daemon("munged", f"--key-file={munge / 'munge.key'}", f"--socket={self.munge_socket}",
                     f"--pid-file={self.run / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                     f"--seed-file={munge / 'munged.seed'}")
        self._wait_pid("munged", 10)
        self._daemon("slurmctld", "-f", self.conf)
        self._wait_pid("slurmctld", 15)
        self._daemon("slurmd", "-f", self.conf, "-N", self.node)
        self._wait_pid("slurmd", 15)
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.client("sinfo", "-h", "-n", self.node, "-o", "%T").stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return
            if state.startswith(("down", "drain")):
                self.client("scontrol", "update", f"NodeName={self.node}", "State=RESUME")
            time.sleep(0.1)
        raise RuntimeError(f"node {self.node} not idle after {timeout:.0f} s (state {state!r}): {self.tails()}")

    def _wait_pid(self, name: str, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid = self.pid(name)
            if pid:
                return pid
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not come up: {self.tails()}")

    # -- use --------------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        return {"SLURM_CONF": self.conf}

    def client(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
        env["SLURM_CONF"] = self.conf
        return subprocess.run([_which(command[0]) or command[0], *command[1:]], check=False, capture_output=True,
                              text=True, env=env, timeout=timeout)

    def pid(self, name: str) -> int | None:
        """The live pid of one of our daemons (it carries our marker), else None."""
        try:
            pid = int((self.run / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._ours(pid) else None

    def _ours(self, pid: int) -> bool:
        try:
            entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"{MARKER}={self.base}".encode() in entries

    def stepds(self) -> list[int]:
        """Our live slurmstepd processes (they keep our slurmd log open)."""
        found = []
        target = str(self.logs / "slurmd.log")
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if not (proc / "comm").read_text().startswith("slurmstepd"):
                    continue
                if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    def tails(self) -> str:
        parts = []
        for path in [*sorted(self.logs.glob("*")), self.base / "munge" / "munged.log"]:
            try:
                parts.append(f"--- {path.name}: " + "\n".join(path.read_text().splitlines()[-10:]))
            except OSError:
                pass
        return "\n".join(parts)

    # -- stop -------------------------------------------------------------------------------------
    @classmethod
    def stop_orphans(cls) -> list[Path]:
        """Stop the clusters of test processes that were killed before their `stop` ran (their
        daemons would otherwise live on beside the next cluster under the same node name)."""
        stopped = []
        for base in Path(tempfile.gettempdir()).glob("wavescope-slurm-*"):
            try:
                owner = int((base / OWNER).read_text())
            except (OSError, ValueError):
                continue
            if _alive(owner):
                continue
            cls(base).stop()
            stopped.append(base)
        return stopped

    def stop(self) -> None:
        """Cancel every job, stop the daemons by pid (compute side first), kill leftover steps."""
        if self.pid("slurmctld"):
            jobs = self.client("squeue", "-h", "-o", "%A").stdout.split()
            if jobs:
                self.client("scancel", *jobs)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and (self.stepds() or
                                                       self.client("squeue", "-h", "-o", "%A").stdout.strip()):
                    time.sleep(0.1)
        for name in ("slurmd", "slurmctld"):
            self._terminate(name)
        for pid in self.stepds():
            self._kill_tree(pid)
        self._terminate("munged")
        shutil.rmtree(self.base, ignore_errors=True)

    def _terminate(self, name: str, seconds: float = 10) -> None:
        pid = self.pid(name)
        if not pid:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._ours(pid):
            time.sleep(0.05)
        if self._ours(pid):
            os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _kill_tree(pid: int) -> None:
        import psutil
        try:
            root = psutil.Process(pid)
            for process in [*root.children(recursive=True), root]:
                process.kill()
        except psutil.Error:
            pass
