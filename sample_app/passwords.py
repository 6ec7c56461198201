"""Hash and check user passwords with salted PBKDF2 from the standard library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_ALGORITHM = "pbkdf2_sha256"
# The iteration count is stored in each hash, so it can be raised later without a migration.
_ITERATIONS = 200_000


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    """A self-describing hash: pbkdf2_sha256$ITERATIONS$SALT$DIGEST (base64)."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join((_ALGORITHM, str(iterations), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """True when the password matches; a malformed stored hash never matches."""
    try:
        algorithm, iterations, salt, digest = stored.split("$")
        if algorithm != _ALGORITHM:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
