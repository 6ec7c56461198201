"""Commands around authority: approve a rollback, unlock an environment, read the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import guard
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    ApprovalPayload,
    create_approval,
    read_approval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import (
    Request,
    rollback_types,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.requests import sign_request

from rollbackctl.cli.common import emit, guard_options, output_option, remember_output
from rollbackctl.run import checklist
from rollbackctl.run.environments import get_environment
from rollbackctl.run.report import operator
from rollbackctl.run.runner import new_run_id

signing_key_option = click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Your SSH key (or its .pub, the key in ssh-agent), as in the allowed signers file.",
)


@click.command()
@click.argument("environment")
@click.argument("rollback_type", metavar="TYPE", type=click.Choice(rollback_types()))
@click.option(
    "--target",
    required=True,
    help="Release or backup id being approved; for a type without one, the action: on or off "
    "(read-only), emergency-stop, resume.",
)
@click.option("--requester", required=True, help="Who will run the rollback.")
@click.option("--approver", required=True, help="Your name as in the allowed signers file.")
@signing_key_option
@click.option("--valid-for", default=30, show_default=True, help="Minutes until it expires.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@output_option
@remember_output
def approve(
    environment: str,
    rollback_type: str,
    target: str,
    requester: str,
    approver: str,
    key_path: str,
    valid_for: int,
    out_path: str,
    output: str,
) -> None:
    """Sign an approval for one rollback: environment, type, target, requester, once, until."""
    get_environment(environment)
    request = Request(environment, rollback_type, target, requester)
    payload = ApprovalPayload.new(request, approver, valid_for=timedelta(minutes=valid_for))
    path = create_approval(payload, key_path, out_path)
    emit(
        {"approval": str(path), **payload.to_dict()},
        output,
        lambda d: (
            f"approval {d['approval']}: {d['approver']} approves {d['rollback_type']} "
            f"rollback of {d['environment']} to {d['target']} by {d['requester']} "
            f"until {d['expires_at']}\n"
        ),
    )


@click.command()
@click.argument("environment")
@click.argument("rollback_type", metavar="TYPE", type=click.Choice(rollback_types()))
@click.option("--target", default="", help="Release or backup id; empty: what the approvals say.")
@click.option(
    "--requester", default=None, help="Your name as in the allowed signers file (default: you)."
)
@signing_key_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@output_option
@remember_output
def request(
    environment: str,
    rollback_type: str,
    target: str,
    requester: str | None,
    key_path: str,
    out_path: str,
    output: str,
) -> None:
    """Sign a run request: proves who asks, for AWX or plain ansible-playbook runs.

    Pass it as -e rollback_request=FILE; it is good for one run within 15 minutes.
    """
    get_environment(environment)
    path = sign_request(
        environment=environment,
        rollback_type=rollback_type,
        requester=requester or operator(),
        key=key_path,
        out=out_path,
        target=target,
    )
    payload, _ = read_approval(path)
    emit(
        {"request": str(path), **payload.to_dict()},
        output,
        lambda d: (
            f"request {d['request']}: {d['requester']} asks for a {d['rollback_type']} "
            f"rollback of {d['environment']} until {d['expires_at']}\n"
        ),
    )


@click.command()
@click.argument("environment")
@guard_options
@output_option
@remember_output
def unlock(
    environment: str,
    approvals: tuple[str, ...],
    break_glass: bool,
    key: str | None,
    output: str,
) -> None:
    """Clear ENVIRONMENT's lock; needs the approvals the interrupted rollback needed."""
    get_environment(environment)
    held = guard.unlock(
        environment, requester=operator(), approvals=approvals, run_id=new_run_id(), key=key
    )
    emit(
        {"environment": environment, "released": held.describe()},
        output,
        lambda d: f"unlocked {d['environment']}: released {d['released']}\n",
    )


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command()
@click.argument("environment", required=False)
@output_option
@remember_output
def verify(environment: str | None, output: str) -> None:
    """Check the chain: an edited, deleted or reordered entry fails with its line number.

    With ENVIRONMENT, the log of that environment (a guarded environment keeps its own, in the
    state dir its policy names); without, the local log of the embedded environments.
    """
    log = AuditLog.for_environment(environment) if environment else AuditLog.default()
    report = log.verify()
    emit(
        report.to_dict(),
        output,
        lambda d: (
            f"audit log intact: {d['entries']} entries, head {d['head_seq']} "
            f"{d['head_hash'][:16]}\n"
        ),
    )


def _runs(environment: str) -> list[dict[str, Any]]:
    """One row per run: the attempt and, when it got that far, how it finished."""
    log = AuditLog.for_environment(environment)
    pending = {p.run_id: p for p in log.pending_sign_offs()}
    runs: dict[str, dict[str, Any]] = {}
    entries = log.entries(environment)
    for entry in entries:
        run = runs.setdefault(str(entry.get("run_id")), {"run_id": entry.get("run_id")})
        if entry.get("event") == "attempt":
            run.update(
                type=entry.get("rollback_type"),
                target=entry.get("target"),
                requester=entry.get("requester"),
                approvers=[a.get("approver") for a in entry.get("approvals") or []],
                started_at=entry.get("started_at"),
                outcome=entry.get("outcome"),
                reason=entry.get("reason"),
                launched_by=entry.get("launched_by"),
                trigger=entry.get("trigger") or {"reason": None, "note": None},
            )
        elif entry.get("event") == "finished":
            run.update(outcome=entry.get("outcome"), finished_at=entry.get("finished_at"))
        elif entry.get("event") == "drill":
            run.update(
                type=f"drill {entry.get('scenario')}",
                outcome=entry.get("outcome"),
                started_at=entry.get("started_at"),
            )
    for run_id, run in runs.items():
        if run_id in pending:
            run["sign_off_due"] = pending[run_id].due
            run["sign_off_overdue"] = pending[run_id].overdue
    late = checklist.overdue_by_run(
        environment, entries, checklist.local_results(runs), datetime.now(UTC)
    )
    for run_id, items in late.items():
        runs[run_id]["checklist_overdue"] = items
    return list(runs.values())


def _trigger_text(trigger: dict[str, Any]) -> str:
    """Why the run was started, when the operator said: the reason code and the note."""
    parts = [trigger.get("reason"), f'"{trigger["note"]}"' if trigger.get("note") else None]
    said = " ".join(part for part in parts if part)
    return f"  ({said})" if said else ""


def _history_text(document: dict[str, Any]) -> str:
    lines = []
    for run in document["runs"]:
        flag = (
            "  SIGN-OFF OVERDUE"
            if run.get("sign_off_overdue")
            else ("  sign-off due" if run.get("sign_off_due") else "")
        )
        lines.append(
            f"{run.get('started_at') or '?':<26} {run.get('type') or '?':<16} "
            f"{run.get('outcome') or '?':<10} {run.get('requester') or '':<10} "
            f"{run.get('target') or '':<14} {run['run_id']}{flag}"
            + _trigger_text(run.get("trigger") or {})
        )
        if run.get("checklist_overdue"):
            late = ", ".join(run["checklist_overdue"])
            lines.append(f"    CHECKLIST OVERDUE: {late} (rollbackctl checklist {run['run_id']})")
        if run.get("outcome") == "refused" and run.get("reason"):
            lines.append(f"    refused: {run['reason']}")
    return "\n".join(lines) + ("\n" if lines else "no runs\n")


@click.command()
@click.argument("environment")
@output_option
@remember_output
def history(environment: str, output: str) -> None:
    """List ENVIRONMENT's rollback runs from the audit log, refused ones included."""
    emit({"environment": environment, "runs": _runs(environment)}, output, _history_text)


@click.command(name="sign-off")
@click.argument("environment")
@click.argument("run_id")
@click.option(
    "--approval",
    "approvals",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Signed approval from a sign-off role for the same run.",
)
@output_option
@remember_output
def sign_off(environment: str, run_id: str, approvals: tuple[str, ...], output: str) -> None:
    """Give the after-the-fact sign-off a break-glass RUN_ID owes."""
    get_environment(environment)
    entry = guard.sign_off(environment, run_id, approvals=approvals)
    emit(
        entry,
        output,
        lambda d: f"run {d['run_id']} signed off by {', '.join(d['signed_off_by'])}\n",
    )


def register(group: click.Group) -> None:
    for command in (approve, request, unlock, audit, history, sign_off):
        group.add_command(command)
