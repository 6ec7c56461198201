"""Confirm or revert: a configuration rollback keeps its change only when a person confirms it.

The run and `rollbackctl confirm` talk through the environment's audit log, so every step of
the exchange is on the record: the run appends "awaiting" with its deadline, a person appends
"confirmed", and the run appends "closed" with the outcome once it stops waiting. Without a
confirmation by the deadline the run puts the previous configuration back, as a router's
`commit confirmed` does: a change that cut the operator off undoes itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import SECONDS_RANGE

AWAITING = "config_awaiting_confirmation"
CONFIRMED = "config_confirmed"
CLOSED = "config_confirmation_closed"
DEFAULT_SECONDS = 300
MIN_SECONDS, MAX_SECONDS = SECONDS_RANGE


@dataclass(frozen=True)
class Waiting:
    """What the audit log says about one run's confirmation."""

    run_id: str
    deadline: datetime
    target: str
    confirmed_by: str | None
    outcome: str | None  # confirmed or expired once the run stopped waiting


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None


def state(entries: Sequence[Mapping[str, Any]], run_id: str) -> Waiting | None:
    """The confirmation state of run_id, or None when it never waited for one.

    A confirmation counts only when it was written by the deadline: the log's own timestamp
    decides, not the clock of whoever reads it later.
    """
    waiting: Waiting | None = None
    for entry in entries:
        if entry.get("run_id") != run_id:
            continue
        event = entry.get("event")
        if event == AWAITING:
            deadline = _moment(entry.get("deadline"))
            if deadline is not None:
                waiting = Waiting(run_id, deadline, str(entry.get("target", "")), None, None)
        elif waiting is None:
            continue
        elif event == CONFIRMED and waiting.confirmed_by is None and waiting.outcome is None:
            written = _moment(entry.get("ts"))
            if written is not None and written <= waiting.deadline:
                waiting = Waiting(
                    run_id, waiting.deadline, waiting.target, str(entry.get("by", "")), None
                )
        elif event == CLOSED:
            waiting = Waiting(
                run_id,
                waiting.deadline,
                waiting.target,
                waiting.confirmed_by,
                str(entry.get("outcome", "")),
            )
    return waiting


def confirm(
    log: AuditLog,
    environment: str,
    run_id: str,
    by: str,
    now: datetime,
    *,
    running: Callable[[str], bool] = lambda run_id: True,
) -> Waiting:
    """Record that `by` confirms run_id's configuration; UsageError when it does not wait.

    running(run_id) says whether the run still holds the environment: a run that was killed
    while it waited keeps nothing, so a confirmation would only mislead.
    """
    found = state(log.entries(environment), run_id)
    hint = f"see 'rollbackctl history {environment}'"
    if found is None:
        raise UsageError(
            f"no configuration rollback {run_id} waits for confirmation in {environment}",
            hint=hint,
        )
    if found.outcome is not None:
        raise UsageError(f"run {run_id} no longer waits: it was {found.outcome}", hint=hint)
    if found.confirmed_by is not None:
        raise UsageError(f"run {run_id} is already confirmed by {found.confirmed_by}", hint=hint)
    if not running(run_id):
        raise UsageError(
            f"run {run_id} is no longer running: it was stopped while it waited, and its change "
            "is not kept",
            hint=f"see 'rollbackctl status {environment}'; the next configuration run puts "
            "the files back or asks again",
        )
    if now > found.deadline:
        raise UsageError(
            f"run {run_id} stopped waiting at {found.deadline.isoformat()}; its previous "
            "configuration is put back",
            hint=f"run 'rollbackctl config {environment} --to {found.target}' again",
        )
    # The log stamps the entry under its lock: a confirmation written after the run's last
    # look at the log is later than the deadline, and does not count.
    log.append({"event": CONFIRMED, "environment": environment, "run_id": run_id, "by": by})
    confirmed = state(log.entries(environment), run_id)
    if confirmed is None or confirmed.confirmed_by is None:
        raise UsageError(
            f"run {run_id} stopped waiting before the confirmation was written", hint=hint
        )
    return confirmed


def wait(
    log: AuditLog,
    *,
    environment: str,
    run_id: str,
    target: str,
    seconds: int,
    poll: float = 0.5,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> Waiting:
    """Announce the wait, poll the log until confirmed or the deadline passes, close it."""
    deadline = now() + timedelta(seconds=seconds)
    log.append(
        {
            "event": AWAITING,
            "environment": environment,
            "run_id": run_id,
            "target": target,
            "deadline": deadline.isoformat(),
        }
    )
    while True:
        # The clock is read before the log: a confirmation appended after this read is stamped
        # later than this moment, so when the moment is past the deadline it cannot count.
        moment = now()
        found = state(log.entries(environment), run_id)
        if found is not None and found.confirmed_by is not None:
            outcome = "confirmed"
            break
        if moment > deadline:
            outcome = "expired"
            break
        sleep(poll)
    log.append({"event": CLOSED, "environment": environment, "run_id": run_id, "outcome": outcome})
    closed = state(log.entries(environment), run_id)
    if closed is None:
        raise UsageError(f"the audit log lost the wait of run {run_id}", hint="audit verify")
    return closed
