#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the action plugin plugins/action/guarded_command.py."""

DOCUMENTATION = r"""
module: guarded_command
short_description: M(ansible.builtin.command), where the guard allows a change
description:
  - Runs M(ansible.builtin.command)
    with the task's options, once the guard allows the host the task acts on (its
    C(delegate_to) host, else its own) to change in this run.
  - The guard asks the grant that the authorize step of the same ansible-playbook process
    gave; a step outside any authorized run may change only hosts of an embedded
    environment. A refused step fails without reaching the host.
  - Takes the options, and returns the values, of M(ansible.builtin.command).
options: {}
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Run the release's migrations
  rollbackctl.runbooks.guarded_command:
    argv: [/srv/app/venv/bin/python, migrate.py]
    chdir: /srv/app/current
"""

RETURN = r"""
failure_kind:
  description: C(NotAuthorizedError) when the guard refused the step.
  type: str
  returned: when refused
"""
