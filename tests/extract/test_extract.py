"""Extraction quality on the corpus, plus focused checks of the rules behind it."""

from __future__ import annotations

import email.policy
import json
import random
from email.message import Message
from pathlib import Path
from urllib.parse import quote

import pytest

from dispatch_client.extract import decode_text_part, extract, extract_message, html_to_text
from dispatch_client.extract.mime import attachment_filename, is_attachment, leaf_parts, parse_bytes

CORPUS = Path(__file__).parents[1] / "corpus"
EXPECTED: dict[str, dict[str, str | None]] = json.loads((CORPUS / "expected.json").read_text())


def test_corpus_is_large_and_varied() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert files == sorted(EXPECTED), "every .eml has an expectation and vice versa"
    assert len(files) >= 60
    languages = {name.rsplit("-", 1)[1].removesuffix(".eml") for name in files}
    assert len(languages) >= 10, languages
    kinds = [EXPECTED[f] for f in files]
    assert sum(1 for k in kinds if k["otp"] is None and k["primary_link"] is None) >= 8
    assert sum(1 for k in kinds if k["primary_link"] is not None) >= 10


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message(name: str) -> None:
    result = extract_message((CORPUS / name).read_bytes())
    expected = EXPECTED[name]
    assert (result.otp, result.primary_link) == (expected["otp"], expected["primary_link"])


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Your code is 482-913.", "482913"),
        ("Your code is 482 913.", "482913"),
        ("Verification code: 4 8 2 9 1 3", "482913"),
        ("Your login code: a7k-92q", "a7k92q"),  # as written: a code may be case-sensitive
        ("Your login code: A7K-92Q", "A7K92Q"),
        ("Code: 2026", "2026"),  # a year-like code still wins when it is the only candidate
    ],
)
def test_normalisation(text: str, code: str | None) -> None:
    assert extract(None, text, None).otp == code


@pytest.mark.parametrize(
    "text",
    [
        "Order #483920 has shipped",
        "Total: $1,299.00 — thanks!",
        "Betrag: 49,99 € am 24.11.2026",
        "Call us at +1 415 555 0132 or (415) 555-0132",
        "Meeting on 2026-11-24 at 10:45",
        "Use promo code SAVE3024 for 30% off",
        "© 2026 Acme Inc, San Francisco CA 94104",
        "Step 1 of 3: choose a plan",
        "Tracking number: 1Z 999 AA1 01 2345 6784",
    ],
)
def test_decoys_are_not_codes(text: str) -> None:
    assert extract("Your order", text, None).otp is None


def test_css_colours_are_not_codes() -> None:
    html = (
        "<style>.a{color:#333333} .b{background:#112233}</style>"
        "<p style='color:#444444'>Your verification code</p><p>661204</p>"
    )
    assert extract(None, None, html).otp == "661204"


def test_html_to_text_keeps_cells_apart_and_drops_invisible_parts() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<script>var code = 111111;</script><table><tr><td>Code</td><td>482913</td></tr></table>"
        "<p>caf&eacute; &amp; more</p><!-- 999999 --></body></html>"
    )
    assert html_to_text(html) == "Code\n482913\ncafé & more"


def test_links_are_unwrapped_decoded_and_ranked() -> None:
    html = (
        '<a href="https://x.test/unsubscribe?u=1">Unsubscribe</a>'
        '<a href="https://www.google.test/url?q=https://app.test/verify?token%3Dabcdefgh12345678&amp;sa=D">'
        "Verify email</a>"
        '<a href="mailto:help@x.test">Mail us</a><a href="https://x.test/blog">Blog</a>'
    )
    result = extract(None, None, html)
    assert result.primary_link == "https://app.test/verify?token=abcdefgh12345678"
    assert [link.url for link in result.links] == [
        "https://x.test/unsubscribe?u=1",
        "https://app.test/verify?token=abcdefgh12345678",
        "https://x.test/blog",
    ]


def test_no_action_link_means_no_primary() -> None:
    assert extract(None, "Read more at https://news.test/issue/212.", None).primary_link is None


def test_never_raises_on_garbage() -> None:
    rng = random.Random(20261124)
    alphabet = "0123456789 -#$€.:,/<>&;=\"'abcdefXYZ\n\tкод验证码٤۴٫٬٪کد"
    for _ in range(300):
        blob = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        result = extract(blob[:40], blob, f"<p>{blob}</p><a href='{blob}'>x</a>")
        for otp in result.otps:
            assert 4 <= len(otp.code) <= 8
        assert sum(link.is_primary for link in result.links) <= 1
    assert extract_message(b"\xff\xfe\x00garbage").otp is None


@pytest.mark.parametrize(
    ("subject", "text", "code"),
    [
        (None, "您的验证码是482913，5分钟内有效。", "482913"),  # no space around the code
        (None, "認証コード：482913", "482913"),
        (None, "Ваш код подтверждения: 739104", "739104"),
        (None, "Doğrulama kodunuz: 518 204", "518204"),
        (None, "Your verification code for order #58213077 is 482913", "482913"),
        (None, "Your Slack confirmation code: WXK-2P9", "WXK2P9"),
        ("482913 is your Acme code", None, "482913"),
        ("Sign in to Pollen", "Enter this in the app:\n\n572039\n\nSee you soon", "572039"),
    ],
)
def test_codes_in_context(subject: str | None, text: str | None, code: str) -> None:
    result = extract(subject, text, None)
    assert result.otp == code
    assert len({otp.code for otp in result.otps}) == len(result.otps)
    assert all(0.0 <= otp.score <= 1.0 for otp in result.otps)


@pytest.mark.parametrize(
    "text",
    [
        # A meeting's passcode, also in the one-tap dial string.
        "Join Zoom Meeting\nMeeting ID: 845 2291 0637\nPasscode: 739155\n"
        "+16469313860,,84522910637#,,,,*739155# US",
        # A booking's record locator is called a confirmation code.
        "Flight SK 1532 departs 06:45.\nConfirmation code: K7XP2M",
        # A card payment's authorisation on a receipt.
        "Visa 4242 (Contactless) $23.76\nAuth code: 004512",
        # A promo code, next to the keyword or on the line after it.
        "Use code WINTER25 for 25% off",
        "Take an extra 25% off sale styles with code\nWINTER25",
        "Routing number 021000089 · PO Box 55210, Charlotte, NC 28255",
        "Receipt #2WQ9-K7TZ · Terminal 3",
    ],
)
def test_context_decoys_are_not_codes(text: str) -> None:
    assert extract(None, text, None).otps == ()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("رمز التحقق الخاص بك هو ٤٨٢٩١٣", "482913"),  # Arabic-Indic digits
        ("کد تأیید شما: ۴۸۲۹۱۳", "482913"),  # Persian digits
        ("کد ورود:\n۰۷۳۱۵۸\nاین کد تا ۲ دقیقه معتبر است.", "073158"),  # leading zero kept
        ("رمز التحقق: ٤٨٢ ٩١٣", "482913"),
        ("आपका ओटीपी ४८२९१३ है।", "482913"),  # Devanagari
        ("認証コード：４８２９１３", "482913"),  # fullwidth
        ("کد ۴۸۲۹", "4829"),
        ("کدام ۴۸۲۹", None),  # "which": the Persian "code" is matched as a whole word
    ],
)
def test_codes_in_other_digits_come_out_ascii(text: str, code: str | None) -> None:
    assert extract(None, text, None).otp == code


@pytest.mark.parametrize(
    "text",
    [
        "رمز التحقق أرسل إلى جوالك ٠٥٠١٢٣٤٥٦٧",  # a phone number
        "رمز التحقق: +٩٧١ ٤ ٥٥٥ ٠١٩٩",
        "كود التفعيل ينتهي في ٢٠٢٦/١١/٢٤ ١٠:٤٥",  # a date and a time
        "کد تأیید برای پرداخت ۱٬۲۵۰٬۰۰۰ تومان",  # an amount, Persian thousands separators
        "رمز التحقق لعملية بقيمة ١٬٢٥٠٫٠٠ ر.س",  # Arabic decimal separator
        "رمز التحقق لطلبك رقم ٤٨٢٩١٣",  # "order number"
        "رمز التحقق لبطاقتك المنتهية بـ ٤٢٤٢",  # "card ending in"
        "کد پیگیری سفارش: ۸۳۴۷۱۲",  # a tracking code
        "الرمز البريدي:\n١٣٣٢٧",  # a postal code
        "استخدم رمز الخصم ٤٨٢٩ واحصل على خصم ٢٥٪",  # a promo code
        "Código postal:\n28013",
    ],
)
def test_decoys_in_other_digits_are_not_codes(text: str) -> None:
    assert extract(None, text, None).otps == ()


@pytest.mark.parametrize(
    ("html", "code"),
    [
        (
            "<p>Your verification code</p><table><tr><td class=d>4</td>\n<td class=d>8</td>"
            "<td class=d>2</td><td class=d>9</td><td class=d>1</td><td class=d>3</td></tr></table>",
            "482913",
        ),
        (  # spacer cells between the digits
            "<p>Votre code de sécurité :</p><table><tr><td>4</td><td width=8>&nbsp;</td>"
            "<td>7</td><td width=8></td><td>1</td><td width=8>&nbsp;</td><td>9</td></tr></table>",
            "4719",
        ),
        (  # inline elements, one per source line, in Arabic-Indic digits
            "<p>رمز التحقق</p><div dir=ltr>\n  <span>٢</span>\n  <span>٨</span>\n  <span>٤</span>\n"
            "  <span>٠</span>\n  <span>٦</span>\n  <span>٩</span>\n</div>",
            "284069",
        ),
        (  # no keyword: a row of six single digits is no code
            "<table><tr><td>3</td><td>5</td><td>2</td><td>4</td><td>1</td><td>6</td></tr></table>",
            None,
        ),
        (  # a quantity row under a size header
            "<p>Your order</p><table><tr><th>S</th><th>M</th><th>L</th><th>XL</th></tr>"
            "<tr><td>Qty</td><td>1</td><td>2</td><td>1</td><td>1</td></tr></table>",
            None,
        ),
        (  # digits one per row are a column, not a code
            "<p>Your code</p><table><tr><td>4</td></tr><tr><td>8</td></tr>"
            "<tr><td>2</td></tr><tr><td>9</td></tr></table>",
            None,
        ),
    ],
)
def test_code_laid_out_one_digit_per_cell(html: str, code: str | None) -> None:
    assert extract(None, None, html).otp == code


def test_html_to_text_keeps_a_row_of_digit_cells_on_one_line() -> None:
    row = "".join(f"<td>{digit}</td>" for digit in "482913")
    assert html_to_text(f"<table><tr>{row}</tr></table>") == "4 8 2 9 1 3"
    # More than 8 are no code (a calendar row, a ruler): left one per line.
    nine = "".join(f"<td>{digit}</td>" for digit in "123456789")
    assert html_to_text(f"<table><tr>{nine}</tr></table>") == "\n".join("123456789")
    assert html_to_text("<td>8</td><td>9</td><td>10</td><td>11</td>") == "8\n9\n10\n11"


def test_label_cell_above_a_lone_number_makes_it_no_code() -> None:
    html = "<table><tr><td>Shipment number</td><td>734921</td></tr></table>"
    assert extract(None, None, html).otp is None
    html = "<table><tr><td>Enter this in the app:</td><td>734921</td></tr></table>"
    assert extract(None, None, html).otp == "734921"


def test_numbers_inside_urls_are_not_codes() -> None:
    text = "Your code is below.\nTrack it: https://t.test/p/48291375?code=55512345"
    assert extract(None, text, None).otp is None


def test_best_code_first_with_its_source() -> None:
    html = "<p>Your verification code:</p><p><b>661204</b></p><p>Ref 20261124</p>"
    result = extract("Welcome to Acme", "Hello", html)
    assert [(otp.code, otp.source) for otp in result.otps] == [("661204", "html")]


@pytest.mark.parametrize(
    ("href", "url"),
    [
        # SafeLinks around a Google redirect, the target URL-encoded
        (
            "https://nam12.safelinks.protection.outlook.test/?url=https%3A%2F%2Fwww.google.test"
            "%2Furl%3Fq%3Dhttps%253A%252F%252Fapp.test%252Fconfirm%253Ftoken%253Dabcd1234efgh%26sa"
            "%3DD&amp;data=05%7C01&amp;reserved=0",
            "https://app.test/confirm?token=abcd1234efgh",
        ),
        # a base64url-encoded target
        (
            "https://t.mail.test/r/?id=9&amp;u=aHR0cHM6Ly9hcHAudGVzdC9hY3RpdmF0ZT90b2tlbj1aazhyVDJx",
            "https://app.test/activate?token=Zk8rT2q",
        ),
        # the wrapper itself is the action: its redirect parameter is where to go afterwards
        (
            "https://auth.app.test/verify?token=pk_8d7f2a&amp;redirect=https://app.test/home",
            "https://auth.app.test/verify?token=pk_8d7f2a&redirect=https://app.test/home",
        ),
        # click tracking that does not carry the target: the tracked URL is the link
        (
            "https://u1234.ct.sendgrid.test/ls/click?upn=u001.Qm9n5hZ7Vc0aX2dL8pR",
            "https://u1234.ct.sendgrid.test/ls/click?upn=u001.Qm9n5hZ7Vc0aX2dL8pR",
        ),
    ],
)
def test_primary_link_is_unwrapped(href: str, url: str) -> None:
    html = f'<p>Welcome!</p><p><a href="{href}">Confirm your email</a></p>'
    assert extract(None, None, html).primary_link == url


def test_links_skip_non_http_and_invisible_urls() -> None:
    html = (
        "<style>.hero{background:url(https://cdn.test/bg.png)}</style>"
        '<img src="https://cdn.test/logo.png" alt="Acme">'
        '<a href="mailto:help@acme.test">Mail us</a> <a href="tel:+14155550132">Call</a>'
        '<a href="javascript:void(0)">Menu</a>'
        '<a href="https://acme.test/unsubscribe?confirm=1&amp;token=abcdef123456">Unsubscribe</a>'
    )
    result = extract(None, None, html)
    assert [link.url for link in result.links] == [
        "https://acme.test/unsubscribe?confirm=1&token=abcdef123456"
    ]
    assert result.primary_link is None  # an unsubscribe link is never the action


def test_plain_text_link_is_judged_by_the_sentence_that_introduces_it() -> None:
    text = (
        "Click the link below to confirm your email address:\n\n"
        "https://app.quillbox.test/e/7Hq2Lk9PzX4mWv8RtY3n\n\n"
        "If this wasn't you, reset your password at https://quillbox.test/account/password/Zk8rT2qLm9Xw4Vb7.\n"
    )
    result = extract(None, text, None)
    assert result.primary_link == "https://app.quillbox.test/e/7Hq2Lk9PzX4mWv8RtY3n"
    assert "https://quillbox.test/account/password/Zk8rT2qLm9Xw4Vb7" in [
        link.url for link in result.links
    ]


def test_action_word_in_a_repository_name_is_no_action() -> None:
    html = '<a href="https://git.test/acme/auth-service/pull/4821">view it on GitHub</a>'
    assert extract(None, None, html).primary_link is None


def test_action_in_anchor_text_of_any_language() -> None:
    html = (
        '<a href="https://kontoladen.test/hilfe">Hilfe</a>'
        '<a href="https://mein.kontoladen.test/k/8f3a9c2e7b41d0aa5e6f">'
        "E-Mail-Adresse bestätigen</a>"
    )
    assert extract(None, None, html).primary_link == (
        "https://mein.kontoladen.test/k/8f3a9c2e7b41d0aa5e6f"
    )


def test_html_to_text_survives_broken_markup() -> None:
    # An unclosed <head> ends where the body starts; zero-width and no-break spaces go.
    html = "<head><meta charset=utf-8><title>x</title><body><p>Code&nbsp;482\u200b913</p>"
    assert html_to_text(html) == "Code 482913"
    assert html_to_text("a < b and <b>c</b> > d") == "a < b and c > d"
    assert html_to_text("<p>one<p>two<br/>three</div>") == "one\ntwo\nthree"


@pytest.mark.parametrize(
    "blob",
    [
        "<a href='http://x.test/" * 20_000,
        "<head>" * 30_000,
        '<a href="' * 30_000,
        "<!--" * 50_000,
        "1 " * 100_000,
        "İ" * 50_000 + " code 482913",
        "https://x.test/?u=" * 10_000,
        "<i>1&nbsp;" * 20_000,
        "٤" * 200_000,
    ],
)
def test_pathological_input_is_handled(blob: str) -> None:
    # Each of these once made a pattern rescan the rest of the input at every tag or number.
    result = extract(blob[:1000], blob, blob)
    assert len(result.links) <= 500


def _text_part(payload: bytes, charset: str) -> Message:
    part = Message()
    part["Content-Type"] = f'text/plain; charset="{charset}"'
    part["Content-Transfer-Encoding"] = "8bit"
    part.set_payload(payload)
    return part


@pytest.mark.parametrize(
    ("payload", "charset", "text"),
    [
        ("Code: 482913 — merci".encode(), "us-ascii", "Code: 482913 — merci"),  # a lying label
        (b"\x93Hi\x94 \x80 10", "iso-8859-1", "“Hi” € 10"),  # as Windows-1252, like mail clients
        ("验证码 482913 鍶".encode("gb18030"), "gb2312", "验证码 482913 鍶"),  # GBK-only character
        ("код 739104".encode("koi8-r"), "koi8-r", "код 739104"),
        (b"caf\xc3\xa9", "x-unknown-charset", "café"),
        (b"bad \xff utf-8", "utf-8", "bad \ufffd utf-8"),
    ],
)
def test_decode_text_part(payload: bytes, charset: str, text: str) -> None:
    assert decode_text_part(_text_part(payload, charset)) == text


def test_extract_message_skips_attachments_and_reads_the_subject() -> None:
    raw = (
        b"From: Acme <no-reply@acme.test>\r\nTo: bot@dispatch.test\r\n"
        b"Subject: =?utf-8?q?Ihr_Best=C3=A4tigungscode?=\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: text/plain; charset="iso-8859-1"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Ihr Best=E4tigungscode lautet: 730 184\r\n"
        b'--b\r\nContent-Type: text/plain; name="old.txt"\r\n'
        b'Content-Disposition: attachment; filename="old.txt"\r\n\r\nCode: 111111\r\n--b--\r\n'
    )
    result = extract_message(raw)
    assert [otp.code for otp in result.otps] == ["730184"]


@pytest.mark.parametrize(
    "naming",
    [
        b'Content-Type: text/plain; name="old.txt"',
        b'Content-Type: text/plain; NAME="old.txt"',
        b"Content-Type: text/plain\r\nContent-Disposition: inline; filename=old.txt",
        b"Content-Type: text/plain\r\nContent-Disposition: inline; FileName=old.txt",
        b"Content-Type: text/plain\r\nContent-Disposition: inline;\r\n filename*0=old;"
        b"\r\n filename*1=.txt",
        b"Content-Type: text/plain\r\nContent-Disposition: inline; filename*=utf-8''%C3%B6ld.txt",
        b'Content-Type: text/plain; name="=?utf-8?q?=C3=B6ld.txt?="',
    ],
)
def test_a_text_part_named_like_a_file_in_any_form_is_an_attachment(naming: bytes) -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nYour code is 730184\r\n"
        b"--b\r\n" + naming + b"\r\n\r\nCode: 111111\r\n--b--\r\n"
    )
    message = parse_bytes(raw, policy=email.policy.default)
    leaves = leaf_parts(message)
    assert [is_attachment(part) for part in leaves] == [False, True]
    assert attachment_filename(leaves[1]) is not None
    assert [otp.code for otp in extract_message(raw).otps] == ["730184"]


# --- codes of letters, kinds and confidence -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "kind"),
    [
        ("Your verification code:\nBCDFGH\nIt expires in 10 minutes.", "BCDFGH", "letters"),
        ("Verification code: XQRT-KMPW", "XQRTKMPW", "letters"),
        ("Your code is kQzXbW", "kQzXbW", "letters"),  # mixed case, as written
        ("Sign-in code: 7hGq2Lk", "7hGq2Lk", "mixed"),
        ("Your one-time code:\n482 913", "482913", "digits"),
    ],
)
def test_codes_of_every_kind_are_returned_as_written(text: str, code: str, kind: str) -> None:
    (best, *_) = extract(None, text, None).otps
    assert (best.code, best.kind, best.confident) == (code, kind, True)


@pytest.mark.parametrize(
    "text",
    [
        "Your verification CODE expires soon",  # a keyword in capitals
        "Enter the code we sent to your PHONE now",  # capitals in a sentence
        "Use your code to sign in to GitHub or LinkedIn",  # brand names in camel case
        "Your code was sent to your iPhone",
        "VERIFY YOUR ACCOUNT\nYour code is on its way",
    ],
)
def test_words_in_capitals_or_camel_case_are_not_codes(text: str) -> None:
    assert extract(None, text, None).otp is None


def test_a_code_in_two_halves_on_its_own_line_needs_no_keyword() -> None:
    assert extract(None, "Xin chào,\n142-226\nCảm ơn", None).otp == "142226"
    assert extract(None, "Xin chào,\n142226\nCảm ơn", None).otp == "142226"


def test_a_weak_candidate_is_reported_but_not_taken() -> None:
    """A year far before a code word: listed for a caller with its own threshold, not taken."""
    result = extract(None, "Since 2026 " + "x " * 70 + "code of conduct.", None)
    assert [(otp.code, otp.confident) for otp in result.otps] == [("2026", False)]
    assert result.otp is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Twój kodu weryfikacyjnego: 552190", "552190"),  # Polish endings
        ("Doğrulama kodunuz: 552190", "552190"),  # Turkish
        ("Vahvistuskoodisi on 552190", "552190"),  # Finnish compound and ending
        ("Din bekräftelsekod är 552190", "552190"),  # Swedish compound
        ("Mã của bạn là 552190", "552190"),  # Vietnamese
        ("Codul tău de verificare: 552190", "552190"),  # Romanian
    ],
)
def test_code_words_are_read_with_their_endings_and_in_compounds(text: str, code: str) -> None:
    assert extract(None, text, None).otp == code


def test_a_vietnamese_promotion_is_no_code_word() -> None:
    assert extract(None, "Chương trình khuyến mãi 552190 đồng", None).otp is None


# --- wrappers -------------------------------------------------------------------------------

DESTINATION = "https://id.example.org/verify?token=Zq9xP2mN7kL4vB8c&lang=pl"


def _wrapped_by(kind: str) -> str:
    from urllib.parse import quote

    encoded = quote(DESTINATION, safe="")
    if kind == "ses":
        return f"https://abc123.r.eu-west-1.awstrack.me/L0/{encoded}/1/0102018c-1f/aGk=123"
    if kind == "proofpoint-v2":
        v2 = encoded.replace("%", "-").replace("-2F", "_")
        return f"https://urldefense.proofpoint.com/v2/url?u={v2}&d=DwMFaQ&c=x&r=y&m=z&s=w&e="
    if kind == "proofpoint-v3":
        return f"https://urldefense.com/v3/__{DESTINATION}__;!!AbCdEf!gHiJkL$"
    if kind == "barracuda":
        return f"https://linkprotect.cudasvc.com/url?a={encoded}&c=E,1,xyz&typo=1"
    if kind == "cisco":
        return f"https://secure-web.cisco.com/1Hx7Zq9/{encoded}"
    if kind == "mandrill":
        import base64
        import json as json_lib

        inner = json_lib.dumps({"u": 1, "v": 2, "url": DESTINATION, "id": "a1"})
        p = base64.b64encode(json_lib.dumps({"p": inner}).encode()).decode()
        return f"https://mandrillapp.com/track/click/30107283/id.example.org?p={p}"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["ses", "proofpoint-v2", "proofpoint-v3", "barracuda", "cisco", "mandrill"]
)
def test_wrappers_of_documented_formats_are_unwrapped(kind: str) -> None:
    html = f'<p><a href="{_wrapped_by(kind)}">Verify your email</a></p>'
    assert extract(None, None, html).primary_link == DESTINATION


def test_an_opaque_wrapper_is_the_link_and_may_hide_a_secret() -> None:
    """A wrapper that hides its destination may hide a magic link's secret: when the subject
    asks to sign in too, its "Sign in" is the action; on a receipt it is the site's login."""
    wrapped = "https://u123.ct.sendgrid.net/ls/click?upn=u001.aB3dE5fG7hJ9kL1mN3pQ5"
    html = f'<p><a href="{wrapped}">Sign in to Acme</a></p>'
    assert extract("Sign in to Acme", None, html).primary_link == wrapped
    assert extract("Your receipt from Acme", None, html).primary_link is None


def test_a_short_anchor_takes_the_action_from_the_words_around_it() -> None:
    url = "https://acme.example/e/Zq9xP2mN7kL4vB8cW1"
    html = f'<p>Click <a href="{url}">here</a> to verify your email address.</p>'
    assert extract(None, None, html).primary_link == url
    notice = f'<p>Questions? Read <a href="{url}">our guide</a> or write to us.</p>'
    assert extract(None, None, notice).primary_link is None


def test_a_name_after_the_action_does_not_undo_it_but_support_first_does() -> None:
    url = "https://acme.example/invite/Zq9xP2mN7kL4vB8cW1"
    assert extract(None, None, f'<a href="{url}">Accept invite to Support</a>').primary_link == url
    contact = '<a href="https://acme.example/help/ticket">Contact support to unlock</a>'
    assert extract(None, None, contact).primary_link is None


# --- links that are no call to action ------------------------------------------------------


def test_a_footer_link_is_never_primary_even_with_an_action_stem_in_its_name() -> None:
    html = (
        "<p>Your order has shipped.</p>"
        '<p>Powered by <a href="https://verifly.example/?ref=mail">Verifly</a></p>'
    )
    assert extract(None, None, html).primary_link is None


def test_the_link_for_if_it_was_not_you_is_not_primary_in_html_either() -> None:
    html = (
        "<p>Your password was changed.</p><p>If this wasn't you, "
        '<a href="https://acme.example/reset?token=Rt7xQ9mL2pZ5vK8n">reset it now</a>.</p>'
    )
    assert extract(None, None, html).primary_link is None


def test_a_sign_in_button_without_a_secret_is_a_notification_not_a_magic_link() -> None:
    notification = '<p>You have a new message.</p><a href="https://acme.example/login">Log in</a>'
    assert extract(None, None, notification).primary_link is None
    magic = '<a href="https://acme.example/login?token=Zq9xP2mN7kL4vB8c">Log in</a>'
    assert extract(None, None, magic).primary_link == (
        "https://acme.example/login?token=Zq9xP2mN7kL4vB8c"
    )


@pytest.mark.parametrize(
    "anchor",
    ["Accept the invitation", "Unlock my account", "Passwort zurücksetzen", "Potvrdit e-mail"],
)
def test_invitations_unlocks_and_resets_are_actions(anchor: str) -> None:
    url = "https://acme.example/a/Zq9xP2mN7kL4vB8cW1"
    assert extract(None, None, f'<a href="{url}">{anchor}</a>').primary_link == url


# --- classes of false results found in review ---------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text", "html"),
    [
        (
            None,
            None,
            '<p>Please verify your email.</p><p><a href="https://a.example/">CONFIRM</a></p>',
        ),
        (None, None, "<h1>WELCOME</h1><p>Please verify your email address.</p>"),
        (None, "2FA: ENABLED", None),
        (None, "Your code is INVALID", None),
        (None, "Passcode: EXPIRED", None),
        (None, None, "<table><tr><td>Verification</td><td>APPROVED</td></tr></table>"),
        (None, "Code review requested on commit 3f9a2c1", None),
        (None, "代码已合并：3f9a2c1", None),
        (None, "Your PIN was changed on win11", None),
        (None, "Sipariş kodu: 552190", None),  # Turkish: order code
        (None, "Kargo takip kodunuz: 552190", None),  # parcel tracking code
        (None, "Cod poștal: 010011", None),  # Romanian: postal code
        (None, "Alennuskoodi: 552190", None),  # Finnish: discount code
        (None, "Portkod: 552190", None),  # Swedish: door code
        (None, "Ordrekode: 552190", None),  # Danish: order code
        (None, "Kód zásilky: 552190", None),  # Czech: parcel code
        (None, "Kuponkód: 552190", None),  # Hungarian: coupon code
        (None, "Mã giao dịch: 552190", None),  # Vietnamese: transaction code
        (None, "รหัสลูกค้า 552190", None),  # Thai: customer code
        (None, "股票代码：600519", None),  # Chinese: stock code
        (None, "Kodak moments: 552190 prints", None),
    ],
)
def test_words_ids_and_other_kinds_of_code_are_no_one_time_code(
    subject: str | None, text: str | None, html: str | None
) -> None:
    assert extract(subject, text, html).otp is None


def test_a_flood_of_capitals_does_not_hide_the_code() -> None:
    assert extract(None, "IMPORTANT NOTICE " * 260 + "\nYour code: K7QX2M", None).otp == "K7QX2M"


@pytest.mark.parametrize(
    "html",
    [
        '<p>Your password was changed.</p><a href="https://a.example/settings/password">'
        "Change password</a>",
        '<p>This week only!</p><a href="https://shop.example/sale">Unlock 20% off</a>',
        '<p>3 new comments.</p><a href="https://a.example/team">Invite teammates</a>',
    ],
)
def test_actions_that_need_a_secret_are_not_primary_without_one(html: str) -> None:
    assert extract("News from Acme", None, html).primary_link is None


@pytest.mark.parametrize(
    "html",
    [
        "<p>If this was you, <a href='{url}'>approve the sign-in</a>.</p>",
        "<p>If you didn't create this account, ignore this email. <a href='{url}'>Verify</a></p>",
        "<p>This link was sent by Acme at your request: <a href='{url}'>Verify email</a></p>",
        "<div>If you did not sign up, ignore this.<hr><a href='{url}'>Confirm email</a></div>",
    ],
)
def test_words_near_the_action_that_do_not_undo_it(html: str) -> None:
    url = "https://a.example/verify?token=Zq9xP2mN7kL4vB8c"
    assert extract(None, None, html.format(url=url)).primary_link == url


def test_wrappers_that_do_not_decode_to_a_plain_link_are_left_alone() -> None:
    import base64

    nested = base64.b64encode(b"[" * 1100).decode()
    deep = f"https://mandrillapp.com/track/click/1/x?p={nested}"
    assert extract(None, f"Verify: {deep}", None).links[0].url == deep  # and no RecursionError
    control = "https://a.r.us-east-1.awstrack.me/L0/https:%2F%2Fevil.example%00.bank.com%2F/1/x"
    assert extract(None, control, None).links[0].url == control
    lookalike = "https://evilmandrillapp.com/track/click/1/x?p=e30"
    assert extract(None, lookalike, None).links[0].url == lookalike


def test_proofpoint_v1_is_decoded_once() -> None:
    wrapped = (
        "https://urldefense.proofpoint.com/v1/url?u=https%3A%2F%2Fa.example%2Fv%3Ft%3Dab%252Bcd&k=x"
    )
    assert extract(None, wrapped, None).links[0].url == "https://a.example/v?t=ab%2Bcd"


def test_a_list_of_codes_is_no_one_time_code() -> None:
    """Backup codes: eight of them under a code word; reported, none taken."""
    codes = ["426801", "569144", "120141", "163945", "168546", "528796", "112514", "153588"]
    result = extract(None, "Your backup codes:\n" + "\n".join(codes), None)
    assert result.otp is None
    assert {otp.code for otp in result.otps} == set(codes)
    assert extract(None, "Your code:\n426801\nOrder 569144", None).otp == "426801"


def test_a_secret_link_keeps_its_redirect_parameter_but_a_signed_wrapper_does_not() -> None:
    magic = (
        "https://blog.example.org/members/?token=Zk3jD9aLq2mXp7RtY4Bn&action=signin"
        "&r=https%3A%2F%2Fblog.example.org%2F"
    )
    html = f'<p><a href="{magic.replace("&", "&amp;")}">Sign in to the blog</a></p>'
    assert extract("Sign in to the blog", None, html).primary_link == magic
    target = "https://a.example/verify?token=Zq9xP2mN7kL4vB8c"
    wrapped = (
        "https://click.example.net/redirect?url=" + quote(target, safe="") + "&sig=Ab12Cd34Ef56"
    )
    html = f'<p><a href="{wrapped.replace("&", "&amp;")}">Verify email</a></p>'
    assert extract(None, None, html).primary_link == target


def test_a_code_mails_link_that_carries_the_code_carries_its_secret() -> None:
    link = "https://shop.example.com/account/login?code=604213&email=anna%40example.com"
    button = f'<p><a href="{link.replace("&", "&amp;")}">Sign in</a></p>'
    html = f"<p>Your code is <b>604213</b></p>{button}"
    assert extract("Your login code", None, html).primary_link == link
    # Without the code in the mail, the same "Sign in" button carries no secret.
    html = f"<p>Welcome back.</p>{button}"
    assert extract("Welcome", None, html).primary_link is None


def test_a_code_offered_for_an_action_needs_both_halves() -> None:
    assert extract("Your Shop login code", "Use 604213 to sign in to Shop.", None).otp == "604213"
    assert extract(None, "Verwende 731904, um dich anzumelden.", None).otp == "731904"
    assert extract(None, "We shipped 604213 to your address.", None).otp is None
    assert extract(None, "Use 604213 boxes for the move.", None).otp is None


def test_a_code_in_three_or_four_equal_groups() -> None:
    text = "Or, copy and paste this temporary login code:\n\nbifht-guhpq-mbths-mszhh\n"
    assert extract(None, text, None).otp == "bifhtguhpqmbthsmszhh"
    assert extract(None, "Your code: K7QX-2MPL-9RTW", None).otp == "K7QX2MPL9RTW"
    # Words joined by hyphens, groups of other lengths and a key without a code word are not.
    assert extract(None, "Your code:\nover-rate-test\n", None).otp is None
    assert extract(None, "Your code:\nstate-of-the-art\n", None).otp is None
    assert extract(None, "Licence ABCD-EFGH-JKLM for the office.", None).otp is None


@pytest.mark.parametrize(
    "above",
    [
        "If it wasn't you who changed it, please reset your password immediately:",
        "Sollten Sie es nicht gewesen sein, setzen Sie es bitte umgehend zurück:",
        "Si no es usted que la ha cambiado, cámbiela de inmediato.",
        "パスワードを変更したのがあなたでない場合は、すぐにパスワードをリセットしてください:",
    ],
)
def test_the_block_above_a_lone_button_can_make_it_the_if_it_wasnt_you_link(above: str) -> None:
    url = "https://shop.example.com/accounts/password-reset/confirm/NTA/c1dgks-e56ff4b508f42356/"
    html = (
        "<table><tr><td>Your password has been changed.</td></tr>"
        f'<tr><td>{above}</td></tr><tr><td><a href="{url}">Reset password</a></td></tr></table>'
    )
    assert extract("Your password changed", None, html).primary_link is None


def test_a_sentence_that_only_mentions_the_password_staying_unchanged_undoes_nothing() -> None:
    url = "https://a.example/r/Zq9xP2mN7kL4vB8c"
    text = f"Hallo,\n\nIhr Passwort wird nicht geändert, bis Sie den folgenden Link öffnen:\n{url}"
    assert extract("Passwort zurücksetzen", text, None).primary_link == url
    html = f'<p>If you did not sign up, ignore this.</p><p><a href="{url}">Confirm email</a></p>'
    assert extract("Confirm your email", None, html).primary_link == url


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/#/password/reset/confirm/MQ/c6esad-90f0991a9e2fc27ede7e8698a7c7b4dd",
        "https://app.example.com/#!/activate/MQ/c6esad-90f0991a9e2fc27ede7e8698a7c7b4dd",
        "https://app.example.com/#/invite?id=rvqzmui1ovai7rzzoop9c",
        "https://app.example.com/#/reset-password?token=Zq9xP2mN-7kL4vB8c",
    ],
)
def test_a_single_page_apps_route_in_the_fragment_is_read_as_its_path(url: str) -> None:
    text = f"Please go to the following page and choose a new password:\n\n{url}\n"
    assert extract("Password reset on example.com", text, None).primary_link == url
    # A page anchor is no route, and a route without a secret is no sign-in link.
    help_page = "https://app.example.com/help#/password"
    text = f"Read how to change your password:\n{help_page}"
    assert extract("Password reset", text, None).primary_link is None


def test_a_dotted_signed_token_in_the_path_is_a_secret() -> None:
    url = "https://redash.example.com/invite/IjcwIg.axMTdw.7y2nMIkxv9Cs-DULtD7ewHYsLzI"
    html = f'<p>Bob invited you to join Acme.</p><a href="{url}">Setup Account</a>'
    assert extract("Bob invited you to join Redash", None, html).primary_link == url
    # A file name or a version with dots is not one.
    for path in ("/invite/report.2026.final-version-of-q4.pdf", "/invite/v1.2.3"):
        link = f"https://redash.example.com{path}"
        html = f'<p>Bob invited you.</p><a href="{link}">Setup Account</a>'
        assert extract("Bob invited you to join Redash", None, html).primary_link is None


@pytest.mark.parametrize(
    ("subject", "anchor"),
    [
        ("Your password was changed", "Reset your password"),
        ("New sign-in to your Acme account", "Secure your account"),
        ("New login from Firefox on Linux", "Review activity"),
        ("Ihr Passwort wurde geändert", "Konto schützen"),
        ("Nouvelle connexion à votre compte", "Sécuriser mon compte"),
        ("Suspicious login attempt on your account", "Change password"),
        ("Two-factor authentication was enabled", "Reset your password"),
    ],
)
def test_a_security_notice_has_no_call_to_action(subject: str, anchor: str) -> None:
    url = "https://acme.example/account/security/reset?token=Zq9xP2mN7kL4vB8cW1"
    html = f'<p>Something changed on your account.</p><p><a href="{url}">{anchor}</a></p>'
    assert extract(subject, None, html).primary_link is None
    # Unless the subject asks for something beyond its report, or reports nothing.
    confirm = f'<p>Something changed on your account.</p><p><a href="{url}">Confirm</a></p>'
    assert extract(subject, None, confirm).primary_link is None
    assert extract(f"{subject}: confirm it was you", None, confirm).primary_link == url
    assert extract("Confirm your account", None, confirm).primary_link == url


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Your receipt", "Receipt #1928-3746\nConfirmation code: X7Y8Z9\nAmount paid: 10.00 EUR"),
        ("Booking confirmed", "Your booking reference is KX72PQ. Show this code at the desk."),
        ("Bestellung", "Ihre Bestellnummer lautet 482913. Bitte geben Sie den Code an."),
        ("Invoice INV-2026-0042", "Customer code: CUST7K2Q\nAmount due: 120.00 EUR"),
        ("Your gift card", "Gift card code: K7P2-QX9M-4TRW\nAmount: $50.00"),
        ("Your tickets", "Ticket code: K7P2QX\nShow this code at the entrance."),
    ],
)
def test_a_purchase_or_a_records_reference_is_no_code(subject: str, text: str) -> None:
    assert extract(subject, text, None).otp is None


def test_a_code_beside_a_purchase_or_a_record_is_still_a_code() -> None:
    # A confirmation code outside a purchase, and a code after a record's number.
    assert extract(None, "Your confirmation code: X7Y8Z9", None).otp == "X7Y8Z9"
    text = "Your order number is 48213907.\nYour verification code is K7P2QX."
    assert extract("Verify your email", text, None).otp == "K7P2QX"
    text = "Confirm your payment of €49.99 with the code 482913."
    assert extract("Payment", text, None).otp == "482913"


@pytest.mark.parametrize(
    "text",
    [
        "您的密码重置码是：K7P2QX",
        "Je herstelcode is K7P2QX",
        "Your password reset code is K7P2QX. It expires in 15 minutes.",
        "Please use the following one time password to reset your password: K7P2QX",
    ],
)
def test_a_password_reset_code_in_capitals_is_a_code(text: str) -> None:
    assert extract("Password reset", text, None).otp == "K7P2QX"


@pytest.mark.parametrize(
    "sentence",
    [
        "Eğer şifrenizi siz değiştirmediyseniz,",
        "Если вы не меняли пароль,",
        "Si vous n'avez pas changé votre mot de passe,",
        "Si no modificó su contraseña,",
        "如果您没有更改密码，",
    ],
)
def test_if_you_did_not_change_it_introduces_the_if_it_wasnt_you_link(sentence: str) -> None:
    url = "https://data.example.org/lost-password/IjQwIg.axMTdw.HxZW72bEfRzbEFmYlW_5Vb4gI2Y"
    html = f'<p>Done.</p><p>{sentence} <a href="{url}">reset</a></p>'
    assert extract("Account", None, html).primary_link is None
    assert extract("Account", None, f'<p>Done.</p><p><a href="{url}">reset</a></p>').primary_link


def test_a_turkish_notice_subject_is_a_notice() -> None:
    url = "https://arsiv.example.com.tr/account/reset?token=Zq9xP2mN7kL4vB8cW1"
    html = f'<p>Tamam.</p><p><a href="{url}">Şifreyi sıfırla</a></p>'
    assert extract("Şifreniz değiştirilmiştir", None, html).primary_link is None
    assert extract("Şifre sıfırlama", None, html).primary_link == url


def test_a_user_name_in_capitals_is_no_code() -> None:
    text = "Use the one-time password together with your username JOHN123 to log in."
    assert extract("Password reset", text, None).otp is None
    text = "Hi JOHN123,\nYour one-time password is K7P2QX. Log in with your username JOHN123."
    assert extract("Password reset", text, None).otp == "K7P2QX"
    assert extract(None, "Benutzername: MAXM7K2Q\nIhr Code: 482913", None).otp == "482913"


def test_a_lone_number_in_a_purchase_is_its_reference() -> None:
    text = "Hallo,\n\nJe bestelling bevat:\n * Max Havelaar - aantal: 3\nBestelling totaal: 37,45 €"
    assert extract("Bevestiging van bestelling 100266", text, None).otp is None
    text = "Thanks for shopping.\n\n482913\n\nSubtotal: $10.00"
    assert extract("Your receipt", text, None).otp is None
    # Outside a purchase the lone number of six digits is still the typical code.
    assert extract("Sign in", "Hello,\n\n482913\n\nThanks", None).otp == "482913"
    assert extract("Zamówienie 482913", None, None).otp is None


def test_a_code_of_capitals_and_digits_one_per_cell_is_one_code() -> None:
    cells = "".join(f"<td>{c}</td>" for c in "K7P2QX")
    html = f"<p>Your password reset code</p><table><tr>{cells}</tr></table>"
    assert extract("Password reset", None, html).otp == "K7P2QX"
    # Capitals alone in cells (weekdays, sizes) stay apart, and are no code.
    cells = "".join(f"<td>{c}</td>" for c in "MTWTF")
    assert extract("Your code", None, f"<p>Code</p><table><tr>{cells}</tr></table>").otp is None
