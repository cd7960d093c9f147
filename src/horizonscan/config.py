"""Effective settings: defaults < user config file < ./horizonscan.toml < HORIZONSCAN_* env < flags.

API keys are never settings: they come from the providers' own environment variables only, so
they cannot end up in a config dump, a page or the database.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_NAME = "horizonscan.toml"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    llm: str = "auto"
    # An SQLite file (Path), or a server URL such as postgresql://user@host/db (str, kept as given).
    db: Path | str = Path("horizonscan.db")
    out: Path = Path("pages")
    concurrency: int | None = Field(default=None, ge=1, le=256)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    max_cost: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    max_repairs: int = Field(default=2, ge=0, le=5)
    backoff_base: float = Field(default=1.0, ge=0)
    backoff_max: float = Field(default=60.0, ge=0)
    context_tokens: int | None = Field(default=None, ge=512)
    min_chars: int = Field(default=300, ge=0)
    allow_private_network: bool = False
    respect_robots: bool = True
    fetch_timeout: float = Field(default=20.0, gt=0)
    per_host_delay: float = Field(default=0.5, ge=0)
    similarity: bool = True  # embeddings, closest articles and stories after each batch
    # "use" (default, offline), "st:MODEL" (sentence-transformers), "openai:MODEL" (/embeddings).
    # The pair scorer is calibrated on "use"; others work, with less calibrated scores.
    embedder: str = Field(default="use", pattern=r"^(use|st:.+|openai:.+)$")
    story_threshold: float | None = Field(default=None, ge=0, le=1)  # default: the calibrated 0.41
    archive: Path | None = None  # raw fetched bytes; default: "<db name>-raw/" beside the database
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    # The audit log: every prompt and raw answer kept in the database (keys never), for `logs`.
    audit: bool = False
    # The `[trends]` table: life-cycle and clustering parameters (see README, "Trends"); env
    # HORIZONSCAN_TRENDS_<NAME> and the trends commands' flags override it.
    trends: dict[str, Any] = Field(default_factory=dict)
    # Local files above this size are refused before they are read (fetched pages: 15 MB too).
    max_file_mb: float = Field(default=15.0, gt=0)
    # How long a run holds an article it is analyzing; renewed while it works, so only a killed
    # run's articles wait this long before another run takes them over.
    lease_seconds: float = Field(default=120.0, gt=0)

    @field_validator("db", mode="before")
    @classmethod
    def _db_path_or_url(cls, value: Any) -> Path | str:
        """A URL stays a string (a Path would fold its `//`); anything else is a file path."""
        text = str(value)
        return text if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) else Path(text)

    def db_file(self) -> Path | None:
        """The SQLite file, or None when the database is a server."""
        return self.db if isinstance(self.db, Path) else None

    def archive_dir(self) -> Path:
        if self.archive:
            return self.archive
        db = self.db_file() or Path("horizonscan.db")  # a server's archive: ./horizonscan-raw
        return db.with_name(f"{db.stem}-raw")

    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class ConfigError(Exception):
    pass


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir("horizonscan")) / CONFIG_NAME


def _read_toml(path: Path) -> dict[str, Any]:
    """A config file, or one clear line saying why it cannot be used (never a traceback)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark, as some editors write
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:64]
        encoding = "UTF-16" if utf16 else "another encoding than UTF-8 (Latin-1?)"
        raise ConfigError(
            f"{path}: the file is in {encoding}; TOML files must be UTF-8: save it again as UTF-8"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    data = data.get("horizonscan", data)  # a [horizonscan] table or top-level keys
    if any(k.lower().endswith(("api_key", "apikey", "secret", "token")) for k in data):
        raise ConfigError(
            f"{path}: keys do not belong in config files; use OPENAI_API_KEY / ANTHROPIC_API_KEY"
        )
    return dict(data)


def _env_values() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        if name in ("prices", "trends"):
            continue
        value = os.environ.get(f"HORIZONSCAN_{name.upper()}")
        if value not in (None, ""):
            out[name] = value
    return out


def load_settings(
    overrides: dict[str, Any] | None = None, *, cwd: Path | None = None
) -> tuple[Settings, dict[str, str]]:
    """Return the settings and, for each key that is not a default, where its value came from."""
    layers: list[tuple[str, dict[str, Any]]] = []
    user = user_config_path()
    if user.is_file():
        layers.append((str(user), _read_toml(user)))
    local = (cwd or Path.cwd()) / CONFIG_NAME
    if local.is_file():
        layers.append((str(local), _read_toml(local)))
    layers.append(("environment", _env_values()))
    layers.append(("command line", {k: v for k, v in (overrides or {}).items() if v is not None}))
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for label, values in layers:
        for key, value in values.items():
            if key in ("prices", "trends") and isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
            origin[key] = label
    try:
        return Settings.model_validate(merged), origin
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"invalid settings ({problems}); sources: {', '.join(name for name, _ in layers)}"
        ) from exc
