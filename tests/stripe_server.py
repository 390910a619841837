"""A local HTTP server that answers like Stripe's API, for the checkout tests.

Stripe cannot be reached from the tests, so the official library is pointed at this server
(`STRIPE_API_BASE`). It speaks the documented format of the calls the server makes:

- `POST /v1/checkout/sessions`: a form-encoded body with nested keys
  (`metadata[workspace_id]`, `line_items[0][price_data][unit_amount]`), Bearer auth with the
  test key (401 in Stripe's error JSON otherwise), and Stripe's idempotency: the same
  `Idempotency-Key` with the same parameters answers the same session again
  (`Idempotent-Replayed: true`), with other parameters a 400 `idempotency_error`;
- `GET /v1/checkout/sessions/{id}`.

Every request is recorded (`requests`), and the server can be told to fail (`fail`: a 5xx
in Stripe's format, or any status and body) or to stall (`stall`: answer late, for client
timeouts). `complete` pays a session as Stripe's hosted page would, `checkout_event` wraps
a session in the event Stripe posts to the webhook, and `sign_stripe_payload` signs a body
with Stripe's scheme (`t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">`).

Fixture: `stripe_server` (one fresh server per test); `billing_settings(server, ...)`
gives the `Billing` settings that reach it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest

from dispatch_server.config.settings import Billing

TEST_API_KEY = "sk_test_dispatch_local_0123456789"
WEBHOOK_SECRET = "whsec_dispatch_test_0123456789abcdef"
SESSION_LIFETIME_SECONDS = 24 * 3600  # Stripe's default `expires_at`
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(body: bytes) -> dict[str, Any]:
    """A form body with Stripe's nested keys as nested dicts and lists:
    `line_items[0][price]=p` is `{"line_items": [{"price": "p"}]}`."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"invalid parameter name {key!r}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"parameter {key!r} is both a value and a hash")
        node[parts[-1]] = value
    decoded = _lists(root)
    if not isinstance(decoded, dict):
        raise ValueError("parameter names must not be numbers")
    return decoded


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def sign_stripe_payload(
    payload: bytes,
    secret: str,
    timestamp: int | None = None,
    *,
    extra_secrets: Sequence[str] = (),
) -> str:
    """The `Stripe-Signature` header Stripe sends with `payload`: one `v1` signature per
    secret (two while a secret is rotated), computed here from the spec, not the library."""
    moment = int(time.time()) if timestamp is None else timestamp
    signed = f"{moment}.".encode() + payload
    signatures = [
        hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
        for key in (secret, *extra_secrets)
    ]
    return ",".join([f"t={moment}", *(f"v1={signature}" for signature in signatures)])


def _stripe_id(prefix: str) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


def checkout_event(
    session: Mapping[str, Any],
    *,
    type: str = "checkout.session.completed",
    event_id: str | None = None,
    created: int | None = None,
    api_version: str = "2026-10-28.endive",
) -> dict[str, Any]:
    """The event Stripe posts to the webhook for `session` (a snapshot event)."""
    return {
        "id": event_id or _stripe_id("evt_test_"),
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "data": {"object": json.loads(json.dumps(session))},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def event_body(event: Mapping[str, Any]) -> bytes:
    """The webhook body of an event, as Stripe sends it (pretty-printed JSON)."""
    return json.dumps(event, indent=2).encode()


def unused_base_url() -> str:
    """An address where nothing listens: Stripe down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    form: dict[str, Any]  # the decoded body (nested), {} for a GET
    body: bytes


@attrs.define
class _Failure:
    status: int
    body: bytes
    headers: dict[str, str]


def stripe_error(
    type: str, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An error body in Stripe's format."""
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    return {"error": error}


class StripeServer:
    """Stripe's checkout-session API on 127.0.0.1, in a thread."""

    def __init__(self, api_key: str = TEST_API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[str, dict[str, Any], int, bytes]] = {}
        self._failures: list[_Failure] = []
        self._stalls: list[float] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # stalled answers end now
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # What tests set up.

    def add_price(self, price_id: str, *, unit_amount: int, currency: str = "usd") -> None:
        """A Price in the account, for `line_items[][price]`."""
        self.prices[price_id] = {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": currency,
            "unit_amount": unit_amount,
            "type": "one_time",
            "livemode": False,
        }

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next `times` requests answer `status` (default body: Stripe's `api_error`)."""
        if body is None:
            body = json.dumps(
                stripe_error("api_error", "Something went wrong on Stripe's end.")
            ).encode()
        for _ in range(times):
            self._failures.append(_Failure(status, body, dict(headers or {})))

    def recover(self) -> None:
        """Forget the failures and stalls not yet served."""
        self._failures.clear()
        self._stalls.clear()

    def stall(self, seconds: float, *, times: int = 1) -> None:
        """The next `times` requests are answered after `seconds` (or when the server stops)."""
        self._stalls.extend([seconds] * times)

    def complete(
        self,
        session_id: str,
        *,
        payment_status: str = "paid",
        amount_total: int | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """The session once the buyer paid on the hosted page (or not: `payment_status`
        `unpaid` is a delayed payment method still pending); amounts can be overridden."""
        with self._lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_status"] = payment_status
            session["payment_intent"] = _stripe_id("pi_test_")
            session["customer_details"] = {
                "address": None,
                "email": session.get("customer_email") or "buyer@example.com",
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            }
            if amount_total is not None:
                session["amount_total"] = amount_total
                session["amount_subtotal"] = amount_total
            if currency is not None:
                session["currency"] = currency
            session["url"] = None
            paid: dict[str, Any] = json.loads(json.dumps(session))
            return paid

    def session_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/checkout/sessions"]

    # The API.

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def do_GET(self) -> None:
                server._handle(self, "GET")

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in handler.headers.items()}
        try:
            form = decode_form(body) if method == "POST" else {}
        except ValueError as error:
            form = {}
            status, answer = 400, stripe_error("invalid_request_error", str(error))
        else:
            status, answer = 0, {}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, form, body))
            stall = self._stalls.pop(0) if self._stalls else None
            failure = self._failures.pop(0) if self._failures else None
        if stall is not None:
            self._released.wait(stall)
        if failure is not None:
            self._send(handler, failure.status, failure.body, failure.headers)
            return
        if status:
            self._send_json(handler, status, answer)
            return
        auth = self._authenticate(headers)
        if auth is not None:
            self._send_json(handler, 401, auth)
            return
        if method == "POST" and path == "/v1/checkout/sessions":
            self._create(handler, headers, form)
        elif method == "GET" and path.startswith("/v1/checkout/sessions/"):
            session_id = path.removeprefix("/v1/checkout/sessions/")
            with self._lock:
                found = self.sessions.get(session_id)
            if found is None:
                self._send_json(
                    handler,
                    404,
                    stripe_error(
                        "invalid_request_error",
                        f"No such checkout.session: '{session_id}'",
                        code="resource_missing",
                        param="session",
                    ),
                )
            else:
                self._send_json(handler, 200, found)
        else:
            self._send_json(
                handler,
                404,
                stripe_error(
                    "invalid_request_error",
                    f"Unrecognized request URL ({method}: {path}).",
                ),
            )

    def _authenticate(self, headers: Mapping[str, str]) -> dict[str, Any] | None:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer "):
            return stripe_error(
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        key = auth.removeprefix("Bearer ")
        if not hmac.compare_digest(key, self.api_key):
            return stripe_error("invalid_request_error", f"Invalid API Key provided: {key[:8]}****")
        return None

    def _create(
        self,
        handler: BaseHTTPRequestHandler,
        headers: Mapping[str, str],
        form: dict[str, Any],
    ) -> None:
        key = headers.get("idempotency-key")
        if key is not None:
            with self._lock:
                seen = self._idempotent.get(key)
            if seen is not None:
                path, params, status, replay = seen
                if (path, params) != ("/v1/checkout/sessions", form):
                    self._send_json(
                        handler,
                        400,
                        stripe_error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other "
                            f"than '{key}' if you meant to execute a different request.",
                        ),
                    )
                    return
                self._send(handler, status, replay, {"Idempotent-Replayed": "true"})
                return
        created_status, created = self._new_session(form)
        raw = json.dumps(created).encode()
        if key is not None and created_status == 200:  # Stripe saves no refused request
            with self._lock:
                self._idempotent[key] = ("/v1/checkout/sessions", form, created_status, raw)
        self._send(handler, created_status, raw, {"Idempotency-Key": key} if key else {})

    def _new_session(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def invalid(
            message: str, param: str, code: str = "parameter_invalid"
        ) -> tuple[int, dict[str, Any]]:
            return 400, stripe_error("invalid_request_error", message, code=code, param=param)

        mode = form.get("mode")
        if mode is None:
            return invalid("Missing required param: mode.", "mode", "parameter_missing")
        if mode != "payment":
            return invalid(f"Invalid mode: {mode!r} (this server sells one-time payments)", "mode")
        items = form.get("line_items")
        if not isinstance(items, list) or not items:
            return invalid(
                "You must specify either `line_items` or `mode=setup`.",
                "line_items",
                "parameter_missing",
            )
        total, currency = 0, None
        for index, item in enumerate(items):
            where = f"line_items[{index}]"
            if not isinstance(item, dict) or ("price" in item) == ("price_data" in item):
                return invalid("You must specify either `price` or `price_data`.", where)
            quantity = item.get("quantity")
            if not isinstance(quantity, str) or not quantity.isdigit() or int(quantity) < 1:
                return invalid("Quantity is required.", f"{where}[quantity]", "parameter_missing")
            if "price" in item:
                price = self.prices.get(item["price"])
                if price is None:
                    return invalid(
                        f"No such price: '{item['price']}'", f"{where}[price]", "resource_missing"
                    )
                unit, item_currency = price["unit_amount"], price["currency"]
            else:
                data = item["price_data"]
                if not isinstance(data, dict):
                    return invalid("Invalid hash", f"{where}[price_data]")
                raw_unit = data.get("unit_amount")
                if not isinstance(raw_unit, str) or not raw_unit.isdigit():
                    return invalid("Invalid integer", f"{where}[price_data][unit_amount]")
                product_data = data.get("product_data")
                if not (isinstance(product_data, dict) and product_data.get("name")):
                    return invalid(
                        "Missing required param: product_data[name].",
                        f"{where}[price_data][product_data][name]",
                        "parameter_missing",
                    )
                unit, item_currency = int(raw_unit), data.get("currency")
            if currency is not None and item_currency != currency:
                return invalid("All line items must use the same currency.", where)
            currency = item_currency
            total += unit * int(quantity)
        metadata = form.get("metadata") or {}
        if not isinstance(metadata, dict) or any(
            len(k) > 40 or not isinstance(v, str) or len(v) > 500 for k, v in metadata.items()
        ):
            return invalid("Invalid metadata", "metadata")
        now = int(time.time())
        session_id = _stripe_id("cs_test_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": None,
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "client_secret": None,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": form.get("customer_email"),
            "expires_at": int(form.get("expires_at") or now + SESSION_LIFETIME_SECONDS),
            "invoice": None,
            "livemode": False,
            "locale": None,
            "metadata": metadata,
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": form.get("success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        with self._lock:
            self.sessions[session_id] = session
        return 200, session

    def _send_json(
        self, handler: BaseHTTPRequestHandler, status: int, answer: Mapping[str, Any]
    ) -> None:
        self._send(handler, status, json.dumps(answer).encode(), {})

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client gave up (a stalled answer after its timeout)
            handler.close_connection = True


@pytest.fixture
def stripe_server() -> Iterator[StripeServer]:
    """A fresh local Stripe API for one test."""
    server = StripeServer().start()
    try:
        yield server
    finally:
        server.stop()


def billing_settings(server: StripeServer | None = None, **overrides: Any) -> Billing:
    """Billing settings with Stripe configured against `server` (and the test webhook
    secret); `overrides` are `Billing` fields (`stripe_price_multi_inbox="price_..."`)."""
    values: dict[str, Any] = {
        "stripe_secret_key": TEST_API_KEY,
        "stripe_webhook_secret": (WEBHOOK_SECRET,),
        "stripe_api_base": server.base_url if server is not None else None,
    }
    values.update(overrides)
    return Billing(**values)
