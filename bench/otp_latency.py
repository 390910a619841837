"""SMTP -> wait_for_otp latency against a `dispatch-server dev` subprocess.

    python -m bench.otp_latency [--rounds 200]

For each round an SDK client is already blocked in `wait_for_otp` (a server-side wait); the
bench then sends one mail over a kept-open SMTP connection and records:
  after 250   = time wait_for_otp returned - time the client read the SMTP 250
                (negative when the code reached the waiter before the 250 reached the sender)
  from DATA   = time wait_for_otp returned - time the client started sending the message
Target (2 cores): wait_for_otp returns <= 10 ms p50 after the SMTP 250.
"""

from __future__ import annotations

import argparse
import smtplib
import threading
import time
from datetime import UTC, datetime

from bench.common import otp_mail, percentile, start_dev_server
from dispatch_client import Dispatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    server = start_dev_server()
    after_250: list[float] = []
    from_data: list[float] = []
    try:
        with Dispatch(api_key=server.account_key, base_url=server.base_url) as d:
            inbox = d.inboxes.create()
            d.otp.latest(inbox.id)  # mints and caches the inbox key before timing starts
            smtp = smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30)
            for round_no in range(args.rounds):
                code = f"{200000 + round_no}"
                since = datetime.now(UTC)
                got: dict[str, object] = {}

                def wait(since: datetime = since, got: dict[str, object] = got) -> None:
                    got["code"] = d.otp.wait_for_otp(inbox.id, timeout=10, since=since)
                    got["at"] = time.perf_counter()

                waiter = threading.Thread(target=wait)
                waiter.start()
                time.sleep(0.02)  # let the wait request reach the server and subscribe
                raw = otp_mail(inbox.address, code, round_no)
                sent_at = time.perf_counter()
                smtp.sendmail("no-reply@acme.test", [inbox.address], raw)
                replied_at = time.perf_counter()
                waiter.join()
                assert got["code"] == code, (got, code)
                returned_at = float(got["at"])  # type: ignore[arg-type]
                after_250.append((returned_at - replied_at) * 1000)
                from_data.append((returned_at - sent_at) * 1000)
            smtp.quit()
    finally:
        server.stop()
    for name, values in (("after 250", after_250), ("from DATA", from_data)):
        print(
            f"wait_for_otp {name}: p50 {percentile(values, 50):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms, max {max(values):.2f} ms "
            f"({len(values)} rounds)"
        )


if __name__ == "__main__":
    main()
