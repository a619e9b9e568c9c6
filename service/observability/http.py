"""The API's telemetry: one log event and the metrics of every HTTP request, and GET /metrics.

`RequestTelemetry` is a plain ASGI middleware, installed outside the load-shedding limit so that shed
calls (503) are counted too. Per request it:

* takes the caller's X-Request-ID when it is a short token (else makes one), echoes it on the
  response, and binds it to every log line of the request (`service.observability.logging`);
* records `osteoalert_http_requests_total` / `..._duration_seconds` by route TEMPLATE (never the raw
  path: paths carry resource ids), and, for CDS Hooks calls, `osteoalert_hook_calls_total` and
  `osteoalert_hook_duration_seconds` by service id and status; notifications refused before they
  were read (401, 413, 415, 400, 503) count in `osteoalert_notifications_total{kind="unread"}`;
* logs ONE event: method, route template, status, duration. Probes and scrapes log at DEBUG.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.logging import REQUEST_ID
from service.observability.metrics import CONTENT_TYPE_LATEST, Metrics, exposition

logger = logging.getLogger("osteoalert.http")

REQUEST_ID_HEADER: Final = "x-request-id"
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HOOK_CALL: Final = re.compile(r"^/cds-services/([^/]+)$")
QUIET_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})
NOTIFY_PREFIX: Final = "/fhir/notify"
# Notification refusals, by HTTP status, as the outcome label (the kind was never read).
REFUSALS: Final = {
    400: "invalid",
    401: "unauthorized",
    413: "too_large",
    415: "unsupported",
    503: "unavailable",
}
UNMATCHED: Final = "unmatched"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            text = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


def _route(scope: Scope) -> str:
    path: object = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        status = 500  # what the server answers when the app raised before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method, path, route = str(scope["method"]), str(scope["path"]), _route(scope)
        self.metrics.http_request(route, method, status, seconds)
        if method == "POST" and (hook := _HOOK_CALL.match(path)):
            self.metrics.hook_call(hook.group(1), status, seconds)
        if path.startswith(NOTIFY_PREFIX) and method in {"POST", "PUT"} and status in REFUSALS:
            self.metrics.notification("unread", REFUSALS[status])
        logger.log(
            logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
            "%s %s %s in %.1f ms", method, route, status, seconds * 1000,
            extra={"event": "http.request", "method": method, "route": route, "status": status,
                   "duration_ms": round(seconds * 1000, 3)},
        )  # fmt: skip


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics for `metrics` (the app's own registry)."""

    async def serve_metrics(_: Request) -> Response:
        return Response(exposition(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
