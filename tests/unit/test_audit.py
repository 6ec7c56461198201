"""The audit log: every attempt recorded, and any edit, deletion or reordering found by line."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import (
    GENESIS_HASH,
    AuditLog,
    attempt_entry,
    entry_hash,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    UsageError,
    VerificationError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Decision, Request

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def filled(tmp_path: Path, count: int = 5) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(count):
        env = "production" if i % 2 else "sandbox"
        log.append({"event": "attempt", "run_id": f"run-{i + 1}", "environment": env}, now=NOW)
    return log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def rewrite(log: AuditLog, new_lines: list[str]) -> None:
    log.path.write_text("".join(new_lines))


def test_entries_are_numbered_and_chained(tmp_path: Path) -> None:
    entries = filled(tmp_path, 3).entries()
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert all(entry_hash(e) == e["hash"] for e in entries)


def test_verify_passes_on_an_intact_log(tmp_path: Path) -> None:
    log = filled(tmp_path)
    report = log.verify()
    assert report.entries == 5
    assert report.head_hash == log.entries()[-1]["hash"]


def test_verify_passes_on_a_log_not_yet_written(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "audit.jsonl").verify().entries == 0


def test_verify_names_an_edited_line(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text[2] = text[2].replace("run-3", "run-9")
    rewrite(log, text)
    with pytest.raises(VerificationError, match=r"^audit log line 3: hash mismatch \(edited\?\)$"):
        log.verify()


def test_verify_names_the_line_after_an_edited_and_rehashed_line(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    forged = json.loads(text[2])
    forged["environment"] = "staging"
    forged["hash"] = entry_hash(forged)
    text[2] = json.dumps(forged) + "\n"
    rewrite(log, text)
    with pytest.raises(VerificationError, match="line 4: prev_hash does not match line 3"):
        log.verify()


def test_verify_names_the_gap_left_by_a_deleted_line(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    del text[1]
    rewrite(log, text)
    with pytest.raises(VerificationError, match="line 2: seq 3 follows seq 1"):
        log.verify()


def test_verify_names_a_swapped_pair(tmp_path: Path) -> None:
    log = filled(tmp_path)
    text = lines(log)
    text[2], text[3] = text[3], text[2]
    rewrite(log, text)
    with pytest.raises(VerificationError, match="line 3: seq 4 follows seq 2"):
        log.verify()


def test_verify_names_a_deleted_first_line(tmp_path: Path) -> None:
    log = filled(tmp_path)
    rewrite(log, lines(log)[1:])
    with pytest.raises(VerificationError, match="line 1: seq 2 follows seq 0"):
        log.verify()


def test_anchor_catches_lines_cut_from_the_end(tmp_path: Path) -> None:
    log = filled(tmp_path)
    head = log.verify()
    rewrite(log, lines(log)[:-1])
    with pytest.raises(VerificationError, match="ends at seq 4, but seq 5 was recorded earlier"):
        log.verify(anchor=(head.head_seq, head.head_hash))


def test_verify_names_a_truncated_last_line(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.path.write_bytes(log.path.read_bytes()[:-10])
    with pytest.raises(VerificationError, match="line 5: incomplete last line"):
        log.verify()


def test_append_refuses_to_extend_a_truncated_log(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.path.write_bytes(log.path.read_bytes()[:-10])
    with pytest.raises(VerificationError, match="last line is incomplete"):
        log.append({"event": "attempt"})


def test_append_refuses_fields_the_log_assigns(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="may not set seq, hash"):
        AuditLog(tmp_path / "audit.jsonl").append({"seq": 1, "hash": "x"})


def test_entries_can_be_filtered_by_environment(tmp_path: Path) -> None:
    entries = filled(tmp_path).entries(environment="production")
    assert [e["run_id"] for e in entries] == ["run-2", "run-4"]


def _append_many(path: str, worker: int) -> None:
    log = AuditLog(path)
    for i in range(25):
        log.append({"event": "attempt", "run_id": f"w{worker}-{i}"})


def test_concurrent_appenders_keep_the_chain_intact(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert AuditLog(path).verify().entries == 100


def refused_decision() -> Decision:
    request = Request("production", "db", "backup-20261128T1200", "oscar")
    return Decision(
        allowed=False,
        reason="production db rollback needs 2 distinct approvers with role "
        "cto|engineering_manager; got 0 (none)",
        request=request,
        required=2,
    )


def test_refused_attempt_is_recorded_with_its_reason(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = attempt_entry(
        refused_decision(),
        run_id="run-1",
        outcome="refused",
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=2),
    )
    log.append(entry, now=NOW)
    recorded: dict[str, Any] = log.entries()[0]
    assert recorded["outcome"] == "refused"
    assert recorded["requester"] == "oscar"
    assert recorded["reason"].endswith("got 0 (none)")
    assert recorded["duration_s"] == 2.0
    assert log.verify().entries == 1


def test_break_glass_run_stays_pending_until_signed_off(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    due = NOW + timedelta(minutes=30)
    log.append(
        {
            "event": "attempt",
            "run_id": "run-7",
            "environment": "production",
            "rollback_type": "emergency-stop",
            "requester": "oscar",
            "outcome": "succeeded",
            "sign_off_due": due,
        }
    )
    pending = log.pending_sign_offs(now=NOW + timedelta(hours=1))
    assert [(p.run_id, p.overdue) for p in pending] == [("run-7", True)]
    log.append({"event": "sign_off", "run_id": "run-7", "approver": "erin"})
    assert log.pending_sign_offs() == []
