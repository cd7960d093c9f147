"""Life cycle of trends: popularity per period, and a status per period from documented rules.

Popularity (after BERTrend, rte-france): in a period with n new distinct documents, a trend's
popularity grows by n; while it has none, it decays from its value p at its last active period
a as p·exp(-d·(t-a)^k) (d = `decay_factor`, k = `decay_power`; BERTrend's defaults 0.01 and 2).

Status at period t, for every trend at once (README, "Trends", is the reference):
* noise    — fewer than `min_documents` distinct documents so far, or popularity below the
             `low_percentile` of all eligible trends' popularity over the last `window_periods`;
* weak     — between the two percentiles and rising (positive least-squares slope of popularity
             over the last `rising_periods`); between them and not rising is noise;
* strong   — above the `high_percentile`;
* emerging — weak and accelerating (more documents in the last `accel_periods` than in the
             `accel_periods` before, and at least 2), or new (first seen within `new_periods`)
             and already diverse (at least `diverse_sources` distinct sites), unless strong;
* fading   — was strong at an earlier period, has had no document for `fading_quiet_periods`,
             and is still above the low percentile (below it, it is noise).

Pure numpy over a (trends × periods) grid; the caller dedupes documents (copies count once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from horizonscan.trends.config import TrendSettings

STATUSES = ("noise", "weak", "emerging", "strong", "fading")
NOISE, WEAK, EMERGING, STRONG, FADING = range(5)
NONE = -1  # the trend does not exist yet at that period

IntArray = np.ndarray
FloatArray = np.ndarray


@dataclass
class Timeline:
    """Per trend (rows) and period (columns start..end): documents, popularity and status."""

    start: int  # absolute index of the first column (see dates.period_index)
    docs: IntArray  # (T, P) new distinct documents
    sources: IntArray  # (T, P) distinct sites so far
    popularity: FloatArray  # (T, P)
    status: IntArray  # (T, P) codes into STATUSES, NONE before the first document
    low: FloatArray  # (P,) low threshold per period
    high: FloatArray  # (P,) high threshold per period

    @property
    def periods(self) -> int:
        return int(self.docs.shape[1])

    def column(self, period: int) -> int:
        return period - self.start


def life_cycle(
    trend: IntArray,
    period: IntArray,
    site: IntArray,
    n_trends: int,
    settings: TrendSettings,
    *,
    start: int | None = None,
    end: int | None = None,
) -> Timeline:
    """Events are one per (trend, distinct document): its trend row, absolute period and site
    code (any integer; equal codes are the same site). Periods after `end` are ignored."""
    trend = np.asarray(trend, dtype=np.int64)
    period = np.asarray(period, dtype=np.int64)
    site = np.asarray(site, dtype=np.int64)
    if start is None:
        start = int(period.min()) if len(period) else 0
    if end is None:
        end = int(period.max()) if len(period) else start
    end = max(end, start)
    keep = (period >= start) & (period <= end)
    trend, period, site = trend[keep], period[keep] - start, site[keep]
    n_p = end - start + 1
    docs = np.zeros((n_trends, n_p), dtype=np.int64)
    np.add.at(docs, (trend, period), 1)
    # Distinct sites so far: each (trend, site) counts from the first period it appears in.
    new_sites = np.zeros((n_trends, n_p), dtype=np.int64)
    if len(trend):
        order = np.lexsort((period, site, trend))
        t_s, s_s, p_s = trend[order], site[order], period[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (t_s[1:] != t_s[:-1]) | (s_s[1:] != s_s[:-1])
        np.add.at(new_sites, (t_s[first], p_s[first]), 1)
    sources = np.cumsum(new_sites, axis=1)
    cum_docs = np.cumsum(docs, axis=1)

    pop = np.zeros((n_trends, n_p), dtype=np.float64)
    status = np.full((n_trends, n_p), NONE, dtype=np.int64)
    low = np.zeros(n_p)
    high = np.zeros(n_p)
    exists = cum_docs > 0
    first_col = np.where(exists.any(axis=1), exists.argmax(axis=1), n_p)
    last_active = np.full(n_trends, -(10**9), dtype=np.int64)
    at_active = np.zeros(n_trends)
    was_strong = np.zeros(n_trends, dtype=bool)
    s = settings
    for t in range(n_p):
        active = docs[:, t] > 0
        prev = pop[:, t - 1] if t else np.zeros(n_trends)
        dt = (t - last_active).astype(np.float64)
        decayed = np.where(last_active >= 0, at_active * np.exp(-s.decay_factor * dt**s.decay_power), 0.0)
        pop[:, t] = np.where(active, prev + docs[:, t], decayed)
        at_active = np.where(active, pop[:, t], at_active)
        last_active = np.where(active, t, last_active)

        lo_c = max(0, t - s.window_periods + 1)
        window = pop[:, lo_c : t + 1]
        eligible_w = cum_docs[:, lo_c : t + 1] >= s.min_documents
        values = window[eligible_w & (window > 1e-5)]
        if len(values):
            q_lo, q_hi = np.percentile(values, [s.low_percentile, s.high_percentile])
        else:
            q_lo = q_hi = np.inf
        low[t], high[t] = q_lo, q_hi

        p = pop[:, t]
        eligible = cum_docs[:, t] >= s.min_documents
        r0 = max(0, t - s.rising_periods + 1)
        y = pop[:, r0 : t + 1]
        if y.shape[1] >= 2:
            x = np.arange(y.shape[1], dtype=np.float64)
            x -= x.mean()
            rising = (y - y.mean(axis=1, keepdims=True)) @ x > 1e-12
        else:
            rising = np.ones(n_trends, dtype=bool)
        base = np.where(
            ~eligible | (p < q_lo), NOISE, np.where(p <= q_hi, np.where(rising, WEAK, NOISE), STRONG)
        )
        a = s.accel_periods
        recent = docs[:, max(0, t - a + 1) : t + 1].sum(axis=1)
        before = docs[:, max(0, t - 2 * a + 1) : max(0, t - a + 1)].sum(axis=1)
        accelerating = (recent > before) & (recent >= 2)
        new = (t - first_col) < s.new_periods
        diverse = sources[:, t] >= s.diverse_sources
        emerging = (base != STRONG) & (((base == WEAK) & accelerating) | (new & diverse & eligible))
        quiet = (t - last_active) >= s.fading_quiet_periods
        fading = was_strong & quiet & (p >= q_lo) & eligible
        col = np.where(fading, FADING, np.where(emerging, EMERGING, base))
        col[first_col > t] = NONE
        status[:, t] = col
        was_strong |= col == STRONG
    return Timeline(
        start=start, docs=docs, sources=sources, popularity=pop, status=status, low=low, high=high
    )
