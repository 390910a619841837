"""The corpus of real mail rendered from public templates, and how extraction scores on it.

`tests/corpus/real/<split>/` holds `.eml` files and a `manifest.json` that says, for each,
what it should give (`otp`, `primary_link`), what it is (`class`, `language`, `charset`,
`code_kind`, `wrapper`) and where it came from (`source`: repository, path, commit,
licence). Splits from disjoint sets of projects: `dev`, which the rules may be written
against, and the held-out ones, which they must not: their figures say how the rules
generalise. `heldout` was measured several times while the rules grew; `heldout2`,
`heldout3`, `heldout4` and `heldout5` were each built later from other projects, to be
measured once when new (see docs/extraction.md for what was seen when).

    python -m tests.extract.corpus            # every split's figures, by class
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import attrs

from dispatch_client.extract import extract_message

ROOT = Path(__file__).parents[1] / "corpus" / "real"
SPLITS = ("dev", "heldout", "heldout2", "heldout3", "heldout4", "heldout5")
HELD_OUT = SPLITS[1:]
# Licences that allow the derived messages in this repository's test corpus.
LICENCES = frozenset(
    {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "MPL-2.0", "0BSD", "CC0-1.0"}
)


@attrs.frozen
class Case:
    name: str
    raw: bytes
    otp: str | None
    primary_link: str | None
    kind: str  # the manifest's "class": verify-code, magic-link, reset, receipt …
    language: str
    meta: dict[str, object]


def load(split: str) -> list[Case]:
    folder = ROOT / split
    manifest: dict[str, dict[str, object]] = json.loads((folder / "manifest.json").read_text())
    cases = []
    for name, entry in sorted(manifest.items()):
        otp, link = entry.get("otp"), entry.get("primary_link")
        cases.append(
            Case(
                name=name,
                raw=(folder / name).read_bytes(),
                otp=otp if isinstance(otp, str) else None,
                primary_link=link if isinstance(link, str) else None,
                kind=str(entry.get("class")),
                language=str(entry.get("language")),
                meta=entry,
            )
        )
    return cases


@attrs.frozen
class Outcome:
    case: Case
    otp: str | None
    primary_link: str | None

    @property
    def code_right(self) -> bool:
        return self.case.otp is not None and self.otp == self.case.otp

    @property
    def false_code(self) -> bool:
        """A code given where the mail has none, or another than its own."""
        return self.otp is not None and self.otp != self.case.otp

    @property
    def link_right(self) -> bool:
        return self.case.primary_link is not None and self.primary_link == self.case.primary_link

    @property
    def false_link(self) -> bool:
        """A primary link given where the mail has none."""
        return self.case.primary_link is None and self.primary_link is not None


def run(cases: Iterable[Case]) -> list[Outcome]:
    outcomes = []
    for case in cases:
        found = extract_message(case.raw)
        outcomes.append(Outcome(case, found.otp, found.primary_link))
    return outcomes


@attrs.frozen
class Score:
    messages: int
    with_code: int
    codes_right: int
    without_code: int
    false_codes: int  # codes given for mails without one, or wrong ones
    with_link: int
    links_right: int
    without_link: int
    false_links: int

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Score:
        return cls(
            messages=len(outcomes),
            with_code=sum(o.case.otp is not None for o in outcomes),
            codes_right=sum(o.code_right for o in outcomes),
            without_code=sum(o.case.otp is None for o in outcomes),
            false_codes=sum(o.false_code for o in outcomes),
            with_link=sum(o.case.primary_link is not None for o in outcomes),
            links_right=sum(o.link_right for o in outcomes),
            without_link=sum(o.case.primary_link is None for o in outcomes),
            false_links=sum(o.false_link for o in outcomes),
        )

    @property
    def code_rate(self) -> float:
        return self.codes_right / self.with_code if self.with_code else 1.0

    @property
    def link_rate(self) -> float:
        return self.links_right / self.with_link if self.with_link else 1.0

    @property
    def false_link_rate(self) -> float:
        return self.false_links / self.without_link if self.without_link else 0.0

    def summary(self) -> str:
        """One line, as docs/extraction.md quotes it."""
        return (
            f"{self.messages} messages: codes {self.codes_right}/{self.with_code} "
            f"({self.code_rate:.1%}), primary links {self.links_right}/{self.with_link} "
            f"({self.link_rate:.1%}), false codes {self.false_codes}, false links "
            f"{self.false_links}/{self.without_link} ({self.false_link_rate:.1%})"
        )


def by_class(outcomes: list[Outcome]) -> dict[str, Score]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.case.kind].append(outcome)
    return {kind: Score.of(group) for kind, group in sorted(groups.items())}


def table(outcomes: list[Outcome]) -> str:
    """The confusion by class, as a Markdown table."""
    lines = [
        "| class | messages | codes right | false codes | links right | false links |",
        "|---|---|---|---|---|---|",
    ]
    for kind, score in by_class(outcomes).items():
        codes = f"{score.codes_right}/{score.with_code}" if score.with_code else "–"
        links = f"{score.links_right}/{score.with_link}" if score.with_link else "–"
        false_links = f"{score.false_links}/{score.without_link}" if score.without_link else "–"
        lines.append(
            f"| {kind} | {score.messages} | {codes} | {score.false_codes} | {links} | "
            f"{false_links} |"
        )
    return "\n".join(lines)


def main() -> None:
    for split in SPLITS:
        if not (ROOT / split / "manifest.json").exists():
            continue
        outcomes = run(load(split))
        print(f"## {split}\n\n{Score.of(outcomes).summary()}\n\n{table(outcomes)}\n")
        if split == "dev" and "-v" in sys.argv:
            for outcome in outcomes:
                if (
                    outcome.false_code
                    or outcome.false_link
                    or not (
                        (outcome.case.otp is None or outcome.code_right)
                        and (outcome.case.primary_link is None or outcome.link_right)
                    )
                ):
                    print(
                        f"- {outcome.case.name}: otp {outcome.otp!r} (want "
                        f"{outcome.case.otp!r}), link {outcome.primary_link!r} (want "
                        f"{outcome.case.primary_link!r})"
                    )


if __name__ == "__main__":
    main()
