#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the authorize action plugin (plugins/action/authorize.py)."""

DOCUMENTATION = r"""
module: authorize
short_description: Authorize a runbook run by policy and signed approvals, lock the environment
description:
  - Runs on the controller and takes no options, so nothing a variable could redirect.
  - The environment is the identity every host of the run carries (read by the preflight
    play of the same ansible-playbook process); hosts of several environments, or a host
    without one, are refused.
  - The rollback type is the policy key that the collection's registry of rollback types
    (C(meta/rollbacks.yml)) gives the playbook file being run, never a variable; a playbook
    the registry does not list is refused, and so is an inventory without hosts in a group
    the registry says the playbook needs.
  - Refuses a run that skips steps (C(--start-at-task), C(--tags), C(--skip-tags),
    C(--step)), names more than one inventory, passes extra vars that are not run inputs,
    or passes inputs that are not plain values.
  - Loads the environment's policy, verifies each signed approval (ssh-keygen -Y verify
    against the allowed signers beside the policy), and decides.
  - When allowed, takes the environment lock, consumes the approvals' single-use nonces,
    writes an audit entry and gives this ansible-playbook process the grant that every
    host-changing step of the collection checks. When refused, writes the audit entry and
    fails with the reason.
  - In check mode the decision is returned and a plan-only grant is given; nothing is
    locked, consumed or audited.
  - Run inputs (extra vars) are C(rollback_confirmed), C(rollback_to), C(rollback_approvals),
    C(rollback_request), C(rollback_requester), C(rollback_break_glass),
    C(rollback_allow_schema_mismatch), C(rollbackctl_run_id), C(read_only_state), and AWX's
    own C(awx_*) and C(tower_*) variables.
options: {}
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Authorize the rollback
  rollbackctl.runbooks.authorize:
"""

RETURN = r"""
target:
  description: Target the run is authorized for (empty when the plan chooses it).
  type: str
  returned: success
decision:
  description: The policy decision (allowed, reason, approvers, escalation, notify).
  type: dict
  returned: success
run_id:
  description: Run id recorded in the lock and the audit log.
  type: str
  returned: always
environment:
  description: The environment the hosts are enrolled in.
  type: str
  returned: success
rollback_type:
  description: The rollback type of the playbook being run.
  type: str
  returned: success
"""
