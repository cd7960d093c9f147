"""URL canonicalisation and the rules that tell article links from everything else.

Newsletters and feeds carry many links that are not articles. ``classify_link`` returns
``None`` for a link worth fetching, or a short reason for one that is skipped. The rules,
checked in this order:

1. Not a web link: any scheme other than ``http``/``https`` (``mailto:``, ``tel:``,
   ``javascript:``, ``data:``, ``ftp:`` ...), or no host.
2. Media and downloads by path extension: images, audio, video, archives, installers,
   fonts, stylesheets/scripts, calendar/contact cards. PDFs are *kept* (reports are articles).
3. Social networks: share/intent links (twitter/x intents, facebook sharer, linkedin
   shareArticle, reddit submit, pinterest create, HN submitlink, ...), profiles
   (twitter/x, linkedin ``/in/`` and ``/company/``, instagram, tiktok, threads, bluesky,
   facebook pages, reddit users, medium ``/@user``), messaging invites (``t.me``,
   ``wa.me``, whatsapp send, discord invites), and YouTube channel pages. X/Twitter,
   Instagram, TikTok and Threads posts are skipped too: they cannot be fetched as text.
   YouTube videos and LinkedIn ``/pulse/`` articles are kept.
4. App stores (Apple, Google Play, Chrome Web Store, Microsoft Store).
5. Newsletter plumbing anywhere: ``substackcdn.com`` assets, substack.com account/profile
   pages, list-manage/mailchimp profile pages, unsubscribe and email-preference links.
   Substack ``/redirect/`` and email click-tracking links are *kept* (articles behind a hop).
6. The newsletter's own navigation, for links on the same host as ``source_url``:
   ``/subscribe``, ``/account``, ``/archive``, ``/about``, ``/s/``, ``/podcast``,
   ``/leaderboard``, ``/signin``, ``/login``, ``/tag/``, ``/author/``, comment pages
   (``/p/<slug>/comments``), the newsletter's other issues (``/p/<slug>``), share actions,
   and the source page itself.
7. Home pages: a bare ``/`` path with no query.

Link shorteners (bit.ly, t.co, ...) are deliberately *not* skipped: they are articles
behind a redirect, which the fetcher follows and checks hop by hop.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "canonicalize_url", "classify_link", "same_site"]

# Exact query keys (lower-case) that only track clicks and never select content.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "igshid",
        "mkt_tok",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "yclid",
        "msclkid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "wickedid",
        "vero_id",
        "vero_conv",
        "oly_anon_id",
        "oly_enc_id",
        "_openstat",
        "rb_clickid",
        "s_cid",
        "sr_share",
        "ito",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "cmpid",
        "ncid",
        "ocid",
        "mbid",
        "__s",
        "ss_source",
        "ss_campaign_id",
        "_kx",
        "trk",
        "trkcampaign",
        "spm",
        "si",
    }
)
# Key prefixes (lower-case) for whole tracking families.
_TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "hsa_", "_branch_")
# Keys that only track on some hosts (Substack's referral code ``r`` and its share flags).
_HOST_TRACKING: dict[str, frozenset[str]] = {
    "substack.com": frozenset(
        {"r", "triedredirect", "showwelcome", "isfreemail", "publication_id", "post_id"}
    ),
}

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_matches(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _is_tracking(key: str, host: str) -> bool:
    k = key.lower()
    if k in TRACKING_PARAMS or k.startswith(_TRACKING_PREFIXES):
        return True
    return any(_host_matches(host, d) and k in keys for d, keys in _HOST_TRACKING.items())


def canonicalize_url(url: str) -> str:
    """Return one spelling per resource so the same article is stored once.

    Lower-cases scheme and host, drops default ports, credentials, fragments and tracking
    parameters, sorts the remaining query parameters (raw, so their encoding is kept),
    and keeps the path's case. Non-web URLs are returned stripped, scheme lower-cased.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return f"{scheme}:{url.split(':', 1)[1]}" if scheme and ":" in url else url
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = parts.path or "/"
    pieces = [p for p in parts.query.split("&") if p]
    kept = [p for p in pieces if not _is_tracking(unquote(p.split("=", 1)[0].replace("+", " ")), host)]
    query = "&".join(sorted(kept))
    return urlunsplit((scheme, netloc, path, query, ""))


def same_site(a: str, b: str) -> bool:
    """True when two hosts are the same site, ignoring a leading ``www.``."""
    return a.lower().removeprefix("www.") == b.lower().removeprefix("www.")


_MEDIA_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(
        ("png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "tif", "tiff", "avif", "heic"), "image"
    ),
    **dict.fromkeys(
        ("mp3", "mp4", "m4a", "m4v", "wav", "ogg", "oga", "webm", "mov", "avi", "mkv", "flac", "aac"), "media"
    ),
    **dict.fromkeys(("zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst"), "archive"),
    **dict.fromkeys(("exe", "dmg", "pkg", "msi", "apk", "deb", "rpm", "iso", "appimage"), "download"),
    **dict.fromkeys(("woff", "woff2", "ttf", "otf", "eot", "css", "js", "ics", "vcf", "json"), "asset"),
}

_SHARE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("twitter.com", re.compile(r"^/(intent|share|home)(/|$)")),
    ("x.com", re.compile(r"^/(intent|share|home)(/|$)")),
    ("facebook.com", re.compile(r"^/(sharer|share|dialog/(share|feed))")),
    ("linkedin.com", re.compile(r"^/(sharearticle|sharing|cws/share|shareArticle)")),
    ("reddit.com", re.compile(r"^/submit")),
    ("pinterest.com", re.compile(r"^/pin/create")),
    ("news.ycombinator.com", re.compile(r"^/submitlink")),
    ("tumblr.com", re.compile(r"^/(share|widgets/share)")),
    ("getpocket.com", re.compile(r"^/(save|edit)")),
    ("bsky.app", re.compile(r"^/intent/")),
    ("threads.net", re.compile(r"^/intent/")),
    ("api.whatsapp.com", re.compile(r"^/send")),
    ("telegram.me", re.compile(r"^/share")),
    ("t.me", re.compile(r"^/share")),
    ("flipboard.com", re.compile(r"^/bookmarklet")),
]
# Whole hosts that never carry fetchable article text.
_SOCIAL_HOSTS = (
    "twitter.com",
    "x.com",
    "instagram.com",
    "tiktok.com",
    "threads.net",
    "t.me",
    "telegram.me",
    "wa.me",
    "whatsapp.com",
    "discord.gg",
    "snapchat.com",
    "vk.com",
)
_PROFILE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("linkedin.com", re.compile(r"^/(in|company|school|showcase|posts|feed)(/|$)")),
    ("facebook.com", re.compile(r"^/(?!notes/)[^/]+/?$|^/(groups|pages|profile\.php|people|events)")),
    ("youtube.com", re.compile(r"^/(channel|c|user)/|^/@")),
    ("reddit.com", re.compile(r"^/(u|user)/")),
    ("bsky.app", re.compile(r"^/profile/")),
    ("medium.com", re.compile(r"^/@[^/]+/?$")),
    (
        "substack.com",
        re.compile(
            r"^/(@|profile/|app|sign-?in|account|inbox|notes|home|chat|discover|"
            r"refer|subscribe|settings|signup|search)"
        ),
    ),
    ("discord.com", re.compile(r"^/invite/")),
    ("github.com", re.compile(r"^/(sponsors|login|join|signup)(/|$)")),
    ("patreon.com", re.compile(r"^/")),
    ("buymeacoffee.com", re.compile(r"^/")),
    ("ko-fi.com", re.compile(r"^/")),
]
# Platforms whose sub-domains are publications, not the platform's own account pages.
_EXACT_HOSTS = frozenset({"substack.com", "medium.com"})
_APP_STORES: list[tuple[str, re.Pattern[str]]] = [
    ("apps.apple.com", re.compile(r"")),
    ("itunes.apple.com", re.compile(r"")),
    ("play.google.com", re.compile(r"^/store")),
    ("chrome.google.com", re.compile(r"^/webstore")),
    ("chromewebstore.google.com", re.compile(r"")),
    ("apps.microsoft.com", re.compile(r"")),
    ("microsoft.com", re.compile(r"^/([a-z]{2}-[a-z]{2}/)?store/")),
]
_ASSET_HOSTS = (
    "substackcdn.com",
    "list-manage.com",
    "campaign-archive.com",
    "mcusercontent.com",
    "gravatar.com",
    "beehiiv-images-production.s3.amazonaws.com",
)
_UNSUBSCRIBE = re.compile(
    r"unsubscribe|disable_email|opt-?out|email[-_]?preferences|manage[-_]?(your[-_])?subscription",
    re.IGNORECASE,
)
# The newsletter's own navigation: only for links on the newsletter's own host.
_OWN_NAV = re.compile(
    r"^/(subscribe|account|archive|about|s|podcast|leaderboard|sign-?in|sign-?up|log-?in|register|"
    r"tag|tags|author|authors|category|categories|topics?|search|recommendations|notes|chat|people|"
    r"welcome|privacy|terms|tos|legal|contact|feed|rss|settings|members|membership|donate|"
    r"upgrade|pledge|gift|embed|comments|portal|newsletter|newsletters|page|action)(/|$|\.)",
    re.IGNORECASE,
)
_OWN_COMMENTS = re.compile(r"^/p/[^/]+(/comments?|-comments)(/|$)", re.IGNORECASE)
_OWN_ISSUE = re.compile(r"^/p/[^/]+/?$")
_OWN_ACTIONS = re.compile(r"(^|&)(action|share|submitLike|comments)=", re.IGNORECASE)


def classify_link(url: str, *, source_url: str | None = None) -> str | None:
    """Return ``None`` for an article-like link, else a short reason it is skipped.

    See the module docstring for the rules; ``source_url`` (the newsletter page the link
    came from) enables the "newsletter's own navigation" rules.
    """
    url = url.strip()
    if not url:
        return "empty link"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "malformed URL"
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return f"not a web link ({scheme or 'relative'})"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "no host"
    path = parts.path or "/"
    lpath = path.lower()

    ext = posixpath.splitext(lpath.rstrip("/"))[1].lstrip(".")
    if ext in _MEDIA_EXTENSIONS:
        return f"{_MEDIA_EXTENSIONS[ext]} file (.{ext})"

    for domain, pat in _SHARE_PATTERNS:
        if _host_matches(host, domain) and pat.search(path):
            return f"social share link ({domain})"
    for domain, pat in _APP_STORES:
        if _host_matches(host, domain) and pat.search(lpath):
            return f"app store link ({domain})"
    for domain in _ASSET_HOSTS:
        if _host_matches(host, domain):
            return f"newsletter asset ({domain})"
    if _UNSUBSCRIBE.search(path) or _UNSUBSCRIBE.search(parts.query):
        return "unsubscribe/preferences link"
    for domain in _SOCIAL_HOSTS:
        if _host_matches(host, domain):
            return f"social media ({domain})"
    for domain, pat in _PROFILE_PATTERNS:
        exact_only = domain in _EXACT_HOSTS
        if (
            host.removeprefix("www.") == domain or (not exact_only and _host_matches(host, domain))
        ) and pat.search(path):
            return f"social profile or account page ({domain})"

    if source_url:
        src = urlsplit(source_url)
        src_host = (src.hostname or "").lower()
        if src_host and same_site(host, src_host):
            if canonicalize_url(url) == canonicalize_url(source_url):
                return "the source page itself"
            if _OWN_COMMENTS.search(path):
                return "newsletter comments page"
            m = _OWN_NAV.search(path)
            if m:
                return f"newsletter navigation (/{m.group(1).lower()})"
            if _OWN_ACTIONS.search(parts.query):
                return "newsletter share/action link"
            if _OWN_ISSUE.search(path) and _OWN_ISSUE.search(src.path or "/"):
                return "another issue of the same newsletter"

    if path == "/" and not parts.query:
        return "home page"
    return None
