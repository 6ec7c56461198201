"""Wall time of `rollbackctl full` to a restore point, and how long users get the maintenance
page, against the same recovery typed by hand.

By hand, as the runbook has it: maintenance flag, read-only mode, app hosts stopped, the
database dropped and restored from the restore point's backup with pg_restore, each app
host's `current` link switched, the configuration files written from git, nginx reloaded,
writes back, app hosts started, flag removed. No check first, no safety copy (the dropped
database is gone), no staging restore, no infrastructure snapshot, no checklist.

Both run in the same process on the same private sandbox, alternating, so machine load
affects them alike. The first rollbackctl run moves the bad release back; every later run of
either kind restores the same database and finds the release and files already there.

    .venv/bin/python benchmarks/full_rollback.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from stack import CLI, medians, private_sandbox, sh, status_of

PSQL = "psql -qAt -h 127.0.0.1 -p $DB_PORT -U postgres -d postgres"
RAW_FULL = rf"""
set -euo pipefail
echo '{{"by": "hand"}}' > "$ROOT/nginx/conf/maintenance.json"
{PSQL} -c "ALTER DATABASE market SET default_transaction_read_only = on" >/dev/null
for host in app1 app2; do "$ROOT/app/$host/bin/appctl" stop >/dev/null; done
{PSQL} -c "DROP DATABASE market WITH (FORCE)" >/dev/null
{PSQL} -c "CREATE DATABASE market OWNER market" >/dev/null
/usr/lib/postgresql/15/bin/pg_restore -h 127.0.0.1 -p "$DB_PORT" -U postgres -d market \
  -j 2 "$ROOT/backups/$BACKUP/dump"
for host in app1 app2; do
  ln -sfn "releases/$RELEASE" "$ROOT/app/$host/current"
  git -C "$ROOT/config" show "$COMMIT:app/settings.env" > "$ROOT/app/$host/shared/settings.env"
done
git -C "$ROOT/config" show "$COMMIT:nginx/site.conf" > "$ROOT/nginx/conf/site.d/site.conf"
nginx -s reload -p "$ROOT/nginx/" -c conf/nginx.conf
for host in app1 app2; do "$ROOT/app/$host/bin/appctl" ensure-started >/dev/null; done
rm -f "$ROOT/nginx/conf/maintenance.json"
until [ "$(curl -s -o /dev/null -w '%{{http_code}}' "$URL/api/admin/summary")" = 401 ]; do
  sleep 0.05
done
"""


def run_watched(cmd: list[str], env: dict[str, str], url: str) -> tuple[float, float]:
    """(whole command, seconds users got the maintenance page) of one run."""
    started = time.perf_counter()
    window: list[float] = []
    done = threading.Event()

    def watch() -> None:
        page_since = None
        while not done.is_set():
            maintenance = status_of(url) == 503
            now = time.perf_counter()
            if maintenance and page_since is None:
                page_since = now
            elif not maintenance and page_since is not None:
                window.append(now - page_since)
                page_since = None
            time.sleep(0.02)
        if page_since is not None:
            window.append(time.perf_counter() - page_since)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sh(cmd, env)
    finally:
        whole = time.perf_counter() - started
        done.set()
        watcher.join(timeout=5)
    return whole, sum(window)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with private_sandbox() as stack:
        env = stack.env
        listed = json.loads(sh([*CLI, "restore-points", "sandbox", "-o", "json"], env).stdout)
        point = listed["restore_points"][0]
        url = f"{stack.url}/api/admin/summary"
        raw_env = {
            **env,
            "ROOT": str(stack.root),
            "URL": stack.url,
            "DB_PORT": str(stack.db_port),
            "BACKUP": point["backup"],
            "RELEASE": point["release"],
            "COMMIT": point["config_commit"],
        }
        full = [*CLI, "full", "sandbox", "--to", point["id"], "--yes"]
        samples: dict[str, list[float]] = {
            "full_rollbackctl_s": [],
            "full_raw_s": [],
            "page_up_rollbackctl_s": [],
            "page_up_raw_s": [],
        }
        for run in range(args.runs):
            whole, page = run_watched(full, env, url)
            samples["full_rollbackctl_s"].append(whole)
            samples["page_up_rollbackctl_s"].append(page)
            whole, page = run_watched(["bash", "-c", RAW_FULL], raw_env, url)
            samples["full_raw_s"].append(whole)
            samples["page_up_raw_s"].append(page)
            print(
                f"run {run + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in samples.items()),
                file=sys.stderr,
            )
        median = medians(samples)
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "restore_point": point["id"],
                    "medians": median,
                    "ratios": {
                        "full": round(median["full_rollbackctl_s"] / median["full_raw_s"], 2),
                        "page_up": round(
                            median["page_up_rollbackctl_s"] / median["page_up_raw_s"], 2
                        ),
                    },
                    "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
