"""Environments are inventories: inventories/<name>/hosts.yml with groups app, db and lb."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import inventories_dir

REQUIRED_GROUPS = ("app", "db", "lb")


@dataclass(frozen=True)
class Environment:
    name: str
    path: Path

    @property
    def inventory(self) -> Path:
        return self.path / "hosts.yml"

    def hosts(self, group: str) -> list[str]:
        return _group_hosts(_load_inventory(self.inventory), group)


def list_environments() -> list[str]:
    root = inventories_dir()
    return sorted(p.parent.name for p in root.glob("*/hosts.yml"))


def get_environment(name: str) -> Environment:
    """The named environment, with its inventory checked; UsageError names what is wrong."""
    known = list_environments()
    if name not in known:
        raise UsageError(
            f"unknown environment '{name}'",
            hint=f"known environments: {', '.join(known) or 'none'} (see 'rollbackctl envs')",
        )
    env = Environment(name, inventories_dir() / name)
    inventory = _load_inventory(env.inventory)
    for group in REQUIRED_GROUPS:
        if not _group_hosts(inventory, group):
            raise UsageError(
                f"malformed inventory {env.inventory}: group '{group}' has no hosts",
                hint=f"define groups {', '.join(REQUIRED_GROUPS)} under all.children",
            )
    return env


def _load_inventory(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(
            f"malformed inventory {path}: not valid YAML{where}", hint="fix the file"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("all"), dict):
        raise UsageError(
            f"malformed inventory {path}: top level must be a mapping with 'all'",
            hint="see inventories/sandbox/hosts.yml for the layout",
        )
    return data


def _group_hosts(inventory: dict[str, Any], group: str) -> list[str]:
    children = inventory["all"].get("children") or {}
    if not isinstance(children, dict):
        return []
    entry = children.get(group) or {}
    hosts = entry.get("hosts") if isinstance(entry, dict) else None
    return list(hosts) if isinstance(hosts, dict) else []
