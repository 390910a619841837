"""Runtime configuration: grouped settings read once from the environment."""

from dispatch_server.config.settings import (
    ConfigError,
    Http,
    Inbound,
    InboundAuth,
    Inboxes,
    Outbound,
    Runtime,
    Settings,
    Smtp,
    Storage,
    Waits,
    declarations,
)

__all__ = [
    "ConfigError",
    "Http",
    "Inbound",
    "InboundAuth",
    "Inboxes",
    "Outbound",
    "Runtime",
    "Settings",
    "Smtp",
    "Storage",
    "Waits",
    "declarations",
]
