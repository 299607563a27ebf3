"""Tokens that stand for a caller's number wherever the number itself must not go."""

from __future__ import annotations

import hashlib
import hmac


def number_token(number: str, key: bytes) -> str:
    """A short keyed hash of ``number``: stable per deployment, not reversible without the key."""
    digest = hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
    return f"h:{digest[:12]}"
