"""Look at a sandbox's database the way an operator would, and kill -9 database runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg

from tests.support.sandbox import ROLLBACKCTL, Sandbox

DB = "market"
CORE_TABLES = ("users", "orders", "products")


class DbSandbox:
    """A Sandbox plus its PostgreSQL, backups folder and runs to interrupt."""

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

    def schema_version(self, dbname: str = DB) -> int:
        return int(self.query("SELECT max(version) FROM schema_migrations", dbname)[0][0])

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
    @property
    def runs_dir(self) -> Path:
        return self.sandbox.runs_dir

    @property
    def journal_path(self) -> Path:
        """The restore journal on the db host: the phase the restore of market is in."""
        return self.backups_dir / f"restore-{DB}.journal.json"

    def journal_phase(self) -> str | None:
        try:
            return json.loads(self.journal_path.read_text())["phase"]
        except FileNotFoundError:
            return None

    def grow(self, orders: int) -> None:
        """Add order rows, so a dump or a restore lasts long enough to be seen while it runs."""
        self.execute(
            "INSERT INTO orders (user_id, product_id, quantity, total_cents, status, payment_ref)"
            " SELECT (SELECT min(id) FROM users), (SELECT min(id) FROM products), 1, 2500,"
            f" 'paid', md5(g::text) FROM generate_series(1, {int(orders)}) g"
        )
        self.execute("VACUUM ANALYZE orders")

    def connected(self, conn: psycopg.Connection, application: str, database: str) -> bool:
        """Whether `application` has a session on a database whose name starts with `database`."""
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                " AND application_name = %s AND starts_with(datname, %s)",
                [application, database],
            ).fetchone()[0]
        )

    def start_cli(self, *args: str) -> subprocess.Popen[bytes]:
        """The real CLI as an operator's shell starts it: a session of its own."""
        return subprocess.Popen(
            [str(ROLLBACKCTL), *args],
            env=self.sandbox.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_run(self, *args: str, timeout: float = 120) -> Run:
        """Start `rollbackctl ARGS` and return its run once its folder exists."""
        before = set(os.listdir(self.runs_dir)) if self.runs_dir.exists() else set()
        cli = self.start_cli(*args)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = (
                sorted(set(os.listdir(self.runs_dir)) - before) if self.runs_dir.exists() else []
            )
            if fresh:
                return Run(self.runs_dir / fresh[-1], cli)
            if cli.poll() is not None:
                raise AssertionError(f"rollbackctl {' '.join(args)} ended (exit {cli.returncode})")
            time.sleep(0.1)
        kill_tree([cli.pid])
        raise AssertionError(f"rollbackctl {' '.join(args)} started no run within {timeout}s")

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


def process_groups() -> dict[int, list[int]]:
    """Process group id -> its members, from /proc."""
    groups: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        groups.setdefault(int(fields[2]), []).append(int(stat.parent.name))
    return groups


def kill_tree(roots: list[int], groups: tuple[int, ...] = ()) -> list[int]:
    """kill -9 the roots, every process below them and every member of the given groups.

    All of them are frozen first, so nothing forks, reacts or cleans up between the kills.
    Returns the pids killed.
    """
    stopped: set[int] = set()
    while True:
        members = process_groups()
        tree = {pid for root in roots for pid in descendants(root)}
        tree |= {pid for group in groups for pid in members.get(group, [])}
        # The freeze goes on until a look finds nothing new: a fork between looks is caught.
        fresh = tree - stopped
        if not fresh:
            break
        for pid in fresh:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= fresh
    for pid in stopped:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return sorted(stopped)


Event = dict[str, Any]


class Run:
    """A run the CLI started: its folder, its job events and the processes that make it."""

    def __init__(self, run_dir: Path, cli: subprocess.Popen[bytes]) -> None:
        self.dir = run_dir
        self.cli = cli

    @property
    def id(self) -> str:
        return self.dir.name

    def events(self) -> list[Event]:
        folder = self.dir / "artifacts" / "ansible" / "job_events"
        found = []
        for path in folder.glob("*.json") if folder.exists() else []:
            # ansible-runner renames each event into place whole; partial files are not events.
            if not re.match(r"^\d+-[0-9a-fA-F-]+\.json$", path.name):
                continue
            with suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
        return sorted(found, key=lambda e: e["counter"])

    def saw(self, event: str, task: str) -> bool:
        """Whether the run reported `event` for a task whose name starts with `task`."""
        return any(
            e.get("event") == event
            and str((e.get("event_data") or {}).get("task", "")).startswith(task)
            for e in self.events()
        )

    def ended(self) -> bool:
        return (self.dir / "status.json").exists()

    def supervisor_pid(self) -> int | None:
        """The pid the supervisor recorded, else the process running this run dir's supervise."""
        with suppress(FileNotFoundError, ValueError, KeyError):
            return int(json.loads((self.dir / "supervisor.json").read_text())["pid"])
        wanted = ["-m", "rollbackctl.run.supervise", str(self.dir)]
        found = {}
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with suppress(OSError):
                argv = cmdline.read_bytes().decode(errors="replace").split("\0")[:-1]
                if argv[-3:] == wanted:
                    found[int(cmdline.parent.name)] = _ppid(int(cmdline.parent.name))
        # Before it execs ansible-playbook, the supervisor's forked child shows the same command.
        roots = [pid for pid, parent in found.items() if parent not in found]
        return roots[0] if roots else None

    def wait_until(
        self, what: str, reached: Callable[[], bool], timeout: float = 300, poll: float = 0.02
    ) -> None:
        """Poll until reached() is true; the run must not end first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reached():
                return
            if self.ended() or self.cli.poll() is not None:
                raise AssertionError(f"run {self.id} ended before {what}")
            time.sleep(poll)
        raise AssertionError(f"run {self.id} did not reach {what} within {timeout}s")

    def kill_9(self) -> list[int]:
        """kill -9 the whole run: its supervisor's process group and every process below it.

        ansible-playbook runs on a terminal of its own (a new session) and Ansible's workers
        start sessions of their own too, so the supervisor's group alone is not the run: the
        tree below the supervisor is. The CLI that follows the run goes with it.
        """
        roots, groups = [self.cli.pid], [self.cli.pid]
        supervisor = self.supervisor_pid()
        if supervisor is not None:
            roots.append(supervisor)
            with suppress(ProcessLookupError):
                groups.append(os.getpgid(supervisor))
        killed = kill_tree(roots, tuple(groups))
        self.cli.wait(timeout=30)
        return killed


def _ppid(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0
