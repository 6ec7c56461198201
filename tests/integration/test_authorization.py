"""Authorization that holds from the CLI and from plain ansible-playbook alike.

sandbox-guarded is a local stack of its own under the production policy, with its trust root
(signers, nonces, lock, audit log) in the state dir the policy names. The requester proves who
asks with a run request signed by their own key; approvers sign approvals. Every refusal must
exit with its reason, leave the hosts (database included) as they were, leave an audit entry
behind and no lock (the `guarded` fixture fails a test that leaves one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    ApprovalPayload,
    create_approval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Request
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.requests import sign_request

from tests.support.sandbox import REPO_ROOT, Sandbox

pytestmark = pytest.mark.integration

ENV, GOOD, BAD = "sandbox-guarded", "2026.11.1", "2026.11.2"
REQUESTER = "oscar"  # on call: may ask, may not approve an app rollback
NEEDS_REQUEST = f"{ENV} needs a proven requester"


def approval(
    stack: Sandbox,
    approver: str,
    *,
    key: str | None = None,
    environment: str = ENV,
    rollback_type: str = "app",
    target: str = GOOD,
    requester: str = REQUESTER,
    now: datetime | None = None,
) -> Path:
    """An approval signed with key (default: the approver's own)."""
    request = Request(environment, rollback_type, target, requester)
    payload = ApprovalPayload.new(request, approver, valid_for=timedelta(minutes=30), now=now)
    out = stack.state_dir / "approvals" / f"{approver}-{payload.nonce[:8]}.json"
    out.parent.mkdir(exist_ok=True)
    return create_approval(payload, stack.keys[key or approver], out)


def run_request(
    stack: Sandbox,
    requester: str = REQUESTER,
    *,
    key: str | None = None,
    rollback_type: str = "app",
    target: str = "",
) -> Path:
    """A run request naming requester, signed with key (default: the requester's own)."""
    folder = stack.state_dir / "requests"
    folder.mkdir(exist_ok=True)
    out = folder / f"{requester}-{key or requester}-{len(list(folder.iterdir()))}.json"
    return sign_request(
        environment=ENV,
        rollback_type=rollback_type,
        requester=requester,
        key=stack.keys[key or requester],
        out=out,
        target=target,
    )


def failure_line(run: subprocess.CompletedProcess[str]) -> str:
    """ansible prints each failure unwrapped on one "[ERROR]: Task failed" line."""
    output = (run.stdout + run.stderr).splitlines()
    failed = [line for line in output if "[ERROR]: Task failed" in line]
    return failed[0] if failed else "\n".join(output[-20:])


def run_via(
    stack: Sandbox,
    via: str,
    *approvals: Path,
    requester: str = REQUESTER,
    signer: str | None = None,
    signed: bool = True,
    playbook: str = "app.yml",
    extra: tuple[str, ...] = (),
    extravars: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """(exit code, the one-line reason) of a run on sandbox-guarded.

    The requester asks with a request signed by signer's key (default: their own); with
    signed=False no request is made at all.
    """
    if via == "cli":
        assert playbook == "app.yml"
        stack.env["ROLLBACKCTL_OPERATOR"] = requester
        args = ["app", ENV, "--yes", *extra]
        if signed:
            args += ["--key", str(stack.keys[signer or requester])]
        for path in approvals:
            args += ["--approval", str(path)]
        result = stack.cli(*args)
        return result.code, result.stderr.strip().splitlines()[-1]
    variables: dict[str, Any] = {
        "rollback_confirmed": True,
        "rollback_requester": requester,
        "rollback_approvals": [str(p) for p in approvals],
        **(extravars or {}),
    }
    if signed:
        rollback_type = registry.by_playbook()[playbook].policy
        variables["rollback_request"] = str(
            run_request(stack, requester, key=signer, rollback_type=rollback_type)
        )
    run = stack.run_playbook(playbook, "-e", json.dumps(variables), *extra, environment=ENV)
    return run.returncode, failure_line(run)


def refusals_since(stack: Sandbox, count: int) -> list[dict[str, Any]]:
    return [e for e in stack.audit_entries()[count:] if e.get("outcome") == "refused"]


def assert_refused(stack: Sandbox, via: str, reason: str, *approvals: Path, **how: Any) -> None:
    """Refused with this reason, audited, and nothing on any host changed."""
    before, audited = stack.host_state(), len(stack.audit_entries())
    code, message = run_via(stack, via, *approvals, **how)
    # The CLI maps a refusal to "not authorized"; ansible-playbook reports a failed task.
    assert code == (4 if via == "cli" else 2), message
    assert reason in message
    refusals = refusals_since(stack, audited)
    assert refusals, f"no refusal audited for: {message}"
    assert reason in refusals[0]["reason"]
    assert stack.host_state() == before


def fake_lock(stack: Sandbox, run_id: str, pid: int) -> Path:
    """A lock as another run on this machine leaves it."""
    lock = stack.trust_dir / "locks" / f"{ENV}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(
        json.dumps(
            {
                "environment": ENV,
                "run_id": run_id,
                "owner": "erin",
                "rollback_type": "app",
                "started_at": "2026-11-28T03:00:00+00:00",
                "host": os.uname().nodename,
                "pid": pid,
                "target": GOOD,
            }
        )
    )
    return lock


VIA = pytest.mark.parametrize("via", ["cli", "ansible-playbook"])


@VIA
def test_no_approval_is_refused(guarded: Sandbox, via: str) -> None:
    assert_refused(guarded, via, "needs 1 approver with role")


@pytest.mark.parametrize(
    ("playbook", "extravars"),
    [
        ("infra.yml", {}),
        ("emergency_stop.yml", {}),
        ("resume.yml", {}),
        ("config.yml", {}),
        ("third_party.yml", {"rollback_service": "payment"}),
    ],
    ids=["infra", "emergency-stop", "resume", "config", "third-party"],
)
def test_every_runbook_without_approval_is_refused(
    guarded: Sandbox, playbook: str, extravars: dict[str, Any]
) -> None:
    assert_refused(
        guarded,
        "ansible-playbook",
        "needs 1 approver with role",
        playbook=playbook,
        extravars=extravars,
    )


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({}, "the approvals name email:{commit}, not a third-party rollback of payment"),
        ({"rollback_to": "{commit}"}, "was signed for target email:{commit}, not payment:{commit}"),
    ],
    ids=["target-from-the-approval", "target-given"],
)
def test_an_approval_for_one_service_rolls_back_no_other(
    guarded: Sandbox, given: dict[str, str], reason: str
) -> None:
    commit = json.loads((guarded.root / "app/app1/integrations/email/ledger.json").read_text())[
        "current"
    ]
    signed = approval(guarded, "lena", rollback_type="third-party", target=f"email:{commit}")
    assert_refused(
        guarded,
        "ansible-playbook",
        reason.format(commit=commit),
        signed,
        playbook="third_party.yml",
        extravars={
            "rollback_service": "payment",
            **{k: v.format(commit=commit) for k, v in given.items()},
        },
    )


def test_an_approved_third_party_rollback_runs_and_records_the_service(guarded: Sandbox) -> None:
    """The approval names payment:VERSION (the API version, which the run resolves to the
    newest stable commit that pins it); the run puts payment's pin back, nothing else."""
    ledger = guarded.root / "app/app1/integrations/payment/ledger.json"
    good = json.loads(ledger.read_text())["current"]
    pinned = guarded.root / "config/integrations/payment.env"
    kept = pinned.read_text()
    # The stack's owner deploys a bad pin, outside any run: the stack is out of its
    # environment meanwhile, as when it was set up.
    identity = guarded.root / "identity"
    enrolled = identity.read_text()
    identity.unlink()
    try:
        pinned.write_text(kept.replace("2025-03-31", "2026-11-01"))
        guarded.config_git("commit", "--quiet", "-am", "Pin the payment API to 2026-11-01")
        deployed = guarded.run_playbook(
            "config_deploy.yml",
            "-e",
            json.dumps(
                {
                    "config_deploy_commit": "HEAD",
                    "config_deploy_verify": False,
                    "config_deploy_service": "payment",
                }
            ),
            environment=ENV,
        )
        assert deployed.returncode == 0, deployed.stdout[-3000:]
    finally:
        identity.write_text(enrolled)
    bad = json.loads(ledger.read_text())["current"]
    others = (guarded.root / "app/app1/shared/integrations/email.env").read_text()

    code, message = run_via(
        guarded,
        "ansible-playbook",
        approval(guarded, "lena", rollback_type="third-party", target="payment:2025-03-31"),
        playbook="third_party.yml",
        extravars={"rollback_service": "payment"},
    )

    assert code == 0, message
    for host in ("app1", "app2"):
        live = (guarded.root / f"app/{host}/shared/integrations/payment.env").read_text()
        assert "PAYMENT_API_VERSION=2025-03-31" in live
        state = json.loads(
            (guarded.root / f"app/{host}/integrations/payment/ledger.json").read_text()
        )
        assert (state["current"], state["releases"][bad]["state"]) == (good, "bad")
    assert (guarded.root / "app/app1/shared/integrations/email.env").read_text() == others
    started = [e for e in guarded.audit_entries() if e.get("outcome") == "started"][-1]
    assert (started["rollback_type"], started["target"]) == ("third-party", "payment:2025-03-31")
    assert guarded.audit_entries()[-1]["outcome"] == "succeeded"


@VIA
def test_run_without_a_signed_request_is_refused(guarded: Sandbox, via: str) -> None:
    # A valid approval does not prove who asks: the name alone is only a claim.
    assert_refused(guarded, via, NEEDS_REQUEST, approval(guarded, "erin"), signed=False)


@VIA
@pytest.mark.parametrize(
    ("signer", "reason"),
    [
        ("erin", "signed by the key of erin"),
        ("mallory", "signed by a key not in allowed_signers"),
    ],
)
def test_request_signed_with_someone_elses_key_is_refused(
    guarded: Sandbox, via: str, signer: str, reason: str
) -> None:
    assert_refused(guarded, via, reason, approval(guarded, "erin"), signer=signer)


@VIA
def test_approver_cannot_run_her_approval_under_the_requesters_name(
    guarded: Sandbox, via: str
) -> None:
    # lena approves "oscar asks", then runs it as oscar; her key proves it is not oscar asking.
    own = approval(guarded, "lena", requester=REQUESTER)
    assert_refused(guarded, via, "signed by the key of lena", own, signer="lena")


@VIA
def test_signer_not_in_allowed_signers_is_refused(guarded: Sandbox, via: str) -> None:
    forged = approval(guarded, "carol", key="mallory")
    assert_refused(guarded, via, "signed by a key not in allowed_signers", forged)


@VIA
def test_payload_edited_after_signing_is_refused(guarded: Sandbox, via: str) -> None:
    path = approval(guarded, "carol")
    doc = json.loads(path.read_text())
    doc["payload"]["expires_at"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(doc))
    assert_refused(guarded, via, "does not match its signature", path)


@VIA
@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("environment", "sandbox", "signed for environment sandbox, not sandbox-guarded"),
        ("rollback_type", "db", "signed for rollback type db, not app"),
        ("requester", "lena", "signed for requester lena, not oscar"),
    ],
)
def test_approval_for_another_request_is_refused(
    guarded: Sandbox, via: str, field: str, value: str, reason: str
) -> None:
    path = approval(guarded, "carol", **{field: value})
    assert_refused(guarded, via, reason, path)


@VIA
def test_approval_for_another_target_is_refused(guarded: Sandbox, via: str) -> None:
    # Approved: back to 2026.11.3. Asked for: back to 2026.11.1.
    path = approval(guarded, "carol", target="2026.11.3")
    ask = ("--to", GOOD) if via == "cli" else ()
    assert_refused(
        guarded,
        via,
        f"signed for target 2026.11.3, not {GOOD}",
        path,
        extra=ask,
        extravars={"rollback_to": GOOD},
    )


@VIA
def test_expired_approval_is_refused(guarded: Sandbox, via: str) -> None:
    path = approval(guarded, "carol", now=datetime.now(UTC) - timedelta(hours=2))
    assert_refused(guarded, via, "expired", path)


@VIA
def test_approver_without_an_allowed_role_is_refused(guarded: Sandbox, via: str) -> None:
    assert_refused(guarded, via, "dmitri (holds", approval(guarded, "dmitri"))


@VIA
def test_self_approval_is_refused(guarded: Sandbox, via: str) -> None:
    own = approval(guarded, "lena", requester="lena")
    assert_refused(
        guarded, via, "lena (requester may not approve their own run)", own, requester="lena"
    )


def test_same_person_twice_does_not_make_two_approvers(guarded: Sandbox) -> None:
    # A database rollback needs two people; erin twice is still one.
    first = approval(guarded, "erin", rollback_type="db", target="any-backup")
    second = approval(guarded, "erin", rollback_type="db", target="any-backup")
    assert_refused(
        guarded,
        "ansible-playbook",
        "needs 2 distinct approvers",
        first,
        second,
        playbook="database.yml",
    )


@VIA
def test_replayed_approval_is_refused(guarded: Sandbox, via: str) -> None:
    path = approval(guarded, "carol")
    code, message = run_via(guarded, via, path)
    assert code == 0, message
    guarded.restore()
    assert_refused(guarded, via, "already used", path)


@VIA
def test_valid_approval_lets_the_run_proceed_and_is_recorded(guarded: Sandbox, via: str) -> None:
    code, message = run_via(guarded, via, approval(guarded, "erin"))
    assert code == 0, message
    assert guarded.served_release() == GOOD
    entries = guarded.audit_entries()
    started = [e for e in entries if e.get("outcome") == "started"][-1]
    assert [a["approver"] for a in started["approvals"]] == ["erin"]
    assert started["requester"] == REQUESTER
    assert started["requester_proof"] == "signature"
    assert entries[-1]["outcome"] == "succeeded"


def test_awx_launching_user_is_recorded(guarded: Sandbox) -> None:
    code, message = run_via(
        guarded,
        "ansible-playbook",
        approval(guarded, "erin"),
        extravars={"awx_user_name": "alice"},
    )
    assert code == 0, message
    started = [e for e in guarded.audit_entries() if e.get("outcome") == "started"][-1]
    assert started["launched_by"] == "alice"
    assert started["requester"] == REQUESTER


@VIA
def test_second_run_while_locked_is_refused(guarded: Sandbox, via: str) -> None:
    holder = subprocess.Popen(["sleep", "300"])
    lock = fake_lock(guarded, "other-run", holder.pid)
    try:
        before, audited = guarded.host_state(), len(guarded.audit_entries())
        code, message = run_via(guarded, via, approval(guarded, "carol"))
        assert code == (5 if via == "cli" else 2), message
        assert "locked by run other-run" in message
        assert guarded.host_state() == before
        refusals = refusals_since(guarded, audited)
        assert refusals and "locked by run other-run" in refusals[0]["lock"]
        # The refused run must not release someone else's lock.
        assert json.loads(lock.read_text())["run_id"] == "other-run"
    finally:
        holder.kill()
        holder.wait()
        lock.unlink(missing_ok=True)


def test_stale_lock_is_reported_and_unlock_needs_authority(guarded: Sandbox) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = fake_lock(guarded, "crashed-run", dead.pid)
    key = str(guarded.keys[REQUESTER])
    try:
        code, message = run_via(guarded, "cli", approval(guarded, "carol"))
        assert code == 5, message
        assert "stale lock from run crashed-run" in message

        guarded.env["ROLLBACKCTL_OPERATOR"] = REQUESTER
        unproven = guarded.cli("unlock", ENV, "--approval", str(approval(guarded, "carol")))
        assert unproven.code == 4, unproven.stderr
        assert "unlocking sandbox-guarded needs a proven requester" in unproven.stderr
        assert lock.exists()

        unapproved = guarded.cli("unlock", ENV, "--key", key)
        assert unapproved.code == 4, unapproved.stderr
        assert "unlock refused" in unapproved.stderr
        assert lock.exists()

        allowed = guarded.cli(
            "unlock", ENV, "--key", key, "--approval", str(approval(guarded, "carol"))
        )
        assert allowed.code == 0, allowed.stderr
        assert not lock.exists()
        assert guarded.audit_entries()[-1]["outcome"] == "unlocked"
    finally:
        lock.unlink(missing_ok=True)


def test_audit_verify_catches_an_edited_entry(guarded: Sandbox) -> None:
    code, message = run_via(guarded, "cli")  # leaves a refusal in the log
    assert code == 4, message
    assert guarded.cli("audit", "verify", ENV).code == 0
    path = guarded.audit_path
    original = path.read_text()
    try:
        path.write_text(original.replace('"outcome":"refused"', '"outcome":"succeeded"', 1))
        result = guarded.cli("audit", "verify", ENV)
        assert result.code == 7
        assert "hash mismatch" in result.stderr
    finally:
        path.write_text(original)


def test_history_lists_refused_runs(guarded: Sandbox) -> None:
    code, message = run_via(guarded, "cli")
    assert code == 4, message
    runs = guarded.cli("history", ENV, "--output", "json").json()["runs"]
    assert runs[-1]["outcome"] == "refused"
    assert runs[-1]["requester"] == REQUESTER
    assert "needs 1 approver with role" in runs[-1]["reason"]


def test_plan_needs_no_request_and_changes_nothing(guarded: Sandbox) -> None:
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    code, message = run_via(guarded, "cli", extra=("--check",), signed=False)
    assert code == 0, message
    assert guarded.host_state() == before
    assert guarded.audit_entries()[audited:] == []  # a plan locks, consumes and records nothing


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (("-l", "app1,localhost"), "--limit leaves out lb1"),
        (("-l", "app"), "did not run on localhost; include localhost in --limit"),
        (
            ("-e", "rollbackctl_environment=sandbox"),
            "-e rollbackctl_environment is not a run input",
        ),
        (("-e", "rollback_type=db"), "-e rollback_type is not a run input"),
        (
            ("-i", str(REPO_ROOT / "inventories" / "sandbox" / "hosts.yml")),
            "2 inventories given",
        ),
    ],
    ids=[
        "limit-skips-verification",
        "limit-skips-preflight",
        "environment-override",
        "type-override",
        "two-inventories",
    ],
)
def test_playbook_options_cannot_skip_the_guard(
    guarded: Sandbox, extra: tuple[str, str], reason: str
) -> None:
    assert_refused(guarded, "ansible-playbook", reason, approval(guarded, "erin"), extra=extra)


def database_writable(stack: Sandbox) -> bool:
    """Whether a new session of the app's database accepts writes by default."""
    with psycopg.connect(
        host="127.0.0.1", port=stack.db_port, user="postgres", dbname="market", autocommit=True
    ) as conn:
        return conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"


def test_break_glass_lets_on_call_act_alone_until_management_signs_off(guarded: Sandbox) -> None:
    """The emergency-stop rule: on-call acts with their own signature, a manager signs after."""
    guarded.env["ROLLBACKCTL_OPERATOR"] = REQUESTER
    own = approval(guarded, REQUESTER, rollback_type="emergency-stop", target="on")
    key = str(guarded.keys[REQUESTER])
    try:
        without = guarded.cli("read-only", ENV, "on", "--approval", str(own), "--key", key)
        assert without.code == 4, without.stderr
        assert "requester may not approve" in without.stderr
        assert database_writable(guarded)

        run = guarded.cli(
            "read-only",
            ENV,
            "on",
            "--break-glass",
            "--approval",
            str(own),
            "--key",
            key,
            "--output",
            "json",
        )
        assert run.code == 0, run.stderr
        assert run.json()["database"]["read_only"] is True
        assert not database_writable(guarded)
        started = [e for e in guarded.audit_entries() if e.get("outcome") == "started"][-1]
        assert started["break_glass"] is True
        run_id = started["run_id"]
        history = guarded.cli("history", ENV, "--output", "json").json()["runs"]
        assert next(r for r in history if r["run_id"] == run_id)["sign_off_due"]

        def sign_off_by(who: str) -> Any:
            path = approval(guarded, who, rollback_type="emergency-stop", target="on")
            return guarded.cli("sign-off", ENV, run_id, "--approval", str(path))

        refused = sign_off_by("lena")  # lead developer: not a sign-off role
        assert refused.code == 4 and "sign-off refused" in refused.stderr
        signed = sign_off_by("erin")
        assert signed.code == 0, signed.stderr
        assert "signed off by erin" in signed.stdout + signed.stderr
        history = guarded.cli("history", ENV, "--output", "json").json()["runs"]
        assert not next(r for r in history if r["run_id"] == run_id).get("sign_off_due")
    finally:
        with psycopg.connect(
            host="127.0.0.1", port=guarded.db_port, user="postgres", autocommit=True
        ) as conn:
            conn.execute("ALTER DATABASE market RESET default_transaction_read_only")


def test_on_call_stops_traffic_alone_and_resuming_needs_an_approver(guarded: Sandbox) -> None:
    """The emergency stop end to end under break-glass: on-call stops traffic with their own
    signature, management signs off afterwards, and the resume needs an approver (its own
    rule, without break-glass)."""
    assert run_via(guarded, "cli", approval(guarded, "lena"))[0] == 0  # the good release live
    guarded.env["ROLLBACKCTL_OPERATOR"] = REQUESTER
    key = str(guarded.keys[REQUESTER])

    def stop(*args: str) -> Any:
        return guarded.cli("emergency-stop", ENV, "--key", key, "--output", "json", *args)

    before = guarded.host_state()
    own = approval(guarded, REQUESTER, rollback_type="emergency-stop", target="emergency-stop")
    alone = stop("--approval", str(own))
    assert alone.code == 4 and "requester may not approve" in alone.stderr
    # An approval signed for another action of the same rule (read-only off) never stops traffic.
    read_only_off = approval(guarded, "lena", rollback_type="emergency-stop", target="off")
    wrong = stop("--approval", str(read_only_off))
    assert wrong.code == 4 and "signed for target off, not emergency-stop" in wrong.stderr
    resume_only = approval(guarded, "lena", rollback_type="resume", target="resume")
    assert guarded.host_state() == before

    stopped = stop("--break-glass", "--approval", str(own))

    assert stopped.code == 0, stopped.stderr
    assert stopped.json()["emergency"]["app_hosts"] == {"app1": "drained", "app2": "drained"}
    status, headers, body = guarded.fetch("/api/products")
    assert status == 503 and int(headers["Retry-After"]) > 0 and "maintenance" in body
    assert not database_writable(guarded)
    assert all(line.endswith(" down;") for line in guarded.upstream_servers())
    run_id = stopped.json()["run_id"]
    history = guarded.cli("history", ENV, "--output", "json").json()["runs"]
    assert next(r for r in history if r["run_id"] == run_id)["sign_off_due"]
    sign_off = approval(guarded, "erin", rollback_type="emergency-stop", target="emergency-stop")
    signed = guarded.cli("sign-off", ENV, run_id, "--approval", str(sign_off))
    assert signed.code == 0, signed.stderr

    def resume(*approvals: Path | str) -> Any:
        args = [
            arg
            for item in approvals
            for arg in ((str(item),) if item == "--break-glass" else ("--approval", str(item)))
        ]
        return guarded.cli("resume", ENV, "--yes", "--key", key, "--output", "json", *args)

    mine = approval(guarded, REQUESTER, rollback_type="resume", target="resume")
    refused = resume(mine)
    assert refused.code == 4 and "requester may not approve" in refused.stderr
    # Break-glass stops traffic alone; it never resumes it (the resume rule has none).
    alone_again = approval(guarded, REQUESTER, rollback_type="resume", target="resume")
    assert resume(alone_again, "--break-glass").code == 4
    assert guarded.fetch("/api/products")[0] == 503

    resumed = resume(resume_only)

    assert resumed.code == 0, resumed.stderr
    assert guarded.place_order() == 201
    assert guarded.served_release() == GOOD
    assert database_writable(guarded)
    assert not any(line.endswith(" down;") for line in guarded.upstream_servers())


def test_an_approval_to_stop_writes_never_turns_them_back_on(
    guarded: Sandbox, tmp_path: Path
) -> None:
    """An inventory the launcher chose sets read_only_state: off; the run carries an approval
    for read-only on and names no state itself. The run is refused and writes stay off."""
    with psycopg.connect(
        host="127.0.0.1", port=guarded.db_port, user="postgres", autocommit=True
    ) as conn:
        conn.execute("ALTER DATABASE market SET default_transaction_read_only = on")
    inventory = tmp_path / "inventory"
    shutil.copytree(guarded.checkout / "inventories" / ENV, inventory)
    (inventory / "group_vars" / "db" / "steer.yml").write_text('read_only_state: "off"\n')
    variables = {
        "rollback_confirmed": True,
        "rollback_requester": REQUESTER,
        "rollback_approvals": [
            str(approval(guarded, "lena", rollback_type="emergency-stop", target="on"))
        ],
        "rollback_request": str(run_request(guarded, rollback_type="emergency-stop")),
    }
    before = guarded.host_state()

    run = subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(inventory / "hosts.yml"),
            str(guarded.checkout / "playbooks" / "read_only.yml"),
            "-e",
            json.dumps(variables),
        ],
        cwd=guarded.checkout,
        env={**guarded.env, "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert run.returncode != 0
    assert "a read-only run needs read_only_state" in failure_line(run)
    assert not database_writable(guarded)
    assert guarded.host_state() == before
