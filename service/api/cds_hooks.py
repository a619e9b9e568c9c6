"""CDS Hooks 2.0 endpoints: discovery, the three services, feedback, and override rates per rule.

Thin routes: find the service (404), authenticate the CDS Client (when configured), read the raw
body within its size limit (413), hand the bytes to `service.hooks.CdsHooks`, serialise with orjson.
The JWT audience is `<public_base_url><path>`, from configuration, never from the Host header.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from service.adapters.cds_discovery import SERVICE_IDS
from service.api.errors import ApiError
from service.api.state import Runtime, runtime
from service.ports import OverrideRate

router = APIRouter()

JSON = "application/json"
OVERRIDE_RATES_PATH = "/cds-services/feedback/override-rates"


async def _authenticate(request: Request, rt: Runtime, path: str) -> None:
    if rt.auth is not None:
        await rt.auth.verify(request.headers.get("authorization"), rt.audience(path))


def _known(service_id: str) -> None:
    if service_id not in SERVICE_IDS:
        raise ApiError(404, f"no CDS service {service_id!r}; see GET /cds-services")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes")
    return bytes(body)


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type=JSON)


@router.get("/cds-services")
async def discovery(request: Request) -> Response:
    return Response(runtime(request).discovery, media_type=JSON)


def _rate_to_json(rate: OverrideRate) -> dict[str, Any]:
    return {
        "ruleId": rate.rule_id,
        "accepted": rate.accepted,
        "overridden": rate.overridden,
        "total": rate.total,
        "overrideRate": round(rate.rate, 4),
        "overrideReasons": [
            {k: v for k, v in (("code", r.code), ("system", r.system), ("display", r.display)) if v}
            | {"count": r.count}
            for r in rate.reasons
        ],
    }


@router.get(OVERRIDE_RATES_PATH)
async def override_rates(request: Request) -> Response:
    """Feedback per rule: how often its cards are overridden, and why (the alert-fatigue signal)."""
    rt = runtime(request)
    await _authenticate(request, rt, OVERRIDE_RATES_PATH)
    rates = await rt.hooks.override_rates()
    return _json({"rules": [_rate_to_json(r) for r in rates]})


@router.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> Response:
    rt = runtime(request)
    _known(service_id)
    await _authenticate(request, rt, f"/cds-services/{service_id}")
    body = await read_body(request, rt.max_body_bytes)
    return _json(await rt.hooks.call(service_id, body))


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request) -> Response:
    rt = runtime(request)
    _known(service_id)
    await _authenticate(request, rt, f"/cds-services/{service_id}/feedback")
    body = await read_body(request, rt.max_body_bytes)
    receipt = await rt.hooks.record_feedback(service_id, body)
    return _json(receipt.to_json())
