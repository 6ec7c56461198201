# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""The rollbackctl library as the collection's plugins use it: pointed at this collection.

The playbooks, policies and trust roots a plugin checks against are those of the reviewed
tree the plugin itself was loaded from, wherever the library is installed.
"""

from pathlib import Path
from types import SimpleNamespace

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
MISSING = (
    "the rollbackctl library is missing on the controller ({}); "
    "install it in the Python that runs ansible"
)


def core():
    """grant and guard modules; raises ImportError when the library is not installed."""
    from rollbackctl import paths

    paths.use_collection_root(COLLECTION_ROOT)
    from rollbackctl import grant, guard

    return SimpleNamespace(grant=grant, guard=guard)
