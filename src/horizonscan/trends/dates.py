"""Dates of articles and the periods trends are counted in.

An article's date is its publication date when that can be read and is plausible, else the
time horizonscan first saw it. `articles.published` is free text from feeds and pages
("2024-03-05T10:00:00Z", "Tue, 05 Mar 2024 10:00:00 GMT", "5 March 2024", "03/05/2024"), so it
is parsed defensively: a date that cannot be read, lies before 1990, or lies more than a day
after the article was first seen (a typo, or a time zone gone wrong) is not trusted.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

EARLIEST = datetime(1990, 1, 1)
# Periods are counted from a Monday, so 7-day periods are ISO weeks.
EPOCH = date(1970, 1, 5)

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january", "janvier", "januar", "enero", "gennaio"),
            ("feb", "february", "fevrier", "février", "februar", "febrero", "febbraio"),
            ("mar", "march", "mars", "märz", "marz", "marzo"),
            ("apr", "april", "avril", "abril", "aprile"),
            ("may", "mai", "mayo", "maggio"),
            ("jun", "june", "juin", "juni", "junio", "giugno"),
            ("jul", "july", "juillet", "juli", "julio", "luglio"),
            ("aug", "august", "août", "aout", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre", "settembre"),
            ("oct", "october", "octobre", "oktober", "octubre", "ottobre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "décembre", "decembre", "dezember", "diciembre", "dicembre"),
        ]
    )
    for m in names
}
_ISO_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DMY_WORDS = re.compile(r"(\d{1,2})\.?\s+([a-zéûä]+)\.?,?\s+(\d{4})", re.I)
_MDY_WORDS = re.compile(r"([a-zéûä]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_NUMERIC = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _valid(y: int, m: int, d: int) -> datetime | None:
    try:
        return datetime(y, m, d)
    except ValueError:
        return None


def parse_date(text: str | None) -> datetime | None:
    """A naive UTC datetime from a free-form date string, or None when it cannot be read."""
    if not text:
        return None
    s = text.strip()
    if not s:
        return None
    try:
        return _naive_utc(datetime.fromisoformat(s.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return _naive_utc(parsedate_to_datetime(s))
    except (TypeError, ValueError, IndexError):
        pass
    if m := _ISO_DAY.search(s):
        return _valid(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    low = s.lower()
    if (m := _DMY_WORDS.search(low)) and m.group(2) in _MONTHS:
        return _valid(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)))
    if (m := _MDY_WORDS.search(low)) and m.group(1) in _MONTHS:
        return _valid(int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2)))
    if m := _NUMERIC.search(s):
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        # 05/03/2024 is ambiguous; a part above 12 settles it, else day first (most of the world).
        if b > 12 >= a:
            return _valid(y, a, b)
        return _valid(y, b, a)
    return None


def article_date(published: str | None, first_seen: datetime) -> datetime:
    """The publication date when plausible, else the first-seen time (see module docstring)."""
    when = parse_date(published)
    if when is None or when < EARLIEST or when > first_seen + timedelta(days=1):
        return first_seen
    return when


def period_index(when: datetime | date, period_days: int) -> int:
    """Number of the period containing `when` (periods start on EPOCH, a Monday)."""
    day = when.date() if isinstance(when, datetime) else when
    return (day - EPOCH).days // period_days


def period_start(index: int, period_days: int) -> date:
    return EPOCH + timedelta(days=index * period_days)


def period_label(index: int, period_days: int) -> str:
    """ISO week ("2024-W07") for weekly periods, else the first day of the period."""
    start = period_start(index, period_days)
    if period_days == 7:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


_REVIEW = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|W(\d{2})|(\d{2})))?$", re.I)


def parse_review_period(spec: str) -> tuple[datetime, datetime, str]:
    """`2024`, `2024-Q1`, `2024-03` or `2024-W07` → [start, end) and the normalised label."""
    m = _REVIEW.match(spec.strip())
    if m is None:
        raise ValueError(f"period {spec!r}: use 2024, 2024-Q1, 2024-03 or 2024-W07")
    year = int(m.group(1))
    if m.group(2):
        q = int(m.group(2))
        start = datetime(year, 3 * q - 2, 1)
        end = datetime(year + (q == 4), (3 * q) % 12 + 1, 1)
        return start, end, f"{year}-Q{q}"
    if m.group(3):
        week = int(m.group(3))
        try:
            start = datetime.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise ValueError(f"period {spec!r}: {year} has no ISO week {week}") from exc
        return start, start + timedelta(days=7), f"{year}-W{week:02d}"
    if m.group(4):
        month = int(m.group(4))
        if not 1 <= month <= 12:
            raise ValueError(f"period {spec!r}: no month {month}")
        start = datetime(year, month, 1)
        end = datetime(year + (month == 12), month % 12 + 1, 1)
        return start, end, f"{year}-{month:02d}"
    return datetime(year, 1, 1), datetime(year + 1, 1, 1), str(year)
