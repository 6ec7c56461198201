"""Calls to the third-party providers the app integrates with (payment, email, push).

Each call carries the API version the integration pins and the client code's version; a
provider that does not know the pin refuses the call, and the caller turns that into a
one-line error naming the provider and its answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from settings import Integration

TIMEOUT_SECONDS = 5
# Every provider answers about the account when asked with a version it knows: the check
# the integration checks run.
STATUS_PATH = "/v1/status"


class ProviderError(Exception):
    """The provider refused the call or did not answer; the message is one line."""


def call(
    integration: Integration, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The provider's JSON answer; ProviderError when it refuses or does not answer."""
    request = urllib.request.Request(
        integration.endpoint.rstrip("/") + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "Content-Type": "application/json",
            "Api-Version": integration.api_version,
            "User-Agent": f"market-{integration.service}-client/{integration.client_version}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise ProviderError(
            f"{integration.service} provider answered HTTP {exc.code}: {_error_of(exc)}"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProviderError(f"{integration.service} provider did not answer: {reason}") from exc


def status(integration: Integration) -> dict[str, Any]:
    """The integration check of one provider: ok, or the problem, with the pin it was asked with."""
    checked = {"api_version": integration.api_version, "client_version": integration.client_version}
    try:
        call(integration, "GET", STATUS_PATH)
    except ProviderError as exc:
        return {**checked, "ok": False, "detail": str(exc)}
    return {**checked, "ok": True, "detail": "answered"}


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read() or b"{}")
    except ValueError:
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return str(error) if error else exc.reason
