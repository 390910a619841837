"""Runtime configuration: grouped settings read once from the environment."""

from dispatch_server.config.settings import (
    ConfigError,
    Http,
    Inbound,
    InboundAuth,
    Inboxes,
    Operators,
    Ops,
    Outbound,
    RateLimits,
    Runtime,
    Settings,
    Smtp,
    Storage,
    Waits,
    Worker,
    declarations,
)

__all__ = [
    "ConfigError",
    "Http",
    "Inbound",
    "InboundAuth",
    "Inboxes",
    "Operators",
    "Ops",
    "Outbound",
    "RateLimits",
    "Runtime",
    "Settings",
    "Smtp",
    "Storage",
    "Waits",
    "Worker",
    "declarations",
]
