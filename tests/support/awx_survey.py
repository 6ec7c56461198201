"""The survey spec shape the AWX API accepts, as rules a test can check without a controller.

The awx.awx.job_template module passes `survey_spec` through as an opaque dict; AWX's API
checks it when the module posts it to `job_templates/<id>/survey_spec/` and refuses the whole
survey on the first fault. These are the API's rules for a survey, plus the launch-time rule
that a multiple-choice default is one of the choices (AWX accepts such a survey, then fails
every launch that keeps the default).
"""

from __future__ import annotations

from typing import Any

# The question types AWX knows, each with the Python type its default must have.
QUESTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": (float, int),
}
CHOICE_TYPES = ("multiplechoice", "multiselect")


def _choices(question: dict[str, Any]) -> list[str]:
    # AWX takes choices as a list or as one newline-separated string.
    choices = question.get("choices")
    return choices.split("\n") if isinstance(choices, str) else list(choices or [])


def _default_errors(where: str, question: dict[str, Any]) -> list[str]:
    kind, default = question["type"], question["default"]
    allowed = QUESTION_TYPES[kind]
    # bool is an int to Python, never to AWX's JSON: true is no integer answer.
    if isinstance(default, bool) or not isinstance(default, allowed):
        return [f"{where}: default {default!r} is not of type {kind}"]
    choices = _choices(question)
    if kind == "multiplechoice" and default != "" and default not in choices:
        return [f"{where}: default {default!r} is not one of the choices {choices}"]
    if kind == "multiselect" and default:
        extra = [d for d in default.split("\n") if d not in choices]
        if extra:
            return [f"{where}: defaults {extra} are not among the choices {choices}"]
    return []


def _question_errors(where: str, question: Any) -> list[str]:
    if not isinstance(question, dict):
        return [f"{where}: not a mapping"]
    errors = [
        f"{where}: '{field}' must be a string"
        for field in ("question_name", "variable", "type")
        if not isinstance(question.get(field), str)
    ]
    if not isinstance(question.get("required"), bool):
        errors.append(f"{where}: 'required' must be a boolean")
    kind = question.get("type")
    if isinstance(kind, str) and kind not in QUESTION_TYPES:
        errors.append(f"{where}: type {kind!r} is not one of {sorted(QUESTION_TYPES)}")
        return errors
    if kind in CHOICE_TYPES and not _choices(question):
        errors.append(f"{where}: a {kind} question needs choices")
    for limit in ("min", "max"):
        value = question.get(limit)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            errors.append(f"{where}: '{limit}' must be an integer")
    if not errors and "default" in question:
        errors += _default_errors(where, question)
    return errors


def survey_errors(survey: Any) -> list[str]:
    """Every reason AWX would refuse this survey spec; empty when it takes it."""
    if not isinstance(survey, dict):
        return ["survey spec: not a mapping"]
    errors = [
        f"survey spec: '{field}' must be a {label}"
        for field, kind, label in (
            ("name", str, "string"),
            ("description", str, "string"),
            ("spec", list, "list of questions"),
        )
        if not isinstance(survey.get(field), kind)
    ]
    questions = survey.get("spec")
    if not isinstance(questions, list):
        return errors
    if not questions:
        errors.append("survey spec: 'spec' has no questions")
    seen: set[str] = set()
    for index, question in enumerate(questions):
        where = f"question {index}"
        errors += _question_errors(where, question)
        variable = question.get("variable") if isinstance(question, dict) else None
        if variable in seen:
            errors.append(f"{where}: variable {variable!r} is asked twice")
        if isinstance(variable, str):
            seen.add(variable)
    return errors
