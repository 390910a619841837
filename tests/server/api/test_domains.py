"""Custom domains over real HTTP, SMTP and DNS (the tests' own server) on both databases: the
routes and who may use them, bad input named by field, the records checked (found, missing,
a timeout), inboxes refused until the domain is verified and by other workspaces always, mail
to a custom-domain inbox taken by the SMTP and webhook doors, deleting, the SDK's round trip
sync and async, and with the `ses` provider Easy DKIM's CNAMEs from SES (a moto server)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest

from dispatch_client import AsyncDispatch, ConflictError, Dispatch, Domain
from dispatch_server.services import Services
from tests.aws import REGION
from tests.conftest import (
    BACKENDS,
    INBOUND_TOKEN,
    LiveServer,
    _ServerThread,
    fresh_database_url,
    make_settings,
)
from tests.dns_server import shared_dns
from tests.helpers import bearer, error_code, make_mail, signup, smtp_send


def unique(label: str = "acme") -> str:
    return f"{label}-{secrets.token_hex(4)}.example.com"


class Workspace:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        account = signup(server.base_url)
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]

    def call(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**bearer(key or self.account_key), **kw.pop("headers", {})}
        url = f"{self.server.base_url}{path}"
        return httpx.request(method, url, headers=headers, timeout=30, **kw)

    def add(self, name: str, key: str | None = None) -> httpx.Response:
        return self.call("POST", "/v1/domains", key, json={"name": name})

    def added(self, name: str) -> dict[str, Any]:
        response = self.add(name)
        assert response.status_code == 201, response.text
        domain: dict[str, Any] = response.json()
        return domain

    def verify(self, domain_id: str) -> httpx.Response:
        return self.call("POST", f"/v1/domains/{domain_id}/verify")

    def create_inbox(self, domain: str, local_part: str) -> httpx.Response:
        return self.call("POST", "/v1/inboxes", json={"domain": domain, "local_part": local_part})


def publish(domain: dict[str, Any], *purposes: str) -> None:
    dns = shared_dns()
    for record in domain["records"]:
        if purposes and record["purpose"] not in purposes:
            continue
        if record["type"] == "MX":
            dns.add(record["name"], "MX", f"{record['priority']} {record['value']}.")
        elif record["type"] == "CNAME":
            dns.add(record["name"], "CNAME", record["value"] + ".")
        else:
            dns.add_txt(record["name"], record["value"])


def verified_domain(ws: Workspace) -> dict[str, Any]:
    domain = ws.added(unique())
    publish(domain)
    response = ws.verify(domain["id"])
    assert response.status_code == 200 and response.json()["status"] == "verified"
    checked: dict[str, Any] = response.json()
    return checked


def test_add_publish_verify_and_create_an_inbox_that_takes_mail(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    name = unique("Flow")
    domain = ws.added(name.upper())
    assert domain["name"] == name.lower() and domain["status"] == "pending"
    assert [(r["purpose"], r["type"]) for r in domain["records"]] == [
        ("ownership", "TXT"),
        ("receiving", "MX"),
        ("sending", "TXT"),
        ("sending", "TXT"),
    ]
    mx = domain["records"][1]
    assert mx["value"] == live_server.settings.smtp.hostname and mx["priority"] == 10
    assert all(r["status"] == "pending" for r in domain["records"])
    refused = ws.create_inbox(name, "bot")
    assert refused.status_code == 409 and error_code(refused) == "domain_not_verified"
    assert refused.json()["error"]["param"] == "domain"
    # Nothing published: every record missing, still pending, never an error.
    first = ws.verify(domain["id"])
    assert first.status_code == 200, first.text
    assert {r["status"] for r in first.json()["records"]} == {"missing"}
    # Ownership and MX published: verified; the sending records are not required.
    publish(domain, "ownership", "receiving")
    verified = ws.verify(domain["id"]).json()
    assert verified["status"] == "verified" and verified["sending_ready"] is False
    publish(domain, "sending")
    again = ws.verify(domain["id"]).json()
    assert again["sending_ready"] is True and again["verified_at"] == verified["verified_at"]
    assert ws.call("GET", f"/v1/domains/{domain['id']}").json() == again
    created = ws.create_inbox(name, "bot")
    assert created.status_code == 201, created.text
    inbox = created.json()
    assert inbox["address"] == f"bot@{name.lower()}"
    # Every door takes mail for it: SMTP (RCPT any case) and the dev webhook.
    smtp_send(
        live_server.smtp_host,
        live_server.smtp_port,
        f"Bot@{name.upper()}",
        make_mail(inbox["address"], subject="over smtp"),
    )
    hooked = httpx.post(
        f"{live_server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={"to": inbox["address"], "from": "a@b.example.org", "subject": "hook", "text": "x"},
    )
    assert hooked.status_code == 201, hooked.text
    key = ws.call("POST", f"/v1/inboxes/{inbox['id']}/keys", json={}).json()["key"]
    messages = ws.call(
        "GET", f"/v1/inboxes/{inbox['id']}/messages", key, params={"folder": "all"}
    ).json()["data"]
    assert sorted(m["subject"] for m in messages) == ["hook", "over smtp"]


def test_the_local_provider_delivers_to_a_custom_domain_inbox_at_once(
    live_server: LiveServer,
) -> None:
    sender, receiver = Workspace(live_server), Workspace(live_server)
    domain = verified_domain(receiver)
    inbox = receiver.create_inbox(domain["name"], "local").json()
    sent = sender.call(
        "POST",
        "/v1/send",
        sender.inbox_key,
        json={"to": [f"Local@{domain['name'].upper()}"], "subject": "agent to agent", "text": "x"},
    )
    assert sent.status_code == 201, sent.text
    key = receiver.call("POST", f"/v1/inboxes/{inbox['id']}/keys", json={}).json()["key"]
    waited = receiver.call(
        "GET", f"/v1/inboxes/{inbox['id']}/wait", key, params={"timeout": 10}
    ).json()
    assert waited["message"]["subject"] == "agent to agent"


def test_account_keys_only_and_other_workspaces_are_kept_out(live_server: LiveServer) -> None:
    ws, other = Workspace(live_server), Workspace(live_server)
    domain = verified_domain(ws)
    for method, path in [
        ("POST", "/v1/domains"),
        ("GET", "/v1/domains"),
        ("GET", f"/v1/domains/{domain['id']}"),
        ("POST", f"/v1/domains/{domain['id']}/verify"),
        ("DELETE", f"/v1/domains/{domain['id']}"),
    ]:
        inbox_key = ws.call(method, path, ws.inbox_key, json={"name": unique()})
        assert inbox_key.status_code == 403 and error_code(inbox_key) == "forbidden"
        nobody = httpx.request(method, f"{live_server.base_url}{path}")
        assert nobody.status_code == 401
    for method, path in [
        ("GET", f"/v1/domains/{domain['id']}"),
        ("POST", f"/v1/domains/{domain['id']}/verify"),
        ("DELETE", f"/v1/domains/{domain['id']}"),
    ]:
        theirs = other.call(method, path)
        assert theirs.status_code == 404 and error_code(theirs) == "not_found"
    assert other.call("GET", "/v1/domains").json()["data"] == []
    # The name is verified: another workspace can neither add it nor put inboxes at it.
    taken = other.add(domain["name"])
    assert taken.status_code == 409 and error_code(taken) == "domain_taken"
    assert taken.json()["error"]["param"] == "name"
    for name in (domain["name"], domain["name"].upper(), f"sub.{domain['name']}"):
        refused = other.create_inbox(name, "intruder")
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "domain"
    assert ws.call("GET", f"/v1/domains/{domain['id']}").json()["status"] == "verified"


def test_a_pending_duplicate_is_answered_domain_taken_once_another_verifies(
    live_server: LiveServer,
) -> None:
    first, second = Workspace(live_server), Workspace(live_server)
    name = unique()
    mine, theirs = first.added(name), second.added(name)
    assert mine["records"][0]["value"] != theirs["records"][0]["value"]  # tokens of their own
    publish(theirs)
    publish(mine, "receiving")
    assert second.verify(theirs["id"]).json()["status"] == "verified"
    publish(mine, "ownership")  # both tokens published: the first verified wins
    late = first.verify(mine["id"])
    assert late.status_code == 409 and error_code(late) == "domain_taken"
    again = first.add(name)
    assert again.status_code == 409 and error_code(again) == "domain_exists"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "com",
        "10.0.0.1",
        "[::1]",
        "co.uk",
        "a.test",
        "pаypal.com",
        "xn--80ak6aa92e.com",
        "exa\u200bmple.com",
        "x" * 300,
        "a@example.com",
        "*.example.com",
        "dispatch.test",
        "in.dispatch.localhost",
        # internal and unknown top-level domains
        "intranet.corp.lan",
        "db.prod.corp",
        "vault.internal",
        "mac.local",
        "gw.home.arpa",
        "api.svc.cluster",
    ],
)
def test_names_that_cannot_be_added_are_a_400_naming_the_field(
    live_server: LiveServer, name: str
) -> None:
    response = Workspace(live_server).add(name)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "name"


@pytest.mark.parametrize(
    "body",
    ["{}", '{"name": null}', '{"name": 7}', '{"name": ["a.com"]}', '{"name": "\\ud800.com"}', "["],
)
def test_bodies_that_are_no_name_are_a_400(live_server: LiveServer, body: str) -> None:
    response = Workspace(live_server).call(
        "POST", "/v1/domains", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


def test_dns_timeouts_and_servfail_are_a_not_yet_with_a_reason(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    domain = ws.added(unique())
    dns = shared_dns()
    dns.time_out(domain["records"][0]["name"])
    dns.fail(domain["name"])
    response = ws.verify(domain["id"])
    assert response.status_code == 200, response.text
    checked = response.json()
    assert checked["status"] == "pending"
    ownership, mx = checked["records"][:2]
    assert ownership["status"] == "unavailable" and "timeout" in ownership["reason"]
    assert mx["status"] == "unavailable" and "SERVFAIL" in mx["reason"]


def test_a_domain_with_inboxes_is_kept_and_one_without_deleted(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    kept, spare = verified_domain(ws), ws.added(unique())
    assert ws.create_inbox(kept["name"], "kept").status_code == 201
    refused = ws.call("DELETE", f"/v1/domains/{kept['id']}")
    assert refused.status_code == 409 and error_code(refused) == "domain_in_use"
    deleted = ws.call("DELETE", f"/v1/domains/{spare['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == spare["id"]
    assert ws.call("GET", f"/v1/domains/{spare['id']}").status_code == 404
    assert [d["id"] for d in ws.call("GET", "/v1/domains").json()["data"]] == [kept["id"]]


@pytest.mark.parametrize("odd", ["\x00", "\ud800", "x" * 5000, "a/b", "%", "..", "ü"])
def test_odd_ids_and_cursors_are_never_a_500(live_server: LiveServer, odd: str) -> None:
    ws = Workspace(live_server)
    quoted = quote(odd.encode("utf-8", "surrogatepass"), safe="")
    for method, path in [
        ("GET", f"/v1/domains/{quoted}"),
        ("POST", f"/v1/domains/{quoted}/verify"),
        ("DELETE", f"/v1/domains/{quoted}"),
        ("GET", f"/v1/domains?cursor={quoted}"),
        ("GET", f"/v1/domains?limit={quoted}"),
    ]:
        response = ws.call(method, path)
        assert response.status_code in (400, 404), (path, response.text)


def test_the_list_pages_oldest_first(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    ids = [ws.added(unique(f"page{i}"))["id"] for i in range(3)]
    first = ws.call("GET", "/v1/domains", params={"limit": 2}).json()
    assert [d["id"] for d in first["data"]] == ids[:2] and first["next_cursor"]
    rest = ws.call("GET", "/v1/domains", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [d["id"] for d in rest.json()["data"]] == ids[2:]


def test_the_sdk_round_trip_sync_and_async(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    name = unique("sdk")
    with Dispatch(api_key=ws.account_key, base_url=live_server.base_url) as d:
        domain = d.domains.create(name)
        assert isinstance(domain, Domain) and domain.status == "pending"
        assert domain.records[0].name == f"_dispatch.{name}"
        with pytest.raises(ConflictError) as pending:
            d.inboxes.create(local_part="bot", domain=name)
        assert pending.value.code == "domain_not_verified"
        publish(attrs_records(domain))
        assert d.domains.verify(domain.id).status == "verified"
        assert d.inboxes.create(local_part="bot", domain=name).address == f"bot@{name}"
        assert [x.id for x in d.domains.list()] == [domain.id]
        assert d.domains.get(domain.id).records[1].status == "ok"

    async def run() -> None:
        async with AsyncDispatch(api_key=ws.account_key, base_url=live_server.base_url) as d:
            other = await d.domains.create(unique("async"))
            listed = [x.id async for x in d.domains.list()]
            assert listed == [domain.id, other.id]
            assert (await d.domains.verify(other.id)).records[0].status == "missing"
            assert (await d.domains.get(other.id)).checked_at is not None
            assert (await d.domains.delete(other.id)).id == other.id
            with pytest.raises(ConflictError) as in_use:
                await d.domains.delete(domain.id)
            assert in_use.value.code == "domain_in_use"

    asyncio.run(run())


def attrs_records(domain: Domain) -> dict[str, Any]:
    return {
        "records": [
            {
                "purpose": r.purpose,
                "type": r.type,
                "name": r.name,
                "value": r.value,
                "priority": r.priority,
            }
            for r in domain.records
        ]
    }


# --- with the ses provider: Easy DKIM from SES (moto) --------------------------------------


@pytest.fixture(params=BACKENDS)
def ses_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, moto: str
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_OUTBOUND_PROVIDER="ses",
        DISPATCH_SES_REGION=REGION,
        DISPATCH_SES_ENDPOINT_URL=moto,
        DISPATCH_DOMAIN_MX_HOST=f"inbound-smtp.{REGION}.amazonaws.com",
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def ses_identities(moto: str) -> list[str]:
    ses = boto3.session.Session().client("ses", region_name=REGION, endpoint_url=moto)
    found: list[str] = ses.list_identities(IdentityType="Domain")["Identities"]
    return found


def test_with_ses_the_dkim_records_are_asked_of_ses_once_the_domain_is_verified(
    ses_server: LiveServer, moto: str
) -> None:
    ses = boto3.session.Session().client("ses", region_name=REGION, endpoint_url=moto)
    ws, other = Workspace(ses_server), Workspace(ses_server)
    name = unique("ses")
    domain = ws.added(name)
    duplicate = other.added(name)  # pending in another workspace too
    # Nothing is asked of SES for a name nobody has proved in DNS.
    assert not [r for r in domain["records"] if r["type"] == "CNAME"]
    assert name not in ses_identities(moto)
    spf = domain["records"][2]
    assert spf["value"] == "v=spf1 include:amazonses.com ~all"
    assert domain["records"][1]["value"] == f"inbound-smtp.{REGION}.amazonaws.com"
    publish(domain)
    checked = ws.verify(domain["id"]).json()
    assert checked["status"] == "verified" and checked["sending_ready"] is False
    tokens = ses.verify_domain_dkim(Domain=name)["DkimTokens"]  # SES answers the same again
    cnames = [r for r in checked["records"] if r["type"] == "CNAME"]
    assert [(r["name"], r["value"]) for r in cnames] == [
        (f"{t}._domainkey.{name}", f"{t}.dkim.amazonses.com") for t in tokens
    ]
    assert all(r["purpose"] == "sending" and r["status"] == "pending" for r in cnames)
    assert [r["type"] for r in checked["records"]][-1:] == ["TXT"]  # DMARC after them
    assert name in ses_identities(moto)
    publish(checked, "sending")
    again = ws.verify(domain["id"]).json()
    assert again["sending_ready"] is True and len(again["records"]) == 7
    # The SES identity Dispatch made stays while any workspace holds the name, and goes
    # with the last.
    assert ws.call("DELETE", f"/v1/domains/{domain['id']}").status_code == 200
    assert name in ses_identities(moto)
    assert other.call("DELETE", f"/v1/domains/{duplicate['id']}").status_code == 200
    assert name not in ses_identities(moto)


def test_with_ses_an_identity_that_existed_before_is_never_deleted(
    ses_server: LiveServer, moto: str
) -> None:
    ses = boto3.session.Session().client("ses", region_name=REGION, endpoint_url=moto)
    name = unique("theirs")
    ses.verify_domain_identity(Domain=name)  # the operator's own, or another service's
    ws = Workspace(ses_server)
    pending = ws.added(unique("unproved"))
    assert ws.call("DELETE", f"/v1/domains/{pending['id']}").status_code == 200
    # An account key adding, then deleting, a name it never verified touches nothing.
    guess = ws.added(name)
    assert ws.call("DELETE", f"/v1/domains/{guess['id']}").status_code == 200
    assert name in ses_identities(moto)
    domain = ws.added(name)
    publish(domain)
    checked = ws.verify(domain["id"]).json()
    assert checked["status"] == "verified"
    assert len([r for r in checked["records"] if r["type"] == "CNAME"]) == 3
    assert ws.call("DELETE", f"/v1/domains/{domain['id']}").status_code == 200
    assert name in ses_identities(moto)


def test_with_ses_pending_domains_make_no_identities(ses_server: LiveServer, moto: str) -> None:
    ws = Workspace(ses_server)
    names = [unique(f"many{i}") for i in range(5)]
    for name in names:
        ws.added(name)
    assert not set(names) & set(ses_identities(moto))


# --- rate limits and checks in flight --------------------------------------------------------


def test_adds_and_verifies_share_the_domains_rate_limit_per_key(database_url: str) -> None:
    from tests.server.api.test_rate_limits import running

    with running(database_url, DISPATCH_RATE_LIMIT_DOMAINS_PER_KEY="3/1h") as server:
        ws, other = Workspace(server), Workspace(server)
        first = ws.added(unique("rl"))
        assert ws.verify(first["id"]).status_code == 200
        assert ws.add(unique("rl")).status_code == 201
        refused = [ws.add(unique("rl")), ws.verify(first["id"])]
        assert [r.status_code for r in refused] == [429, 429]
        assert all(error_code(r) == "rate_limited" for r in refused)
        assert "domains limit is 3/1h per API key" in refused[0].json()["error"]["message"]
        # Reading is not limited, and another workspace's key has its own count.
        assert ws.call("GET", "/v1/domains").status_code == 200
        assert other.add(unique("rl")).status_code == 201


@pytest.mark.anyio
async def test_a_workspace_checks_one_domain_at_a_time(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch_server.api.domains import check_domain
    from dispatch_server.core.clock import utcnow
    from dispatch_server.core.errors import DomainError, ErrorCode
    from dispatch_server.domain import domain_dns, domains, workspaces

    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(resolver: Any, records: Any) -> list[domains.Checked]:
        started.release()
        release.wait(10)
        return [domains.Checked(status="missing")] * len(records)

    monkeypatch.setattr(domain_dns, "check_all", slow)
    plan = domains.Plan(mx_host="mx.example.net", spf_include=None)
    holders = []
    for _ in range(2):
        signed = await services.db.run_write(
            workspaces.signup, domain="dispatch.test", name=None, local_part=None
        )
        ws = signed.inbox.workspace_id
        added = [
            await services.db.run_write(domains.add, ws, name=unique(), plan=plan, now=utcnow())
            for _ in range(2)
        ]
        holders.append((ws, added))
    (ws, (one, two)), (other, (theirs, _)) = holders
    running = asyncio.ensure_future(check_domain(services, ws, one.id))
    await asyncio.to_thread(started.acquire, True, 5)
    for busy in (one, two):  # the same domain, or another of the workspace's
        with pytest.raises(DomainError) as refused:
            await check_domain(services, ws, busy.id)
        assert refused.value.code is ErrorCode.DOMAIN_CHECK_IN_PROGRESS
    elsewhere = asyncio.ensure_future(check_domain(services, other, theirs.id))
    await asyncio.to_thread(started.acquire, True, 5)  # another workspace's runs meanwhile
    release.set()
    assert (await running).status == "pending" and (await elsewhere).status == "pending"
    # Once it answered, the workspace checks again.
    assert (await check_domain(services, ws, two.id)).records[0].status == "missing"


def test_names_too_long_for_their_records_are_a_400(live_server: LiveServer) -> None:
    from tests.server.test_domains_domain import long_name

    ws = Workspace(live_server)
    refused = ws.add(long_name(244))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "name"
    assert ws.add(long_name(243)).status_code == 201


def test_with_ses_names_too_long_for_their_dkim_records_are_a_400(
    ses_server: LiveServer, moto: str
) -> None:
    from tests.server.test_domains_domain import long_name

    ws = Workspace(ses_server)
    refused = ws.add(long_name(210))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "name"
    domain = ws.added(long_name(209))
    publish(domain)
    checked = ws.verify(domain["id"]).json()
    assert checked["status"] == "verified"
    assert max(len(r["name"]) for r in checked["records"] if r["type"] != "CNAME") <= 253
    # SES's tokens are 32 characters (moto's longer): a CNAME's name is then 253 at most.
    for cname in [r for r in checked["records"] if r["type"] == "CNAME"]:
        token = cname["name"].split(".", 1)[0]
        assert len(cname["name"]) - len(token) + 32 == 253
