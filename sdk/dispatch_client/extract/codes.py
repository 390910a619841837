"""Finding the one-time codes of a message in its subject, text part and rendered HTML."""

from __future__ import annotations

import bisect
import re
from typing import Literal

import attrs

from dispatch_client.extract.lexicon.codes import (
    ACTION_AFTER_CODE,
    BOOKING_CODE_KEYWORDS,
    CODE_KEYWORD_ENDINGS,
    CODE_KEYWORDS,
    COMPOUND_CODE_KEYWORDS,
    GENERIC_CODE_KEYWORDS,
    NOT_CODE_AFTER_KEYWORD,
    NOT_CODE_BEFORE_KEYWORD,
    NOT_CODE_COMPOUND_PREFIXES,
    ONE_TIME_AFTER_PASSWORD,
    PASSWORD_LABELS,
    PASSWORD_PHRASES,
    USE_BEFORE_CODE,
    WHOLE_WORD_CODE_KEYWORDS,
)
from dispatch_client.extract.lexicon.decoys import (
    BOOKING_MARKERS,
    CURRENCY_CODES,
    CURRENCY_SIGNS,
    LABELS_BEFORE_NUMBER,
    MEETING_LINK_MARKERS,
    MEETING_MARKERS,
    PROMO_WORDS,
    PROMO_WORDS_BEFORE_NUMBER,
    RECORD_LABELS,
    RECORD_VERBS,
    SIGNS_AFTER_NUMBER,
    SIGNS_BEFORE_NUMBER,
    UNITS_AFTER_NUMBER,
    WHOLE_WORD_UNITS_AFTER_NUMBER,
)
from dispatch_client.extract.patterns import alternation, words
from dispatch_client.extract.text import MAX_SCAN_CHARS, line_bounds

MAX_CANDIDATES = 500  # numbers and tokens judged per body
MAX_KEYWORDS_PER_LINE = 64  # a line of keywords over and over is no mail to read them all in


CodeKind = Literal["digits", "letters", "mixed"]


@attrs.frozen
class OtpMatch:
    """A candidate one-time code: how likely it is the message's code, and where it was found."""

    code: str  # separators removed, letters as written (a mixed-case code is case-sensitive)
    score: float  # 0..1; from CONFIDENT_SCORE on, the code is taken (`confident`)
    source: str  # "subject" | "text" | "html"
    kind: CodeKind = "digits"  # digits only, letters only, or both

    @property
    def confident(self) -> bool:
        """Whether the code is sure enough to act on: `Extraction.otp`, the server's stored
        codes and `wait_for_otp` give only these."""
        return self.score >= CONFIDENT_SCORE


def code_kind(code: str) -> CodeKind:
    """What a code is made of: "digits", "letters", or both ("mixed")."""
    if code.isdigit():
        return "digits"
    return "mixed" if any(c.isdigit() for c in code) else "letters"


@attrs.frozen
class _ByGap:
    """A keyword's weight, falling with the characters between it and the code."""

    near: float  # up to NEAR_GAP characters
    far: float  # up to FAR_GAP characters
    farther: float

    def at(self, gap: int) -> float:
        return self.near if gap <= NEAR_GAP else self.far if gap <= FAR_GAP else self.farther


# --- scoring: how likely a candidate is the message's one-time code, 0..1 -------------------
# A code keyword on the code's own line: before it is the usual wording ("Your code: 482913"),
# after it less so ("482913 is your code"); the nearer, the better.
NEAR_GAP = 40
FAR_GAP = 120
KEYWORD_BEFORE = _ByGap(near=0.95, far=0.8, farther=0.55)
KEYWORD_AFTER = _ByGap(near=0.85, far=0.6, farther=0.45)
# No keyword, but the code offered for an action: "Use 604213 to sign in to Shop".
USE_TO_ACT = 0.7
# As good as this from its own line, a code is not judged by the lines around it.
GOOD_ON_ITS_LINE = 0.75
# (line offset, weight) for a keyword on the lines around a code that stands on its own line:
# "Your verification code:" / "482913" in separate table cells. A code inside a sentence looks
# only at the line before, and gets that much less from it.
NEIGHBOURS = ((-1, 0.9), (-2, 0.8), (-3, 0.65), (1, 0.7))
NEIGHBOUR_OF_SENTENCE_PENALTY = 0.25
# No keyword at all: a lone number of the typical length, alone on its line or in the subject.
TYPICAL_LENGTH = 6
LONE_NUMBER = 0.35
LONE_NUMBER_IN_SUBJECT = 0.3
# Added to what the keywords gave.
STANDALONE_BONUS = 0.05  # alone on its line, the way codes are shown
TYPICAL_LENGTH_BONUS = 0.03
ALPHANUMERIC_PENALTY = 0.05  # letters and digits are more often an id than a code
LOWER_CASE_PENALTY = 0.1  # "a7k92q" in prose is more often an id than "A7K92Q"
YEAR_LIKE_PENALTY = 0.3  # 1900-2099 is more often a year than a code
CONFIDENT_SCORE = 0.3  # a code from here on is taken; below it a candidate is only reported
MIN_SCORE = 0.15  # a candidate scoring less is not even reported
LIST_OF_CODES = 4  # confident codes of one shape that make a list, not a one-time code

# Characters searched for the words that make a keyword or a number no code.
QUALIFIER_CHARS = 25  # before a generic keyword: "promo code", "zip code"
LABEL_CHARS = 24  # before a number: "Order #", "Total:"
UNIT_CHARS = 12  # after a number: "25%", "10 minutes"
# A label cell above a lone number ("Order number" / "58213077") is a short line.
MAX_LABEL_CELL_CHARS = 60
MAX_LABEL_CELL_WORDS = 4


# Matched on lower-cased text; a keyword made of ASCII letters must be a whole word, the
# others (but the whole-word ones) match inside words too.
_KEYWORD_PATTERN = re.compile(alternation(words(CODE_KEYWORDS)))
_GENERIC_KEYWORDS = frozenset(words(GENERIC_CODE_KEYWORDS))
_WHOLE_WORD_KEYWORDS = frozenset(words(WHOLE_WORD_CODE_KEYWORDS))
_COMPOUND_KEYWORDS = frozenset(words(COMPOUND_CODE_KEYWORDS))
_ENDINGS = {stem: frozenset(endings) for stem, endings in CODE_KEYWORD_ENDINGS.items()}
_NOT_CODE_PREFIX = re.compile(alternation(words(NOT_CODE_COMPOUND_PREFIXES)))
_BOOKING_KEYWORDS = frozenset(words(BOOKING_CODE_KEYWORDS))
# A generic code keyword named by the word before or after it: "promo code", "código postal".
_NOT_CODE_BEFORE = re.compile(
    r"(?<!\w)(?:" + alternation(words(NOT_CODE_BEFORE_KEYWORD)) + r")\s*-?\s*$"
)
_NOT_CODE_AFTER = re.compile(r"\s*" + alternation(words(NOT_CODE_AFTER_KEYWORD)))
_PASSWORD_PHRASE = re.compile(alternation(words(PASSWORD_PHRASES)))
_PASSWORD_LABEL = re.compile(alternation(words(PASSWORD_LABELS)))
_ONE_TIME_AFTER_PASSWORD = re.compile(r"\s*" + alternation(words(ONE_TIME_AFTER_PASSWORD)))
# Looked for in the lower-cased message.
_MEETING_MARKERS = (*words(MEETING_MARKERS), *MEETING_LINK_MARKERS)
_BOOKING_MARKERS = tuple(words(BOOKING_MARKERS))
# Matched on lower-cased lines.
_PROMO_LINE = re.compile(
    alternation(words(PROMO_WORDS))
    + r"|\b"
    + alternation(words(PROMO_WORDS_BEFORE_NUMBER))
    + r" \d"
)
# The label or sign just before a number that makes it no code: "Order #", "Total", "©" …
_DECOY_BEFORE = re.compile(
    r"(?:(?<!\w)(?:"
    + alternation([*words(LABELS_BEFORE_NUMBER), *CURRENCY_CODES])
    + r")|"
    + alternation([*SIGNS_BEFORE_NUMBER, *CURRENCY_SIGNS])
    + r")\W{0,3}$"
)
# A record's label and a verb just before a number: "booking reference is KX72PQ".
_RECORD_IS = re.compile(
    r"(?<!\w)(?:"
    + alternation(words(RECORD_LABELS))
    + r")(?:\s+(?:number|no\.?|id|#))?\s+(?:"
    + alternation(words(RECORD_VERBS))
    + r")\W{0,3}$"
)
# The unit just after a number that makes it no code: "25%", "10 minutes", "49,99 €" …,
# matched right after the number (match() anchors it; "^" would not hold at a start index).
_DECOY_AFTER = re.compile(
    r"\W{0,2}(?:"
    + alternation(
        [*words(UNITS_AFTER_NUMBER), *CURRENCY_CODES, *CURRENCY_SIGNS, *SIGNS_AFTER_NUMBER]
    )
    + r"|(?:"
    + alternation(words(WHOLE_WORD_UNITS_AFTER_NUMBER))
    + r")\b)|#",
    re.IGNORECASE,
)

# Digits with the separators that keep a number whole: "1 299,00", "24.11.2026", "555-0132".
# Written to start with a character class, which lets sre skip ahead fast; the lookahead
# skips the many short numbers ("25%", "2 items") without a round trip to Python.
_NUMERIC_SPAN = re.compile(
    r"[+(0-9](?:(?<=[+(])[0-9]|(?<=[0-9]))(?=[0-9 \-–./:,)]{2})"
    r"[0-9]*(?:(?:[ ]|[ ]?[-–./:,)][ ]?)[0-9]+)*"
)
# A token that may be a code of letters: letters and digits both ("K7QX2M", "WXK-2P9",
# "a7k92q"), capitals only ("BCDFGH", "QWER-TYUI"), or mixed case with capitals inside
# ("kQzXbW", but not "GitHub" or "iPhone"), at most one hyphen between two groups; not part of
# a longer word, an address, a URL or a file name. Written to start with a character class,
# checked behind it, so sre skips ahead fast.
_TOKEN = re.compile(
    r"[A-Za-z0-9](?<![\w\-/=?&.:@#%+][A-Za-z0-9])"
    r"(?:(?<=[0-9])(?=[A-Za-z0-9-]{0,12}[A-Za-z])"
    r"|(?<=[A-Za-z])(?=[A-Za-z0-9-]{0,12}[0-9])"
    r"|(?<=[A-Z])(?=[A-Z-]{3,11}(?![A-Za-z0-9]))"
    r"|(?=[A-Za-z]{0,8}[a-z][A-Z][A-Za-z]{0,8}[a-z][A-Z]))"
    r"(?:[A-Za-z0-9]{3,11}|[A-Za-z0-9]{2,5}-[A-Za-z0-9]{2,6})"
    r"(?![\w\-/=?&@#%+]|\.\w)"
)
# What stands between a keyword and a code of letters on one line: "Code: BCDFGH", "Your
# code is BCDFGH" (not "VERIFY YOUR ACCOUNT") …
_JUST_AFTER_KEYWORD = re.compile(r"\s*(?:[:：]|(?:is|ist|est|es|é|è)\s)[\s:：\-–—]*$")
# … or between the code and a keyword after it: "BCDFGH is your one-time password", "BCDFGH
# ist dein Code" (a few words at most between the verb and the keyword).
_JUST_BEFORE_KEYWORD = re.compile(
    r"[\s*]*(?:is|ist|est|es|é|è)\s+(?:[^\W\d_]+\s+){0,3}$", re.IGNORECASE
)
# A code offered for an action without a code keyword: the offering word just before it and
# the action just after (lower-cased line).
_USE_BEFORE_CODE = re.compile(r"(?<!\w)(?:" + alternation(words(USE_BEFORE_CODE)) + r")\W{0,3}$")
_USE_BEFORE_KEYWORD = re.compile(
    r"(?<!\w)(?:" + alternation(words(USE_BEFORE_CODE)) + r")\s+(?:(?:the|this|your)\s+)?$"
)
_SPACE_ONLY = re.compile(r"[ \t]+")
_ACTION_AFTER_CODE = re.compile(r"\W{0,3}(?:" + alternation(words(ACTION_AFTER_CODE)) + r")\b")
INTRODUCED_WITHIN_LINES = 3
# Letters alone make a code from 6 on, and not a word: generated codes use few vowels
# ("BCDFGH", "XQRT-KMPW"), words many ("INVALID", "WELCOME", "APPROVED").
_LETTERS_ONLY_MIN, _LETTERS_ONLY_MAX = 6, 10
MAX_VOWEL_SHARE = 0.25
_VOWELS = frozenset("aeiouyAEIOUY")
_DATE_SHAPE = re.compile(
    r"^(\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}(:\d{2})?|\d{1,2}[./]\d{4}|\d{4}[./]\d{1,2})$"
)
# Digit groups that read as one code: 482 913, 4829 1307, 48 29 13, 4 8 2 9 1 3, 4829-13 …
_CODE_GROUPS = re.compile(
    r"^(\d{3}[ -]\d{3}|\d{4}[ -]\d{4}|\d{2}[ -]\d{2}[ -]\d{2}|\d(?: \d){3,7}"
    r"|\d{4}[ -]\d{2}|\d{2}[ -]\d{4}|\d{3}[ -]\d{4}|\d{4}[ -]\d{3})$"
)
# A typical code in two halves ("142-226"), which reads as one without a keyword.
_HALVES = re.compile(r"^\d{3}-\d{3}$")
_NOT_DIGIT = re.compile(r"[^0-9]")
# Decimal digits of other scripts: Arabic-Indic ٤, Persian ۴, Devanagari ४, fullwidth ４ …, in
# runs short enough for int(). A leading single character class is scanned for fast, a repeat
# ("{1,18}") 60% slower.
_OTHER_DIGITS = re.compile(r"[^\D0-9][^\D0-9]{0,17}")
_DIGIT_RUN = re.compile(r"[0-9]{4,8}")
_STANDALONE_STRIP = " :.-–*[](){}<>「」【】\"'"


@attrs.frozen
class _Candidate:
    code: str
    start: int
    end: int
    kind: CodeKind

    @property
    def alphanumeric(self) -> bool:
        return self.kind != "digits"

    @property
    def wordlike(self) -> bool:
        """Letters alone, or letters and digits in lower case ("3f9a2c1", "win11"): taken
        only right after a keyword ("Code: BCDFGH") or alone on a line below one that names
        a code ("Your sign-in code is below." / "BCDF-GHJK")."""
        return self.kind == "letters" or (self.kind == "mixed" and self.code.islower())


class _Message:
    """Facts about the whole message that change what a keyword means, found on demand."""

    def __init__(self, sources: list[tuple[str, str]]) -> None:
        self._sources = sources
        self._lower: str | None = None
        self._meeting: bool | None = None
        self._booking: bool | None = None

    def _text(self) -> str:
        if self._lower is None:
            self._lower = "\n".join(text for _, text in self._sources)[:MAX_SCAN_CHARS].lower()
        return self._lower

    @property
    def meeting(self) -> bool:
        if self._meeting is None:
            self._meeting = any(marker in self._text() for marker in _MEETING_MARKERS)
        return self._meeting

    @property
    def booking(self) -> bool:
        if self._booking is None:
            self._booking = any(marker in self._text() for marker in _BOOKING_MARKERS)
        return self._booking


class _Source:
    """One scanned text (subject, text part or rendered HTML), one line per visual line; the
    code keywords of a line are found the first time a candidate near it asks."""

    def __init__(self, name: str, text: str, message: _Message) -> None:
        self.name = name
        self.text = text
        self._message = message
        self._keywords: dict[int, list[tuple[int, int]]] = {}

    @property
    def booking(self) -> bool:
        """Whether the message is a booking or a purchase (a receipt, an invoice)."""
        return self._message.booking

    def line(self, pos: int) -> tuple[int, int]:
        return line_bounds(self.text, pos)

    def keywords(self, start: int, end: int) -> list[tuple[int, int]]:
        """Where the usable code keywords on the line text[start:end] begin and end."""
        found = self._keywords.get(start)
        if found is None:
            found = self._keywords[start] = self._find_keywords(start, end)
        return found

    def _find_keywords(self, start: int, end: int) -> list[tuple[int, int]]:
        lower = _lower(self.text[start:end])
        found: list[tuple[int, int]] = []
        # A password to keep ("your temporary password"): its words name no code.
        passwords = [
            phrase.span()
            for phrase in _PASSWORD_PHRASE.finditer(lower)
            if not _ONE_TIME_AFTER_PASSWORD.match(lower, phrase.end())
        ]
        for match in _KEYWORD_PATTERN.finditer(lower):
            word = match.group()
            left, right = match.span()
            if not _stands_as_a_word(lower, word, left, right):
                continue
            if passwords and any(p_start <= left < p_end for p_start, p_end in passwords):
                continue
            if ("code" in word or word in _GENERIC_KEYWORDS) and (
                _NOT_CODE_BEFORE.search(lower, max(0, left - QUALIFIER_CHARS), left)
                or _NOT_CODE_AFTER.match(lower, right)  # scripts without spaces: "รหัสลูกค้า"
                or _NOT_CODE_AFTER.match(lower, _word_end(lower, right))  # after "kodu", "codul"
            ):
                continue
            if word in _GENERIC_KEYWORDS and self._message.meeting:
                continue
            if word in _BOOKING_KEYWORDS and self._message.booking:
                continue
            found.append((start + left, start + right))
            if len(found) >= MAX_KEYWORDS_PER_LINE:
                break
        if found and _PROMO_LINE.search(lower):
            return []  # "Take an extra 25% off with code" / "WINTER25"
        return found


def _lower(line: str) -> str:
    """The line lower-cased, one character for one ("İ" would become two)."""
    lower = line.lower()
    return lower if len(lower) == len(line) else line.replace("İ", "I").lower()


def _stands_as_a_word(lower: str, word: str, left: int, right: int) -> bool:
    """Whether a keyword found at lower[left:right] is the word, not part of another: whole
    for keywords of ASCII letters (and the whole-word ones), but for the endings a keyword
    takes ("kodu", "codul") and the compounds it ends ("vahvistuskoodi") unless what comes
    first makes it another kind of code ("alennuskoodi": a discount code)."""
    if word.isascii() or word in _WHOLE_WORD_KEYWORDS:
        if _letter(lower, right):
            rest = lower[right : _word_end(lower, right)]
            if rest not in _ENDINGS.get(word, ()):
                return False
        if _letter(lower, left - 1) and word not in _COMPOUND_KEYWORDS:
            return False
    if left and lower[left - 1].isalpha():
        prefix = lower[_word_start(lower, left) : left]
        if _NOT_CODE_PREFIX.match(prefix):
            return False
    return True


def _word_start(text: str, index: int) -> int:
    while index and text[index - 1].isalpha():
        index -= 1
    return index


def _word_end(text: str, index: int) -> int:
    while index < len(text) and text[index].isalpha():
        index += 1
    return index


def _letter(text: str, index: int) -> bool:
    """Whether text[index] is a letter of the whole-word keywords' scripts: a-z or Arabic."""
    if not 0 <= index < len(text):
        return False
    char = text[index]
    return "a" <= char <= "z" or ("\u0620" <= char <= "\u06ff" and char.isalpha())


def _cjk(char: str) -> bool:
    return "\u3000" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af"


def _year_like(code: str) -> bool:
    return len(code) == 4 and code.isdigit() and 1900 <= int(code) <= 2099


def _numeric_candidates(text: str) -> list[_Candidate]:
    found: list[_Candidate] = []
    for match in _NUMERIC_SPAN.finditer(text):
        span = match.group()
        if len(span) < 4:
            continue
        start, end = match.span()
        before = text[start - 1] if start else ""
        if (before.isalpha() and not _cjk(before)) or (before and before in "#$€£¥*_/\\@&=%"):
            continue  # part of a word, an amount, an id: "A123456", "#483920", "*739155#"
        if before == "-" and start > 1 and text[start - 2].isalnum():
            continue  # an id: "INV-318204"
        if end < len(text) and text[end].isalpha() and not _cjk(text[end]):
            continue  # "1234abc"
        if span[0] in "+(":
            continue  # phone numbers: "+1 415…", "(415) …"
        if _DATE_SHAPE.match(span):
            continue
        if span.isdigit():
            if len(span) <= 8:
                found.append(_Candidate(span, start, end, "digits"))
            continue
        digits = _NOT_DIGIT.sub("", span)
        if 4 <= len(digits) <= 8 and _CODE_GROUPS.match(span):
            found.append(_Candidate(digits, start, end, "digits"))
            continue
        if any(sep in span for sep in ".,:/)"):
            continue  # amounts (1,299.00), versions (2.4.1), ratios, times
        # Several digit groups that do not form a code ("in 10 minutes 482913"): judge each,
        # unless they add up to a long number (phone, card, account), of which no part is a code.
        if len(digits) > 8:
            continue
        for group in _DIGIT_RUN.finditer(span):
            found.append(
                _Candidate(group.group(), start + group.start(), start + group.end(), "digits")
            )
    return found


# A code in three or four hyphenated groups of one length, of letters and digits in one case
# ("bifht-guhpq-mbths-mszhh", "K7QX-2MPL-9RTW"): returned without its hyphens. Like any code of
# letters, it is taken only right after a keyword or alone on a line under one. Found from
# its first hyphen, which sre finds fast (a literal), then back to the first group.
_GROUP_TAIL = re.compile(
    r"-[A-Za-z0-9]{4,5}-[A-Za-z0-9]{4,5}(?:-[A-Za-z0-9]{4,5})?(?![\w\-/=?&@#%+]|\.\w)"
)
_NOT_BEFORE_A_CODE = frozenset("-/=?&.:@#%+_")


def _grouped_candidates(text: str) -> list[_Candidate]:
    found: list[_Candidate] = []
    for match in _GROUP_TAIL.finditer(text):
        start = match.start()
        while (
            start > 0
            and start > match.start() - 6
            and text[start - 1].isascii()
            and text[start - 1].isalnum()
        ):
            start -= 1
        if start and (text[start - 1].isalnum() or text[start - 1] in _NOT_BEFORE_A_CODE):
            continue  # part of a longer word, an address, a URL
        written = text[start : match.end()]
        groups = written.split("-")
        code = "".join(groups)
        if len({len(g) for g in groups}) != 1 or not (code.islower() or code.isupper()):
            continue
        if code.isdigit():
            continue  # digits in groups are judged as numbers
        letters = [c for c in code if c.isalpha()]
        if sum(c in _VOWELS for c in letters) > MAX_VOWEL_SHARE * len(code):
            continue  # words joined by hyphens
        kind: CodeKind = "letters" if code.isalpha() else "mixed"
        found.append(_Candidate(code, start, match.end(), kind))
        if len(found) >= MAX_CANDIDATES:
            break
    return found


def _token_candidates(text: str) -> list[_Candidate]:
    found: list[_Candidate] = []
    for match in _TOKEN.finditer(text):
        if len(found) >= MAX_CANDIDATES:
            break
        written = match.group()
        code = written.replace("-", "")
        if code.isalpha():
            vowels = sum(c in _VOWELS for c in code)
            if (
                not _LETTERS_ONLY_MIN <= len(code) <= _LETTERS_ONLY_MAX
                or (vowels > MAX_VOWEL_SHARE * len(code) and not _equal_groups(written))
                or _KEYWORD_PATTERN.fullmatch(code.lower())
            ):
                continue  # a word in capitals ("VERIFY", "INVALID") is no code
            kind: CodeKind = "letters"
        else:
            kind = "mixed"
        found.append(_Candidate(code, match.start(), match.end(), kind))
    return found


def _equal_groups(written: str) -> bool:
    """Capitals in groups of one length ("LAG-OMQ"): a code's layout, which no word has, so
    its vowels do not make it one."""
    first, _, second = written.partition("-")
    return bool(second) and written.isupper() and len(first) == len(second) >= 3


def _decoy(line: str, start: int, end: int) -> bool:
    lower = _lower(line)
    if _DECOY_BEFORE.search(lower, max(0, start - LABEL_CHARS), start):
        return True
    if _RECORD_IS.search(lower, max(0, start - LABEL_CHARS * 2), start):
        return True
    return bool(_DECOY_AFTER.match(line, end, end + UNIT_CHARS) or _PROMO_LINE.search(lower))


def _offered_by_keyword(
    text: str, line_start: int, keyword_start: int, keyword_end: int, start: int
) -> bool:
    """Whether the code follows its keyword, and the keyword a word that offers it: "enter
    the code BCDFGH", "use code BCDFGH" (a promotional line has no keywords)."""
    if not _SPACE_ONLY.fullmatch(text, keyword_end, start):
        return False
    before = _lower(text[max(line_start, keyword_start - LABEL_CHARS) : keyword_start])
    return bool(_USE_BEFORE_KEYWORD.search(before))


def _offered_for_an_action(line: str, start: int, end: int) -> bool:
    """Whether the code is offered for an action in its sentence: "Use 604213 to sign in"."""
    if not _USE_BEFORE_CODE.search(_lower(line[max(0, start - LABEL_CHARS) : start])):
        return False
    return bool(_ACTION_AFTER_CODE.match(_lower(line[end : end + LABEL_CHARS * 2])))


def _introduced(source: _Source, line_start: int) -> bool:
    """Whether one of the lines just above names a code: "Your sign-in code is below." /
    (a blank line) / "BCDF-GHJK". Only above: a heading over the keyword is no code."""
    start = line_start
    for _ in range(INTRODUCED_WITHIN_LINES):
        if start == 0:
            return False
        start, end = source.line(start - 1)
        if source.keywords(start, end):
            return True
    return False


def _password_above(source: _Source, line_start: int) -> bool:
    """Whether one of the lines just above names a password: "Your temporary password:" /
    (a blank line) / "48291375" is a password to keep, no one-time code."""
    start = line_start
    for _ in range(INTRODUCED_WITHIN_LINES):
        if start == 0:
            return False
        start, end = source.line(start - 1)
        if _PASSWORD_LABEL.search(_lower(source.text[start:end])):
            return True
    return False


def _label_cell_above(source: _Source, line_start: int) -> bool:
    """Whether the line above is a short decoy label, like the label cell of a table row:
    "Order number" / "58213077", "رقم الشحنة" / "٧٣٤٩٢١" (shipment number)."""
    if line_start == 0:
        return False
    start, end = source.line(line_start - 1)
    label = source.text[start:end]
    return (
        len(label) <= MAX_LABEL_CELL_CHARS
        and len(label.split()) <= MAX_LABEL_CELL_WORDS
        and bool(_DECOY_BEFORE.search(label.lower()))
    )


def _score(source: _Source, candidate: _Candidate) -> float:
    """How likely the candidate is the message's one-time code, 0..1."""
    text = source.text
    line_start, line_end = source.line(candidate.start)
    line = text[line_start:line_end]
    start, end = candidate.start - line_start, candidate.end - line_start
    standalone = line.strip(_STANDALONE_STRIP) == line[start:end]
    best = 0.0
    just_after_keyword = False
    # The nearest keyword before the code and the nearest after it weigh the most.
    keywords = source.keywords(line_start, line_end)
    nearest = bisect.bisect_left(keywords, (candidate.start, -1))
    if nearest:
        keyword_start, keyword_end = keywords[nearest - 1]
        best = KEYWORD_BEFORE.at(candidate.start - keyword_start)
        just_after_keyword = keyword_end <= candidate.start and bool(
            _JUST_AFTER_KEYWORD.match(text, keyword_end, candidate.start)
            or _offered_by_keyword(text, line_start, keyword_start, keyword_end, candidate.start)
        )
    following = bisect.bisect_left(keywords, (candidate.end, -1))
    if following < len(keywords):
        keyword_start = keywords[following][0]
        best = max(best, KEYWORD_AFTER.at(keyword_start - candidate.end))
        just_after_keyword = just_after_keyword or bool(
            _JUST_BEFORE_KEYWORD.match(text, candidate.end, keyword_start)
        )
    if best < USE_TO_ACT and _offered_for_an_action(line, start, end):
        best = USE_TO_ACT
        just_after_keyword = True
    if candidate.wordlike and not (
        just_after_keyword or (standalone and _introduced(source, line_start))
    ):
        return 0.0  # letters alone, or in lower case, are a word or an id more often
    if best < GOOD_ON_ITS_LINE:
        above = below = (line_start, line_end)
        for offset, weight in NEIGHBOURS if standalone else NEIGHBOURS[:1]:
            if offset < 0:
                if above[0] == 0:
                    continue
                above = source.line(above[0] - 1)
                neighbour = above
            else:
                if below[1] >= len(text):
                    continue
                below = source.line(below[1] + 1)
                neighbour = below
            if source.keywords(*neighbour):
                best = max(best, weight if standalone else weight - NEIGHBOUR_OF_SENTENCE_PENALTY)
    if best == 0.0:
        # A lone 6-digit number is the typical code even without a keyword, unless a label
        # cell names it; digits spread over groups or cells ("4 8 2 9 1 3") need a keyword (a
        # row of six single-digit counts is no code).
        written = line[start:end]
        if (
            len(candidate.code) != TYPICAL_LENGTH
            or candidate.alphanumeric
            or (written != candidate.code and not _HALVES.match(written))
            # In a booking or a purchase a number without a keyword is its reference: "Order
            # confirmation 100266" is no code, though no label is just before it.
            or source.booking
        ):
            return 0.0
        if (
            standalone
            and not _label_cell_above(source, line_start)
            and not _password_above(source, line_start)
        ):
            best = LONE_NUMBER
        elif source.name == "subject":
            best = LONE_NUMBER_IN_SUBJECT
        else:
            return 0.0
    if _decoy(line, start, end):
        return 0.0
    if standalone:
        best += STANDALONE_BONUS
    if len(candidate.code) == TYPICAL_LENGTH:
        best += TYPICAL_LENGTH_BONUS
    if candidate.alphanumeric:
        best -= ALPHANUMERIC_PENALTY
        if candidate.code.islower():
            best -= LOWER_CASE_PENALTY
    if _year_like(candidate.code):
        best -= YEAR_LIKE_PENALTY
    return max(0.0, min(1.0, best))


def _ascii_digits(match: re.Match[str]) -> str:
    digits = match.group()
    return str(int(digits)).zfill(len(digits))  # int() reads the digits of any script


def _ascii_numbers(text: str) -> str:
    """The text with numbers written in ASCII ("٤٨٢٩١٣" → "482913", "١٬٢٩٩٫٠٠" → "1,299.00"),
    one character for one, so that every rule about numbers holds in every script."""
    if text.isascii():
        return text
    text = _OTHER_DIGITS.sub(_ascii_digits, text)
    # The Arabic decimal separator, thousands separator and per cent sign.
    return text.replace("٫", ".").replace("٬", ",").replace("٪", "%")


def find_codes(texts: list[tuple[str, str]]) -> tuple[OtpMatch, ...]:
    """The codes in the named texts of one message ("subject", "text", "html"), best first."""
    message = _Message(texts)
    best: dict[str, OtpMatch] = {}
    order: dict[str, int] = {}
    for name, text in texts:
        source = _Source(name, _ascii_numbers(text), message)
        candidates = _numeric_candidates(source.text)[:MAX_CANDIDATES]
        candidates += _token_candidates(source.text)
        candidates += _grouped_candidates(source.text)
        for candidate in candidates:
            score = _score(source, candidate)
            if score < MIN_SCORE:
                continue
            code = candidate.code
            order.setdefault(code, len(order))
            if code not in best or score > best[code].score:
                best[code] = OtpMatch(
                    code=code, score=round(score, 3), source=name, kind=candidate.kind
                )
    found = sorted(best.values(), key=lambda m: (-m.score, order[m.code]))
    return tuple(_unless_a_list(found))


def _unless_a_list(found: list[OtpMatch]) -> list[OtpMatch]:
    """The candidates, but none confident when the best is one of a list of codes of its
    shape (backup codes, a column of numbers): a mail asking for one code shows one."""
    if not found or not found[0].confident:
        return found
    shape = (found[0].kind, len(found[0].code))
    alike = sum(1 for m in found if m.confident and (m.kind, len(m.code)) == shape)
    if alike < LIST_OF_CODES:
        return found
    below = round(CONFIDENT_SCORE - 0.01, 3)
    return [attrs.evolve(m, score=min(m.score, below)) for m in found]
