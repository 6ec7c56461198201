# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""The check every host-changing action of the collection passes before it runs.

An action plugin runs in a worker forked from the ansible-playbook process, on the
controller, whatever task the run started at and whatever tags it selected. Each one asks
the grant of its ansible-playbook process (written only by the authorize step of the same
process) whether this host may change in this run; a step outside any authorized run may
change only hosts of an embedded environment.
"""

import json
import os

from ansible import context
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import guard

IDENTITY_MODULE = "rollbackctl.runbooks.host_identity"
DEFAULT_IDENTITY_FILE = "/etc/rollbackctl/environment"
IDENTITY_VAR = "rollbackctl_identity_file"


def identity_file(action, task_vars):
    """Where the host an action's connection reaches keeps its environment identity.

    A remote host's identity is always at the fixed path: an inventory cannot move it to a
    file an attacker chose. Local hosts (the sandbox stacks on the controller) name theirs.
    """
    if action._connection.transport != "local":
        return DEFAULT_IDENTITY_FILE
    host_vars = task_vars
    if action._task.delegate_to:
        host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(action._task.delegate_to)
    path = (host_vars or {}).get(IDENTITY_VAR)
    return str(action._templar.template(path)) if path else DEFAULT_IDENTITY_FILE


def connection_of(action, task_vars):
    """How this action reaches its host: transport, address, port, user, interpreter and
    identity file, as one JSON line.

    The identity a host carries is true only of the connection it was read over: a run whose
    inventory switched any of these between its preflight and a later step (a variable
    templated on the play, say) would change a host other than the one that was identified.
    """
    context = action._play_context
    host_vars = task_vars
    if action._task.delegate_to:
        host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(action._task.delegate_to)
    python = (host_vars or {}).get("ansible_python_interpreter")
    parts = {
        "transport": action._connection.transport,
        "address": getattr(context, "remote_addr", None),
        "port": getattr(context, "port", None),
        "user": getattr(context, "remote_user", None),
        "python": action._templar.template(python) if python else None,
        "identity": identity_file(action, task_vars),
    }
    return json.dumps({name: str(value) for name, value in parts.items()}, sort_keys=True)


def changed_host(task, task_vars):
    """The host a task acts on: the one it is delegated to, else its own."""
    return task.delegate_to or task_vars.get("inventory_hostname")


class GuardedActionMixin:
    """Put before an ActionBase subclass; subclasses may add target checks in grant_problem()."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        refusal = self._guard_refusal(task_vars)
        if refusal:
            return {
                "failed": True,
                "changed": False,
                "msg": refusal,
                "failure_kind": "NotAuthorizedError",
            }
        return self._run_allowed(tmp, task_vars)

    def _run_allowed(self, tmp, task_vars):
        return super().run(tmp, task_vars)

    def grant_problem(self, grant, task_vars):
        """A reason this step is outside what the grant covers, or None. Override to bind args."""
        return None

    def _guard_refusal(self, task_vars):
        host = changed_host(self._task, task_vars)
        return guard.step_refusal(
            pid=os.getppid(),
            host=host,
            action=self._task.action,
            check_mode=bool(self._task.check_mode),
            extra_var_names=sorted(load_extra_vars(self._loader)),
            inventories=list(context.CLIARGS.get("inventory") or ()),
            connection=connection_of(self, task_vars),
            read_identity=lambda: self._read_identity(task_vars),
            grant_problem=lambda grant: self.grant_problem(grant, task_vars),
        )

    def _read_identity(self, task_vars):
        result = self._execute_module(
            module_name=IDENTITY_MODULE,
            module_args={"path": identity_file(self, task_vars)},
            task_vars=task_vars,
        )
        if result.get("failed"):
            raise ValueError(result.get("msg") or "host identity could not be read")
        return result.get("environment")


class GuardedModuleAction(GuardedActionMixin, ActionBase):
    """Runs MODULE with the task's arguments once the guard allows it."""

    TRANSFERS_FILES = False
    MODULE = ""

    def _run_allowed(self, tmp, task_vars):
        result = ActionBase.run(self, tmp, task_vars)
        result.update(
            self._execute_module(
                module_name=self.MODULE or self._task.action,
                module_args=self._task.args,
                task_vars=task_vars,
            )
        )
        return result
