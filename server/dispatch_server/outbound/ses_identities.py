"""SES domain identities for custom domains, with the `ses` provider: asking SES for a
verified domain's Easy DKIM tokens (its three CNAME records), noting whether the identity
existed before, and deleting an identity Dispatch made with the last domain of that name.

Easy DKIM's tokens come from SES v1's `VerifyDomainDkim`, which makes the domain identity
(the one SES v2 sends from) if it does not exist and answers the same tokens for it again
after; SES signs the domain's mail itself once it sees the CNAMEs, and checks them on its
own, up to 72 hours. `DISPATCH_SES_REGION` and `DISPATCH_SES_ENDPOINT_URL` as for sending.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from dispatch_server.config.settings import Outbound

log = logging.getLogger("dispatch_server.domains")

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 15.0


class SesUnavailable(Exception):
    """SES did not answer the request, or refused it."""


class SesIdentities:
    def __init__(self, *, region: str, endpoint_url: str | None = None) -> None:
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": 2},
        )
        # SES v1 (no stubs are installed for it, so the client is typed loosely).
        self._client: Any = boto3.session.Session().client(
            "ses", region_name=region, endpoint_url=endpoint_url, config=config
        )

    @classmethod
    def from_settings(cls, outbound: Outbound) -> SesIdentities | None:
        """The identities of the `ses` provider; None with any other."""
        if outbound.provider != "ses" or not outbound.ses_region:
            return None
        return cls(region=outbound.ses_region, endpoint_url=outbound.ses_endpoint_url)

    async def exists(self, domain: str) -> bool:
        """Whether SES has an identity for the domain (`GetIdentityVerificationAttributes`)."""
        try:
            answer = await asyncio.to_thread(
                self._client.get_identity_verification_attributes, Identities=[domain]
            )
        except (ClientError, BotoCoreError) as exc:
            raise SesUnavailable(
                f"SES GetIdentityVerificationAttributes for {domain}: {exc}"
            ) from exc
        return domain in answer.get("VerificationAttributes", {})

    async def easy_dkim(self, domain: str) -> tuple[tuple[str, ...], bool]:
        """The domain's Easy DKIM tokens, and whether this call made its identity (it did not
        exist before: Dispatch's to delete later; one that did is never deleted)."""
        existed = await self.exists(domain)
        return await self.dkim_tokens(domain), not existed

    async def dkim_tokens(self, domain: str) -> tuple[str, ...]:
        """The domain's Easy DKIM tokens (three), the identity made if need be."""
        try:
            answer = await asyncio.to_thread(self._client.verify_domain_dkim, Domain=domain)
        except (ClientError, BotoCoreError) as exc:
            raise SesUnavailable(f"SES VerifyDomainDkim for {domain}: {exc}") from exc
        tokens = tuple(str(token) for token in answer.get("DkimTokens", ()))
        if not tokens:
            raise SesUnavailable(f"SES answered no DKIM tokens for {domain}")
        return tokens

    async def delete(self, domain: str) -> None:
        """Delete the domain's identity; a failure is logged, not raised (a leftover
        identity sends nothing by itself)."""
        try:
            await asyncio.to_thread(self._client.delete_identity, Identity=domain)
        except (ClientError, BotoCoreError) as exc:
            log.warning("SES DeleteIdentity for %s failed: %s", domain, exc)

    def close(self) -> None:
        self._client.close()
