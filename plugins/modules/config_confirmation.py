#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the config_confirmation action plugin (plugins/action/)."""

DOCUMENTATION = r"""
module: config_confirmation
short_description: Wait for a person to confirm the configuration a run applied
description:
  - Runs on the controller, inside an authorized run only; the run id and environment are the
    run's own.
  - Appends an awaiting entry with the deadline to the environment's audit log, then waits
    until C(rollbackctl confirm ENV RUN_ID) appends a confirmation or the deadline passes, and
    appends the outcome.
  - In check mode it waits for nothing.
options:
  seconds:
    description: How long to wait, from 1 to 3600 seconds.
    type: int
    default: 300
  target:
    description: What was applied (a configuration commit), recorded with the wait.
    type: str
    default: ""
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Wait for confirmation
  rollbackctl.runbooks.config_confirmation:
    seconds: 300
    target: "{{ config_select_target }}"
  register: confirmed
"""

RETURN = r"""
confirmed:
  description: Whether a person confirmed before the deadline.
  type: bool
  returned: success
confirmed_by:
  description: Who confirmed, as they named themselves.
  type: str
  returned: success
deadline:
  description: When the wait ended at the latest (ISO 8601, UTC).
  type: str
  returned: success
run_id:
  description: The run that waited.
  type: str
  returned: success
"""
