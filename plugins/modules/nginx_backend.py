#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Set one app host's upstream entry in nginx, validated before the reload."""

DOCUMENTATION = r"""
module: nginx_backend
short_description: Drain an upstream server in nginx or put it back, in one round trip
description:
  - Writes the upstream entry file of one app host (C(server ADDRESS;) or C(server ADDRESS down;)),
    validates the whole config with C(nginx -t), then reloads nginx gracefully so in-flight
    requests finish on the old workers.
  - When validation fails the previous entry is put back and nginx is not reloaded.
  - Supports check mode.
options:
  path:
    description: Upstream entry file of this app host, included by the upstream block.
    type: path
    required: true
  address:
    description: host:port nginx proxies to.
    type: str
    required: true
  state:
    description: active receives traffic; drained is marked down.
    type: str
    choices: [active, drained]
    required: true
  nginx_binary:
    description: nginx executable.
    type: path
    default: /usr/sbin/nginx
  prefix:
    description: nginx prefix (-p); empty uses the binary's default.
    type: path
  conf:
    description: nginx config (-c), relative to the prefix or absolute.
    type: str
    default: conf/nginx.conf
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Drain app1
  rollbackctl.runbooks.nginx_backend:
    path: /srv/nginx/conf/upstream.d/app1.conf
    address: 10.0.0.11:8000
    state: drained
    prefix: /srv/nginx/
"""

RETURN = r"""
entry:
  description: The upstream entry now in place.
  type: str
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule


def _nginx(module, *args):
    cmd = [module.params["nginx_binary"]]
    if module.params["prefix"]:
        cmd += ["-p", module.params["prefix"].rstrip("/") + "/"]
    cmd += ["-c", module.params["conf"], *args]
    return module.run_command(cmd)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "address": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["active", "drained"]},
            "nginx_binary": {"type": "path", "default": "/usr/sbin/nginx"},
            "prefix": {"type": "path"},
            "conf": {"type": "str", "default": "conf/nginx.conf"},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    down = " down" if module.params["state"] == "drained" else ""
    entry = f"server {module.params['address']}{down};\n"
    previous = None
    if os.path.exists(path):
        with open(path) as handle:
            previous = handle.read()
    if previous == entry or module.check_mode:
        module.exit_json(changed=previous != entry, entry=entry)

    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as handle:
        handle.write(entry)
    os.replace(tmp, path)
    rc, out, err = _nginx(module, "-t", "-q")
    if rc != 0:
        if previous is None:
            os.unlink(path)
        else:
            with open(path, "w") as handle:
                handle.write(previous)
        module.fail_json(
            msg=f"nginx -t refused the upstream change, kept the old entry: {(err or out).strip()}"
        )
    rc, out, err = _nginx(module, "-s", "reload")
    if rc != 0:
        module.fail_json(msg=f"nginx reload failed: {(err or out).strip()}", entry=entry)
    module.exit_json(changed=True, entry=entry)


if __name__ == "__main__":
    main()
