"""Child processes of a run: started pinned to one CPU, checked for health, stopped by PID.

`Procs` is a context manager: every process it started is stopped on exit (SIGTERM, then SIGKILL
after a grace period), together with any children it forked (e.g. gateway workers). Should the
run itself be killed outright, the kernel sends its children SIGTERM (``PR_SET_PDEATHSIG``).
Every wait here has a deadline.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


def loopback_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to ``LOOPBACK:port``: status, lower-cased headers, body."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


_TICK = os.sysconf("SC_CLK_TCK")


def can_pin() -> bool:
    """Pinning needs taskset and at least two CPUs we may run on."""
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    """``argv`` prefixed with ``taskset -c CPU`` (unchanged when ``cpu`` is None)."""
    return list(argv) if cpu is None else ["taskset", "-c", str(cpu), *argv]


def free_port() -> int:
    """A port that was free on loopback a moment ago."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """PIDs of every live process below ``pid`` (Linux /proc), children first."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its live descendants, in seconds."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _TICK


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the run itself dies (even by SIGKILL).

    Linux ``prctl(PR_SET_PDEATHSIG)``; it survives the exec of taskset and of the program.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ProcError(RuntimeError):
    pass


class Procs:
    """Starts and stops the processes of one run; use as ``with Procs(logdir) as procs:``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self._running: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpu: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` (pinned to ``cpu``); its output goes to ``<logdir>/<name>.log``."""
        log = open(self.logdir / f"{name}.log", "wb")  # the child keeps its own copy
        try:
            proc = subprocess.Popen(
                pinned(argv, cpu),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env or os.environ),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        proc.name = name  # type: ignore[attr-defined]
        self._running.append(proc)
        return proc

    def log_tail(self, proc: subprocess.Popen[bytes], limit: int = 2000) -> str:
        path = self.logdir / f"{getattr(proc, 'name', proc.pid)}.log"
        try:
            return path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def wait_http(
        self, proc: subprocess.Popen[bytes], port: int, path: str = "/health", timeout: float = 20.0
    ) -> None:
        """Wait until ``GET path`` on ``port`` answers 200; fail if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ProcError(
                    f"{proc.args} exited with {proc.returncode}:\n{self.log_tail(proc)}"
                )
            try:
                conn = http.client.HTTPConnection(LOOPBACK, port, timeout=1.0)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise ProcError(
            f"{proc.args} not healthy on {LOOPBACK}:{port}{path} after {timeout}s:\n"
            f"{self.log_tail(proc)}"
        )

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """SIGTERM ``proc`` by PID, SIGKILL it after ``grace``; then any child it left."""
        if proc in self._running:
            self._running.remove(proc)
        kids = descendants(proc.pid) if proc.poll() is None else []
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace)
        for kid in kids:
            _stop_pid(kid, grace)

    def close(self) -> None:
        """Stop every process still running, last started first."""
        for proc in reversed(list(self._running)):
            self.stop(proc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _stop_pid(pid: int, grace: float) -> None:
    """Stop a process that is not our direct child (so cannot be waited for)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _alive(pid):
            return
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
