"""One retry policy for everything that talks to a server: the LLM client and the web fetcher.

Both wait the same way after a transient fault: the server's `Retry-After` when it gives one (in
seconds, as an HTTP date, or OpenAI's `retry-after-ms`), else exponential backoff with jitter, and
never longer than a cap. Keeping the rule in one place means a fix (a new header form, a cap)
reaches every caller.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


def parse_retry_after(headers: Mapping[str, str] | str | None) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `Retry-After` (seconds or HTTP date); None if absent.

    Accepts a header mapping (case-insensitive lookups are the caller's mapping's business: httpx's
    Headers are) or the bare `Retry-After` value.
    """
    if headers is None:
        return None
    if isinstance(headers, str):
        value: str | None = headers
    else:
        ms = headers.get("retry-after-ms")
        if ms:
            try:
                return max(0.0, float(ms) / 1000)
            except ValueError:
                pass
        value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before try number `failures + 1`.

    `base` is the first backoff in seconds (doubling each time, times a jitter factor in
    [0.5, 1.5)); `cap` bounds every wait, the server's own `Retry-After` included.
    """

    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(self.cap, max(0.0, retry_after))
        backoff = min(self.cap, self.base * 2.0 ** max(0, failures - 1))
        return float(min(self.cap, backoff * random.uniform(0.5, 1.5)))
