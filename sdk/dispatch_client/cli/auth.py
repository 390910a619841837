"""`dispatch auth login|logout|status` and `dispatch signup`: which key the CLI uses."""

from __future__ import annotations

import sys
from typing import Any

import click

from dispatch_client.cli._common import example, output_option, read_stdin, session_of
from dispatch_client.cli._config import config_path
from dispatch_client.cli._output import mask, shown_url
from dispatch_client.cli._session import NoKey, Session, UsageProblem


@click.group()
def auth() -> None:
    """Store, clear and check the API key the CLI uses."""


def _read_key(given: str | None) -> str:
    if given is not None:
        return given.strip()
    if sys.stdin.isatty():
        return str(click.prompt("API key", hide_input=True)).strip()
    piped = read_stdin()
    return piped.strip().splitlines()[0].strip() if piped and piped.strip() else ""


def _keep_base_url(session: Session) -> None:
    url, source = session.base_url_and_source
    if source in ("flag", "environment"):
        session.config.base_url = url


def _note_environment(session: Session) -> None:
    if session.key_source == "environment":
        session.printer.note("note: $DISPATCH_API_KEY is set, and is used instead until unset")


@auth.command(
    epilog=example(
        "dispatch auth login                   # asks for the key, hidden\n"
        "dispatch auth login < key.txt         # or reads it from stdin\n"
        "dispatch --base-url https://dispatch.example auth login"
    )
)
@click.option("--key", help="The key itself (it stays in your shell history: prefer stdin).")
@output_option
@click.pass_context
def login(ctx: click.Context, key: str | None) -> None:
    """Store an account (workspace) key or an inbox key, after checking it with the server.

    An account key reaches every inbox of its workspace (inbox keys are minted from it when
    needed and cached); an inbox key reaches its inbox only, which becomes the selected one.
    """
    session = session_of(ctx)
    secret = _read_key(key)
    if not secret:
        raise UsageProblem("no key given: pipe it on stdin, type it at the prompt, or --key")
    with session.fresh_client(secret) as probe:
        me = probe.auth.me()
    config = session.config
    config.api_key = secret
    state = config.state(secret)
    state.kind, state.workspace_id = me.kind, me.workspace_id
    if me.kind == "inbox":
        state.inbox_id = me.inbox_id
    _keep_base_url(session)
    session.printer.note(f"stored the {me.kind} key {mask(secret)} in {config_path()}")
    _note_environment(session)
    session.printer.record(me)


@auth.command(epilog=example("dispatch auth logout"))
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Forget the stored key, the selected inbox and the cached inbox keys.

    The keys stay valid on the server: revoke them there if they may have leaked.
    """
    session = session_of(ctx)
    had = session.config.api_key is not None
    session.config.forget_keys()
    session.printer.note("logged out" if had else "no key was stored")


def _status(session: Session) -> dict[str, Any]:
    url, source = session.base_url_and_source
    known = session.state if session.api_key else None
    return {
        "config": str(config_path()),
        "base_url": shown_url(url),
        "base_url_source": source,
        "key": mask(session.api_key) if session.api_key else None,
        "key_source": session.key_source,
        "selected_inbox": known.inbox_id if known else None,
        "cached_inbox_keys": len(known.inbox_keys) if known else 0,
    }


@auth.command(epilog=example("dispatch auth status\ndispatch auth status -o json | jq .kind"))
@output_option
@click.pass_context
def status(ctx: click.Context) -> None:
    """Which key is in use, where it came from, and what the server says it may do.

    Changes nothing: the server is only asked what the key is (`GET /v1/auth/me`). Exits
    with status 3 when no key is stored or given, or when the server refuses it.
    """
    session = session_of(ctx)
    local = _status(session)
    if session.api_key is None:
        session.printer.record({**local, "kind": None})
        raise NoKey("not logged in: run `dispatch signup` or `dispatch auth login`")
    me = session.me()
    info = {
        **local,
        "kind": me.kind,
        "key_id": me.key_id,
        "workspace_id": me.workspace_id,
        "agent_id": me.agent_id,
        "inbox_id": me.inbox_id,
        "inbox_address": me.inbox_address,
        "permissions": list(me.permissions),
        "restricted": me.restricted,
        "allowed_senders": None if me.allowed_senders is None else list(me.allowed_senders),
        "expires_at": me.expires_at,
    }
    session.printer.record(info)


@click.command(
    epilog=example(
        "dispatch signup --local-part my-agent\n"
        "ADDRESS=$(dispatch signup -o json | jq -r .inbox.address)"
    )
)
@click.option("--name", help="The agent's name (default: the server's).")
@click.option("--local-part", help="The first inbox's address before the @ (default: random).")
@click.option("--invite-code", help="An invite code, when the server is in private beta.")
@click.option("--force", is_flag=True, help="Replace a stored key (it is lost unless saved).")
@output_option
@click.pass_context
def signup(
    ctx: click.Context,
    name: str | None,
    local_part: str | None,
    invite_code: str | None,
    force: bool,
) -> None:
    """Create a workspace, its agent and its first inbox; store the keys and select the inbox.

    The keys are shown only once by the server: the CLI keeps them in its config file
    (mode 0600) and never prints them (the last 4 characters at most).
    """
    session = session_of(ctx)
    config = session.config
    if config.api_key is not None and not force:
        workspace = config.state(config.api_key).workspace_id or "?"
        raise UsageProblem(
            f"a key is stored already (workspace {workspace}): "
            "`dispatch auth logout` first, or pass --force to replace it"
        )
    with session.fresh_client() as fresh:
        created = fresh.agent.signup(name=name, local_part=local_part, invite_code=invite_code)
    session.hide(created.account_key)
    session.hide(created.inbox_key)
    config.api_key = created.account_key
    state = config.state(created.account_key)
    state.kind, state.workspace_id = "account", created.workspace.id
    state.inbox_id = created.inbox.id
    state.inbox_keys = {created.inbox.id: created.inbox_key}
    _keep_base_url(session)
    session.printer.note(
        f"stored the account key {mask(created.account_key)} in {config_path()}; "
        f"selected {created.inbox.address}"
    )
    _note_environment(session)
    if session.printer.json:
        session.printer.emit_json(created)
    else:
        session.printer.record(
            {
                "workspace_id": created.workspace.id,
                "agent_id": created.agent.id,
                "inbox_id": created.inbox.id,
                "address": created.inbox.address,
            }
        )
