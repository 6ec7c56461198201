"""The collection's registry of rollback types (meta/rollbacks.yml), loaded strictly.

Everything that needs to know which rollback types exist reads them from here: the CLI's
rollback commands, the AWX generator, the policy loader and the authorize step. A registry
that does not parse, or names a playbook that is not there, fails loudly: no command and no
authorization falls back to a guess.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir

REGISTRY_FILE = Path("meta") / "rollbacks.yml"
REGISTRY_VERSION = 1
# The run inputs a registry entry may map a CLI argument or flag to (runbooks.RUN_INPUTS
# checks their values inside the run).
MAPPABLE_INPUTS = frozenset(
    {
        "rollback_allow_schema_mismatch",
        "read_only_state",
        "rollback_confirm_seconds",
        "rollback_service",
    }
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_FLAG_RE = re.compile(r"^--[a-z][a-z0-9-]{0,31}$")
_ENTRY_KEYS = frozenset(
    {"playbook", "summary", "policy", "groups", "target", "arguments", "options"}
    | {"confirm", "results"}
)
_KNOWN_GROUPS = frozenset({"app", "db", "lb"})


@dataclass(frozen=True)
class Target:
    names: str  # what the target is: release, backup
    option: str
    metavar: str
    help: str


@dataclass(frozen=True)
class Argument:
    name: str
    input: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    input: str | None = None  # the run input set to true; None: a documented default
    conflicts: str | None = None  # "target": not together with the target option
    metavar: str | None = None  # the option takes a value, passed as its input, not a flag
    required: bool = False  # an option with a value the run cannot go without

    @property
    def param(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class RollbackType:
    name: str
    playbook: str
    summary: str
    policy: str
    groups: tuple[str, ...]
    confirm: bool
    target: Target | None = None
    arguments: tuple[Argument, ...] = ()
    options: tuple[Option, ...] = ()
    results: tuple[str, ...] = field(default_factory=tuple)

    def inputs(self) -> set[str]:
        """The run inputs this type's arguments and flags set."""
        given = {arg.input for arg in self.arguments}
        return given | {opt.input for opt in self.options if opt.input}

    def scope(self, inputs: Mapping[str, Any]) -> str | None:
        """What a run of this type is confined to, which its approvals must name with the
        target (SCOPE:TARGET): the value of its required valued option (third-party's
        service). None for a type without one."""
        for option in self.options:
            if option.required and option.input:
                return str(inputs.get(option.input) or "")
        return None

    def action_target(self, inputs: Mapping[str, Any]) -> str | None:
        """What an approval of a type without a target names: the action itself.

        Types sharing a policy rule (read-only on, read-only off, emergency-stop, resume) must
        not share approvals: an approval signed to stop traffic never resumes it. The action is
        the first argument's value (on, off), else the type's name. None for a type that takes
        a target (a release, a backup): its approvals name that.
        """
        if self.target is not None:
            return None
        if self.arguments:
            return str(inputs.get(self.arguments[0].input) or "")
        return self.name


class RegistryError(UsageError):
    """meta/rollbacks.yml is not what this version of rollbackctl reads."""


def registry_path(root: Path | None = None) -> Path:
    return (root or project_dir()) / REGISTRY_FILE


def rollback_types(root: Path | None = None) -> dict[str, RollbackType]:
    """Every registered type by name, in the order of the file."""
    return dict(_load(registry_path(root).resolve()))


def get(name: str, root: Path | None = None) -> RollbackType:
    types = rollback_types(root)
    if name not in types:
        raise UsageError(
            f"unknown rollback type '{name}'", hint=f"available: {', '.join(sorted(types))}"
        )
    return types[name]


def by_playbook(root: Path | None = None) -> dict[str, RollbackType]:
    """Playbook file name -> its registered type."""
    return {entry.playbook: entry for entry in rollback_types(root).values()}


def policy_keys(root: Path | None = None) -> tuple[str, ...]:
    """The policy rules a policy must (and may only) define, in registry order, no repeats."""
    return tuple(dict.fromkeys(entry.policy for entry in rollback_types(root).values()))


@functools.cache
def _load(path: Path) -> tuple[tuple[str, RollbackType], ...]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(
            f"cannot read the rollback registry {path}: {exc}",
            hint="restore meta/rollbacks.yml from the reviewed checkout",
        ) from exc
    if not isinstance(data, dict) or data.get("version") != REGISTRY_VERSION:
        raise _bad(path, "version", f"must be {REGISTRY_VERSION}")
    entries = data.get("rollbacks")
    if not isinstance(entries, dict) or not entries:
        raise _bad(path, "rollbacks", "must map each type to its entry")
    loaded = []
    playbooks: set[str] = set()
    folder = path.parent.parent / "playbooks"
    for name, raw in entries.items():
        entry = _entry(path, name, raw)
        if entry.playbook in playbooks:
            raise _bad(path, name, f"playbook {entry.playbook} is registered twice")
        if not (folder / entry.playbook).is_file():
            raise _bad(path, f"{name}.playbook", f"playbooks/{entry.playbook} does not exist")
        playbooks.add(entry.playbook)
        loaded.append((name, entry))
    return tuple(loaded)


def _entry(path: Path, name: object, raw: object) -> RollbackType:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _bad(path, str(name), "a type name is lower-case letters, digits and -")
    if not isinstance(raw, dict):
        raise _bad(path, name, "must be a mapping")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise _bad(path, name, f"unknown keys {', '.join(unknown)}")
    playbook = _text(path, f"{name}.playbook", raw.get("playbook"))
    if "/" in playbook or not playbook.endswith(".yml"):
        raise _bad(path, f"{name}.playbook", "a file name under playbooks/")
    groups = tuple(_texts(path, f"{name}.groups", raw.get("groups")))
    if not groups or set(groups) - _KNOWN_GROUPS:
        raise _bad(path, f"{name}.groups", f"choose from {', '.join(sorted(_KNOWN_GROUPS))}")
    confirm = raw.get("confirm")
    if not isinstance(confirm, bool):
        raise _bad(path, f"{name}.confirm", "must be true or false")
    return RollbackType(
        name=name,
        playbook=playbook,
        summary=_text(path, f"{name}.summary", raw.get("summary")),
        policy=_text(path, f"{name}.policy", raw.get("policy")),
        groups=groups,
        confirm=confirm,
        target=_target(path, name, raw.get("target")),
        arguments=tuple(_argument(path, name, a) for a in _list(path, name, raw, "arguments")),
        options=tuple(_option(path, name, o) for o in _list(path, name, raw, "options")),
        results=tuple(_texts(path, f"{name}.results", raw.get("results", []))),
    )


def _target(path: Path, name: str, raw: object) -> Target | None:
    if raw is None:
        return None
    where = f"{name}.target"
    fields = _fields(path, where, raw, {"names", "option", "metavar", "help"})
    option = fields["option"]
    if not _FLAG_RE.match(option):
        raise _bad(path, f"{where}.option", "a long option such as --to")
    return Target(
        names=fields["names"], option=option, metavar=fields["metavar"], help=fields["help"]
    )


def _argument(path: Path, name: str, raw: object) -> Argument:
    where = f"{name}.arguments"
    if not isinstance(raw, dict) or set(raw) != {"name", "input", "choices"}:
        raise _bad(path, where, "each argument has name, input and choices")
    choices = tuple(_texts(path, f"{where}.choices", raw["choices"]))
    return Argument(
        name=_text(path, f"{where}.name", raw["name"]),
        input=_input(path, where, raw["input"]),
        choices=choices,
    )


def _option(path: Path, name: str, raw: object) -> Option:
    where = f"{name}.options"
    if not isinstance(raw, dict) or not {"flag", "help"} <= set(raw) <= {
        "flag",
        "help",
        "input",
        "conflicts",
        "metavar",
        "required",
    }:
        raise _bad(
            path,
            where,
            "each option has flag and help, and maybe input, conflicts, metavar and required",
        )
    flag = _text(path, f"{where}.flag", raw["flag"])
    if not _FLAG_RE.match(flag):
        raise _bad(path, f"{where}.flag", "a long option such as --check")
    conflicts = raw.get("conflicts")
    if conflicts not in (None, "target"):
        raise _bad(path, f"{where}.conflicts", "only 'target' is known")
    given = raw.get("input")
    metavar = raw.get("metavar")
    if metavar is not None and given is None:
        raise _bad(path, f"{where}.metavar", "an option with a value passes it as its input")
    required = raw.get("required", False)
    if not isinstance(required, bool) or (required and metavar is None):
        raise _bad(path, f"{where}.required", "true or false, and only for an option with a value")
    return Option(
        flag=flag,
        help=_text(path, f"{where}.help", raw["help"]),
        input=None if given is None else _input(path, where, given),
        conflicts=conflicts,
        metavar=None if metavar is None else _text(path, f"{where}.metavar", metavar),
        required=required,
    )


def _input(path: Path, where: str, value: object) -> str:
    if value not in MAPPABLE_INPUTS:
        raise _bad(path, f"{where}.input", f"choose from {', '.join(sorted(MAPPABLE_INPUTS))}")
    return str(value)


def _fields(path: Path, where: str, raw: object, keys: set[str]) -> dict[str, str]:
    if not isinstance(raw, dict) or set(raw) != keys:
        raise _bad(path, where, f"needs exactly {', '.join(sorted(keys))}")
    return {key: _text(path, f"{where}.{key}", raw[key]) for key in keys}


def _list(path: Path, name: str, raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise _bad(path, f"{name}.{key}", "must be a list")
    return value


def _texts(path: Path, where: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise _bad(path, where, "must be a list of names")
    return [_text(path, where, item) for item in value]


def _text(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(path, where, "must be non-empty text")
    return value.strip()


def _bad(path: Path, where: str, problem: str) -> RegistryError:
    return RegistryError(
        f"rollback registry {path}: {where}: {problem}",
        hint="fix meta/rollbacks.yml (its header lists the keys)",
    )
