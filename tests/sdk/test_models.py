"""The models: strict decoding, immutability, keys kept out of reprs, summaries and whole
messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import pytest

from dispatch_client import (
    CreatedInboxKey,
    DispatchError,
    InboxKey,
    Message,
    MessageSummary,
    WaitResult,
)
from dispatch_client._core import PageData, Request
from dispatch_client.types._decode import decode
from tests.sdk.helpers import (
    ACCOUNT,
    CREATED_KEY,
    INBOX_ID,
    INBOX_KEY,
    MESSAGES,
    MINTED,
    NOW,
    Recorder,
    artifact,
    message,
    page,
    summary,
    sync_client,
)

NOW_DT = datetime(2026, 11, 24, 9, 30, 0, 123456, tzinfo=UTC)


def test_message_decoding_with_artifacts_and_from() -> None:
    body = {
        **message(9),
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 3}],
        "artifacts": [
            artifact("otp", "111111", primary=False),
            artifact("otp", "482913"),
            artifact("link", "https://acme.test/verify"),
        ],
    }
    recorder = Recorder(httpx.Response(200, json=body))
    got = sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.get(INBOX_ID, "m9")
    assert recorder.paths == [f"{MESSAGES}/m9"]
    assert got.from_ == "Acme <a@acme.test>"
    assert got.received_at == NOW_DT
    assert got.attachments[0].filename == "a.pdf"
    assert got.otp == "482913"
    assert got.links == ("https://acme.test/verify",)
    assert got.primary_link == "https://acme.test/verify"


def test_primary_link_is_only_ever_the_one_marked_primary() -> None:
    unsubscribe = artifact("link", "https://a.test/unsubscribe", primary=False)
    verify = artifact("link", "https://a.test/verify")
    with_primary = decode({**message(1), "artifacts": [unsubscribe, verify]}, Message)
    assert with_primary.primary_link == "https://a.test/verify"
    no_primary = [unsubscribe, {**verify, "is_primary": False}]
    without = decode({**message(1), "artifacts": no_primary}, Message)
    assert without.primary_link is None  # never the unsubscribe link
    assert without.links == ("https://a.test/unsubscribe", "https://a.test/verify")
    assert decode(message(1), Message).primary_link is None


def test_a_listing_gives_summaries_and_get_the_whole_message() -> None:
    recorder = Recorder(
        page({**summary(1), "has_otp": True, "attachment_count": 2}, cursor="c1"),
        httpx.Response(200, json={**message(1), "artifacts": [artifact("otp", "482913")]}),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    result = client.messages.list(INBOX_ID, limit=5, folder="spam", cursor="c0")
    assert dict(recorder.requests[0].url.params) == {"limit": "5", "folder": "spam", "cursor": "c0"}
    assert result.next_cursor == "c1"
    listed = result.data[0]
    assert isinstance(listed, MessageSummary)
    assert (listed.preview, listed.has_otp, listed.attachment_count) == ("hi", True, 2)
    assert listed.from_ == "Acme <a@acme.test>" and listed.received_at == NOW_DT
    whole = client.messages.get(INBOX_ID, listed.id)
    assert (whole.text, whole.otp) == ("hi", "482913")


def test_a_summary_is_not_a_message() -> None:
    with pytest.raises(DispatchError, match="preview"):
        decode(message(1), MessageSummary)
    with pytest.raises(DispatchError, match="text"):
        decode(summary(1), Message)


def test_unexpected_success_bodies_are_dispatch_errors() -> None:
    recorder = Recorder(
        httpx.Response(200, text="<html>proxy login</html>"),
        httpx.Response(200, json={"id": INBOX_ID}),
        httpx.Response(200, json=[]),
    )
    client = sync_client(recorder)
    with pytest.raises(DispatchError, match="expected JSON"):
        client.inboxes.get(INBOX_ID)
    with pytest.raises(DispatchError, match="unexpected response") as caught:
        client.inboxes.get(INBOX_ID)
    assert "address" in str(caught.value)
    with pytest.raises(DispatchError, match="unexpected response"):
        client.inboxes.list()


def test_reprs_hide_keys() -> None:
    recorder = Recorder(httpx.Response(201, json=CREATED_KEY))
    client = sync_client(recorder)
    key = client.inboxes.keys.create(INBOX_ID)
    assert key.key == MINTED
    for shown in (key, client._credentials, Request(method="GET", path="/", api_key=ACCOUNT)):
        assert "secret" not in repr(shown)


def test_inbox_keys_decode_with_and_without_their_secret() -> None:
    created = decode(CREATED_KEY, CreatedInboxKey)
    assert isinstance(created, InboxKey) and created.key == MINTED
    assert created.revoked_at is None
    listed = decode({**INBOX_KEY, "revoked_at": NOW}, InboxKey)
    assert listed.revoked_at == NOW_DT
    assert not hasattr(listed, "key")
    with pytest.raises(DispatchError, match=r"\$\.key"):
        decode(INBOX_KEY, CreatedInboxKey)  # a created key without its secret is not one


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": None}, "$.id"),  # null in a str field: not "None"
        ({"subject": 5}, "$.subject"),  # a number in a str field: not "5"
        ({"size_bytes": "5"}, "$.size_bytes"),
        ({"size_bytes": True}, "$.size_bytes"),  # bool is not int
        ({"size_bytes": 5.5}, "$.size_bytes"),
        ({"to": "bot@dispatch.test"}, "$.to"),  # a string is not a list of characters
        ({"to": [None]}, "$.to[0]"),
        ({"received_at": 1764000000}, "$.received_at"),
        ({"artifacts": [{**artifact("otp", "1"), "is_primary": "false"}]}, "is_primary"),
    ],
)
def test_wrong_types_are_refused_not_converted(change: dict[str, Any], where: str) -> None:
    recorder = Recorder(httpx.Response(200, json={**message(1), **change}))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(DispatchError, match="unexpected response") as caught:
        client.messages.get(INBOX_ID, "m1")
    assert where in str(caught.value)


def test_optional_fields_accept_null_and_times_become_utc() -> None:
    recorder = Recorder(
        httpx.Response(200, json={**message(1), "received_at": "2026-11-24T10:30:00.123456+01:00"}),
        httpx.Response(200, json={**message(1), "received_at": "2026-11-24T09:30:00.123456"}),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    for got in (client.messages.get(INBOX_ID, "m1"), client.messages.get(INBOX_ID, "m1")):
        assert got.received_at == NOW_DT and got.received_at.tzinfo is UTC
        assert (got.html, got.message_id_header) == (None, None)
    assert decode(5, float) == 5.0
    with pytest.raises(DispatchError):
        decode(True, float)


def test_models_are_immutable_and_hashable() -> None:
    body = {
        **message(9),
        "cc": ["c@acme.test"],
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 3}],
        "artifacts": [artifact("link", "https://acme.test/a")],
    }
    got = sync_client(Recorder(httpx.Response(200, json=body)), inbox_keys={INBOX_ID: MINTED})
    msg = got.messages.get(INBOX_ID, "m9")
    assert (msg.to, msg.cc) == (("bot@dispatch.test",), ("c@acme.test",))
    assert isinstance(msg.attachments, tuple) and isinstance(msg.artifacts, tuple)
    assert hash(msg) == hash(attrs.evolve(msg))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        msg.subject = "changed"  # type: ignore[misc]


def test_pages_decode_strictly_and_an_older_server_may_omit_the_cursor() -> None:
    assert decode({"data": [summary(1)]}, PageData[MessageSummary]).next_cursor is None
    with pytest.raises(DispatchError, match=r"\$\.next_cursor"):
        decode({"data": [], "next_cursor": 5}, PageData[Message])
    with pytest.raises(DispatchError, match=r"\$\.data"):
        decode({"data": "m1"}, PageData[Message])


def test_a_wait_answer_without_unmatched_count_decodes_as_zero() -> None:
    answer = {"matched": False, "message": None, "otp": None, "link": None, "cursor": "c"}
    assert decode(answer, WaitResult).unmatched_count == 0
    assert decode({**answer, "unmatched_count": 3}, WaitResult).unmatched_count == 3
    with pytest.raises(DispatchError, match="unmatched_count"):
        decode({**answer, "unmatched_count": "3"}, WaitResult)
