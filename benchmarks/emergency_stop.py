"""Wall time of `rollbackctl emergency-stop` and `resume` against the same steps typed by hand.

By hand, as the runbook has it: the maintenance flag file (the switch the sandbox's nginx
reads), read-only mode with psql, the app hosts stopped with their supervisor; and back.
Both run in the same process on the same private sandbox, alternating, so machine load
affects them alike. Besides the whole command, each stop records how long users kept being
served after it started (time to the first 503 on an ordinary route), the figure that
matters during an incident.

    .venv/bin/python benchmarks/emergency_stop.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from stack import CLI, medians, private_sandbox, sh, status_of, timed

SQL_READ_ONLY = (
    "ALTER DATABASE market SET default_transaction_read_only = on; "
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = 'market' AND pid <> pg_backend_pid();"
)
RAW_STOP = r"""
set -euo pipefail
echo '{"by": "hand"}' > "$ROOT/nginx/conf/maintenance.json"
psql -qAt -h 127.0.0.1 -p "$DB_PORT" -U postgres -d postgres -c "$SQL_READ_ONLY" >/dev/null
for host in app1 app2; do "$ROOT/app/$host/bin/appctl" stop >/dev/null; done
"""
RAW_RESUME = r"""
set -euo pipefail
for host in app1 app2; do "$ROOT/app/$host/bin/appctl" ensure-started >/dev/null; done
psql -qAt -h 127.0.0.1 -p "$DB_PORT" -U postgres -d postgres \
  -c "ALTER DATABASE market RESET default_transaction_read_only" >/dev/null
rm -f "$ROOT/nginx/conf/maintenance.json"
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/admin/summary")" = 401 ]; do
  sleep 0.05
done
"""


def stop_timed(cmd: list[str], env: dict[str, str], url: str) -> tuple[float, float]:
    """(whole command, until users first got the maintenance page) in seconds."""
    started = time.perf_counter()
    first_503: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if status_of(url) == 503:
                first_503.append(time.perf_counter() - started)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sh(cmd, env)
    finally:
        whole = time.perf_counter() - started
        watcher.join(timeout=5)
        done.set()
    return whole, first_503[0] if first_503 else whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    # The good release live: resume verifies it.
    with private_sandbox(good_release_live=True) as stack:
        env = stack.env
        url = f"{stack.url}/api/admin/summary"
        raw_env = {
            **env,
            "ROOT": str(stack.root),
            "URL": stack.url,
            "DB_PORT": str(stack.db_port),
            "SQL_READ_ONLY": SQL_READ_ONLY,
        }
        samples: dict[str, list[float]] = {
            "stop_rollbackctl_s": [],
            "stop_raw_s": [],
            "page_up_rollbackctl_s": [],
            "page_up_raw_s": [],
            "resume_rollbackctl_s": [],
            "resume_raw_s": [],
        }
        for run in range(args.runs):
            whole, page = stop_timed([*CLI, "emergency-stop", "sandbox"], env, url)
            samples["stop_rollbackctl_s"].append(whole)
            samples["page_up_rollbackctl_s"].append(page)
            samples["resume_rollbackctl_s"].append(timed([*CLI, "resume", "sandbox", "--yes"], env))
            whole, page = stop_timed(["bash", "-c", RAW_STOP], raw_env, url)
            samples["stop_raw_s"].append(whole)
            samples["page_up_raw_s"].append(page)
            samples["resume_raw_s"].append(timed(["bash", "-c", RAW_RESUME], raw_env))
            print(
                f"run {run + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in samples.items()),
                file=sys.stderr,
            )
        median = medians(samples)
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "medians": median,
                    "ratios": {
                        "stop": round(median["stop_rollbackctl_s"] / median["stop_raw_s"], 2),
                        "resume": round(median["resume_rollbackctl_s"] / median["resume_raw_s"], 2),
                    },
                    "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
