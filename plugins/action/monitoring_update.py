# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Tell the environment's Alertmanager about the rollback this run is: silence its alerts for
the rollback window (state=silenced), then post the event that it ran (state=announced).

Runs on the controller, and only inside an authorized run that changes things: environment,
rollback type and run id come from the run's grant, never from arguments, so no variable can
silence another environment. The silences it makes are recorded with the grant, and a run that
fails ends them (callback rollback_record). An empty url is a clear skip, and a monitoring
system that does not answer never decides a rollback: the step reports it and the run goes on.
"""

import os

from ansible.plugins.action import ActionBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import alertmanager
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

STATES = ("silenced", "announced")
MINUTES = (1, 1440)
UNCONFIGURED = "no Alertmanager configured for this environment (monitoring_alertmanager_url)"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        url, state = str(args.get("url") or ""), args.get("state")
        try:
            minutes = int(args.get("minutes", 10))
        except (TypeError, ValueError):
            minutes = 0
        if state not in STATES or not MINUTES[0] <= minutes <= MINUTES[1]:
            result.update(
                failed=True,
                msg=f"monitoring_update needs state {' or '.join(STATES)} and minutes "
                f"{MINUTES[0]} to {MINUTES[1]}",
            )
            return result
        if not url:
            result["monitoring"] = {"state": "skipped", "reason": UNCONFIGURED}
            return result
        pid = os.getppid()
        held = run_grant.read(pid)
        if held is None:
            result.update(failed=True, msg="monitoring_update runs only inside an authorized run")
            return result
        planned = held.check or self._task.check_mode
        if planned:
            result["monitoring"] = {"state": f"would be {state}", "alertmanager": url}
            return result
        try:
            result["monitoring"] = self._update(pid, held, url, state, minutes)
            result["changed"] = True
        except RollbackError as exc:
            result["warnings"] = [f"monitoring not updated: {exc.one_line()}"]
            result["monitoring"] = {"state": "failed", "alertmanager": url, "error": str(exc)}
        return result

    @staticmethod
    def _update(pid, held, url, state, minutes):
        what = f"{held.rollback_type} rollback {held.run_id} of {held.environment}"
        if state == "silenced":
            silence_id, until = alertmanager.silence(
                url, held.environment, minutes, f"{what}: alerts silenced for the rollback window"
            )
            run_grant.add_silence(pid, url, silence_id)
            return {"state": state, "alertmanager": url, "silence": silence_id, "until": until}
        labels = {
            "environment": held.environment,
            "rollback_type": held.rollback_type,
            "run_id": held.run_id,
        }
        alertmanager.announce(url, labels, f"{what} ran", minutes)
        return {"state": state, "alertmanager": url, "event": alertmanager.EVENT_ALERT}
