"""Custom domains: a name a workspace owns, the DNS records it publishes for it, their last
check, and which workspace may create inboxes at it. The one place a custom domain's name
is read and its verification decided (the DNS lookups themselves are domain_dns's).

A domain is `pending` until its ownership TXT record and its MX record check out; it is then
`verified` and stays so (later checks update each record's status, not the domain's). Only
then may the workspace create inboxes at it. SPF, DKIM (SES Easy DKIM with the `ses`
provider) and DMARC are for sending: shown and checked, never required for `verified`.
SES is asked for the Easy DKIM tokens only once the domain is verified (`add_dkim`), so no
SES identity is made for a name nobody proved in DNS.

One name is verified by one workspace at most (`claimed_name` is unique). Any number of
workspaces may hold the same name pending, each with its own ownership token; the first whose
records check out takes it, and the others' checks answer `domain_taken` from then on (they
delete theirs). A name verified already cannot be added by another workspace at all.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Literal

import attrs
import idna
import sqlalchemy as sa
from publicsuffixlist import PublicSuffixList

from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.mail.addresses import ascii_domain_of
from dispatch_server.mail.auth.dmarc import organizational_domain, psl

Status = Literal["pending", "verified"]
Purpose = Literal["ownership", "receiving", "sending"]
RecordType = Literal["TXT", "MX", "CNAME"]
# `pending`: not checked yet; `unavailable`: DNS did not answer (a timeout, SERVFAIL): not yet.
RecordStatus = Literal["pending", "ok", "missing", "mismatch", "unavailable"]
STATUSES: Final[tuple[Status, ...]] = ("pending", "verified")
REQUIRED: Final[frozenset[str]] = frozenset({"ownership", "receiving"})
MAX_NAME_CHARS: Final = 253
MAX_DOMAINS: Final = 100  # per workspace
MX_PRIORITY: Final = 10
OWNERSHIP_PREFIX: Final = "_dispatch"
TOKEN_PREFIX: Final = "dispatch-verification="
SES_DKIM_TARGET: Final = "dkim.amazonses.com"
SES_SPF_INCLUDE: Final = "amazonses.com"
SES_DKIM_TOKEN_CHARS: Final = 32  # an Easy DKIM token
# The longest names whose records fit DNS's 253: `_dispatch.<name>`, and with SES
# `<token>._domainkey.<name>` too.
MAX_DOMAIN_CHARS: Final = MAX_NAME_CHARS - len(OWNERSHIP_PREFIX + ".")
MAX_SES_DOMAIN_CHARS: Final = MAX_NAME_CHARS - SES_DKIM_TOKEN_CHARS - len("._domainkey.")
# RFC 6761 and RFC 9476 special-use names, and `.internal` (ICANN, 2024): never in public DNS.
SPECIAL_USE_TLDS: Final = frozenset(
    {"localhost", "local", "invalid", "test", "example", "onion", "internal", "alt", "arpa"}
)

_COLUMNS = t.domains.c
_RECORDS = t.domain_records.c


class DomainExists(DomainError):
    code = ErrorCode.DOMAIN_EXISTS


class DomainTaken(DomainError):
    code = ErrorCode.DOMAIN_TAKEN

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is verified by another workspace", param="name")


class DomainNotVerified(DomainError):
    code = ErrorCode.DOMAIN_NOT_VERIFIED


class DomainInUse(DomainError):
    code = ErrorCode.DOMAIN_IN_USE


@attrs.frozen(kw_only=True)
class Record:
    """One DNS record to publish, and what its last check found."""

    purpose: Purpose
    type: RecordType
    name: str
    value: str
    priority: int | None = None
    status: RecordStatus = "pending"
    reason: str | None = None
    checked_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Checked:
    """What one check of one record found."""

    status: RecordStatus
    reason: str | None = None


@attrs.frozen(kw_only=True)
class Domain:
    id: str
    workspace_id: str
    name: str
    status: Status
    records: tuple[Record, ...]
    created_at: datetime
    checked_at: datetime | None
    verified_at: datetime | None

    @property
    def unicode_name(self) -> str:
        return unicode_name(self.name)

    @property
    def sending_ready(self) -> bool:
        """Whether the sending records (SPF, DKIM, DMARC) all checked out last time."""
        return all(r.status == "ok" for r in self.records if r.purpose == "sending")


@attrs.frozen(kw_only=True)
class Plan:
    """What the records of a new domain say, from the server's settings (and SES's tokens)."""

    mx_host: str
    spf_include: str | None
    dkim_tokens: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Deleted:
    domain: Domain
    last_holder: bool  # no other workspace holds the name
    # Dispatch made the name's SES identity, and no other workspace holds the name: it goes.
    delete_ses_identity: bool = False


# --- names ---------------------------------------------------------------------------------


def normalize_name(raw: str, *, own: Iterable[str], ses: bool = False) -> str:
    """The stored form of a domain name: lower case, punycode (IDNA 2008 with UTS #46),
    one trailing dot dropped; InvalidInput (`param` `name`) for anything that is no
    registrable host name of the caller's, or is one of the service's `own` domains (or
    under or above one), or too long for its records to fit in DNS (`ses`: its Easy DKIM
    CNAMEs too)."""
    if len(raw) > MAX_NAME_CHARS + 1:
        raise _bad(raw, f"longer than {MAX_NAME_CHARS} characters")
    text = raw.strip()
    if not text:
        raise _bad(raw, "empty")
    if "@" in text or "/" in text or ":" in text or text.startswith("["):
        raise _bad(raw, "a domain name only, such as mail.example.com")
    hidden = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs")), None)
    if hidden is not None:
        # UTS #46 drops some of them (a zero-width space): refused, never silently mapped.
        raise _bad(raw, f"holds the invisible or control character U+{ord(hidden):04X}")
    try:
        ipaddress.ip_address(text.rstrip("."))
    except ValueError:
        pass
    else:
        raise _bad(raw, "an IP address, not a domain name")
    name = ascii_domain_of(text)
    if name is None:
        raise _bad(raw, "not a host name with a dot (letters, digits and hyphens per label)")
    longest = MAX_SES_DOMAIN_CHARS if ses else MAX_DOMAIN_CHARS
    if len(name) > longest:
        record = "its DKIM records" if ses else f"its {OWNERSHIP_PREFIX}. record"
        raise _bad(raw, f"{len(name)} characters, over {longest}: {record} would exceed DNS's 253")
    if name.rsplit(".", 1)[-1] in SPECIAL_USE_TLDS:
        raise _bad(raw, "a special-use name that public DNS never answers for")
    if _icann_psl().publicsuffix(name) is None:
        # `.lan`, `.corp`, `.home`, `.svc.cluster`: no TLD of the ICANN root, so no public DNS.
        raise _bad(raw, "not under a top-level domain of public DNS (an internal name?)")
    if psl().is_public(name):
        raise _bad(raw, "a public suffix: add a domain registered under it")
    _check_scripts(raw, name)
    for mine in own:
        mine = mine.lower().rstrip(".")
        if name == mine or name.endswith("." + mine) or mine.endswith("." + name):
            raise _bad(raw, "one of this service's own domains")
    return name


@functools.cache
def _icann_psl() -> PublicSuffixList:
    """The Public Suffix List's ICANN section, with no suffix for an unknown TLD (where the
    list's default takes any TLD it does not know as a public suffix)."""
    return PublicSuffixList(accept_unknown=False, only_icann=True)


def unicode_name(name: str) -> str:
    """The name as people read it (`xn--bcher-kva.de` is `bücher.de`)."""
    try:
        return idna.decode(name)
    except (idna.IDNAError, UnicodeError):
        return name


# Cyrillic and Greek letters drawn like Latin ones: a label of them only reads as Latin.
_LATIN_LOOKALIKES: Final = {
    "CYRILLIC": frozenset("аеорсухіјѕԁһԛԝӏьпгтвкмн"),
    "GREEK": frozenset("οαρνικτυε"),
}
# Scripts written together (Japanese, Chinese, Korean, each with Latin); any other mix of
# scripts in one label is refused, as browsers show such labels in punycode.
_MIXES_ALLOWED: Final = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def _script(char: str) -> str:
    word = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    if word == "CJK":
        return "HAN"
    return "KATAKANA" if word.startswith("KATAKANA") else word


def _check_scripts(raw: str, name: str) -> None:
    """Refuse labels that mix scripts (`pаypal`, a Cyrillic а among Latin letters), and
    Cyrillic or Greek labels of Latin look-alikes only (`аррӏе`) under an ASCII TLD."""
    labels = unicode_name(name).split(".")
    for label in labels:
        letters = [c for c in label if unicodedata.category(c).startswith("L")]
        scripts = {_script(c) for c in letters}
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _MIXES_ALLOWED):
            raise _bad(raw, f"the label {label!r} mixes scripts ({', '.join(sorted(scripts))})")
        if len(scripts) == 1 and labels[-1].isascii():
            lookalikes = _LATIN_LOOKALIKES.get(next(iter(scripts)))
            if lookalikes is not None and all(c in lookalikes for c in letters):
                raise _bad(raw, f"the label {label!r} is spelt with Latin look-alikes only")


def _bad(raw: str, why: str) -> InvalidInput:
    shown = raw if len(raw) <= 80 else raw[:80] + "…"
    return InvalidInput(f"name {shown!r}: {why}", param="name")


def new_token() -> str:
    return secrets.token_hex(16)


# --- records -------------------------------------------------------------------------------


def records_for(name: str, token: str, plan: Plan) -> list[Record]:
    """The records a domain publishes, in the order they are shown."""
    spf = f"include:{plan.spf_include}" if plan.spf_include else "mx"
    found = [
        Record(
            purpose="ownership",
            type="TXT",
            name=f"{OWNERSHIP_PREFIX}.{name}",
            value=TOKEN_PREFIX + token,
        ),
        Record(purpose="receiving", type="MX", name=name, value=plan.mx_host, priority=MX_PRIORITY),
        Record(purpose="sending", type="TXT", name=name, value=f"v=spf1 {spf} ~all"),
    ]
    found += [
        Record(
            purpose="sending",
            type="CNAME",
            name=f"{dkim}._domainkey.{name}",
            value=f"{dkim}.{SES_DKIM_TARGET}",
        )
        for dkim in plan.dkim_tokens
    ]
    found.append(
        Record(purpose="sending", type="TXT", name=f"_dmarc.{name}", value="v=DMARC1; p=none")
    )
    return found


def dmarc_fallback(name: str) -> str | None:
    """Where DMARC is looked up when the domain has no record of its own: its organizational
    domain's (RFC 7489 §6.6.3), None when that is the domain itself."""
    org = organizational_domain(name)
    return None if org == name else f"_dmarc.{org}"


# --- the domains ---------------------------------------------------------------------------


def check_addable(conn: sa.Connection, workspace_id: str, name: str) -> None:
    """DomainExists (the workspace has it), DomainTaken (another verified it), or a full
    workspace: before anything is asked of SES, and again in `add`'s transaction."""
    mine = conn.scalar(
        sa.select(_COLUMNS.id).where(_COLUMNS.workspace_id == workspace_id, _COLUMNS.name == name)
    )
    if mine is not None:
        raise DomainExists(f"{name} is a domain of this workspace already", param="name")
    claimed = conn.scalar(sa.select(_COLUMNS.workspace_id).where(_COLUMNS.claimed_name == name))
    if claimed is not None:
        raise DomainTaken(name)
    count = conn.scalar(sa.select(sa.func.count()).where(_COLUMNS.workspace_id == workspace_id))
    if (count or 0) >= MAX_DOMAINS:
        raise InvalidInput(f"a workspace holds at most {MAX_DOMAINS} domains", param="name")


def add(conn: sa.Connection, workspace_id: str, *, name: str, plan: Plan, now: datetime) -> Domain:
    """A new pending domain (`name` as `normalize_name` gave it) with its records."""
    check_addable(conn, workspace_id, name)
    token = new_token()
    domain_id = new_id()
    row = {
        "id": domain_id,
        "workspace_id": workspace_id,
        "name": name,
        "claimed_name": None,
        "status": "pending",
        "token": token,
        "created_at": now,
        "checked_at": None,
        "verified_at": None,
        "ses_identity_created": False,
    }
    try:
        with conn.begin_nested():  # a concurrent add of the same name may win the race
            conn.execute(t.domains.insert().values(**row))
    except sa.exc.IntegrityError:
        raise DomainExists(f"{name} is a domain of this workspace already", param="name") from None
    records = records_for(name, token, plan)
    conn.execute(
        t.domain_records.insert(),
        [
            {
                "id": new_id(),
                "domain_id": domain_id,
                "position": position,
                **attrs.asdict(record),
            }
            for position, record in enumerate(records)
        ],
    )
    return _domain(row, records)


def list_domains(
    conn: sa.Connection, workspace_id: str, *, limit: int, cursor: Cursor | None
) -> Page[Domain]:
    """The workspace's domains, oldest first, each with its records."""
    query = sa.select(t.domains).where(_COLUMNS.workspace_id == workspace_id)
    rows, next_cursor = page(
        conn,
        query,
        t.domains,
        "domain",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
        newest_first=False,
    )
    records = _records_of(conn, [row.id for row in rows])
    return Page([_domain(row._mapping, records.get(row.id, [])) for row in rows], next_cursor)


def get(conn: sa.Connection, workspace_id: str, domain_id: str) -> Domain:
    """The workspace's domain by id (404 for any other, another workspace's too)."""
    row = conn.execute(
        sa.select(t.domains).where(_COLUMNS.id == domain_id, _COLUMNS.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound("domain")
    return _domain(row._mapping, _records_of(conn, [row.id]).get(row.id, []))


def record_check(
    conn: sa.Connection,
    workspace_id: str,
    domain_id: str,
    results: Sequence[Checked],
    *,
    now: datetime,
) -> Domain:
    """Store one check's results (one per record, in their order); a pending domain whose
    required records are all `ok` becomes verified, unless another workspace verified the
    name first (DomainTaken, nothing stored). Checking again changes only what DNS changed."""
    domain = get(conn, workspace_id, domain_id)
    if len(results) != len(domain.records):
        # Its records changed while they were checked (its DKIM added by another verify).
        raise DomainError(
            f"{domain.name}'s records changed during the check: verify again",
            code=ErrorCode.DOMAIN_CHECK_IN_PROGRESS,
        )
    verify = domain.status == "pending" and all(
        result.status == "ok"
        for record, result in zip(domain.records, results, strict=True)
        if record.purpose in REQUIRED
    )
    owner = conn.scalar(
        sa.select(_COLUMNS.workspace_id).where(_COLUMNS.claimed_name == domain.name)
    )
    if owner is not None and owner != workspace_id:
        raise DomainTaken(domain.name)
    if verify and _others_inboxes_at(conn, workspace_id, domain.name):
        # Inboxes another workspace made while it held the name: mail to them is delivered by
        # address, so the name stays theirs until they are deleted.
        raise DomainTaken(domain.name)
    for position, result in enumerate(results):
        conn.execute(
            t.domain_records.update()
            .where(_RECORDS.domain_id == domain_id, _RECORDS.position == position)
            .values(status=result.status, reason=_within(result.reason, 500), checked_at=now)
        )
    changes: dict[str, Any] = {"checked_at": now}
    if verify:
        changes |= {"status": "verified", "claimed_name": domain.name, "verified_at": now}
    try:
        with conn.begin_nested():  # another workspace's verify of the name in the meantime
            conn.execute(t.domains.update().where(_COLUMNS.id == domain_id).values(**changes))
    except sa.exc.IntegrityError:
        raise DomainTaken(domain.name) from None
    return get(conn, workspace_id, domain_id)


def delete(conn: sa.Connection, workspace_id: str, domain_id: str) -> Deleted:
    """Delete the domain; DomainInUse while the workspace has inboxes at it (delete them, or
    keep the domain: mail to them would go nowhere). The domain's row is locked before the
    inboxes are counted, so an inbox being created at it (which share-locks the row, see
    `inbox_domain`) either commits first and is counted, or finds the domain gone."""
    conn.execute(
        dialect.locking(
            conn,
            sa.select(_COLUMNS.id).where(
                _COLUMNS.id == domain_id, _COLUMNS.workspace_id == workspace_id
            ),
        )
    )
    domain = get(conn, workspace_id, domain_id)
    in_use = conn.scalar(
        sa.select(sa.func.count()).where(
            t.inboxes.c.workspace_id == workspace_id,
            t.inboxes.c.address.endswith("@" + domain.name, autoescape=True),
        )
    )
    if in_use:
        raise DomainInUse(f"{in_use} inbox(es) have addresses at {domain.name}: delete them first")
    created = bool(
        conn.scalar(sa.select(_COLUMNS.ses_identity_created).where(_COLUMNS.id == domain_id))
    )
    conn.execute(t.domains.delete().where(_COLUMNS.id == domain_id))
    others = conn.scalar(sa.select(sa.func.count()).where(_COLUMNS.name == domain.name))
    if created and others:
        # The identity stays for the others, and goes with the last of them.
        conn.execute(
            t.domains.update().where(_COLUMNS.name == domain.name).values(ses_identity_created=True)
        )
    return Deleted(
        domain=domain, last_holder=not others, delete_ses_identity=created and not others
    )


def needs_dkim(domain: Domain) -> bool:
    """A verified domain without its Easy DKIM records yet (with the `ses` provider)."""
    return domain.status == "verified" and not any(r.type == "CNAME" for r in domain.records)


def ses_identity_created(conn: sa.Connection, domain_id: str) -> bool:
    return bool(
        conn.scalar(sa.select(_COLUMNS.ses_identity_created).where(_COLUMNS.id == domain_id))
    )


def add_dkim(
    conn: sa.Connection,
    workspace_id: str,
    domain_id: str,
    tokens: Sequence[str],
    *,
    created: bool,
) -> Domain:
    """A verified domain's Easy DKIM CNAMEs, shown before its DMARC record as `records_for`
    orders them, and whether Dispatch made the SES identity for them (`created`: it did not
    exist before). Once only: a domain that has them already is answered as it is."""
    conn.execute(
        dialect.locking(
            conn,
            sa.select(_COLUMNS.id).where(
                _COLUMNS.id == domain_id, _COLUMNS.workspace_id == workspace_id
            ),
        )
    )
    domain = get(conn, workspace_id, domain_id)
    if not needs_dkim(domain):
        return domain
    dkim = records_for(
        domain.name, "", Plan(mx_host="", spf_include=None, dkim_tokens=tuple(tokens))
    )
    dkim = [record for record in dkim if record.type == "CNAME"]
    before = len(domain.records) - 1  # the DMARC record, last, moves after them
    conn.execute(
        t.domain_records.update()
        .where(_RECORDS.domain_id == domain_id, _RECORDS.position == before)
        .values(position=before + len(dkim))
    )
    conn.execute(
        t.domain_records.insert(),
        [
            {"id": new_id(), "domain_id": domain_id, "position": before + i, **attrs.asdict(r)}
            for i, r in enumerate(dkim)
        ],
    )
    if created:
        conn.execute(
            t.domains.update().where(_COLUMNS.id == domain_id).values(ses_identity_created=True)
        )
    return get(conn, workspace_id, domain_id)


def _others_inboxes_at(conn: sa.Connection, workspace_id: str, name: str) -> bool:
    found = conn.scalar(
        sa.select(t.inboxes.c.id)
        .where(
            t.inboxes.c.workspace_id != workspace_id,
            t.inboxes.c.address.endswith("@" + name, autoescape=True),
        )
        .limit(1)
    )
    return found is not None


def inbox_domain(conn: sa.Connection, workspace_id: str, raw: str | None, *, default: str) -> str:
    """The domain a new inbox's address is at: `default` (the service's) when `raw` is None
    or names it, else a verified domain of the workspace. InvalidInput (`param` `domain`)
    for a name the workspace has not added, DomainNotVerified while it is pending."""
    if raw is None:
        return default
    name = ascii_domain_of(raw.strip()) if len(raw) <= MAX_NAME_CHARS + 1 else None
    if name is None:
        raise InvalidInput("domain is not a domain name", param="domain")
    if name == default.lower():
        return default
    # Share-locked until the inbox is written and committed: the domain cannot be deleted
    # in between (`delete` locks it before counting its inboxes).
    status = conn.scalar(
        dialect.locking(
            conn,
            sa.select(_COLUMNS.status).where(
                _COLUMNS.workspace_id == workspace_id, _COLUMNS.name == name
            ),
            share=True,
        )
    )
    if status is None:
        raise InvalidInput(
            f"{name} is no domain of this workspace (add it: POST /v1/domains)", param="domain"
        )
    if status != "verified":
        raise DomainNotVerified(
            f"{name} is not verified yet: publish its records, then POST /v1/domains/{{id}}/verify",
            param="domain",
        )
    return name


def verified_names(conn: sa.Connection) -> frozenset[str]:
    """Every verified custom domain's name, of all workspaces (for the SES door's envelope)."""
    rows = conn.execute(sa.select(_COLUMNS.claimed_name).where(_COLUMNS.claimed_name.is_not(None)))
    return frozenset(row.claimed_name for row in rows)


def verified_among(conn: sa.Connection, names: Iterable[str]) -> frozenset[str]:
    """Those of `names` (lower-case, punycode) that a workspace has verified."""
    wanted = sorted(set(names))[:1000]
    if not wanted:
        return frozenset()
    rows = conn.execute(sa.select(_COLUMNS.claimed_name).where(_COLUMNS.claimed_name.in_(wanted)))
    return frozenset(row.claimed_name for row in rows)


def _records_of(conn: sa.Connection, domain_ids: Sequence[str]) -> dict[str, list[Record]]:
    if not domain_ids:
        return {}
    rows = conn.execute(
        sa.select(t.domain_records)
        .where(_RECORDS.domain_id.in_(domain_ids))
        .order_by(_RECORDS.domain_id, _RECORDS.position)
    )
    found: dict[str, list[Record]] = {}
    for row in rows:
        found.setdefault(row.domain_id, []).append(
            Record(
                purpose=row.purpose,
                type=row.type,
                name=row.name,
                value=row.value,
                priority=row.priority,
                status=row.status,
                reason=row.reason,
                checked_at=row.checked_at,
            )
        )
    return found


def _domain(mapping: Any, records: Sequence[Record]) -> Domain:
    return Domain(
        id=mapping["id"],
        workspace_id=mapping["workspace_id"],
        name=mapping["name"],
        status=mapping["status"],
        records=tuple(records),
        created_at=mapping["created_at"],
        checked_at=mapping["checked_at"],
        verified_at=mapping["verified_at"],
    )


def _within(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"
