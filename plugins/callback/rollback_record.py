"""Close every rollback run the way it ended: audit entry written, environment lock released.

Runs in the ansible-playbook process at the end of the playbook, failed or not, so plain
ansible-playbook and AWX runs release their lock exactly like CLI runs.
"""

import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: rollback_record
type: notification
short_description: Record a rollback's outcome and release its environment lock
description:
  - At the end of the playbook, writes the run's outcome to the audit log and releases the
    environment lock this ansible-playbook process took in the authorize step.
requirements:
  - the rollbackctl library in the Python that runs ansible
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "rollbackctl.runbooks.rollback_record"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_stats(self, stats):
        try:
            from rollbackctl import guard
        except ImportError:
            return
        failed = any(stats.failures.values()) or any(stats.dark.values())
        for run_id in guard.finish_runs_of(os.getpid(), failed=failed):
            self._display.vv(f"rollbackctl: run {run_id} recorded, lock released")
