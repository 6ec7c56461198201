#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the integration_pin action plugin (plugins/action/integration_pin.py)."""

DOCUMENTATION = r"""
module: integration_pin
short_description: Resolve a third-party service's API version to the commit that pins it
description:
  - Runs on the controller. Reads the service's settings file from the configuration
    repository at each candidate commit (one C(git cat-file --batch), replace refs ignored)
    and returns the first, so the newest when the candidates come newest first, whose file
    sets O(key) to O(version).
  - Inside a third-party rollback authorized for O(version), binds that commit to the run,
    so the run's ledger steps may record it, and no other commit than the hosts' own.
  - Fails, naming what each candidate pins, when none pins O(version).
  - Changes nothing.
options:
  repo:
    description: The configuration repository on the controller.
    type: path
    required: true
  path:
    description: The service's settings file, as a path in the repository.
    type: str
    required: true
  key:
    description: The setting that holds the API version pin.
    type: str
    required: true
  version:
    description: The API version to go back to.
    type: str
    required: true
  commits:
    description: Candidate commits (full ids), newest first.
    type: list
    elements: str
    required: true
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Resolve the payment API version to a commit
  rollbackctl.runbooks.integration_pin:
    repo: /srv/rollbackctl/config
    path: integrations/payment.env
    key: PAYMENT_API_VERSION
    version: "2025-03-31"
    commits: [9f2c1e0b7d4a3c5e6f708192a3b4c5d6e7f80912]
"""

RETURN = r"""
commit:
  description: The newest candidate that pins the version.
  type: str
  returned: success
pins:
  description: Each candidate read, newest first, with the version it pins (null for none).
  type: list
  elements: dict
  returned: success
"""
