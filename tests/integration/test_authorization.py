"""Authorization that holds from the CLI and from plain ansible-playbook alike.

sandbox-guarded is the local stack under the production policy; the approvers' keys are
made here. Every refusal must leave the hosts as they were and an audit entry behind.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rollbackctl.approvals import ApprovalPayload, create_approval
from rollbackctl.policy import Request
from tests.support.keys import make_key, write_allowed_signers
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.integration

ENV, GOOD, BAD = "sandbox-guarded", "2026.11.1", "2026.11.2"
REQUESTER = "oscar"  # on call: may ask, may not approve an app rollback
SIGNERS = ("carol", "erin", "ezra", "lena", "dmitri")  # cto, 2 managers, lead dev, devops


@pytest.fixture(scope="module")
def keys(sandbox_stack: Sandbox) -> dict[str, Path]:
    directory = sandbox_stack.state_dir / "test-keys"
    directory.mkdir(exist_ok=True)
    made = {name: make_key(directory, name) for name in (*SIGNERS, "mallory")}
    signers = sandbox_stack.state_dir / "signers" / ENV / "allowed_signers"
    write_allowed_signers(signers, {name: made[name] for name in SIGNERS})
    return made


@pytest.fixture
def guarded(sandbox: Sandbox, keys: dict[str, Path]) -> Iterator[Sandbox]:
    sandbox.env["ROLLBACKCTL_OPERATOR"] = REQUESTER
    yield sandbox
    for lock in (sandbox.state_dir / "locks").glob("*.lock"):
        lock.unlink()


def approval(
    sandbox: Sandbox,
    keys: dict[str, Path],
    approver: str,
    *,
    key: str | None = None,
    environment: str = ENV,
    rollback_type: str = "app",
    target: str = GOOD,
    requester: str = REQUESTER,
    now: datetime | None = None,
) -> Path:
    request = Request(environment, rollback_type, target, requester)
    payload = ApprovalPayload.new(request, approver, valid_for=timedelta(minutes=30), now=now)
    out = sandbox.state_dir / "approvals" / f"{approver}-{payload.nonce[:8]}.json"
    out.parent.mkdir(exist_ok=True)
    return create_approval(payload, keys[key or approver], out)


def run_via(sandbox: Sandbox, via: str, *approvals: Path, extra: tuple[str, ...] = ()):
    """(exit code, the one-line reason) of an app rollback on sandbox-guarded."""
    if via == "cli":
        args = ["app", ENV, "--yes", *extra]
        for path in approvals:
            args += ["--approval", str(path)]
        result = sandbox.cli(*args)
        return result.code, result.stderr.strip().splitlines()[-1]
    extravars = {
        "rollback_confirmed": True,
        "rollback_requester": REQUESTER,
        "rollback_approvals": [str(p) for p in approvals],
    }
    run = sandbox.run_playbook("app.yml", "-e", json.dumps(extravars), *extra, environment=ENV)
    # ansible prints each failure unwrapped on one "[ERROR]: Task failed" line.
    output = (run.stdout + run.stderr).splitlines()
    failed = [line for line in output if "[ERROR]: Task failed" in line]
    return run.returncode, failed[0] if failed else "\n".join(output[-20:])


def audit_entries(sandbox: Sandbox) -> list[dict]:
    path = sandbox.state_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_refused(sandbox: Sandbox, via: str, reason: str, *approvals: Path) -> None:
    before, audited = sandbox.host_state(), len(audit_entries(sandbox))
    code, message = run_via(sandbox, via, *approvals)
    assert code != 0
    if via == "cli":
        assert code == 4, message
    assert reason in message
    assert sandbox.host_state() == before
    refusals = [e for e in audit_entries(sandbox)[audited:] if e.get("outcome") == "refused"]
    assert len(refusals) == 1 and reason in refusals[0]["reason"]


VIA = pytest.mark.parametrize("via", ["cli", "ansible-playbook"])


@VIA
def test_no_approval_is_refused(guarded: Sandbox, via: str) -> None:
    assert_refused(guarded, via, "needs 1 approver with role")


@VIA
def test_signer_not_in_allowed_signers_is_refused(
    guarded: Sandbox, keys: dict[str, Path], via: str
) -> None:
    forged = approval(guarded, keys, "carol", key="mallory")
    assert_refused(guarded, via, "signed by a key not in allowed_signers", forged)


@VIA
def test_payload_edited_after_signing_is_refused(
    guarded: Sandbox, keys: dict[str, Path], via: str
) -> None:
    path = approval(guarded, keys, "carol")
    doc = json.loads(path.read_text())
    doc["payload"]["expires_at"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(doc))
    assert_refused(guarded, via, "signature", path)


@VIA
@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("environment", "sandbox", "environment sandbox"),
        ("rollback_type", "db", "signed for rollback type db, not app"),
        ("requester", "lena", "requester lena"),
    ],
)
def test_approval_for_another_request_is_refused(
    guarded: Sandbox, keys: dict[str, Path], via: str, field: str, value: str, reason: str
) -> None:
    path = approval(guarded, keys, "carol", **{field: value})
    assert_refused(guarded, via, reason, path)


@VIA
def test_approval_for_another_target_is_refused(
    guarded: Sandbox, keys: dict[str, Path], via: str
) -> None:
    # Approved: back to 2026.11.3. Asked for: back to 2026.11.1.
    path = approval(guarded, keys, "carol", target="2026.11.3")
    ask = ("--to", GOOD) if via == "cli" else ("-e", f"rollback_to={GOOD}")
    before = guarded.host_state()
    code, message = run_via(guarded, via, path, extra=ask)
    assert code != 0
    assert f"signed for target 2026.11.3, not {GOOD}" in message
    assert guarded.host_state() == before


@VIA
def test_expired_approval_is_refused(guarded: Sandbox, keys: dict[str, Path], via: str) -> None:
    path = approval(guarded, keys, "carol", now=datetime.now(UTC) - timedelta(hours=2))
    assert_refused(guarded, via, "expired", path)


@VIA
def test_approver_without_an_allowed_role_is_refused(
    guarded: Sandbox, keys: dict[str, Path], via: str
) -> None:
    assert_refused(guarded, via, "dmitri", approval(guarded, keys, "dmitri"))


@VIA
def test_self_approval_is_refused(guarded: Sandbox, keys: dict[str, Path], via: str) -> None:
    guarded.env["ROLLBACKCTL_OPERATOR"] = "lena"
    own = approval(guarded, keys, "lena", requester="lena")
    before = guarded.host_state()
    if via == "cli":
        code, message = run_via(guarded, via, own)
    else:
        extravars = {
            "rollback_confirmed": True,
            "rollback_requester": "lena",
            "rollback_approvals": [str(own)],
        }
        run = guarded.run_playbook("app.yml", "-e", json.dumps(extravars), environment=ENV)
        code, message = run.returncode, run.stdout + run.stderr
    assert code != 0
    assert "lena (requester may not approve their own run)" in message
    assert guarded.host_state() == before


def test_same_person_twice_does_not_make_two_approvers(
    guarded: Sandbox, keys: dict[str, Path]
) -> None:
    # A database rollback needs two people; erin twice is still one.
    first = approval(guarded, keys, "erin", rollback_type="db", target="any-backup")
    second = approval(guarded, keys, "erin", rollback_type="db", target="any-backup")
    extravars = {
        "rollback_confirmed": True,
        "rollback_requester": REQUESTER,
        "rollback_approvals": [str(first), str(second)],
    }
    run = guarded.run_playbook("database.yml", "-e", json.dumps(extravars), environment=ENV)
    assert run.returncode != 0
    assert "needs 2 distinct approvers" in run.stdout + run.stderr


@VIA
def test_replayed_approval_is_refused(guarded: Sandbox, keys: dict[str, Path], via: str) -> None:
    path = approval(guarded, keys, "carol")
    code, message = run_via(guarded, via, path)
    assert code == 0, message
    guarded.restore()
    assert_refused(guarded, via, "already used", path)


@VIA
def test_valid_approval_lets_the_run_proceed_and_is_recorded(
    guarded: Sandbox, keys: dict[str, Path], via: str
) -> None:
    code, message = run_via(guarded, via, approval(guarded, keys, "erin"))
    assert code == 0, message
    assert guarded.served_release() == GOOD
    started = [e for e in audit_entries(guarded) if e.get("outcome") == "started"][-1]
    assert [a["approver"] for a in started["approvals"]] == ["erin"]
    assert started["requester"] == REQUESTER
    assert audit_entries(guarded)[-1]["outcome"] == "succeeded"


def test_awx_launching_user_is_recorded(guarded: Sandbox, keys: dict[str, Path]) -> None:
    code, _ = run_via(
        guarded,
        "ansible-playbook",
        approval(guarded, keys, "erin"),
        extra=("-e", "awx_user_name=alice"),
    )
    assert code == 0
    started = [e for e in audit_entries(guarded) if e.get("outcome") == "started"][-1]
    assert started["launched_by"] == "alice"


@VIA
def test_second_run_while_locked_is_refused(
    guarded: Sandbox, keys: dict[str, Path], via: str
) -> None:
    holder = subprocess.Popen(["sleep", "300"])
    try:
        lock = guarded.state_dir / "locks" / f"{ENV}.lock"
        lock.parent.mkdir(exist_ok=True)
        lock.write_text(
            json.dumps(
                {
                    "environment": ENV,
                    "run_id": "other-run",
                    "owner": "erin",
                    "rollback_type": "app",
                    "started_at": "2026-11-28T03:00:00+00:00",
                    "host": os.uname().nodename,
                    "pid": holder.pid,
                }
            )
        )
        before = guarded.host_state()
        code, message = run_via(guarded, via, approval(guarded, keys, "carol"))
        assert code != 0
        if via == "cli":
            assert code == 5
        assert "locked by run other-run" in message
        assert guarded.host_state() == before
        assert lock.exists()  # the refused run must not release someone else's lock
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_is_reported_and_unlock_needs_authority(
    guarded: Sandbox, keys: dict[str, Path]
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = guarded.state_dir / "locks" / f"{ENV}.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_text(
        json.dumps(
            {
                "environment": ENV,
                "run_id": "crashed-run",
                "owner": "erin",
                "rollback_type": "app",
                "started_at": "2026-11-28T03:00:00+00:00",
                "host": os.uname().nodename,
                "pid": dead.pid,
                "target": GOOD,
            }
        )
    )

    code, message = run_via(guarded, "cli", approval(guarded, keys, "carol"))
    assert code == 5 and "stale lock from run crashed-run" in message

    refused = guarded.cli("unlock", ENV)
    assert refused.code == 4 and lock.exists()

    unlock_approval = approval(guarded, keys, "carol")
    allowed = guarded.cli("unlock", ENV, "--approval", str(unlock_approval))
    assert allowed.code == 0, allowed.stderr
    assert not lock.exists()


def test_audit_verify_catches_an_edited_entry(guarded: Sandbox) -> None:
    assert guarded.cli("app", ENV, "--yes").code == 4  # leaves a refusal in the log
    assert guarded.cli("audit", "verify").code == 0
    path = guarded.state_dir / "audit.jsonl"
    original = path.read_text()
    try:
        path.write_text(original.replace('"outcome":"refused"', '"outcome":"succeeded"', 1))
        result = guarded.cli("audit", "verify")
        assert result.code == 7
        assert "hash mismatch" in result.stderr
    finally:
        path.write_text(original)


def test_history_lists_refused_runs(guarded: Sandbox) -> None:
    assert guarded.cli("app", ENV, "--yes").code == 4
    runs = guarded.cli("history", ENV, "--output", "json").json()["runs"]
    assert runs[-1]["outcome"] == "refused"
    assert runs[-1]["requester"] == REQUESTER


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (("-l", "app"), "the preflight (authorization, lock, confirmation) did not run"),
        (("-l", "app1,localhost"), "leaves out localhost or lb1"),
        (("-e", "rollbackctl_environment=sandbox"), "-e rollbackctl_environment refused"),
    ],
    ids=["limit-skips-preflight", "limit-skips-verification", "environment-override"],
)
def test_playbook_options_cannot_skip_the_guard(
    guarded: Sandbox, keys: dict[str, Path], extra: tuple[str, str], reason: str
) -> None:
    before = guarded.host_state()
    code, message = run_via(guarded, "ansible-playbook", extra=extra)
    assert code != 0
    assert reason in message
    assert guarded.host_state() == before
