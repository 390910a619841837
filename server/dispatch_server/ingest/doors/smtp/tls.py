"""The SMTP door's certificate: loaded at startup, and loaded again when its files change."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

from dispatch_server.config import ConfigError

log = logging.getLogger("dispatch_server.smtp")

# What identifies the files' current contents without reading them.
Stamp = tuple[tuple[int, int, int], ...]


class Certificate:
    """The TLS context for `STARTTLS`. `context()` is asked once per connection: it stats
    both files, and loads them again when either changed (a renewal that replaces them, as
    certbot and Kubernetes secrets do). A change that does not load (a key written before its
    certificate, say) keeps the previous context and logs one error per change; a bad pair at
    startup is a ConfigError."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        try:
            self._stamp = self._stat()
            self._context = self._load()
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"DISPATCH_SMTP_TLS_CERT and DISPATCH_SMTP_TLS_KEY do not load: {error}"
            ) from None

    def context(self) -> ssl.SSLContext:
        try:
            stamp = self._stat()
        except OSError:  # replaced right now: the next connection sees the new files
            return self._context
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._context = self._load()
            except (OSError, ssl.SSLError) as error:
                log.error("SMTP TLS certificate not reloaded, keeping the previous one: %s", error)
            else:
                log.info("SMTP TLS certificate reloaded from %s", self.cert)
        return self._context

    def _stat(self) -> Stamp:
        stats = [os.stat(path) for path in (self.cert, self.key)]
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def _load(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context
