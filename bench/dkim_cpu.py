"""CPU time of one fully passing DKIM check of the benchmarks' 4.4 KB verification mail (RSA-2048,
relaxed/relaxed), its key from the resolver's cache as in the SMTP door.

    python -m bench.dkim_cpu [--messages 200] [--passes 7] [--before 3b0ae48]

`--before REV` also times `check_dkim` as it was at REV (its `mail/auth/dkim.py`, and
`dkim_rsa.py` if it had one, taken with `git show`), alternated pass by pass with today's in
the same process; each line is one pass, then the best of each.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.dns_server import LocalDns

from bench.common import SENDER_DOMAIN, sender_records, verification_mail
from dispatch_server.config import Settings
from dispatch_server.mail.auth import InboundAuth
from dispatch_server.mail.auth.dkim import check_dkim
from dispatch_server.mail.auth.resolver import Deadline

AUTH = "server/dispatch_server/mail/auth"


def check_of(rev: str) -> Callable[..., Any]:
    """`check_dkim` as it was at `rev`, imported from a copy of its files."""
    root = Path(__file__).parents[1]
    folder = Path(tempfile.mkdtemp(prefix="dispatch-dkim-"))

    def show(name: str) -> str | None:
        done = subprocess.run(
            ["git", "-C", str(root), "show", f"{rev}:{AUTH}/{name}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None

    source = show("dkim.py")
    if source is None:
        raise SystemExit(f"no {AUTH}/dkim.py at {rev}")
    rsa = show("dkim_rsa.py")
    if rsa is not None:
        (folder / "before_dkim_rsa.py").write_text(rsa)
        source = source.replace(
            "from dispatch_server.mail.auth import dkim_rsa", "import before_dkim_rsa as dkim_rsa"
        )
    (folder / "before_dkim.py").write_text(source)
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("before_dkim", folder / "before_dkim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: Callable[..., Any] = module.check_dkim
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--before", metavar="REV", help="also time check_dkim as it was at REV")
    args = parser.parse_args()
    dns = LocalDns().start()
    for name, text in sender_records().items():
        dns.add_txt(name, text)
    auth = InboundAuth(Settings.from_env({"DISPATCH_DNS_SERVER": dns.address}).inbound_auth)
    mails = [verification_mail(f"user{i}@bench.test", f"{i:06d}", i) for i in range(args.messages)]
    checks: dict[str, Callable[..., Any]] = {}
    if args.before:
        checks[f"at {args.before}"] = check_of(args.before)
    checks["now"] = check_dkim
    for name, check in checks.items():  # fills the cache; every check must pass
        for raw in mails:
            found = check(
                auth.resolver, Deadline(5), raw, max_signatures=5, from_domains=(SENDER_DOMAIN,)
            )
            assert found.result == "pass", (name, found)
    print(f"{len(mails)} messages of {len(mails[0])} bytes, CPU ms per check:")
    best = dict.fromkeys(checks, float("inf"))
    for _ in range(args.passes):
        for name, check in checks.items():
            started = time.process_time()
            for raw in mails:
                deadline = Deadline(5, cached_only=True)
                check(auth.resolver, deadline, raw, max_signatures=5, from_domains=(SENDER_DOMAIN,))
            each = (time.process_time() - started) / len(mails)
            best[name] = min(best[name], each)
            print(f"  {name}: {each * 1e3:.3f}")
    for name, each in best.items():
        print(f"best {name}: {each * 1e3:.3f} ms")
    dns.stop()


if __name__ == "__main__":
    main()
