#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read and update the release ledger on an app host."""

DOCUMENTATION = r"""
module: release_ledger
short_description: Read and update the release ledger of an app host
description:
  - Keeps which release is current and which are stable, bad, deployed or incomplete.
  - C(action=plan) chooses a rollback target from the ledger, never from directory times.
  - Supports check mode; in check mode nothing is written.
options:
  path:
    description: Ledger file on the host.
    type: path
    required: true
  action:
    description: What to do.
    type: str
    choices: [query, plan, register, mark, current, switch]
    default: query
  release:
    description: Release id for register, mark, current; the requested target for plan.
    type: str
  state:
    description: New state for C(action=mark).
    type: str
    choices: [incomplete, deployed, stable, bad]
  reason:
    description: Why the state changed; kept in the release's event history.
    type: str
  current_link:
    description:
      - The current symlink; plan refuses to go on when it disagrees with the ledger.
      - C(action=switch) points it at C(releases/<release>) atomically (a temporary link
        renamed over it), after checking the release's files are there, and records the
        release as current.
    type: path
  fleet:
    description:
      - The current release of every app host in the run (plan only).
      - Without a named release, a host already on the stable release the rest of the
        fleet is being rolled back to is planned as a no-op (target equals current), so a
        rerun after an interrupted rollout converges.
      - A named stable release is a no-op on every host already running it, whether or not
        other hosts still have to move; a run where every host runs it changes nothing.
    type: list
    elements: str
    default: []
  kind:
    description:
      - What the ledger records, for its messages; C(configuration) ledgers record the
        commits of the configuration repository that were applied to the host.
    type: str
    choices: [release, configuration]
    default: release
  host:
    description: Host name used in messages.
    type: str
    default: this host
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Choose the rollback target
  rollbackctl.runbooks.release_ledger:
    path: /srv/app/ledger.json
    action: plan
    current_link: /srv/app/current
    host: "{{ inventory_hostname }}"
    # each host's current release, registered by an earlier action=query task as "read"
    fleet: "{{ ansible_play_hosts_all | map('extract', hostvars, ['read', 'current']) }}"
"""

RETURN = r"""
current:
  description: Current release after the action.
  type: str
  returned: always
target:
  description: Chosen rollback target (plan only); equal to current when this host is already on it.
  type: str
  returned: when action is plan
releases:
  description: Releases oldest first with id, state, seq and events.
  type: list
  elements: dict
  returned: always
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import ledger as ledger_lib


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _link_release(link):
    if not link or not os.path.islink(link):
        return None
    return os.path.basename(os.readlink(link).rstrip("/"))


def _apply(module, ledger):
    params = module.params
    action, release, now = params["action"], params["release"], _now()
    if action in ("register", "mark", "current", "switch") and not release:
        module.fail_json(msg=f"release_ledger action={action} needs release")
    if action == "register":
        return ledger_lib.register(ledger, release, now)
    if action == "mark":
        if not params["state"]:
            module.fail_json(msg="release_ledger action=mark needs state")
        if _marks_live_stable_bad(ledger, release, params["state"]):
            # A host a rerun found already on the rollback target has from == target: the
            # release it serves is the known-good one the others were rolled back to.
            module.warn(
                f"release {release} is current and stable on {params['host']}; not marking it bad"
            )
            return False
        return ledger_lib.mark(ledger, release, params["state"], now, params["reason"])
    if action == "current":
        return ledger_lib.set_current(ledger, release, now)
    if action == "switch":
        return _switch(module, ledger, release, now)
    return False


def _marks_live_stable_bad(ledger, release, state):
    entry = ledger["releases"].get(release)
    return (
        state == "bad"
        and ledger["current"] == release
        and entry is not None
        and entry["state"] == "stable"
    )


def _switch(module, ledger, release, now):
    """Point current at the release through rename(2), so readers never see a gap."""
    link = module.params["current_link"]
    if not link:
        module.fail_json(msg="release_ledger action=switch needs current_link")
    ledger_lib.get(ledger, release)
    relative = os.path.join("releases", release)
    marker = os.path.join(os.path.dirname(link), relative, "release.json")
    if not os.path.exists(marker):
        module.fail_json(
            msg=f"release {release} has no files under {os.path.dirname(marker)} on "
            f"{module.params['host']}; redeploy it before switching to it"
        )
    link_changed = _link_release(link) != release
    if link_changed and not module.check_mode:
        tmp = f"{link}.tmp-{os.getpid()}"
        os.symlink(relative, tmp)
        os.replace(tmp, link)
    return ledger_lib.set_current(ledger, release, now) or link_changed


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "action": {
                "type": "str",
                "default": "query",
                "choices": ["query", "plan", "register", "mark", "current", "switch"],
            },
            "release": {"type": "str"},
            "state": {"type": "str", "choices": list(ledger_lib.STATES)},
            "reason": {"type": "str"},
            "current_link": {"type": "path"},
            "fleet": {"type": "list", "elements": "str", "default": []},
            "host": {"type": "str", "default": "this host"},
            "kind": {"type": "str", "default": "release", "choices": list(ledger_lib.KINDS)},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        # Name the host only when told it: one path is the same on every host.
        named = params["host"] if params["host"] != "this host" else None
        ledger = ledger_lib.load(params["path"], named)
        result = {"changed": False}
        if params["action"] == "plan":
            linked = _link_release(params["current_link"])
            if params["current_link"] and linked != ledger["current"]:
                module.fail_json(
                    msg="the current symlink on {} points to {} but the ledger says "
                    "{}; repair one of them before rolling back".format(
                        params["host"], linked, ledger["current"]
                    )
                )
            result["target"] = ledger_lib.choose_target(
                ledger, params["host"], params["release"], params["fleet"]
            )
        else:
            result["changed"] = _apply(module, ledger)
            if result["changed"] and not module.check_mode:
                ledger_lib.save(params["path"], ledger)
    except ledger_lib.LedgerError as exc:
        module.fail_json(msg=ledger_lib.worded_for(params["kind"], str(exc)))
    result["current"] = ledger["current"]
    result["releases"] = ledger_lib.releases_in_order(ledger)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
