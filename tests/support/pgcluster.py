"""Run a throwaway PostgreSQL 15 cluster in a temporary folder for tests, as root or not."""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

BIN_DIR = Path("/usr/lib/postgresql/15/bin")
HOST = "127.0.0.1"
SUPERUSER = "postgres"
# Durability is worthless for a cluster that is deleted after the test run.
_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "32MB",
}


class PgClusterError(RuntimeError):
    """initdb or the server failed; the message carries the tail of the server log."""


class PgCluster:
    """A PostgreSQL cluster under base_dir; `with PgCluster(tmp) as pg:` starts and removes it."""

    def __init__(self, base_dir: str | Path | None = None, *, bin_dir: Path = BIN_DIR) -> None:
        self.bin_dir = bin_dir
        # initdb and postgres refuse to run as root, so root hands them to the postgres user.
        self._run_as = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=self._usable_parent(base_dir)))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log_file = self.root / "postgres.log"
        self.port = 0
        self._initialised = False
        self._running = False

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def start(self) -> PgCluster:
        """Create the cluster on first use, then start the server; returns self for chaining."""
        if self._running:
            return self
        if not self._initialised:
            self._initdb()
        # Another process may grab the free port between probing and binding: try a few.
        for _ in range(3):
            self.port = self.port or free_port()
            result = self._pg_ctl(
                "start", "-w", "-t", "30", "-l", str(self.log_file), "-o", f"-p {self.port}"
            )
            if result.returncode == 0:
                self._running = True
                atexit.register(self.stop)
                return self
            if "could not bind" not in self._log_tail():
                break
            self.port = 0
        raise PgClusterError(f"postgres did not start: {self._log_tail()}")

    def stop_server(self) -> None:
        """Stop the server but keep its files, so start() brings the same data back."""
        if self._running:
            self._pg_ctl("stop", "-w", "-t", "30", "-m", "fast")
            self._running = False

    def stop(self) -> None:
        """Stop the server at once and delete every file; safe to call any number of times."""
        if self._running or (self.data_dir / "postmaster.pid").exists():
            result = self._pg_ctl("stop", "-w", "-t", "30", "-m", "immediate")
            if result.returncode != 0:
                self._kill_postmaster()
            self._running = False
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.stop)

    def createdb(self, name: str) -> str:
        """Create a database and return its DSN."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn_for(name)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.dsn_for(dbname), autocommit=True)

    def __enter__(self) -> PgCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _initdb(self) -> None:
        if self._run_as:
            account = pwd.getpwnam(self._run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            self.bin_dir / "initdb",
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        self._run("mkdir", "-m", "0700", str(self.socket_dir))
        settings = {**_SETTINGS, "unix_socket_directories": f"'{self.socket_dir}'"}
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# pgcluster: throwaway test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._initialised = True

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(self.bin_dir / "pg_ctl", "-D", str(self.data_dir), *args, check=False)

    def _run(self, *argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(arg) for arg in argv]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        # cwd: the server's user may not be able to enter the caller's working directory.
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise PgClusterError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")
        return result

    def _kill_postmaster(self) -> None:
        # Last resort when pg_ctl cannot stop it: a leaked server would hold its port forever.
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _usable_parent(self, base_dir: str | Path | None) -> str | None:
        """base_dir if the server's user can reach it, else the system temp folder.

        pytest's tmp_path lives under a 0700 folder owned by root, which postgres cannot enter.
        """
        if base_dir is None or self._run_as is None:
            return None if base_dir is None else str(base_dir)
        account = pwd.getpwnam(self._run_as)
        path = Path(base_dir).resolve()
        for folder in (path, *path.parents):
            mode = folder.stat()
            if mode.st_uid == account.pw_uid:
                bit = stat.S_IXUSR
            elif mode.st_gid == account.pw_gid:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not mode.st_mode & bit:
                return None
        return str(path)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, picked by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
