"""The safety gate every rollback passes, from the CLI or inside the playbook: policy and
signed approvals, the environment lock, single-use nonces and the audit trail, in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollbackctl import envlock
from rollbackctl.approvals import (
    NonceStore,
    allowed_signers_path,
    authorize,
    read_approval,
    verify_approvals,
)
from rollbackctl.audit import AuditLog, attempt_entry
from rollbackctl.errors import LockedError, NotAuthorizedError, RollbackError
from rollbackctl.policy import Request, evaluate_sign_off, load_environment_policy


def approved_target(approvals: Sequence[str | Path]) -> str:
    """The target the approvals name; they must all name the same one.

    Approvers approve a rollback *to* something, so when the operator names no target the
    approvals decide it, and the plan cannot drift to another release or backup.
    """
    targets = {read_approval(path)[0].target for path in approvals}
    if len(targets) > 1:
        raise NotAuthorizedError(
            f"approvals name different targets ({', '.join(sorted(targets))})",
            hint="get every approval for the same release or backup",
        )
    return targets.pop() if targets else ""


def authorize_run(
    *,
    environment: str,
    rollback_type: str,
    target: str,
    requester: str,
    approvals: Sequence[str | Path] = (),
    break_glass: bool = False,
    run_id: str,
    pid: int,
    check: bool = False,
    launched_by: str | None = None,
) -> dict[str, Any]:
    """Decide, lock and record; raise NotAuthorizedError or LockedError with a one-line reason.

    In check mode the decision is reported but nothing is locked, consumed or audited: a plan
    is what an operator shows approvers before they sign.
    """
    started = datetime.now(UTC)
    audit = AuditLog.default()
    context = {"launched_by": launched_by, "pid": pid, "check": check}
    request_fields = {
        "environment": environment,
        "rollback_type": rollback_type,
        "requester": requester,
        "break_glass": break_glass,
    }
    try:
        target = target or approved_target(approvals)
        decision = authorize(Request(target=target, **request_fields), list(approvals))
    except RollbackError as exc:
        if not check:
            audit.append(
                _refusal(run_id, {**request_fields, "target": target}, exc, started, context)
            )
        raise
    if check:
        return {"target": target, "decision": decision.to_dict()}
    if not decision.allowed:
        audit.append(
            attempt_entry(decision, run_id=run_id, outcome="refused", started_at=started, **context)
        )
        raise NotAuthorizedError(decision.reason)
    try:
        envlock.acquire(
            environment,
            run_id=run_id,
            owner=requester,
            rollback_type=rollback_type,
            pid=pid,
            target=target,
        )
    except LockedError as exc:
        audit.append(
            attempt_entry(
                decision,
                run_id=run_id,
                outcome="refused",
                started_at=started,
                lock=exc.one_line(),
                **context,
            )
        )
        raise
    try:
        NonceStore.for_environment(environment).consume(decision.nonces, run_id)
    except RollbackError as exc:
        envlock.release(environment, run_id)
        audit.append(_refusal(run_id, {**request_fields, "target": target}, exc, started, context))
        raise
    audit.append(
        attempt_entry(decision, run_id=run_id, outcome="started", started_at=started, **context)
    )
    return {"target": target, "decision": decision.to_dict()}


def finish_runs_of(pid: int, *, failed: bool) -> list[str]:
    """Record the outcome of the runs a playbook process holds, and release their locks."""
    finished = []
    for held in envlock.held_by_pid(pid):
        AuditLog.default().append(
            {
                "event": "finished",
                "run_id": held.run_id,
                "environment": held.environment,
                "rollback_type": held.rollback_type,
                "requester": held.owner,
                "outcome": "failed" if failed else "succeeded",
                "started_at": held.started_at,
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        envlock.release(held.environment, held.run_id)
        finished.append(held.run_id)
    return finished


def unlock(
    environment: str, *, requester: str, approvals: Sequence[str | Path], run_id: str
) -> envlock.LockHolder:
    """Clear a lock; needs the same authority as the rollback it interrupts."""
    held = envlock.holder(environment)
    if held is None:
        raise RollbackError(f"environment {environment} is not locked")
    if not held.is_stale():
        raise LockedError(
            f"environment {environment} is locked by {held.describe()}, which is still running",
            hint="unlock clears only a stale lock; wait for the run to finish",
        )
    rollback_type = held.rollback_type if held.rollback_type != "unknown" else "full"
    decision = authorize(
        Request(
            environment=environment,
            rollback_type=rollback_type,
            # The approvals must be for what the interrupted run was authorized to do.
            target=held.target,
            requester=requester,
        ),
        list(approvals),
    )
    audit = AuditLog.default()
    if not decision.allowed:
        audit.append(
            attempt_entry(
                decision,
                run_id=run_id,
                outcome="refused",
                started_at=datetime.now(UTC),
                action="unlock",
            )
        )
        raise NotAuthorizedError(f"unlock refused: {decision.reason}")
    NonceStore.for_environment(environment).consume(decision.nonces, run_id)
    envlock.force_release(environment)
    audit.append(
        attempt_entry(
            decision,
            run_id=run_id,
            outcome="unlocked",
            started_at=datetime.now(UTC),
            action="unlock",
            released=held.describe(),
        )
    )
    return held


def _refusal(
    run_id: str,
    request: dict[str, Any],
    exc: RollbackError,
    started: datetime,
    context: dict[str, Any],
) -> dict[str, Any]:
    return {
        "event": "attempt",
        "run_id": run_id,
        **request,
        "allowed": False,
        "reason": exc.one_line(),
        "outcome": "refused",
        "started_at": started.isoformat(timespec="seconds"),
        **context,
    }


def sign_off(environment: str, run_id: str, *, approvals: Sequence[str | Path]) -> dict[str, Any]:
    """Give the after-the-fact sign-off a break-glass run owes; clears its flag in history."""
    log = AuditLog.default()
    pending = {p.run_id: p for p in log.pending_sign_offs()}
    if run_id not in pending:
        raise RollbackError(
            f"run {run_id} has no sign-off due in {environment}",
            hint=f"see 'rollbackctl history {environment}'",
        )
    attempt = next(
        e for e in log.entries(environment) if e.get("run_id") == run_id and e.get("sign_off_due")
    )
    request = Request(
        environment=environment,
        rollback_type=str(attempt["rollback_type"]),
        target=str(attempt.get("target") or ""),
        requester=str(attempt["requester"]),
        break_glass=True,
    )
    now = datetime.now(UTC)
    store = NonceStore.for_environment(environment)
    verified, problems = verify_approvals(
        approvals, allowed_signers_path(environment), request, now, store
    )
    decision = evaluate_sign_off(load_environment_policy(environment), request, verified, now)
    if not decision.allowed:
        detail = "; ".join([decision.reason, *problems])
        raise NotAuthorizedError(f"sign-off refused: {detail}")
    store.consume(decision.nonces, run_id)
    return log.append(
        {
            "event": "sign_off",
            "run_id": run_id,
            "environment": environment,
            "rollback_type": request.rollback_type,
            "requester": request.requester,
            "signed_off_by": list(decision.approvers),
            "overdue": pending[run_id].overdue,
        }
    )
