#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read the environment a host is enrolled in."""

DOCUMENTATION = r"""
module: host_identity
short_description: Read the environment identity a host carries
description:
  - A host is enrolled in one environment by a file on the host that names it, written when
    the host is provisioned (for remote hosts C(/etc/rollbackctl/environment), root-owned).
  - The action plugin takes the path from the host's inventory only for local hosts (the
    sandbox stacks); for remote hosts it is always the fixed path.
  - Reports the environment, or none when the host is not enrolled; never changes the host.
  - The action plugin records the identity for the authorize step of the same run.
options:
  path:
    description: Identity file. Set by the action plugin; not an input of the task.
    type: path
    default: /etc/rollbackctl/environment
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the environment this host is enrolled in
  rollbackctl.runbooks.host_identity:
"""

RETURN = r"""
environment:
  description: The environment named by the identity file; null when the host is not enrolled.
  type: str
  returned: always
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def main():
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "default": "/etc/rollbackctl/environment"}},
        supports_check_mode=True,
    )
    path = module.params["path"]
    if not os.path.exists(path):
        module.exit_json(changed=False, environment=None)
    try:
        with open(path) as handle:
            text = handle.read(256).strip()
    except OSError as exc:
        module.fail_json(msg=f"cannot read identity file {path}: {exc.strerror}")
    if not ENVIRONMENT_RE.match(text):
        module.fail_json(
            msg=f"identity file {path} does not hold an environment name; re-enroll the host"
        )
    module.exit_json(changed=False, environment=text)


if __name__ == "__main__":
    main()
