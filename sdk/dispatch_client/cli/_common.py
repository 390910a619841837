"""What every command shares: its `--output` and `--inbox` options and the run's session."""

from __future__ import annotations

import select
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from dispatch_client.cli._config import OUTPUT_FORMATS, OutputFormat
from dispatch_client.cli._session import Session

F = TypeVar("F", bound=Callable[..., Any])


def session_of(ctx: click.Context) -> Session:
    found = ctx.find_object(Session)
    if found is None:
        raise click.UsageError("run commands through the `dispatch` group")
    return found


def _set_output(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        session_of(ctx).use_output(cast(OutputFormat, value))


def output_option(command: F) -> F:
    """`-o/--output table|json` on the command itself: `dispatch mail list -o json`."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_FORMATS),
        expose_value=False,
        callback=_set_output,
        help="table (a terminal's default) or json (a pipe's default).",
    )(command)


def inbox_option(command: F) -> F:
    """`--inbox ID|ADDRESS`: which inbox, instead of the selected one."""
    return click.option(
        "--inbox",
        "inbox",
        metavar="ID|ADDRESS",
        help="The inbox (default: the selected one, see `dispatch inbox select`).",
    )(command)


STDIN_GRACE_SECONDS = 1.0


def read_stdin() -> str | None:
    """What is piped on stdin, or None: a terminal, or a pipe that stays silent for a second
    (an agent's harness often leaves stdin open with nothing to say; waiting for its end
    would hang). Pass `-` as a file name to read stdin whatever it takes."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    try:
        ready, _, _ = select.select([sys.stdin], [], [], STDIN_GRACE_SECONDS)
    except (OSError, ValueError):  # not selectable (Windows): read it
        ready = [sys.stdin]
    return sys.stdin.read() if ready else None


def example(text: str) -> str:
    """An `Example:` paragraph for a command's help (shown as written)."""
    return "\n\n\b\nExample:\n  " + text.strip().replace("\n", "\n  ")
