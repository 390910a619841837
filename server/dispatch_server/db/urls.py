"""Database URLs: the schemes Dispatch runs on, and the async driver each one uses."""

from __future__ import annotations

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./dispatch.db"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def database_url(raw: str) -> str:
    """`raw` with the async driver of its database; ValueError for any other database.

    The message names the scheme only: the rest of a URL can hold a password."""
    scheme, sep, rest = raw.strip().partition("://")
    driver = _DRIVERS.get(scheme.lower()) if sep else None
    if driver is None:
        shown = (
            f"a {scheme}:// URL"
            if sep and scheme.isascii() and len(scheme) < 40
            else "something else"
        )
        raise ValueError(
            f"must be a sqlite:// or postgresql:// URL (Dispatch runs on SQLite and "
            f"PostgreSQL), got {shown}"
        )
    return f"{driver}://{rest}"


def redacted(url: str) -> str:
    """`url` fit for a log or a terminal: without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.partition("://")[0] + "://…"
