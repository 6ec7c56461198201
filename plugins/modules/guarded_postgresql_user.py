#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the action plugin plugins/action/guarded_postgresql_user.py."""

DOCUMENTATION = r"""
module: guarded_postgresql_user
short_description: M(community.postgresql.postgresql_user), where the guard allows a change
description:
  - Runs M(community.postgresql.postgresql_user)
    with the task's options, once the guard allows the host the task acts on (its
    C(delegate_to) host, else its own) to change in this run.
  - The guard asks the grant that the authorize step of the same ansible-playbook process
    gave; a step outside any authorized run may change only hosts of an embedded
    environment. A refused step fails without reaching the host.
  - Takes the options, and returns the values, of M(community.postgresql.postgresql_user).
options: {}
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Create the application role
  rollbackctl.runbooks.guarded_postgresql_user:
    name: market
"""

RETURN = r"""
failure_kind:
  description: C(NotAuthorizedError) when the guard refused the step.
  type: str
  returned: when refused
"""
