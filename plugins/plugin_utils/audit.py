"""Append-only, hash-chained JSONL audit log of every rollback attempt, with a verifier."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    UsageError,
    VerificationError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import state_dir
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Decision
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.trust import (
    environment_state_dir,
)

GENESIS_HASH = "0" * 64
RESERVED = ("seq", "ts", "prev_hash", "hash")
_TAIL_CHUNK = 64 * 1024


@dataclass(frozen=True)
class VerifyReport:
    """An intact log's size and head; store the head elsewhere to detect a truncated tail later."""

    path: Path
    entries: int
    head_seq: int
    head_hash: str
    first_ts: str | None
    last_ts: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }


@dataclass(frozen=True)
class PendingSignOff:
    """A break-glass run still waiting for its after-the-fact sign-off."""

    run_id: str
    environment: str
    rollback_type: str
    requester: str
    due: str
    overdue: bool


class AuditLog:
    """One JSON object per line; each entry's hash covers its content and the previous hash.

    The chain makes an edited, deleted or reordered line evident; it cannot stop someone who
    rewrites the whole file, which is why verify() accepts an anchor kept elsewhere.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    @classmethod
    def default(cls) -> AuditLog:
        return cls(state_dir() / "audit.jsonl")

    @classmethod
    def for_environment(cls, environment: str) -> AuditLog:
        """A guarded environment's log lives in its own state dir; the rest share the local one."""
        return cls(environment_state_dir(environment) / "audit.jsonl")

    def append(self, entry: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Add an entry and return it as written (with seq, ts, prev_hash and hash)."""
        clash = [key for key in RESERVED if key in entry]
        if clash:
            raise UsageError(f"audit entry may not set {', '.join(clash)}; the log assigns them")
        # Round-trip through JSON first so the hashed form is exactly what a reader parses back.
        body: dict[str, Any] = json.loads(_dumps(entry))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            # Appenders queue here: reading the head and writing the next line is one step.
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev_seq, prev_hash = self._head(fd)
            body["seq"] = prev_seq + 1
            body["ts"] = _iso(now or datetime.now(UTC))
            body["prev_hash"] = prev_hash
            body["hash"] = entry_hash(body)
            line = (_dumps(body) + "\n").encode("utf-8")
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        return body

    def verify(self, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Check every line; raise VerificationError naming the first bad line.

        anchor: a (seq, hash) recorded earlier, e.g. in a run's result.json; it catches lines
        cut from the end, which the chain alone cannot show.
        """
        prev_seq, prev_hash = 0, GENESIS_HASH
        first_ts: str | None = None
        last_ts: str | None = None
        anchor_seen = anchor is None
        for number, entry in self._lines():
            for key in RESERVED:
                if key not in entry:
                    raise self._bad(number, f"missing field {key!r}")
            try:
                expected = entry_hash(entry)
            except ValueError:
                raise self._bad(number, "holds values JSON cannot hash (NaN?)") from None
            if expected != entry["hash"]:
                raise self._bad(number, "hash mismatch (edited?)")
            if entry["seq"] != prev_seq + 1:
                raise self._bad(
                    number,
                    f"seq {entry['seq']} follows seq {prev_seq} (entries deleted or reordered?)",
                )
            if entry["prev_hash"] != prev_hash:
                raise self._bad(
                    number,
                    f"prev_hash does not match line {number - 1} (edited and re-hashed?)"
                    if number > 1
                    else "first entry does not start the chain (lines removed from the start?)",
                )
            if anchor is not None and entry["seq"] == anchor[0]:
                if entry["hash"] != anchor[1]:
                    raise self._bad(number, f"hash differs from the anchor for seq {anchor[0]}")
                anchor_seen = True
            prev_seq, prev_hash = entry["seq"], entry["hash"]
            first_ts = first_ts or str(entry["ts"])
            last_ts = str(entry["ts"])
        if not anchor_seen and anchor is not None:
            raise VerificationError(
                f"audit log {self.path}: ends at seq {prev_seq}, but seq {anchor[0]} was "
                "recorded earlier (entries cut from the end?)"
            )
        return VerifyReport(
            path=self.path,
            entries=prev_seq,
            head_seq=prev_seq,
            head_hash=prev_hash,
            first_ts=first_ts,
            last_ts=last_ts,
        )

    def entries(self, environment: str | None = None) -> list[dict[str, Any]]:
        """All entries in order, optionally only one environment's; this does not verify."""
        return [
            entry
            for _number, entry in self._lines()
            if environment is None or entry.get("environment") == environment
        ]

    def pending_sign_offs(self, now: datetime | None = None) -> list[PendingSignOff]:
        """Break-glass runs (entries with sign_off_due) with no later event "sign_off" entry."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        pending: dict[str, PendingSignOff] = {}
        for entry in self.entries():
            run_id = str(entry.get("run_id", ""))
            if entry.get("event") == "sign_off":
                pending.pop(run_id, None)
            elif entry.get("sign_off_due") and entry.get("outcome") != "refused":
                due = str(entry["sign_off_due"])
                try:
                    overdue = datetime.fromisoformat(due) < moment
                except (ValueError, TypeError):
                    # An unreadable deadline is treated as missed: it must not hide the run.
                    overdue = True
                pending[run_id] = PendingSignOff(
                    run_id=run_id,
                    environment=str(entry.get("environment", "")),
                    rollback_type=str(entry.get("rollback_type", "")),
                    requester=str(entry.get("requester", "")),
                    due=due,
                    overdue=overdue,
                )
        return list(pending.values())

    def _lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if not self.path.exists():
            return
        with self._shared() as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    raise self._bad(number, "incomplete last line (write interrupted?)")
                yield number, self._parse(number, raw)

    @contextmanager
    def _shared(self) -> Iterator[IO[bytes]]:
        # A shared lock keeps readers from seeing an appender's half-written line.
        with open(self.path, "rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            try:
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _head(self, fd: int) -> tuple[int, str]:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS_HASH
        # Read backwards from the end until a whole last line is in hand; logs grow for years.
        tail = b""
        offset = size
        while offset > 0:
            step = min(_TAIL_CHUNK, offset)
            offset -= step
            tail = os.pread(fd, step, offset) + tail
            if tail.count(b"\n") >= 2 or offset == 0:
                break
        if not tail.endswith(b"\n"):
            raise VerificationError(
                f"audit log {self.path}: last line is incomplete (write interrupted?); "
                "run verify and repair before appending"
            )
        last = tail[:-1].rsplit(b"\n", 1)[-1]
        entry = self._parse(-1, last + b"\n")
        try:
            return int(entry["seq"]), str(entry["hash"])
        except (KeyError, TypeError, ValueError):
            raise VerificationError(
                f"audit log {self.path}: last line has no seq/hash; run verify"
            ) from None

    def _parse(self, number: int, raw: bytes) -> dict[str, Any]:
        try:
            entry = json.loads(raw)
        except ValueError:
            raise self._bad(number, "not valid JSON (edited or truncated?)") from None
        if not isinstance(entry, dict):
            raise self._bad(number, "not a JSON object")
        return entry

    def _bad(self, number: int, message: str) -> VerificationError:
        where = f"line {number}" if number > 0 else "last line"
        return VerificationError(f"audit log {where}: {message}", hint=f"file {self.path}")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the entry without its own hash (prev_hash included)."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(_dumps(body).encode("utf-8")).hexdigest()


def attempt_entry(
    decision: Decision,
    *,
    run_id: str,
    outcome: str,
    started_at: datetime,
    finished_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The standard record of one attempt, refused ones included, built from its Decision."""
    request = decision.request
    entry: dict[str, Any] = {
        "event": "attempt",
        "run_id": run_id,
        "environment": request.environment,
        "rollback_type": request.rollback_type,
        "target": request.target,
        "requester": request.requester,
        "break_glass": decision.break_glass,
        "allowed": decision.allowed,
        "reason": decision.reason,
        "approvals": [a.to_dict() for a in decision.approvals],
        "escalation": decision.escalation,
        "notify": list(decision.notify),
        "sign_off_due": _iso(decision.sign_off_due) if decision.sign_off_due else None,
        "outcome": outcome,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at) if finished_at else None,
        "duration_s": (
            round((finished_at - started_at).total_seconds(), 3) if finished_at else None
        ),
    }
    entry.update(extra)
    return entry


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(
        data,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_jsonable,
    )


def _jsonable(value: object) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"audit entries hold JSON data only, not {type(value).__name__}")


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must carry a timezone; use datetime.now(UTC)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
