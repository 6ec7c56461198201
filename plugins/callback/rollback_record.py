# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Close every rollback run the way it ended: audit entry written, environment lock released.

Runs in the ansible-playbook process at the end of the playbook, failed or not, so plain
ansible-playbook and AWX runs release their lock exactly like CLI runs.
"""

DOCUMENTATION = r"""
name: rollback_record
type: notification
short_description: Record a rollback's outcome, release its lock and end its grant
description:
  - When a runbook starts with C(--start-at-task), tags or C(--step), records the refusal in
    the audit log, says why (such a run skips its authorize step and holds no grant) and stops
    ansible-playbook before its first play, with exit code 5.
  - At the end of the playbook, writes the run's outcome to the audit log, releases the
    environment lock this ansible-playbook process took in the authorize step, and removes
    the process's grant. A runbook whose authorize step never ran (a C(--limit) without the
    controller) is recorded as refused, and exits with code 5 when no task failed.
"""

import os

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import guard
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import LoadedPlay

# ansible-playbook's own code for "bad or incomplete options": the run was started wrongly.
REFUSED_EXIT_CODE = 5


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "rollbackctl.runbooks.rollback_record"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        # Which runbook the loaded plays are, for the authorize step. A runbook started
        # mid-way or with tags skips its own preflight: record the attempt and stop before the
        # first play, since no step of it would run under a grant.
        refusal = guard.start_run(
            pid=os.getpid(),
            playbooks=list(context.CLIARGS.get("args") or ()),
            plays=[_loaded(play) for play in playbook.get_plays()],
            cli=dict(context.CLIARGS),
        )
        self._stop_if_refused(refusal)

    def v2_playbook_on_stats(self, stats):
        # A runbook whose --limit left out its authorize step ends here without a record.
        refusal = guard.unauthorized_end(pid=os.getpid())
        failed = any(stats.failures.values()) or any(stats.dark.values())
        run_id = guard.finish_run(os.getpid(), failed=failed)
        if run_id:
            self._display.vv(f"rollbackctl: run {run_id} recorded, lock released")
        if failed:
            self._say_refused(refusal)  # ansible-playbook already exits with a failure
        else:
            self._stop_if_refused(refusal)

    def _stop_if_refused(self, reason):
        """Say why and end ansible-playbook with a failure, whatever its tasks did.

        Ansible turns an exception raised by a callback into a warning, so a refusal from here
        could not fail the run; SystemExit is not an Exception and ends the process with its
        code. Hosts do not depend on this: every host-changing step refuses without a grant.
        """
        if reason:
            self._say_refused(reason)
            raise SystemExit(REFUSED_EXIT_CODE)

    def _say_refused(self, reason):
        if reason:
            self._display.error(f"rollbackctl: refused: {reason}", wrap_text=False)


def _loaded(play):
    """A loaded play: where it is written, and what an import_playbook around it added."""
    path, _colon, line = play.get_path().rpartition(":")
    tags = play.tags or ()
    return LoadedPlay(
        path=path,
        line=int(line) if line.isdigit() else 0,
        vars=dict(play.vars or {}),
        tags=tuple(sorted([tags] if isinstance(tags, str) else tags)),
        conditional=bool(getattr(play, "_included_conditional", None)),
    )
