"""Confirm the next configuration rollback that waits in a drill's audit log, as the on-call
engineer does with `rollbackctl confirm ENV RUN_ID` once the run says it waits.

The drill environment has no inventory of its own, so the CLI does not know it; this calls
the same library, with the same check that the run still holds the environment's lock.
Usage: confirm_waiting.py ENVIRONMENT BY TIMEOUT_SECONDS SINCE (an ISO time: only a run that
started waiting then or later). Prints the run id it confirmed; exits 1 when no run waited
within the timeout.
"""

from __future__ import annotations

import importlib
import sys
import time
from datetime import UTC, datetime

# rollbackctl puts the checkout's collection on the import path when imported, as for the CLI.
importlib.import_module("rollbackctl")
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import (  # noqa: E402
    confirmation,
    envlock,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog  # noqa: E402


def waiting_since(log: AuditLog, environment: str, since: datetime) -> list[str]:
    return [
        entry["run_id"]
        for entry in log.entries(environment)
        if entry.get("event") == confirmation.AWAITING
        and datetime.fromisoformat(str(entry.get("ts"))) >= since
    ]


def holds_lock(environment: str, run_id: str) -> bool:
    held = envlock.holder(environment)
    return held is not None and held.run_id == run_id and not held.is_stale()


def main(environment: str, by: str, timeout: float, since: datetime) -> int:
    log = AuditLog.for_environment(environment)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = waiting_since(log, environment, since)
        if waiting:
            run_id = waiting[0]
            confirmation.confirm(
                log,
                environment,
                run_id,
                by,
                datetime.now(UTC),
                running=lambda run: holds_lock(environment, run),
            )
            print(run_id)
            return 0
        time.sleep(0.2)
    print(f"no configuration rollback waited in {environment} in {timeout:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(
        main(sys.argv[1], sys.argv[2], float(sys.argv[3]), datetime.fromisoformat(sys.argv[4]))
    )
