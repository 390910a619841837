"""What every command shares: `--help` with an example, output formats (json in a pipe, a
table on request), one-line errors with a hint and a documented exit status, `--debug`,
shell completion, the guide, and the docs page kept in step with `--help`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from dispatch_client.cli import cli
from dispatch_client.cli._app import guide_text
from dispatch_client.cli._docs import reference
from tests.cli.conftest import Shell

ROOT = Path(__file__).parents[2]


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


LEAVES = [
    path
    for path in _commands(cli)
    if not isinstance(cli.get_command(click.Context(cli), path[0]), click.Group) or len(path) > 1
]


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...], shell: Shell) -> None:
    shown = shell.run(*path, "--help")
    assert shown.status == 0, shown.stderr
    assert shown.stdout.startswith(f"Usage: dispatch {' '.join(path)}")
    if not isinstance(_lookup(path), click.Group):
        assert "Example:" in shown.stdout
        assert re.search(r"\n    dispatch |\n    [A-Z]+=\$\(dispatch |\n    eval ", shown.stdout)


def _lookup(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


def test_the_docs_page_matches_help() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    assert reference() in page, "docs/cli.md is stale: python -m dispatch_client.cli._docs"


def test_guide_is_the_docs_page_source(shell: Shell) -> None:
    printed = shell.run("guide")
    assert printed.status == 0 and printed.stdout == guide_text()
    assert printed.stdout.startswith("# Dispatch for agents")
    page = (ROOT / "docs" / "agent-guide.md").read_text()
    assert '--8<-- "sdk/dispatch_client/cli/guide.md"' in page
    # Every command the guide names exists.
    for line in re.findall(r"dispatch ((?:[a-z-]+ ?){1,3})", printed.stdout):
        words = tuple(w for w in line.split() if not w.startswith("-"))
        prefix = tuple(w for w in words if w.islower())
        for size in range(len(prefix), 0, -1):
            try:
                _lookup(prefix[:size])
                break
            except AssertionError:
                continue
        else:
            raise AssertionError(f"the guide names an unknown command: dispatch {line}")


def test_json_in_a_pipe_and_a_table_on_request(shell: Shell) -> None:
    shell.run("signup").json()
    piped = shell.run("inbox", "list")
    assert piped.stdout.lstrip().startswith("[")
    table = shell.run("-o", "table", "inbox", "list")
    assert table.stdout.split()[0:3] == ["ID", "ADDRESS", "NAME"]
    assert shell.run("inbox", "list", DISPATCH_OUTPUT="table").stdout.split()[0] == "ID"
    shell.config.write_text('output = "table"\n' + shell.config.read_text())
    assert shell.run("inbox", "list").stdout.split()[0] == "ID"
    assert shell.run("inbox", "list", "-o", "json").stdout.lstrip().startswith("[")
    bad = shell.run("inbox", "list", DISPATCH_OUTPUT="yaml")
    assert bad.status == 2 and "output must be table or json" in bad.stderr


def test_errors_are_one_line_with_a_hint_and_debug_shows_the_trace(shell: Shell) -> None:
    no_key = shell.run("mail", "list")
    assert no_key.status == 3
    assert no_key.stderr.splitlines() == [
        "error: no API key: run `dispatch signup` or `dispatch auth login`, or set DISPATCH_API_KEY"
    ]
    usage = shell.run("mail", "list", "--limit", "many")
    assert usage.status == 2 and "Invalid value for '--limit'" in usage.stderr
    unknown = shell.run("mail", "frobnicate")
    assert unknown.status == 2 and "No such command 'frobnicate'" in unknown.stderr
    down = shell.run("--base-url", "http://127.0.0.1:9", "--debug", "signup")
    assert down.status == 1
    assert "Traceback (most recent call last)" in down.stderr
    assert down.stderr.rstrip().splitlines()[-1].startswith("hint: is it running?")


def test_version(shell: Shell) -> None:
    from dispatch_client import __version__

    assert shell.run("--version").stdout == f"dispatch, version {__version__}\n"


def test_shell_completion(shell: Shell) -> None:
    script = shell.run("completion", "bash")
    assert script.status == 0 and "_DISPATCH_COMPLETE=bash_complete" in script.stdout
    assert "compdef" in shell.run("completion", "zsh").stdout
    assert "complete --no-files --command dispatch" in shell.run("completion", "fish").stdout
    completed = shell.run(
        _DISPATCH_COMPLETE="bash_complete", COMP_WORDS="dispatch mail cod", COMP_CWORD="2"
    )
    assert completed.stdout.split() == ["plain,code"]
    # The generated script completes in a real bash.
    found = shell.bash(
        "set +u\n"
        'eval "$(dispatch completion bash)"\n'
        "COMP_WORDS=(dispatch inbox cl); COMP_CWORD=2\n"
        "_dispatch_completion dispatch\n"
        'echo "${COMPREPLY[@]}"'
    )
    assert found.stdout.split() == ["claim-token"], found.stderr
