"""`dispatch inbox ...`: create, list, select and show inboxes, their keys and claim tokens.

`inbox create` with payment options pays for the upgrade by itself when the workspace needs
one (x402: quote, sign locally, send, confirm, create again), through the SDK's `Autopay`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dispatch_client._errors import PaymentRequiredError
from dispatch_client.cli._common import example, inbox_option, output_option, session_of
from dispatch_client.cli._output import Column, column, jsonable, mask
from dispatch_client.cli._session import Session, UsageProblem
from dispatch_client.types.inbox import Inbox

if TYPE_CHECKING:
    from dispatch_client.autopay import Autopay

INBOX_COLUMNS: list[Column] = [
    column("ID", "id"),
    column("ADDRESS", "address"),
    column("NAME", "display_name"),
    column("CREATED", "created_at"),
]


@click.group()
def inbox() -> None:
    """Create, list, select and show inboxes; their keys and claim tokens."""


def _secret(env: str | None, file: Path | None, what: str) -> str | None:
    """A private key from an environment variable or a file, never from the command line
    (where it would stay in the shell history and the process list)."""
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise UsageProblem(f"${env} (the {what}) is empty or unset")
        return value
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as error:
            raise UsageProblem(f"cannot read the {what} from {file}: {error.strerror}") from None
    return None


def _autopay(
    session: Session,
    max_amount: str | None,
    evm_key_env: str | None,
    evm_key_file: Path | None,
    solana_key_env: str | None,
    solana_key_file: Path | None,
    rpc_url: str | None,
) -> Autopay | None:
    evm = _secret(evm_key_env, evm_key_file, "EVM private key")
    solana = _secret(solana_key_env, solana_key_file, "Solana secret key")
    session.hide(evm)
    session.hide(solana)
    if evm is None and solana is None:
        if max_amount is not None:
            raise UsageProblem("--max-amount needs a wallet: --evm-key-env or --solana-key-env")
        return None
    if evm is not None and solana is not None:
        raise UsageProblem("pay from one wallet: an EVM key or a Solana key, not both")
    if max_amount is None:
        raise UsageProblem("paying needs --max-amount, the most to pay in USDC")
    from dispatch_client.autopay import Autopay  # the extra's packages load when paying

    solana_key: object = solana
    if solana is not None and solana.startswith("["):
        try:
            solana_key = json.loads(solana)  # the solana-keygen file: a list of 64 numbers
        except ValueError:
            raise UsageProblem("the Solana key is neither base58 nor a JSON list") from None
    return Autopay(
        max_amount=max_amount, evm_private_key=evm, solana_secret_key=solana_key, rpc_url=rpc_url
    )


@inbox.command(
    epilog=example(
        "dispatch inbox create --local-part signup-bot\n"
        "# pay for the upgrade on chain when the workspace needs it:\n"
        "dispatch inbox create --max-amount 10 --evm-key-env AGENT_WALLET_KEY"
    )
)
@click.option("--local-part", help="The address before the @ (default: random).")
@click.option("--display-name", help="The name mail is sent under.")
@click.option("--domain", help="A verified custom domain (default: the service's domain).")
@click.option(
    "--select/--no-select",
    default=None,
    help="Make it the selected inbox (default: when none is selected).",
)
@click.option("--max-amount", metavar="USDC", help="Pay at most this much for an upgrade.")
@click.option("--evm-key-env", metavar="VAR", help="Pay on EVM with the private key in $VAR.")
@click.option("--evm-key-file", type=click.Path(path_type=Path), help="... or in this file.")
@click.option("--solana-key-env", metavar="VAR", help="Pay on Solana with the keypair in $VAR.")
@click.option("--solana-key-file", type=click.Path(path_type=Path), help="... or in this file.")
@click.option("--rpc-url", help="The chain's RPC endpoint (default: the quote's).")
@output_option
@click.pass_context
def create(
    ctx: click.Context,
    local_part: str | None,
    display_name: str | None,
    domain: str | None,
    select: bool | None,
    max_amount: str | None,
    evm_key_env: str | None,
    evm_key_file: Path | None,
    solana_key_env: str | None,
    solana_key_file: Path | None,
    rpc_url: str | None,
) -> None:
    """Create an inbox in the workspace (needs the account key).

    A second inbox may need the `multi_inbox` upgrade: without payment options that is exit
    status 6 with the offer; with them the CLI pays by itself (the key never leaves this
    process, and a payment made before is found again rather than made twice).
    """
    session = session_of(ctx)
    autopay = _autopay(
        session, max_amount, evm_key_env, evm_key_file, solana_key_env, solana_key_file, rpc_url
    )
    client = session.client()
    try:
        created = client.inboxes.create(
            local_part=local_part,
            display_name=display_name,
            domain=domain,
            autopay=autopay,
        )
    except PaymentRequiredError as error:
        offer = error.upgrade
        if offer:
            session.printer.note(f"the workspace needs {offer.get('product', 'an upgrade')}")
        raise
    if select or (select is None and session.state.inbox_id is None):
        session.state.inbox_id = created.id
        session.printer.note(f"selected {created.address}")
    session.printer.record(created)


@inbox.command(name="list", epilog=example("dispatch inbox list\ndispatch inbox list -o json"))
@click.option("--limit", default=50, show_default=True, help="At most this many per page.")
@click.option("--all", "every", is_flag=True, help="Every inbox, all pages.")
@output_option
@click.pass_context
def list_inboxes(ctx: click.Context, limit: int, every: bool) -> None:
    """The workspace's inboxes, newest first (the selected one is marked `*`)."""
    session = session_of(ctx)
    page = session.client().inboxes.list(limit=limit)
    rows: list[Inbox] = list(page) if every else list(page.data)
    selected = session.state.inbox_id
    columns: list[Column] = [("", lambda row: "*" if row.id == selected else ""), *INBOX_COLUMNS]
    session.printer.records(rows, columns, empty="no inboxes yet: `dispatch inbox create`")


@inbox.command(epilog=example("dispatch inbox select agent-1@dispatch.example"))
@click.argument("inbox_ref", metavar="ID|ADDRESS")
@output_option
@click.pass_context
def select(ctx: click.Context, inbox_ref: str) -> None:
    """Remember the inbox the mail and memory commands act on."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox_ref)
    found = session.client().inboxes.get(inbox_id)
    session.state.inbox_id = found.id
    session.printer.note(f"selected {found.address}")
    session.printer.record(found)


@inbox.command(epilog=example("dispatch inbox show\ndispatch inbox show inb_123"))
@click.argument("inbox_ref", metavar="[ID|ADDRESS]", required=False)
@output_option
@click.pass_context
def show(ctx: click.Context, inbox_ref: str | None) -> None:
    """An inbox's details (default: the selected one)."""
    session = session_of(ctx)
    session.printer.record(session.client().inboxes.get(session.inbox_id(inbox_ref)))


@inbox.command(name="claim-token", epilog=example("dispatch inbox claim-token"))
@inbox_option
@click.option("--wallet-chain", type=click.Choice(["evm", "solana"]), help="Bind to a wallet.")
@click.option("--wallet-address", help="The wallet's address, with --wallet-chain.")
@output_option
@click.pass_context
def claim_token(
    ctx: click.Context, inbox: str | None, wallet_chain: str | None, wallet_address: str | None
) -> None:
    """A short-lived, single-use token a human operator claims this agent with.

    Hand the operator `claim_email` and `claim_token`; they claim in the web console or
    with `operator.claim()`.
    """
    session = session_of(ctx)
    token = session.client().agent.claim_token(
        inbox_id=session.inbox_id(inbox),
        wallet_chain=wallet_chain,
        wallet_address=wallet_address,
    )
    session.printer.record(
        {
            "claim_email": token.claim_email,
            "claim_token": token.claim_token,
            "expires_at": token.expires_at,
            "agent_id": token.agent_id,
            "inbox_id": token.inbox_id,
            "wallet_message": token.wallet_message,
        }
    )


@inbox.group()
def keys() -> None:
    """An inbox's API keys: list, mint (and cache) and revoke."""


def _key_columns(session: Session, inbox_id: str) -> list[Column]:
    cached = session.state.inbox_keys.get(inbox_id, "")
    return [
        column("ID", "id"),
        column("LABEL", "label"),
        column("CREATED", "created_at"),
        column("REVOKED", "revoked_at"),
        ("CACHED", lambda key: bool(cached) and cached.startswith(key.id + ".")),
    ]


@keys.command(name="list", epilog=example("dispatch inbox keys list"))
@inbox_option
@output_option
@click.pass_context
def list_keys(ctx: click.Context, inbox: str | None) -> None:
    """The inbox's keys (never their secrets); CACHED marks the one this CLI holds."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    found = list(session.client().inboxes.keys.list(inbox_id))
    session.printer.records(found, _key_columns(session, inbox_id), empty="no keys")


@keys.command(
    name="mint",
    epilog=example(
        "dispatch inbox keys mint --label ci\n"
        "dispatch inbox keys mint --label otp-agent --permission wait --permission read \\\n"
        "    --allow-sender '*@github.com' --expires-in 3600 -o json | jq -r .key"
    ),
)
@inbox_option
@click.option("--label", help="A note to recognise the key by.")
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    type=click.Choice(["read", "wait", "send", "memory", "organize"]),
    help="Restrict the key to this permission (repeat for more; default: all).",
)
@click.option(
    "--allow-sender",
    "allowed_senders",
    multiple=True,
    metavar="PATTERN",
    help="Let the key read mail from these senders only: noreply@x.com, *@github.com, "
    "*.example.com (repeat for more; default: anyone).",
)
@click.option(
    "--expires-in",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="The key stops working this many seconds from now.",
)
@click.option("--expires-at", metavar="TIME", help="The key stops working at this RFC 3339 time.")
@output_option
@click.pass_context
def mint_key(
    ctx: click.Context,
    inbox: str | None,
    label: str | None,
    permissions: tuple[str, ...],
    allowed_senders: tuple[str, ...],
    expires_in: int | None,
    expires_at: str | None,
) -> None:
    """Mint a new key for the inbox.

    Without restrictions the CLI caches it as the one it uses for the inbox, and the secret
    goes to the config file only (the output shows its last 4 characters). A restricted key
    (--permission, --allow-sender, --expires-*) is for another agent: the CLI does not
    cache it, and prints it whole, once (`key`).
    """
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    created = session.client().inboxes.keys.create(
        inbox_id,
        label=label,
        permissions=permissions or None,
        allowed_senders=allowed_senders or None,
        expires_in=expires_in,
        expires_at=expires_at,
    )
    if not created.restricted:
        session.printer.note(f"cached the new key {mask(created.key)} for {inbox_id}")
        session.printer.record(created)
        return
    session.printer.note("a restricted key, not cached: hand `key` to the agent that uses it")
    session.printer.record({**jsonable(created), "key": created.key})


@keys.command(name="revoke", epilog=example("dispatch inbox keys revoke key_123"))
@click.argument("key_id")
@inbox_option
@output_option
@click.pass_context
def revoke_key(ctx: click.Context, key_id: str, inbox: str | None) -> None:
    """Revoke one of the inbox's keys (it stops working at once)."""
    session = session_of(ctx)
    inbox_id = session.inbox_id(inbox)
    revoked = session.client().inboxes.keys.revoke(inbox_id, key_id)
    session.forget_inbox_key(inbox_id, key_id)
    session.printer.record(revoked)
