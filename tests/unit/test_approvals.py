"""Signed approvals, checked with the real ssh-keygen and keys made for each test session."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    NAMESPACE,
    ApprovalPayload,
    NonceStore,
    VerifiedApproval,
    authorize,
    create_approval,
    verify_approval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Request

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
SIGNERS = ("carol", "erin", "oscar")
OUTSIDER = "mallory"

POLICY = """\
version: 1
roles:
  cto: [carol]
  engineering_manager: [erin]
  on_call: [oscar]
defaults:
  roles: [cto, engineering_manager]
  approvers: 1
rules:
  db:
    roles: [cto, engineering_manager]
    approvers: 2
"""


@dataclass(frozen=True)
class Keys:
    folder: Path
    allowed_signers: Path

    def private(self, person: str) -> Path:
        return self.folder / person


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    lines = []
    for person in (*SIGNERS, OUTSIDER):
        key = folder / person
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", person, "-f", str(key)],
            check=True,
        )
        if person != OUTSIDER:
            kind, blob = key.with_suffix(".pub").read_text().split()[:2]
            lines.append(f'{person} namespaces="{NAMESPACE}" {kind} {blob}\n')
    allowed = folder / "allowed_signers"
    allowed.write_text("".join(lines))
    return Keys(folder, allowed)


@pytest.fixture
def store(tmp_path: Path) -> NonceStore:
    return NonceStore(tmp_path / "nonces.jsonl")


def db_request(**changes: Any) -> Request:
    return replace(Request("production", "db", "backup-20261128T1200", "oscar"), **changes)


def sign(
    keys: Keys,
    out: Path,
    approver: str,
    req: Request | None = None,
    *,
    key_of: str | None = None,
    valid_for: timedelta = timedelta(minutes=30),
    issued: datetime = NOW,
) -> Path:
    payload = ApprovalPayload.new(req or db_request(), approver, valid_for=valid_for, now=issued)
    return create_approval(payload, keys.private(key_of or approver), out)


def verify(keys: Keys, path: Path, store: NonceStore, **changes: str) -> VerifiedApproval:
    return verify_approval(path, keys.allowed_signers, db_request(**changes), NOW, store)


def test_valid_approval_verifies(keys: Keys, tmp_path: Path, store: NonceStore) -> None:
    path = sign(keys, tmp_path / "a.json", "carol")
    approved = verify(keys, path, store)
    assert approved.payload.approver == "carol"
    assert approved.key_fingerprint.startswith("SHA256:")


def test_approval_file_holds_payload_and_armored_signature(keys: Keys, tmp_path: Path) -> None:
    document = json.loads(sign(keys, tmp_path / "a.json", "carol").read_text())
    assert document["payload"]["target"] == "backup-20261128T1200"
    assert document["signature"].startswith("-----BEGIN SSH SIGNATURE-----")


def test_signer_not_in_allowed_signers_is_refused(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", OUTSIDER)
    with pytest.raises(
        NotAuthorizedError, match=r"a\.json is signed by a key not in allowed_signers"
    ):
        verify(keys, path, store)


def test_approval_signed_with_someone_elses_key_is_refused(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol", key_of="erin")
    with pytest.raises(
        NotAuthorizedError, match="names approver carol but was signed by the key of erin"
    ):
        verify(keys, path, store)


def test_payload_edited_after_signing_is_refused(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol", db_request(target="backup-old"))
    document = json.loads(path.read_text())
    document["payload"]["target"] = "backup-20261128T1200"
    path.write_text(json.dumps(document))
    with pytest.raises(NotAuthorizedError, match=r"a\.json does not match its signature"):
        verify(keys, path, store)


def test_signature_for_another_namespace_is_refused(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol")
    document = json.loads(path.read_text())
    payload = ApprovalPayload.from_dict(document["payload"], "a.json")
    proc = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(keys.private("carol")), "-n", "git"],
        input=payload.canonical(),
        capture_output=True,
        check=True,
    )
    document["signature"] = proc.stdout.decode()
    path.write_text(json.dumps(document))
    with pytest.raises(NotAuthorizedError, match="does not match its signature"):
        verify(keys, path, store)


@pytest.mark.parametrize(
    ("field", "signed", "label"),
    [
        ("environment", "staging", "environment"),
        ("rollback_type", "app", "rollback type"),
        ("target", "backup-20260101T0000", "target"),
        ("requester", "erin", "requester"),
    ],
)
def test_approval_bound_to_another_request_is_refused(
    keys: Keys, tmp_path: Path, store: NonceStore, field: str, signed: str, label: str
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol", db_request(**{field: signed}))
    wanted = getattr(db_request(), field)
    with pytest.raises(NotAuthorizedError) as caught:
        verify(keys, path, store)
    assert str(caught.value) == f"approval a.json was signed for {label} {signed}, not {wanted}"


def test_expired_approval_is_refused(keys: Keys, tmp_path: Path, store: NonceStore) -> None:
    path = sign(keys, tmp_path / "a.json", "carol", issued=NOW - timedelta(hours=2))
    with pytest.raises(NotAuthorizedError, match=r"a\.json expired at 2026-11-28T12:30:00Z"):
        verify(keys, path, store)


def test_approval_issued_in_the_future_is_refused(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol", issued=NOW + timedelta(hours=1))
    with pytest.raises(NotAuthorizedError, match="in the future"):
        verify(keys, path, store)


def test_replayed_nonce_is_refused(keys: Keys, tmp_path: Path, store: NonceStore) -> None:
    path = sign(keys, tmp_path / "a.json", "carol")
    store.consume([verify(keys, path, store).payload.nonce], run_id="run-1", now=NOW)
    with pytest.raises(NotAuthorizedError, match=r"a\.json was already used \(run run-1"):
        verify(keys, path, store)


def test_verifying_does_not_use_up_the_approval(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol")
    verify(keys, path, store)
    assert verify(keys, path, store).payload.approver == "carol"


def test_consume_refuses_a_nonce_another_run_used_meanwhile(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    nonce = verify(keys, sign(keys, tmp_path / "a.json", "carol"), store).payload.nonce
    store.consume([nonce], run_id="run-1")
    with pytest.raises(NotAuthorizedError, match="already used by run run-1"):
        store.consume([nonce], run_id="run-2")


def test_approval_without_signature_is_a_usage_error(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol")
    document = json.loads(path.read_text())
    del document["signature"]
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError, match="signature: missing"):
        verify(keys, path, store)


def test_missing_allowed_signers_is_a_usage_error(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    path = sign(keys, tmp_path / "a.json", "carol")
    with pytest.raises(UsageError, match="no allowed_signers file"):
        verify_approval(path, tmp_path / "allowed_signers", db_request(), NOW, store)


def write_policy(tmp_path: Path) -> Path:
    policy = tmp_path / "production" / "policy.yml"
    policy.parent.mkdir()
    policy.write_text(POLICY)
    return policy


def test_authorize_accepts_two_signed_approvals_for_db(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    paths = [sign(keys, tmp_path / f"{p}.json", p) for p in ("carol", "erin")]
    decision = authorize(
        db_request().to_dict(),
        paths,
        nonce_store=store,
        policy=write_policy(tmp_path),
        allowed_signers=keys.allowed_signers,
        now=NOW,
    )
    assert decision.allowed, decision.reason
    assert set(decision.approvers) == {"carol", "erin"}


def test_authorize_explains_a_bad_approval_in_the_refusal(
    keys: Keys, tmp_path: Path, store: NonceStore
) -> None:
    good = sign(keys, tmp_path / "carol.json", "carol")
    forged = sign(keys, tmp_path / "erin.json", "erin", key_of=OUTSIDER)
    decision = authorize(
        db_request(),
        [good, forged],
        nonce_store=store,
        policy=write_policy(tmp_path),
        allowed_signers=keys.allowed_signers,
        now=NOW,
    )
    assert not decision.allowed
    assert "got 1 (carol)" in decision.reason
    assert "erin.json is signed by a key not in allowed_signers" in decision.reason
