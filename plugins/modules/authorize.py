#!/usr/bin/python
"""Documentation of the authorize action plugin (plugins/action/authorize.py)."""

DOCUMENTATION = r"""
module: authorize
short_description: Authorize a rollback by policy and signed approvals, lock the environment
description:
  - Runs on the controller. Loads the environment's policy, verifies each signed approval
    (ssh-keygen -Y verify against the allowed signers beside the policy), and decides.
  - When allowed, takes the environment lock, consumes the approvals' single-use nonces and
    writes an audit entry; when refused, writes the audit entry and fails with the reason.
  - In check mode the decision is returned without locking, consuming or auditing.
options:
  environment:
    description: Environment name.
    type: str
    required: true
  rollback_type:
    description: Rollback type (app, db, config, infra, third-party, full, emergency-stop).
    type: str
    required: true
  target:
    description: Release or backup; empty takes the one the approvals name.
    type: str
  requester:
    description: Who asks for the run.
    type: str
    required: true
  approvals:
    description: Paths of signed approval files on the controller.
    type: list
    elements: path
  break_glass:
    description: Run under the policy's break-glass rule.
    type: bool
    default: false
  run_id:
    description: Run id; generated when empty.
    type: str
  launched_by:
    description: The AWX/Tower user that launched the job, recorded in the audit log.
    type: str
author: rollbackctl maintainers
"""

EXAMPLES = r"""
- name: Authorize the rollback
  rollbackctl.runbooks.authorize:
    environment: production
    rollback_type: app
    requester: alice
    approvals: [/tmp/carol.approval]
"""

RETURN = r"""
target:
  description: Target the run is authorized for.
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
"""
