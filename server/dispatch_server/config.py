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
            http_port=reader.int("DISPATCH_HTTP_PORT", default.http_port),
            smtp_host=env.get("DISPATCH_SMTP_HOST") or default.smtp_host,
            smtp_port=reader.int("DISPATCH_SMTP_PORT", default.smtp_port),
            smtp_hostname=env.get("DISPATCH_SMTP_HOSTNAME") or default.smtp_hostname,
            max_message_bytes=reader.int("DISPATCH_MAX_MESSAGE_BYTES", default.max_message_bytes),
            max_mime_parts=reader.int("DISPATCH_MAX_MIME_PARTS", default.max_mime_parts),
            max_mime_depth=reader.int("DISPATCH_MAX_MIME_DEPTH", default.max_mime_depth),
            message_retention_days=reader.int(
                "DISPATCH_MESSAGE_RETENTION_DAYS", default.message_retention_days
            ),
            daily_inbound_quota=reader.int(
                "DISPATCH_DAILY_INBOUND_QUOTA", default.daily_inbound_quota
            ),
            wait_max_seconds=reader.float("DISPATCH_WAIT_MAX_SECONDS", default.wait_max_seconds),
            wait_lookback_seconds=reader.float(
                "DISPATCH_WAIT_LOOKBACK_SECONDS", default.wait_lookback_seconds
            ),
            wait_recheck_seconds=reader.float(
                "DISPATCH_WAIT_RECHECK_SECONDS", default.wait_recheck_seconds
            ),
            enforce_multi_inbox_upgrade=reader.bool(
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

    def int(self, name: str, default: int) -> int:
        raw = self._env.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self._errors.append(f"{name} must be an integer, not {raw!r}")
            return default
        if value < 0:
            self._errors.append(f"{name} must not be negative")
        return value

    def float(self, name: str, default: float) -> float:
        raw = self._env.get(name)
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            self._errors.append(f"{name} must be a number, not {raw!r}")
            return default

    def bool(self, name: str, default: bool) -> bool:
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

    def raise_errors(self) -> None:
        if self._errors:
            raise ConfigError("; ".join(self._errors))
