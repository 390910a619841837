"""Runtime configuration, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./dispatch.db"

# Values a production deployment cannot start without (as in the reference system).
PRODUCTION_REQUIRED = (
    "DATABASE_URL",
    "JWT_SECRET_KEY",
    "DISPATCH_INBOX_DOMAIN",
    "DISPATCH_APP_BASE_URL",
)


MAX_RETENTION_DAYS = 36500
MAX_WAIT_SECONDS = 3600.0
MIN_WAIT_RECHECK_SECONDS = 0.1


class ConfigError(Exception):
    """The environment does not describe a runnable server."""


def normalize_database_url(url: str) -> str:
    """Accept plain `sqlite:`/`postgresql:` URLs and pick the async drivers."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


@attrs.frozen(kw_only=True)
class Settings:
    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret_key: str = "dev-insecure-jwt-secret"
    inbox_domain: str = "dispatch.localhost"
    inbound_token: str | None = None
    app_base_url: str = "http://127.0.0.1:8000"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_hostname: str = "dispatch.localhost"
    max_message_bytes: int = 10 * 1024 * 1024
    max_mime_parts: int = 200
    max_mime_depth: int = 10
    message_retention_days: int = 30
    daily_inbound_quota: int = 5000
    wait_max_seconds: float = 60.0
    wait_lookback_seconds: float = 600.0
    wait_recheck_seconds: float = 5.0
    enforce_multi_inbox_upgrade: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("DISPATCH_ENV", "development").strip().lower()
        if mode not in ("development", "production", "test"):
            raise ConfigError(f"DISPATCH_ENV must be development, production or test, not {mode!r}")
        if mode == "production":
            missing = [name for name in PRODUCTION_REQUIRED if not env.get(name)]
            if missing:
                raise ConfigError(
                    "production mode needs these environment variables: " + ", ".join(missing)
                )
        default = cls()
        reader = _Reader(env)
        settings = cls(
            env=mode,
            database_url=normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            jwt_secret_key=env.get("JWT_SECRET_KEY") or default.jwt_secret_key,
            inbox_domain=(env.get("DISPATCH_INBOX_DOMAIN") or default.inbox_domain).lower(),
            inbound_token=env.get("DISPATCH_INBOUND_TOKEN") or None,
            app_base_url=env.get("DISPATCH_APP_BASE_URL") or default.app_base_url,
            http_host=env.get("DISPATCH_HTTP_HOST") or default.http_host,
            http_port=reader.integer("DISPATCH_HTTP_PORT", default.http_port, low=0, high=65535),
            smtp_host=env.get("DISPATCH_SMTP_HOST") or default.smtp_host,
            smtp_port=reader.integer("DISPATCH_SMTP_PORT", default.smtp_port, low=0, high=65535),
            smtp_hostname=env.get("DISPATCH_SMTP_HOSTNAME") or default.smtp_hostname,
            max_message_bytes=reader.integer(
                "DISPATCH_MAX_MESSAGE_BYTES", default.max_message_bytes, low=1024
            ),
            max_mime_parts=reader.integer("DISPATCH_MAX_MIME_PARTS", default.max_mime_parts, low=1),
            max_mime_depth=reader.integer("DISPATCH_MAX_MIME_DEPTH", default.max_mime_depth, low=1),
            # Bounded above so that "now minus the window" stays a representable date.
            message_retention_days=reader.integer(
                "DISPATCH_MESSAGE_RETENTION_DAYS",
                default.message_retention_days,
                low=1,
                high=MAX_RETENTION_DAYS,
            ),
            daily_inbound_quota=reader.integer(
                "DISPATCH_DAILY_INBOUND_QUOTA", default.daily_inbound_quota, low=1
            ),
            wait_max_seconds=reader.number(
                "DISPATCH_WAIT_MAX_SECONDS", default.wait_max_seconds, low=0, high=MAX_WAIT_SECONDS
            ),
            wait_lookback_seconds=reader.number(
                "DISPATCH_WAIT_LOOKBACK_SECONDS",
                default.wait_lookback_seconds,
                low=0,
                high=MAX_RETENTION_DAYS * 86400,
            ),
            # Every waiting request re-reads the database this often: near 0 it would spin.
            wait_recheck_seconds=reader.number(
                "DISPATCH_WAIT_RECHECK_SECONDS",
                default.wait_recheck_seconds,
                low=MIN_WAIT_RECHECK_SECONDS,
                high=MAX_WAIT_SECONDS,
            ),
            enforce_multi_inbox_upgrade=reader.boolean(
                "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE", default.enforce_multi_inbox_upgrade
            ),
        )
        reader.raise_errors()
        return settings


class _Reader:
    """Parses typed values and collects every bad one, so one error names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._errors: list[str] = []

    def integer(self, name: str, default: int, *, low: int, high: int | None = None) -> int:
        raw = self._env.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self._errors.append(f"{name} must be an integer, not {raw!r}")
            return default
        return value if self._in_range(name, raw, value, low, high) else default

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        raw = self._env.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            self._errors.append(f"{name} must be a number, not {raw!r}")
            return default
        return value if self._in_range(name, raw, value, low, high) else default

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._env.get(name)
        if not raw:
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        self._errors.append(f"{name} must be true or false, not {raw!r}")
        return default

    def _in_range(self, name: str, raw: str, value: float, low: float, high: float | None) -> bool:
        if low <= value and (high is None or value <= high):  # nan fails, and inf when bounded
            return True
        bound = f"at least {low:.15g}" if high is None else f"between {low:.15g} and {high:.15g}"
        self._errors.append(f"{name} must be {bound}, not {raw!r}")
        return False

    def raise_errors(self) -> None:
        if self._errors:
            raise ConfigError("; ".join(self._errors))
