"""Signed run requests: the requester proves who asks, as approvers prove who approves.

A run request is an approval document in which the requester approves their own request, in
a namespace of its own (an approval can never pass for a request, nor the reverse). It binds
one environment, one rollback type, optionally one target, and is single use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    ApprovalPayload,
    NonceStore,
    VerifiedApproval,
    allowed_signers_path,
    create_approval,
    read_approval,
    verify_approval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import NotAuthorizedError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Request

REQUEST_NAMESPACE = "rollbackctl-request"
REQUEST_VALID_FOR = timedelta(minutes=15)
# The target of a request that leaves it to the approvals (or the runbook's default).
ANY_TARGET = "*"


def sign_request(
    *,
    environment: str,
    rollback_type: str,
    requester: str,
    key: str | Path,
    out: str | Path,
    target: str = "",
    valid_for: timedelta = REQUEST_VALID_FOR,
) -> Path:
    """Sign a request with the requester's SSH key (or its .pub with the key in ssh-agent)."""
    request = Request(environment, rollback_type, target or ANY_TARGET, requester)
    payload = ApprovalPayload.new(request, requester, valid_for=valid_for)
    return create_approval(payload, key, out, namespace=REQUEST_NAMESPACE)


def verify_request(
    path: str | Path,
    *,
    environment: str,
    rollback_type: str,
    target: str,
    now: datetime | None = None,
) -> VerifiedApproval:
    """Check a request; raise NotAuthorizedError with a one-line reason when it proves nothing.

    A request for ANY_TARGET stands for whatever target the approvals bind.
    """
    payload, _signature = read_approval(path)
    if payload.approver != payload.requester:
        raise NotAuthorizedError(
            f"run request {Path(path).name} is signed by {payload.approver} for "
            f"{payload.requester}; a requester signs their own request"
        )
    expect = Request(environment, rollback_type, payload.target, payload.requester)
    if payload.target != ANY_TARGET and target and payload.target != target:
        raise NotAuthorizedError(
            f"run request {Path(path).name} was signed for target {payload.target}, not {target}"
        )
    return verify_approval(
        path,
        allowed_signers_path(environment),
        expect,
        (now or datetime.now(UTC)),
        NonceStore.for_environment(environment),
        namespace=REQUEST_NAMESPACE,
    )
