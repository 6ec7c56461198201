"""Rollback triggers as data: the runbook's defaults (meta/triggers.yml) with an environment's
changes (inventories/<env>/triggers.yml), checked, and the Prometheus alerting rules they make.

A trigger fires only when its value is past its threshold at every evaluation for its window,
with at least its minimum traffic behind it. A value with no series is no data: the trigger
stays quiet and an inconclusive alert says why, so a gap in monitoring never starts a rollback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir

from rollbackctl.run.environments import get_environment

DEFAULTS_FILE = Path("meta") / "triggers.yml"
ENVIRONMENT_FILE = "triggers.yml"
VERSION = 1
MODES = ("shadow", "confirm", "auto")
FIRES = {"above": ">", "below": "<"}
# What an environment may change of a trigger the runbook names. Not its expressions: an
# environment's value that answers without data (vector(1)) would fire on no data.
CHANGEABLE = frozenset({"threshold", "window", "min_traffic", "rollback", "mode"})
REQUIRED = frozenset({"description", "value", "fires", "threshold", "window", "rollback", "mode"})
# Prometheus durations of one unit: what `for:` and a range selector take.
DURATION_RE = re.compile(r"^(0|[1-9][0-9]{0,5})(ms|s|m|h|d)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ALERT = "RollbackTrigger"
INCONCLUSIVE = "RollbackTriggerInconclusive"


@dataclass(frozen=True)
class Trigger:
    name: str
    description: str
    value: str
    fires: str
    threshold: float
    window: str
    rollback: str
    mode: str
    traffic: str | None = None
    min_traffic: float | None = None


@dataclass(frozen=True)
class TriggerSet:
    environment: str
    interval: str
    rate_interval: str
    triggers: tuple[Trigger, ...]

    def as_document(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "evaluation": {"interval": self.interval, "rate_interval": self.rate_interval},
            "triggers": [asdict(t) for t in self.triggers],
        }


def load(environment: str) -> TriggerSet:
    """ENVIRONMENT's triggers: the runbook's, with what its triggers.yml changes."""
    env = get_environment(environment)
    return read(environment, project_dir() / DEFAULTS_FILE, env.path / ENVIRONMENT_FILE)


def read(environment: str, defaults_path: Path, path: Path) -> TriggerSet:
    """The triggers of defaults_path (the runbook's) with the changes of path, when it exists."""
    defaults = _read(defaults_path, required=True)
    changes = _read(path, required=False)
    evaluation = {**_mapping(defaults, "evaluation", defaults_path)}
    evaluation.update(_mapping(changes, "evaluation", path))
    extra = sorted(set(evaluation) - {"interval", "rate_interval"})
    if extra:
        raise _bad(path, f"evaluation.{extra[0]}", "not a setting; interval or rate_interval")
    for key in ("interval", "rate_interval"):
        _duration(path, f"evaluation.{key}", evaluation.get(key), zero=False)
    if seconds(evaluation["rate_interval"]) < 4 * seconds(evaluation["interval"]):
        # rate() needs two samples in its range even when a scrape is late or missed, or a
        # ratio turns to no data and resets its trigger's window.
        raise _bad(path, "evaluation.rate_interval", "must be at least 4 times the interval")
    changed = _mapping(changes, "triggers", path)
    runbook = _mapping(defaults, "triggers", defaults_path)
    unknown = sorted(set(changed) - set(runbook))
    if unknown:
        raise _bad(path, f"triggers.{unknown[0]}", f"unknown trigger; known: {', '.join(runbook)}")
    triggers = []
    for name, fields in runbook.items():
        change = changed.get(name) or {}
        if not isinstance(change, Mapping):
            raise _bad(path, f"triggers.{name}", "must be a mapping of the fields to change")
        extra = sorted(set(change) - CHANGEABLE)
        if extra:
            raise _bad(
                path,
                f"triggers.{name}.{extra[0]}",
                f"not a trigger field; one of {', '.join(sorted(CHANGEABLE))}",
            )
        triggers.append(_trigger(path, name, {**fields, **change}))
    return TriggerSet(
        environment, str(evaluation["interval"]), str(evaluation["rate_interval"]), tuple(triggers)
    )


def alert_rules(triggers: TriggerSet) -> dict[str, Any]:
    """The Prometheus rule group of the triggers: one alert each, and its inconclusive alerts."""
    rules: list[dict[str, Any]] = []
    for trigger in triggers.triggers:
        value = _expr(trigger.value, triggers.rate_interval)
        fired = f"({value}) {FIRES[trigger.fires]} {_number(trigger.threshold)}"
        labels = {
            "environment": triggers.environment,
            "trigger": trigger.name,
            "rollback": trigger.rollback,
            "mode": trigger.mode,
            "severity": "critical",
        }
        quiet = {"environment": triggers.environment, "trigger": trigger.name, "severity": "info"}
        # The value as Prometheus measured it, for whoever reads the alert (a page, the
        # rulebook's audit entry); four significant digits.
        summary = {"summary": trigger.description, "value": '{{ printf "%.4g" $value }}'}
        if trigger.traffic is not None:
            traffic = _expr(trigger.traffic, triggers.rate_interval)
            fired += f" and on() ({traffic}) >= {_number(trigger.min_traffic or 0)}"
        rules.append(
            {
                "alert": ALERT,
                "expr": fired,
                "for": trigger.window,
                "labels": labels,
                "annotations": summary,
            }
        )
        rules.append(
            {
                "alert": INCONCLUSIVE,
                "expr": f"absent({value})",
                "for": trigger.window,
                "labels": {**quiet, "why": "no data"},
                "annotations": {"summary": f"{trigger.name} cannot be judged: no data"},
            }
        )
        if trigger.traffic is not None:
            rules.append(
                {
                    "alert": INCONCLUSIVE,
                    "expr": f"({traffic}) < {_number(trigger.min_traffic or 0)}",
                    "for": trigger.window,
                    "labels": {**quiet, "why": "too little traffic"},
                    "annotations": {
                        "summary": f"{trigger.name} cannot be judged: fewer than "
                        f"{_number(trigger.min_traffic or 0)} requests in "
                        f"{triggers.rate_interval}"
                    },
                }
            )
    group = {
        "name": f"rollbackctl-triggers-{triggers.environment}",
        "interval": triggers.interval,
        "rules": rules,
    }
    return {"groups": [group]}


def render_rules(triggers: TriggerSet) -> str:
    return yaml.safe_dump(alert_rules(triggers), sort_keys=False, width=1000)


def _trigger(path: Path, name: str, fields: Mapping[str, Any]) -> Trigger:
    where = f"triggers.{name}"
    if not NAME_RE.match(name):
        raise _bad(path, where, "a trigger name is lower case letters, digits and _")
    missing = sorted(REQUIRED - set(fields))
    if missing:
        raise _bad(path, f"{where}.{missing[0]}", "missing")
    if fields["fires"] not in FIRES:
        raise _bad(path, f"{where}.fires", f"must be one of {', '.join(FIRES)}")
    if fields["mode"] not in MODES:
        raise _bad(path, f"{where}.mode", f"must be one of {', '.join(MODES)}")
    known = registry.rollback_types()
    if fields["rollback"] not in known:
        raise _bad(path, f"{where}.rollback", f"unknown rollback type; one of {', '.join(known)}")
    has_traffic = fields.get("traffic") is not None
    if has_traffic != (fields.get("min_traffic") is not None):
        raise _bad(path, f"{where}.min_traffic", "traffic and min_traffic go together")
    for key in ("description", "value") + (("traffic",) if has_traffic else ()):
        if not isinstance(fields[key], str) or not fields[key].strip():
            raise _bad(path, f"{where}.{key}", "must be a non-empty string")
    if "{{" in fields["description"] or "}}" in fields["description"]:
        # Prometheus expands annotations as templates: a description is text, never code.
        raise _bad(path, f"{where}.description", "must not hold {{ or }}")
    return Trigger(
        name=name,
        description=" ".join(fields["description"].split()),
        value=" ".join(fields["value"].split()),
        fires=fields["fires"],
        threshold=_threshold(path, f"{where}.threshold", fields["threshold"]),
        window=_duration(path, f"{where}.window", fields["window"], zero=True),
        rollback=fields["rollback"],
        mode=fields["mode"],
        traffic=" ".join(fields["traffic"].split()) if has_traffic else None,
        min_traffic=(
            _threshold(path, f"{where}.min_traffic", fields["min_traffic"]) if has_traffic else None
        ),
    )


def seconds(duration: str) -> float:
    """A duration checked by DURATION_RE, in seconds."""
    match = DURATION_RE.match(duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def _expr(text: str, rate_interval: str) -> str:
    return text.replace("{rate}", rate_interval)


def _number(value: float) -> str:
    """The number as written, exactly: 20, 0.05, 1234567 (never 1.23457e+06)."""
    return str(int(value)) if value.is_integer() else repr(value)


def _threshold(path: Path, where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _bad(path, where, "must be a number, 0 or more")
    return float(value)


def _duration(path: Path, where: str, value: object, *, zero: bool) -> str:
    match = DURATION_RE.match(str(value)) if isinstance(value, str) else None
    if not match or (not zero and match.group(1) == "0"):
        least = "0s" if zero else "1s"
        raise _bad(path, where, f"must be a duration such as 30s, 10m or 1h ({least} or more)")
    return str(value)


def _read(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise UsageError(f"missing {path}", hint="restore it from the collection")
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"malformed {path}: not valid YAML{where}", hint="fix the file") from exc
    if not isinstance(data, dict):
        raise _bad(path, "top level", "must be a mapping")
    if data.get("version", VERSION) != VERSION:
        raise _bad(path, "version", f"this rollbackctl reads version {VERSION}")
    return data


def _mapping(data: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise _bad(path, key, "must be a mapping")
    return dict(value)


def _bad(path: Path, where: str, problem: str) -> UsageError:
    return UsageError(f"malformed {path}: {where}: {problem}", hint="fix the file")
