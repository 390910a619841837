"""An agent signs up somewhere by mail, reads the verification code, and confirms by replying.

"The service" is played by a second inbox on the same dev server, in a workspace of its own:
it waits for the agent's sign-up mail, answers with a code, and checks the code the agent
sends back. The agent's side is what you would write against a real service.

Run `make dev` first, export the two variables it prints, then:

    python -m examples.agent_signup_reply
"""

from __future__ import annotations

import secrets
import threading

from dispatch_client import Dispatch


class Service:
    """A service that signs people up by mail: a code for each request, confirmed by reply."""

    def __init__(self, base_url: str) -> None:
        self.client = Dispatch(base_url=base_url)
        self.inbox = self.client.agent.signup(name="acme-signups").inbox  # its own workspace
        self.code = f"{secrets.randbelow(10**6):06d}"
        self.confirmed: str | None = None  # who confirmed, once someone did

    def run(self) -> None:
        d, inbox = self.client, self.inbox
        request = d.messages.wait_for_message(inbox.id, timeout=30, subject="Sign up")
        d.messages.reply(
            inbox.id,
            request.id,
            text=f"Welcome to Acme! Your verification code is {self.code}.\n"
            "Reply to this mail with the code to confirm your address.",
        )
        print(f"service: sent the code {self.code} to {request.from_address}")
        answer = d.messages.wait_for_message(inbox.id, timeout=30, subject="Re:")
        if self.code in (answer.text or ""):
            self.confirmed = answer.from_address


def main() -> None:
    with Dispatch() as d:  # DISPATCH_API_KEY and DISPATCH_BASE_URL from the environment
        service = Service(d.base_url)
        serving = threading.Thread(target=service.run, daemon=True)
        serving.start()

        inbox = d.inboxes.create()
        print(f"agent:   {inbox.address}")
        d.messages.send(
            inbox.id,
            to=service.inbox.address,
            subject="Sign up",
            text="Hello, please create an account for this address.",
        )
        code = d.otp.wait_for_otp(inbox.id, timeout=30, from_=service.inbox.address)
        print(f"code:    {code}")
        mail = d.otp.latest(inbox.id)  # the code with the message it came in
        assert mail is not None and mail.code == code
        reply = d.messages.reply(inbox.id, mail.message_id, text=f"My code is {code}.")
        print(f"replied: {reply.subject!r} ({reply.status})")

        serving.join(timeout=60)
        service.client.close()
        print(f"confirmed: {service.confirmed == inbox.address}")


if __name__ == "__main__":
    main()
