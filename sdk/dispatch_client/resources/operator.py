"""The operator resource: an operator's account (signup, login, email verification) and the
agents they claim (`claim`, `agents`, `switch`). Operator calls carry the operator's token
(a JWT), kept by this client from signup or login; the client's API key is not used."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._core import (
    Call,
    Credentials,
    Request,
    body,
    checked,
    clean_key,
    decoded,
    field,
    http,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.types._decode import decode
from dispatch_client.types.operator import Claim, ClaimedAgent, OperatorSession


def _session(credentials: Credentials, request: Request) -> Call[OperatorSession]:
    session = decoded(checked((yield from http(request))), OperatorSession)
    credentials.operator_token = clean_key(session.access_token, "the operator token")
    return session


def _signup(
    credentials: Credentials, *, email: str, password: str, invite_code: str | None
) -> Call[OperatorSession]:
    payload = body(email=email, password=password, invite_code=invite_code)
    request = Request(method="POST", path="/auth/signup", json=payload)
    return (yield from _session(credentials, request))


def _login(credentials: Credentials, *, email: str, password: str) -> Call[OperatorSession]:
    request = Request(
        method="POST", path="/auth/login", json={"email": email, "password": password}
    )
    return (yield from _session(credentials, request))


def _verify_email(credentials: Credentials, *, code: str) -> Call[OperatorSession]:
    request = Request(
        method="POST",
        path="/auth/verify-email",
        json={"code": code},
        api_key=credentials.require_operator(),
    )
    return (yield from _session(credentials, request))


def _resend(credentials: Credentials) -> Call[OperatorSession]:
    request = Request(
        method="POST", path="/auth/verify-email/resend", api_key=credentials.require_operator()
    )
    return (yield from _session(credentials, request))


def _claim(
    credentials: Credentials,
    *,
    claim_email: str | None,
    claim_token: str | None,
    api_key: str | None,
    wallet_signature: str | None,
) -> Call[Claim]:
    payload = body(
        claim_email=claim_email,
        claim_token=claim_token,
        api_key=api_key,
        wallet_signature=wallet_signature,
    )
    request = Request(
        method="POST",
        path="/v1/agent/claim",
        json=payload,
        api_key=credentials.require_operator(),
    )
    return decoded(checked((yield from http(request))), Claim)


def _agents(credentials: Credentials) -> Call[tuple[ClaimedAgent, ...]]:
    request = Request(
        method="GET", path="/v1/operator/agents", api_key=credentials.require_operator()
    )
    data = field(checked((yield from http(request))), "data")
    return decode(data, tuple[ClaimedAgent, ...])


def _switch(credentials: Credentials, *, agent_id: str) -> Call[ClaimedAgent]:
    request = Request(
        method="POST",
        path="/v1/operator/active-agent",
        json={"agent_id": agent_id},
        api_key=credentials.require_operator(),
    )
    return decoded(checked((yield from http(request))), ClaimedAgent)


class OperatorResource(SyncResource):
    """An operator's account and claimed agents: `d.operator.login(...)`."""

    def signup(
        self,
        email: str,
        password: str,
        invite_code: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Create an operator account; the verification code is mailed to `email`.

        Afterwards this client acts as the operator (it keeps the session's token for the
        operator calls; its API key, if any, is unchanged). Signing up does not wait for the
        mail: `verification_sent` says whether it was handed to the mail provider.

        Args:
            email: The operator's email (ASCII; an internationalised domain as xn--).
            password: 10 to 1024 characters.
            invite_code: Needed while the server's signup is invite-only.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The session: its token, and the account (email_verified false).

        Raises:
            ConflictError: the email has an account.
            PermissionDeniedError: signup is closed, or the invite code is not valid.
            BadRequestError: a malformed email or password (see `.param`).
        """
        return self._run(
            _signup(self._credentials, email=email, password=password, invite_code=invite_code),
            options,
        )

    def login(
        self,
        email: str,
        password: str,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Log in as an operator; this client then acts as the operator.

        An operator whose email is not verified logs in too: `operator.email_verified` says so.

        Args:
            email: The operator's email.
            password: The password.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The session: its token and the account.

        Raises:
            AuthenticationError: the email or the password is wrong (one error for both).
        """
        return self._run(_login(self._credentials, email=email, password=password), options)

    def verify_email(
        self,
        code: str,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Verify the operator's email with the code mailed at signup.

        In development the code lands in a Dispatch inbox: read it with
        `d.otp.wait_for_otp(inbox_id)` when the operator's email is that inbox's address.

        Args:
            code: The code from the mail.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            A fresh session, with email_verified true.

        Raises:
            BadRequestError: the code is wrong, expired or used (`.code` says which).
            RateLimitError: too many wrong codes; ask for another with resend_verification.
            AuthenticationError: no valid operator token (log in first).
        """
        return self._run(_verify_email(self._credentials, code=code), options)

    def resend_verification(
        self,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Mail a new verification code; the earlier ones stop working.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            A fresh session; `verification_sent` says whether the mail went out (None when
            the email is verified already and nothing was sent).

        Raises:
            AuthenticationError: no valid operator token (log in first).
        """
        return self._run(_resend(self._credentials), options)

    def claim(
        self,
        claim_email: str | None = None,
        claim_token: str | None = None,
        api_key: str | None = None,
        wallet_signature: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Claim:
        """Claim an agent for the operator: with its claim token, or with one of its API keys.

        The claim mints a fresh account key and inbox key owned by the operator. The agent's
        own keys keep working; revoke them with the fresh account key if the runtime must stop.

        Args:
            claim_email: The address of the inbox the token was minted for (ClaimToken's).
            claim_token: The token from the agent's `agent.claim_token()`.
            api_key: Instead of a token: an account or inbox key of the agent.
            wallet_signature: For a wallet-bound token: the wallet's signature of its
                `wallet_message` (EVM: 0x-hex personal_sign; Solana: base58).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The agent claimed, with the fresh keys (shown once).

        Raises:
            BadRequestError: the token or key is not valid, the address is not the token's,
                or the wallet signature is wrong (`.code` and `.param` say which).
            ConflictError: the agent was claimed already, or the token was used.
            AuthenticationError: no valid operator token (log in first).
        """
        return self._run(
            _claim(
                self._credentials,
                claim_email=claim_email,
                claim_token=claim_token,
                api_key=api_key,
                wallet_signature=wallet_signature,
            ),
            options,
        )

    def agents(
        self,
        **options: Unpack[RequestOptions],
    ) -> tuple[ClaimedAgent, ...]:
        """The agents the operator claimed, the first claimed first.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The agents; `active` marks the one the operator acts for.

        Raises:
            AuthenticationError: no valid operator token (log in first).
        """
        return self._run(_agents(self._credentials), options)

    def switch(
        self,
        agent_id: str,
        **options: Unpack[RequestOptions],
    ) -> ClaimedAgent:
        """Switch the agent the operator acts for.

        Args:
            agent_id: One of the operator's agents.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The agent, now active.

        Raises:
            NotFoundError: not an agent of this operator.
            AuthenticationError: no valid operator token (log in first).
        """
        return self._run(_switch(self._credentials, agent_id=agent_id), options)

    @property
    def token(self) -> str | None:
        """The operator token this client acts with (from signup or login); assign a token
        you kept (an OperatorSession's access_token) to act as its operator."""
        return self._credentials.operator_token

    @token.setter
    def token(self, token: str | None) -> None:
        self._credentials.operator_token = (
            None if token is None else clean_key(token, "the operator token")
        )


class AsyncOperatorResource(AsyncResource):
    """An operator's account and claimed agents: `await d.operator.login(...)`."""

    async def signup(
        self,
        email: str,
        password: str,
        invite_code: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Create an operator account; the verification code is mailed to `email`.

        Afterwards this client acts as the operator (it keeps the session's token for the
        operator calls; its API key, if any, is unchanged). Signing up does not wait for the
        mail: `verification_sent` says whether it was handed to the mail provider.

        Args:
            email: The operator's email (ASCII; an internationalised domain as xn--).
            password: 10 to 1024 characters.
            invite_code: Needed while the server's signup is invite-only.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The session: its token, and the account (email_verified false).

        Raises:
            ConflictError: the email has an account.
            PermissionDeniedError: signup is closed, or the invite code is not valid.
            BadRequestError: a malformed email or password (see `.param`).
        """
        return await self._run(
            _signup(self._credentials, email=email, password=password, invite_code=invite_code),
            options,
        )

    async def login(
        self,
        email: str,
        password: str,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Log in as an operator; this client then acts as the operator.

        An operator whose email is not verified logs in too: `operator.email_verified` says so.

        Args:
            email: The operator's email.
            password: The password.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The session: its token and the account.

        Raises:
            AuthenticationError: the email or the password is wrong (one error for both).
        """
        return await self._run(_login(self._credentials, email=email, password=password), options)

    async def verify_email(
        self,
        code: str,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Verify the operator's email with the code mailed at signup.

        In development the code lands in a Dispatch inbox: read it with
        `d.otp.wait_for_otp(inbox_id)` when the operator's email is that inbox's address.

        Args:
            code: The code from the mail.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            A fresh session, with email_verified true.

        Raises:
            BadRequestError: the code is wrong, expired or used (`.code` says which).
            RateLimitError: too many wrong codes; ask for another with resend_verification.
            AuthenticationError: no valid operator token (log in first).
        """
        return await self._run(_verify_email(self._credentials, code=code), options)

    async def resend_verification(
        self,
        **options: Unpack[RequestOptions],
    ) -> OperatorSession:
        """Mail a new verification code; the earlier ones stop working.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            A fresh session; `verification_sent` says whether the mail went out (None when
            the email is verified already and nothing was sent).

        Raises:
            AuthenticationError: no valid operator token (log in first).
        """
        return await self._run(_resend(self._credentials), options)

    async def claim(
        self,
        claim_email: str | None = None,
        claim_token: str | None = None,
        api_key: str | None = None,
        wallet_signature: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Claim:
        """Claim an agent for the operator: with its claim token, or with one of its API keys.

        The claim mints a fresh account key and inbox key owned by the operator. The agent's
        own keys keep working; revoke them with the fresh account key if the runtime must stop.

        Args:
            claim_email: The address of the inbox the token was minted for (ClaimToken's).
            claim_token: The token from the agent's `agent.claim_token()`.
            api_key: Instead of a token: an account or inbox key of the agent.
            wallet_signature: For a wallet-bound token: the wallet's signature of its
                `wallet_message` (EVM: 0x-hex personal_sign; Solana: base58).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The agent claimed, with the fresh keys (shown once).

        Raises:
            BadRequestError: the token or key is not valid, the address is not the token's,
                or the wallet signature is wrong (`.code` and `.param` say which).
            ConflictError: the agent was claimed already, or the token was used.
            AuthenticationError: no valid operator token (log in first).
        """
        return await self._run(
            _claim(
                self._credentials,
                claim_email=claim_email,
                claim_token=claim_token,
                api_key=api_key,
                wallet_signature=wallet_signature,
            ),
            options,
        )

    async def agents(
        self,
        **options: Unpack[RequestOptions],
    ) -> tuple[ClaimedAgent, ...]:
        """The agents the operator claimed, the first claimed first.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The agents; `active` marks the one the operator acts for.

        Raises:
            AuthenticationError: no valid operator token (log in first).
        """
        return await self._run(_agents(self._credentials), options)

    async def switch(
        self,
        agent_id: str,
        **options: Unpack[RequestOptions],
    ) -> ClaimedAgent:
        """Switch the agent the operator acts for.

        Args:
            agent_id: One of the operator's agents.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The agent, now active.

        Raises:
            NotFoundError: not an agent of this operator.
            AuthenticationError: no valid operator token (log in first).
        """
        return await self._run(_switch(self._credentials, agent_id=agent_id), options)

    @property
    def token(self) -> str | None:
        """The operator token this client acts with (from signup or login); assign a token
        you kept (an OperatorSession's access_token) to act as its operator."""
        return self._credentials.operator_token

    @token.setter
    def token(self, token: str | None) -> None:
        self._credentials.operator_token = (
            None if token is None else clean_key(token, "the operator token")
        )
