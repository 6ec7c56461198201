"""Every task the collection ships either only looks, or changes a host through the guard.

The guard lives in action plugins, so a task that changes a host with a module that has none
would run without a grant. This test reads every role and playbook and fails on such a task.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GUARD_BASES = ("GuardedActionMixin", "GuardedModuleAction")
TASK_KEYWORDS = {
    "name", "when", "register", "loop", "loop_control", "vars", "notify", "tags", "become",
    "changed_when", "failed_when", "check_mode", "diff", "delegate_to", "run_once", "until",
    "retries", "delay", "no_log", "ignore_errors", "args", "environment", "listen", "block",
    "rescue", "always", "any_errors_fatal", "throttle", "timeout", "module_defaults",
    "delegate_facts", "async", "poll",
}  # fmt: skip
# Modules that only read, decide or report.
READ_ONLY = {
    "ansible.builtin.assert",
    "ansible.builtin.set_fact",
    "ansible.builtin.set_stats",
    "ansible.builtin.fail",
    "ansible.builtin.debug",
    "ansible.builtin.meta",
    "ansible.builtin.stat",
    "ansible.builtin.slurp",
    "ansible.builtin.find",
    "ansible.builtin.import_role",
    "ansible.builtin.include_role",
    "ansible.builtin.import_tasks",
    "ansible.builtin.include_tasks",
    "ansible.builtin.import_playbook",
    "community.docker.docker_image_info",
    "community.docker.docker_container_info",
    "rollbackctl.runbooks.host_identity",
    "rollbackctl.runbooks.authorize",
    "rollbackctl.runbooks.app_checklist",
    "rollbackctl.runbooks.db_checklist",
    "rollbackctl.runbooks.db_assess",
    "rollbackctl.runbooks.db_diff",
    # Waits for a person and writes the audit log on the controller, never a host.
    "rollbackctl.runbooks.config_confirmation",
    # Reads a restore point; what it binds is the run's grant, on the controller.
    "rollbackctl.runbooks.restore_point",
    # Reads the configuration repository; what it binds is the run's grant, on the controller.
    "rollbackctl.runbooks.integration_pin",
    # Changes the environment's Alertmanager, never a host, and only inside an authorized run.
    "rollbackctl.runbooks.monitoring_update",
}
# Steps that run on the controller only (a play on localhost, which is never a guarded host)
# and change nothing but a scratch folder of their own run.
CONTROLLER_SCRATCH = {
    "roles/config_files/tasks/stage.yml: Make a folder for the commit's files",
    "roles/config_files/tasks/stage.yml: Unpack them",
    "roles/config_files/tasks/unstage.yml: Remove the controller's export of the commit",
}
# Changes that only add a copy (a new backup; retention keeps the newest verified one): a
# guarded environment takes backups on its own schedule, outside any rollback run.
ADDITIVE = {"rollbackctl.runbooks.db_backup"}
# Builtins that only probe when they report no change.
PROBES = {"ansible.builtin.command", "ansible.builtin.uri"}


def _tasks(entries: Any) -> Iterator[dict[str, Any]]:
    for task in entries or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def _files() -> list[Path]:
    found = [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/handlers/*.yml")]
    found += REPO.glob("playbooks/tasks/*.yml")
    return sorted(found)


def _all_tasks() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in _files():
        for task in _tasks(yaml.safe_load(path.read_text())):
            yield f"{path.relative_to(REPO)}: {task.get('name')}", task
    for path in sorted(REPO.glob("playbooks/*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                for task in _tasks(play.get(key)):
                    yield f"{path.relative_to(REPO)}: {task.get('name')}", task


def _module(task: dict[str, Any]) -> str | None:
    modules = [k for k in task if k not in TASK_KEYWORDS]
    return modules[0] if modules else None


def _guarded_modules() -> set[str]:
    guarded = set()
    for path in (REPO / "plugins" / "action").glob("*.py"):
        if any(base in path.read_text() for base in GUARD_BASES):
            guarded.add(f"rollbackctl.runbooks.{path.stem}")
    return guarded


TASKS = list(_all_tasks())


def test_the_guard_covers_the_host_changing_modules() -> None:
    guarded = _guarded_modules()
    for name in ("release_ledger", "nginx_backend", "db_restore", "db_read_only", "infra_snapshot"):
        assert f"rollbackctl.runbooks.{name}" in guarded
    for name in (
        "command",
        "template",
        "copy",
        "file",
        "unarchive",
        "docker_container",
        "docker_image",
    ):
        assert f"rollbackctl.runbooks.guarded_{name}" in guarded


@pytest.mark.parametrize(("where", "task"), TASKS, ids=[w for w, _ in TASKS])
def test_task_only_looks_or_changes_through_the_guard(where: str, task: dict[str, Any]) -> None:
    module = _module(task)
    if module is None or module in READ_ONLY | ADDITIVE | _guarded_modules():
        return
    if where in CONTROLLER_SCRATCH:
        return
    probe = task.get("changed_when") is False and module in PROBES
    assert probe, (
        f"{where} runs {module}, which changes hosts without the guard: use its "
        "rollbackctl.runbooks.guarded_* form, or make it a probe (changed_when: false)"
    )


def _controller_entry_points() -> set[str]:
    return {where.split(".yml:")[0].rsplit("/", 1)[1] for where in CONTROLLER_SCRATCH}


def test_controller_scratch_steps_run_in_plays_on_localhost_only() -> None:
    entry_points = _controller_entry_points()
    seen = []
    for path in sorted(REPO.glob("playbooks/*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            for task in _tasks(play.get("tasks")):
                include = task.get("ansible.builtin.include_role") or {}
                if include.get("name") == "rollbackctl.runbooks.config_files" and (
                    include.get("tasks_from") in entry_points
                ):
                    seen.append(path.name)
                    assert play.get("hosts") == "localhost", f"{path.name}: {play.get('name')}"
    assert "config.yml" in seen and "config_deploy.yml" in seen
