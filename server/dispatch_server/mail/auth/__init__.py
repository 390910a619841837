"""SPF, DKIM and DMARC of mail that reaches the SMTP door, checked by the server itself.

Libraries, and why (each wrapped in a typed adapter here, none of them typed itself):

- DKIM: our own lean verifier (dkim_verify.py, checked in dkim.py): RFC 6376, RFC 8301 and
  RFC 8463 as dkimpy answers them (the tests hold it to dkimpy), RSA and ed25519 by OpenSSL
  through `cryptography`; dkimpy itself cost 0.5 to 1 ms of CPU a message, mostly in
  canonicalizing every header field with regexes, twice.
- SPF: **pyspf** (spf.py): RFC 7208's reference-grade implementation, with the RFC's
  processing limits built in; its last release is from 2020, and SPF has not changed since
  2014. Its DNS hook is a module function, replaced once to use our resolver.
- DMARC: implemented here (dmarc.py) on those two results and RFC 7489, with the Public
  Suffix List of **publicsuffixlist** (released with each list update): the DMARC libraries
  either use DNS of their own or an outdated suffix list (see dmarc.py).
- DNS: **dnspython**, one `Resolver` for all three (resolver.py): DISPATCH_DNS_SERVER or the
  system's resolvers, each query bounded by DISPATCH_DNS_TIMEOUT_SECONDS, answers cached for
  their TTL.

Bounds: the checks of one message share a deadline (DISPATCH_AUTH_TIMEOUT_SECONDS, counted
from the end of DATA, so time spent queued counts too); SPF stops at its 10-lookup limit;
at most DISPATCH_DKIM_MAX_SIGNATURES signatures are checked. They never raise: a DNS failure
or timeout is `temperror`, a broken record or signature `permerror`, and anything
unexpected is logged and `permerror`. They never wait for DNS on the event loop: a message
whose lookups the cache answers (and that is small, with few signatures) is checked inline,
in about the time its parse takes; any other in a pool of threads of the checks' own (a slow
DNS server cannot starve the default executor the parser and SQLite use).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable
from typing import Any

from dispatch_server.config.settings import InboundAuth as AuthSettings
from dispatch_server.mail.auth.dkim import check_dkim
from dispatch_server.mail.auth.dmarc import check_dmarc, from_domains
from dispatch_server.mail.auth.resolver import Deadline, NotCached, Resolver
from dispatch_server.mail.auth.spf import check_spf
from dispatch_server.mail.verdicts import Check, Verdicts

log = logging.getLogger("dispatch_server.auth")

THREADS = 16  # checks in flight at once; more wait their turn (their deadline running)
# Checks of mail this small, with this few signatures, whose lookups are all cached take
# about 0.3 ms (an RSA-2048 verification 0.1 ms more): they run on the event loop.
INLINE_BYTES = 16 * 1024
INLINE_SIGNATURES = 2


class InboundAuth:
    """The checks of one process: its resolver (with its cache) and its threads."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.resolver = Resolver.from_settings(settings)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.verify

    async def check(
        self,
        raw: bytes,
        *,
        client_ip: str | None,
        helo: str | None,
        mail_from: str | None,
    ) -> Verdicts:
        """SPF, DKIM and DMARC of a message as the SMTP door received it; no verdicts at all
        when the checks are off."""
        if not self.enabled:
            return Verdicts()
        if len(raw) <= INLINE_BYTES and raw.count(b"DKIM-Signature") <= INLINE_SIGNATURES:
            # What the cache can answer is done here: as cheap as parsing a message of this
            # size, which is done inline too, and cheaper than a hand-off to a thread. The
            # first lookup the cache cannot answer sends it all to a thread.
            try:
                return self.check_now(
                    raw,
                    client_ip=client_ip,
                    helo=helo,
                    mail_from=mail_from,
                    deadline=Deadline(self.settings.timeout_seconds, cached_only=True),
                )
            except NotCached:
                pass
        deadline = Deadline(self.settings.timeout_seconds)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=THREADS, thread_name_prefix="dispatch-auth"
            )
        work = functools.partial(
            self.check_now,
            raw,
            client_ip=client_ip,
            helo=helo,
            mail_from=mail_from,
            deadline=deadline,
        )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        except Exception as exc:  # the pool is shutting down, say: store the mail anyway
            log.error("inbound checks could not run: %s", exc)
            why = f"the checks could not run: {type(exc).__name__}"
            failed = Check("temperror", why)
            return Verdicts(spf=failed, dkim=failed, dmarc=failed, source="dispatch")

    def check_now(
        self,
        raw: bytes,
        *,
        client_ip: str | None,
        helo: str | None,
        mail_from: str | None,
        deadline: Deadline | None = None,
    ) -> Verdicts:
        """The same, synchronously, in the calling thread."""
        deadline = deadline or Deadline(self.settings.timeout_seconds)
        resolver = self.resolver
        try:
            domains, remark = from_domains(raw)
        except Exception as exc:
            domains, remark = (), f"the From header cannot be read: {exc}"
        spf = _guarded(
            "SPF",
            check_spf,
            resolver,
            deadline,
            client_ip=client_ip,
            mail_from=mail_from,
            helo=helo,
        )
        dkim = _guarded(
            "DKIM",
            check_dkim,
            resolver,
            deadline,
            raw,
            max_signatures=self.settings.max_dkim_signatures,
            from_domains=domains,
        )
        dmarc = _guarded(
            "DMARC",
            check_dmarc,
            resolver,
            deadline,
            raw,
            domains=domains,
            remark=remark,
            spf=spf,
            dkim=dkim,
        )
        return Verdicts(spf=spf, dkim=dkim, dmarc=dmarc, source="dispatch")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _guarded(what: str, check: Callable[..., Check], *args: Any, **kw: Any) -> Check:
    try:
        return check(*args, **kw)
    except Exception as exc:
        log.exception("%s check failed unexpectedly", what)
        return Check("permerror", f"the {what} check failed: {type(exc).__name__}")
