#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Take, list and restore snapshots of a host's managed infrastructure files."""

DOCUMENTATION = r"""
module: infra_snapshot
short_description: Snapshots of the managed infrastructure files of one host
description:
  - C(action=take) copies each managed file that exists, with its owner, group, mode and
    SHA-256, and the services that were running, into C(root)/C(id); the snapshot appears
    complete or not at all. None of the files existing takes nothing.
  - C(action=list) returns every snapshot, newest first, each checked against its checksums.
  - C(action=restore) checks every copy of snapshot C(id) first (a damaged or unknown snapshot
    changes nothing), then writes back each file whose content, mode or owner differ, by a
    rename over it, and removes files the snapshot records as absent.
  - Supports check mode; in check mode nothing is written and C(changed_files) says what would.
options:
  action:
    description: What to do.
    type: str
    choices: [take, list, restore]
    required: true
  root:
    description: Folder of this host's snapshots.
    type: path
    required: true
  id:
    description: Snapshot id (take and restore).
    type: str
  files:
    description:
      - The managed files (take); each with C(path) and the C(service) that reads it. Other
        keys (such as C(pidfile)) are ignored.
    type: list
    elements: dict
    default: []
  running:
    description: The services that run now (take); the others of C(files) are recorded as stopped.
    type: list
    elements: str
    default: []
  reason:
    description: Why the snapshot is taken (take).
    type: str
    default: ""
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Snapshot nginx's main config before changing it
  rollbackctl.runbooks.infra_snapshot:
    action: take
    root: /var/lib/rollbackctl/infra-snapshots
    id: 20261129T101500Z-ab12cd
    files:
      - {path: /etc/nginx/nginx.conf, service: nginx}
    running: [nginx]
    reason: before applying nginx_server
"""

RETURN = r"""
snapshot:
  description: The manifest of the snapshot taken (take); absent when nothing existed.
  type: dict
  returned: when action is take
snapshots:
  description: Every snapshot, newest first, with id, taken_at, reason, files, running, verified.
  type: list
  returned: when action is list
changed_files:
  description: The managed files restored (or that would be), each with path and service.
  type: list
  returned: when action is restore
services:
  description: The services whose files changed (restore), sorted.
  type: list
  returned: when action is restore
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import infrasnap


def main():
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["take", "list", "restore"]},
            "root": {"type": "path", "required": True},
            "id": {"type": "str"},
            "files": {"type": "list", "elements": "dict", "default": []},
            "running": {"type": "list", "elements": "str", "default": []},
            "reason": {"type": "str", "default": ""},
        },
        required_if=[("action", "take", ["id"]), ("action", "restore", ["id"])],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["action"] == "list":
            module.exit_json(changed=False, snapshots=infrasnap.list_snapshots(params["root"]))
        if params["action"] == "take":
            files = [
                {"path": str(f["path"]), "service": str(f["service"])} for f in params["files"]
            ]
            if module.check_mode:
                module.exit_json(changed=any(infrasnap.describe(f["path"]) for f in files))
            running = {f["service"]: f["service"] in params["running"] for f in files}
            snapshot = infrasnap.take(
                params["root"], params["id"], files, running, params["reason"]
            )
            module.exit_json(changed=snapshot is not None, snapshot=snapshot or {})
        changed = infrasnap.restore(params["root"], params["id"], check=module.check_mode)
    except infrasnap.SnapshotError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="snapshot {} under {}: {}".format(params["id"], params["root"], exc))
    files = [{"path": e["path"], "service": e["service"]} for e in changed]
    module.exit_json(
        changed=bool(changed),
        changed_files=files,
        services=sorted({e["service"] for e in changed}),
    )


if __name__ == "__main__":
    main()
