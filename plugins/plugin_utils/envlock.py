"""One rollback per environment at a time, across CLI, AWX and plain ansible-playbook runs."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import LockedError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.grant import process_start
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.trust import (
    environment_state_dir,
)


@dataclass(frozen=True)
class LockHolder:
    environment: str
    run_id: str
    owner: str
    rollback_type: str
    started_at: str
    host: str
    pid: int
    target: str = ""
    # The holder's start time: a pid reused by another process does not keep a lock alive.
    pid_start: str = ""

    def is_stale(self) -> bool:
        """A holder on this machine whose process is gone (or a zombie) will never release."""
        if self.host != socket.gethostname():
            return False
        started = process_start(self.pid)
        return not started or bool(self.pid_start and started != self.pid_start)

    def describe(self) -> str:
        return (
            f"run {self.run_id} ({self.rollback_type} by {self.owner}, since {self.started_at}, "
            f"pid {self.pid} on {self.host})"
        )


def lock_path(environment: str) -> Path:
    return environment_state_dir(environment) / "locks" / f"{environment}.lock"


def holder(environment: str) -> LockHolder | None:
    path = lock_path(environment)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        # A torn write from a crash: treat as held by nobody alive, so unlock can clear it.
        return LockHolder(environment, "unknown", "unknown", "unknown", "unknown", "?", -1)
    return LockHolder(**data)


def acquire(
    environment: str, *, run_id: str, owner: str, rollback_type: str, pid: int, target: str = ""
) -> LockHolder:
    """Take the lock or raise LockedError naming who holds it and what to do."""
    path = lock_path(environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = LockHolder(
        environment=environment,
        run_id=run_id,
        owner=owner,
        rollback_type=rollback_type,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        host=socket.gethostname(),
        pid=pid,
        target=target,
        pid_start=process_start(pid),
    )
    try:
        # O_EXCL makes creation the atomic test-and-set: two runs cannot both succeed.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        current = holder(environment)
        if (
            current is not None
            and current.run_id == run_id
            and current.pid == pid
            and current.host == me.host
        ):
            return current  # the same process asking again already holds it
        if current is not None and current.is_stale():
            raise LockedError(
                f"environment {environment} has a stale lock from {current.describe()}: "
                "that process is gone",
                hint=f"check the hosts, then 'rollbackctl unlock {environment}' with the "
                "approvals that rollback needs",
            ) from None
        raise LockedError(
            f"environment {environment} is locked by "
            f"{current.describe() if current else 'another run'}",
            hint="wait for it to finish; one rollback per environment at a time",
        ) from None
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(me), handle)
        handle.flush()
        os.fsync(handle.fileno())
    return me


def release(environment: str, run_id: str) -> bool:
    """Drop the lock if this run holds it; never someone else's."""
    current = holder(environment)
    if current is None or current.run_id != run_id:
        return False
    lock_path(environment).unlink(missing_ok=True)
    return True


def force_release(environment: str) -> LockHolder | None:
    """Remove whatever lock there is (unlock, after authorization); returns what was removed."""
    current = holder(environment)
    lock_path(environment).unlink(missing_ok=True)
    return current
