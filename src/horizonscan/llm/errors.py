"""Helpers shared by providers for turning SDK errors into actionable, key-free messages."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping


def scrub(message: str, secret: str) -> str:
    """Never let an API key reach a log, a page or the database."""
    if secret and len(secret) >= 6:
        message = message.replace(secret, "***")
    return message[:500]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read `Retry-After` (seconds or HTTP date) and `retry-after-ms`."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())
