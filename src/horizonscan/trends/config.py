"""Trend settings: every threshold of clustering and of the life cycle, with documented defaults.

They are kept apart from `config.Settings` so the trends stage can evolve without touching the
core's settings; they are read from `HORIZONSCAN_TRENDS_<NAME>` environment variables, from a
`trends` attribute of the effective Settings when there is one, and from explicit overrides.
The README ("Trends") explains each rule these numbers feed.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Mean cosine between an item's "name: description" vector (multilingual USE) and a trend's
# members from which the item joins the trend (see trends/cluster.py). Chosen by
# `bench/calibrate_trends.py` on the labelled paraphrase set of `trends/calibration.py` mixed with
# 1 283 distractor headlines: best mean pairwise F1 on the even concepts (0.922 at 0.44; 0.42 ties),
# held-out F1 on the odd concepts 0.959 (their own best too).
CALIBRATED_THRESHOLD = 0.44


class TrendSettings(BaseModel):
    """Clustering and life-cycle parameters (README, "Trends", states the rules)."""

    model_config = ConfigDict(extra="forbid")

    # --- clustering ---------------------------------------------------------------------
    threshold: float = Field(default=CALIBRATED_THRESHOLD, gt=0, lt=1)
    # Re-cluster everything (ids kept by member overlap) once the corpus has grown by this
    # fraction since the last full clustering; 0 disables the automatic re-clustering.
    recluster_growth: float = Field(default=1.0, ge=0)
    recluster_min_items: int = Field(default=200, ge=0)
    # --- life cycle (BERTrend-style popularity) ---------------------------------------------
    period_days: int = Field(default=7, ge=1, le=366)
    # Documents older than this before the reference date are left out of the popularity grid
    # (their popularity has long decayed to nothing); counts and first-seen dates keep them.
    history_days: int = Field(default=3 * 365, ge=28)
    decay_factor: float = Field(default=0.01, ge=0)  # d in p·exp(-d·Δt^k)
    decay_power: float = Field(default=2.0, gt=0)  # k
    window_periods: int = Field(default=12, ge=1)  # look-back window of the percentiles
    low_percentile: float = Field(default=10.0, ge=0, le=100)
    high_percentile: float = Field(default=75.0, ge=0, le=100)
    rising_periods: int = Field(default=3, ge=2)  # popularity slope over this many periods
    min_documents: int = Field(default=2, ge=1)  # fewer distinct documents: noise
    accel_periods: int = Field(default=4, ge=1)  # documents in the last A periods vs the A before
    new_periods: int = Field(default=4, ge=1)  # "new": first seen within this many periods
    diverse_sources: int = Field(default=3, ge=1)  # "diverse": at least this many distinct sites
    fading_quiet_periods: int = Field(default=3, ge=1)  # no document for this many periods
    # --- pages and LLM ------------------------------------------------------------------------
    radar_max: int = Field(default=40, ge=1)
    interpret_min_documents: int = Field(default=3, ge=1)
    interpret_min_sources: int = Field(default=2, ge=1)
    interpret_max_members: int = Field(default=24, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> TrendSettings:
        if self.low_percentile >= self.high_percentile:
            raise ValueError("low_percentile must be below high_percentile")
        return self


ENV_PREFIX = "HORIZONSCAN_TRENDS_"


class TrendConfigError(ValueError):
    """Invalid trend settings; the message names the variable or field."""


def load_trend_settings(settings: Any = None, **overrides: Any) -> TrendSettings:
    """Defaults < `settings.trends` (if the core grows one) < environment < overrides (not None)."""
    values: dict[str, Any] = {}
    base = getattr(settings, "trends", None)
    if isinstance(base, TrendSettings):
        values.update(base.model_dump())
    elif isinstance(base, dict):
        values.update(base)
    for name in TrendSettings.model_fields:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env not in (None, ""):
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrendSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'trends'}: {e['msg']}" for e in exc.errors())
        raise TrendConfigError(f"invalid trend settings ({problems})") from exc
