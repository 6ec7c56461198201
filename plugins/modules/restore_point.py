#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read one restore point a verified deploy recorded on the db host."""

DOCUMENTATION = r"""
module: restore_point
short_description: Read one restore point of the environment
description:
  - Reads C(ROOT/ID.json), the record a verified deploy wrote (playbooks/deploy.yml) of what
    belongs together - release, configuration and integration commits, infrastructure
    snapshot, database backup.
  - Inside a full rollback whose target is this restore point, the action plugin binds what it
    names to the run, so the run's steps may go to those and nothing else.
  - Changes nothing.
options:
  root:
    description: Folder of the restore points on the host.
    type: path
    required: true
  id:
    description: The restore point, as C(rollbackctl restore-points ENV) lists it.
    type: str
    required: true
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the restore point the run goes back to
  rollbackctl.runbooks.restore_point:
    root: /var/lib/rollbackctl/restore-points
    id: rp-20261130T031146Z-2026.11.1
"""

RETURN = r"""
point:
  description: The restore point - id, created_at, release, config_commit, integrations,
    infra_snapshot and backup.
  type: dict
  returned: success
"""

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

ID_RE = re.compile(r"^rp-[A-Za-z0-9._:+-]{1,125}$")
COMPONENTS = ("release", "config_commit", "infra_snapshot", "backup")


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "id": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    root, point_id = module.params["root"], module.params["id"]
    hint = "see rollbackctl restore-points ENV"
    if not ID_RE.fullmatch(point_id):
        module.fail_json(msg=f"{point_id!r} is not a restore point id (rp-...); {hint}")
    path = os.path.join(root, point_id + ".json")
    if not os.path.isfile(path):
        module.fail_json(msg=f"unknown restore point {point_id}; {hint}")
    try:
        with open(path, encoding="utf-8") as handle:
            point = json.load(handle)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"restore point {point_id} cannot be read ({exc}); {hint}")
    if not isinstance(point, dict) or point.get("id") != point_id:
        module.fail_json(msg=f"restore point file {path} is not the record of {point_id}")
    lacking = [name for name in COMPONENTS if not point.get(name)]
    if lacking:
        module.fail_json(
            msg=f"restore point {point_id} lacks its {', '.join(lacking)}; choose another ({hint})"
        )
    module.exit_json(changed=False, point=point)


if __name__ == "__main__":
    main()
