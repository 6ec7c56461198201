#!/usr/bin/env bash
# The demo: a bad release is live on the sandbox; roll it back and show the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
rollbackctl=.venv/bin/rollbackctl

"$rollbackctl" sandbox down --purge >/dev/null 2>&1 || true
echo "== bringing the sandbox up: 2026.11.1 stable, 2026.11.2 (bad: order placement fails) current"
"$rollbackctl" sandbox up
url=$("$rollbackctl" sandbox status --output json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["url"])')
echo "== nginx serves: $(curl -s "$url/api/health")"
"$rollbackctl" releases sandbox
echo "== rolling back"
"$rollbackctl" app sandbox --yes
echo "== nginx serves: $(curl -s "$url/api/health")"
"$rollbackctl" releases sandbox
echo "== the sandbox keeps running; stop it with: .venv/bin/rollbackctl sandbox down"
