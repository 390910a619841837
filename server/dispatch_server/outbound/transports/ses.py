"""The `ses` transport: each message goes out in one Amazon SES v2 `SendEmail` call, its
composed bytes as they are (`Content.Raw`), through the configuration set whose events come
back by SNS.

With raw content SES sends to the `Destination` addresses when the call names them, and reads
the To, Cc and Bcc headers only when it does not. Bcc recipients are in no header, so every
envelope recipient goes into `Destination` (all as `ToAddresses`: the headers the recipients
see are the message's own, so the split would change nothing). SES takes at most 50
recipients in one message and rejects the message beyond.

Credentials come from the usual AWS chain (environment, profile, container or instance role).

Which failures are permanent, by the AWS error code:

- the message itself, sending it again cannot help: permanent (the send ends `rejected`).
  `MessageRejected` (its content, too many recipients, and also a sender address SES does
  not accept), `BadRequestException` and AWS's common `InvalidParameterValue` (a malformed
  address), and a request botocore refuses to build;
- the account or its configuration: transient, so the mail waits, through the outbox's
  retries, for an operator to fix it instead of being lost at once.
  `AccountSuspendedException`, `SendingPausedException`, `MailFromDomainNotVerifiedException`,
  `NotFoundException` (the configuration set does not exist), an access denied, no
  credentials, and any code not named here;
- passing: transient. `TooManyRequestsException`, `LimitExceededException`, throttling, any
  5xx, a connection refused or timed out, an answer that does not come in time.

The reason of a failure carries the AWS error code and message.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from dispatch_server.outbound.transports import Accepted, DeliveryFailed, OutgoingMail

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef

    from dispatch_server.config.settings import Outbound

CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 30.0
# The outbox retries with backoff; the client's own retry is only for a blip. Each retry after
# a read timeout may send the message a second time, so there is one at most.
CLIENT_ATTEMPTS = 2

MESSAGE_ERRORS = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})
OUTBOUND_ID_TAG = "dispatch_outbound_id"


class SesTransport:
    """Sends through Amazon SES v2 with one client, opened for the process's life."""

    name = "ses"

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        configuration_set: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": CLIENT_ATTEMPTS},
        )
        # A session of its own: boto3's default session is not safe to share between threads.
        self._client: SESV2Client = boto3.session.Session().client(
            "sesv2", region_name=region, endpoint_url=endpoint_url, config=config
        )
        self.configuration_set = configuration_set

    @classmethod
    def from_settings(cls, outbound: Outbound) -> SesTransport:
        if not outbound.ses_region:
            raise ValueError("the ses provider needs DISPATCH_SES_REGION")
        return cls(
            region=outbound.ses_region,
            endpoint_url=outbound.ses_endpoint_url,
            configuration_set=outbound.ses_configuration_set,
        )

    async def deliver(self, mail: OutgoingMail) -> Accepted:
        request: SendEmailRequestTypeDef = {
            "FromEmailAddress": mail.sender,
            "Destination": {"ToAddresses": list(mail.recipients)},
            "Content": {"Raw": {"Data": mail.raw}},
            # Tag values allow letters, digits, `_` and `-` only: our ids are UUIDs.
            "EmailTags": [{"Name": OUTBOUND_ID_TAG, "Value": mail.outbound_id}],
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            response = await asyncio.to_thread(self._client.send_email, **request)
        except ClientError as exc:
            raise refusal(exc) from exc
        except ParamValidationError as exc:
            raise DeliveryFailed(f"SES request not built: {exc}", permanent=True) from exc
        except BotoCoreError as exc:  # no connection, a timeout, no credentials
            raise DeliveryFailed(f"SES call failed: {exc}", permanent=False) from exc
        return Accepted(provider_message_id=response["MessageId"])

    async def close(self) -> None:
        self._client.close()


def refusal(exc: ClientError) -> DeliveryFailed:
    """The DeliveryFailed of an error SES answered."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "unknown")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    reason = f"SES {code} (HTTP {status}): {error.get('Message', '')}"
    return DeliveryFailed(reason, permanent=code in MESSAGE_ERRORS and status < 500)
