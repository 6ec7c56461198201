"""Run one rollback type on one environment and leave its evidence bundle behind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rollbackctl import errors
from rollbackctl.environments import get_environment
from rollbackctl.errors import PreflightError, RunFailedError, UsageError
from rollbackctl.report import build_result, operator, write_bundle
from rollbackctl.requests import sign_request
from rollbackctl.runbooks import check_id
from rollbackctl.runner import RunOutcome, Step, new_run_id, run_playbook, runs_dir

# Rollback type -> playbook. Types land here as their playbooks do.
PLAYBOOKS = {"app": "app.yml", "db": "database.yml", "data-corruption": "data_corruption.yml"}
TARGET_NAMES = {"app": "release", "db": "backup", "data-corruption": "backup"}
# Roles that only look and decide: a failure there means nothing on any host changed.
PREFLIGHT_ROLES = frozenset({"rollback_authorize", "release_select", "app_schema", "backup_select"})


def run_rollback(
    rollback_type: str,
    environment: str,
    *,
    target: str | None = None,
    check: bool = False,
    on_step: Callable[[Step], None] | None = None,
    extravars: dict[str, Any] | None = None,
    approvals: Sequence[str | Path] = (),
    break_glass: bool = False,
    key: str | Path | None = None,
) -> dict[str, Any]:
    """Run the rollback playbook; return the result document or raise with the one-line cause.

    With key, the run carries a request signed with it, which proves who asks. The raised
    error carries the result document as .result so callers can still render it.
    """
    if rollback_type not in PLAYBOOKS:
        raise UsageError(
            f"unknown rollback type '{rollback_type}'",
            hint=f"available: {', '.join(sorted(PLAYBOOKS))}",
        )
    env = get_environment(environment)
    run_id = new_run_id()
    if target is not None:
        check_id(target, TARGET_NAMES.get(rollback_type, "target"))
    for path in approvals:
        if not Path(path).is_file():
            raise UsageError(f"approval file {path} not found", hint="check the path")
    extravars = {
        "rollback_confirmed": not check,
        "rollbackctl_run_id": run_id,
        "rollback_requester": operator(),
        # Absolute paths: the playbook runs with the project as its working directory.
        "rollback_approvals": [str(Path(p).resolve()) for p in approvals],
        "rollback_break_glass": break_glass,
        **(extravars or {}),
    }
    if target is not None:
        extravars["rollback_to"] = target
    if key and not check:
        extravars["rollback_request"] = str(
            sign_run_request(
                run_id, env.name, rollback_type, extravars["rollback_requester"], key, target
            )
        )
    outcome = run_playbook(
        env,
        PLAYBOOKS[rollback_type],
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
        requested={
            "to": target,
            "approvals": [str(p) for p in approvals],
            "break_glass": break_glass,
        },
        error=error,
    )
    write_bundle(result, outcome.run_dir)
    if error is not None:
        exc = error_class(outcome)(error)
        exc.result = result  # type: ignore[attr-defined]
        raise exc
    return result


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
