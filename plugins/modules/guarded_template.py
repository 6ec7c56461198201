#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the action plugin plugins/action/guarded_template.py."""

DOCUMENTATION = r"""
module: guarded_template
short_description: M(ansible.builtin.template), where the guard allows a change
description:
  - Runs M(ansible.builtin.template)
    with the task's options, once the guard allows the host the task acts on (its
    C(delegate_to) host, else its own) to change in this run.
  - The guard asks the grant that the authorize step of the same ansible-playbook process
    gave; a step outside any authorized run may change only hosts of an embedded
    environment. A refused step fails without reaching the host.
  - Takes the options, and returns the values, of M(ansible.builtin.template).
options: {}
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Write the app's environment file
  rollbackctl.runbooks.guarded_template:
    src: app.env.j2
    dest: /srv/app/shared/app.env
    mode: "0600"
"""

RETURN = r"""
failure_kind:
  description: C(NotAuthorizedError) when the guard refused the step.
  type: str
  returned: when refused
"""
