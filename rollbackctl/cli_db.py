"""Database commands: backup, backups list|verify, db, read-only and data-corruption."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl import backups
from rollbackctl.cli import (
    EXIT_CODE_HELP,
    _progress,
    confirm_and_run,
    emit,
    guard_options,
    output_option,
    remember_output,
)
from rollbackctl.report import render_text


def _backup_line(backup: dict[str, Any]) -> str:
    mark = "verified" if backup["verified"] else "-"
    return (
        f"  {backup['id']:<24} {backup['kind'] or '':<9} schema {backup['schema_version']!s:<4}"
        f" {mark:<9} app {backup['app_release'] or '?':<11} {backup['path']}"
    )


def _backups_text(document: dict[str, Any]) -> str:
    lines = [f"backups of {document['environment']} (newest first):"]
    lines += [_backup_line(b) for b in document["backups"]] or ["  none"]
    return "\n".join(lines) + "\n"


def _backup_taken_text(document: dict[str, Any]) -> str:
    lines = ["backup taken:", _backup_line(document["backup"])]
    lines += [f"  retention removed {victim}" for victim in document["deleted"]]
    return "\n".join(lines) + "\n"


def _verified_text(document: dict[str, Any]) -> str:
    lines = [f"backup {document['backup']} verified"]
    for item in document["checklist"]:
        lines.append(f"  [{'PASS' if item.get('ok') else 'FAIL'}] {item['name']}: {item['detail']}")
    return "\n".join(lines) + "\n"


def _restore_text(result: dict[str, Any]) -> str:
    text = render_text(result)
    database = result.get("database") or {}
    extra = []
    if database.get("restored") is False:
        extra.append(f"nothing restored: {database.get('reason')}")
    if database.get("safety_backup"):
        extra.append(f"safety backup: {database['safety_backup']}")
    if database.get("previous_database"):
        extra.append(
            f"previous database kept as {database['previous_database']} (drop it when done)"
        )
    if database.get("swap_ms") is not None:
        extra.append(f"writes held for the swap: {database['swap_ms']} ms")
    for label, findings in (result.get("corruption") or {}).items():
        counts = ", ".join(f"{f['name']}: {f['count']}" for f in findings)
        extra.append(f"corruption {label}: {counts}")
    return text + "".join(f"{line}\n" for line in extra)


def _run_restore(
    rollback_type: str,
    environment: str,
    backup_id: str | None,
    allow_schema_mismatch: bool,
    check: bool,
    yes: bool,
    output: str,
    guard: dict[str, Any],
) -> None:
    result = confirm_and_run(
        lambda backup, plan_only: backups.run_restore(
            rollback_type,
            environment,
            backup_id=backup,
            allow_schema_mismatch=allow_schema_mismatch,
            check=plan_only,
            on_step=_progress,
            **guard,
        ),
        what=f"{rollback_type} rollback on {environment}",
        target=backup_id,
        check=check,
        yes=yes,
        render=_restore_text,
    )
    emit(result, output, _restore_text)


backup_option = click.option(
    "--backup", "backup_id", metavar="ID", help="Backup to restore (see 'backups list')."
)
latest_option = click.option(
    "--latest-verified",
    is_flag=True,
    help="Restore the newest verified backup (the default without --backup).",
)
mismatch_option = click.option(
    "--allow-schema-mismatch",
    is_flag=True,
    help="Restore even when the backup's schema differs from the app's (recorded).",
)
check_option = click.option("--check", is_flag=True, help="Show the plan; change nothing.")
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.option(
    "--kind",
    type=click.Choice(["manual", "scheduled", "safety"]),
    default="manual",
    show_default=True,
    help="Why the backup is taken; kept in its metadata.",
)
@output_option
@remember_output
def backup(environment: str, kind: str, output: str) -> None:
    """Back up ENVIRONMENT's database on its db host (dump, SHA-256 manifest, metadata)."""
    emit(backups.take_backup(environment, kind=kind, on_step=_progress), output, _backup_taken_text)


@click.group(name="backups")
def backups_group() -> None:
    """List and verify the database backups of an environment."""


@backups_group.command(name="list")
@click.argument("environment")
@output_option
@remember_output
def list_command(environment: str, output: str) -> None:
    """List ENVIRONMENT's backups, newest first."""
    emit(backups.list_backups(environment), output, _backups_text)


@backups_group.command(epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.argument("backup_id", metavar="[ID]", required=False)
@output_option
@remember_output
def verify(environment: str, backup_id: str | None, output: str) -> None:
    """Restore a backup (default: the newest) into a scratch database and check it."""
    emit(backups.verify_backup(environment, backup_id, on_step=_progress), output, _verified_text)


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("environment")
@backup_option
@latest_option
@mismatch_option
@check_option
@yes_option
@guard_options
@output_option
@remember_output
def db(
    environment: str,
    backup_id: str | None,
    latest_verified: bool,
    allow_schema_mismatch: bool,
    check: bool,
    yes: bool,
    approvals: tuple[str, ...],
    break_glass: bool,
    key: str | None,
    output: str,
) -> None:
    """Roll ENVIRONMENT's database back to a backup, keeping the current one."""
    if backup_id and latest_verified:
        raise click.UsageError("pass --backup or --latest-verified, not both")
    guard = {"approvals": approvals, "break_glass": break_glass, "key": key}
    _run_restore("db", environment, backup_id, allow_schema_mismatch, check, yes, output, guard)


@click.command(name="read-only", epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.argument("state", type=click.Choice(["on", "off"]))
@guard_options
@output_option
@remember_output
def read_only(
    environment: str,
    state: str,
    approvals: tuple[str, ...],
    break_glass: bool,
    key: str | None,
    output: str,
) -> None:
    """Switch ENVIRONMENT's database read-only mode on or off, proven by a write probe.

    Authorized like an emergency stop (the policy's emergency-stop rule).
    """
    emit(
        backups.set_read_only(
            environment,
            state,
            on_step=_progress,
            approvals=approvals,
            break_glass=break_glass,
            key=key,
        ),
        output,
        lambda d: (
            f"read-only {'on' if d['read_only'] else 'off'}: write probe {d['write_probe']}\n"
        ),
    )


@click.command(name="data-corruption", epilog=EXIT_CODE_HELP)
@click.argument("environment")
@backup_option
@mismatch_option
@check_option
@yes_option
@guard_options
@output_option
@remember_output
def data_corruption(
    environment: str,
    backup_id: str | None,
    allow_schema_mismatch: bool,
    check: bool,
    yes: bool,
    approvals: tuple[str, ...],
    break_glass: bool,
    key: str | None,
    output: str,
) -> None:
    """Read-only mode, assess, restore the last verified backup, verify, leave read-only."""
    guard = {"approvals": approvals, "break_glass": break_glass, "key": key}
    _run_restore(
        "data-corruption", environment, backup_id, allow_schema_mismatch, check, yes, output, guard
    )


def register(main: click.Group) -> None:
    """Add the database commands to the rollbackctl group."""
    for command in (backup, backups_group, db, read_only, data_corruption):
        main.add_command(command)
