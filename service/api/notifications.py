"""FHIR notification endpoint: POST|PUT /fhir/notify, and what became of the background work.

Thin routes: check the shared secret (401, constant-time), read the body within its limit (413), hand
it to `service.notify.Intake` in a worker thread, and answer 200 only once the work is durably
enqueued. A malformed notification is 400, an unsupported media type 415, a broker or store that
cannot take the work 503 with Retry-After (the EHR retries: nothing is accepted and then dropped).

    POST /fhir/notify                       Backport notification Bundle, R4 ping (empty), a resource
    PUT|POST /fhir/notify/{type}[/{id}]     plain R4 rest-hook with payload (the resource itself)
    GET  /fhir/notify/failures              background work that failed permanently, and counts
    GET  /fhir/notify/subscriptions         what we know of each Subscription (handshakes, heartbeats…)

`?subscription=<id>` on the endpoint URL names the Subscription of plain R4 pings (they carry none).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from service.adapters.notifications import NotificationError, UnsupportedMediaTypeError, token_matches
from service.adapters.notify_store import SubscriptionState
from service.api.cds_hooks import read_body
from service.api.errors import ApiError
from service.background import BackgroundRuntime
from service.ports import QueueUnavailableError

router = APIRouter()

JSON = "application/json"
NOTIFY_RETRY_AFTER_SECONDS = "5"
FAILURES_SHOWN = 100


def notify_runtime(request: Request) -> BackgroundRuntime:
    value = getattr(request.app.state, "notify", None)
    if not isinstance(value, BackgroundRuntime):
        raise RuntimeError("the app was not started through its lifespan (create_app)")
    return value


def _authenticate(request: Request, rt: BackgroundRuntime) -> None:
    if rt.token is not None and not token_matches(
        request.headers.get(rt.token_header), rt.token, header=rt.token_header
    ):
        raise ApiError(401, "authentication required", code="login")


def _hint(request: Request) -> str | None:
    value = request.query_params.get("subscription")
    if not value:
        return None
    sid = value.removeprefix("Subscription/")
    if not sid or "/" in sid or len(sid) > 64:
        raise ApiError(400, "?subscription= must be a Subscription id")
    return f"Subscription/{sid}"


async def _receive(request: Request, path_type: str | None = None, path_id: str | None = None) -> Response:
    rt = notify_runtime(request)
    _authenticate(request, rt)
    body = await read_body(request, rt.max_body_bytes)
    try:
        receipt = await asyncio.to_thread(
            rt.intake.receive,
            body,
            content_type=request.headers.get("content-type"),
            path_type=path_type,
            path_id=path_id,
            subscription_hint=_hint(request),
        )
    except UnsupportedMediaTypeError as exc:
        raise ApiError(415, str(exc), code="not-supported") from None
    except NotificationError as exc:
        raise ApiError(400, f"not a notification we can read: {exc}", code="structure") from None
    except QueueUnavailableError:
        raise ApiError(
            503, "the work queue is unavailable; retry later", code="transient",
            headers={"Retry-After": NOTIFY_RETRY_AFTER_SECONDS},
        ) from None  # fmt: skip
    return Response(orjson.dumps(receipt.to_json()), media_type=JSON)


@router.post("/fhir/notify")
@router.put("/fhir/notify")
async def notify(request: Request) -> Response:
    return await _receive(request)


@router.post("/fhir/notify/{resource_type}")
async def notify_create(request: Request, resource_type: str) -> Response:
    return await _receive(request, resource_type)


@router.put("/fhir/notify/{resource_type}/{resource_id}")
@router.post("/fhir/notify/{resource_type}/{resource_id}")
async def notify_update(request: Request, resource_type: str, resource_id: str) -> Response:
    return await _receive(request, resource_type, resource_id)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@router.get("/fhir/notify/failures")
async def failures(request: Request) -> Response:
    """Permanent failures of background work, and of write-backs (recorded on their alert)."""
    rt = notify_runtime(request)
    _authenticate(request, rt)
    count, shown, write_backs = await asyncio.gather(
        asyncio.to_thread(rt.failures.failure_count),
        asyncio.to_thread(rt.failures.failures, FAILURES_SHOWN),
        asyncio.to_thread(rt.background.alerts.failed),
    )
    body = {
        "count": count,
        "failures": [
            {"task": f.task, "subject": f.subject, "reason": f.reason, "attempts": f.attempts,
             "failedAt": _iso(f.failed_at)}
            for f in shown
        ],
        "writeBackFailures": [
            {"patient": a.patient, "ruleId": a.rule_id, "identifier": a.identifier,
             "reason": a.failure_reason, "failedAt": _iso(a.updated_at)}
            for a in write_backs
        ],
    }  # fmt: skip
    return Response(orjson.dumps(body), media_type=JSON)


def _state_json(s: SubscriptionState) -> dict[str, Any]:
    return {
        "subscription": s.subscription, "topic": s.topic, "status": s.status,
        "handshakes": s.handshakes, "heartbeats": s.heartbeats, "events": s.events,
        "contiguousThrough": s.contiguous_through, "highestSeen": s.highest_seen,
        "serverCount": s.server_count, "lastContactAt": _iso(s.last_contact_at),
        "lastEventAt": _iso(s.last_event_at), "lastHeartbeatAt": _iso(s.last_heartbeat_at),
        "handshakeAt": _iso(s.handshake_at), "statusCheckedAt": _iso(s.status_checked_at),
    }  # fmt: skip


@router.get("/fhir/notify/subscriptions")
async def subscriptions(request: Request) -> Response:
    rt = notify_runtime(request)
    _authenticate(request, rt)
    states = await asyncio.to_thread(rt.store.subscriptions)
    outbox = await asyncio.to_thread(rt.outbox.size) if rt.outbox is not None else None
    body = {"subscriptions": [_state_json(s) for s in states], "outbox": outbox}
    return Response(orjson.dumps(body), media_type=JSON)
