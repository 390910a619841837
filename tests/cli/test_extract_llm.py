"""`dispatch mail extract --llm`: the model is asked only about mail the extractor found
nothing in, over OpenAI's chat completions wire format (mocked at the httpx layer: no model is
reachable here), and what it answers is kept only if the message contains it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dispatch_client.cli import _llm, main
from tests.cli.conftest import Shell


def _model(answers: list[dict[str, Any]], asked: list[dict[str, Any]]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        body = json.loads(request.content)
        asked.append(body)
        answer = answers.pop(0)
        message = {"role": "assistant", "content": json.dumps(answer)}
        return httpx.Response(200, json={"choices": [{"message": message}]})

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_the_model_fills_in_what_the_extractor_missed_and_cannot_invent(
    shell: Shell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Your code", text="Your verification code is 662211.")
    shell.deliver(address, subject="Welcome", text="When the agent asks, answer with TIGERLAMP.")
    shell.deliver(address, subject="Hello", text="Just saying hello.")
    shell.run("mail", "wait", "--subject", "Hello", "--timeout", "30").json()

    asked: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = [
        {"code": "nothing-here-999"},
        {"code": "TIGERLAMP", "link": None},
    ]
    monkeypatch.setattr(_llm, "make_http_client", lambda: _model(answers, asked))
    for name, value in shell.env(
        DISPATCH_LLM_MODEL="test-model",
        DISPATCH_LLM_API_KEY="sk-test",
        DISPATCH_LLM_BASE_URL="http://model.test/v1",
    ).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["mail", "extract", "--llm", "-o", "json"]) == 0
    findings = {f["subject"]: f for f in json.loads(capsys.readouterr().out)}
    assert (findings["Your code"]["otp"], findings["Your code"]["source"]) == ("662211", "stored")
    assert (findings["Welcome"]["otp"], findings["Welcome"]["source"]) == ("TIGERLAMP", "llm")
    # Its answer about "Hello" named a code the mail does not contain: dropped.
    assert (findings["Hello"]["otp"], findings["Hello"]["source"]) == (None, "none")
    assert len(asked) == 2 and all(body["model"] == "test-model" for body in asked)
    assert all(body["response_format"] == {"type": "json_object"} for body in asked)


def test_a_model_that_fails_is_a_clear_error(
    shell: Shell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    shell.deliver(address, subject="Hi", text="nothing")
    shell.run("mail", "wait", "--timeout", "30").json()
    monkeypatch.setattr(
        _llm,
        "make_http_client",
        lambda: httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
    )
    for name, value in shell.env(DISPATCH_LLM_MODEL="m", DISPATCH_LLM_API_KEY="sk-x").items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["mail", "extract", "--llm"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the model at https://api.openai.com/v1/chat/completions")
    assert "sk-x" not in err
