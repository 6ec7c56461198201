"""Confirm or revert: what the audit log says about a configuration rollback's confirmation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import confirmation
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError

ENV = "sandbox"
RUN = "20261130T010000Z-abcdef"
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def awaiting(log: AuditLog, seconds: int = 60, start: datetime = T0) -> datetime:
    deadline = start + timedelta(seconds=seconds)
    log.append(
        {
            "event": confirmation.AWAITING,
            "environment": ENV,
            "run_id": RUN,
            "target": "c" * 40,
            "deadline": deadline.isoformat(),
        },
        now=start,
    )
    return deadline


def test_a_run_that_never_waited_has_no_state_and_cannot_be_confirmed(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    assert confirmation.state(log.entries(), RUN) is None
    with pytest.raises(UsageError, match=f"no configuration rollback {RUN} waits"):
        confirmation.confirm(log, ENV, RUN, "erin", T0)
    assert log.entries() == []


def test_a_confirmation_in_time_counts_once(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    # The log stamps the confirmation with the real clock: the wait starts now.
    now = datetime.now(UTC)
    awaiting(log, seconds=3600, start=now)
    found = confirmation.confirm(log, ENV, RUN, "erin", now)
    assert found.confirmed_by == "erin"
    with pytest.raises(UsageError, match="already confirmed by erin"):
        confirmation.confirm(log, ENV, RUN, "ezra", now)


def test_a_confirmation_stamped_after_the_deadline_does_not_count(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    deadline = awaiting(log)
    late = {"event": confirmation.CONFIRMED, "environment": ENV, "run_id": RUN, "by": "erin"}
    log.append(late, now=deadline + timedelta(seconds=1))
    assert confirmation.state(log.entries(), RUN).confirmed_by is None
    with pytest.raises(UsageError, match="stopped waiting at"):
        confirmation.confirm(log, ENV, RUN, "erin", deadline + timedelta(seconds=2))


def test_a_closed_wait_is_never_confirmed_afterwards(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    awaiting(log)
    closed = {
        "event": confirmation.CLOSED,
        "environment": ENV,
        "run_id": RUN,
        "outcome": "expired",
    }
    log.append(closed, now=T0 + timedelta(seconds=61))
    with pytest.raises(UsageError, match="no longer waits: it was expired"):
        confirmation.confirm(log, ENV, RUN, "erin", T0 + timedelta(seconds=10))


def test_another_runs_confirmation_is_not_this_runs(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    awaiting(log)
    other = {"event": confirmation.CONFIRMED, "environment": ENV, "run_id": "x", "by": "erin"}
    log.append(other, now=T0)
    assert confirmation.state(log.entries(), RUN).confirmed_by is None


class Clock:
    """A clock that moves only when the waiter sleeps."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_a_wait_without_confirmation_expires_and_says_so(tmp_path: Path) -> None:
    log, clock = AuditLog(tmp_path / "audit.jsonl"), Clock()
    closed = confirmation.wait(
        log, environment=ENV, run_id=RUN, target="c", seconds=5, now=clock, sleep=clock.sleep
    )
    assert closed.outcome == "expired"
    assert [e["event"] for e in log.entries()] == [confirmation.AWAITING, confirmation.CLOSED]


def test_a_wait_ends_when_a_person_confirms(tmp_path: Path) -> None:
    log, clock = AuditLog(tmp_path / "audit.jsonl"), Clock()
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            confirmation.confirm(log, ENV, RUN, "erin", datetime.now(UTC))
        clock.sleep(seconds)

    closed = confirmation.wait(
        log, environment=ENV, run_id=RUN, target="c", seconds=300, now=clock, sleep=sleep
    )
    assert (closed.outcome, closed.confirmed_by) == ("confirmed", "erin")
    assert len(polls) == 3


def test_a_run_that_no_longer_runs_is_not_confirmed(tmp_path: Path) -> None:
    """Killed while it waited: its change is not kept, so a confirmation would mislead."""
    log = AuditLog(tmp_path / "audit.jsonl")
    now = datetime.now(UTC)
    awaiting(log, seconds=3600, start=now)
    with pytest.raises(UsageError, match=f"run {RUN} is no longer running"):
        confirmation.confirm(log, ENV, RUN, "erin", now, running=lambda run_id: False)
    assert confirmation.state(log.entries(), RUN).confirmed_by is None


def test_a_confirmation_appended_between_clock_and_log_reads_is_seen(tmp_path: Path) -> None:
    """The waiter reads the clock before the log: a confirmation that lands just before the
    deadline, after the waiter's last clock read, is found by that same look at the log."""
    log = AuditLog(tmp_path / "audit.jsonl")
    start = datetime.now(UTC)
    ticks = iter([start, start + timedelta(seconds=3601)])

    def now() -> datetime:
        moment = next(ticks)
        if moment > start:
            # Between this clock read (past the deadline) and the log read: stamped in time.
            confirmation.confirm(log, ENV, RUN, "erin", start)
        return moment

    closed = confirmation.wait(
        log, environment=ENV, run_id=RUN, target="c", seconds=3600, now=now, sleep=lambda s: None
    )
    assert (closed.outcome, closed.confirmed_by) == ("confirmed", "erin")
