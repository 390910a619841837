"""How the CLI prints: records as JSON or as rich tables on stdout, everything else on stderr.

Machine output (stdout) is either JSON, stable and shaped like the HTTP API's (the SDK's
models with the API's field names: `from`, not `from_`), or a table for a human; progress,
notes and errors go to stderr only, so `dispatch ... | jq` always reads clean JSON. Secrets
(the models' fields kept out of their repr) never reach either.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dispatch_client.cli._config import OutputFormat


def mask(key: str | None) -> str:
    """A key as the CLI may show it: its last 4 characters at most."""
    if not key:
        return "-"
    return "…" + key[-4:] if len(key) > 12 else "…"


def shown_url(url: str) -> str:
    """A URL as the CLI may show it: without a password in it."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if sep and at and "/" not in userinfo:
        return f"{scheme}://…@{host}"
    return url


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: attrs records as objects with the API's field names
    (secrets left out), tuples as lists, times as ISO 8601."""
    if attrs.has(type(value)):
        return {
            field.name.removesuffix("_"): jsonable(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if field.repr is not False and field.name != "payload"
        }
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _text(value: Any) -> Text:
    """A table cell, shown as written: text from mail is never read as rich markup."""
    return Text(_cell(value))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value) or "-"
    return str(value)


Column = tuple[str, Callable[[Any], Any]]


def column(title: str, name: str) -> Column:
    """A table column showing the attribute `name` of each row."""
    return title, lambda row: getattr(row, name)


class Printer:
    """Where a command's results go, in the format the user chose."""

    def __init__(self, fmt: OutputFormat, *, explicit: bool) -> None:
        self.format = fmt
        self.explicit = explicit  # asked for by flag, environment or config (not guessed)
        self.stdout = Console(soft_wrap=True, highlight=False, markup=False, emoji=False)
        self.stderr = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)

    @property
    def json(self) -> bool:
        return self.format == "json"

    def emit_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()

    def emit_line(self, data: Any) -> None:
        """One JSON object on one line (a stream of records, `mail watch`)."""
        sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def text(self, text: str) -> None:
        """Plain text on stdout, as is (no markup)."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()

    def record(self, record: Any, fields: Sequence[Column] | None = None) -> None:
        """One record: a JSON object, or a two-column table of its fields."""
        if self.json:
            self.emit_json(record)
            return
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        if fields is None:
            data = jsonable(record)
            rows: Iterable[tuple[str, Any]] = data.items()
        else:
            rows = ((title, get(record)) for title, get in fields)
        for title, value in rows:
            table.add_row(Text(title), _text(value))
        self.stdout.print(table)

    def records(self, rows: Sequence[Any], columns: Sequence[Column], *, empty: str) -> None:
        """Many records: a JSON array, or a table with these columns."""
        if self.json:
            self.emit_json(list(rows))
            return
        if not rows:
            self.note(empty)
            return
        table = Table(box=None, pad_edge=False, header_style="bold")
        for title, _ in columns:
            table.add_column(Text(title), overflow="fold")
        for row in rows:
            table.add_row(*(_text(get(row)) for _, get in columns))
        self.stdout.print(table)

    def progress(self, message: str) -> AbstractContextManager[object]:
        """A spinner on stderr while something long runs, on a terminal only."""
        if not self.stderr.is_terminal:
            return nullcontext()
        return self.stderr.status(message)

    def note(self, message: str) -> None:
        """A remark for the human (stderr), never part of the output."""
        self.stderr.print(message, markup=False)
