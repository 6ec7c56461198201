"""Which playbook a run executes, of which rollback type, and which inputs a run may take.

The type of a run is its runbook's, read from the plays ansible-playbook loaded, never from a
variable or a file name: an approval for a lighter type can then never restore a database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir

# Everything a launcher may pass with -e / extravars / a survey. Anything else would override
# a variable the runbook sets itself (extra vars win over set_fact), so it is refused.
RUN_INPUTS: Mapping[str, str] = {
    "rollback_confirmed": "bool",
    "rollback_to": "id",
    "rollback_approvals": "paths",
    "rollback_request": "path",
    "rollback_requester": "name",
    "rollback_break_glass": "bool",
    "rollback_allow_schema_mismatch": "bool",
    "rollbackctl_run_id": "id",
    "read_only_state": "on_off",
    "rollback_reason": "reason",
    "rollback_note": "note",
    "rollback_confirm_seconds": "seconds",
    "rollback_service": "name",
}
# The runbook's manual triggers: why a person starts a rollback (--reason), recorded with the
# run in the audit log, its result and history.
MANUAL_REASONS: Mapping[str, str] = {
    "customer-complaints": "customer complaints over threshold",
    "feature-broken": "major feature non-functional",
    "performance-degraded": "performance degraded more than 50% from baseline",
    "third-party-failure": "third-party integration failures",
    "business-decision": "team decision on business impact",
}
NOTE_MAX_CHARS = 500
# A run input of kind "seconds" (how long a run waits for a person) lies in this range.
SECONDS_RANGE = (1, 3600)
# The inputs every runbook takes, as the authorize step reads them (the AWX survey asks them).
COMMON_INPUTS: Mapping[str, Mapping[str, Any]] = {
    "rollback_confirmed": {
        "type": "bool",
        "default": False,
        "description": "The operator confirmed the run. The CLI sets it after asking; AWX and "
        "plain ansible-playbook pass -e rollback_confirmed=true; check mode needs none.",
    },
    "rollback_to": {
        "type": "str",
        "default": "",
        "description": "Release or backup to roll back to; empty takes the one the approvals "
        "name, else the runbook's default (the last stable release, the newest verified backup).",
    },
    "rollback_approvals": {
        "type": "list",
        "elements": "str",
        "default": [],
        "description": "Signed approval files on the controller (-e rollback_approvals=[...]).",
    },
    "rollback_requester": {
        "type": "str",
        "default": "",
        "description": "Who asks for the run; under AWX the launching user is recorded too.",
    },
    "rollback_break_glass": {
        "type": "bool",
        "default": False,
        "description": "Run under the policy's break-glass rule (sign-off due afterwards).",
    },
    "rollback_reason": {
        "type": "str",
        "default": "",
        "choices": list(MANUAL_REASONS),
        "description": "Why the rollback is started, as one of the runbook's manual triggers; "
        "recorded with the run.",
    },
    "rollback_note": {
        "type": "str",
        "default": "",
        "description": f"A note on the run for the record (plain text, up to {NOTE_MAX_CHARS} "
        "characters): the incident, what was seen.",
    },
}
COLLECTION_PREFIX = "rollbackctl.runbooks."
# Folders Ansible loads from beside the playbook it was given: plugins of every kind, modules,
# module_utils and collections.
LOADED_BESIDE_PLAYBOOK = frozenset(
    {
        "action_plugins",
        "become_plugins",
        "cache_plugins",
        "callback_plugins",
        "cliconf_plugins",
        "collections",
        "connection_plugins",
        "doc_fragments",
        "filter_plugins",
        "httpapi_plugins",
        "inventory_plugins",
        "library",
        "lookup_plugins",
        "module_utils",
        "netconf_plugins",
        "shell_plugins",
        "strategy_plugins",
        "terminal_plugins",
        "test_plugins",
        "vars_plugins",
    }
)
# Set by AWX/Tower itself on every job.
PLATFORM_PREFIXES = ("awx_", "tower_")

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._/+@-]{1,4095}$")


@dataclass(frozen=True)
class LoadedPlay:
    """A play as ansible-playbook loaded it: the file and line it is written at, and what an
    import_playbook around it may have added (vars, tags, a condition)."""

    path: str
    line: int
    vars: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    conditional: bool = False


def runbook_of(playbooks: Sequence[str], plays: Sequence[LoadedPlay]) -> tuple[str, str] | None:
    """(playbook file name, rollback type) of the runbook these loaded plays are; None when
    none of them comes from a registered runbook (a helper playbook such as deploy.yml).

    The verdict is made on what Ansible loaded, not on the file name the launcher gave: the
    plays must be exactly one registered runbook's, as written in the collection's own
    playbooks folder, in order, nothing before or after them and nothing added by an import.
    So `ansible-playbook rollbackctl.runbooks.app` and an AWX project file that only imports
    it are that runbook; a copy, a link or a wrapper that adds plays or variables is not.
    """
    home = (project_dir() / "playbooks").resolve()
    runbooks = registry.by_playbook()
    named = sorted({Path(p.path).name for p in plays if _at_home(p.path, home)} & set(runbooks))
    if not named:
        return None
    hint = f"run one of {', '.join(sorted(runbooks))} as the collection has it: " + (
        "ansible-playbook rollbackctl.runbooks.NAME, or a playbook that only imports it"
    )
    if len(playbooks) != 1 or len(named) != 1:
        runs = ", ".join(playbooks) if len(playbooks) != 1 else ", ".join(named)
        raise NotAuthorizedError(
            f"{max(len(playbooks), len(named))} runbooks in one run ({runs})", hint=hint
        )
    name = named[0]
    problem = _launch_problem(playbooks[0], name, home)
    if problem:
        raise NotAuthorizedError(problem, hint=hint)
    written = written_plays(home / name)
    # The collection may be reached through a link (a checkout's collections/ folder).
    plays = [
        replace(p, path=str(home / Path(p.path).name)) if _at_home(p.path, home) else p
        for p in plays
    ]
    for loaded, expected in zip(plays, written, strict=False):
        if loaded != expected:
            raise NotAuthorizedError(
                f"{name} is not run as written: {_difference(loaded, expected)}", hint=hint
            )
    if len(plays) != len(written):
        raise NotAuthorizedError(
            f"{name} is not run as written: {len(plays)} plays loaded, it has {len(written)}",
            hint=hint,
        )
    return name, runbooks[name].policy


def _launch_problem(given: str, name: str, home: Path) -> str | None:
    """Why the playbook ansible-playbook was given may not launch runbook name, or None.

    Ansible loads plugin and collection folders found beside that playbook, and templates an
    import's name, before anything of this collection runs. The runbook's own file and its
    name need no check; any other file must be exactly one plain import of the runbook by
    name, in a folder with no plugin or collection folder. Code that was loaded that way
    could undo this check; it keeps an ordinary project file from smuggling code in.
    """
    if given == f"{COLLECTION_PREFIX}{Path(name).stem}" or _at_home(given, home):
        return None
    path = Path(given)
    try:
        entries = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return f"{given} cannot be read as a playbook: {exc}"
    plain = {"name", "ansible.builtin.import_playbook", "import_playbook"}
    imported = [
        entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
        for entry in entries or []
        if isinstance(entry, dict) and set(entry) <= plain
    ]
    if imported != [f"{COLLECTION_PREFIX}{Path(name).stem}"] or len(entries) != 1:
        return f"{given} is not one plain import of {COLLECTION_PREFIX}{Path(name).stem}"
    beside = sorted(p.name for p in path.parent.iterdir() if p.name in LOADED_BESIDE_PLAYBOOK)
    if beside:
        return f"{given} has {beside[0]}/ beside it, which Ansible would load into the run"
    return None


def written_plays(path: Path) -> list[LoadedPlay]:
    """The plays of a playbook file as written, the playbooks it imports expanded in place."""
    plays: list[LoadedPlay] = []
    loader = yaml.SafeLoader(path.read_text())
    try:
        document = loader.get_single_node()
        for node in document.value if document is not None else ():
            entry = loader.construct_document(node)
            imported = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
            if imported:
                plays += written_plays(_imported_path(str(imported), path.parent))
                continue
            tags = entry.get("tags") or ()
            plays.append(
                LoadedPlay(
                    path=str(path),
                    line=node.start_mark.line + 1,
                    vars=dict(entry.get("vars") or {}),
                    tags=tuple(sorted([tags] if isinstance(tags, str) else tags)),
                )
            )
    finally:
        loader.dispose()
    return plays


def _imported_path(imported: str, folder: Path) -> Path:
    if imported.startswith(COLLECTION_PREFIX):
        return folder / f"{imported.removeprefix(COLLECTION_PREFIX)}.yml"
    return folder / imported


def _at_home(path: str, home: Path) -> bool:
    """A file in the collection's own playbooks folder, not a link to one."""
    file = Path(path)
    return not file.is_symlink() and file.parent.resolve() == home


def _difference(loaded: LoadedPlay, expected: LoadedPlay) -> str:
    where = f"{loaded.path}:{loaded.line}"
    if (loaded.path, loaded.line) != (expected.path, expected.line):
        if _at_home(loaded.path, Path(expected.path).parent):
            return f"the play at {where} is not the one expected there"
        return f"the play at {where} is not the runbook's"
    if loaded.conditional:
        return f"the play at {where} is imported under a condition"
    if loaded.tags != expected.tags:
        return f"the play at {where} has tags {', '.join(loaded.tags)} added"
    added = sorted(set(loaded.vars) - set(expected.vars)) or sorted(
        k for k in loaded.vars if loaded.vars[k] != expected.vars.get(k)
    )
    return f"the play at {where} has variables set by its import ({', '.join(added)})"


def input_problems(extra_vars: Mapping[str, Any]) -> list[str]:
    """One line per extra var a run must not take, or whose value is not plain data."""
    problems = []
    for name in sorted(extra_vars):
        if name.startswith(PLATFORM_PREFIXES):
            continue
        kind = RUN_INPUTS.get(name)
        if kind is None:
            problems.append(
                f"-e {name} is not a run input (a run takes {', '.join(sorted(RUN_INPUTS))})"
            )
            continue
        problem = _value_problem(kind, extra_vars[name])
        if problem:
            problems.append(f"-e {name}: {problem}")
    return problems


def note_problem(value: object) -> str | None:
    """Why a run's note is not plain text it may carry into the record, or None."""
    if not isinstance(value, str):
        return "must be text"
    if len(value) > NOTE_MAX_CHARS:
        return f"longer than {NOTE_MAX_CHARS} characters"
    # isprintable() also refuses line and paragraph separators, C1 controls and bidi
    # overrides: nothing that could forge a line in history or reorder what a reader sees.
    if not value.isprintable():
        return "must be one line of printable text"
    # Nothing templates the note, and a note that looks like a template is not a note.
    if "{{" in value or "{%" in value or "{#" in value:
        return "must not contain template markers ({{, {%, {#)"
    return None


def run_trigger(extra_vars: Mapping[str, Any]) -> dict[str, str | None]:
    """The reason and note a run was started with, as recorded: None when not given, or not
    valid (the run is refused for it, and the record keeps none of an invalid value)."""
    reason, note = extra_vars.get("rollback_reason"), extra_vars.get("rollback_note")
    return {
        "reason": reason if reason and _value_problem("reason", reason) is None else None,
        "note": note if note and note_problem(note) is None else None,
    }


def check_id(value: object, what: str) -> str:
    """A release, backup or run id as plain text; UsageError names the problem."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is empty", hint=f"name the {what} (see --help)")
    if not ID_RE.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a valid id",
            hint="use letters, digits and . _ : + - (up to 128 characters)",
        )
    return value


def _value_problem(kind: str, value: object) -> str | None:
    if kind == "bool":
        if isinstance(value, bool) or value in ("true", "false", "True", "False", "yes", "no"):
            return None
        return "must be true or false"
    if kind == "on_off":
        return None if value in ("on", "off") else "must be on or off"
    if kind == "id":
        if value == "":
            return None
        return None if isinstance(value, str) and ID_RE.fullmatch(value) else "not a valid id"
    if kind == "reason":
        if isinstance(value, str) and (value == "" or value in MANUAL_REASONS):
            return None
        return f"not a manual reason (one of {', '.join(MANUAL_REASONS)})"
    if kind == "note":
        return note_problem(value)
    if kind == "seconds":
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
        low, high = SECONDS_RANGE
        in_range = number is not None and low <= number <= high
        return None if in_range else f"not {low} to {high} seconds"
    if kind == "name":
        return None if isinstance(value, str) and NAME_RE.fullmatch(value) else "not a valid name"
    if kind == "path":
        if value == "":
            return None
        return None if isinstance(value, str) and PATH_RE.fullmatch(value) else "not a plain path"
    if kind == "paths":
        if not isinstance(value, list):
            return "must be a list of paths"
        bad = [p for p in value if not (isinstance(p, str) and PATH_RE.fullmatch(p))]
        return f"not a plain path: {bad[0]!r}" if bad else None
    return "unknown input kind"
