"""Every generated job template is one the awx.awx.job_template module and AWX's API accept.

The options come from the module's own argument spec in the extracted collection, so a
template key the pinned awx.awx does not know, or a value of the wrong type, fails here and
not on a controller.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry

from tests.support.awx_module_spec import module_validator
from tests.support.awx_survey import survey_errors

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((REPO_ROOT / "awx" / "job_templates").glob("*.yml"))


def option_errors(template: dict[str, Any]) -> list[str]:
    """What awx.awx.job_template would refuse, or would take only by converting it."""
    validator = module_validator("job_template")
    result = validator.validate(template)
    errors = list(result.error_messages)
    spec = validator.argument_spec
    aliases = {alias for option in spec.values() for alias in option.get("aliases", [])}
    for key, value in template.items():
        if key in aliases:
            errors.append(f"{key}: an alias; write the option's own name")
        if key not in spec:
            continue  # an unknown key is in the module's own errors already
        # The module converts "yes" to a bool and "3" to an int; a generated file states the
        # value itself, so a converted value is a generator bug even though the module takes it.
        validated = result.validated_parameters.get(key)
        if type(validated) is not type(value) or validated != value:
            errors.append(f"{key}: {value!r} is not of type {spec[key].get('type', 'str')}")
    return errors


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_there_is_a_template_for_every_registered_type() -> None:
    assert {p.name for p in TEMPLATES} == {e.playbook for e in registry.rollback_types().values()}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_options_are_the_modules_options(path: Path) -> None:
    assert option_errors(load(path)) == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_survey_is_one_awx_accepts(path: Path) -> None:
    template = load(path)
    assert template["survey_enabled"] is True
    assert survey_errors(template["survey_spec"]) == []


def test_an_unknown_key_is_refused() -> None:
    template = load(TEMPLATES[0]) | {"survey_questions": []}
    assert any("survey_questions" in e for e in option_errors(template))


def test_a_value_of_the_wrong_type_or_choice_is_refused() -> None:
    template = load(TEMPLATES[0]) | {"job_type": "dry-run", "ask_limit_on_launch": "yes"}
    errors = option_errors(template)
    assert any("job_type" in e for e in errors)
    assert any("ask_limit_on_launch" in e for e in errors)


def test_an_alias_is_refused() -> None:
    template = load(TEMPLATES[0])
    template["ask_limit"] = template.pop("ask_limit_on_launch")
    assert option_errors(template) == ["ask_limit: an alias; write the option's own name"]


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"type": "boolean"}, "type 'boolean' is not one of"),
        ({"type": "integer"}, "is not of type integer"),
        ({"required": "false"}, "'required' must be a boolean"),
        ({"default": "maybe"}, "is not one of the choices"),
        ({"choices": []}, "needs choices"),
    ],
)
def test_a_bad_survey_question_is_refused(change: dict[str, Any], fault: str) -> None:
    survey = copy.deepcopy(load(TEMPLATES[0])["survey_spec"])
    confirmed = next(q for q in survey["spec"] if q["variable"] == "rollback_confirmed")
    confirmed.update(change)
    assert any(fault in e for e in survey_errors(survey))


def test_a_survey_without_its_name_or_questions_is_refused() -> None:
    survey = copy.deepcopy(load(TEMPLATES[0])["survey_spec"])
    del survey["name"]
    survey["spec"].append(dict(survey["spec"][0]))
    errors = survey_errors(survey)
    assert "survey spec: 'name' must be a string" in errors
    assert any("asked twice" in e for e in errors)
