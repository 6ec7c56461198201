"""The argument spec an awx.awx module declares, read from the extracted collection.

awx.awx modules build their spec as a local dict inside `main()` and hand it to
`ControllerAPIModule`, which adds the connection options and starts talking to a controller.
Running `main()` with that class swapped for a recorder stops right there: the test gets the
exact spec the module would validate its parameters with, and no request is ever made.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator, ValidationResult

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO_ROOT / "collections"
AWX_COLLECTION = COLLECTIONS / "ansible_collections" / "awx" / "awx"


class _SpecRecorded(Exception):
    """Raised in place of connecting to a controller, carrying what the module declared."""

    def __init__(self, argument_spec: dict[str, Any], options: dict[str, Any]) -> None:
        super().__init__("argument spec recorded")
        self.argument_spec = argument_spec
        self.options = options


class _Recorder:
    def __init__(self, argument_spec: dict[str, Any], **options: Any) -> None:
        raise _SpecRecorded(argument_spec, options)


def _import(module: str) -> Any:
    if not AWX_COLLECTION.is_dir():
        raise FileNotFoundError(f"{AWX_COLLECTION} is missing: run scripts/setup.sh")
    # collections/ holds ansible_collections/ without __init__.py files: a namespace package,
    # so the module's relative import of its module_utils resolves as it does under Ansible.
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return importlib.import_module(module)


def module_validator(name: str) -> ArgumentSpecValidator:
    """A validator for awx.awx.<name> with the module's own spec and constraints."""
    module = _import(f"ansible_collections.awx.awx.plugins.modules.{name}")
    api = _import("ansible_collections.awx.awx.plugins.module_utils.controller_api")
    real = module.ControllerAPIModule
    module.ControllerAPIModule = _Recorder
    declared = None
    try:
        module.main()
    except _SpecRecorded as recorded:
        declared = recorded
    finally:
        module.ControllerAPIModule = real
    if declared is None:
        raise AssertionError(f"awx.awx.{name} main() never built its module")
    # The same merge ControllerModule.__init__ makes: connection options, then the module's.
    spec = {**api.ControllerModule.AUTH_ARGSPEC, **declared.argument_spec}
    constraints = {
        key: declared.options[key]
        for key in (
            "mutually_exclusive",
            "required_together",
            "required_one_of",
            "required_if",
            "required_by",
        )
        if key in declared.options
    }
    return ArgumentSpecValidator(spec, **constraints)


def validate(name: str, params: dict[str, Any]) -> ValidationResult:
    """Validate params as awx.awx.<name> would before it contacts the controller."""
    return module_validator(name).validate(params)
