"""Drive a private sandbox stack through the real CLI, and look at it the way a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLLBACKCTL = REPO_ROOT / ".venv" / "bin" / "rollbackctl"
APP_HOSTS = ("app1", "app2")
INTEGRATION_SERVICES = ("payment", "email", "push")
GIT_AUTHOR = ["-c", "user.name=Config Tester", "-c", "user.email=tester@example.invalid"]
FINGERPRINT_TABLES = ("users", "products", "orders", "notifications", "schema_migrations")
CUSTOMER = {"email": "customer@example.com", "password": "customer-pass"}


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


CLI_MAIN = "import sys; from rollbackctl.cli.main import main; sys.exit(main())"


class Sandbox:
    """A stack of its own for one local environment under state_dir, on free ports.

    checkout is the tree the CLI and ansible-playbook run from; a guarded stack gets a copy of
    its own, so that its trust root (the policy's state_dir, under the checkout) is its own.
    """

    def __init__(
        self,
        state_dir: Path,
        environment: str = "sandbox",
        checkout: Path = REPO_ROOT,
        runtime: str = "service",
    ) -> None:
        self.state_dir = state_dir
        self.environment = environment
        self.checkout = checkout
        self.runtime = runtime
        self.env = {**os.environ, "ROLLBACKCTL_STATE_DIR": str(state_dir)}
        self._snapshot = state_dir / f"test-snapshot-{environment}"
        # Approvers' and requesters' keys, by name (guarded stacks).
        self.keys: dict[str, Path] = {}

    @property
    def root(self) -> Path:
        return self.state_dir / self.environment

    @property
    def guarded(self) -> bool:
        return self.environment != "sandbox"

    @property
    def trust_dir(self) -> Path:
        """Where the environment's lock, nonces, signers and audit log live."""
        if self.guarded:
            return self.checkout / ".state" / "guarded" / self.environment
        return self.state_dir

    @property
    def runs_dir(self) -> Path:
        """Where the CLI keeps each run's folder (its evidence)."""
        return self.state_dir / "runs"

    def latest_run_dir(self) -> Path:
        """The folder of the run that started last."""
        return max(self.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)

    def config_exports_of(self, run_dir: Path) -> list[Path]:
        """The controller folders a run exported configuration commits into (its events say)."""
        from rollbackctl.run.runner import EventFolder

        paths = []
        for event in EventFolder(run_dir).read_new():
            path = str(((event.get("event_data") or {}).get("res") or {}).get("path") or "")
            if Path(path).name.startswith("rollbackctl-config-"):
                paths.append(Path(path))
        return paths

    @property
    def audit_path(self) -> Path:
        return self.trust_dir / "audit.jsonl"

    def audit_entries(self) -> list[dict[str, Any]]:
        return _json_lines(self.audit_path)

    def local_refusals(self) -> list[dict[str, Any]]:
        """Refusals recorded before the environment was known, in the caller's local log."""
        entries = _json_lines(self.state_dir / "audit.jsonl")
        return [e for e in entries if e.get("outcome") == "refused"]

    def locks(self) -> list[str]:
        folder = self.trust_dir / "locks"
        return sorted(p.name for p in folder.glob("*.lock")) if folder.exists() else []

    def cli(self, *args: str, stdin: str | None = None, timeout: int = 600) -> CliResult:
        return self.cli_with(self.env, *args, stdin=stdin, timeout=timeout)

    def cli_with(
        self, env: dict[str, str], *args: str, stdin: str | None = None, timeout: int = 600
    ) -> CliResult:
        """The real CLI from this stack's checkout, with the environment variables env."""
        # From a copy, the library (and the checkout it trusts) must be the copy's.
        command = (
            [str(ROLLBACKCTL)]
            if self.checkout == REPO_ROOT
            else [str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", CLI_MAIN]
        )
        proc = subprocess.run(
            [*command, *args],
            cwd=self.checkout,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def up(self) -> dict[str, Any]:
        result = self.cli(
            "sandbox", "up", "--env", self.environment, "--runtime", self.runtime, "-o", "json"
        )
        assert result.code == 0, result.stderr
        return result.json()

    def stop(self) -> None:
        """Stop every process of the stack, keeping its files."""
        self.down(purge=False)

    def down(self, purge: bool = True) -> None:
        purging = ["--purge"] if purge else []
        result = self.cli("sandbox", "down", "--env", self.environment, *purging)
        assert result.code == 0, f"sandbox down left processes running: {result.stderr}"

    def status(self) -> dict[str, Any]:
        return self.cli("sandbox", "status", "--env", self.environment, "--output", "json").json()

    @property
    def ports(self) -> dict[str, int]:
        """The stack's ports, as `sandbox up` chose them once (sandbox.json); `sandbox status`
        reports the same (test_app_rollback checks it), without a CLI process per request."""
        return json.loads((self.root / "sandbox.json").read_text())["ports"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['lb1']}"

    @property
    def db_port(self) -> int:
        return int(self.ports["db1"])

    # --- what users and operators see -------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, token: str | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def fetch(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
        """Status, headers and body text of a request through nginx, whatever it answers."""
        data = b"{}" if method in ("POST", "PUT") else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def alertmanager(self, path: str, body: Any = None) -> Any:
        """An Alertmanager API v2 call on the stack's own Alertmanager."""
        port = json.loads((self.root / "sandbox.json").read_text())["monitoring"]["alertmanager"]
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v2/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def prometheus(self, path: str) -> Any:
        """A Prometheus HTTP API call (api/v1/PATH) on the stack's own Prometheus; its data."""
        port = json.loads((self.root / "sandbox.json").read_text())["monitoring"]["prometheus"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def silence_of(self, run_id: str) -> dict[str, Any]:
        """The one silence run_id made in the stack's Alertmanager."""
        (silence,) = [s for s in self.alertmanager("silences") if run_id in s["comment"]]
        return silence

    def rollback_events(self, run_id: str) -> list[dict[str, Any]]:
        """The RollbackRan events run_id posted to the stack's Alertmanager."""
        return [
            a
            for a in self.alertmanager("alerts")
            if a["labels"].get("alertname") == "RollbackRan" and a["labels"].get("run_id") == run_id
        ]

    def served_release(self) -> str:
        """The release nginx's health route reports, or what nginx answered instead."""
        status, _, body = self.fetch("/api/health")
        return json.loads(body)["release"] if status == 200 else f"unavailable (HTTP {status})"

    @property
    def maintenance_flag(self) -> Path:
        """The file whose presence makes nginx serve the maintenance page."""
        return self.root / "nginx" / "conf" / "maintenance.json"

    def place_order(self) -> int:
        """HTTP status of a real order placed through nginx."""
        _, login = self.request("POST", "/api/login", CUSTOMER)
        status, _ = self.request(
            "POST", "/api/orders", {"product_id": 1, "quantity": 1}, login["token"]
        )
        return status

    def ledgers(self) -> dict[str, Any]:
        return {
            host: json.loads((self.root / "app" / host / "ledger.json").read_text())
            for host in APP_HOSTS
        }

    def states(self) -> dict[str, dict[str, str]]:
        """host -> release -> state, plus 'current'."""
        out = {}
        for host, ledger in self.ledgers().items():
            out[host] = {rid: r["state"] for rid, r in ledger["releases"].items()}
            out[host]["current"] = ledger["current"]
        return out

    def current_links(self) -> dict[str, str]:
        return {h: (self.root / "app" / h / "current").readlink().name for h in APP_HOSTS}

    def host_state(self) -> dict[str, Any]:
        """Everything a rollback may change; equal before and after means nothing changed."""
        return {
            "ledgers": self.ledgers(),
            "links": self.current_links(),
            "served": self.served_release(),
            "upstream": sorted(
                p.read_text() for p in (self.root / "nginx/conf/upstream.d").glob("*.conf")
            ),
            "config": {
                h: (self.root / "app" / h / "shared/app.env").read_text() for h in APP_HOSTS
            },
            "managed_config": self.managed_config(),
            "database": self.database_fingerprint(),
            "maintenance": self.maintenance_flag.exists(),
        }

    def database_fingerprint(self) -> dict[str, Any]:
        """The databases that exist, the live one's settings, and a checksum of its tables."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.db_port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            databases = sorted(r[0] for r in conn.execute("SELECT datname FROM pg_database"))
            settings = conn.execute(
                "SELECT coalesce(array_to_string(s.setconfig, ','), '') FROM pg_database d"
                " LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0"
                " WHERE d.datname = 'market'"
            ).fetchall()
        tables = {}
        with psycopg.connect(
            host="127.0.0.1", port=self.db_port, user="postgres", dbname="market", autocommit=True
        ) as conn:
            for table in FINGERPRINT_TABLES:
                tables[table] = conn.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    f" FROM {table} t"
                ).fetchone()
        return {"databases": databases, "settings": settings, "tables": tables}

    def upstream_servers(self) -> list[str]:
        """The server lines of nginx's app upstream, as the rollout writes them."""
        folder = self.root / "nginx" / "conf" / "upstream.d"
        return [line for p in folder.glob("*.conf") for line in p.read_text().splitlines() if line]

    def config_git(self, *args: str) -> str:
        """git in the stack's configuration repository, as a tester who commits; its output."""
        done = subprocess.run(
            ["git", "-C", str(self.root / "config"), *GIT_AUTHOR, *args],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def release_file(self, host: str, release: str) -> Path:
        return self.root / "app" / host / "releases" / release / "release.json"

    # --- fast reset between tests --------------------------------------------------------
    def managed_config(self) -> dict[str, str]:
        """The managed configuration and integration files and their ledgers, by path under the
        stack."""
        paths = [self.root / "nginx/conf/site.d/site.conf", self.root / "nginx/config-ledger.json"]
        for host in APP_HOSTS:
            paths += [
                self.root / "app" / host / "shared/settings.env",
                self.root / "app" / host / "config-ledger.json",
            ]
            for service in INTEGRATION_SERVICES:
                paths += [
                    self.root / "app" / host / f"shared/integrations/{service}.env",
                    self.root / "app" / host / f"integrations/{service}/ledger.json",
                ]
        return {str(p.relative_to(self.root)): p.read_text() if p.exists() else "" for p in paths}

    def snapshot(self) -> None:
        """Remember ledgers, current links and upstream entries as they are now."""
        shutil.rmtree(self._snapshot, ignore_errors=True)
        for host in APP_HOSTS:
            dest = self._snapshot / host
            dest.mkdir(parents=True)
            shutil.copy2(self.root / "app" / host / "ledger.json", dest / "ledger.json")
            (dest / "current").write_text(self.current_links()[host])
            shutil.copytree(self.root / "app" / host / "releases", dest / "releases")
        shutil.copytree(self.root / "nginx/conf/upstream.d", self._snapshot / "upstream.d")

    def matches_snapshot(self) -> bool:
        """True when ledgers, links, release folders and upstreams are the snapshot's, and
        each app host and nginx serve the snapshot's release: a restore would change nothing."""
        links = self.current_links()
        for host in APP_HOSTS:
            src, app = self._snapshot / host, self.root / "app" / host
            if (app / "ledger.json").read_bytes() != (src / "ledger.json").read_bytes():
                return False
            if links[host] != (src / "current").read_text():
                return False
            if sorted(os.listdir(app / "releases")) != sorted(os.listdir(src / "releases")):
                return False
        if _file_texts(self.root / "nginx/conf/upstream.d") != _file_texts(
            self._snapshot / "upstream.d"
        ):
            return False
        ports = self.ports
        served = {host: _release_at(ports[host]) for host in APP_HOSTS}
        served["nginx"] = _release_at(ports["lb1"])
        expected = {(self._snapshot / host / "current").read_text() for host in APP_HOSTS}
        return len(expected) == 1 and set(served.values()) == expected

    def restore(self) -> None:
        """Put the snapshot back and make every process serve it again (when anything moved)."""
        self._lift_emergency_stop()
        if self.matches_snapshot():
            return
        for host in APP_HOSTS:
            src, app = self._snapshot / host, self.root / "app" / host
            shutil.copy2(src / "ledger.json", app / "ledger.json")
            shutil.rmtree(app / "releases")
            shutil.copytree(src / "releases", app / "releases")
            link = app / "current"
            link.unlink()
            link.symlink_to(f"releases/{(src / 'current').read_text()}")
        upstream = self.root / "nginx/conf/upstream.d"
        shutil.rmtree(upstream)
        shutil.copytree(self._snapshot / "upstream.d", upstream)
        if self.runtime == "container":
            # The stack's owner runs each host's current release again, outside any run.
            result = self.run_playbook("app_service.yml", environment=self.environment)
            assert result.returncode == 0, result.stdout[-3000:]
        else:
            self._restart_services()
        self.reload_nginx()

    def reload_nginx(self) -> None:
        subprocess.run(
            ["nginx", "-s", "reload", "-p", f"{self.root}/nginx/", "-c", "conf/nginx.conf"],
            check=True,
        )

    def _lift_emergency_stop(self) -> None:
        """No maintenance page and a writable database, as after a resume (the app hosts
        come back with the snapshot)."""
        import psycopg

        self.maintenance_flag.unlink(missing_ok=True)
        # From another database: a session of a read-only market could not change it.
        with psycopg.connect(
            host="127.0.0.1", port=self.db_port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("ALTER DATABASE market RESET default_transaction_read_only")

    def _restart_services(self) -> None:
        # Each app host's own supervisor script (what the app_service role runs on it) puts
        # the restored release back in service: the stack's owner resetting it, outside any run.
        starting = {
            host: subprocess.Popen(
                [str(self.root / "app" / host / "bin" / "appctl"), "ensure-started"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for host in APP_HOSTS
        }
        for host, process in starting.items():
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 0, f"{host}: {output[-2000:]}"

    def run_playbook(
        self, playbook: str, *extra: str, environment: str = "sandbox"
    ) -> subprocess.CompletedProcess[str]:
        """Plain ansible-playbook, the way AWX or an operator without the CLI runs it."""
        venv_bin = REPO_ROOT / ".venv" / "bin"
        env = {**self.env, "PATH": f"{venv_bin}:{self.env.get('PATH', '')}"}
        return subprocess.run(
            [
                str(venv_bin / "ansible-playbook"),
                "-i",
                str(self.checkout / "inventories" / environment / "hosts.yml"),
                str(self.checkout / "playbooks" / playbook),
                *extra,
            ],
            cwd=self.checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _file_texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def _release_at(port: int) -> str | None:
    """The release the app (or nginx) on port says it runs; None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as resp:
            return json.loads(resp.read())["release"]
    except (OSError, ValueError, KeyError):
        return None


def without_checklist_writes(state: dict[str, Any]) -> dict[str, Any]:
    """host_state() minus the data every run's checklist writes through the app.

    The checklist signs in, places and pays a real order and sends a notification (users,
    products' stock, orders, notifications); the databases, their settings and the schema
    must still be as they were.
    """
    tables = {
        table: value
        for table, value in state["database"]["tables"].items()
        if table == "schema_migrations"
    }
    return {**state, "database": {**state["database"], "tables": tables}}
