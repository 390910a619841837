"""The services a process runs on, wired once: used by the app's lifespan, every CLI command,
and the worker."""

from __future__ import annotations

from collections.abc import Collection
from types import TracebackType
from typing import TYPE_CHECKING, Self

import attrs

from dispatch_server.assets.store import AssetStore
from dispatch_server.auth.operators import Passwords
from dispatch_server.aws import cloudwatch_client, s3_client, sqs_client
from dispatch_server.billing.chains import ChainVerifier, open_verifier
from dispatch_server.billing.x402 import RailConfig
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.domain import domains
from dispatch_server.domain.domain_dns import DomainChecks
from dispatch_server.events.hub import Hub
from dispatch_server.ingest.doors.s3 import InboundBucket
from dispatch_server.mail.auth import InboundAuth
from dispatch_server.outbound.feedback.sns import SnsVerifier, UrlFetcher, fetch_subscribe_url
from dispatch_server.outbound.outbox import Outbox
from dispatch_server.outbound.ses_identities import SesIdentities
from dispatch_server.outbound.transports import Transport
from dispatch_server.outbound.webhooks import WebhookSender
from dispatch_server.ratelimit.limiter import Limiter, open_limiter
from dispatch_server.worker.queue import Queue

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient


@attrs.define
class SnsChecks:
    """The SNS door's checks: the verifier (it caches certificates, so one per process) and
    how a subscription's SubscribeURL is visited."""

    verifier: SnsVerifier
    fetch_subscribe_url: UrlFetcher = fetch_subscribe_url


@attrs.define
class Services:
    settings: Settings
    db: Database
    hub: Hub
    outbox: Outbox = attrs.field(init=False)
    # Sends webhook deliveries: started by the worker, and by the app with
    # DISPATCH_WEBHOOK_DELIVER_IN_API.
    webhooks: WebhookSender = attrs.field(init=False)
    # What POST /v1/webhooks/sns checks messages with; None while no topic is configured.
    sns: SnsChecks | None = attrs.field(init=False)
    # The bucket SES stores received mail in (DISPATCH_SES_INBOUND_S3_BUCKET), read by SES
    # receipt notifications through SNS that point at S3; None when not configured.
    inbound_bucket: InboundBucket | None = attrs.field(init=False)
    # The worker's queue (DISPATCH_SQS_QUEUE_URL), whose depth the ops status shows.
    inbound_queue: Queue | None = attrs.field(init=False)
    # CloudWatch, for the queue's ApproximateAgeOfOldestMessage; None without a queue.
    queue_metrics: CloudWatchClient | None = attrs.field(init=False)
    # SPF, DKIM and DMARC of the SMTP door's mail: the resolver (and its cache) and threads.
    auth: InboundAuth = attrs.field(init=False)
    # Custom domains' DNS checks (no cache, threads of their own), and with the `ses`
    # provider their SES identities (Easy DKIM); None with another provider.
    domain_checks: DomainChecks = attrs.field(init=False)
    ses_identities: SesIdentities | None = attrs.field(init=False)
    # The route rate limits' counters: in this process's memory, or in Redis.
    limiter: Limiter = attrs.field(init=False)
    # Operators' Argon2id password hashing, at the configured parameters.
    passwords: Passwords = attrs.field(init=False)
    # Uploaded files' bytes, under DISPATCH_ASSETS_PATH.
    assets: AssetStore = attrs.field(init=False)

    # x402 verifiers by rail, made on first use (the EVM one needs the wallet extra).
    _verifiers: dict[str, ChainVerifier] = attrs.field(init=False, factory=dict)

    def chain_verifier(self, config: RailConfig) -> ChainVerifier:
        """The verifier of the rail's chain, one per process (it keeps its RPC client)."""
        verifier = self._verifiers.get(config.rail)
        if verifier is None:
            verifier = open_verifier(config)
            self._verifiers[config.rail] = verifier
        return verifier

    def __attrs_post_init__(self) -> None:
        self.db.on_commit.append(self.hub.on_commit)
        outbound = self.settings.outbound
        self.assets = AssetStore(self.settings.assets.path)
        self.auth = InboundAuth(self.settings.inbound_auth)
        self.domain_checks = DomainChecks(self.settings.inbound_auth)
        self.ses_identities = SesIdentities.from_settings(outbound)
        self.limiter = open_limiter(self.settings.rate_limits)
        self.passwords = Passwords(self.settings.operators)
        self.outbox = Outbox(self.db, _transport(self), outbound)
        self.webhooks = WebhookSender(
            self.db, self.settings.webhooks, dns_server=self.settings.inbound_auth.dns_server
        )
        self.db.on_commit.append(self.webhooks.on_commit)
        self.sns = None
        if outbound.topic_arns:
            self.sns = SnsChecks(SnsVerifier(outbound.topic_arns, outbound.account_ids))
        worker = self.settings.worker
        self.inbound_bucket = None
        if worker.bucket:
            self.inbound_bucket = InboundBucket(worker.bucket, s3_client(worker))
        self.inbound_queue = None
        self.queue_metrics = None
        if worker.queue_url:
            self.inbound_queue = Queue(sqs_client(worker), worker.queue_url)
            self.queue_metrics = cloudwatch_client(worker)

    @classmethod
    async def open(cls, settings: Settings, *, listen: bool = True) -> Services:
        """Connect to the database; with `listen`, hear other processes' wake-ups
        (PostgreSQL LISTEN) so waiters here wake for mail ingested elsewhere."""
        storage = settings.storage
        db = Database(
            storage.database_url, pool_size=storage.pool_size, max_overflow=storage.max_overflow
        )
        hub = Hub()
        try:
            if listen:
                await hub.start_listening(db)
        except BaseException:
            await db.dispose()
            raise
        return cls(settings=settings, db=db, hub=hub)

    async def close(self) -> None:
        if self.inbound_bucket is not None:
            self.inbound_bucket.client.close()
        if self.inbound_queue is not None:
            self.inbound_queue.client.close()
        if self.queue_metrics is not None:
            self.queue_metrics.close()
        self.auth.close()
        self.domain_checks.close()
        if self.ses_identities is not None:
            self.ses_identities.close()
        await self.limiter.close()
        await self.outbox.close()
        await self.webhooks.close()
        await self.hub.close()
        await self.db.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _transport(services: Services) -> Transport:
    """The transport of DISPATCH_OUTBOUND_PROVIDER. Imported here: the local one delivers
    through ingest, which itself runs on these services."""
    settings = services.settings
    provider = settings.outbound.provider
    if provider == "smtp":
        from dispatch_server.outbound.transports.smtp import SmtpTransport

        return SmtpTransport.from_settings(settings.outbound, ehlo_name=settings.inboxes.domain)
    if provider == "ses":
        from dispatch_server.outbound.transports.ses import SesTransport

        return SesTransport.from_settings(settings.outbound)
    from dispatch_server.ingest.pipeline import Envelope, IngestResult, ingest
    from dispatch_server.outbound.transports.local import LocalTransport

    async def deliver_here(raw: bytes, envelope: Envelope) -> IngestResult:
        return await ingest(services, raw, envelope)

    async def verified(names: Collection[str]) -> frozenset[str]:
        return await services.db.run_read(domains.verified_among, names)

    return LocalTransport(settings.inboxes.domain, deliver_here, verified)
