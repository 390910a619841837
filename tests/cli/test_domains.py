"""`dispatch domains ...`: a domain added, its records shown, published (in the tests' DNS
server), verified, an inbox created at it, and removing it refused while that inbox is."""

from __future__ import annotations

import secrets

from tests.cli.conftest import Shell
from tests.dns_server import shared_dns


def test_domains_add_show_verify_list_remove(shell: Shell) -> None:
    shell.run("signup").json()
    name = f"cli-{secrets.token_hex(4)}.example.com"
    added = shell.run("domains", "add", name.upper()).json()
    assert added["name"] == name and added["status"] == "pending"
    table = shell.run("domains", "show", added["id"], "--output", "table")
    assert table.status == 0 and f"_dispatch.{name}" in table.stdout and "MX" in table.stdout
    pending = shell.run("inbox", "create", "--local-part", "bot", "--domain", name)
    assert pending.status != 0 and "domain_not_verified" in pending.stderr
    dns = shared_dns()
    for record in added["records"]:
        if record["type"] == "MX":
            dns.add(record["name"], "MX", f"{record['priority']} {record['value']}.")
        elif record["purpose"] == "ownership":
            dns.add_txt(record["name"], record["value"])
    verified = shell.run("domains", "verify", added["id"]).json()
    assert verified["status"] == "verified" and not verified["sending_ready"]
    assert [d["id"] for d in shell.run("domains", "list").json()] == [added["id"]]
    inbox = shell.run("inbox", "create", "--local-part", "bot", "--domain", name).json()
    assert inbox["address"] == f"bot@{name}"
    refused = shell.run("domains", "remove", added["id"])
    assert refused.status != 0 and "domain_in_use" in refused.stderr
    bad = shell.run("domains", "add", "10.0.0.1")
    assert bad.status != 0 and "name" in bad.stderr
