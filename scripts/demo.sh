#!/usr/bin/env bash
# The demo: a bad release is live on the sandbox; roll it back and show the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
rollbackctl=.venv/bin/rollbackctl

"$rollbackctl" sandbox down --purge >/dev/null 2>&1 || true
echo "== bringing the sandbox up: 2026.11.1 stable, 2026.11.2 (bad: order placement fails) current"
"$rollbackctl" sandbox up
url=$("$rollbackctl" sandbox status --output json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["url"])')

# What a customer sees: sign in, place an order; prints the HTTP status of the order.
place_order() {
  local token
  token=$(curl -s -X POST "$url/api/login" -H 'Content-Type: application/json' \
    -d '{"email": "customer@example.com", "password": "customer-pass"}' |
    .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s -o /dev/null -w '%{http_code}' -X POST "$url/api/orders" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d '{"product_id": 1, "quantity": 1}'
}

echo "== nginx serves: $(curl -s "$url/api/health")"
echo "== placing an order: HTTP $(place_order)"
"$rollbackctl" releases sandbox
echo "== rolling back"
"$rollbackctl" app sandbox --yes
echo "== nginx serves: $(curl -s "$url/api/health")"
echo "== placing an order: HTTP $(place_order)"
"$rollbackctl" releases sandbox
echo "== the sandbox keeps running; stop it with: .venv/bin/rollbackctl sandbox down"
