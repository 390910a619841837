"""One run of the CLI: the settings it resolved, the SDK client it made, and what it keeps.

Each setting is taken from, in order: the command-line flag, the environment variable, the
config file, the default. The key: $DISPATCH_API_KEY, else the stored one. What the CLI
learns while using a key (its kind, the selected inbox, the inbox keys an account key mints,
the messages `mail code` printed) is kept in the config under that key's id, so a key from
the environment has state of its own. An inbox key the server refuses (revoked) is dropped
from the cache, and the SDK mints another.
"""

from __future__ import annotations

import copy
import os
import sys

import attrs

from dispatch_client._client import Dispatch
from dispatch_client._constants import DEFAULT_BASE_URL
from dispatch_client._errors import DispatchError
from dispatch_client.cli._config import (
    OUTPUT_FORMATS,
    Config,
    KeyState,
    OutputFormat,
    as_table,
    config_path,
    load,
    save,
)
from dispatch_client.cli._output import Printer
from dispatch_client.types.key_info import KeyInfo


class UsageProblem(DispatchError):
    """The command cannot run as given (exit status 2)."""


class NoKey(DispatchError):
    """No key is stored or given (exit status 3)."""


class NotFound(DispatchError):
    """The thing asked for does not exist (exit status 5)."""


@attrs.frozen(kw_only=True)
class Flags:
    """The options given before the command: `dispatch --base-url ... mail list`."""

    base_url: str | None = None
    output: str | None = None
    inbox: str | None = None
    debug: bool = False


def _pick(*values: str | None) -> tuple[str | None, str]:
    for value, source in zip(values, ("flag", "environment", "config"), strict=False):
        if value is not None and value.strip():
            return value.strip(), source
    return None, "default"


class Session:
    """The resolved settings and the client of one CLI run. The config is read when first
    needed, so `dispatch guide` works whatever the file holds."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self._config: Config | None = None
        self._saved: Config | None = None
        self._client: Dispatch | None = None
        self._me: KeyInfo | None = None
        self._revoked: set[str] = set()
        self._secrets: list[str] = []
        fmt, source = _pick(flags.output, os.environ.get("DISPATCH_OUTPUT"), None)
        if fmt is not None and fmt not in OUTPUT_FORMATS:
            raise UsageProblem(f"output must be table or json, got {fmt!r} (from {source})")
        self._output: OutputFormat | None = fmt
        # Only `-o` counts as asked for: `CODE=$(dispatch mail code)` stays bare even where
        # $DISPATCH_OUTPUT or the config says json.
        explicit = flags.output is not None
        self.printer = Printer(self._output or self._default_output(), explicit=explicit)

    # --- settings ---------------------------------------------------------------------

    @staticmethod
    def _default_output() -> OutputFormat:
        return "table" if sys.stdout.isatty() else "json"

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load()
            self._saved = copy.deepcopy(self._config)
            if self._output is None and self._config.output is not None:
                self.printer = Printer(self._config.output, explicit=self.printer.explicit)
        return self._config

    def use_output(self, fmt: OutputFormat) -> None:
        """`-o` given on the command itself."""
        self._output = fmt
        self.printer = Printer(fmt, explicit=True)

    @property
    def base_url_and_source(self) -> tuple[str, str]:
        url, source = _pick(
            self.flags.base_url, os.environ.get("DISPATCH_BASE_URL"), self.config.base_url
        )
        return url or DEFAULT_BASE_URL, source

    @property
    def base_url(self) -> str:
        return self.base_url_and_source[0]

    @property
    def api_key(self) -> str | None:
        return os.environ.get("DISPATCH_API_KEY", "").strip() or self.config.api_key

    @property
    def key_source(self) -> str:
        if os.environ.get("DISPATCH_API_KEY", "").strip():
            return "environment"
        return "config" if self.config.api_key else "none"

    @property
    def state(self) -> KeyState:
        """What the CLI keeps for the key in use."""
        key = self.api_key
        if key is None:
            raise NoKey(
                "no API key: run `dispatch signup` or `dispatch auth login`, "
                "or set DISPATCH_API_KEY"
            )
        return self.config.state(key)

    # --- the client -------------------------------------------------------------------

    def client(self) -> Dispatch:
        """The SDK client for this run, with the inbox keys cached for its key."""
        if self._client is None:
            state = self.state
            self._client = Dispatch(
                self.api_key, base_url=self.base_url, inbox_keys=state.inbox_keys
            )
        return self._client

    def fresh_client(self, key: str | None = None) -> Dispatch:
        """A client of its own, with `key` and no cached inbox keys (`signup`, `login`)."""
        self.hide(key)
        return Dispatch(key, base_url=self.base_url)

    def hide(self, secret: str | None) -> None:
        """Never print `secret` (a wallet key, a key being logged in with...)."""
        if secret:
            self._secrets.append(secret)

    def secrets(self) -> list[str]:
        """Every secret this run knows, so none can be printed by accident."""
        found = list(self._secrets)
        if self._config is not None:
            found.append(self._config.api_key or "")
            for state in self._config.keys.values():
                found += state.inbox_keys.values()
        if self._client is not None:
            found += self._client.inbox_keys.values()
        found.append(os.environ.get("DISPATCH_API_KEY", ""))
        return [secret for secret in found if len(secret) >= 8]

    def keep_minted_keys(self) -> None:
        """Cache the inbox keys the client holds now: minted ones in, refused or revoked
        ones out."""
        if self._client is not None and self.api_key is not None:
            held = self._client.inbox_keys.items()
            self.state.inbox_keys = {inbox: key for inbox, key in held if key not in self._revoked}

    def forget_inbox_key(self, inbox_id: str, key_id: str) -> None:
        """Drop the cached key of `inbox_id` if it is the key `key_id` (just revoked)."""
        cached = self.state.inbox_keys.get(inbox_id)
        if cached is not None and cached.split(".", 1)[0] == key_id:
            self._revoked.add(cached)
            del self.state.inbox_keys[inbox_id]

    def finish(self) -> None:
        """Write back what the run changed; close the client."""
        try:
            if self._config is not None:
                self.keep_minted_keys()
                if self._saved is not None and as_table(self._config) != as_table(self._saved):
                    save(self._config, self._saved, config_path())
                    self._saved = copy.deepcopy(self._config)
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- what a command acts on -------------------------------------------------------

    def me(self) -> KeyInfo:
        """What the server says the key in use is, asked once per run."""
        if self._me is None:
            self._me = self.client().auth.me()
        return self._me

    def key_kind(self) -> str:
        """The kind of the key in use: as learnt before, else asked of the server."""
        state = self.state
        if state.kind is None:
            me = self.me()
            state.kind, state.workspace_id = me.kind, me.workspace_id
            if me.kind == "inbox":
                state.inbox_id = state.inbox_id or me.inbox_id
        return state.kind

    def inbox_id(self, given: str | None = None) -> str:
        """The inbox a command acts on: `--inbox` (an id or an address), $DISPATCH_INBOX,
        the selected one, the inbox of an inbox key, or the workspace's only inbox."""
        value, _ = _pick(given or self.flags.inbox, os.environ.get("DISPATCH_INBOX"), None)
        value = value or self.state.inbox_id
        if value is None:
            client = self.client()
            if self.key_kind() == "inbox":
                inbox = self.me().inbox_id
                if inbox is not None:
                    return inbox
            inboxes = client.inboxes.list(limit=2).data
            if len(inboxes) == 1:
                return inboxes[0].id
            raise UsageProblem(
                "no inbox selected: run `dispatch inbox select ID` or pass --inbox"
                if inboxes
                else "the workspace has no inbox yet: run `dispatch inbox create`"
            )
        if "@" in value:
            return self.inbox_by_address(value)
        return value

    def inbox_by_address(self, address: str) -> str:
        client = self.client()
        wanted = address.strip().lower()
        if self.key_kind() == "inbox":
            me = self.me()
            if me.inbox_id is not None and (me.inbox_address or "").lower() == wanted:
                return me.inbox_id
        else:
            for inbox in client.inboxes.list(limit=100):
                if inbox.address.lower() == wanted:
                    return inbox.id
        raise NotFound(f"no inbox {address} in this workspace")
