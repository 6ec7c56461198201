"""The rollbackctl command: the Click group, its error handling, and every command family."""

from __future__ import annotations

import traceback
from typing import Any, ClassVar

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

from rollbackctl import __version__
from rollbackctl.cli import (
    authz,
    backups,
    checklist,
    confirm,
    dbdiff,
    drill,
    infra,
    inventory,
    restore_points,
    rollbacks,
    runs,
    sandbox,
    show,
    triggers,
)
from rollbackctl.cli.common import EXIT_CODE_HELP, emit
from rollbackctl.run.report import render_text


class RollbackGroup(click.Group):
    """Maps every RollbackError to a one-line message and its exit code, in one place."""

    # Listings that read as a subcommand of a rollback type: `infra snapshots ENV`.
    SUBCOMMANDS: ClassVar[dict[tuple[str, ...], str]] = {
        ("infra", "snapshots"): infra.SNAPSHOTS_COMMAND
    }

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = self.SUBCOMMANDS.get(tuple(args[:2]))
        if name is not None:
            return name, self.get_command(ctx, name), args[2:]
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RollbackError as exc:
            debug = (ctx.obj or {}).get("debug")
            if debug:
                traceback.print_exc()
            result = getattr(exc, "result", None)
            output = (ctx.obj or {}).get("output")
            if result is not None:
                emit(result, output or "text", render_text)
            click.echo(f"rollbackctl: error: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=RollbackGroup, epilog=EXIT_CODE_HELP)
@click.version_option(__version__, prog_name="rollbackctl")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Rollback runbooks as code: safe, authorized, verified and recorded rollbacks."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for commands in (
    inventory,
    rollbacks,
    confirm,
    backups,
    dbdiff,
    checklist,
    infra,
    restore_points,
    authz,
    drill,
    runs,
    show,
    sandbox,
    triggers,
):
    commands.register(main)
