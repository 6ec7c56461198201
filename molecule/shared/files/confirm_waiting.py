"""Confirm the next configuration rollback that waits in a drill's audit log, as the on-call
engineer does with `rollbackctl confirm ENV RUN_ID` once the run says it waits.

The drill environment has no inventory of its own, so the CLI does not know it; this calls
the same library. Usage: confirm_waiting.py ENVIRONMENT BY TIMEOUT_SECONDS. Prints the run id
it confirmed; exits 1 when no run waited within the timeout.
"""

from __future__ import annotations

import importlib
import sys
import time
from datetime import UTC, datetime

# rollbackctl puts the checkout's collection on the import path when imported, as for the CLI.
importlib.import_module("rollbackctl")
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import confirmation  # noqa: E402
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog  # noqa: E402


def waiting_runs(log: AuditLog, environment: str) -> set[str]:
    return {
        entry["run_id"]
        for entry in log.entries(environment)
        if entry.get("event") == confirmation.AWAITING
    }


def main(environment: str, by: str, timeout: float) -> int:
    log = AuditLog.for_environment(environment)
    # Runs that waited before this one started are not the one to confirm.
    earlier = waiting_runs(log, environment)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = waiting_runs(log, environment) - earlier
        if new:
            run_id = new.pop()
            confirmation.confirm(log, environment, run_id, by, datetime.now(UTC))
            print(run_id)
            return 0
        time.sleep(0.2)
    print(f"no configuration rollback waited in {environment} in {timeout:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
