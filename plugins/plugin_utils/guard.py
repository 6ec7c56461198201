"""The safety gate every rollback passes, from the CLI or inside the playbook: policy and
signed approvals, the environment lock, single-use nonces and the audit trail, in that order.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import (
    alertmanager,
    envlock,
    grant,
    registry,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    NonceStore,
    allowed_signers_path,
    authorize,
    read_approval,
    verify_approvals,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import (
    AuditLog,
    attempt_entry,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    LockedError,
    NotAuthorizedError,
    PreflightError,
    RollbackError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import (
    Request,
    evaluate_sign_off,
    load_environment_policy,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.requests import (
    sign_request,
    verify_request,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    NAME_RE,
    LoadedPlay,
    check_id,
    input_problems,
    run_trigger,
    runbook_of,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.trust import (
    is_guarded,
    list_environments_with_policy,
)


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
    request_nonces: Sequence[str] = (),
    requester_proof: str = "claim",
    trigger: Mapping[str, str | None] | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """Decide, lock and record; raise NotAuthorizedError or LockedError with a one-line reason.

    A run with a scope (third-party's service) is approved only by approvals whose target
    names that scope (SCOPE:TARGET): an approval for one service rolls back no other.

    In check mode the decision is reported but nothing is locked, consumed or audited: a plan
    is what an operator shows approvers before they sign.
    """
    started = datetime.now(UTC)
    audit = AuditLog.for_environment(environment)
    context = {
        "launched_by": launched_by,
        "pid": pid,
        "check": check,
        "requester_proof": requester_proof,
        "trigger": dict(trigger or {"reason": None, "note": None}),
    }
    request_fields = {
        "environment": environment,
        "rollback_type": rollback_type,
        "requester": requester,
        "break_glass": break_glass,
    }
    try:
        target = target or approved_target(approvals)
        if scope and target and not target.startswith(f"{scope}:"):
            raise NotAuthorizedError(
                f"the approvals name {target}, not a {rollback_type} rollback of {scope}",
                hint=f"approvals of this run name {scope}:COMMIT or {scope}:VERSION",
            )
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
        NonceStore.for_environment(environment).consume([*decision.nonces, *request_nonces], run_id)
        audit.append(
            attempt_entry(decision, run_id=run_id, outcome="started", started_at=started, **context)
        )
    except RollbackError as exc:
        # Whatever stops the run after the lock was taken (a used nonce, an audit log that
        # cannot be written) gives the lock back: a refused run never blocks the next one.
        envlock.release(environment, run_id)
        with contextlib.suppress(RollbackError):
            audit.append(
                _refusal(run_id, {**request_fields, "target": target}, exc, started, context)
            )
        raise
    return {"target": target, "decision": decision.to_dict()}


def _check_groups(playbook: str, groups: Mapping[str, Sequence[str]]) -> None:
    """The inventory has hosts in every group the registry says this runbook needs."""
    needed = registry.by_playbook()[playbook].groups
    empty = [name for name in needed if not groups.get(name)]
    if empty:
        raise PreflightError(
            f"the inventory has no hosts in group {', '.join(empty)}; "
            f"{playbook} needs {', '.join(needed)}",
            hint="define the groups under all.children in the environment's hosts.yml",
        )


def _runbook_hosts(playbook: str, groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The inventory's hosts in the groups this runbook runs on."""
    needed = registry.by_playbook()[playbook].groups
    return sorted({host for name in needed for host in groups.get(name, ())})


def _check_reached(
    identities: Mapping[str, str | None], hosts: Sequence[str], inventory: str
) -> None:
    """Refuse a run none of whose hosts answered the preflight: unreachable, as a production
    inventory is from a controller outside its network, or a run started past the preflight."""
    if identities:
        return
    named = ", ".join(hosts[:4]) + (f" and {len(hosts) - 4} more" if len(hosts) > 4 else "")
    raise PreflightError(
        f"no host answered the preflight ({named}): unreachable, or the preflight did not "
        "run; nothing changed",
        hint="check that this controller reaches every host over its connection "
        f"(ansible -i {shlex.quote(str(inventory))} all -m ansible.builtin.ping), then run "
        "the whole runbook",
    )


def authorize_playbook_run(
    *,
    pid: int,
    cli: Mapping[str, Any],
    extra_vars: Mapping[str, Any],
    identities: Mapping[str, str | None],
    lb_hosts: Sequence[str],
    check: bool,
    run_id: str,
    groups: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """Everything the authorize step of a runbook decides, from what the launcher cannot fake.

    The environment is the one the hosts carry, the type the playbook's, the inputs raw extra
    vars checked as data; only when all of that holds do policy and approvals decide. On
    success this process holds a grant for exactly that environment, type, target and hosts.
    """
    started = datetime.now(UTC)
    grant.mark_decided(pid)
    environment = _agreed_environment(identities)
    request = {
        "environment": environment or "unknown",
        "rollback_type": "unknown",
        "target": str(extra_vars.get("rollback_to") or ""),
        "requester": str(extra_vars.get("rollback_requester") or ""),
        "break_glass": False,
    }
    context = {
        "pid": pid,
        "check": check,
        "launched_by": _launched_by(extra_vars),
        "trigger": run_trigger(extra_vars),
    }
    try:
        playbook, rollback_type = _runbook_loaded(pid)
        request["rollback_type"] = rollback_type
        _check_groups(playbook, groups)
        _check_run_shape(
            cli, extra_vars, identities, environment, lb_hosts, _runbook_hosts(playbook, groups)
        )
        # The runbook's own entry: types sharing a rule (its policy key) differ in action.
        runbook = registry.by_playbook()[playbook]
        action = runbook.action_target(extra_vars)
        if action is not None:
            if request["target"]:
                raise UsageError(
                    f"a {runbook.name} run takes no target (rollback_to)",
                    hint="leave rollback_to out; approvals name the action, "
                    f"'{action or runbook.name}'",
                )
            if not action:
                needed = runbook.arguments[0].input
                raise UsageError(
                    f"a {runbook.name} run needs {needed}",
                    hint=f"pass -e {needed}=... (one of {', '.join(runbook.arguments[0].choices)})",
                )
            request["target"] = action
        scope = runbook.scope(extra_vars)
        if scope == "":
            needed = next(o for o in runbook.options if o.required)
            raise UsageError(
                f"a {runbook.name} run needs {needed.input}",
                hint=f"pass {needed.flag} (ansible-playbook/AWX: -e {needed.input}=...)",
            )
        if scope and request["target"]:
            request["target"] = f"{scope}:{request['target']}"
        if not check and not _true(extra_vars.get("rollback_confirmed")):
            raise PreflightError(
                f"{rollback_type} rollback not confirmed",
                hint="rerun with --yes (ansible-playbook/AWX: -e rollback_confirmed=true) "
                "or use --check to see the plan",
            )
        run_id = check_id(extra_vars.get("rollbackctl_run_id") or run_id, "run id")
        if environment is None:  # _check_run_shape refused already; never authorize without one
            raise NotAuthorizedError("the hosts carry no environment identity")
        requester, proof, nonces = _proven_requester(
            environment, rollback_type, extra_vars, context["launched_by"], check
        )
        request["requester"] = requester
    except RollbackError as exc:
        if not check:
            log = AuditLog.for_environment(environment or "unknown")
            log.append(_refusal(run_id, request, exc, started, context))
        raise
    outcome = authorize_run(
        environment=environment,
        rollback_type=rollback_type,
        target=request["target"],
        requester=requester,
        approvals=list(extra_vars.get("rollback_approvals") or []),
        break_glass=_true(extra_vars.get("rollback_break_glass")),
        run_id=run_id,
        pid=pid,
        check=check,
        launched_by=context["launched_by"],
        request_nonces=nonces,
        requester_proof=proof,
        trigger=context["trigger"],
        scope=scope,
    )
    # The approvals named SCOPE:TARGET; the run's steps and ledgers know the target alone.
    if scope and outcome["target"]:
        outcome = {**outcome, "target": outcome["target"].removeprefix(f"{scope}:")}
    grant.write(
        pid,
        grant.Grant(
            environment=environment,
            rollback_type=rollback_type,
            target=outcome["target"],
            run_id=run_id,
            playbook=playbook,
            requester=requester,
            check=check,
            hosts=sorted(identities),
        ),
    )
    return {**outcome, "run_id": run_id, "environment": environment, "rollback_type": rollback_type}


def start_run(
    *, pid: int, playbooks: Sequence[str], plays: Sequence[LoadedPlay], cli: Mapping[str, Any]
) -> str | None:
    """Record which runbook this process loaded, before its first task; a refusal when the
    run is started so that its steps would be skipped.

    The authorize step reads the record: it decides on what Ansible loaded, which a file
    changed after loading cannot alter. A run started mid-way or with tags never reaches that
    step, so nothing it does holds a grant; this records the attempt and names the reason
    even when it stops before any host-changing step would have refused it. The environment
    is not known yet: the local log records it.
    """
    started = " ".join(playbooks)
    try:
        found = runbook_of(playbooks, plays)
    except NotAuthorizedError as exc:
        grant.record_runbook(pid, grant.LoadedRunbook(started, refusal=exc.one_line()))
        return None  # the authorize step refuses it, with the environment known
    grant.record_runbook(pid, grant.LoadedRunbook(started, *(found or ("", ""))))
    if not found:
        return None  # not a runbook: nothing to skip
    try:
        _check_skipping(cli)
    except NotAuthorizedError as exc:
        grant.mark_decided(pid)
        request = {
            "environment": "unknown",
            "rollback_type": found[1],
            "target": "",
            "requester": "",
            "break_glass": False,
        }
        AuditLog.default().append(
            _refusal(_unauthorized_run(pid), request, exc, datetime.now(UTC), {"pid": pid})
        )
        return exc.one_line()
    return None


def _runbook_loaded(pid: int) -> tuple[str, str]:
    """(playbook, rollback type) of the runbook this process loaded, as recorded at its start."""
    loaded = grant.loaded_runbook(pid)
    if loaded is None:
        raise NotAuthorizedError(
            "nothing recorded which plays this run loaded",
            hint="enable the rollbackctl.runbooks.rollback_record callback "
            "(callbacks_enabled in the collection's ansible.cfg)",
        )
    if loaded.refusal:
        raise NotAuthorizedError(loaded.refusal)
    if not loaded.playbook:
        raise NotAuthorizedError(
            f"{loaded.started or 'this playbook'} is not a runbook of this collection",
            hint="run a runbook as the collection has it: "
            "ansible-playbook rollbackctl.runbooks.NAME",
        )
    return loaded.playbook, loaded.rollback_type


def _proven_requester(
    environment: str,
    rollback_type: str,
    extra_vars: Mapping[str, Any],
    launched_by: str,
    check: bool,
) -> tuple[str, str, list[str]]:
    """(requester, how it is proven, nonces to consume) for this run.

    A signed run request proves the requester anywhere. Without one, a guarded environment
    accepts only the user AWX authenticated, and only where its policy says AWX launches the
    runs, and refuses everything else. Embedded environments, and plans (check mode, which
    lock and consume nothing), take the requester as a claim.
    """
    path = extra_vars.get("rollback_request")
    if path:
        verified = verify_request(
            str(path),
            environment=environment,
            rollback_type=rollback_type,
            target=str(extra_vars.get("rollback_to") or ""),
        )
        claimed = extra_vars.get("rollback_requester")
        if claimed and claimed != verified.payload.requester:
            raise NotAuthorizedError(
                f"run request is signed by {verified.payload.requester}, "
                f"not the requester {claimed}"
            )
        return verified.payload.requester, "signature", [verified.payload.nonce]
    claim = str(extra_vars.get("rollback_requester") or "")
    policy = load_environment_policy(environment)
    if not policy.guarded or check:
        return claim or launched_by or "unknown", "claim", []
    if policy.awx_requester and launched_by:
        return launched_by, "awx", []
    raise NotAuthorizedError(
        f"{environment} needs a proven requester: a run request signed with your SSH key",
        hint="pass --key (the CLI signs it) or -e rollback_request=FILE from 'rollbackctl request'",
    )


def _agreed_environment(identities: Mapping[str, str | None]) -> str | None:
    found = {env for env in identities.values() if env}
    return found.pop() if len(found) == 1 else None


def _launched_by(extra_vars: Mapping[str, Any]) -> str:
    for name in ("awx_user_name", "tower_user_name"):
        value = extra_vars.get(name)
        if isinstance(value, str) and NAME_RE.match(value):
            return value
    return ""


def _true(value: object) -> bool:
    return value is True or value in ("true", "True", "yes")


def _check_skipping(cli: Mapping[str, Any]) -> None:
    """--start-at-task, tags and --step all skip steps of a runbook, the preflight among them."""
    skipping = [
        flag
        for flag, value in (
            ("--start-at-task", cli.get("start_at_task")),
            ("--tags", [t for t in cli.get("tags") or () if t != "all"]),
            ("--skip-tags", list(cli.get("skip_tags") or ())),
            ("--step", cli.get("step")),
        )
        if value
    ]
    if skipping:
        raise NotAuthorizedError(
            f"{', '.join(skipping)} refused: a runbook runs whole, so no step is skipped",
            hint="rerun without it; a rerun converges hosts an interrupted run left behind",
        )


def _check_run_shape(
    cli: Mapping[str, Any],
    extra_vars: Mapping[str, Any],
    identities: Mapping[str, str | None],
    environment: str | None,
    lb_hosts: Sequence[str],
    runbook_hosts: Sequence[str],
) -> None:
    """Refuse every way of running a runbook other than whole, on one environment's hosts."""
    _check_skipping(cli)
    inventories = list(cli.get("inventory") or ())
    if len(inventories) != 1:
        raise NotAuthorizedError(
            f"{len(inventories)} inventories given; a run targets one environment's inventory",
            hint="pass exactly one -i",
        )
    problems = input_problems(extra_vars)
    if problems:
        raise NotAuthorizedError(problems[0], hint="pass only run inputs, as plain values")
    _check_reached(identities, runbook_hosts, inventories[0])
    unenrolled = sorted(host for host, env in identities.items() if not env)
    if unenrolled:
        raise NotAuthorizedError(
            f"host {unenrolled[0]} carries no environment identity",
            hint="enroll every host (its identity file names its environment) and run the "
            "whole runbook",
        )
    if environment is None:
        pairs = ", ".join(f"{h}={e}" for h, e in sorted(identities.items()))
        raise NotAuthorizedError(
            f"hosts of several environments in one run ({pairs})",
            hint="run one environment at a time, with its own inventory",
        )
    if environment not in list_environments_with_policy():
        raise NotAuthorizedError(
            f"hosts are enrolled in {environment}, which has no policy in this checkout",
            hint=f"add inventories/{environment}/policy.yml",
        )
    missing = [host for host in lb_hosts[:1] if host not in identities]
    if missing:
        raise NotAuthorizedError(
            f"--limit leaves out {missing[0]}, which verifies the run",
            hint="add it (and localhost) to the limit",
        )


def step_refusal(
    *,
    pid: int,
    host: str,
    action: str,
    check_mode: bool,
    extra_var_names: Sequence[str],
    inventories: Sequence[str],
    connection: str,
    read_identity: Callable[[], str | None],
    grant_problem: Callable[[grant.Grant], str | None],
) -> str | None:
    """Why a host-changing step may not run here, or None; refusals are audited.

    connection is how this step reaches host: a step may change a host only over the
    connection its identity was read over.
    """
    held = grant.read(pid)
    if held is not None:
        identified_over = grant.connection(pid, host)
        if host not in held.hosts:
            problem = (
                f"{host} is not a host run {held.run_id} was authorized for "
                f"({held.environment}: {', '.join(held.hosts)})"
            )
        elif identified_over != connection:
            problem = (
                f"{host} is reached over another connection than the one its identity was "
                f"read over ({_changed_parts(identified_over, connection)})"
            )
        elif held.check and not check_mode:
            problem = f"run {held.run_id} was authorized as a plan (--check); it changes nothing"
        else:
            problem = grant_problem(held)
        if problem:
            _audit_step_refusal(
                held.environment, held.rollback_type, held.run_id, host, action, problem
            )
        return problem
    # Outside an authorized run (a helper playbook, or a runbook started mid-way): only
    # hosts of embedded environments, and hosts not yet enrolled in any, may change.
    protected = [n for n in extra_var_names if n.startswith(("ansible_", "rollbackctl_"))]
    if protected or len(inventories) > 1:
        problem = (
            f"-e {protected[0]} refused outside an authorized run"
            if protected
            else f"{len(inventories)} inventories refused outside an authorized run"
        )
        _audit_step_refusal("unknown", "helper", _unauthorized_run(pid), host, action, problem)
        return f"{problem}; pass one inventory and no connection or identity overrides"
    known = grant.identities(pid)
    try:
        if host in known and grant.connection(pid, host) == connection:
            environment = known[host]
        else:
            environment = read_identity()
    except (OSError, ValueError) as exc:
        return f"cannot read the environment identity of {host}: {exc}"
    grant.record_identity(pid, host, environment, connection)
    if environment is None or not is_guarded(environment):
        return None
    problem = (
        f"{host} belongs to {environment}, whose hosts change only in a run its runbook's "
        "preflight authorized (this step ran without one: a helper playbook, "
        "--start-at-task, tags)"
    )
    _audit_step_refusal(environment, "unknown", _unauthorized_run(pid), host, action, problem)
    return f"{problem}; run the whole runbook, e.g. 'rollbackctl app {environment}'"


def _changed_parts(before: str | None, now: str) -> str:
    """'name: old -> new' for each part of a connection line that differs."""
    if before is None:
        return "its identity was never read"
    old, new = json.loads(before), json.loads(now)
    return ", ".join(
        f"{name}: {old.get(name)} -> {new.get(name)}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    )


def _unauthorized_run(pid: int) -> str:
    """The id under which a process without a grant is recorded: one row in history per run."""
    return f"unauthorized-{grant.process_key(pid)}"


def _audit_step_refusal(
    environment: str, rollback_type: str, run_id: str, host: str, action: str, reason: str
) -> None:
    AuditLog.for_environment(environment).append(
        {
            "event": "attempt",
            "run_id": run_id,
            "environment": environment,
            "rollback_type": rollback_type,
            "allowed": False,
            "outcome": "refused",
            "reason": reason,
            "host": host,
            "action": action,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


PREFLIGHT_SKIPPED = (
    "the preflight (authorization, lock, confirmation) did not run on localhost; "
    "include localhost in --limit"
)


def unauthorized_end(*, pid: int) -> str | None:
    """At the end of a runbook whose authorize step never ran (a --limit without localhost):
    record the refusal that nothing else recorded, and return it."""
    if grant.was_decided(pid) or grant.read(pid) is not None:
        return None
    loaded = grant.loaded_runbook(pid)
    if loaded is None or not loaded.rollback_type:
        return None  # not a runbook (one refused as loaded never gets past its authorize step)
    rollback_type = loaded.rollback_type
    environment = _agreed_environment(grant.identities(pid)) or "unknown"
    request = {
        "environment": environment,
        "rollback_type": rollback_type,
        "target": "",
        "requester": "",
        "break_glass": False,
    }
    exc = NotAuthorizedError(PREFLIGHT_SKIPPED)
    AuditLog.for_environment(environment).append(
        _refusal(_unauthorized_run(pid), request, exc, datetime.now(UTC), {"pid": pid})
    )
    return exc.one_line()


def finish_run(pid: int, *, failed: bool) -> str | None:
    """Record the outcome of the run this playbook process holds, and release its lock."""
    held = grant.remove(pid)
    grant.prune()
    if held is None or held.check:
        return None
    lock = envlock.holder(held.environment)
    entry = {
        "event": "finished",
        "run_id": held.run_id,
        "environment": held.environment,
        "rollback_type": held.rollback_type,
        "requester": held.requester,
        "target": held.target,
        "outcome": "failed" if failed else "succeeded",
        "started_at": lock.started_at if lock else None,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if failed and held.silences:
        entry["silences"] = _end_silences(held.silences)
    AuditLog.for_environment(held.environment).append(entry)
    envlock.release(held.environment, held.run_id)
    return held.run_id


def _end_silences(silences: Sequence[Mapping[str, str]]) -> list[str]:
    """End a failed run's silences: the alerts of what is still broken must page again.
    What happened to each, for the audit entry; a silence that cannot be ended lapses at the
    end of its window."""
    outcomes = []
    for made in silences:
        try:
            alertmanager.expire(made["url"], made["id"])
            outcomes.append(f"{made['id']} ended")
        except (RollbackError, KeyError) as exc:
            outcomes.append(f"{made.get('id')} left to lapse: {exc}")
    return outcomes


def unlock(
    environment: str,
    *,
    requester: str,
    approvals: Sequence[str | Path],
    run_id: str,
    key: str | Path | None = None,
) -> envlock.LockHolder:
    """Clear a lock; needs the same authority as the rollback it interrupts.

    In a guarded environment the requester proves who they are with key, as for a run.
    """
    held = envlock.holder(environment)
    if held is None:
        raise RollbackError(f"environment {environment} is not locked")
    if not held.is_stale():
        raise LockedError(
            f"environment {environment} is locked by {held.describe()}, which is still running",
            hint="unlock clears only a stale lock; wait for the run to finish",
        )
    rollback_type = held.rollback_type
    if rollback_type == "unknown":
        # A lock that does not say what it guarded needs the authority of the strictest rule.
        rules = load_environment_policy(environment).rules
        rollback_type = max(rules, key=lambda name: (rules[name].approvers, rules[name].escalation))
    request_nonces: list[str] = []
    if is_guarded(environment):
        if not key:
            raise NotAuthorizedError(
                f"unlocking {environment} needs a proven requester",
                hint="pass --key (your SSH key in the environment's allowed_signers)",
            )
        with tempfile.TemporaryDirectory(prefix="rollbackctl-unlock-") as tmp:
            signed = sign_request(
                environment=environment,
                rollback_type=rollback_type,
                requester=requester,
                key=key,
                out=Path(tmp) / "request.json",
                target=held.target,
            )
            proven = verify_request(
                signed, environment=environment, rollback_type=rollback_type, target=held.target
            )
        requester = proven.payload.requester
        request_nonces.append(proven.payload.nonce)
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
    audit = AuditLog.for_environment(environment)
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
    NonceStore.for_environment(environment).consume([*decision.nonces, *request_nonces], run_id)
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
    log = AuditLog.for_environment(environment)
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
