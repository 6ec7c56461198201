"""Run one rollback type on one environment and leave its evidence bundle behind."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import errors, registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    PreflightError,
    RunFailedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.requests import sign_request
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    check_id,
    input_problems,
    run_trigger,
)

from rollbackctl.run.environments import get_environment
from rollbackctl.run.report import build_result, operator, write_bundle
from rollbackctl.run.runner import RunOutcome, Step, new_run_id, run_playbook, runs_dir

# Roles that only look and decide: a failure there means nothing on any host changed.
PREFLIGHT_ROLES = frozenset({"rollback_authorize", "release_select", "app_schema", "backup_select"})


def run_rollback(
    rollback_type: str,
    environment: str,
    *,
    target: str | None = None,
    check: bool = False,
    on_step: Callable[[Step], None] | None = None,
    inputs: Mapping[str, Any] | None = None,
    approvals: Sequence[str | Path] = (),
    break_glass: bool = False,
    key: str | Path | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Run the type's registered playbook; return the result document or raise with the cause.

    inputs holds the type's registered run inputs (its arguments and flags). With key, the
    run carries a request signed with it, which proves who asks. The raised error carries the
    result document as .result so callers can still render it.
    """
    entry = registry.get(rollback_type)
    env = get_environment(environment)
    run_id = new_run_id()
    if target is not None:
        if entry.target is None:
            raise UsageError(f"a {rollback_type} run takes no target", hint="see --help")
        check_id(target, entry.target.names)
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - entry.inputs())
    if unknown:
        raise UsageError(f"a {rollback_type} run takes no input {', '.join(unknown)}")
    for path in approvals:
        if not Path(path).is_file():
            raise UsageError(f"approval file {path} not found", hint="check the path")
    trigger = {"rollback_reason": reason or "", "rollback_note": note or ""}
    problems = input_problems({name: value for name, value in trigger.items() if value})
    if problems:
        raise UsageError(problems[0].removeprefix("-e rollback_"), hint="see --help")
    extravars = {
        "rollback_confirmed": not check,
        "rollbackctl_run_id": run_id,
        "rollback_requester": operator(),
        # Absolute paths: the playbook runs with the project as its working directory.
        "rollback_approvals": [str(Path(p).resolve()) for p in approvals],
        "rollback_break_glass": break_glass,
        **{name: value for name, value in trigger.items() if value},
        **inputs,
    }
    if target is not None:
        extravars["rollback_to"] = target
    if key and not check:
        extravars["rollback_request"] = str(
            sign_run_request(
                run_id, env.name, entry.policy, extravars["rollback_requester"], key, target
            )
        )
    outcome = run_playbook(
        env,
        entry.playbook,
        extravars=extravars,
        check=check,
        on_step=on_step,
        run_id=run_id,
    )
    error = None if outcome.ok else failure_message(outcome)
    result = build_result(
        outcome,
        environment=env.name,
        rollback_type=rollback_type,
        check=check,
        requested=requested(entry, target, approvals, break_glass, {**inputs, **trigger}),
        error=error,
    )
    add_results(result, outcome.stats, entry)
    write_bundle(result, outcome.run_dir)
    if error is not None:
        exc = error_class(outcome)(error)
        exc.result = result  # type: ignore[attr-defined]
        raise exc
    return result


def requested(
    entry: registry.RollbackType,
    target: str | None,
    approvals: Sequence[str | Path],
    break_glass: bool,
    inputs: Mapping[str, Any],
) -> dict[str, Any]:
    """What the operator asked for, as the result document records it.

    Every flag the type registers is recorded, false when not given, whether the document is
    written by the run's command or rebuilt by attach; so are the reason and note (None when
    not given).
    """
    # A flag not given is false; an option that takes a value, not given, is none.
    given = {opt.input: None if opt.metavar else False for opt in entry.options if opt.input}
    given.update({name: inputs[name] for name in sorted(entry.inputs()) if name in inputs})
    document = {"to": target, "approvals": [str(p) for p in approvals], "break_glass": break_glass}
    document.update({name.removeprefix("rollback_"): value for name, value in given.items()})
    # Why it was started, whatever the type: the runbook's manual reason and a note.
    document.update(run_trigger(inputs))
    return document


def add_results(
    result: dict[str, Any], stats: Mapping[str, Any], entry: registry.RollbackType
) -> None:
    """The run's own report (its set_stats data) under the keys the type registers."""
    for key in entry.results:
        if key in stats:
            result[key] = stats[key]


def sign_run_request(
    run_id: str,
    environment: str,
    rollback_type: str,
    requester: str,
    key: str | Path,
    target: str | None = None,
) -> Path:
    """The requester's signed request for this run, kept with the run's evidence."""
    folder = runs_dir() / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return sign_request(
        environment=environment,
        rollback_type=rollback_type,
        requester=requester,
        key=key,
        out=folder / "request.json",
        target=target or "",
    )


def failure_message(outcome: RunOutcome) -> str:
    failures = outcome.failures()
    if not failures:
        # Errors before any task (syntax, undefined variables) only reach ansible's output.
        errors = [line for line in outcome.output_tail() if "ERROR" in line]
        detail = errors[-1].split("]:", 1)[-1].strip() if errors else outcome.status
        return f"{outcome.playbook}: {detail} (see {outcome.run_dir})"
    last = failures[-1]
    return last.message.splitlines()[0] if last.message else f"{last.task} failed on {last.host}"


def error_class(outcome: RunOutcome) -> type[errors.RollbackError]:
    """The exit code follows the kind of refusal the playbook reported, else where it failed."""
    failures = outcome.failures()
    kind = failures[-1].result.get("failure_kind") if failures else None
    # A playbook that knows why it stops reports it as data (set_stats failure_kind).
    kind = kind or outcome.stats.get("failure_kind")
    named = getattr(errors, kind, None) if isinstance(kind, str) else None
    if isinstance(named, type) and issubclass(named, errors.RollbackError):
        return named
    return PreflightError if failed_in_preflight(outcome) else RunFailedError


def failed_in_preflight(outcome: RunOutcome) -> bool:
    failures = outcome.failures()
    return (
        bool(failures)
        and not outcome.changed_anything()
        and all(f.role in PREFLIGHT_ROLES for f in failures)
    )
