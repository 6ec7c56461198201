"""Turn a playbook run into the evidence bundle: result.json, report.txt, junit.xml, the
timeline, the post-mortem draft and report.html."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from rollbackctl.run import html_report, timeline
from rollbackctl.run.runner import RunOutcome


def operator() -> str:
    return os.environ.get("ROLLBACKCTL_OPERATOR") or getpass.getuser()


def build_result(
    outcome: RunOutcome,
    *,
    environment: str,
    rollback_type: str,
    check: bool,
    requested: dict[str, Any],
    error: str | None,
) -> dict[str, Any]:
    """The result document: what ran, who asked, what each host and step did."""
    stats = outcome.stats
    hosts: dict[str, dict[str, Any]] = {}
    for step in outcome.steps:
        host = hosts.setdefault(step.host, {"status": "ok", "changed": 0, "failed": 0})
        host["changed"] += int(step.changed)
        if step.status in ("failed", "unreachable") and not step.ignored:
            host["failed"] += 1
    for name, counts in outcome.host_stats.items():
        host = hosts.setdefault(name, {"status": "ok", "changed": 0, "failed": 0})
        if counts.get("dark"):
            host["status"] = "unreachable"
        elif counts.get("failures"):
            host["status"] = "failed"
    status = "planned" if check and outcome.ok else ("succeeded" if outcome.ok else "failed")
    return {
        "status": status,
        "environment": environment,
        "type": rollback_type,
        "check": check,
        "from": stats.get("rollback_from"),
        "to": stats.get("rollback_to"),
        "requested": requested,
        "operator": operator(),
        "run_id": outcome.run_id,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "duration_s": outcome.duration_s,
        "error": error,
        "hosts": hosts,
        "steps": [
            {
                "host": s.host,
                "task": s.task,
                "role": s.role,
                "status": s.status,
                "changed": s.changed,
                **({"message": s.message} if s.message else {}),
            }
            for s in outcome.steps
            if s.status != "skipped"
        ],
        "checklist": stats.get("checklist") or _checklist_from_steps(outcome),
        "artifacts": str(outcome.run_dir),
    }


def _checklist_from_steps(outcome: RunOutcome) -> list[dict[str, Any]]:
    # A failed checklist never reaches set_stats; its task result still holds the items.
    for step in reversed(outcome.steps):
        checks = step.result.get("checks")
        if checks:
            return list(checks)
    return []


def write_bundle(result: dict[str, Any], run_dir: Path) -> None:
    """The run's evidence: the result, a text report, JUnit, the timeline, a post-mortem draft
    and the HTML report of them all."""
    text = render_text(result)
    (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    (run_dir / "report.txt").write_text(text)
    _write_junit(result, run_dir / "junit.xml")
    html_report.write(result, timeline.write(result, run_dir), text, run_dir)


def render_text(result: dict[str, Any]) -> str:
    head = (
        f"{result['type']} rollback on {result['environment']}: {result['status'].upper()}"
        f"  ({result.get('from') or '?'} -> {result.get('to') or '?'})"
    )
    lines = [head, f"run {result['run_id']} by {result['operator']}, {result['duration_s']}s"]
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    for name, host in sorted(result["hosts"].items()):
        lines.append(f"  {name:<10} {host['status']:<7} {host['changed']} changed")
    for item in result.get("checklist") or []:
        mark = "PASS" if item.get("ok") else "FAIL"
        lines.append(f"  [{mark}] {item.get('name')}: {item.get('detail')}")
    lines += _database_lines(result.get("database") or {}, planned=bool(result.get("check")))
    for label, findings in (result.get("corruption") or {}).items():
        counts = ", ".join(f"{f['name']}: {f['count']}" for f in findings)
        lines.append(f"corruption {label}: {counts}")
    lines += _full_lines(result.get("full") or {})
    lines += _config_lines(result.get("config") or {}, result.get("third_party") or {})
    lines += _monitoring_lines(result.get("monitoring") or {})
    lines.append(f"artifacts: {result['artifacts']}")
    return "\n".join(lines) + "\n"


# A full rollback's steps, in the order it runs them.
FULL_STEPS = (
    "emergency_stop",
    "database",
    "application",
    "configuration",
    "infrastructure",
    "validation",
    "resume",
)


def _full_lines(full: dict[str, Any]) -> list[str]:
    """Where each component of a full rollback stands: what each step did, and which steps a
    failed run never reached (their components are where they were)."""
    if not full:
        return []
    lines = [
        f"restore point {full.get('restore_point')}: release {full.get('release')}, "
        f"configuration {full.get('config_commit')}, snapshot {full.get('infra_snapshot')}, "
        f"backup {full.get('backup')}"
    ]
    steps = full.get("steps") or {}
    if full.get("state") == "planned":
        return [*lines, "nothing changed: every component was checked (--check)"]
    for step in FULL_STEPS:
        done = steps.get(step)
        lines.append(f"  {step:<15} {done if done else 'NOT DONE: unchanged by this run'}")
    if full.get("state") != "rolled-back" and steps.get("emergency_stop"):
        lines.append("the maintenance page is up; rerun the full rollback to converge")
    return lines


def _config_lines(config: dict[str, Any], third_party: dict[str, Any]) -> list[str]:
    """A configuration or third-party rollback's outcome, then the change file by file (git's
    diff)."""
    if not config:
        return []
    state = (third_party or config).get("state") or "stopped before the outcome"
    if state == "confirmed":
        state = f"confirmed by {config.get('confirmed_by')}"
    what = f"{third_party['service']} settings" if third_party.get("service") else "configuration"
    if third_party.get("version"):
        what += f" (API version {third_party['version']})"
    lines = [f"{what} {state}: {', '.join(config.get('files') or [])}"]
    lines += [f"  {line}" for line in config.get("diff") or []]
    return lines


def _monitoring_lines(monitoring: dict[str, Any]) -> list[str]:
    """What the environment's Alertmanager was told: the silence and the event, or why not."""
    if not monitoring:
        return []
    state = monitoring.get("state")
    if state == "skipped":
        return [f"monitoring skipped: {monitoring.get('reason')}"]
    if state == "failed":
        return [f"monitoring not updated: {monitoring.get('error')}"]
    line = f"monitoring {state} in {monitoring.get('alertmanager')}"
    if monitoring.get("silence"):
        line += f": silence {monitoring['silence']} until {monitoring.get('until')}"
    if monitoring.get("event"):
        line += f", event {monitoring['event']} posted"
    return [line]


def _database_lines(database: dict[str, Any], *, planned: bool) -> list[str]:
    """What a run did to the database, or in check mode what it would do: never both."""
    lines = []
    if database.get("restored") is False:
        lines.append(f"nothing restored: {database.get('reason')}")
    if "read_only" in database:
        mode = "on" if database["read_only"] else "off"
        lines.append(f"read-only {mode}: write probe {database.get('write_probe')}")
    if database.get("safety_backup"):
        taken = f"safety backup: {database['safety_backup']}"
        lines.append("would take a safety backup first" if planned else taken)
    previous = database.get("previous_database")
    if previous and planned:
        lines.append(f"would keep the current database as {previous}")
    elif previous:
        lines.append(f"previous database kept as {previous} (drop it when done)")
    if database.get("swap_ms") is not None:
        lines.append(f"writes held for the swap: {database['swap_ms']} ms")
    comparison = database.get("kept_vs_restored")
    if comparison and not planned:
        # The first thing to act on after a restore: orders that exist only in the kept copy.
        lines.append(f"{comparison['summary']} (rollbackctl db-diff for every table)")
    return lines


def _write_junit(result: dict[str, Any], path: Path) -> None:
    suite = ElementTree.Element(
        "testsuite", name=f"rollback.{result['type']}.{result['environment']}"
    )
    cases = [(f"step: {s['host']} {s['task']}", s) for s in result["steps"]]
    cases += [(f"checklist: {c.get('name')}", c) for c in result.get("checklist") or []]
    failures = 0
    for name, item in cases:
        case = ElementTree.SubElement(suite, "testcase", name=name, classname=result["type"])
        failed = item.get("status") in ("failed", "unreachable") or item.get("ok") is False
        if failed:
            failures += 1
            node = ElementTree.SubElement(case, "failure")
            node.text = str(item.get("message") or item.get("detail") or "")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    ElementTree.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)
