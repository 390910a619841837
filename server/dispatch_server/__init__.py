"""Dispatch reference server: Starlette API, SMTP listener and ingest pipeline."""

__version__ = "0.1.0"
