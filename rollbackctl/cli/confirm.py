"""confirm: keep the configuration a waiting configuration rollback applied."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import confirmation, envlock
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    NAME_RE,
    check_id,
)

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run.environments import get_environment


def _holds_lock(environment: str, run_id: str) -> bool:
    """The run still holds the environment's lock, from a live process."""
    held = envlock.holder(environment)
    return held is not None and held.run_id == run_id and not held.is_stale()


def _text(document: dict[str, Any]) -> str:
    return (
        f"run {document['run_id']} confirmed by {document['confirmed_by']} before "
        f"{document['deadline']}: {document['environment']} keeps configuration "
        f"{document['target']}\n"
    )


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.argument("run_id")
@click.option("--by", metavar="NAME", help="Who confirms (default your login name).")
@output_option
@remember_output
def confirm(environment: str, run_id: str, by: str | None, output: str) -> None:
    """Keep the configuration that `rollbackctl config` run RUN_ID applied to ENVIRONMENT.

    The run waits for this after it applied and checked the configuration; without it by the
    deadline (--confirm-within, default 300 s) the run puts the previous configuration back.
    """
    get_environment(environment)
    check_id(run_id, "run id")
    who = by or getpass.getuser()
    if not NAME_RE.match(who):
        raise UsageError(f"--by {who!r} is not a name", hint="your name, as the policy lists it")
    confirmed = confirmation.confirm(
        AuditLog.for_environment(environment),
        environment,
        run_id,
        who,
        datetime.now(UTC),
        running=lambda waiting: _holds_lock(environment, waiting),
    )
    document = {
        "environment": environment,
        "run_id": run_id,
        "confirmed_by": confirmed.confirmed_by,
        "deadline": confirmed.deadline.isoformat(),
        "target": confirmed.target,
    }
    emit(document, output, _text)


def register(main: click.Group) -> None:
    main.add_command(confirm)
