"""Issue and check stateless HMAC-SHA256 bearer tokens, so any app instance accepts any other's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class Claims:
    user_id: int
    is_admin: bool
    expires_at: int


def issue(secret: str, user_id: int, is_admin: bool, *, ttl: int = TOKEN_TTL_SECONDS) -> str:
    """PAYLOAD.SIGNATURE, both base64url; the payload is readable but cannot be altered."""
    payload = json.dumps(
        {"sub": user_id, "adm": is_admin, "exp": int(time.time()) + ttl},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    body = _b64(payload)
    return f"{body}.{_b64(_sign(secret, body))}"


def verify(secret: str, token: str) -> Claims | None:
    """The token's claims, or None when it is malformed, forged or expired."""
    body, sep, signature = token.partition(".")
    if not sep:
        return None
    try:
        # Compare signatures before parsing anything the client sent.
        if not hmac.compare_digest(_unb64(signature), _sign(secret, body)):
            return None
        data = json.loads(_unb64(body))
        claims = Claims(int(data["sub"]), bool(data["adm"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return claims if claims.expires_at > time.time() else None


def _sign(secret: str, body: str) -> bytes:
    return hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
