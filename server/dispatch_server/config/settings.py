"""Every setting, declared once: grouped, each with its variable, parser, default and bounds."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from dispatch_client.extract.mime import DEPTH_CEILING, MAX_DEPTH, MAX_PARTS
from dispatch_server.assets.sniff import KNOWN_TYPES
from dispatch_server.config._fields import (
    Parser,
    Setting,
    boolean,
    choice,
    declared,
    integer,
    lowercase,
    number,
    port,
    readable_file,
    secret,
    setting,
    text,
)
from dispatch_server.db.urls import DEFAULT_DATABASE_URL, database_url
from dispatch_server.ratelimit.policy import Policy, Rate

G = TypeVar("G")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_RETENTION_DAYS = 36500  # so that "now minus the window" stays a representable date
MAX_WAIT_SECONDS = 3600.0
MIN_WAIT_RECHECK_SECONDS = 0.1  # near 0, every waiting request would spin on the database
MAX_HTTP_TIMEOUT_SECONDS = 3600.0
MAX_SQS_VISIBILITY_SECONDS = 43200  # SQS's own limit: 12 hours


class ConfigError(Exception):
    """The environment does not describe a runnable server."""


@attrs.frozen(kw_only=True)
class Runtime:
    env: str = setting(
        "DISPATCH_ENV",
        "development",
        choice("development", "production", "test"),
        "`production` requires the variables marked **required**; in every mode a bad "
        "value stops startup with one error naming each bad variable",
    )

    log_level: str = setting(
        "DISPATCH_LOG_LEVEL",
        "info",
        choice("debug", "info", "warning", "error"),
        "`info` logs one line per HTTP request and per SMTP transaction",
    )

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@attrs.frozen(kw_only=True)
class Storage:
    database_url: str = setting(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        Parser(database_url, "`sqlite:///path.db` or `postgresql://user:pass@host/db`"),
        "where everything is stored",
        required_in_production=True,
        shown_default="`sqlite:///./dispatch.db`",
        echo=False,
    )
    message_retention_days: int = setting(
        "DISPATCH_MESSAGE_RETENTION_DAYS",
        30,
        integer(low=1, high=MAX_RETENTION_DAYS),
        "older mail is no longer served by any read, and the worker deletes it (received "
        "and sent, see `DISPATCH_RETENTION_PURGE_SECONDS`)",
    )
    pool_size: int = setting(
        "DISPATCH_DB_POOL_SIZE",
        10,
        integer(low=1, high=1000),
        "PostgreSQL: connections each process keeps open (one more listens for other "
        "processes' wake-ups in API processes); see docs/capacity.md for sizing",
    )
    max_overflow: int = setting(
        "DISPATCH_DB_MAX_OVERFLOW",
        20,
        integer(low=0, high=1000),
        "PostgreSQL: connections each process may open beyond `DISPATCH_DB_POOL_SIZE` under "
        "load, closed again when returned",
    )


@attrs.frozen(kw_only=True)
class Http:
    host: str = setting("DISPATCH_HTTP_HOST", "127.0.0.1", text, "API listen address")
    port: int = setting("DISPATCH_HTTP_PORT", 8000, port, "API port (`0`: any free port)")
    header_timeout_seconds: float = setting(
        "DISPATCH_HTTP_HEADER_TIMEOUT_SECONDS",
        10.0,
        number(low=0.1, high=MAX_HTTP_TIMEOUT_SECONDS),
        "a request's head (request line and headers) must arrive whole this soon after the "
        "connection opens or the previous response ends; else `408` and the connection closes",
    )
    body_timeout_seconds: float = setting(
        "DISPATCH_HTTP_BODY_TIMEOUT_SECONDS",
        10.0,
        number(low=0.1, high=MAX_HTTP_TIMEOUT_SECONDS),
        "a request body that stops coming for this long gets `408` and the connection closes",
    )
    body_min_rate: float = setting(
        "DISPATCH_HTTP_BODY_MIN_BYTES_PER_SECOND",
        1024.0,
        number(low=0, high=1024**3),
        "past its first `DISPATCH_HTTP_BODY_TIMEOUT_SECONDS`, a request body must average at "
        "least this many bytes a second (`0`: no minimum); else `408` and the connection closes",
    )


@attrs.frozen(kw_only=True)
class Smtp:
    host: str = setting("DISPATCH_SMTP_HOST", "127.0.0.1", text, "SMTP listen address")
    port: int = setting("DISPATCH_SMTP_PORT", 2525, port, "SMTP port (`0`: any free port)")
    hostname: str = setting(
        "DISPATCH_SMTP_HOSTNAME", "dispatch.localhost", text, "the name the SMTP greeting gives"
    )
    max_connections: int = setting(
        "DISPATCH_SMTP_MAX_CONNECTIONS",
        500,
        integer(low=1, high=100_000),
        "open SMTP connections in all; more are answered `421 4.7.0` and closed",
    )
    max_connections_per_client: int = setting(
        "DISPATCH_SMTP_MAX_CONNECTIONS_PER_CLIENT",
        50,
        integer(low=1, high=100_000),
        "open SMTP connections from one IP address; more are answered `421 4.7.0` and closed",
    )
    max_commands: int = setting(
        "DISPATCH_SMTP_MAX_COMMANDS",
        1000,
        integer(low=10),
        "command lines per SMTP connection; the next one is answered `421 4.7.0` and closed",
    )
    max_buffered_bytes: int = setting(
        "DISPATCH_SMTP_MAX_BUFFERED_BYTES",
        256 * 1024 * 1024,
        integer(low=1024),
        "mail held in memory by all SMTP `DATA` phases together (at least "
        "`DISPATCH_MAX_MESSAGE_BYTES`); beyond it `DATA` gets `452 4.3.1`, or `421 4.3.1` and "
        "a close mid-transfer",
    )
    idle_timeout_seconds: float = setting(
        "DISPATCH_SMTP_IDLE_TIMEOUT_SECONDS",
        300.0,
        number(low=1, high=3600),
        "an SMTP connection is closed after this long without a command; the whole `DATA` "
        "transfer must fit in it too",
    )
    session_timeout_seconds: float = setting(
        "DISPATCH_SMTP_SESSION_TIMEOUT_SECONDS",
        1800.0,
        number(low=1, high=86400),
        "an SMTP connection is answered `421 4.4.2` and closed after this long, busy or not",
    )
    tls_cert: str | None = setting(
        "DISPATCH_SMTP_TLS_CERT",
        None,
        readable_file,
        "PEM certificate chain file: with `DISPATCH_SMTP_TLS_KEY`, `STARTTLS` is offered; "
        "both files are re-read when they change",
        shown_default="unset",
    )
    tls_key: str | None = setting(
        "DISPATCH_SMTP_TLS_KEY",
        None,
        readable_file,
        "PEM private key file of `DISPATCH_SMTP_TLS_CERT`",
        shown_default="unset",
    )
    require_tls: bool = setting(
        "DISPATCH_SMTP_REQUIRE_TLS",
        False,
        boolean,
        "`MAIL`, `RCPT` and `DATA` before `STARTTLS` get `530 5.7.0` (needs a certificate)",
    )


def _host_name(raw: str) -> str:
    """A host name with a dot, in lower case ASCII (what a DNS record can name)."""
    labels = raw.strip().lower().removesuffix(".").split(".")
    if len(labels) < 2 or not all(
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    ):
        raise ValueError("must be a host name with a dot, such as mx.example.com")
    return ".".join(labels)


host_name = Parser(_host_name, "a host name, such as `mx.example.com`")


@attrs.frozen(kw_only=True)
class Inboxes:
    domain: str = setting(
        "DISPATCH_INBOX_DOMAIN",
        "dispatch.localhost",
        lowercase,
        "inbox addresses are `<local_part>@` this domain",
        required_in_production=True,
    )
    enforce_multi_inbox_upgrade: bool = setting(
        "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE",
        False,
        boolean,
        "a second inbox needs the `multi_inbox` plan (`402 upgrade_required`)",
    )
    mx_host: str | None = setting(
        "DISPATCH_DOMAIN_MX_HOST",
        None,
        host_name,
        "the host a custom domain's MX record names (see docs/domains.md): the SMTP door's "
        "public name, or `inbound-smtp.<region>.amazonaws.com` when SES receives the mail",
        shown_default="`DISPATCH_SMTP_HOSTNAME`",
    )
    spf_include: str | None = setting(
        "DISPATCH_DOMAIN_SPF_INCLUDE",
        None,
        host_name,
        "the domain a custom domain's SPF record includes (`include:` it); unset: "
        "`amazonses.com` with the `ses` provider, else the SPF record names the domain's `mx`",
        shown_default="unset",
    )


@attrs.frozen(kw_only=True)
class Inbound:
    token: str | None = setting(
        "DISPATCH_INBOUND_TOKEN",
        None,
        text,
        "enables `POST /v1/webhooks/inbound`; unset, it answers `503`",
        shown_default="unset (`dev` makes one)",
        echo=False,
    )
    max_message_bytes: int = setting(
        "DISPATCH_MAX_MESSAGE_BYTES",
        10 * 1024 * 1024,
        integer(low=1024),
        "larger mail is refused (SMTP `552`, HTTP `413`)",
    )
    max_mime_parts: int = setting(
        "DISPATCH_MAX_MIME_PARTS",
        MAX_PARTS,
        integer(low=1),
        "more MIME parts: refused (`554`/`422`), or stored quarantined if SES took it",
    )
    max_mime_depth: int = setting(
        "DISPATCH_MAX_MIME_DEPTH",
        MAX_DEPTH,
        integer(low=1, high=DEPTH_CEILING),
        "deeper MIME nesting: refused (`554`/`422`), or stored quarantined if SES took it",
    )
    max_recipients: int = setting(
        "DISPATCH_MAX_RECIPIENTS",
        100,
        integer(low=1, high=10_000),
        "recipients per message (SMTP `452` per extra `RCPT`, HTTP `400` naming the field)",
    )
    daily_quota: int = setting(
        "DISPATCH_DAILY_INBOUND_QUOTA",
        5000,
        integer(low=1),
        "messages per workspace per UTC day (SMTP `452`, HTTP `429` beyond)",
    )


def _dns_server(raw: str) -> str:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address, as `host:port`."""
    value = raw.strip()
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("must be host, host:port or [v6]:port")
            port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ValueError("must be host, host:port or [v6]:port")
    return f"[{host}]:{int(port)}" if ":" in host else f"{host}:{int(port)}"


def dns_address(server: str) -> tuple[str, int]:
    """The (host, port) of a DISPATCH_DNS_SERVER value as `_dns_server` wrote it."""
    host, _, port = server.rpartition(":")
    return host.strip("[]"), int(port)


@attrs.frozen(kw_only=True)
class InboundAuth:
    verify: bool = setting(
        "DISPATCH_VERIFY_INBOUND_AUTH",
        True,
        boolean,
        "mail through the SMTP door gets its SPF, DKIM and DMARC checked, shown on the message "
        "and used for its folder (see docs/authentication.md); `false`: not checked",
    )
    dns_server: str | None = setting(
        "DISPATCH_DNS_SERVER",
        None,
        Parser(_dns_server, "`host`, `host:port` or `[v6]:port`"),
        "the one DNS server those checks ask (a local caching resolver is best); unset: the "
        "system's resolvers (`/etc/resolv.conf`)",
        shown_default="unset",
    )
    dns_timeout_seconds: float = setting(
        "DISPATCH_DNS_TIMEOUT_SECONDS",
        2.0,
        number(low=0.05, high=60),
        "the longest one DNS query of the checks may take; then it is a temporary error",
    )
    timeout_seconds: float = setting(
        "DISPATCH_AUTH_TIMEOUT_SECONDS",
        8.0,
        number(low=0.1, high=300),
        "all the checks of one message together, from its end of `DATA`; what is left "
        "unchecked then is `temperror`",
    )
    max_dkim_signatures: int = setting(
        "DISPATCH_DKIM_MAX_SIGNATURES",
        5,
        integer(low=1, high=50),
        "`DKIM-Signature` headers checked per message, from the top; the others are ignored",
    )


@attrs.frozen(kw_only=True)
class Waits:
    max_seconds: float = setting(
        "DISPATCH_WAIT_MAX_SECONDS",
        60.0,
        number(low=0, high=MAX_WAIT_SECONDS),
        "the longest one `/wait` request lasts; longer timeouts are shortened to it",
    )
    lookback_seconds: float = setting(
        "DISPATCH_WAIT_LOOKBACK_SECONDS",
        600.0,
        number(low=0, high=MAX_RETENTION_DAYS * 86400),
        "without `after`/`since`, a wait also matches mail this recent",
    )
    recheck_seconds: float = setting(
        "DISPATCH_WAIT_RECHECK_SECONDS",
        5.0,
        number(low=MIN_WAIT_RECHECK_SECONDS, high=MAX_WAIT_SECONDS),
        "this often the server looks which inboxes waited on got mail, in case a wake-up was "
        "missed",
    )


@attrs.frozen(kw_only=True)
class Events:
    """The event log and its streams."""

    retention_days: int = setting(
        "DISPATCH_EVENT_RETENTION_DAYS",
        7,
        integer(low=1, high=MAX_RETENTION_DAYS),
        "how long events are kept; a stream resumed from before that is `410 events_expired`",
    )
    heartbeat_seconds: float = setting(
        "DISPATCH_EVENT_HEARTBEAT_SECONDS",
        15.0,
        number(low=0.05, high=300.0),
        "a comment line on an idle event stream this often, so proxies keep it open (the log "
        "is read again then too)",
    )


def _schedule(raw: str) -> tuple[float, ...]:
    """Comma-separated seconds, each above 0 and at most a day, one to twenty of them."""
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError("must be comma-separated numbers of seconds") from None
    if not 1 <= len(delays) <= 20 or not all(0 < delay <= 86400 for delay in delays):
        raise ValueError("must be 1 to 20 numbers of seconds, each above 0 and at most 86400")
    return delays


DEFAULT_WEBHOOK_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@attrs.frozen(kw_only=True)
class Webhooks:
    """Webhook endpoints and the sending of their deliveries."""

    allow_loopback: bool = setting(
        "DISPATCH_WEBHOOK_ALLOW_LOOPBACK",
        False,
        boolean,
        "webhook URLs may point at loopback addresses (`127.0.0.0/8`, `::1`; never private "
        "ones), over `http://` too (plain http to loopback only), for local development; "
        "refused when `DISPATCH_ENV=production`; `dispatch-server dev` turns it on",
    )
    deliver_in_api: bool = setting(
        "DISPATCH_WEBHOOK_DELIVER_IN_API",
        False,
        boolean,
        "the API process (`serve`, `dev`) sends webhook deliveries too, not only the worker; "
        "`dispatch-server dev` turns it on",
    )
    timeout_seconds: float = setting(
        "DISPATCH_WEBHOOK_TIMEOUT_SECONDS",
        10.0,
        number(low=0.1, high=60.0),
        "one delivery attempt, from the DNS lookup to the response's last byte read; longer "
        "is a failed attempt",
    )
    retry_schedule: tuple[float, ...] = setting(
        "DISPATCH_WEBHOOK_RETRY_SCHEDULE",
        DEFAULT_WEBHOOK_SCHEDULE,
        Parser(_schedule, "comma-separated seconds"),
        "the waits before each retry of a failed delivery (each varied by up to 10 %); after "
        "the last retry fails the delivery is `failed`",
        shown_default="`5,300,1800,7200,18000,36000,36000` (8 attempts over about 28 hours)",
    )
    disable_after: int = setting(
        "DISPATCH_WEBHOOK_DISABLE_AFTER",
        5,
        integer(low=1, high=10_000),
        "an endpoint whose deliveries failed for good this many times in a row (every retry "
        "used up, no success between) is disabled, with its `disabled_reason`",
    )
    poll_seconds: float = setting(
        "DISPATCH_WEBHOOK_POLL_SECONDS",
        1.0,
        number(low=0.01, high=60.0),
        "how often a sending process looks for deliveries that are due",
    )
    concurrency: int = setting(
        "DISPATCH_WEBHOOK_CONCURRENCY",
        16,
        integer(low=1, high=1000),
        "deliveries one process sends at once",
    )


@attrs.frozen(kw_only=True)
class Outbound:
    provider: str = setting(
        "DISPATCH_OUTBOUND_PROVIDER",
        "local",
        choice("local", "smtp", "ses"),
        "how mail is sent: `local` delivers mail for `DISPATCH_INBOX_DOMAIN` and verified "
        "custom domains straight into their inboxes and only logs the rest; `smtp` relays "
        "through `DISPATCH_SMTP_RELAY_*`; `ses` sends through Amazon SES v2",
    )
    max_recipients: int = setting(
        "DISPATCH_SEND_MAX_RECIPIENTS",
        50,
        integer(low=1, high=1000),
        "`to`, `cc` and `bcc` of one send together (`400` naming the field beyond)",
    )
    max_attachment_bytes: int = setting(
        "DISPATCH_SEND_MAX_ATTACHMENT_BYTES",
        5 * 1024 * 1024,
        integer(low=0, high=1024**3),
        "the decoded attachments of one send together (`413` beyond)",
    )
    daily_sends: int = setting(
        "DISPATCH_DAILY_SEND_QUOTA",
        200,
        integer(low=0),
        "sends per workspace per UTC day on the free plan (`429 quota_exceeded`, `param` "
        "`daily_sends`)",
    )
    daily_sends_paid: int = setting(
        "DISPATCH_DAILY_SEND_QUOTA_PAID",
        10_000,
        integer(low=0),
        "the same on any other plan",
    )
    daily_recipients: int = setting(
        "DISPATCH_DAILY_RECIPIENT_QUOTA",
        100,
        integer(low=0),
        "distinct recipients per workspace per UTC day on the free plan (`429 "
        "quota_exceeded`, `param` `daily_recipients`)",
    )
    daily_recipients_paid: int = setting(
        "DISPATCH_DAILY_RECIPIENT_QUOTA_PAID",
        5_000,
        integer(low=0),
        "the same on any other plan",
    )
    max_attempts: int = setting(
        "DISPATCH_SEND_MAX_ATTEMPTS",
        8,
        integer(low=1, high=100),
        "provider calls per send before a transient failure becomes `failed`; the waits "
        "between them double from 2 s, up to 10 minutes",
    )
    smtp_relay_host: str | None = setting(
        "DISPATCH_SMTP_RELAY_HOST",
        None,
        text,
        "the relay of the `smtp` provider (required with it)",
        shown_default="unset",
    )
    smtp_relay_port: int = setting("DISPATCH_SMTP_RELAY_PORT", 587, port, "the relay's port")
    smtp_relay_security: str = setting(
        "DISPATCH_SMTP_RELAY_SECURITY",
        "starttls",
        choice("starttls", "tls", "none"),
        "`starttls` (required, never skipped), `tls` (implicit TLS, port 465 usually) or "
        "`none` (plain text: only for a relay on the same host)",
    )
    smtp_relay_username: str | None = setting(
        "DISPATCH_SMTP_RELAY_USERNAME",
        None,
        text,
        "log in with this user (with `DISPATCH_SMTP_RELAY_PASSWORD`)",
        shown_default="unset",
    )
    smtp_relay_password: str | None = setting(
        "DISPATCH_SMTP_RELAY_PASSWORD",
        None,
        text,
        "the relay user's password",
        shown_default="unset",
        echo=False,
    )
    smtp_relay_ca_file: str | None = setting(
        "DISPATCH_SMTP_RELAY_CA_FILE",
        None,
        readable_file,
        "PEM certificates to trust for the relay, instead of the system's",
        shown_default="unset",
    )
    smtp_relay_timeout_seconds: float = setting(
        "DISPATCH_SMTP_RELAY_TIMEOUT_SECONDS",
        30.0,
        number(low=1, high=600),
        "connecting to the relay and each of its answers",
    )
    ses_region: str | None = setting(
        "DISPATCH_SES_REGION",
        None,
        text,
        "the AWS region of the `ses` provider (required with it); credentials come from the "
        "usual AWS chain (environment, profile, task role)",
        shown_default="unset",
    )
    ses_configuration_set: str | None = setting(
        "DISPATCH_SES_CONFIGURATION_SET",
        None,
        text,
        "the SES configuration set whose event destination is the SNS topic of "
        "`POST /v1/webhooks/sns`",
        shown_default="unset",
    )
    ses_endpoint_url: str | None = setting(
        "DISPATCH_SES_ENDPOINT_URL",
        None,
        text,
        "another SES endpoint (a VPC endpoint, or a local test server)",
        shown_default="unset",
    )
    sns_topic_arns: str | None = setting(
        "DISPATCH_SNS_TOPIC_ARNS",
        None,
        text,
        "comma-separated topic ARNs whose messages `POST /v1/webhooks/sns` accepts; unset, "
        "it answers `503`",
        shown_default="unset",
    )
    sns_account_ids: str | None = setting(
        "DISPATCH_ALLOWED_AWS_ACCOUNT_IDS",
        None,
        text,
        "comma-separated AWS account ids the SNS topics may belong to; unset: the accounts "
        "of `DISPATCH_SNS_TOPIC_ARNS`",
        shown_default="unset",
    )

    @property
    def topic_arns(self) -> tuple[str, ...]:
        return _items(self.sns_topic_arns)

    @property
    def account_ids(self) -> tuple[str, ...]:
        return _items(self.sns_account_ids)

    def daily_limits(self, plan: str) -> tuple[int, int]:
        """(sends, distinct recipients) a workspace on `plan` may use per UTC day."""
        if plan == "free":
            return self.daily_sends, self.daily_recipients
        return self.daily_sends_paid, self.daily_recipients_paid


@attrs.frozen(kw_only=True)
class Worker:
    queue_url: str | None = setting(
        "DISPATCH_SQS_QUEUE_URL",
        None,
        text,
        "the SQS queue S3 notifies of each message SES stores; `dispatch-server worker` reads "
        "it (required by it), `GET /v1/ops/status` shows its depth",
        shown_default="unset",
    )
    dlq_url: str | None = setting(
        "DISPATCH_SQS_DLQ_URL",
        None,
        text,
        "the queue's dead-letter queue, for `GET /v1/ops/status`; unset: the one the queue's "
        "redrive policy names",
        shown_default="unset",
    )
    bucket: str | None = setting(
        "DISPATCH_SES_INBOUND_S3_BUCKET",
        None,
        text,
        "the bucket SES's receipt rule stores mail in (required by `worker`, and by SES "
        "notifications through SNS that point at S3); a notification naming another bucket "
        "is recorded and dropped",
        shown_default="unset",
    )
    aws_region: str | None = setting(
        "DISPATCH_AWS_REGION",
        None,
        text,
        "the region of the inbound queue and bucket; unset: the AWS chain's (`AWS_REGION`, "
        "the profile); credentials come from the usual AWS chain",
        shown_default="unset",
    )
    aws_endpoint_url: str | None = setting(
        "DISPATCH_AWS_ENDPOINT_URL",
        None,
        text,
        "S3 and SQS of the inbound path at another endpoint (a local moto server, see "
        "`dispatch-server local-aws`)",
        shown_default="unset",
    )
    concurrency: int = setting(
        "DISPATCH_WORKER_CONCURRENCY",
        8,
        integer(low=1, high=256),
        "SQS messages one worker process handles at once",
    )
    max_attempts: int = setting(
        "DISPATCH_WORKER_MAX_ATTEMPTS",
        8,
        integer(low=1, high=1000),
        "receives of a message that keeps failing before the worker leaves it to the "
        "dead-letter queue: give the queue's redrive policy the same `maxReceiveCount`",
    )
    retry_seconds: float = setting(
        "DISPATCH_WORKER_RETRY_SECONDS",
        30.0,
        number(low=0, high=MAX_SQS_VISIBILITY_SECONDS),
        "a message whose handling failed comes back after this long, twice as long after each "
        "further failure, up to 12 hours",
    )
    visibility_seconds: int = setting(
        "DISPATCH_WORKER_VISIBILITY_SECONDS",
        300,
        integer(low=1, high=MAX_SQS_VISIBILITY_SECONDS),
        "a received message is hidden from other receivers this long while one worker "
        "handles it; one that dies mid-message (`kill -9`) leaves it to come back after it",
    )
    wait_seconds: int = setting(
        "DISPATCH_WORKER_WAIT_SECONDS",
        20,
        integer(low=0, high=20),
        "how long one SQS receive waits for messages (long polling)",
    )
    heartbeat_seconds: float = setting(
        "DISPATCH_WORKER_HEARTBEAT_SECONDS",
        15.0,
        number(low=0.1, high=3600),
        "each worker writes its heartbeat (`dispatch_worker_heartbeats`) this often",
    )
    purge_seconds: float = setting(
        "DISPATCH_RETENTION_PURGE_SECONDS",
        600.0,
        number(low=1, high=86400),
        "this often each worker deletes mail older than `DISPATCH_MESSAGE_RETENTION_DAYS`, "
        "in transactions of at most 500 rows",
    )
    stale_after_beats: int = setting(
        "DISPATCH_WORKER_STALE_AFTER_BEATS",
        3,
        integer(low=1, high=1000),
        "`GET /v1/ops/status` calls a worker `stale` once its last heartbeat is this many "
        "heartbeat intervals old",
    )

    @property
    def stale_after_seconds(self) -> float:
        return self.heartbeat_seconds * self.stale_after_beats


@attrs.frozen(kw_only=True)
class Ops:
    token: str | None = setting(
        "DISPATCH_OPS_TOKEN",
        None,
        text,
        "enables `GET /v1/ops/status` for callers that send it in `x-dispatch-ops-token`; "
        "unset, it answers `503`",
        shown_default="unset",
        echo=False,
    )
    metrics_enabled: bool = setting(
        "DISPATCH_METRICS_ENABLED",
        False,
        boolean,
        "serve Prometheus metrics: `/metrics` on the API's port, and on "
        "`DISPATCH_WORKER_METRICS_PORT` from each worker; off, `/metrics` is a `404`",
    )
    worker_metrics_port: int = setting(
        "DISPATCH_WORKER_METRICS_PORT",
        9102,
        port,
        "where a worker serves `/metrics` (with `DISPATCH_METRICS_ENABLED`; `0`: any free port)",
    )


def _rate(raw: str) -> Rate | None:
    return None if raw.strip().lower() == "off" else Rate.parse(raw)


rate = Parser(
    _rate,
    "`<requests>/<period>`, the period in seconds or with `s`, `m`, `h`, `d` (`30/1h`), or `off`",
)


def _networks(raw: str) -> tuple[Network, ...]:
    try:
        found = tuple(ipaddress.ip_network(item, strict=False) for item in _items(raw))
    except ValueError:
        found = ()
    if not found:
        raise ValueError("must be IP addresses or networks (CIDR), comma-separated")
    return found


def _redis_url(raw: str) -> str:
    value: str = text(raw)
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


@attrs.frozen(kw_only=True)
class RateLimits:
    """Route rate limits (docs/rate-limits.md): a rate per policy per client address and per
    API key, kept in memory or in Redis."""

    enabled: bool = setting(
        "DISPATCH_RATE_LIMITS",
        True,
        boolean,
        "`false`: no route is rate limited, whatever the rates below say",
    )
    signup_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS",
        Rate(30, 3600),
        rate,
        "signups (`POST /v1/agent/signup`, operator signup), per client address",
    )
    signup_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_SIGNUP_PER_KEY",
        None,
        rate,
        "the same, per API key",
        shown_default="`off`",
    )
    login_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_LOGIN_PER_ADDRESS",
        Rate(10, 60),
        rate,
        "operator logins, per client address",
    )
    login_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_LOGIN_PER_KEY",
        None,
        rate,
        "the same, per API key",
        shown_default="`off`",
    )
    verify_email_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_VERIFY_EMAIL_PER_ADDRESS",
        Rate(10, 600),
        rate,
        "email verification attempts, per client address",
    )
    verify_email_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_VERIFY_EMAIL_PER_KEY",
        None,
        rate,
        "the same, per API key",
        shown_default="`off`",
    )
    claim_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_CLAIM_PER_ADDRESS",
        Rate(20, 3600),
        rate,
        "claim tokens minted and claims made, per client address",
    )
    claim_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_CLAIM_PER_KEY",
        Rate(10, 3600),
        rate,
        "the same, per API key",
    )
    webhook_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_WEBHOOK_PER_ADDRESS",
        Rate(1200, 60),
        rate,
        "calls of `/v1/webhooks/*`, per client address",
    )
    webhook_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_WEBHOOK_PER_KEY",
        None,
        rate,
        "the same, per API key",
        shown_default="`off`",
    )
    billing_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_BILLING_PER_ADDRESS",
        Rate(60, 60),
        rate,
        "calls of the billing routes, per client address",
    )
    billing_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_BILLING_PER_KEY",
        Rate(30, 60),
        rate,
        "the same, per API key",
    )
    domains_per_address: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_DOMAINS_PER_ADDRESS",
        Rate(120, 3600),
        rate,
        "custom domains added and verifies (`POST /v1/domains`, `.../verify`), per client address",
    )
    domains_per_key: Rate | None = setting(
        "DISPATCH_RATE_LIMIT_DOMAINS_PER_KEY",
        Rate(60, 3600),
        rate,
        "the same, per API key",
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "DISPATCH_TRUSTED_PROXIES",
        (),
        Parser(_networks, "IP addresses or CIDR networks, comma-separated"),
        "the reverse proxies (load balancers) in front of the API: only a request from one of "
        "them has its client address read from `X-Forwarded-For` (right to left, past the "
        "listed proxies); anyone else could write any address there",
        shown_default="unset",
    )
    memory_max_clients: int = setting(
        "DISPATCH_RATE_LIMIT_MEMORY_MAX_CLIENTS",
        100_000,
        integer(low=10, high=10_000_000),
        "without Redis, the clients tracked per policy and dimension (about 200 bytes each); "
        "beyond, the longest idle are forgotten",
    )
    redis_url: str | None = setting(
        "DISPATCH_REDIS_URL",
        None,
        Parser(_redis_url, "a `redis://`, `rediss://` or `unix://` URL"),
        "keep the rate-limit counters in this Redis, shared by every API process; unset: in "
        "each process's memory",
        shown_default="unset",
        echo=False,
    )
    redis_key_prefix: str = setting(
        "DISPATCH_REDIS_KEY_PREFIX",
        "dispatch:ratelimit:",
        text,
        "the Redis keys' prefix",
    )
    redis_timeout_seconds: float = setting(
        "DISPATCH_REDIS_TIMEOUT_SECONDS",
        0.5,
        number(low=0.01, high=30),
        "the longest a rate-limit check waits for Redis (connecting, then answering)",
    )
    redis_failure: str = setting(
        "DISPATCH_RATE_LIMIT_REDIS_FAILURE",
        "open",
        choice("open", "closed"),
        "while Redis does not answer: `open` lets rate-limited requests through uncounted, "
        "`closed` answers them `503 rate_limiter_unavailable`; logged once per outage",
    )

    def rates(self, policy: Policy) -> tuple[Rate | None, Rate | None]:
        """`policy`'s (per address, per key) rates; None: not limited that way."""
        if not self.enabled:
            return None, None
        per_address: Rate | None = getattr(self, f"{policy}_per_address")
        per_key: Rate | None = getattr(self, f"{policy}_per_key")
        return per_address, per_key


@attrs.frozen(kw_only=True)
class Operators:
    jwt_secret_key: str | None = setting(
        "JWT_SECRET_KEY",
        None,
        secret(min_chars=32),
        "signs operator session tokens (HS256); unset outside production: a random key per "
        "process, so sessions end when the server restarts",
        required_in_production=True,
        shown_default="unset",
        echo=False,
    )
    jwt_issuer: str = setting(
        "DISPATCH_JWT_ISSUER", "dispatch", text, "the `iss` of operator tokens, checked on use"
    )
    jwt_audience: str = setting(
        "DISPATCH_JWT_AUDIENCE",
        "dispatch-operators",
        text,
        "the `aud` of operator tokens, checked on use",
    )
    jwt_ttl_seconds: int = setting(
        "DISPATCH_JWT_TTL_SECONDS",
        43200,
        integer(low=60, high=30 * 86400),
        "how long an operator token is valid (`exp`); then the operator logs in again",
    )
    argon2_time_cost: int = setting(
        "DISPATCH_ARGON2_TIME_COST",
        3,
        integer(low=1, high=20),
        "Argon2id passes over memory for operator passwords (RFC 9106's second recommendation: 3)",
    )
    argon2_memory_kib: int = setting(
        "DISPATCH_ARGON2_MEMORY_KIB",
        65536,
        integer(low=1024, high=4 * 1024 * 1024),
        "Argon2id memory per password hash, in KiB (RFC 9106: 64 MiB)",
    )
    argon2_parallelism: int = setting(
        "DISPATCH_ARGON2_PARALLELISM",
        4,
        integer(low=1, high=64),
        "Argon2id lanes per password hash (RFC 9106: 4)",
    )
    verification_code_ttl_seconds: int = setting(
        "DISPATCH_VERIFICATION_CODE_TTL_SECONDS",
        900,
        integer(low=60, high=86400),
        "an email verification code expires this long after it is sent",
    )
    verification_max_attempts: int = setting(
        "DISPATCH_VERIFICATION_MAX_ATTEMPTS",
        5,
        integer(low=1, high=100),
        "wrong guesses of one verification code before it is spent (`429 "
        "verification_attempts_exceeded`; signing in again sends none, `POST "
        "/auth/verify-email/resend` does)",
    )
    mail_local_part: str = setting(
        "DISPATCH_AUTH_MAIL_LOCAL_PART",
        "no-reply",
        lowercase,
        "verification and onboarding mail comes from this address at `DISPATCH_INBOX_DOMAIN`, "
        "an inbox of the server's own `system` workspace",
    )
    signup: str = setting(
        "DISPATCH_OPERATOR_SIGNUP",
        "open",
        choice("open", "invite", "closed"),
        "`POST /auth/signup`: `open`; `invite` needs an invite code (`DISPATCH_BETA_INVITE_CODE` "
        "or a managed one); `closed` refuses it (`403 signup_closed`)",
    )
    agent_signup: str = setting(
        "DISPATCH_AGENT_SIGNUP",
        "open",
        choice("open", "invite", "closed"),
        "`POST /v1/agent/signup` likewise: `open`, `invite` (an `invite_code` in the body) or "
        "`closed`",
    )
    beta_invite_code: str | None = setting(
        "DISPATCH_BETA_INVITE_CODE",
        None,
        text,
        "one invite code, from the environment, that any number of signups may use (managed "
        "codes have limits: `POST /auth/beta-codes`)",
        shown_default="unset",
        echo=False,
    )
    admin_emails: str | None = setting(
        "DISPATCH_ADMIN_EMAILS",
        None,
        lowercase,
        "comma-separated operator emails that, once verified, manage invite codes and read "
        "`GET /v1/ops/status` with their token",
        shown_default="unset",
    )
    claim_token_ttl_seconds: int = setting(
        "DISPATCH_CLAIM_TOKEN_TTL_SECONDS",
        900,
        integer(low=30, high=7 * 86400),
        "a claim token (`POST /v1/agent/claim-token`) expires this long after it is minted",
    )

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(_items(self.admin_emails))


def _content_types(raw: str) -> tuple[str, ...]:
    listed = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    unknown = [item for item in listed if item not in KNOWN_TYPES]
    if not listed or unknown:
        raise ValueError(f"must be a comma-separated list of {', '.join(KNOWN_TYPES)}")
    return listed


@attrs.frozen(kw_only=True)
class Assets:
    """Uploaded files of the legacy `/user` and `/file` routes."""

    path: str = setting(
        "DISPATCH_ASSETS_PATH",
        ".dispatch/assets",
        text,
        "the directory uploaded files are kept in, under names the server makes (`dispatch-"
        "server dev` uses `<data dir>/assets`)",
    )
    max_upload_bytes: int = setting(
        "DISPATCH_MAX_UPLOAD_BYTES",
        5 * 1024 * 1024,
        integer(low=1024, high=100 * 1024 * 1024),
        "the largest profile picture taken (`413 file_too_large`)",
    )
    content_types: tuple[str, ...] = setting(
        "DISPATCH_UPLOAD_CONTENT_TYPES",
        KNOWN_TYPES,
        Parser(_content_types, f"a comma-separated list of {', '.join(KNOWN_TYPES)}"),
        "the image types taken, each checked against the bytes' magic numbers "
        "(`415 unsupported_media_type`, `422 file_content_mismatch`)",
        shown_default=f"`{','.join(KNOWN_TYPES)}`",
    )


USDC_DECIMALS = 6


def _usdc(raw: str) -> int:
    """A USDC amount written in dollars (`9`, `9.5`, `0.000001`) as base units (6 decimals)."""
    whole, _, fraction = raw.strip().partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise ValueError("must be a decimal amount like 9.00")
    if len(fraction) > USDC_DECIMALS:
        raise ValueError(f"has more than {USDC_DECIMALS} decimals")
    units: int = int(whole) * 10**USDC_DECIMALS + int(fraction.ljust(USDC_DECIMALS, "0") or 0)
    if not 0 < units <= 10**6 * 10**USDC_DECIMALS:
        raise ValueError("must be above 0 and at most 1000000")
    return units


def _evm_address(raw: str) -> str:
    from dispatch_server.auth.wallets import is_evm_address

    value = raw.strip()
    if not is_evm_address(value):
        raise ValueError("must be a 0x-prefixed 20-byte hex address")
    return value


def _base58_key(raw: str) -> str:
    from dispatch_server.auth.wallets import is_solana_key

    value = raw.strip()
    if not is_solana_key(value):
        raise ValueError("must be a base58 public key (32 bytes)")
    return value


def _secrets_list(raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise ValueError("must hold at least one secret")
    return items


usdc = Parser(_usdc, "a USDC amount in dollars, at most 6 decimals")
evm_address = Parser(_evm_address, "a 0x-prefixed EVM address")
base58_key = Parser(_base58_key, "a base58 Solana public key")
secrets_list = Parser(_secrets_list, "one secret, or several separated by commas")


@attrs.frozen(kw_only=True)
class Billing:
    """Paid inboxes: the catalogue's prices, Stripe, and x402 on EVM and Solana."""

    multi_inbox_price_cents: int = setting(
        "DISPATCH_BILLING_MULTI_INBOX_PRICE_CENTS",
        900,
        integer(low=50, high=10_000_000),
        "the card price of the `multi_inbox` product, in cents of `DISPATCH_BILLING_CURRENCY`; "
        "a Stripe payment below it grants nothing",
    )
    currency: str = setting(
        "DISPATCH_BILLING_CURRENCY", "usd", lowercase, "the ISO currency of card prices"
    )
    multi_inbox_usdc: int = setting(
        "DISPATCH_BILLING_MULTI_INBOX_USDC",
        9_000_000,
        usdc,
        "the on-chain price of the `multi_inbox` product, in USDC",
        shown_default="`9.00`",
    )
    stripe_secret_key: str | None = setting(
        "STRIPE_SECRET_KEY",
        None,
        text,
        "Stripe's secret API key, for checkout sessions (`sk_live_...` or `sk_test_...`)",
        echo=False,
    )
    stripe_webhook_secret: tuple[str, ...] = setting(
        "STRIPE_WEBHOOK_SECRET",
        (),
        secrets_list,
        "the webhook endpoint's signing secret (`whsec_...`); several, comma-separated, while "
        "one is rotated",
        shown_default="unset",
        echo=False,
    )
    stripe_webhook_tolerance_seconds: int = setting(
        "DISPATCH_STRIPE_WEBHOOK_TOLERANCE_SECONDS",
        300,
        integer(low=1, high=86400),
        "how old a `Stripe-Signature` timestamp may be (Stripe's libraries: 300)",
    )
    stripe_api_base: str | None = setting(
        "STRIPE_API_BASE",
        None,
        text,
        "where the Stripe API is reached; unset: `https://api.stripe.com` (set it for a proxy "
        "or a local server speaking Stripe's format)",
    )
    stripe_price_multi_inbox: str | None = setting(
        "STRIPE_PRICE_MULTI_INBOX",
        None,
        text,
        "a Stripe Price id for `multi_inbox`; unset: the session carries the price inline "
        "(`price_data`)",
    )
    checkout_success_url: str = setting(
        "DISPATCH_BILLING_SUCCESS_URL",
        "http://127.0.0.1:8000/console?checkout=success",
        text,
        "where Stripe sends the buyer after paying",
    )
    checkout_cancel_url: str = setting(
        "DISPATCH_BILLING_CANCEL_URL",
        "http://127.0.0.1:8000/console?checkout=cancelled",
        text,
        "where Stripe sends the buyer who gives up",
    )
    quote_ttl_seconds: int = setting(
        "DISPATCH_X402_QUOTE_TTL_SECONDS",
        900,
        integer(low=60, high=86400),
        "how long an x402 quote can be paid: its transaction must be in a block before then",
    )
    evm_rpc_url: str | None = setting(
        "DISPATCH_X402_EVM_RPC_URL",
        None,
        text,
        "the EVM chain's JSON-RPC endpoint the server verifies payments with; unset: no EVM "
        "payments",
    )
    evm_public_rpc_url: str | None = setting(
        "DISPATCH_X402_EVM_PUBLIC_RPC_URL",
        None,
        text,
        "the RPC endpoint quotes tell payers to use; unset: `DISPATCH_X402_EVM_RPC_URL`",
    )
    evm_network: str = setting(
        "DISPATCH_X402_EVM_NETWORK",
        "base-sepolia",
        text,
        "the x402 network name of the EVM chain (`base`, `base-sepolia`, ...)",
    )
    evm_chain_id: int = setting(
        "DISPATCH_X402_EVM_CHAIN_ID",
        84532,
        integer(low=1),
        "the EVM chain id (Base: 8453; Base Sepolia: 84532); checked against the RPC's",
    )
    evm_token: str | None = setting(
        "DISPATCH_X402_EVM_TOKEN",
        None,
        evm_address,
        "the USDC (ERC-20, 6 decimals) contract payments must use",
    )
    evm_recipient: str | None = setting(
        "DISPATCH_X402_EVM_RECIPIENT",
        None,
        evm_address,
        "the address EVM payments go to",
    )
    evm_confirmations: int = setting(
        "DISPATCH_X402_EVM_CONFIRMATIONS",
        3,
        integer(low=1, high=1000),
        "blocks a payment's block needs on top of it, itself included, to count",
    )
    solana_rpc_url: str | None = setting(
        "DISPATCH_X402_SOLANA_RPC_URL",
        None,
        text,
        "the Solana JSON-RPC endpoint the server verifies payments with; unset: no Solana payments",
    )
    solana_public_rpc_url: str | None = setting(
        "DISPATCH_X402_SOLANA_PUBLIC_RPC_URL",
        None,
        text,
        "the RPC endpoint quotes tell payers to use; unset: `DISPATCH_X402_SOLANA_RPC_URL`",
    )
    solana_network: str = setting(
        "DISPATCH_X402_SOLANA_NETWORK",
        "solana-devnet",
        text,
        "the x402 network name of the Solana cluster (`solana`, `solana-devnet`)",
    )
    solana_mint: str | None = setting(
        "DISPATCH_X402_SOLANA_MINT",
        None,
        base58_key,
        "the USDC mint Solana payments must use",
    )
    solana_recipient: str | None = setting(
        "DISPATCH_X402_SOLANA_RECIPIENT",
        None,
        base58_key,
        "the wallet (token owner) Solana payments go to",
    )

    @property
    def evm_enabled(self) -> bool:
        return bool(self.evm_rpc_url and self.evm_token and self.evm_recipient)

    @property
    def solana_enabled(self) -> bool:
        return bool(self.solana_rpc_url and self.solana_mint and self.solana_recipient)


@attrs.frozen(kw_only=True)
class Settings:
    """The server's configuration, read once from the environment by `from_env`."""

    runtime: Runtime = attrs.field(factory=Runtime)
    storage: Storage = attrs.field(factory=Storage)
    http: Http = attrs.field(factory=Http)
    smtp: Smtp = attrs.field(factory=Smtp)
    inboxes: Inboxes = attrs.field(factory=Inboxes)
    inbound: Inbound = attrs.field(factory=Inbound)
    inbound_auth: InboundAuth = attrs.field(factory=InboundAuth)
    waits: Waits = attrs.field(factory=Waits)
    events: Events = attrs.field(factory=Events)
    webhooks: Webhooks = attrs.field(factory=Webhooks)
    outbound: Outbound = attrs.field(factory=Outbound)
    worker: Worker = attrs.field(factory=Worker)
    ops: Ops = attrs.field(factory=Ops)
    rate_limits: RateLimits = attrs.field(factory=RateLimits)
    operators: Operators = attrs.field(factory=Operators)
    assets: Assets = attrs.field(factory=Assets)
    billing: Billing = attrs.field(factory=Billing)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting; one ConfigError names every bad or missing variable."""
        env = os.environ if environ is None else environ
        errors: list[str] = []
        groups = {group.name: _read_group(group.type, env, errors) for group in attrs.fields(cls)}
        settings = cls(**groups)
        if not errors:
            errors.extend(_conflicts(settings))
        if not errors and settings.runtime.is_production:
            missing = [
                s.env for s in declarations() if s.required_in_production and not env.get(s.env)
            ]
            if missing:
                errors.append(
                    "production mode needs these environment variables: " + ", ".join(missing)
                )
        if errors:
            raise ConfigError("; ".join(errors))
        return settings


attrs.resolve_types(Settings)
GROUPS: tuple[type[Any], ...] = tuple(group.type for group in attrs.fields(Settings) if group.type)


def _items(listed: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (listed or "").split(",") if item.strip())


def _conflicts(settings: Settings) -> list[str]:
    """Settings that are each valid but together do not make sense."""
    smtp, found = settings.smtp, []
    if (smtp.tls_cert is None) != (smtp.tls_key is None):
        found.append("DISPATCH_SMTP_TLS_CERT and DISPATCH_SMTP_TLS_KEY go together")
    if smtp.require_tls and smtp.tls_cert is None:
        found.append("DISPATCH_SMTP_REQUIRE_TLS needs DISPATCH_SMTP_TLS_CERT and _KEY")
    if smtp.max_buffered_bytes < settings.inbound.max_message_bytes:
        found.append("DISPATCH_SMTP_MAX_BUFFERED_BYTES must be at least DISPATCH_MAX_MESSAGE_BYTES")
    outbound = settings.outbound
    if outbound.provider == "smtp" and not outbound.smtp_relay_host:
        found.append("DISPATCH_OUTBOUND_PROVIDER=smtp needs DISPATCH_SMTP_RELAY_HOST")
    if outbound.provider == "ses" and not outbound.ses_region:
        found.append("DISPATCH_OUTBOUND_PROVIDER=ses needs DISPATCH_SES_REGION")
    # The SNS door's own rules, so what starts is what it accepts (imported here: that module
    # comes with the cryptography it verifies by).
    from dispatch_server.outbound.feedback.sns import is_account_id, parse_topic_arn

    bad_arns = [arn for arn in outbound.topic_arns if parse_topic_arn(arn) is None]
    if bad_arns:
        found.append(f"DISPATCH_SNS_TOPIC_ARNS: {', '.join(bad_arns)} is no SNS topic ARN")
    if not all(is_account_id(account) for account in outbound.account_ids):
        found.append("DISPATCH_ALLOWED_AWS_ACCOUNT_IDS must be 12-digit AWS account ids")
    if (outbound.smtp_relay_username is None) != (outbound.smtp_relay_password is None):
        found.append("DISPATCH_SMTP_RELAY_USERNAME and _PASSWORD go together")
    billing = settings.billing
    evm = (billing.evm_rpc_url, billing.evm_token, billing.evm_recipient)
    if any(evm) and not all(evm):
        found.append(
            "DISPATCH_X402_EVM_RPC_URL, DISPATCH_X402_EVM_TOKEN and DISPATCH_X402_EVM_RECIPIENT "
            "go together"
        )
    solana = (billing.solana_rpc_url, billing.solana_mint, billing.solana_recipient)
    if any(solana) and not all(solana):
        found.append(
            "DISPATCH_X402_SOLANA_RPC_URL, DISPATCH_X402_SOLANA_MINT and "
            "DISPATCH_X402_SOLANA_RECIPIENT go together"
        )
    worker = settings.worker
    if worker.dlq_url and not worker.queue_url:
        found.append("DISPATCH_SQS_DLQ_URL needs DISPATCH_SQS_QUEUE_URL")
    if settings.webhooks.allow_loopback and settings.runtime.is_production:
        found.append(
            "DISPATCH_WEBHOOK_ALLOW_LOOPBACK is for local development, not DISPATCH_ENV=production"
        )
    return found


def _read_group(group: Any, env: Mapping[str, str], errors: list[str]) -> Any:
    values: dict[str, Any] = {}
    for field in attrs.fields(group):
        spec = declared(field)
        raw = env.get(spec.env)
        if not raw:
            continue  # unset or empty: the default
        try:
            values[field.name] = spec.parse(raw)
        except ValueError as exc:
            errors.append(f"{spec.env} {exc}" + (f", not {raw!r}" if spec.echo else ""))
    return group(**values)


def declarations() -> list[Setting]:
    """Every declared setting, in order: for the docs, and the production check."""
    return [declared(field) for group in GROUPS for field in attrs.fields(group)]
