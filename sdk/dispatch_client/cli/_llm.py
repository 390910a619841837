"""Asking a language model for a message's code and link: `dispatch mail extract --llm`.

Off unless asked: the extractor runs first, and a model is asked only about messages it found
nothing in. Any server speaking OpenAI's chat completions API works (OpenAI, vLLM, Ollama,
LiteLLM...): DISPATCH_LLM_MODEL names the model, DISPATCH_LLM_BASE_URL the server (default
OpenAI's), DISPATCH_LLM_API_KEY (else OPENAI_API_KEY) the key. The request goes through the
SDK's own HTTP client, httpx: one POST, so no model vendor's library is needed.

A model can make things up, so its answer is checked against the message: a code it gives
must be written in the message, and a link must be one of the message's links; anything else
is dropped.
"""

from __future__ import annotations

import json
import os
import re

import attrs
import httpx

from dispatch_client._errors import DispatchError
from dispatch_client.cli._output import shown_url
from dispatch_client.extract import Extraction

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_BODY_CHARS = 12_000
PROMPT = (
    "You read one email and find what an automated agent needs from it: the one-time code "
    "(verification, sign-in or confirmation code) and the primary action link (the link to "
    "verify, confirm, sign in or reset). Answer with a JSON object "
    '{"code": string or null, "link": string or null}. Copy the code exactly as written '
    "(keep letter case, drop spaces or dashes inside it); copy the link exactly. Use null "
    "when the email has none: never guess."
)


class LlmError(DispatchError):
    """The model could not be asked, or its answer could not be read."""


@attrs.frozen(kw_only=True)
class LlmSettings:
    model: str
    api_key: str = attrs.field(repr=False)
    base_url: str | None = None


@attrs.frozen
class LlmAnswer:
    code: str | None
    link: str | None


def settings_from_env() -> LlmSettings:
    model = os.environ.get("DISPATCH_LLM_MODEL", "").strip()
    key = (os.environ.get("DISPATCH_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY", "")).strip()
    if not model or not key:
        raise LlmError(
            "--llm needs DISPATCH_LLM_MODEL and DISPATCH_LLM_API_KEY (or OPENAI_API_KEY); "
            "DISPATCH_LLM_BASE_URL for a server other than OpenAI's"
        )
    return LlmSettings(
        model=model, api_key=key, base_url=os.environ.get("DISPATCH_LLM_BASE_URL") or None
    )


def make_http_client() -> httpx.Client:
    """The HTTP client the model is asked through (tests give theirs)."""
    return httpx.Client(timeout=60)


def _squeezed(text: str) -> str:
    return re.sub(r"[\s\-]", "", text)


def checked(answer: LlmAnswer, body: str, extraction: Extraction) -> LlmAnswer:
    """Keep only what the message itself contains."""
    code = answer.code.strip() if answer.code else None
    if code and (len(code) > 32 or _squeezed(code) not in _squeezed(body)):
        code = None
    link = answer.link.strip() if answer.link else None
    if link and link not in {found.url for found in extraction.links}:
        link = None  # only a link the message has, whole (not a made-up or cut one)
    return LlmAnswer(code=code or None, link=link or None)


def ask(
    settings: LlmSettings, *, subject: str | None, body: str, extraction: Extraction
) -> LlmAnswer:
    """The model's code and link for this message, checked against it."""
    request = {
        "model": settings.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": PROMPT},
            {"role": "user", "content": f"Subject: {subject or ''}\n\n{body[:MAX_BODY_CHARS]}"},
        ],
    }
    url = (settings.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
    try:
        with make_http_client() as http:
            response = http.post(
                url, json=request, headers={"Authorization": f"Bearer {settings.api_key}"}
            )
    except httpx.HTTPError as error:
        raise LlmError(
            f"the model at {shown_url(url)} could not be reached: {type(error).__name__}"
        ) from None
    if response.status_code != 200:
        raise LlmError(f"the model at {shown_url(url)} answered {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
        found = json.loads(content)
    except (ValueError, LookupError, TypeError):
        raise LlmError("the model's answer is not the JSON object asked for") from None
    if not isinstance(found, dict):
        raise LlmError("the model's answer is not the JSON object asked for")
    code, link = found.get("code"), found.get("link")
    answer = LlmAnswer(
        code=code if isinstance(code, str) else None, link=link if isinstance(link, str) else None
    )
    return checked(answer, f"{subject or ''}\n{body}", extraction)
