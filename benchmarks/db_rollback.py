"""Database rollback: `rollbackctl db` against the runbook's way, on a generated database.

Both restore the same backup state of a private sandbox, in the same run, while a writer places
an order through nginx every 100 ms. Reported per method: total wall time and the longest window
in which the writer's orders failed. The runbook's way: stop the app, `pg_dump | gzip` safety
backup, drop and recreate the database, `gunzip | psql` the previous backup, start the app.

    .venv/bin/python benchmarks/db_rollback.py [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from stack import CLI, private_sandbox, sh

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CUSTOMER = {"email": "customer@example.com", "password": "customer-pass"}
# An order row with its index entries takes about this much room on disk.
BYTES_PER_ORDER = 130
PROBE_INTERVAL_S = 0.1

RUNBOOK_ROLLBACK = r"""
set -euo pipefail
for host in app1 app2; do "$ROOT/app/$host/bin/appctl" stop >/dev/null; done
"$PG/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres market | gzip > "$WORK/safety.sql.gz"
"$PG/dropdb" -h 127.0.0.1 -p "$PORT" -U postgres market
"$PG/createdb" -h 127.0.0.1 -p "$PORT" -U postgres -O market market
gunzip -c "$WORK/previous.sql.gz" \
  | "$PG/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres market >/dev/null
for host in app1 app2; do "$ROOT/app/$host/bin/appctl" ensure-started >/dev/null; done
until curl -fs "$URL/api/health" | grep -q '"db_schema_version": 1'; do sleep 0.05; done
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Writer(threading.Thread):
    """Places an order through nginx every 100 ms and remembers which attempts failed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.token: str | None = None

    def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read() or b"{}")

    def attempt(self) -> bool:
        try:
            if not self.token:
                self.token = self._post("/api/login", CUSTOMER)["token"]
            self._post("/api/orders", {"product_id": 1, "quantity": 1}, self.token)
            return True
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.samples.append((started, self.attempt()))
            self.stop.wait(max(0.0, PROBE_INTERVAL_S - (time.monotonic() - started)))

    def longest_outage_s(self) -> float:
        """From the first failed attempt of a streak to the next attempt that succeeded."""
        longest, since = 0.0, None
        for at, ok in self.samples:
            if not ok and since is None:
                since = at
            elif ok and since is not None:
                longest, since = max(longest, at - since), None
        if since is not None:
            longest = max(longest, self.samples[-1][0] - since)
        return longest

    def failures(self) -> int:
        return sum(1 for _, ok in self.samples if not ok)


def measured(label: str, url: str, run: Any) -> dict[str, Any]:
    writer = Writer(url)
    writer.start()
    time.sleep(1)  # the writer is known to work before the rollback starts
    started = time.perf_counter()
    extra = run() or {}
    total = time.perf_counter() - started
    time.sleep(1)
    writer.stop.set()
    writer.join()
    result = {
        "total_s": round(total, 2),
        "longest_write_outage_s": round(writer.longest_outage_s(), 2),
        "failed_writes": writer.failures(),
        "writes": len(writer.samples),
        **extra,
    }
    log(f"{label}: {result}")
    return result


def grow(env: dict[str, str], port: int, size_mb: int) -> None:
    rows = size_mb * 1024 * 1024 // BYTES_PER_ORDER
    sql = (
        "INSERT INTO orders (user_id, product_id, quantity, total_cents, status, payment_ref)"
        " SELECT (SELECT min(id) FROM users), 1 + g % 3, 1, 2500, 'paid', md5(g::text)"
        f" FROM generate_series(1, {rows}) g"
    )
    psql = [str(PG_BIN / "psql"), "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    sh([*psql, "-d", "market", "-c", sql], env)
    sh([*psql, "-d", "market", "-c", "VACUUM ANALYZE"], env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="generated data, in MB")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox up afterwards")
    args = parser.parse_args()

    log("sandbox up")
    # The good release, so orders succeed.
    with private_sandbox(good_release_live=True, keep=args.keep) as stack:
        env, state = stack.env, stack.state
        port, url = stack.db_port, stack.url
        log(f"generating about {args.size_mb} MB of orders")
        grow(env, port, args.size_mb)
        size = sh(
            [
                str(PG_BIN / "psql"),
                *("-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "market"),
                "-c",
                "SELECT pg_database_size('market')",
            ],
            env,
        ).stdout.strip()
        log(f"database size {int(size) / 2**20:.0f} MiB; taking and verifying the backup")
        backup = json.loads(sh([*CLI, "backup", "sandbox", "-o", "json"], env).stdout)["backup"]
        sh([*CLI, "backups", "verify", "sandbox", backup["id"]], env)
        # The runbook's previous backup is the same state, as plain SQL through gzip.
        work = state / "runbook"
        work.mkdir()
        dump = f"{PG_BIN}/pg_dump -h 127.0.0.1 -p {port} -U postgres market | gzip"
        sh(["bash", "-o", "pipefail", "-c", f"{dump} > {work}/previous.sql.gz"], env)

        result = {}
        restore = [*CLI, "db", "sandbox", "--backup", backup["id"], "--yes", "-o", "json"]

        def rollbackctl_db() -> dict[str, Any]:
            database = json.loads(sh(restore, env).stdout)["database"]
            # The tool's own measure of the write hold, finer than the 100 ms probe.
            return {"swap_ms": float(database["swap_ms"])}

        result["rollbackctl"] = measured("rollbackctl db", url, rollbackctl_db)
        runbook_env = {
            **env,
            "ROOT": f"{state}/sandbox",
            "URL": url,
            "PG": str(PG_BIN),
            "PORT": str(port),
            "WORK": str(work),
        }

        def runbook() -> None:
            sh(["bash", "-c", RUNBOOK_ROLLBACK], runbook_env)

        result["runbook"] = measured("runbook", url, runbook)
        print(
            json.dumps(
                {
                    "database_bytes": int(size),
                    "backup_bytes": backup["size_bytes"],
                    **result,
                    "total_ratio": round(
                        result["rollbackctl"]["total_s"] / result["runbook"]["total_s"], 2
                    ),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
