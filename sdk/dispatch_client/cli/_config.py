"""The CLI's local state: `dispatch/config.toml` in the user config directory.

It remembers the server, the stored key (an account key, or an inbox key), the workspace it
belongs to, the selected inbox, and the inbox keys minted from the account key, by inbox id.
The file holds secrets: it is written atomically (a temporary file in the same directory,
then a rename) with mode 0600, so a crash never leaves half a file and no other user can read
it. `DISPATCH_CONFIG` names another file (tests, several identities side by side).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Literal

import attrs
import platformdirs
import tomli_w

from dispatch_client._errors import DispatchError

KeyKind = Literal["account", "inbox"]
OutputFormat = Literal["table", "json"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("table", "json")


class ConfigError(DispatchError):
    """The config file cannot be read or written."""


def config_path() -> Path:
    """$DISPATCH_CONFIG, else `<user config dir>/dispatch/config.toml`."""
    given = os.environ.get("DISPATCH_CONFIG", "").strip()
    if given:
        return Path(given).expanduser()
    return Path(platformdirs.user_config_dir("dispatch", appauthor=False)) / "config.toml"


@attrs.define(kw_only=True)
class Config:
    """What the CLI remembers between runs; every field may be unset."""

    base_url: str | None = None
    output: OutputFormat | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    key_kind: KeyKind | None = None
    workspace_id: str | None = None
    inbox_id: str | None = None  # the selected inbox
    inbox_keys: dict[str, str] = attrs.field(factory=dict, repr=False)
    # When the last message `mail code` / `mail link` printed was received (server time,
    # ISO 8601), by "<kind>:<inbox id>[:from=...][:subject=...]": the next such wait waits
    # for a newer message.
    waited: dict[str, str] = attrs.field(factory=dict)

    def forget_key(self) -> None:
        """Clear the stored key and all that came with it (`auth logout`)."""
        self.api_key = self.key_kind = self.workspace_id = self.inbox_id = None
        self.inbox_keys = {}
        self.waited = {}


def _string(table: dict[str, Any], name: str, path: Path) -> str | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: `{name}` must be a string")
    return value or None


def _strings(table: dict[str, Any], name: str, path: Path) -> dict[str, str]:
    value = table.get(name, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{path}: `{name}` must be a table of strings")
    return dict(value)


def load(path: Path | None = None) -> Config:
    """The config at `path` (default `config_path()`); an absent file is an empty config."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path} is not valid TOML ({error}); fix or remove it") from None
    output = _string(table, "output", path)
    if output is not None and output not in OUTPUT_FORMATS:
        raise ConfigError(f"{path}: `output` must be one of {', '.join(OUTPUT_FORMATS)}")
    kind = _string(table, "key_kind", path)
    if kind is not None and kind not in ("account", "inbox"):
        raise ConfigError(f"{path}: `key_kind` must be account or inbox")
    keys = _strings(table, "inbox_keys", path)
    return Config(
        base_url=_string(table, "base_url", path),
        output=output,
        api_key=_string(table, "api_key", path),
        key_kind=kind,  # type: ignore[arg-type]
        workspace_id=_string(table, "workspace_id", path),
        inbox_id=_string(table, "inbox_id", path),
        inbox_keys=keys,
        waited=_strings(table, "waited", path),
    )


def save(config: Config, path: Path | None = None) -> Path:
    """Write `config` atomically with mode 0600 (its directory 0700 when made here)."""
    path = path or config_path()
    table: dict[str, Any] = {
        name: value
        for name, value in attrs.asdict(config).items()
        if value is not None and not isinstance(value, dict)
    }
    for name in ("inbox_keys", "waited"):
        values: dict[str, str] = getattr(config, name)
        if values:
            table[name] = dict(sorted(values.items()))
    data = tomli_w.dumps(table).encode()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:  # mkstemp makes it 0600
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    return path
