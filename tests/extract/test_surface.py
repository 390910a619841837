"""The extractor's declared public surface: exported, importable and documented."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import dispatch_client.extract

SURFACE = {
    "dispatch_client.extract": [
        "Extraction",
        "LinkMatch",
        "OtpMatch",
        "decode_text_part",
        "extract",
        "extract_message",
        "html_to_text",
    ],
    "dispatch_client.extract.mime": [
        "MimeLimitExceeded",
        "attachment_filename",
        "body_parts",
        "decode_bytes",
        "decode_text_part",
        "header_block",
        "is_attachment",
        "leaf_parts",
        "parse_bytes",
    ],
}


@pytest.mark.parametrize("module_name", sorted(SURFACE))
def test_all_declares_the_public_surface(module_name: str) -> None:
    assert importlib.import_module(module_name).__all__ == SURFACE[module_name]


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(module_name, name) for module_name, names in SURFACE.items() for name in names],
)
def test_every_public_name_is_importable_and_documented(module_name: str, name: str) -> None:
    public: object = getattr(importlib.import_module(module_name), name)
    # Its own docstring: inspect.getdoc() would fall back on a base class's.
    doc = public.__doc__
    assert doc and doc.strip(), f"{module_name}.{name} has no docstring"


def test_every_module_says_what_it_is_for() -> None:
    package = dispatch_client.extract
    modules = [package.__name__] + [
        info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]
    assert {"dispatch_client.extract.mime", "dispatch_client.extract.lexicon.codes"} <= set(modules)
    for name in modules:
        doc = importlib.import_module(name).__doc__
        assert doc and doc.strip(), f"{name} has no docstring"
