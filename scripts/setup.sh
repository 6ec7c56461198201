#!/usr/bin/env bash
# Prepare a fresh machine for rollbackctl: system packages (when root), the .venv with
# rollbackctl and its test tools, and the pinned collections installed without Galaxy.
# Idempotent: each step is skipped when its result is already in place.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ansible_bundle_version=12.3.0   # the PyPI "ansible" release that carries the pinned collections
# awx/awx: awx/apply.yml applies the job templates to a controller with its modules.
collections=(community/postgresql community/docker community/library_inventory_filtering_v1 awx/awx)
apt_packages=(nginx-light postgresql postgresql-client openssh-client python3-venv shellcheck prometheus-alertmanager prometheus chromium)
python=${PYTHON:-python3}

log() { printf 'setup: %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  [ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
  command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  # The local stacks' Alertmanager, which infrastructure rollbacks silence and announce to.
  command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
  # promtool checks and unit-tests the alerting rules generated from each environment's triggers.
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  # The tests open each run's HTML report in a real headless browser.
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # ansible-test's shellcheck sanity test passes without checking anything when it is missing.
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  # Debian's own python3 ships venv without ensurepip until python3-venv is installed.
  "$python" -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]} (run as root or install them: apt-get install -y ${apt_packages[*]})"
    exit 1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Prometheus alone, without its recommends: they bring exporters that a systemd machine
  # would start on public ports; the stacks run their own Prometheus on loopback.
  local lean=() rest=()
  for package in "${missing[@]}"; do
    if [ "$package" = prometheus ]; then lean+=("$package"); else rest+=("$package"); fi
  done
  [ ${#rest[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${rest[@]}" >/dev/null
  [ ${#lean[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
}

install_venv() {
  local stamp=.venv/.installed
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    "$python" -m venv .venv
  fi
  # Reinstall only when the dependency list changed since the last install.
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing rollbackctl and test tools into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
  fi
}

install_collections() {
  local dest=collections/ansible_collections stamp list_hash
  # The stamp names the release and the collection list, so a checkout re-extracts when either
  # changes, not only on a new release.
  list_hash=$(printf '%s\n' "${collections[@]}" | sha256sum | cut -c1-12)
  stamp="$dest/.bundle-$ansible_bundle_version-$list_hash"
  [ -f "$stamp" ] && return
  log "installing collections from ansible==$ansible_bundle_version (no Galaxy)"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  .venv/bin/pip download -q --disable-pip-version-check --no-deps -d "$tmp" "ansible==$ansible_bundle_version"
  # The wheel holds every collection (~470 MB unpacked); extract only the pinned ones.
  .venv/bin/python - "$tmp" "${collections[@]}" <<'PY'
import glob, sys, zipfile
tmp, wanted = sys.argv[1], tuple(f"ansible_collections/{c}/" for c in sys.argv[2:])
with zipfile.ZipFile(glob.glob(f"{tmp}/ansible-*.whl")[0]) as wheel:
    wheel.extractall(tmp, [n for n in wheel.namelist() if n.startswith(wanted)])
PY
  for c in "${collections[@]}"; do
    mkdir -p "$dest/$(dirname "$c")"
    rm -rf "${dest:?}/$c"
    mv "$tmp/ansible_collections/$c" "$dest/$c"
  done
  rm -f "$dest"/.bundle-*
  touch "$stamp"
}

# Ansible finds a collection only at ansible_collections/<namespace>/<name>/ under its
# collections_path (ansible.cfg: collections/). This link makes the checkout itself
# rollbackctl.runbooks there, for the CLI, ansible-playbook, ansible-lint and molecule. It is
# relative, so a copy of the checkout that keeps links is its own collection too.
link_own_collection() {
  local link=collections/ansible_collections/rollbackctl/runbooks target=../../..
  [ "$(readlink "$link" 2>/dev/null)" = "$target" ] && return
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    log "$link is a folder, not the link to the checkout: remove it and run setup again"
    exit 1
  fi
  mkdir -p "$(dirname "$link")"
  ln -sfn "$target" "$link"
}

install_system_packages
install_venv
install_collections
link_own_collection
log "ready: $(.venv/bin/rollbackctl --version)"
