"""rollbackctl: rollback runbooks as code.

The safety core (policy, approvals, audit, lock, guard, the type registry) lives in the
collection, under plugins/plugin_utils, where the playbook runs load it; the CLI imports the
same modules. The checkout's collections/ folder holds the collection as
ansible_collections/rollbackctl/runbooks (a link to the checkout that setup makes), so it goes
on the import path first: the CLI then checks exactly the code and policies a run checks.
"""

import sys
from pathlib import Path

__version__ = "0.1.0"

# First on the path, even when PYTHONPATH named it already, so no other copy shadows it.
_COLLECTIONS = str(Path(__file__).resolve().parent.parent / "collections")
sys.path[:] = [_COLLECTIONS, *(entry for entry in sys.path if entry != _COLLECTIONS)]
