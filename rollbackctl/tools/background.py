"""Processes a local stack runs beside its hosts (the provider stand-ins, Alertmanager): started
detached with a pid file in their folder, found again only while that pid is still the same
program for the same folder, and stopped for good."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

LOOPBACK = "127.0.0.1"


def running_pid(pid_file: Path, program: str, folder: Path) -> int | None:
    """The pid in pid_file while it runs program for folder; None otherwise.

    A pid file outlives a reboot or a crash: the pid must still be that program, started for
    that folder, or it names someone else's process.
    """
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    mine = program.encode() in cmdline and str(folder).encode() in cmdline
    return pid if mine else None


def start(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    ready: Callable[[], bool],
    what: str,
    seconds: float = 10.0,
) -> None:
    """Start argv in a session of its own, logging to log_file, and wait until ready()."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pid_file.unlink(missing_ok=True)
            raise RollbackError(f"{what} did not start (see {log_file})")
        time.sleep(0.05)


def stop(pid: int | None, pid_file: Path) -> None:
    """End pid (SIGTERM, then SIGKILL after 5 s) and remove its pid file."""
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Never leave a process that no pid file names any more.
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def listening(port: int, host: str = LOOPBACK) -> bool:
    """Something accepts connections on this port of host."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def url(port: int) -> str:
    """Where a stack's server on a loopback port answers HTTP."""
    return f"http://{LOOPBACK}:{port}"


def ready(port: int) -> bool:
    """The server on port answers its readiness endpoint (/-/ready, as Prometheus and
    Alertmanager have it)."""
    try:
        with urllib.request.urlopen(f"{url(port)}/-/ready", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def free_port(host: str = LOOPBACK) -> int:
    """A port of host that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
