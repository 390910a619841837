"""Dispatch reference server: Starlette API, SMTP listener and ingest pipeline."""

from dispatch_client._version import __version__

__all__ = ["__version__"]
