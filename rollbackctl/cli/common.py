"""What every command shares: output, exit codes, approvals, progress and confirmation."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    EXIT_CODES,
    AbortedError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    MANUAL_REASONS,
    NOTE_MAX_CHARS,
)

from rollbackctl.run.runner import BOOKKEEPING_TASKS, Step

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


def trigger_options(func: F) -> F:
    """--reason and --note, shared by every rollback command: why it was started."""
    reasons = "; ".join(f"{code}: {meaning}" for code, meaning in MANUAL_REASONS.items())
    func = click.option(
        "--note",
        metavar="TEXT",
        help=f"A note for the record: the incident, what was seen (one line, up to "
        f"{NOTE_MAX_CHARS} characters).",
    )(func)
    return click.option(
        "--reason",
        type=click.Choice(list(MANUAL_REASONS)),
        metavar="CODE",
        help=f"Why the rollback is started, one of the runbook's manual triggers ({reasons}).",
    )(func)


def remember_output(func: F) -> F:
    """Let the error handler render a failed run in the format the caller asked for."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().obj["output"] = kwargs.get("output", "text")
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def show_progress(step: Step) -> None:
    # Argument-spec validation is bookkeeping, not a step an operator follows.
    if step.status == "skipped" or step.task.startswith(BOOKKEEPING_TASKS):
        return
    line = f"  {step.status:<11} {step.host:<8} {step.task}"
    lines = [text for text in (step.message or "").splitlines() if text.strip()]
    if step.status == "failed" and lines:
        line += f": {lines[0]}"
    elif step.status == "unreachable" and lines:
        # The connection's own words come last, after what the strategy adds around them.
        line += f": {lines[-1]}"
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
