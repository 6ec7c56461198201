#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the action plugin plugins/action/guarded_docker_image.py."""

DOCUMENTATION = r"""
module: guarded_docker_image
short_description: M(community.docker.docker_image), where the guard allows a change
description:
  - Runs M(community.docker.docker_image)
    with the task's options, once the guard allows the host the task acts on (its
    C(delegate_to) host, else its own) to change in this run.
  - The guard asks the grant that the authorize step of the same ansible-playbook process
    gave; a step outside any authorized run may change only hosts of an embedded
    environment. A refused step fails without reaching the host.
  - Inside an authorized rollback run it is always refused. Images are built or removed
    when a stack is set up or taken down, and a rollback runs images already on the host.
  - Takes the options, and returns the values, of M(community.docker.docker_image).
options: {}
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Build the image of a release
  rollbackctl.runbooks.guarded_docker_image:
    name: market-app
    tag: 2026.11.1
    source: build
    build:
      path: /srv/images/2026.11.1
"""

RETURN = r"""
failure_kind:
  description: C(NotAuthorizedError) when the guard refused the step.
  type: str
  returned: when refused
"""
