"""Close every rollback run the way it ended: audit entry written, environment lock released.

Runs in the ansible-playbook process at the end of the playbook, failed or not, so plain
ansible-playbook and AWX runs release their lock exactly like CLI runs.
"""

import os

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.core import core

DOCUMENTATION = r"""
name: rollback_record
type: notification
short_description: Record a rollback's outcome, release its lock and end its grant
description:
  - When a runbook starts with C(--start-at-task), tags or C(--step), records the refusal in
    the audit log and says why (such a run skips its authorize step and holds no grant).
  - At the end of the playbook, writes the run's outcome to the audit log, releases the
    environment lock this ansible-playbook process took in the authorize step, and removes
    the process's grant.
requirements:
  - the rollbackctl library in the Python that runs ansible
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "rollbackctl.runbooks.rollback_record"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        # A runbook started mid-way or with tags skips its own preflight: record the attempt
        # and say why here, since no step of it will run under a grant.
        guard = _guard()
        if guard:
            self._refused(guard.skipping_refusal(cli=dict(context.CLIARGS), **_this_run()))

    def v2_playbook_on_stats(self, stats):
        guard = _guard()
        if guard is None:
            return
        # A runbook whose --limit left out its authorize step ends here without a record.
        self._refused(guard.unauthorized_end(**_this_run()))
        failed = any(stats.failures.values()) or any(stats.dark.values())
        run_id = guard.finish_run(os.getpid(), failed=failed)
        if run_id:
            self._display.vv(f"rollbackctl: run {run_id} recorded, lock released")

    def _refused(self, reason):
        if reason:
            self._display.error(f"rollbackctl: refused: {reason}", wrap_text=False)


def _guard():
    """The library's guard, or None when it is not installed (nothing to record then)."""
    try:
        return core().guard
    except ImportError:
        return None


def _this_run():
    """This ansible-playbook process and the playbook it was started with."""
    return {
        "pid": os.getpid(),
        "playbooks": list(context.CLIARGS.get("args") or ()),
        "cwd": os.getcwd(),
    }
