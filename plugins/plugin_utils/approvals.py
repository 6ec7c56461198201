"""Approvals signed with SSH keys (ssh-keygen -Y), bound to one rollback and usable once."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
    PreflightError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import inventories_dir
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import (
    PRINCIPAL_RE,
    Decision,
    Policy,
    Request,
    evaluate,
    load_environment_policy,
    load_policy,
    rollback_types,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.trust import (
    environment_state_dir,
)

NAMESPACE = "rollbackctl-approval"
FILE_FORMAT = "rollbackctl-approval/1"
# Approvers' and controllers' clocks drift; an approval "issued" a little ahead is not forged.
CLOCK_SKEW = timedelta(minutes=5)
SSH_KEYGEN_TIMEOUT = 30

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_ENV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FINGERPRINT_RE = re.compile(r"key (SHA256:[A-Za-z0-9+/=]+)")
_PAYLOAD_FIELDS = (
    "environment",
    "rollback_type",
    "target",
    "requester",
    "approver",
    "issued_at",
    "expires_at",
    "nonce",
)


@dataclass(frozen=True)
class ApprovalPayload:
    """Exactly what an approver signs: one environment, type, target, requester; once; until."""

    environment: str
    rollback_type: str
    target: str
    requester: str
    approver: str
    expires_at: datetime
    nonce: str
    issued_at: datetime

    @classmethod
    def new(
        cls,
        request: Request,
        approver: str,
        *,
        valid_for: timedelta = timedelta(minutes=60),
        now: datetime | None = None,
    ) -> ApprovalPayload:
        issued = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        return cls(
            environment=request.environment,
            rollback_type=request.rollback_type,
            target=request.target,
            requester=request.requester,
            approver=approver,
            expires_at=issued + valid_for,
            nonce=secrets.token_urlsafe(24),
            issued_at=issued,
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "environment": self.environment,
            "rollback_type": self.rollback_type,
            "target": self.target,
            "requester": self.requester,
            "approver": self.approver,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at),
            "nonce": self.nonce,
        }

    def canonical(self) -> bytes:
        """The signed bytes: sorted keys, no spaces, UTF-8, so every verifier rebuilds them."""
        return _canonical(self.to_dict())

    @classmethod
    def from_dict(cls, data: object, where: str) -> ApprovalPayload:
        if not isinstance(data, dict):
            raise UsageError(f"{where}: payload must be a mapping")
        unknown = sorted(set(data) - set(_PAYLOAD_FIELDS))
        if unknown:
            raise UsageError(f"{where}: payload.{unknown[0]}: unknown field")
        for name in _PAYLOAD_FIELDS:
            value = data.get(name)
            if not isinstance(value, str) or not value or not value.isprintable():
                raise UsageError(f"{where}: payload.{name}: missing or not a plain string")
        checks = {
            "environment": _ENV_RE,
            "requester": PRINCIPAL_RE,
            "approver": PRINCIPAL_RE,
            "nonce": NONCE_RE,
        }
        for name, pattern in checks.items():
            if not pattern.match(data[name]):
                raise UsageError(f"{where}: payload.{name}: invalid value {data[name]!r}")
        if data["rollback_type"] not in rollback_types():
            raise UsageError(f"{where}: payload.rollback_type: unknown {data['rollback_type']!r}")
        return cls(
            environment=data["environment"],
            rollback_type=data["rollback_type"],
            target=data["target"],
            requester=data["requester"],
            approver=data["approver"],
            expires_at=_parse_time(data["expires_at"], f"{where}: payload.expires_at"),
            nonce=data["nonce"],
            issued_at=_parse_time(data["issued_at"], f"{where}: payload.issued_at"),
        )


@dataclass(frozen=True)
class VerifiedApproval:
    """An approval whose signature, binding, expiry and nonce were checked."""

    payload: ApprovalPayload
    path: Path
    key_fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.payload.to_dict(),
            "file": str(self.path),
            "key_fingerprint": self.key_fingerprint,
        }


def create_approval(
    payload: ApprovalPayload,
    key_path: str | Path,
    out_path: str | Path,
    *,
    namespace: str = NAMESPACE,
) -> Path:
    """Sign the payload with the approver's SSH key and write the approval document.

    key_path may be a private key, or a public key whose private half is in ssh-agent.
    """
    for name in ("requester", "approver"):
        if not PRINCIPAL_RE.match(getattr(payload, name)):
            raise UsageError(f"approval {name} {getattr(payload, name)!r} is not a valid name")
    if payload.expires_at <= payload.issued_at:
        raise UsageError("approval would expire before it is issued")
    proc = _ssh_keygen(
        ["-Y", "sign", "-f", str(key_path), "-n", namespace],
        stdin=payload.canonical(),
        # A passphrase prompt goes to the terminal, so signing must not time out under a human.
        timeout=None,
    )
    if proc.returncode != 0:
        raise UsageError(f"ssh-keygen could not sign with {key_path}: {_stderr(proc)}")
    document = {
        "format": FILE_FORMAT,
        "payload": payload.to_dict(),
        "signature": proc.stdout.decode("ascii"),
    }
    out = Path(out_path)
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def read_approval(path: str | Path) -> tuple[ApprovalPayload, str]:
    """Parse an approval document without trusting it: (payload, armored signature)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"approval {path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"approval {path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UsageError(f"approval {path}: must be a JSON object")
    unknown = sorted(set(document) - {"format", "payload", "signature"})
    if unknown:
        raise UsageError(f"approval {path}: {unknown[0]}: unknown field")
    if document.get("format") != FILE_FORMAT:
        raise UsageError(f"approval {path}: format: expected {FILE_FORMAT!r}")
    signature = document.get("signature")
    if not isinstance(signature, str) or "BEGIN SSH SIGNATURE" not in signature:
        raise UsageError(f"approval {path}: signature: missing or not an SSH signature")
    return ApprovalPayload.from_dict(document.get("payload"), f"approval {path}"), signature


def verify_approval(
    path: str | Path,
    allowed_signers_path: str | Path,
    expect: Request,
    now: datetime,
    nonce_store: NonceStore,
    *,
    namespace: str = NAMESPACE,
) -> VerifiedApproval:
    """Check one approval file; raise NotAuthorizedError with a one-line reason if it fails.

    The signature is checked first, so a reason about the payload is never based on bytes
    nobody signed.
    """
    path = Path(path)
    name = path.name
    now = now.astimezone(UTC)
    payload, signature = read_approval(path)
    fingerprint = _verify_signature(name, payload, signature, Path(allowed_signers_path), namespace)

    for field_name in ("environment", "rollback_type", "target", "requester"):
        signed, wanted = getattr(payload, field_name), getattr(expect, field_name)
        if signed != wanted:
            label = field_name.replace("_", " ")
            raise NotAuthorizedError(
                f"approval {name} was signed for {label} {signed}, not {wanted}"
            )
    if payload.expires_at <= now:
        raise NotAuthorizedError(f"approval {name} expired at {_iso(payload.expires_at)}")
    if payload.issued_at > now + CLOCK_SKEW:
        raise NotAuthorizedError(
            f"approval {name} claims to be issued at {_iso(payload.issued_at)}, in the future"
        )
    if payload.expires_at <= payload.issued_at:
        raise NotAuthorizedError(f"approval {name} expires before it was issued")
    used = nonce_store.used(payload.nonce)
    if used is not None:
        raise NotAuthorizedError(
            f"approval {name} was already used (run {used.get('run_id')} at {used.get('used_at')})"
        )
    return VerifiedApproval(payload=payload, path=path, key_fingerprint=fingerprint)


def verify_approvals(
    paths: Iterable[str | Path],
    allowed_signers_path: str | Path,
    expect: Request,
    now: datetime,
    nonce_store: NonceStore,
) -> tuple[list[VerifiedApproval], list[str]]:
    """Verify several approvals, keeping going past bad ones: (verified, one-line problems)."""
    verified: list[VerifiedApproval] = []
    problems: list[str] = []
    for path in paths:
        try:
            verified.append(verify_approval(path, allowed_signers_path, expect, now, nonce_store))
        except (NotAuthorizedError, UsageError) as exc:
            problems.append(str(exc))
    return verified, problems


def allowed_signers_path(environment: str) -> Path:
    """Beside the policy; otherwise in the environment's own state dir.

    Keys generated on one machine for a local environment (sandbox-guarded) must never be
    committed, so a missing file beside the policy falls back to the state dir the policy
    names, which no caller's variable can move.
    """
    beside_policy = inventories_dir() / environment / "allowed_signers"
    if beside_policy.exists():
        return beside_policy
    return environment_state_dir(environment) / "signers" / "allowed_signers"


def authorize(
    request: Request | Mapping[str, Any],
    approval_paths: Sequence[str | Path] = (),
    *,
    nonce_store: NonceStore | None = None,
    policy: Policy | str | Path | None = None,
    allowed_signers: str | Path | None = None,
    now: datetime | None = None,
) -> Decision:
    """The one call the CLI and the Ansible action plugin make: plain data in, a Decision out.

    Bad approvals do not raise; they are explained in the decision so a refusal is auditable.
    Nothing is consumed here: call nonce_store.consume(decision.nonces, run_id) when the run
    actually starts.
    """
    req = request if isinstance(request, Request) else Request.from_dict(request)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    if policy is None:
        loaded = load_environment_policy(req.environment)
    elif isinstance(policy, Policy):
        loaded = policy
    else:
        loaded = load_policy(policy)
    store = nonce_store or NonceStore.for_environment(req.environment)

    verified: list[VerifiedApproval] = []
    problems: list[str] = []
    if approval_paths:
        signers = Path(allowed_signers or allowed_signers_path(req.environment))
        verified, problems = verify_approvals(approval_paths, signers, req, moment, store)
    return evaluate(loaded, req, verified, moment, notes=problems)


class NonceStore:
    """Used approval nonces, one JSON line each, so a signed approval authorizes one run only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"NonceStore({str(self.path)!r})"

    @classmethod
    def for_environment(cls, environment: str) -> NonceStore:
        return cls(environment_state_dir(environment) / "approvals" / f"{environment}.nonces.jsonl")

    def used(self, nonce: str) -> dict[str, Any] | None:
        """The record of the run that used this nonce, or None if it is still unused."""
        if not self.path.exists():
            return None
        with self._locked(fcntl.LOCK_SH) as handle:
            return _read_nonces(handle, self.path).get(nonce)

    def is_used(self, nonce: str) -> bool:
        return self.used(nonce) is not None

    def consume(self, nonces: Iterable[str], run_id: str, now: datetime | None = None) -> None:
        """Mark nonces used for run_id, all or none; refuse if any was used meanwhile.

        Check and record happen under one exclusive lock, so two runs racing with the same
        approval cannot both pass.
        """
        wanted = list(dict.fromkeys(nonces))
        if not wanted:
            return
        stamp = _iso((now or datetime.now(UTC)).astimezone(UTC))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(fcntl.LOCK_EX) as handle:
            seen = _read_nonces(handle, self.path)
            for nonce in wanted:
                if nonce in seen:
                    run = seen[nonce].get("run_id")
                    raise NotAuthorizedError(
                        f"approval nonce {nonce} was already used by run {run}"
                    )
            handle.seek(0, os.SEEK_END)
            lines = "".join(
                json.dumps({"nonce": n, "run_id": run_id, "used_at": stamp}, sort_keys=True) + "\n"
                for n in wanted
            )
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    @contextmanager
    def _locked(self, mode: int) -> Iterator[TextIO]:
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), mode)
            try:
                handle.seek(0)
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_nonces(handle: TextIO, path: Path) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    handle.seek(0)
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            seen[str(record["nonce"])] = record
        except (ValueError, KeyError, TypeError):
            # An unreadable store would let replays through if skipped, so it stops the run.
            raise UsageError(f"{path}: line {number}: not a nonce record") from None
    return seen


def _verify_signature(
    name: str, payload: ApprovalPayload, signature: str, allowed_signers: Path, namespace: str
) -> str:
    if not allowed_signers.is_file():
        raise UsageError(
            f"{allowed_signers}: no allowed_signers file",
            hint='list each approver\'s public key as: <name> namespaces="rollbackctl-approval"'
            " <key>",
        )
    with tempfile.TemporaryDirectory(prefix="rollbackctl-sig-") as tmp:
        sig_file = Path(tmp) / "approval.sig"
        sig_file.write_text(signature, encoding="utf-8")
        # -I binds the check to the payload's approver: a valid signature by anyone else fails.
        verify = ["-Y", "verify", "-f", str(allowed_signers), "-I", payload.approver]
        proc = _ssh_keygen([*verify, "-n", namespace, "-s", str(sig_file)], payload.canonical())
        if proc.returncode == 0:
            found = _FINGERPRINT_RE.search(proc.stdout.decode("utf-8", "replace"))
            return found.group(1) if found else ""
        # Verification failed; ask who the key belongs to, only to explain the refusal.
        who = _ssh_keygen(
            ["-Y", "find-principals", "-f", str(allowed_signers), "-s", str(sig_file)],
            stdin=b"",
        )
    principals = who.stdout.decode("utf-8", "replace").split() if who.returncode == 0 else []
    if not principals:
        raise NotAuthorizedError(
            f"approval {name} is signed by a key not in {allowed_signers.name} "
            f"(it claims approver {payload.approver})"
        )
    if payload.approver not in principals:
        raise NotAuthorizedError(
            f"approval {name} names approver {payload.approver} but was signed by the key of "
            f"{', '.join(principals)}"
        )
    raise NotAuthorizedError(
        f"approval {name} does not match its signature (payload changed after signing, "
        f"or wrong namespace): {_stderr(proc)}"
    )


def _ssh_keygen(
    args: list[str], stdin: bytes, timeout: float | None = SSH_KEYGEN_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    binary = shutil.which("ssh-keygen")
    if binary is None:
        raise PreflightError(
            "ssh-keygen not found; approvals need OpenSSH 8.2 or newer",
            hint="apt-get install -y openssh-client",
        )
    try:
        return subprocess.run(
            [binary, *args], input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise PreflightError(f"ssh-keygen {args[1]} timed out after {timeout}s") from None


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    # ssh-keygen prints progress chatter first; the last line is the verdict.
    return lines[-1] if lines else f"exit {proc.returncode}"


def _canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _parse_time(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{where}: not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise UsageError(f"{where}: needs a timezone (e.g. 2026-11-28T14:00:00Z)")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = [
    "NAMESPACE",
    "ApprovalPayload",
    "NonceStore",
    "VerifiedApproval",
    "allowed_signers_path",
    "authorize",
    "create_approval",
    "read_approval",
    "verify_approval",
    "verify_approvals",
]
