"""The grant: what the authorize step of one ansible-playbook process allowed, and no more.

Every host-changing step of a runbook checks the grant of the process that runs it. A grant
is written only by the authorize step after policy, approvals and the lock said yes, and it
is keyed by the ansible-playbook process (pid and start time), so a run that skips that step
(--start-at-task, tags, a helper playbook) has none, and no variable can give it one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import controller_dir

# Per-process files: the grant, the identities the preflight read and the connections it read
# them over, the decision marker, and
# which runbook the loaded plays are (written as the playbook starts, before any task).
KINDS = ("grants", "identities", "connections", "decided", "runbooks")


def process_start(pid: int) -> str:
    """The kernel's start time of pid (clock ticks since boot); '' when it is gone.

    A pid alone is reused; pid plus start time names one process for the machine's uptime.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] == "Z":
        return ""
    return fields[19]


def process_key(pid: int) -> str:
    return f"{pid}-{process_start(pid)}"


def is_alive(pid: int, start: str) -> bool:
    return bool(start) and process_start(pid) == start


@dataclass
class Grant:
    environment: str
    rollback_type: str
    target: str
    run_id: str
    playbook: str
    requester: str
    check: bool
    # Hosts whose environment identity the preflight read: the only hosts the run may change.
    hosts: list[str]
    # host -> release it ran when the run planned; the only other release a host may go to.
    # A run that plans several ledgers of a host also keys each by "host|ledger path".
    origins: dict[str, str] = field(default_factory=dict)
    # A full rollback's target is a restore point; what it names, by kind (release,
    # configuration, snapshot, backup), is bound once, from the restore point the db host
    # keeps, by the run itself.
    components: dict[str, str] = field(default_factory=dict)
    # Silences the run made in the environment's Alertmanager (url, id): a run that fails
    # ends them, so the alerts of what is still broken page again.
    silences: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def allows(self, value: str, kind: str) -> bool:
        """value is the run's target, or the restore point's component of this kind."""
        return bool(value) and (value == self.target or self.components.get(kind) == value)

    def origin(self, host: str, ledger: str | None = None) -> str | None:
        """What host ran when the run planned (the ledger's, when the run planned several)."""
        if ledger is not None and f"{host}|{ledger}" in self.origins:
            return self.origins[f"{host}|{ledger}"]
        return self.origins.get(host)


def _path(kind: str, pid: int) -> Path:
    return controller_dir() / kind / f"{process_key(pid)}.json"


@contextmanager
def _locked(kind: str, pid: int) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Read-modify-write of one process file; forked workers of the same run may race."""
    path = _path(kind, pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        yield path, data
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)


def write(pid: int, grant: Grant) -> None:
    with _locked("grants", pid) as (_path, data):
        data.clear()
        data.update(grant.to_dict())


def read(pid: int) -> Grant | None:
    path = _path("grants", pid)
    try:
        return Grant(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def mark_decided(pid: int) -> None:
    """The run's authorize step (or the refusal of a skipping run) decided about this process."""
    path = _path("decided", pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def was_decided(pid: int) -> bool:
    return _path("decided", pid).exists()


def remove(pid: int) -> Grant | None:
    grant = read(pid)
    for kind in KINDS:
        for suffix in (".json", ".lock", ".tmp"):
            _path(kind, pid).with_suffix(suffix).unlink(missing_ok=True)
    return grant


@dataclass(frozen=True)
class LoadedRunbook:
    """What the plays of a run are, as the record callback saw them before the first task."""

    started: str = ""  # the playbook(s) ansible-playbook was given
    playbook: str = ""  # "" when the plays are no runbook of the collection
    rollback_type: str = ""
    refusal: str = ""  # why the plays are a runbook that may not run this way


def record_runbook(pid: int, loaded: LoadedRunbook) -> None:
    with _locked("runbooks", pid) as (_path, data):
        data.clear()
        data.update(asdict(loaded))


def loaded_runbook(pid: int) -> LoadedRunbook | None:
    """None when nothing recorded the plays of this process (the record callback is off)."""
    try:
        return LoadedRunbook(**json.loads(_path("runbooks", pid).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def record_identity(pid: int, host: str, environment: str | None, connection: str) -> None:
    """host carries environment, as read over connection (see guarded.connection_of)."""
    with _locked("identities", pid) as (_path, data):
        data[host] = environment
    with _locked("connections", pid) as (_path, data):
        data[host] = connection


def connection(pid: int, host: str) -> str | None:
    """The connection host's identity was read over in this process, None if never read."""
    try:
        data = json.loads(_path("connections", pid).read_text())
    except (OSError, ValueError):
        return None
    return data.get(host) if isinstance(data, dict) else None


def identities(pid: int) -> dict[str, str | None]:
    path = _path("identities", pid)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def prune() -> int:
    """Drop the files of processes that are gone (a run killed before its end)."""
    removed = 0
    for kind in KINDS:
        folder = controller_dir() / kind
        for path in folder.glob("*.json") if folder.exists() else []:
            pid, _dash, start = path.stem.partition("-")
            if pid.isdigit() and not is_alive(int(pid), start):
                for suffix in (".json", ".lock", ".tmp"):
                    path.with_suffix(suffix).unlink(missing_ok=True)
                removed += 1
    return removed


def bind_plan(
    pid: int, host: str, origin: str, target: str, ledger: str | None = None
) -> Grant | None:
    """Record the release host ran when the run planned, and the plan's target if none was.

    The first plan of a run that named no target fixes it: every later switch must go there,
    or back to the host's own origin.
    """
    with _locked("grants", pid) as (_path, data):
        if not data:
            return None
        data.setdefault("origins", {})[host] = origin
        if ledger is not None:
            data["origins"][f"{host}|{ledger}"] = origin
        if not data.get("target"):
            data["target"] = target
        return Grant(**data)


FULL_RUNBOOK = "full.yml"
# A third-party rollback authorized for an API version binds the commit that pins it.
THIRD_PARTY_RUNBOOK = "third_party.yml"


COMPONENT_KINDS = frozenset({"release", "configuration", "snapshot", "backup"})


def bind_components(
    pid: int, point: str, components: dict[str, str], playbook: str = FULL_RUNBOOK
) -> Grant | None:
    """Bind what a target names, by kind, to the run it is the target of, once.

    A full rollback's restore point names a release, commit, snapshot and backup; a
    third-party rollback's API version names the commit that pins it (playbook says which
    runbook may bind). Only that runbook's grant takes components, only for its own target,
    and only the first time: a later read of another target binds nothing. None when nothing
    is bound for point (another run, another target).
    """
    with _locked("grants", pid) as (_path, data):
        if not data or data.get("playbook") != playbook or data.get("target") != point:
            return None
        if not data.get("components"):
            data["components"] = {
                kind: value for kind, value in components.items() if kind in COMPONENT_KINDS
            }
        return Grant(**data)


def add_silence(pid: int, url: str, silence_id: str) -> Grant | None:
    """Remember a silence the run made; None when the process holds no grant."""
    with _locked("grants", pid) as (_path, data):
        if not data:
            return None
        data.setdefault("silences", []).append({"url": url, "id": silence_id})
        return Grant(**data)
