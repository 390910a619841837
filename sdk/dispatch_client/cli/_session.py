"""One run of the CLI: the settings it resolved, the SDK client it made, and what it keeps.

Each setting is taken from, in order: the command-line flag, the environment variable, the
config file, the default. The key: $DISPATCH_API_KEY, else the stored one. The inbox keys
an account key mints during a run (the SDK mints one the first time an inbox is read) are
cached in the config by inbox id, so later runs use them instead of minting again; one the
server refuses (revoked) is dropped from the cache.
"""

from __future__ import annotations

import copy
import os
import sys

import attrs

from dispatch_client._client import Dispatch
from dispatch_client._constants import DEFAULT_BASE_URL
from dispatch_client._errors import DispatchError
from dispatch_client.cli._config import OUTPUT_FORMATS, Config, OutputFormat, load, save
from dispatch_client.cli._output import Printer


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
    """The resolved settings and the client of one CLI run."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.config: Config = load()
        self._saved = copy.deepcopy(self.config)
        base_url, self.base_url_source = _pick(
            flags.base_url, os.environ.get("DISPATCH_BASE_URL"), self.config.base_url
        )
        self.base_url = base_url or DEFAULT_BASE_URL
        output, source = _pick(flags.output, os.environ.get("DISPATCH_OUTPUT"), self.config.output)
        if output is not None and output not in OUTPUT_FORMATS:
            raise UsageProblem(f"output must be table or json, got {output!r} (from {source})")
        fmt: OutputFormat = output or ("table" if sys.stdout.isatty() else "json")
        self.printer = Printer(fmt, explicit=output is not None)
        env_key = os.environ.get("DISPATCH_API_KEY", "").strip()
        self.api_key = env_key or self.config.api_key
        self.key_source = "environment" if env_key else ("config" if self.api_key else "none")
        self._client: Dispatch | None = None
        self._revoked: set[str] = set()

    @property
    def uses_stored_key(self) -> bool:
        return self.key_source == "config"

    def client(self, *, keyless: bool = False) -> Dispatch:
        """The SDK client for this run (with the cached inbox keys of the stored key)."""
        if self._client is None:
            if self.api_key is None and not keyless:
                raise NoKey(
                    "no API key: run `dispatch signup` or `dispatch auth login`, "
                    "or set DISPATCH_API_KEY"
                )
            self._client = Dispatch(
                self.api_key,
                base_url=self.base_url,
                inbox_keys=self.config.inbox_keys,
            )
        return self._client

    def keep_minted_keys(self) -> None:
        """Cache the inbox keys the client holds now: minted ones in, refused or revoked
        ones out."""
        if self._client is not None:
            held = self._client.inbox_keys.items()
            self.config.inbox_keys = {inbox: key for inbox, key in held if key not in self._revoked}

    def forget_inbox_key(self, inbox_id: str, key_id: str) -> None:
        """Drop the cached key of `inbox_id` if it is the key `key_id` (just revoked)."""
        cached = self.config.inbox_keys.get(inbox_id)
        if cached is not None and cached.split(".", 1)[0] == key_id:
            self._revoked.add(cached)
            del self.config.inbox_keys[inbox_id]

    def finish(self) -> None:
        """Write the config back if the run changed it; close the client."""
        self.keep_minted_keys()
        if self.config != self._saved:
            save(self.config)
            self._saved = copy.deepcopy(self.config)
        if self._client is not None:
            self._client.close()
            self._client = None

    def secrets(self) -> list[str]:
        """Every key this run knows, so none can be printed by accident."""
        held = self._client.inbox_keys.values() if self._client is not None else ()
        found = [self.api_key, *self.config.inbox_keys.values(), *held]
        return [key for key in found if key]

    def inbox_id(self, given: str | None = None) -> str:
        """The inbox a command acts on: `--inbox` (an id or an address), $DISPATCH_INBOX,
        the selected one, the inbox of an inbox key, or the workspace's only inbox."""
        value, _ = _pick(given or self.flags.inbox, os.environ.get("DISPATCH_INBOX"), None)
        value = value or self.config.inbox_id
        if value is None:
            client = self.client()
            if self.key_kind() == "inbox":
                inbox = client.auth.me().inbox_id
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
            me = client.auth.me()
            if me.inbox_id is not None and (me.inbox_address or "").lower() == wanted:
                return me.inbox_id
        else:
            for inbox in client.inboxes.list(limit=100):
                if inbox.address.lower() == wanted:
                    return inbox.id
        raise NotFound(f"no inbox {address} in this workspace")

    def key_kind(self) -> str | None:
        """The kind of the key in use: stored with it, else asked of the server."""
        if self.uses_stored_key and self.config.key_kind is not None:
            return self.config.key_kind
        if self.api_key is None:
            return None
        return self.client().auth.me().kind
