"""The CLI's local state: `dispatch/config.toml` in the user config directory.

It remembers the server, the output format, the stored key, and, per key (by key id), what
the CLI learnt while using it: its kind and workspace, the selected inbox, the inbox keys an
account key minted (by inbox id), and the messages `mail code` and `mail link` printed. So a
key given in $DISPATCH_API_KEY gets state of its own and never uses another key's.

The file holds secrets: it is written atomically (a temporary file in the same directory,
then a rename) with mode 0600, so a crash never leaves half a file and no other user can read
it. Several `dispatch` processes may run at once (a long `mail watch` beside an
`inbox select`): each writes back only what it changed, merged into the file as it is then,
under a lock. `DISPATCH_CONFIG` names another file (tests, several identities side by side).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import attrs
import cattrs
import platformdirs
import tomli_w

from dispatch_client._errors import DispatchError

KeyKind = Literal["account", "inbox"]
OutputFormat = Literal["table", "json"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("table", "json")
PRINTED_KEPT = 20  # message ids remembered per wait kind and inbox


class ConfigError(DispatchError):
    """The config file cannot be read or written."""


def config_path() -> Path:
    """$DISPATCH_CONFIG, else `<user config dir>/dispatch/config.toml`."""
    given = os.environ.get("DISPATCH_CONFIG", "").strip()
    if given:
        return Path(given).expanduser()
    return Path(platformdirs.user_config_dir("dispatch", appauthor=False)) / "config.toml"


def key_id_of(key: str) -> str:
    """The public half of a key (`<key_id>.<secret>`), which names its state."""
    return key.split(".", 1)[0]


@attrs.define(kw_only=True)
class KeyState:
    """What the CLI learnt about one key."""

    kind: KeyKind | None = None
    workspace_id: str | None = None
    inbox_id: str | None = None  # the selected inbox
    inbox_keys: dict[str, str] = attrs.field(factory=dict, repr=False)
    # The ids of the last messages `mail code` / `mail link` printed, newest last, by
    # "<kind>:<inbox id>": a later wait never prints them again.
    printed: dict[str, list[str]] = attrs.field(factory=dict)

    def remember_printed(self, name: str, message_id: str) -> None:
        kept = [found for found in self.printed.get(name, []) if found != message_id]
        self.printed[name] = [*kept, message_id][-PRINTED_KEPT:]


@attrs.define(kw_only=True)
class Config:
    """What the CLI remembers between runs; every field may be unset."""

    base_url: str | None = None
    output: OutputFormat | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    keys: dict[str, KeyState] = attrs.field(factory=dict)

    def state(self, key: str) -> KeyState:
        """The state of `key`, made empty the first time."""
        return self.keys.setdefault(key_id_of(key), KeyState())

    def forget_keys(self) -> None:
        """Clear the stored key and what the CLI learnt about every key (`auth logout`)."""
        self.api_key = None
        self.keys = {}


# Unknown keys are kept, not refused: a newer CLI may have written them.
_converter = cattrs.Converter()


def _checked(table: dict[str, Any], path: Path) -> Config:
    if table.get("output") not in (None, *OUTPUT_FORMATS):
        raise ConfigError(f"{path}: `output` must be one of {', '.join(OUTPUT_FORMATS)}")
    try:
        config = _converter.structure(table, Config)
    except (cattrs.BaseValidationError, TypeError, ValueError) as error:
        if isinstance(error, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(error, path="config"))
        else:
            detail = str(error)
        raise ConfigError(f"{path} is not a Dispatch config ({detail}); fix or remove it") from None
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path} is not valid TOML ({error}); fix or remove it") from None


def load(path: Path | None = None) -> Config:
    """The config at `path` (default `config_path()`); an absent file is an empty config."""
    path = path or config_path()
    return _checked(_read(path), path)


def as_table(config: Config) -> dict[str, Any]:
    """The config as TOML data: unset values left out."""

    def pruned(value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: pruned(v) for k, v in sorted(value.items()) if v is not None}
            return {k: v for k, v in kept.items() if v != {} and v != []}
        return value

    return cast(dict[str, Any], pruned(_converter.unstructure(config)))


def _merged(theirs: Any, base: Any, mine: Any) -> Any:
    """`theirs` with the changes from `base` to `mine` applied, key by key in tables."""
    if not (isinstance(base, dict) and isinstance(mine, dict) and isinstance(theirs, dict)):
        return mine
    result = dict(theirs)
    for name in base.keys() | mine.keys():
        if name not in mine:
            result.pop(name, None)
        elif base.get(name) != mine[name]:
            result[name] = _merged(theirs.get(name, {}), base.get(name, {}), mine[name])
    return result


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the file, where the platform has one (POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: last writer wins
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save(config: Config, since: Config, path: Path | None = None) -> Path:
    """Write the changes made to `config` since it was `since` into the file as it is now,
    atomically with mode 0600 (its directory 0700 when made here)."""
    path = path or config_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(path):
            current = as_table(_checked(_read(path), path))
            table = _merged(current, as_table(since), as_table(config))
            _checked(table, path)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:  # mkstemp makes it 0600
                    file.write(tomli_w.dumps(table).encode())
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    return path
