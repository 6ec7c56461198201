"""Runs that outlive their terminal: what runs on an environment, and re-attaching to a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import envlock, registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    RollbackError,
    RunFailedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import check_id

from rollbackctl.cli.common import EXIT_CODE_HELP, output_option, remember_output, show_progress
from rollbackctl.run.environments import get_environment
from rollbackctl.run.report import build_result, render_text, write_bundle
from rollbackctl.run.rollback import add_results, error_class, failure_message, requested
from rollbackctl.run.runner import (
    SPEC_FILE,
    RunOutcome,
    RunSpec,
    follow_run,
    read_extravars,
    read_spec,
    read_status,
    runs_dir,
    supervisor_alive,
)

RUNS_SHOWN = 10
# Run folders looked at for an environment's latest runs; run ids sort by time.
RUNS_SCANNED = 200


def _print(document: dict[str, Any], output: str, text: str) -> None:
    """The result goes to stdout, in the format asked for."""
    click.echo(json.dumps(document, indent=2) if output == "json" else text, nl=output == "json")


# --- status ------------------------------------------------------------------------------------
def _lock(environment: str) -> dict[str, Any] | None:
    held = envlock.holder(environment)
    if held is None:
        return None
    return {
        "run_id": held.run_id,
        "type": held.rollback_type,
        "owner": held.owner,
        "started_at": held.started_at,
        "target": held.target,
        "host": held.host,
        "pid": held.pid,
        "state": "stale" if held.is_stale() else "alive",
    }


def _run_summary(run_dir: Path) -> dict[str, Any] | None:
    """One run folder as a row: what ran and how it ended (or that it still runs)."""
    result = _read_json(run_dir / "result.json") or {}
    spec = read_spec(run_dir) if (run_dir / SPEC_FILE).exists() else None
    if spec is None and not result:
        return None
    status = read_status(run_dir) or {}
    if result:
        outcome = result.get("status")
    elif status:
        outcome = "succeeded" if status.get("status") == "successful" else status.get("status")
    else:
        outcome = "running" if supervisor_alive(run_dir) is not False else "lost"
    return {
        "run_id": run_dir.name,
        "environment": spec.environment if spec else result.get("environment"),
        "playbook": spec.playbook if spec else f"{result.get('type')} rollback",
        "check": spec.check if spec else bool(result.get("check")),
        "outcome": outcome,
        "started_at": status.get("started_at") or (spec.created_at if spec else None),
        "finished_at": status.get("finished_at"),
    }


def latest_runs(environment: str, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
    folder = runs_dir()
    if not folder.is_dir():
        return []
    rows = []
    newest = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True)
    for run_dir in newest[:RUNS_SCANNED]:
        row = _run_summary(run_dir)
        if row is not None and row["environment"] == environment:
            rows.append(row)
            if len(rows) == limit:
                break
    return rows


def _status_text(document: dict[str, Any]) -> str:
    lock = document["lock"]
    name = document["environment"]
    if lock is None:
        lines = [f"{name}: no run in progress"]
    else:
        lines = [
            f"{name}: run {lock['run_id']} in progress ({lock['type']} by {lock['owner']}, "
            f"since {lock['started_at']}, pid {lock['pid']} on {lock['host']}, {lock['state']})"
        ]
        if lock["state"] == "stale":
            lines.append(
                f"  its process is gone: check the hosts, then 'rollbackctl unlock {name}' "
                "with the approvals that rollback needs"
            )
        else:
            lines.append(f"  follow it: rollbackctl attach {lock['run_id']}")
    lines.append("latest runs:" if document["runs"] else "no runs recorded")
    for run in document["runs"]:
        lines.append(
            f"  {run['run_id']:<24} {run['playbook']:<20} {run['outcome'] or '?':<10}"
            f"{' check' if run['check'] else ''}"
        )
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("environment")
@output_option
@remember_output
def status(environment: str, output: str) -> None:
    """Is a run in progress on ENVIRONMENT (its lock, alive or stale), and the latest runs."""
    get_environment(environment)
    document = {
        "environment": environment,
        "lock": _lock(environment),
        "runs": latest_runs(environment),
    }
    _print(document, output, _status_text(document))


# --- attach ------------------------------------------------------------------------------------
def _rollback_result(
    outcome: RunOutcome, spec: RunSpec, entry: registry.RollbackType
) -> tuple[dict[str, Any], type[RollbackError] | None]:
    """The result document the rollback command writes; built here if it never got to."""
    run_dir = outcome.run_dir
    failed = None if outcome.ok else error_class(outcome)
    written = _read_json(run_dir / "result.json")
    if written is not None:
        return written, failed
    extravars = read_extravars(run_dir)
    document = build_result(
        outcome,
        environment=spec.environment,
        rollback_type=entry.name,
        check=spec.check,
        requested=requested(
            entry,
            extravars.get("rollback_to"),
            list(extravars.get("rollback_approvals") or []),
            bool(extravars.get("rollback_break_glass")),
            extravars,
        ),
        error=None if outcome.ok else failure_message(outcome),
    )
    # Who started the run, not who re-attached to it.
    document["operator"] = extravars.get("rollback_requester") or document["operator"]
    add_results(document, outcome.stats, entry)
    write_bundle(document, run_dir)
    return document, failed


def _plain_result(outcome: RunOutcome) -> tuple[dict[str, Any], type[RollbackError] | None]:
    """A run that is no rollback (a backup, the sandbox, a ledger read): how each step went."""
    document = {
        "run_id": outcome.run_id,
        "playbook": outcome.playbook,
        "status": "succeeded" if outcome.ok else "failed",
        "runner_status": outcome.status,
        "rc": outcome.rc,
        "hosts": outcome.host_stats,
        "steps": [
            {"host": s.host, "task": s.task, "status": s.status, "changed": s.changed}
            for s in outcome.steps
            if s.status != "skipped"
        ],
        "error": None if outcome.ok else failure_message(outcome),
        "artifacts": str(outcome.run_dir),
    }
    return document, None if outcome.ok else RunFailedError


def _plain_text(document: dict[str, Any]) -> str:
    lines = [f"{document['playbook']}: {document['status'].upper()}, run {document['run_id']}"]
    if document["error"]:
        lines.append(f"error: {document['error']}")
    for host, counts in sorted(document["hosts"].items()):
        lines.append(f"  {host:<10} {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}")
    lines.append(f"artifacts: {document['artifacts']}")
    return "\n".join(lines) + "\n"


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("run_id")
@output_option
@remember_output
def attach(run_id: str, output: str) -> None:
    """Follow RUN_ID until it ends, then print its result; the exit code is the run's.

    Progress goes to stderr. Ctrl-C stops following; the run goes on.
    """
    check_id(run_id, "run id")
    run_dir = runs_dir() / run_id
    if not (run_dir / SPEC_FILE).is_file():
        raise UsageError(
            f"no run {run_id} to attach to",
            hint="'rollbackctl status ENV' lists an environment's latest runs",
        )
    spec = read_spec(run_dir)
    click.echo(f"attached to run {run_id} ({spec.playbook} on {spec.environment})", err=True)
    outcome = follow_run(run_dir, on_step=show_progress)
    entry = registry.by_playbook().get(spec.playbook)
    if entry is None:
        document, failed = _plain_result(outcome)
        text = _plain_text(document)
    else:
        document, failed = _rollback_result(outcome, spec, entry)
        text = render_text(document)
    _print(document, output, text)
    if failed is not None:
        raise failed(str(document.get("error") or f"run {run_id} {outcome.status}"))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def register(group: click.Group) -> None:
    for command in (status, attach):
        group.add_command(command)
