"""Create an inbox, have "a service" mail it a code over SMTP, get the code back in one call.

Run `make dev` first, export the two variables it prints, then:

    python -m examples.otp_roundtrip
"""

from __future__ import annotations

import os
import smtplib
import threading
from email.message import EmailMessage

from dispatch_client import Dispatch

SMTP_HOST = os.environ.get("DISPATCH_SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("DISPATCH_SMTP_PORT", "2525"))


def a_service_sends_a_code(address: str) -> None:
    mail = EmailMessage()
    mail["From"] = "Acme <no-reply@acme.test>"
    mail["To"] = address
    mail["Subject"] = "Your Acme verification code"
    mail.set_content("Your verification code is 482913. It expires in 10 minutes.")
    with smtplib.SMTP(SMTP_HOST, SMTP_PORT) as smtp:
        smtp.send_message(mail)


def main() -> None:
    with Dispatch() as d:  # DISPATCH_API_KEY and DISPATCH_BASE_URL from the environment
        inbox = d.inboxes.create()
        print(f"inbox: {inbox.address}")
        threading.Timer(1.0, a_service_sends_a_code, args=(inbox.address,)).start()
        code = d.otp.wait_for_otp(inbox.id, timeout=30)
        print(f"code:  {code}")


if __name__ == "__main__":
    main()
