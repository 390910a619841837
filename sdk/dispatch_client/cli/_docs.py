"""The reference part of docs/cli.md: every command's `--help`, as the CLI prints it.

`python -m dispatch_client.cli._docs` rewrites that part of the page; a test fails when the
page and `--help` disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from dispatch_client.cli._app import cli

BEGIN = "<!-- BEGIN COMMANDS (generated: python -m dispatch_client.cli._docs) -->"
END = "<!-- END COMMANDS -->"
WIDTH = 100


def _walk(
    command: click.Command, path: tuple[str, ...], parent: click.Context | None
) -> Iterator[tuple[tuple[str, ...], str]]:
    ctx = click.Context(
        command,
        info_name=path[-1],
        parent=parent,
        terminal_width=WIDTH,
        max_content_width=WIDTH,
        help_option_names=["-h", "--help"],
    )
    yield path, command.get_help(ctx)
    if isinstance(command, click.Group):
        for sub in sorted(command.list_commands(ctx)):
            found = command.get_command(ctx, sub)
            if found is not None and not found.hidden:
                yield from _walk(found, (*path, sub), ctx)


def reference() -> str:
    """Markdown: a section per command with its help."""
    parts = []
    for path, text in _walk(cli, ("dispatch",), None):
        level = "###" if len(path) <= 2 else "####"
        parts.append(f"{level} `{' '.join(path)}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> None:
    page = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/cli.md")
    text = page.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    page.write_text(text[:start] + "\n\n" + reference() + "\n" + text[end:])


if __name__ == "__main__":
    main()
