"""Look at a sandbox's database the way an operator would, and interrupt database runs hard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg

from tests.support.sandbox import REPO_ROOT, Sandbox

DB = "market"
CORE_TABLES = ("users", "orders", "products")
# Runs the same library call `rollbackctl db` makes, plus test-only extra vars (pause hooks).
RESTORE_SCRIPT = """
import json, sys
from rollbackctl.backups import run_restore
args = json.loads(sys.argv[1])
run_restore(args["type"], "sandbox", backup_id=args["backup"], extravars=args["extravars"])
"""


class DbSandbox:
    """A Sandbox plus its PostgreSQL, backups folder and hard-kill helpers."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        status = sandbox.cli("sandbox", "status", "--output", "json").json()
        self.port = int(status["database"]["port"])

    @property
    def backups_dir(self) -> Path:
        return self.sandbox.root / "backups"

    def cli(self, *args: str, timeout: int = 600):
        return self.sandbox.cli(*args, timeout=timeout)

    # --- the database ---------------------------------------------------------------------
    @contextmanager
    def connect(self, dbname: str = DB, user: str = "postgres") -> Iterator[psycopg.Connection]:
        conn = psycopg.connect(
            host="127.0.0.1", port=self.port, user=user, dbname=dbname, autocommit=True
        )
        with conn:
            yield conn

    def query(self, sql: str, dbname: str = DB, user: str = "postgres") -> list[tuple[Any, ...]]:
        with self.connect(dbname, user) as conn:
            return conn.execute(sql).fetchall()

    def execute(self, sql: str, dbname: str = DB, user: str = "postgres") -> None:
        with self.connect(dbname, user) as conn:
            conn.execute(sql)

    def databases(self) -> set[str]:
        return {row[0] for row in self.query("SELECT datname FROM pg_database", "postgres")}

    def row_counts(self, dbname: str = DB) -> dict[str, int]:
        return {t: self.query(f"SELECT count(*) FROM {t}", dbname)[0][0] for t in CORE_TABLES}

    def add_user(self, email: str, dbname: str = DB) -> None:
        self.execute(
            f"INSERT INTO users (email, password_hash) VALUES ('{email}', 'x')", dbname, "market"
        )

    def emails(self, dbname: str = DB) -> set[str]:
        return {row[0] for row in self.query("SELECT email FROM users", dbname)}

    # --- backups ----------------------------------------------------------------------------
    def take_backup(self, verify: bool = False) -> dict[str, Any]:
        result = self.cli("backup", "sandbox", "--output", "json")
        assert result.code == 0, result.stderr
        backup = result.json()["backup"]
        if verify:
            verified = self.cli("backups", "verify", "sandbox", backup["id"])
            assert verified.code == 0, verified.stderr
        return backup

    def backups(self) -> list[dict[str, Any]]:
        result = self.cli("backups", "list", "sandbox", "--output", "json")
        assert result.code == 0, result.stderr
        return result.json()["backups"]

    def flip_byte(self, backup_id: str) -> Path:
        """Corrupt one byte of the largest data file of a backup."""
        dump = self.backups_dir / backup_id / "dump"
        victim = max(
            (p for p in dump.iterdir() if p.name != "toc.dat"), key=lambda p: p.stat().st_size
        )
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        return victim

    # --- interrupted runs -------------------------------------------------------------------
    def start_restore(
        self, backup_id: str, extravars: dict[str, Any], rollback_type: str = "db"
    ) -> subprocess.Popen[bytes]:
        args = {"type": rollback_type, "backup": backup_id, "extravars": extravars}
        return subprocess.Popen(
            [sys.executable, "-c", RESTORE_SCRIPT, json.dumps(args)],
            cwd=REPO_ROOT,
            env=self.sandbox.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_for_file(self, pattern: str, proc: subprocess.Popen[bytes], timeout: float = 180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = list(self.backups_dir.glob(pattern)) if self.backups_dir.exists() else []
            if found:
                return found[0]
            if proc.poll() is not None:
                raise AssertionError(f"run ended (exit {proc.returncode}) before {pattern}")
            time.sleep(0.2)
        raise AssertionError(f"{pattern} did not appear within {timeout}s")

    def wait_until_gone(self, name: str, timeout: float = 15) -> None:
        """The server ends a killed client's session, and its transaction, asynchronously."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.query(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                " AND application_name IN ('rollbackctl', 'pg_dump', 'pg_restore')",
                "postgres",
            )[0][0]
            if not busy:
                return
            time.sleep(0.1)
        raise AssertionError(f"sessions of the killed run stayed after {timeout}s ({name})")


def descendants(pid: int) -> list[int]:
    """pid and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 the CLI process and everything it started (ansible, modules, pg_dump...)."""
    tree = descendants(proc.pid)
    # Freeze first so nothing forks or reacts between the kills.
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in tree:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
    proc.wait(timeout=10)
