"""The `dispatch` command: its groups, its global options, and how a run ends."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import traceback
from importlib import resources

import click
from click.shell_completion import get_completion_class, shell_complete

from dispatch_client._errors import DispatchError
from dispatch_client._version import __version__
from dispatch_client.cli._common import example
from dispatch_client.cli._config import OUTPUT_FORMATS
from dispatch_client.cli._errors import USAGE, failure_of
from dispatch_client.cli._output import shown_url
from dispatch_client.cli._session import Flags, Session
from dispatch_client.cli.auth import auth, signup
from dispatch_client.cli.billing import billing
from dispatch_client.cli.domains import domains
from dispatch_client.cli.drafts import drafts
from dispatch_client.cli.inbox import inbox
from dispatch_client.cli.labels import COMMANDS as LABEL_COMMANDS
from dispatch_client.cli.lists import lists
from dispatch_client.cli.mail import mail
from dispatch_client.cli.mcp_server import mcp_command
from dispatch_client.cli.memory import memory
from dispatch_client.cli.threads import thread, threads

COMPLETE_VAR = "_DISPATCH_COMPLETE"
KEY_LIKE = re.compile(r"[\w-]{6,}\.[\w-]{16,}")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(
    context_settings=CONTEXT,
    epilog=example(
        "dispatch signup\n"
        "dispatch inbox show\n"
        "CODE=$(dispatch mail code --timeout 60)\n"
        'dispatch mail send --to someone@example.com --subject Hi --text "Hello"'
    ),
)
@click.version_option(__version__, "-V", "--version", prog_name="dispatch")
@click.option("--base-url", metavar="URL", help="The server (default $DISPATCH_BASE_URL, config).")
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUT_FORMATS),
    help="table or json (default $DISPATCH_OUTPUT, config; else table on a terminal, "
    "json in a pipe).",
)
@click.option(
    "--inbox", metavar="ID|ADDRESS", help="The inbox (default $DISPATCH_INBOX, the selected one)."
)
@click.option("--debug", is_flag=True, help="Show the trace of an error.")
@click.pass_context
def cli(
    ctx: click.Context, base_url: str | None, output: str | None, inbox: str | None, debug: bool
) -> None:
    """Dispatch from a shell: email inboxes for AI agents.

    Sign up, get an inbox, receive one-time codes and links, send and reply, remember notes.
    `dispatch guide` explains it all for an agent, in the order it needs it.
    """
    ctx.meta["debug"] = debug
    session = Session(Flags(base_url=base_url, output=output, inbox=inbox, debug=debug))
    ctx.obj = session
    ctx.call_on_close(session.finish)


@cli.command(epilog=example("dispatch guide > DISPATCH.md"))
def guide() -> None:
    """Print the agent's guide to Dispatch (markdown): what it can do, in the order it
    needs it. The same text is in the docs."""
    click.echo(guide_text(), nl=False)


def guide_text() -> str:
    return resources.files("dispatch_client.cli").joinpath("guide.md").read_text("utf-8")


@cli.command(
    epilog=example(
        'eval "$(dispatch completion bash)"     # in ~/.bashrc\n'
        "dispatch completion fish > ~/.config/fish/completions/dispatch.fish"
    )
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    completer = get_completion_class(shell)
    assert completer is not None
    click.echo(completer(cli, {}, "dispatch", COMPLETE_VAR).source())


cli.add_command(auth)
cli.add_command(signup)
cli.add_command(inbox)
cli.add_command(mail)
mail.add_command(threads)
mail.add_command(thread)
for command in LABEL_COMMANDS:
    mail.add_command(command)
cli.add_command(memory)
cli.add_command(billing)
cli.add_command(lists)
cli.add_command(domains)
cli.add_command(drafts)
cli.add_command(mcp_command)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, "…" + secret[-4:])
    return text


def main(argv: list[str] | None = None) -> int:
    """Run `dispatch` and return its exit status (the `dispatch` script exits with it)."""
    args = sys.argv[1:] if argv is None else argv
    if COMPLETE_VAR in os.environ:  # the shell asks for completions (`dispatch completion`)
        return shell_complete(cli, {}, "dispatch", COMPLETE_VAR, os.environ[COMPLETE_VAR])
    debug = "--debug" in args
    ctx: click.Context | None = None
    try:
        ctx = cli.make_context("dispatch", list(args))
        with ctx:  # closing it writes the config back, after an error too
            cli.invoke(ctx)
        return 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        shown = io.StringIO()
        error.show(file=shown)  # a key given where no argument goes is echoed: mask it
        sys.stderr.write(_scrub(shown.getvalue(), [a for a in args if KEY_LIKE.fullmatch(a)]))
        return error.exit_code if error.exit_code else USAGE
    except click.exceptions.Abort:
        click.echo("\ninterrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader left (`dispatch mail watch | head -1`): stop quietly, as `cat` would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as error:
        return _report(error, ctx, debug=debug)
    except KeyboardInterrupt as error:
        return _report(error, ctx, debug=debug)


def _report(error: BaseException, ctx: click.Context | None, *, debug: bool) -> int:
    """One line of error and a hint on stderr, keys masked; the exit status."""
    session = ctx.obj if ctx is not None and isinstance(ctx.obj, Session) else None
    base_url, secrets = "?", [os.environ.get("DISPATCH_API_KEY", "")]
    if session is not None:
        secrets = session.secrets()
        with contextlib.suppress(DispatchError):  # an unreadable config is the error itself
            base_url = shown_url(session.base_url)
    failure = failure_of(error, base_url=base_url)
    if debug:
        sys.stderr.write(_scrub("".join(traceback.format_exception(error)), secrets))
    sys.stderr.write(_scrub(f"error: {failure.message}\n", secrets))
    if failure.hint:
        sys.stderr.write(_scrub(f"hint: {failure.hint}\n", secrets))
    return failure.status


def run() -> None:
    """The `dispatch` console script."""
    sys.exit(main())
