#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the action plugin plugins/action/guarded_copy.py."""

DOCUMENTATION = r"""
module: guarded_copy
short_description: M(ansible.builtin.copy), where the guard allows a change
description:
  - Runs M(ansible.builtin.copy)
    with the task's options, once the guard allows the host the task acts on (its
    C(delegate_to) host, else its own) to change in this run.
  - The guard asks the grant that the authorize step of the same ansible-playbook process
    gave; a step outside any authorized run may change only hosts of an embedded
    environment. A refused step fails without reaching the host.
  - Takes the options, and returns the values, of M(ansible.builtin.copy).
options: {}
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Mark a release's unpack complete
  rollbackctl.runbooks.guarded_copy:
    content: ""
    dest: /srv/app/releases/2026.11.1/.unpacked
    mode: "0644"
"""

RETURN = r"""
failure_kind:
  description: C(NotAuthorizedError) when the guard refused the step.
  type: str
  returned: when refused
"""
