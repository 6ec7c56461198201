# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Remove the controller's exports of configuration commits when a playbook ends, failed or not.

A configuration, third-party or full rollback (and a configuration deploy) exports the commit's
files into a temporary folder on the controller; the runbook's last play removes it, but a run
that fails or is refused before that play never reaches it. The files may carry settings such
as credentials, so the folder must not outlive its run. A process that is killed (a signal,
a timeout of its launcher) ends no playbook, and leaves its export behind.
"""

DOCUMENTATION = r"""
name: controller_exports
type: aggregate
short_description: Remove a run's exports of configuration commits at the end of the playbook
description:
  - Notes the folder each C(rollbackctl.runbooks.config_files) stage step creates on the
    controller, and removes the ones still there when the playbook ends, succeeded, failed or
    refused. A killed ansible-playbook ends no playbook and leaves its export behind.
"""

import shutil
from pathlib import Path

from ansible.plugins.callback import CallbackBase

# The stage step's folder prefix (roles/config_files/tasks/stage.yml).
EXPORT_PREFIX = "rollbackctl-config-"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "rollbackctl.runbooks.controller_exports"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._exports = []

    def v2_runner_on_ok(self, result):
        task = result._task
        if task.action not in ("ansible.builtin.tempfile", "tempfile"):
            return
        path = result._result.get("path")
        if task.args.get("prefix") == EXPORT_PREFIX and path:
            self._exports.append(Path(path))

    def v2_playbook_on_stats(self, stats):
        for path in self._exports:
            # Only what this run made: a folder of the stage step's own naming.
            if path.name.startswith(EXPORT_PREFIX) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                self._display.vv(f"rollbackctl: removed the export {path}")
