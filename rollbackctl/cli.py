"""The rollbackctl command line: parse options, call the library, render the result."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    EXIT_CODES,
    AbortedError,
    RollbackError,
)

from rollbackctl import __version__, sandbox
from rollbackctl.environments import list_environments
from rollbackctl.releases import list_releases
from rollbackctl.report import render_text
from rollbackctl.runner import Step

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODE_HELP = "\b\nExit codes:\n" + "\n".join(
    f"  {code}  {meaning}" for code, meaning in sorted(EXIT_CODES.items())
)

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints exactly one JSON document on stdout.",
)


def emit(document: dict[str, Any], output: str, text: Callable[[dict[str, Any]], str]) -> None:
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(text(document), nl=False)


class RollbackGroup(click.Group):
    """Maps every RollbackError to a one-line message and its exit code, in one place."""

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


def guard_options(func: F) -> F:
    """--approval, --break-glass and --key, shared by every rollback command."""
    func = click.option(
        "--key",
        type=click.Path(dir_okay=False),
        envvar="ROLLBACKCTL_KEY",
        metavar="FILE",
        help="Your SSH key (or its .pub, the key in ssh-agent), listed in the environment's "
        "allowed_signers: signs the request that proves who asks. Needed for guarded "
        "environments. [env: ROLLBACKCTL_KEY]",
    )(func)
    func = click.option(
        "--break-glass",
        is_flag=True,
        help="Run under the policy's break-glass rule; a sign-off is due afterwards.",
    )(func)
    return click.option(
        "--approval",
        "approvals",
        multiple=True,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Signed approval (rollbackctl approve); repeat for several approvers.",
    )(func)


def remember_output(func: F) -> F:
    """Let the error handler render a failed run in the format the caller asked for."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().obj["output"] = kwargs.get("output", "text")
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@main.command()
@output_option
def envs(output: str) -> None:
    """List environments (inventories/<name>/hosts.yml)."""
    names = list_environments()
    emit({"environments": names}, output, lambda d: "".join(f"{n}\n" for n in d["environments"]))


def _releases_text(document: dict[str, Any]) -> str:
    lines = []
    for host, ledger in sorted(document["hosts"].items()):
        lines.append(f"{host}:")
        for release in reversed(ledger["releases"]):
            marker = "*" if release["current"] else " "
            lines.append(f"  {marker} {release['id']:<14} {release['state']}")
    return "\n".join(lines) + "\n"


@main.command()
@click.argument("environment")
@output_option
@remember_output
def releases(environment: str, output: str) -> None:
    """List each app host's releases, newest first; * marks the current one."""
    emit(list_releases(environment), output, _releases_text)


def _progress(step: Step) -> None:
    # Argument-spec validation is bookkeeping, not a step an operator follows.
    if step.status == "skipped" or step.task.startswith("Validating arguments against"):
        return
    line = f"  {step.status:<11} {step.host:<8} {step.task}"
    if step.status in ("failed", "unreachable") and step.message:
        line += f": {step.message.splitlines()[0]}"
    click.echo(line, err=True)


def confirm_and_run(
    run: Callable[[str | None, bool], dict[str, Any]],
    *,
    what: str,
    target: str | None,
    check: bool,
    yes: bool,
    render: Callable[[dict[str, Any]], str],
) -> dict[str, Any]:
    """On a terminal, show the plan first and run exactly what was confirmed.

    run(target, check) runs the playbook. The confirmed target is pinned for the real run,
    so a ledger or backup list that moved while the prompt waited cannot change it.
    """
    if not check and not yes and sys.stdin.isatty():
        plan = run(target, True)
        click.echo(render(plan), err=True, nl=False)
        confirm_or_abort(f"{what}: {plan.get('from') or '?'} -> {plan.get('to') or '?'}", yes)
        target = target or plan.get("to")
    elif not check:
        confirm_or_abort(what, yes)
    return run(target, check)


def confirm_or_abort(what: str, yes: bool) -> None:
    """Ask on a terminal; refuse without one, so a script never rolls back by accident."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise AbortedError(f"{what} needs confirmation", hint="pass --yes (no terminal to ask on)")
    if not click.confirm(f"{what}. Proceed?", default=False, err=True):
        raise AbortedError(f"{what} not confirmed", hint="nothing was changed")


@main.group(name="sandbox")
def sandbox_group() -> None:
    """The embedded sandbox stack on this machine."""


def _sandbox_text(document: dict[str, Any]) -> str:
    lines = [f"sandbox: {document['state_dir']}"]
    if document["url"]:
        lines.append(f"  url       {document['url']}")
        db = document["database"]
        lines.append(
            f"  database  postgresql://{db['user']}@{db['host']}:{db['port']}/{db['name']}"
        )
    for name, up in sorted(document["services"].items()):
        lines.append(f"  {name:<9} {'up' if up else 'down'}")
    for host, release in sorted(document["current"].items()):
        lines.append(f"  {host:<9} current {release}")
    return "\n".join(lines) + "\n"


env_option = click.option(
    "--env",
    "environment",
    type=click.Choice(sandbox.LOCAL_ENVIRONMENTS),
    default=sandbox.ENVIRONMENT,
    show_default=True,
    help="Which local stack: sandbox-guarded is a stack of its own under the production policy.",
)


@sandbox_group.command()
@env_option
@output_option
@remember_output
def up(environment: str, output: str) -> None:
    """Start the stack and enroll its hosts.

    A new stack starts with the good release stable and the bad release current. A stack
    stopped by 'down' without --purge comes back as it was left.
    """
    emit(sandbox.up(environment), output, _sandbox_text)


@sandbox_group.command()
@env_option
@click.option("--purge", is_flag=True, help="Also delete the stack's files.")
@output_option
@remember_output
def down(environment: str, purge: bool, output: str) -> None:
    """Stop the stack's processes (its hosts leave their environment first)."""
    emit(sandbox.down(environment, purge=purge), output, _sandbox_text)


@sandbox_group.command()
@env_option
@output_option
def status(environment: str, output: str) -> None:
    """Show the stack's URL, database settings and what runs."""
    emit(sandbox.status(environment), output, _sandbox_text)


# One command per registered rollback type.
from rollbackctl import cli_rollbacks  # noqa: E402

cli_rollbacks.register(main)

# Database commands live in their own module; imported last so they can reuse the helpers above.
from rollbackctl import cli_db  # noqa: E402

cli_db.register(main)

# Approvals, unlock, audit and history.
from rollbackctl import cli_authz  # noqa: E402

cli_authz.register(main)

# Drill commands: molecule scenarios and their schedule.
from rollbackctl import cli_drill  # noqa: E402

cli_drill.register(main)

# Runs that outlive their terminal: status of an environment, attach to a run.
from rollbackctl import cli_runs  # noqa: E402

cli_runs.register(main)
