# ruff: noqa: E501  (template strings and file paths are kept on one line)
# mypy: ignore-errors
# (a one-off generator kept for the split's provenance, run by hand against local mirrors of
# the projects, never imported by the suite: its dict-shaped template data is left untyped)
"""Render the fifth held-out split from the projects' own templates and translations.

Reads the repositories from local mirrors (git directories, see MIRRORS) at the commits in
COMMITS, writes NNN-<project>-<kind>-<lang>.eml and manifest.json next to this folder.
Every value put into a template (people, hosts, tokens, codes) is invented, in the shape
each project's code generates it. Deterministic: a fixed random seed.

    python tests/corpus/real/heldout5/_render/render.py
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import random
import re
import string
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from pathlib import Path

import markdown
import yaml

OUT = Path(__file__).resolve().parents[1]
MIRROR = Path("/work/.mirror")
MIRRORS = {
    "apache/answer": "apache+answer",
    "jhipster/generator-jhipster": "jhipster+generator-jhipster",
    "wallabag/wallabag": "wallabag+wallabag",
    "cachethq/cachet": "cachethq+cachet",
    "penpot/penpot": "penpot+penpot",
}
COMMITS = {
    "apache/answer": "3b9f1370612e690a0b7f230f05e688930db4c6d3",
    "jhipster/generator-jhipster": "b622d1ac167506a771a5ece5c739b0b8e0525c79",
    "wallabag/wallabag": "5afc37df9303cf983864c288d46bb23f12221695",
    "cachethq/cachet": "d4666993247dc6d776c957b3695e1b981663180b",
    "penpot/penpot": "66bb6a11dfb1fc708a5c8165f8eaa4222e233bb2",
}
LICENCES = {
    "apache/answer": "Apache-2.0",
    "jhipster/generator-jhipster": "Apache-2.0",
    "wallabag/wallabag": "MIT",
    "cachethq/cachet": "MIT",
    "penpot/penpot": "MPL-2.0",
}

rng = random.Random(20261204)
ALNUM = string.ascii_letters + string.digits


def show(repo: str, path: str) -> str:
    git_dir = MIRROR / MIRRORS[repo] / "repo"
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{COMMITS[repo]}:{path}"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode("utf-8")


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def uuid7() -> str:
    ms = int((T0 + timedelta(minutes=rng.randint(0, 40000))).timestamp() * 1000)
    value = (
        (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62)
    )
    return str(uuid.UUID(int=value))


def b64url(n: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(n)).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------
# Wrappers (documented public URL shapes; every identifier random)


def w_ses(url: str, ctx: dict) -> str:
    from urllib.parse import quote

    hexd = "0123456789abcdef"
    message_id = (
        f"010001{rand(10, hexd)}-{rand(8, hexd)}-{rand(4, hexd)}-{rand(4, hexd)}-{rand(4, hexd)}-"
        f"{rand(12, hexd)}-000000"
    )
    return (
        f"https://{ctx['ses']}.r.us-east-1.awstrack.me/L0/"
        f"{quote(url, safe='')}/1/{message_id}/{b64url(21)}=39{rng.randint(0, 9)}"
    )


def w_safelinks(url: str, ctx: dict) -> str:
    from urllib.parse import quote

    return (
        f"https://eur0{ctx['eur']}.safelinks.protection.outlook.com/?url={quote(url, safe='')}"
        f"&data=05%7C02%7Cuser%40contoso.example%7C{rand(32, '0123456789abcdef')}%7C"
        f"{uuid.UUID(int=rng.getrandbits(128))}%7C0%7C0%7C638{rng.randint(10**14, 10**15 - 1)}%7C"
        f"Unknown%7CTWFpbGZsb3d8eyJFbXB0eU1hcGkiOnRydWV9%7C0%7C%7C%7C&sdata={b64url(32)}%3D&reserved=0"
    )


def w_proofpoint(url: str, ctx: dict) -> str:
    return f"https://urldefense.com/v3/__{url}__;!!{rand(8)}!{rand(40)}$"


def w_sendgrid(url: str, ctx: dict) -> str:
    return f"https://u{ctx['sg']}.ct.sendgrid.net/ls/click?upn={rand(120, ALNUM + '-_')}"


def w_mailgun(url: str, ctx: dict) -> str:
    return f"https://email.mg.{ctx['mg']}.example/c/{b64url(96)}"


WRAPPERS = {
    "ses": (w_ses, True, False),  # (function, carries target, rewrites text part)
    "safelinks": (w_safelinks, True, True),
    "proofpoint": (w_proofpoint, True, True),
    "sendgrid": (w_sendgrid, False, True),
    "mailgun": (w_mailgun, False, True),
}


def wrap_parts(html_body: str | None, text_body: str | None, wrapper: str | None, cta: str | None):
    """Rewrite every link of the message; return the bodies and the expected link."""
    if wrapper is None:
        return html_body, text_body, cta
    fn, carries, text_too = WRAPPERS[wrapper]
    mapping: dict[str, str] = {}
    ctx = {  # one account host per message
        "ses": rand(8, string.ascii_lowercase + string.digits),
        "eur": rng.randint(1, 5),
        "sg": rng.randint(1000000, 39999999),
        "mg": rand(6, string.ascii_lowercase),
    }

    def sub(u: str) -> str:
        if u not in mapping:
            mapping[u] = fn(u, ctx)
        return mapping[u]

    if html_body is not None:
        html_body = re.sub(
            r'href=(["\'])(https?://[^"\']+)\1',
            lambda m: (
                f"href={m.group(1)}{html.escape(sub(html.unescape(m.group(2))), quote=True)}{m.group(1)}"
            ),
            html_body,
        )
    if text_body is not None and text_too:
        text_body = re.sub(r"https?://[^\s<>()\[\]\"]+", lambda m: sub(m.group(0)), text_body)
    expected = cta
    if cta is not None and not carries:
        expected = mapping.get(cta, cta)
    return html_body, text_body, expected


# ---------------------------------------------------------------------------------------
# Message building

ASCII_FALLBACK = {
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2014": "-",
    "\u2013": "-",
    "\u2026": "...",
    "\u00a9": "(c)",
    "\U0001f514": "*",
}


def fit(text: str, charset: str) -> str:
    try:
        text.encode(charset)
        return text
    except UnicodeEncodeError:
        for a, b in ASCII_FALLBACK.items():
            text = text.replace(a, b)
        text.encode(charset)  # raise if still not encodable
        return text


def part(subtype: str, body: str, charset: str, cte: str) -> MIMENonMultipart:
    p = MIMENonMultipart("text", subtype)
    cs = Charset(charset)
    if charset.lower() == "iso-2022-jp":
        cs.body_encoding = None
    else:
        cs.body_encoding = QP if cte == "quoted-printable" else BASE64
    p.set_payload(body, charset=cs)
    return p


T0 = datetime(2026, 11, 2, 8, 14, tzinfo=UTC)


def build(
    *,
    subject,
    sender,
    to,
    text=None,
    html_body=None,
    charset="utf-8",
    cte="quoted-printable",
    msgid_host,
    mailer=None,
    minutes,
):
    if text is not None:
        text = fit(text, charset)
    if html_body is not None:
        html_body = fit(html_body, charset)
    subject = fit(subject, charset)
    if text is not None and html_body is not None:
        msg = MIMEMultipart("alternative", boundary=f"{'=' * 15}{rng.getrandbits(63):019d}==")
        msg.attach(part("plain", text, charset, cte))
        msg.attach(part("html", html_body, charset, cte))
    elif html_body is not None:
        msg = part("html", html_body, charset, cte)
    else:
        msg = part("plain", text, charset, cte)
    name, addr = sender
    msg["From"] = formataddr((name, addr), charset)
    if "<" in to:
        to_name, to_addr = to[:-1].split(" <")
        to = formataddr((to_name, to_addr), charset)
    msg["To"] = to
    msg["Subject"] = subject if subject.isascii() else Header(subject, charset).encode()
    msg["Date"] = format_datetime(T0 + timedelta(minutes=minutes))
    msg["Message-ID"] = f"<{uuid.UUID(int=rng.getrandbits(128)).hex}@{msgid_host}>"
    if msg.is_multipart():
        for sub in msg.get_payload():
            del sub["MIME-Version"]
    if mailer:
        msg["X-Mailer"] = mailer
    # headers in the usual order
    order = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "X-Mailer",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]
    items = [(k, v) for k, v in msg.items()]
    for k in set(k for k, _ in items):
        del msg[k]
    items.sort(key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    for k, v in items:
        msg[k] = v
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", max_line_length=998))


MANIFEST: dict[str, dict] = {}
COUNTER = [0]


def emit(
    project_short,
    kind,
    lang,
    raw,
    *,
    otp,
    code_kind,
    link,
    language,
    charset,
    cls,
    repo,
    path,
    wrapper,
    note,
):
    COUNTER[0] += 1
    name = f"{COUNTER[0]:03d}-{project_short}-{kind}-{lang}.eml"
    (OUT / name).write_bytes(raw)
    MANIFEST[name] = {
        "otp": otp,
        "code_kind": code_kind,
        "primary_link": link,
        "language": language,
        "charset": charset,
        "class": cls,
        "source": {
            "repository": repo,
            "path": path,
            "commit": COMMITS[repo],
            "licence": LICENCES[repo],
        },
        "wrapper": wrapper,
        "note": note,
    }


PEOPLE = [
    "Aiko Tanaka",
    "Jonas Weber",
    "Marta Kowalska",
    "Léa Martin",
    "Ivan Petrov",
    "Sofia Rossi",
    "Noah Jansen",
    "Elif Yılmaz",
    "Minh Nguyen",
    "Olga Shevchenko",
    "Carlos Souza",
    "Ana Popescu",
    "Erik Lindqvist",
    "Yara Haddad",
    "Daniel Cohen",
    "Kim Jiwoo",
    "Li Wei",
    "Chen Mei",
    "Priya Sharma",
    "Tomáš Novák",
    "Eszter Kovács",
    "Kasper Nielsen",
    "Aino Virtanen",
    "Nikos Papadopoulos",
    "Reza Ahmadi",
    "Somchai Wong",
    "Dewi Lestari",
    "Lucía García",
]


def person() -> tuple[str, str]:
    full = rng.choice(PEOPLE)
    login = (
        re.sub(r"[^a-z]", "", full.split()[0].lower().encode("ascii", "ignore").decode()) or "user"
    )
    return full, login


WRNG = random.Random(5)  # wrappers drawn apart from the values, in turn over the services
WCYCLE = [0]


def pick_wrapper(rate: float = 0.17) -> str | None:
    if WRNG.random() < rate:
        WCYCLE[0] += 1
        return list(WRAPPERS)[WCYCLE[0] % len(WRAPPERS)]
    return None


# ---------------------------------------------------------------------------------------
# Apache Answer

ANSWER_LANGS = {
    "de_DE": "de",
    "fr_FR": "fr",
    "es_ES": "es",
    "it_IT": "it",
    "pt_BR": "pt-BR",
    "ru_RU": "ru",
    "uk_UA": "uk",
    "pl_PL": "pl",
    "cs_CZ": "cs",
    "ja_JP": "ja",
    "ko_KR": "ko",
    "zh_CN": "zh-CN",
    "zh_TW": "zh-TW",
    "tr_TR": "tr",
    "vi_VN": "vi",
    "fa_IR": "fa",
    "he_IL": "he",
    "ar_SA": "ar",
    "sv_SE": "sv",
    "id_ID": "id",
    "hu_HU": "hu",
    "ro_RO": "ro",
    "sk_SK": "sk",
    "el_GR": "el",
    "hi_IN": "hi",
    "nl_NL": "nl",
    "da_DK": "da",
    "fi_FI": "fi",
    "no_NO": "nb",
    "bn_BD": "bn",
}


def go_tpl(s: str, data: dict) -> str:
    """go-i18n's TrWithData: text/template, so nothing is escaped."""
    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: str(data[m.group(1)]), s)


def answer() -> None:
    repo = "apache/answer"
    en = yaml.safe_load(show(repo, "i18n/en_US.yaml"))["backend"]["email_tpl"]
    sites = [
        ("Ask Tidewater", "https://ask.tidewater.example"),
        ("Helpdesk Q&A", "https://qa.lumen-labs.example"),
        ("Forum Kiwi", "https://answers.kiwi-software.example"),
    ]
    kinds = [
        ("register", "verify-link"),
        ("pass_reset", "reset"),
        ("change_email", "email-change"),
        ("new_answer", "notification"),
        ("new_comment", "notification"),
        ("invited_you_to_answer", "notification"),
        ("new_question", "notification"),
        ("test", "notice"),
    ]
    cycle = 0
    for code, lang in ANSWER_LANGS.items():
        try:
            tpl = yaml.safe_load(show(repo, f"i18n/{code}.yaml"))["backend"]["email_tpl"]
        except (KeyError, TypeError, subprocess.CalledProcessError):
            continue
        # two mails per language: one with a link, one notification / test
        chosen = [kinds[cycle % 3], kinds[3 + cycle % 5]]
        cycle += 1
        for key, cls in chosen:
            t = tpl.get(key) or {}
            title = (t.get("title") or {}).get("other") or en[key]["title"]["other"]
            body = (t.get("body") or {}).get("other") or en[key]["body"]["other"]
            if body == en[key]["body"]["other"]:
                continue  # body untranslated: not labelled with a language it does not use
            site, url = rng.choice(sites)
            name, login = person()
            token = uuid7()
            qid = f"1001000000000{rng.randint(1000, 9999)}"
            aid = f"1002000000000{rng.randint(1000, 9999)}"
            title_q = rng.choice(
                [
                    "How do I rotate the API keys without downtime?",
                    "Postgres connection pool exhausted after upgrade",
                    "Why does the export job stop at 99%?",
                ]
            )
            slug = re.sub(r"[^a-z0-9]+", "-", title_q.lower()).strip("-")
            unsub = f"{url}/users/unsubscribe?code={uuid.UUID(int=rng.getrandbits(128))}"
            data = {
                "SiteName": site,
                "DisplayName": rng.choice(PEOPLE),
                "QuestionTitle": title_q,
                "UnsubscribeUrl": unsub,
                "Tags": "postgresql, deployment",
            }
            link = None
            if key == "register":
                link = data["RegisterUrl"] = f"{url}/users/account-activation?code={token}"
            elif key == "pass_reset":
                link = data["PassResetUrl"] = f"{url}/users/password-reset?code={token}"
            elif key == "change_email":
                link = data["ChangeEmailUrl"] = f"{url}/users/confirm-new-email?code={token}"
            elif key == "new_answer":
                data["AnswerUrl"] = f"{url}/questions/{qid}/{slug}/{aid}"
                data["AnswerSummary"] = (
                    "Set the pool size in the config and restart the workers one at a time..."
                )
            elif key == "new_comment":
                data["CommentUrl"] = (
                    f"{url}/questions/{qid}/{slug}/{aid}?commentId=1003000000000{rng.randint(1000, 9999)}"
                )
                data["CommentSummary"] = "Thanks, that fixed it for me on 1.4 as well."
            elif key == "invited_you_to_answer":
                data["InviteUrl"] = f"{url}/questions/{qid}/{slug}"
            elif key == "new_question":
                data["QuestionUrl"] = f"{url}/questions/{qid}/{slug}"
            subject = go_tpl(title, data)
            body_html = go_tpl(body, data)
            wrapper = pick_wrapper() if link else pick_wrapper(0.1)
            body_html, _, expected = wrap_parts(body_html, None, wrapper, link)
            host = url.split("//")[1]
            raw = build(
                subject=subject,
                sender=(site, f"no-reply@{host}"),
                to=f"{name} <{login}@mail.example>",
                html_body=body_html,
                msgid_host=host,
                minutes=COUNTER[0] * 37,
            )
            emit(
                "answer",
                key.replace("_", "-"),
                lang,
                raw,
                otp=None,
                code_kind=None,
                link=expected,
                language=lang,
                charset="utf-8",
                cls=cls,
                repo=repo,
                path=f"i18n/{code}.yaml (backend.email_tpl.{key}) + internal/service/export/email_service.go",
                wrapper=wrapper,
                note=(
                    "gomail, HTML part only (SetBody text/html), subject and body from the language's "
                    "email_tpl, English where the key is empty; token uuid v7 (pkg/token), URLs from "
                    "internal/service/content/user_service.go and pkg/display/url.go."
                ),
            )


# ---------------------------------------------------------------------------------------
# JHipster


def props(text: str, base: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith(("<%", "#", "!")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.replace("<%- baseName %>", base)
        v = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), v)
        out[k.strip()] = v.strip()
    return out


JH_LANGS = {
    "de": "de",
    "fr": "fr",
    "es": "es",
    "it": "it",
    "pt_BR": "pt-BR",
    "ru": "ru",
    "ua": "uk",
    "pl": "pl",
    "cs": "cs",
    "ja": "ja",
    "ko": "ko",
    "zh_CN": "zh-CN",
    "zh_TW": "zh-TW",
    "tr": "tr",
    "vi": "vi",
    "fa": "fa",
    "he": "he",
    "ar_LY": "ar",
    "sv": "sv",
    "hu": "hu",
    "ro": "ro",
    "el": "el",
    "nl": "nl",
    "da": "da",
    "fi": "fi",
    "bg": "bg",
    "sr": "sr",
    "hr": "hr",
    "th": "th",
    "et": "et",
    "hi": "hi",
    "id": "id",
    "ca": "ca",
    "sk": "sk",
    "hy": "hy",
    "ta": "ta",
    "en": "en",
}


def jhipster() -> None:
    repo = "jhipster/generator-jhipster"
    tdir = "generators/spring-boot/templates/src/main/resources/templates/mail/"
    templates = {
        k: show(repo, f"{tdir}{k}.html.ejs")
        for k in ("activationEmail", "creationEmail", "passwordResetEmail")
    }
    apps = [
        ("Ledgerly", "https://app.ledgerly.example"),
        ("fleetDesk", "https://fleetdesk.northwind.example"),
        ("clinicPortal", "https://portal.clinic-sud.example"),
        ("gatewayApp", "http://localhost:8080"),
    ]
    kinds = ["activationEmail", "passwordResetEmail", "creationEmail"]
    for i, (code, lang) in enumerate(JH_LANGS.items()):
        base, url = rng.choice(apps[:3]) if i % 9 else apps[3]
        msgs = props(
            show(
                repo,
                f"generators/java/generators/i18n/templates/src/main/resources/i18n/messages_{code}.properties.ejs",
            ),
            base,
        )
        for kind in [kinds[i % 3]] if i % 3 else [kinds[i % 3], kinds[(i + 1) % 3]]:
            src = templates[kind]
            src = src[src.index("<!doctype") if "<!doctype" in src else src.index("<html") :]
            _name, login = person()
            key = rand(20)
            if kind == "activationEmail":
                link = f"{url}/account/activate?key={key}"
                title_key, pre = "email.activation.title", "email.activation"
                text1 = msgs["email.activation.text1"]
                cls = "verify-link"
            elif kind == "creationEmail":
                link = f"{url}/account/reset/finish?key={key}"
                title_key, pre = "email.activation.title", "email.activation"
                text1 = msgs.get("email.creation.text1", msgs["email.activation.text1"])
                cls = "invite"
            else:
                link = f"{url}/account/reset/finish?key={key}"
                title_key, pre = "email.reset.title", "email.reset"
                text1 = msgs["email.reset.text1"]
                cls = "reset"
            en_msgs = props(
                show(
                    repo,
                    "generators/java/generators/i18n/templates/src/main/resources/i18n/messages_en.properties.ejs",
                ),
                base,
            )
            if code != "en" and text1 in en_msgs.values():
                continue  # untranslated: not labelled with a language it does not use
            greeting = msgs[f"{pre}.greeting"].replace("{0}", login)
            h = src
            h = re.sub(
                r'<html xmlns:th="http://www.thymeleaf.org" th:lang="\$\{#locale.language\}" lang="en">',
                f'<html lang="{code.split("_")[0]}">',
                h,
            )
            h = re.sub(
                r'<title th:text="#\{[^}]+\}">[^<]*</title>',
                f"<title>{html.escape(msgs[title_key])}</title>",
                h,
            )
            h = re.sub(
                r'<link rel="icon" th:href="[^"]+" />',
                f'<link rel="icon" href="{url}/favicon.ico" />',
                h,
            )
            h = re.sub(
                r'<p th:text="#\{[a-z.]+greeting\([^)]*\)\}">[^<]*</p>',
                f"<p>{html.escape(greeting)}</p>",
                h,
            )
            h = re.sub(
                r'<p th:text="#\{email\.[a-z]+\.text1\}">.*?</p>',
                f"<p>{html.escape(text1)}</p>",
                h,
                flags=re.S,
            )
            h = re.sub(
                r'<a th:with="[^"]+" th:href="\$\{url\}" th:text="\$\{url\}">[^<]*</a>',
                f'<a href="{html.escape(link)}">{html.escape(link)}</a>',
                h,
            )
            h = re.sub(
                r'<span th:text="#\{email\.[a-z]+\.text2\}">[^<]*</span>',
                f"<span>{html.escape(msgs[f'{pre}.text2'])}</span>",
                h,
            )
            h = re.sub(
                r'<em th:text="#\{email\.signature\}">[^<]*</em>',
                f"<em>{html.escape(msgs['email.signature'])}</em>",
                h,
            )
            assert "th:" not in h, h
            wrapper = pick_wrapper()
            h, _, expected = wrap_parts(h, None, wrapper, link)
            host = url.split("//")[1].split(":")[0]
            raw = build(
                subject=msgs[title_key],
                sender=(base, f"{base.lower()}@{host if '.' in host else 'localhost'}"),
                to=f"{login}@mail.example",
                html_body=h,
                cte=rng.choice(["quoted-printable", "base64"]),
                msgid_host=host if "." in host else "localhost",
                minutes=COUNTER[0] * 41,
            )
            emit(
                "jhipster",
                kind.replace("Email", "").lower(),
                lang,
                raw,
                otp=None,
                code_kind=None,
                link=expected,
                language=lang,
                charset="utf-8",
                cls=cls,
                repo=repo,
                path=f"{tdir}{kind}.html.ejs + generators/java/generators/i18n/templates/src/main/resources/i18n/messages_{code}.properties.ejs",
                wrapper=wrapper,
                note=(
                    "Thymeleaf template as MailService sends it (MimeMessageHelper, UTF-8, HTML only, subject "
                    "from the message source); key RandomUtil 20 alphanumerics; the creation mail's link is the "
                    "password-setting link (reset/finish) and its subject the activation title, as MailService does."
                ),
            )


# ---------------------------------------------------------------------------------------
# wallabag

WB_LANGS = [
    "de",
    "fr",
    "es",
    "it",
    "pt",
    "ru",
    "uk",
    "pl",
    "cs",
    "ja",
    "ko",
    "zh",
    "zh_Hant",
    "tr",
    "fa",
    "ar",
    "sv",
    "hu",
    "ro",
    "el",
    "nl",
    "da",
    "nb",
    "hr",
    "ca",
    "id",
    "th",
    "lt",
    "en",
]
WB_BCP = {"zh": "zh-CN", "zh_Hant": "zh-TW", "nb": "nb"}


def twig_block(src: str, name: str) -> str:
    m = re.search(r"\{% block " + name + r" %\}\n?(.*?)\{% endblock %\}", src, re.S)
    return m.group(1)


def twig_render(block: str, vals: dict[str, str], esc: bool) -> str:
    def rep(m: re.Match) -> str:
        v = vals[m.group(1).strip()]
        return html.escape(v, quote=True) if esc else v

    return re.sub(r"\{\{ (.*?) \}\}", rep, block)


def wallabag() -> None:
    repo = "wallabag/wallabag"
    src = show(repo, "templates/TwoFactor/email_auth_code.html.twig")
    en = yaml.load(show(repo, "translations/wallabag_user.en.yml"), Loader=yaml.BaseLoader)[
        "auth_code"
    ]
    hosts = [
        "https://read.kestrel.example",
        "https://wallabag.hausnetz.example",
        "https://bag.orchid-media.example",
    ]
    for lang in WB_LANGS:
        tr = (
            yaml.load(show(repo, f"translations/wallabag_user.{lang}.yml"), Loader=yaml.BaseLoader)
            or {}
        )
        ac = tr.get("auth_code") or {}
        mailer = {**en["mailer"], **{k: v for k, v in (ac.get("mailer") or {}).items() if v}}
        body = {
            **en["mailer"]["body"],
            **{k: v for k, v in ((ac.get("mailer") or {}).get("body") or {}).items() if v},
        }
        on = ac.get("on") or en["on"]
        if lang != "en" and body["first_para"] == en["mailer"]["body"]["first_para"]:
            continue
        name, login = person()
        code = f"{rng.randint(0, 999999):06d}"
        url = rng.choice(hosts)
        support = "https://github.com/wallabag/wallabag/issues/new/choose"
        vals = {
            "\"auth_code.mailer.subject\"|trans({}, 'wallabag_user')": mailer["subject"],
            "\"auth_code.mailer.body.hello\"|trans({'%user%': user}, 'wallabag_user')": body[
                "hello"
            ].replace("%user%", name),
            "\"auth_code.mailer.body.first_para\"|trans({}, 'wallabag_user')": body["first_para"],
            "\"auth_code.mailer.body.second_para\"|trans({}, 'wallabag_user')": body["second_para"],
            "\"auth_code.mailer.body.support\"|trans({}, 'wallabag_user')": body["support"],
            "\"auth_code.mailer.body.signature\"|trans({}, 'wallabag_user')": body["signature"],
            "\"auth_code.on\"|trans({}, 'wallabag_user')": on,
            "code": code,
            "support_url": support,
            "wallabag_url": url,
            "absolute_url(asset('img/logo-square.svg'))": f"{url}/img/logo-square.svg",
        }

        subject = twig_render(twig_block(src, "subject"), vals, False).strip()
        text = twig_render(twig_block(src, "body_text"), vals, False)
        h = twig_render(twig_block(src, "body_html"), vals, True)
        wrapper = pick_wrapper(0.12)
        h, text, _ = wrap_parts(h, text, wrapper, None)
        host = url.split("//")[1]
        raw = build(
            subject=subject,
            sender=("wallabag", f"no-reply@{host}"),
            to=f"{login}@mail.example",
            text=text,
            html_body=h,
            msgid_host=host,
            minutes=COUNTER[0] * 29,
        )
        emit(
            "wallabag",
            "auth-code",
            WB_BCP.get(lang, lang),
            raw,
            otp=code,
            code_kind="digits",
            link=None,
            language=WB_BCP.get(lang, lang),
            charset="utf-8",
            cls="2fa",
            repo=repo,
            path=f"templates/TwoFactor/email_auth_code.html.twig + src/Mailer/AuthCodeMailer.php + translations/wallabag_user.{lang}.yml",
            wrapper=wrapper,
            note=(
                "AuthCodeMailer: subject, body_text and body_html blocks, text and HTML alternatives (Symfony "
                "Mailer, UTF-8); 6-digit code (scheb_two_factor.email.digits: 6 in app/config/config.yml); the "
                "support link (wallabag_support_url default) is not an action link."
            ),
        )


# ---------------------------------------------------------------------------------------
# Cachet 2.4


def php_array(src: str):
    """Parse the `return [ ... ];` of a Laravel language file."""
    s = src[src.index("return [") + 7 :]
    pos = 0

    def ws():
        nonlocal pos
        while True:
            m = re.match(r"(\s+|//[^\n]*\n|/\*.*?\*/)", s[pos:], re.S)
            if not m:
                return
            pos += m.end()

    def value():
        nonlocal pos
        ws()
        c = s[pos]
        if c == "[":
            pos += 1
            out = {}
            idx = 0
            while True:
                ws()
                if s[pos] == "]":
                    pos += 1
                    return out
                k = value()
                ws()
                if s.startswith("=>", pos):
                    pos += 2
                    v = value()
                else:
                    k, v = idx, k
                    idx += 1
                out[k] = v
                ws()
                if s[pos] == ",":
                    pos += 1
        if c in "'\"":
            q = c
            pos += 1
            buf = []
            while s[pos] != q:
                if s[pos] == "\\" and s[pos + 1] in (q, "\\"):
                    buf.append(s[pos + 1])
                    pos += 2
                else:
                    buf.append(s[pos])
                    pos += 1
            pos += 1
            return "".join(buf)
        m = re.match(r"-?\d+", s[pos:])
        if m:
            pos += m.end()
            return int(m.group(0))
        raise ValueError(s[pos : pos + 40])

    return value()


CACHET_LANGS = {  # lang dir -> (BCP 47, charsets a deployment sets with Swift_Preferences::setCharset)
    "de-DE": ("de", ["iso-8859-1", "windows-1252", "iso-8859-15", "utf-8"]),
    "fr-FR": ("fr", ["iso-8859-15", "utf-8", "windows-1252", "iso-8859-1"]),
    "cs-CZ": ("cs", ["iso-8859-2", "windows-1250", "utf-8", "iso-8859-2"]),
    "nl-NL": ("nl", ["windows-1252", "iso-8859-1", "utf-8", "iso-8859-15"]),
    "pt-BR": ("pt-BR", ["iso-8859-1", "utf-8", "windows-1252", "iso-8859-1"]),
    "id-ID": ("id", ["us-ascii", "iso-8859-1", "utf-8", "us-ascii"]),
    "no-NO": ("nb", ["iso-8859-1", "iso-8859-15", "utf-8", "windows-1252"]),
    "zh-CN": ("zh-CN", ["gb2312", "gbk", "utf-8", "gb18030"]),
    "en": ("en", ["utf-8", "us-ascii", "iso-8859-1"]),
}


def cachet() -> None:
    repo = "cachethq/cachet"
    en = php_array(show(repo, "resources/lang/en/notifications.php"))
    pages = [
        ("Northwind Status", "https://status.northwind.example"),
        ("Kestrel Cloud", "https://status.kestrel.example"),
        ("Lumen Labs", "https://lumen-status.example"),
    ]
    kinds = ["verify", "invite", "incident", "component", "verify", "update", "test", "invite"]
    for i, (ldir, (lang, charsets)) in enumerate(CACHET_LANGS.items()):
        n = php_array(show(repo, f"resources/lang/{ldir}/notifications.php"))
        c = php_array(show(repo, f"resources/lang/{ldir}/cachet.php"))
        if lang != "en" and n == en:
            continue
        for j, charset in enumerate(charsets):
            kind = kinds[(i + j * 3) % 8] if j else kinds[i % 2]
            app, url = rng.choice(pages)
            _name, login = person()
            code = rand(42)
            sig = hashlib.sha256(rng.randbytes(16)).hexdigest()
            unsub = f"{url}/unsubscribe/{code}"
            manage = f"{url}/subscribe/manage/{code}"
            sub_line = (
                f"[{c['subscriber']['unsubscribe']}]({unsub}) &mdash; "
                f"[{c['subscriber']['manage_subscription']}]({manage})"
            )
            link = None
            action = None
            comp = rng.choice(["API", "Dashboard", "Payments", "Webhooks"])
            inc = rng.choice(
                ["Elevated error rates", "Degraded performance in EU region", "Delayed webhooks"]
            )
            if kind in ("verify", "invite"):
                m = (
                    n["subscriber"]["verify"]["mail"]
                    if kind == "verify"
                    else n["user"]["invite"]["mail"]
                )
                if kind == "verify":
                    link = f"{url}/subscribe/verify/{code}?signature={sig}"
                    cls = "verify-link"
                else:
                    link = f"{url}/signup/invite/{rand(20)}"
                    cls = "invite"
                subject = m["subject"]
                greeting = m["title"].replace(":app_name", app)
                lines_after = [m["content"].replace(":app_name", app)]
                action = (m["action"], link)
                slot = f"# {greeting}\n\n"
                btn = action
                after = "".join(f"{ln}\n\n" for ln in lines_after)
                salutation = f"Regards,<br>{app}"
                subcopy = (
                    f'If you’re having trouble clicking the "{btn[0]}" button, copy and paste the URL below\n'
                    f"into your web browser: [{btn[1]}]({btn[1]})"
                )
                body_md, body_after, sub = slot, after + salutation, subcopy
                path = (
                    f"app/Notifications/{'Subscriber/VerifySubscriptionNotification' if kind == 'verify' else 'User/InviteUserNotification'}.php"
                    " + resources/views/vendor/notifications/email.blade.php"
                )
            elif kind in ("incident", "update"):
                cls = "notification"
                m = (
                    n["incident"]["new"]["mail"]
                    if kind == "incident"
                    else n["incident"]["update"]["mail"]
                )
                subject = m["subject"]
                if kind == "incident":
                    head = n["incident"]["new"]["mail"]["greeting"].replace(":app_name", app)
                    path = "app/Notifications/Incident/NewIncidentNotification.php + resources/views/notifications/incident/new.blade.php"
                else:
                    status = (
                        c.get("incidents", {}).get("status", {}).get(rng.choice([2, 3, 4]))
                        or "Fixed"
                    )
                    head = m["title"].replace(":name", inc).replace(":new_status", str(status))
                    path = "app/Notifications/IncidentUpdate/IncidentUpdatedNotification.php + resources/views/notifications/incident/update.blade.php"
                body_md = f"# {head}\n\n{inc}: we are investigating reports of {inc.lower()}.\n\n"
                btn = (
                    n["incident"]["new"]["mail"]["action"],
                    f"{url}/incidents/{rng.randint(12, 480)}",
                )
                body_after = f"Thanks,<br>\n{app}\n\n"
                sub = sub_line
            elif kind == "component":
                cls = "notification"
                m = n["component"]["status_update"]["mail"]
                subject = m["subject"]
                st = c["components"]["status"]
                content = (
                    m["content"]
                    .replace(":name", comp)
                    .replace(":old_status", str(st.get(1, "Operational")))
                    .replace(":new_status", str(st.get(3, "Partial Outage")))
                )
                body_md = f"# {m['greeting']}\n\n{content}\n\nThanks,<br>\n{app}\n\n"
                btn = None
                body_after = ""
                sub = sub_line
                path = "app/Notifications/Component/ComponentStatusChangedNotification.php + resources/views/notifications/component/update.blade.php"
            else:
                cls = "notice"
                m = n["system"]["test"]["mail"]
                subject = m["subject"]
                body_md = f"# {m['title']}\n\n{m['content']}\n\n"
                btn = None
                body_after = f"Regards,<br>{app}"
                sub = None
                path = "app/Notifications/System/SystemTestNotification.php + resources/views/vendor/notifications/email.blade.php"
            # HTML: Markdown::parse of the slot inside the vendor mail layout (CSS inlining not reproduced)
            button_html = ""
            if btn:
                button_html = (
                    '<table class="action" align="center" width="100%" cellpadding="0" cellspacing="0">\n    <tr>\n'
                    '        <td align="center">\n            <table width="100%" border="0" cellpadding="0" cellspacing="0">\n'
                    '                <tr>\n                    <td align="center">\n'
                    '                        <table border="0" cellpadding="0" cellspacing="0">\n                            <tr>\n'
                    "                                <td>\n"
                    f'                                    <a href="{html.escape(btn[1])}" class="button button-primary" target="_blank">{html.escape(btn[0])}</a>\n'
                    "                                </td>\n                            </tr>\n                        </table>\n"
                    "                    </td>\n                </tr>\n            </table>\n        </td>\n    </tr>\n</table>\n"
                )
            md_all = body_md + button_html + "\n\n" + body_after
            body_html = markdown.markdown(md_all)
            sub_html = ""
            if sub:
                sub_html = (
                    '<table class="subcopy" width="100%" cellpadding="0" cellspacing="0">\n    <tr>\n        <td>\n'
                    f"            {markdown.markdown(sub)}\n        </td>\n    </tr>\n</table>"
                )
            year = "2026"
            footer = f"© {year} {app}. All rights reserved."
            page = (
                '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
                '<html xmlns="http://www.w3.org/1999/xhtml">\n<head>\n    <meta name="viewport" content="width=device-width, initial-scale=1.0" />\n'
                '    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />\n</head>\n<body>\n'
                '    <table class="wrapper" width="100%" cellpadding="0" cellspacing="0">\n        <tr>\n            <td align="center">\n'
                '                <table class="content" width="100%" cellpadding="0" cellspacing="0">\n'
                f'                    <tr>\n    <td class="header">\n        <a href="{url}">\n            {html.escape(app)}\n        </a>\n    </td>\n</tr>\n'
                '                    <!-- Email Body -->\n                    <tr>\n                        <td class="body" width="100%" cellpadding="0" cellspacing="0">\n'
                '                            <table class="inner-body" align="center" width="570" cellpadding="0" cellspacing="0">\n'
                '                                <!-- Body content -->\n                                <tr>\n                                    <td class="content-cell">\n'
                f"{body_html}\n\n{sub_html}\n"
                "                                    </td>\n                                </tr>\n                            </table>\n                        </td>\n                    </tr>\n"
                '                    <tr>\n    <td>\n        <table class="footer" align="center" width="570" cellpadding="0" cellspacing="0">\n'
                f'            <tr>\n                <td class="content-cell" align="center">\n                    {markdown.markdown(footer)}\n'
                "                </td>\n            </tr>\n        </table>\n    </td>\n</tr>\n"
                "                </table>\n            </td>\n        </tr>\n    </table>\n</body>\n</html>\n"
            )
            # text: the markdown views with strip_tags, entities decoded (Markdown::renderText)
            text_slot = body_md + (f"{btn[0]}: {btn[1]}\n\n" if btn else "") + body_after
            text = f"[{app}]({url})\n\n{text_slot}\n"
            if sub:
                text += f"\n{sub}\n"
            text += f"\n{footer}\n"
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
            text = re.sub(r"[\r\n]{2,}", "\n\n", text)
            wrapper = pick_wrapper() if link else pick_wrapper(0.1)
            page, text, expected = wrap_parts(page, text, wrapper, link)
            host = url.split("//")[1]
            cte = "quoted-printable" if charset not in ("iso-2022-jp",) else "7bit"
            raw = build(
                subject=subject,
                sender=(app, f"status@{host}"),
                to=f"{login}@mail.example",
                text=text,
                html_body=page,
                charset=charset,
                cte=cte,
                msgid_host=host,
                minutes=COUNTER[0] * 23,
                mailer=None,
            )
            emit(
                "cachet",
                kind,
                lang,
                raw,
                otp=None,
                code_kind=None,
                link=expected,
                language=lang,
                charset=charset,
                cls=cls,
                repo=repo,
                path=f"{path} + resources/lang/{ldir}/{{notifications,cachet}}.php",
                wrapper=wrapper,
                note=(
                    "Laravel 5.7 markdown mail: HTML from the vendor mail layout (CSS inlining not reproduced), text "
                    "from the markdown views; strings from the language's notifications.php, the framework strings "
                    "(Regards, Thanks, subcopy, All rights reserved) English as Cachet ships no JSON catalogue; "
                    "subscriber code Str::random(42), invite code Str::random(20), verify URL signed (signature "
                    "HMAC-SHA256 hex); charset as set with Swift_Preferences::setCharset, characters the charset "
                    "lacks written as ASCII look-alikes. The incident mail's View button is a view link."
                ),
            )


# ---------------------------------------------------------------------------------------
# Penpot


def selmer(src: str, data: dict, repo: str) -> str:
    src = re.sub(
        r'\{% include "([^"]+)" %\}', lambda m: show(repo, "backend/resources/" + m.group(1)), src
    )

    def cond(m):
        key = m.group(1)
        return m.group(2) if data.get(key) else ""

    src = re.sub(r"\{% if ([\w.-]+) %\}(.*?)\{% endif %\}", cond, src, flags=re.S)

    def var(m):
        key, filt = m.group(1), m.group(2)
        v = str(data.get(key, ""))
        if filt:
            n = int(filt)
            if len(v) > n:
                v = v[: n - 3] + "..."
        # Selmer escapes every {{ }} value, in the text templates too
        for a, b in (("&", "&amp;"), ('"', "&quot;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;")):
            v = v.replace(a, b)
        return v

    return re.sub(r"\{\{\s*([\w.-]+)(?:\|abbreviate:(\d+))?\s*\}\}", var, src)


def penpot_token() -> str:
    hdr = base64.urlsafe_b64encode(b'{"alg":"A256KW","enc":"A256GCM"}').rstrip(b"=").decode()
    return f"{hdr}.{b64url(40)}.{b64url(12)}.{b64url(rng.randint(110, 190))}.{b64url(16)}"


def penpot() -> None:
    repo = "penpot/penpot"
    hosts = [
        "https://design.kestrel.example",
        "https://penpot.lumen-labs.example",
        "https://penpot.hausnetz.example",
    ]
    plan = [
        "register",
        "password-recovery",
        "invite-to-team",
        "change-email",
        "comment-notification",
        "comment-mention",
        "join-team",
        "register",
        "password-recovery",
        "invite-to-team",
        "comment-notification",
    ]
    classes = {
        "register": "verify-link",
        "password-recovery": "reset",
        "invite-to-team": "invite",
        "change-email": "email-change",
        "comment-notification": "notification",
        "comment-mention": "notification",
        "join-team": "notification",
    }
    for kind in plan:
        url = rng.choice(hosts)
        name, login = person()
        token = penpot_token()
        team = rng.choice(["Design System", "Marketing Site 2027", "Mobile App"])
        data = {
            "public-uri": url,
            "name": name,
            "token": token,
            "invited-by": rng.choice(PEOPLE),
            "team": team,
            "pending-email": f"{login}.new@mail.example",
            "source-user": rng.choice(PEOPLE),
            "comment-reference": f"#{rng.randint(2, 40)}, {team} onboarding, Page 1",  # format-comment-ref
            "comment-content": "Can we align the header spacing with the grid?",
            "comment-url": (  # format-comment-url in backend/src/app/rpc/commands/comments.clj
                f"{url}/#/workspace?file-id={uuid.UUID(int=rng.getrandbits(128))}"
                f"&page-id={uuid.UUID(int=rng.getrandbits(128))}&team-id={uuid.UUID(int=rng.getrandbits(128))}"
                f"&comment-id={uuid.UUID(int=rng.getrandbits(128))}"
            ),
            "team-id": str(uuid.UUID(int=rng.getrandbits(128))),
            "organization": None,
        }
        base = f"backend/resources/app/email/{kind}/en"
        subject = selmer(show(repo, base + ".subj"), data, repo).strip()
        text = selmer(show(repo, base + ".txt"), data, repo)
        h = selmer(show(repo, base + ".html"), data, repo)
        link = None
        if kind in ("register", "invite-to-team", "change-email"):
            link = f"{url}/#/auth/verify-token?token={token}"
        elif kind == "password-recovery":
            link = f"{url}/#/auth/recovery?token={token}"
        wrapper = pick_wrapper()
        h, text, expected = wrap_parts(h, text, wrapper, link)
        host = url.split("//")[1]
        raw = build(
            subject=subject,
            sender=("Penpot", f"no-reply@{host}"),
            to=f"{name} <{login}@mail.example>",
            text=text,
            html_body=h,
            msgid_host=host,
            minutes=COUNTER[0] * 31,
        )
        emit(
            "penpot",
            kind,
            "en",
            raw,
            otp=None,
            code_kind=None,
            link=expected,
            language="en",
            charset="utf-8",
            cls=classes[kind],
            repo=repo,
            path=f"{base}.{{subj,txt,html}} + backend/src/app/email.clj",
            wrapper=wrapper,
            note=(
                "Selmer templates as app.email sends them (multipart/alternative, text and HTML, UTF-8); tokens "
                "JWE compact (A256KW/A256GCM) as app.tokens/generate; the comment and join-team mails' links are "
                "view links."
            ),
        )


def main() -> None:
    for f in OUT.glob("*.eml"):
        f.unlink()
    wallabag()
    answer()
    jhipster()
    cachet()
    penpot()
    (OUT / "manifest.json").write_text(json.dumps(MANIFEST, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
