#!/usr/bin/env bash
# ansible-test sanity on the collection, with no network but the package index.
# ansible-test only runs from a tree laid out as ansible_collections/<namespace>/<name>/, so the
# collection's files (those git tracks, plus new ones not ignored) go to such a tree in a
# temporary folder, which is removed afterwards. Extra arguments go to ansible-test sanity.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=.venv/bin/python
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

log() { printf 'sanity: %s\n' "$*" >&2; }

# ansible-test keeps its per-test virtual environments and its pip bootstrap under ~/.ansible.
# A home of its own, in the user's cache rather than the checkout, keeps them between runs and
# fresh clones (the first run builds them: a few minutes) and leaves the user's ~/.ansible alone.
test_home="${XDG_CACHE_HOME:-$HOME/.cache}/rollbackctl/ansible-test"

# Each sanity environment starts without pip; ansible-test fills it with a get-pip script that
# it downloads from outside the package index unless its cache holds one: put ours there, under
# the name of the pip version this ansible-test pins.
pip_version=$("$python" - "$version" <<'PY'
import sys

from ansible_test._internal.host_configs import NativePythonConfig
from ansible_test._internal.python_requirements import get_venv_packages

python = NativePythonConfig(version=sys.argv[1], path=sys.executable)
print(get_venv_packages(python)["pip"])
PY
)
cache="$test_home/.ansible/test/cache"
mkdir -p "$cache"
cp scripts/sanity/get_pip.py "$cache/get_pip_${pip_version//./_}.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
collection="$work/ansible_collections/rollbackctl/runbooks"
mkdir -p "$collection"
# Files deleted in the work tree but still tracked are skipped (--ignore-failed-read).
git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read --warning=no-failed-read -cf - |
  tar -xf - -C "$collection"

log "ansible-test sanity on Python $version in a copy of the collection"
cd "$collection"
HOME="$test_home" "$root/.venv/bin/ansible-test" sanity --python "$version" --color no "$@"
