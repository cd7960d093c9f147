"""The one place that knows every configured secret, and scrubs it from any text.

Keys come from the environment only (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), but secrets also hide
in URLs: a password in `https://user:PASSWORD@host`, or a key in `?key=…` / `?api_key=…` / `?sig=…`
of `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL` or any `HORIZONSCAN_*` URL. Everything that leaves the
process (error messages, ledger rows, the audit log, `horizonscan config`, the CLI's error lines)
goes through `scrub`, so a secret cannot reach a terminal, a page or the database by another path.

The environment is read at every call: it is small, and tests (or a long-lived process) may change
it, so a cached copy could miss a secret.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"
KEY_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
URL_ENV = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
# Query parameters that carry credentials in the wild (Azure `api-key`, Google `key`, SAS `sig`, …).
KEYLIKE_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "api-key",
        "apikey",
        "x-api-key",
        "token",
        "access_token",
        "auth",
        "auth_token",
        "authorization",
        "sig",
        "signature",
        "secret",
        "client_secret",
        "password",
        "pass",
        "pwd",
        "code",
    }
)
# Shorter strings are not scrubbed everywhere: replacing "abc" in every message would garble text,
# and no real credential is that short.
MIN_SECRET = 4


def _is_keylike(name: str) -> bool:
    low = name.lower()
    return low in KEYLIKE_PARAMS or low.endswith(("_key", "-key", "_token", "-token", "secret"))


def url_secrets(url: str) -> list[str]:
    """The secret parts of one URL: userinfo and key-like query values, raw and decoded."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, sep, password = userinfo.partition(":")
        found.append(password if sep else user)  # a lone user name is a key (https://KEY@host)
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and _is_keylike(unquote_plus(name)):
            found.append(value)
    return [form for s in found if s for form in {s, unquote(s), unquote_plus(s)}]


def configured_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret configured now: API keys, and the secret parts of every configured URL."""
    env = os.environ if environ is None else environ
    found: set[str] = {env[k] for k in KEY_ENV if env.get(k)}
    urls = [env[k] for k in URL_ENV if env.get(k)]
    urls += [v for k, v in env.items() if k.startswith("HORIZONSCAN_") and "://" in v]
    for url in urls:
        found.update(url_secrets(url))
    return sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True)


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every configured secret (and `extra` ones) replaced by ***, in any encoding."""
    if not text:
        return text
    secrets = configured_secrets()
    secrets += [s for s in extra if s and len(s) >= MIN_SECRET]
    for secret in sorted(set(secrets), key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form and form in text:
                text = text.replace(form, MASK)
    return text


def redact_url(url: str | None) -> str | None:
    """A URL fit to print: the userinfo password (or lone user name) and key-like query values masked."""
    if not url:
        return url
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if sep else f"{MASK}@{host}"
    query = "&".join(
        f"{name}={MASK}" if _is_keylike(unquote(name)) else f"{name}={value}" if sep else name
        for name, sep, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))
