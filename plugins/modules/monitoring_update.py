#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the monitoring_update action plugin (plugins/action/monitoring_update.py)."""

DOCUMENTATION = r"""
module: monitoring_update
short_description: Silence the environment's alerts for a rollback, and post that it ran
description:
  - Runs on the controller, only inside an authorized run, and talks to the environment's
    Alertmanager (API v2).
  - O(state=silenced) silences every alert labelled with the run's environment, except the
    rollback events, for O(minutes), and records the silence with the run, so that a run that
    fails ends it at once (the alerts of what is still broken page again).
  - O(state=announced) posts the event that the rollback ran, an alert C(RollbackRan) of
    severity C(info) labelled with the environment, the rollback type and the run id, active
    for O(minutes).
  - Environment, rollback type and run id are the run's own, never arguments.
  - An empty O(url) is a clear skip; an Alertmanager that does not answer is reported and
    warned about, never a failure of the rollback. In check mode nothing is sent.
options:
  url:
    description: The environment's Alertmanager; empty when it has none.
    type: str
    default: ""
  state:
    description: Silence the alerts, or announce the rollback.
    type: str
    choices: [silenced, announced]
    required: true
  minutes:
    description: How long the silence, or the event, lasts (1 to 1440).
    type: int
    default: 10
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Silence the environment's alerts for the rollback window
  rollbackctl.runbooks.monitoring_update:
    url: http://alertmanager.internal.example:9093
    state: silenced
    minutes: 10
"""

RETURN = r"""
monitoring:
  description: What was done - state (skipped, silenced, announced, failed, or what would be
    done in check mode), the Alertmanager, the silence id and its end, the event posted, the
    error.
  type: dict
  returned: always
"""
