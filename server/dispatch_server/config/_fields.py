"""How a setting is declared (its variable, parser, default and bounds) and the parsers."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen
class Parser:
    """Turns a variable's text into a value, or raises ValueError saying what it must be
    ("must be an integer"); the reader prefixes the variable's name and appends the bad value.
    `accepts` says the same for the docs."""

    parse: Callable[[str], Any]
    accepts: str

    def __call__(self, raw: str) -> Any:
        return self.parse(raw)


_SETTING = "dispatch_setting"


@attrs.frozen
class Setting:
    env: str
    parse: Parser
    help: str
    required_in_production: bool = False
    # Shown in the docs instead of the default (a path relative to the working directory...).
    shown_default: str | None = None
    # False for values that can hold a secret: errors then never quote them.
    echo: bool = True


def setting(
    env: str,
    default: T,
    parse: Parser,
    help: str,
    *,
    required_in_production: bool = False,
    shown_default: str | None = None,
    echo: bool = True,
) -> T:
    """A settings field read from the environment variable `env`."""
    declared = Setting(env, parse, help, required_in_production, shown_default, echo)
    field: T = attrs.field(default=default, metadata={_SETTING: declared})
    return field


def declared(field: attrs.Attribute[Any]) -> Setting:
    found: Setting = field.metadata[_SETTING]
    return found


def _text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _readable_file(raw: str) -> str:
    path = _text(raw)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError("must be a file this process can read")
    return path


text = Parser(_text, "text")
readable_file = Parser(_readable_file, "the path of a readable file")
lowercase = Parser(lambda raw: _text(raw).lower(), "text, read in lower case")
boolean = Parser(_boolean, "`true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`)")


def choice(*values: str) -> Parser:
    def parse(raw: str) -> str:
        lowered = raw.strip().lower()
        if lowered not in values:
            raise ValueError(f"must be {', '.join(values[:-1])} or {values[-1]}")
        return lowered

    return Parser(parse, ", ".join(f"`{value}`" for value in values))


def secret(*, min_chars: int) -> Parser:
    """A secret of at least `min_chars` characters (an HMAC key shorter than its hash can be
    guessed offline from anything it signed)."""

    def parse(raw: str) -> str:
        value = _text(raw)
        if len(value) < min_chars:
            raise ValueError(f"must be at least {min_chars} characters")
        return value

    return Parser(parse, f"a secret of at least {min_chars} characters")


def _range(low: float, high: float | None) -> str:
    return f"at least {low:.15g}" if high is None else f"between {low:.15g} and {high:.15g}"


def integer(*, low: int, high: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be an integer") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"must be {_range(low, high)}")
        return value

    return Parser(parse, f"an integer {_range(low, high)}")


def number(*, low: float, high: float) -> Parser:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if math.isnan(value) or not low <= value <= high:  # refuses nan, and inf
            raise ValueError(f"must be {_range(low, high)}")
        return value

    return Parser(parse, f"a number {_range(low, high)}")


port = integer(low=0, high=65535)
